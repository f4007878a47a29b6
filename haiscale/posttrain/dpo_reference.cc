// File: haiscale/posttrain/dpo_reference.cc — see dpo_reference.h.
#include "haiscale/posttrain/dpo_reference.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "data/post/rows_file.h"
#include "haiscale/generate/hf_model.h"
#include "haiscale/status.h"

namespace hs::posttrain {

absl::StatusOr<data::post::RowsReference> ComputeDpoReference(const std::string& weights_dir,
                                                              const std::string& rows_dir) {
  absl::StatusOr<data::post::PostRows> rows = data::post::ReadPostRows(rows_dir);
  if (!rows.ok()) return Annotate(rows.status(), "--data");
  if (rows->kind != data::post::RowsKind::kDpo) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--data: ", rows_dir, " holds SFT rows (make DPO rows with hai data prepare-dpo)"));
  }
  absl::StatusOr<data::post::WeightsIdentity> id = data::post::IdentifyWeights(weights_dir);
  if (!id.ok()) return Annotate(id.status(), "--weights");
  auto model = generate::LoadInferenceModel(weights_dir, rows->seq_len);
  if (!model.ok()) return Annotate(model.status(), "--weights");
  if (rows->vocab_size > (*model)->config().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--data: ", rows_dir, ": tokenizer vocabulary ", rows->vocab_size,
        " is larger than the model's vocab_size ", (*model)->config().vocab_size));
  }
  data::post::RowsReference ref;
  ref.rows_crc = data::post::RowsCrc(*rows);
  ref.weights = *id;
  ref.weights_dir = std::filesystem::absolute(weights_dir).lexically_normal().string();
  const int64_t S = rows->seq_len;
  ref.logps.reserve(rows->num_rows());
  // One pair (chosen, rejected) per forward, the shape of DPO's passes, so
  // each row's value has the bits the training run's own reference pass
  // gives it.
  for (int64_t r = 0; r + 1 < rows->num_rows(); r += 2) {
    HS_ASSIGN_OR_RETURN(models::ForwardResult f,
                        (*model)->Forward(rows->tokens.data() + r * S,
                                          rows->targets.data() + r * S, 2, S,
                                          rows->positions.data() + r * S));
    ref.logps.push_back(-f.row_ce_sum[0]);
    ref.logps.push_back(-f.row_ce_sum[1]);
  }
  HS_RETURN_IF_ERROR(data::post::WriteRowsReference(rows_dir, ref));
  return ref;
}

}  // namespace hs::posttrain
