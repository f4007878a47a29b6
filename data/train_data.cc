// File: data/train_data.cc — the run config's data sources, see train_data.h.
#include "data/train_data.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/status.h"

namespace hs::data {
namespace {

absl::StatusOr<std::unique_ptr<TokenFile>> OpenSource(const std::string& path,
                                                      const std::string& field,
                                                      int64_t vocab_size) {
  auto file = TokenFile::Open(path);
  if (!file.ok()) return Annotate(file.status(), field);
  HS_RETURN_IF_ERROR(Annotate((*file)->Validate(vocab_size), field));
  return std::move(*file);
}

std::string Kind(const TokenFile& f) {
  if (f.dataset() == nullptr) return "flat token file";
  return absl::StrCat("prepared dataset, ", f.dataset()->num_docs(), " documents");
}

}  // namespace

absl::StatusOr<TrainData> OpenTrainData(const config::DataConfig& data, int64_t seq_len,
                                        int64_t global_batch, uint64_t seed,
                                        int64_t vocab_size) {
  TrainData out;
  std::vector<MixtureSource> sources;
  std::vector<std::string> names;
  if (data.mixture_size() == 0) {
    if (data.train_path().empty()) {
      return absl::InvalidArgumentError("data.train_path: required for training (or data.mixture)");
    }
    HS_ASSIGN_OR_RETURN(auto file, OpenSource(data.train_path(), "data.train_path", vocab_size));
    out.summary = absl::StrCat("data: ", data.train_path(), " (", Kind(*file), ", ", file->size(),
                               " tokens)");
    HS_ASSIGN_OR_RETURN(Sampler s, Sampler::Create(file.get(), seq_len, global_batch, seed,
                                                   data.shuffle()));
    out.sampler = std::make_unique<Sampler>(std::move(s));
    out.files.push_back(std::move(file));
  } else {
    out.summary = "data.mixture:";
    for (int i = 0; i < data.mixture_size(); ++i) {
      const config::MixtureSource& m = data.mixture(i);
      const std::string field = absl::StrCat("data.mixture[", i, "].path");
      HS_ASSIGN_OR_RETURN(auto file, OpenSource(m.path(), field, vocab_size));
      sources.push_back({file.get(), m.weight()});
      names.push_back(m.path());
      out.files.push_back(std::move(file));
    }
    HS_ASSIGN_OR_RETURN(Sampler s, Sampler::CreateMixture(sources, seq_len, global_batch, seed,
                                                          data.shuffle()));
    out.sampler = std::make_unique<Sampler>(std::move(s));
    for (size_t k = 0; k < sources.size(); ++k) {
      absl::StrAppend(&out.summary, k ? ";" : "", " ", names[k], " (", Kind(*out.files[k]), ", ",
                      out.files[k]->size(), " tokens) weight ", sources[k].weight, " -> ",
                      out.sampler->BlockShare(int64_t(k)), "/", kMixtureBlock,
                      absl::StrFormat(" = %.2f%%", 100.0 * double(out.sampler->BlockShare(k)) /
                                                       double(kMixtureBlock)),
                      " of samples");
    }
  }
  if (data.document_mask()) {
    HS_RETURN_IF_ERROR(out.sampler->SetDocumentMask());
    out.document_mask = true;
    absl::StrAppend(&out.summary, "; document mask on");
  }
  return out;
}

absl::StatusOr<EvalData> OpenEvalData(const config::DataConfig& data, int64_t seq_len,
                                      int64_t max_rows, int64_t vocab_size) {
  EvalData out;
  HS_ASSIGN_OR_RETURN(out.file, OpenSource(data.eval_path(), "data.eval_path", vocab_size));
  auto rows = EvalRows::Create(out.file.get(), seq_len, max_rows);
  if (!rows.ok()) return Annotate(rows.status(), "data.eval_path");
  out.rows = std::make_unique<EvalRows>(*std::move(rows));
  if (data.document_mask()) {
    if (out.file->dataset() == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data.eval_path: data.document_mask needs a prepared dataset; ", data.eval_path(),
          " is a flat token file"));
    }
    out.document_mask = true;
  }
  return out;
}

std::string RealisedMixture(const Sampler& sampler, const std::vector<std::string>& names,
                            int64_t steps) {
  const std::vector<int64_t> counts = sampler.SourceCounts(0, steps);
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::string out = absl::StrCat("data.mixture realised over ", steps, " steps:");
  for (size_t k = 0; k < counts.size(); ++k) {
    absl::StrAppend(&out, " ", k < names.size() ? names[k] : absl::StrCat("#", k),
                    absl::StrFormat(" %.2f%%", total ? 100.0 * double(counts[k]) / double(total)
                                                     : 0.0),
                    " (", counts[k], " samples)");
  }
  return out;
}

}  // namespace hs::data
