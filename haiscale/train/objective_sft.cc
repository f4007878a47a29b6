// File: haiscale/train/objective_sft.cc
//
// SftObjective: supervised fine-tuning on the rows of `hai data
// prepare-sft` (data/post/rows_file.h). Each row already holds packed
// examples with their positions (attention stays within an example) and
// targets < 0 everywhere but the trained (assistant) tokens. The loss is the
// cross-entropy summed over the trained tokens of the whole global batch
// divided by their number, so any data-parallel size and any number of
// micro-batches give the same gradients. Logs the trained-token count and
// the token accuracy (argmax == target over trained tokens).
//
// Rows are read in order, or in a seeded per-epoch permutation with
// data.shuffle; step s uses rows [s G, (s + 1) G) of that sequence
// (wrapping into the next epoch), so a resumed run sees the same batches.
#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/permutation.h"
#include "data/post/rows_file.h"
#include "haiscale/status.h"
#include "haiscale/train/objective.h"
#include "haiscale/train/objective_post.h"

namespace hs::train {

using data::post::PostRows;

absl::StatusOr<PostRows> OpenPostRows(const std::string& path, const char* field,
                                      data::post::RowsKind kind, int64_t seq_len,
                                      int64_t vocab) {
  if (!data::post::IsPostRowsDir(path)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", path, "' is not a ", data::post::RowsKindName(kind),
        " dataset (make one with hai data prepare-",
        kind == data::post::RowsKind::kSft ? "sft" : "dpo", ")"));
  }
  HS_ASSIGN_OR_RETURN(PostRows rows, data::post::ReadPostRows(path));
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", path, ": ", what));
  };
  if (rows.kind != kind) {
    return bad(absl::StrCat("holds ", data::post::RowsKindName(rows.kind), " rows, objective.type is ",
                            data::post::RowsKindName(kind)));
  }
  if (rows.seq_len != seq_len) {
    return bad(absl::StrCat("rows of ", rows.seq_len, " positions, train.seq_len is ", seq_len,
                            " (prepare with --seq ", seq_len, ")"));
  }
  if (rows.vocab_size > vocab) {
    return bad(absl::StrCat("tokenizer vocabulary ", rows.vocab_size,
                            " is larger than model.vocab_size ", vocab));
  }
  if (rows.num_rows() == 0) return bad("no rows");
  return rows;
}

namespace {

int64_t CountTargets(const std::vector<int32_t>& targets) {
  int64_t n = 0;
  for (int32_t t : targets) n += t >= 0;
  return n;
}

class SftObjective final : public Objective {
 public:
  absl::StatusOr<MetricSums> ForwardBackward(int64_t step, ModelRunner& runner) override {
    const int64_t G = layout_.global_batch;
    for (int64_t j = 0; j < G; ++j) CopyRow(train_, RowOf(step * G + j), j);
    trained_ = CountTargets(targets_);
    PassInput pass = LocalPass();
    pass.ce_scale = 1.0f / float(trained_);
    pass.aux_scale = float(layout_.micro_batch) / float(G);
    HS_ASSIGN_OR_RETURN(PassResult r, runner.ForwardBackward(pass));
    MetricSums sums;
    sums.Add("ce_sum", r.ce_sum);
    sums.Add("aux_loss", r.aux_loss);
    sums.Add("correct", double(r.correct_tokens));
    sums.Add("bubble", r.bubble);  // the pipeline's (the trainer reports it)
    return sums;
  }

  void Report(const MetricSums& job, StepMetrics* m) const override {
    m->loss = job.Get("ce_sum") / double(trained_);
    m->aux_loss = job.Get("aux_loss");
    m->objective.push_back({"trained_tokens", double(trained_)});
    // Argmax hits come from the ranks that hold the loss (the last
    // pipeline stage); the others add 0.
    m->objective.push_back({"token_accuracy", job.Get("correct") / double(trained_)});
  }

  bool has_eval() const override { return !eval_.tokens.empty(); }

  absl::StatusOr<EvalResult> Evaluate(ModelRunner& runner) override {
    if (eval_.tokens.empty()) return absl::FailedPreconditionError("Evaluate: no eval rows");
    const int64_t G = layout_.global_batch;
    double ce = 0;
    int64_t tokens = 0;
    // Like pretraining: batches of G rows split over the ranks as in
    // training; a short last batch is padded with untrained rows.
    for (int64_t first = 0; first < eval_.num_rows(); first += G) {
      for (int64_t j = 0; j < G; ++j) {
        if (first + j < eval_.num_rows()) {
          CopyRow(eval_, first + j, j);
        } else {
          std::fill_n(tokens_.begin() + j * layout_.seq_len, layout_.seq_len, 0);
          std::fill_n(targets_.begin() + j * layout_.seq_len, layout_.seq_len, -1);
          for (int64_t i = 0; i < layout_.seq_len; ++i) positions_[j * layout_.seq_len + i] = i;
        }
      }
      const int64_t valid = CountTargets(targets_);
      tokens += valid;
      PassInput pass = LocalPass();
      pass.ce_scale = 1.0f / float(valid);
      HS_ASSIGN_OR_RETURN(double part, runner.Forward(pass));
      ce += part;
    }
    HS_RETURN_IF_ERROR(ctx_->SumOverWorld(&ce, 1));
    return EvalResult{tokens > 0 ? ce / double(tokens) : 0.0, tokens};
  }

  // RowOf(i): the row at index i of the (shuffled) epoch sequence.
  int64_t RowOf(int64_t i) const {
    const int64_t n = train_.num_rows();
    const int64_t epoch = i / n, within = i % n;
    if (!shuffle_) return within;
    data::KeyedPermutation perm(uint64_t(n), seed_, uint64_t(epoch));
    return int64_t(perm(uint64_t(within)));
  }

  void CopyRow(const PostRows& from, int64_t row, int64_t slot) {
    const int64_t S = layout_.seq_len;
    std::copy_n(from.tokens.begin() + row * S, S, tokens_.begin() + slot * S);
    std::copy_n(from.targets.begin() + row * S, S, targets_.begin() + slot * S);
    std::copy_n(from.positions.begin() + row * S, S, positions_.begin() + slot * S);
  }

  PassInput LocalPass() const {
    const int64_t off = layout_.local_first * layout_.seq_len;
    PassInput p;
    p.tokens = tokens_.data() + off;
    p.targets = targets_.data() + off;
    p.positions = positions_.data() + off;
    p.micro_batches = layout_.micro_batches;
    p.micro_batch = layout_.micro_batch;
    p.seq_len = layout_.seq_len;
    return p;
  }

  BatchLayout layout_;
  const parallel::ParallelContext* ctx_ = nullptr;
  PostRows train_, eval_;
  bool shuffle_ = false;
  uint64_t seed_ = 0;
  std::vector<int32_t> tokens_, targets_, positions_;  // [global_batch, seq_len]
  int64_t trained_ = 0;  // trained tokens of the last global batch
};

}  // namespace

absl::StatusOr<std::unique_ptr<Objective>> MakeSftObjective(const config::RunConfig& config,
                                                            const BatchLayout& layout,
                                                            const parallel::ParallelContext* ctx) {
  auto o = std::make_unique<SftObjective>();
  o->layout_ = layout;
  o->ctx_ = ctx;
  o->shuffle_ = config.data().shuffle();
  o->seed_ = uint64_t(config.train().seed());
  const int64_t vocab = config.model().vocab_size();
  HS_ASSIGN_OR_RETURN(o->train_, OpenPostRows(config.data().train_path(), "data.train_path",
                                              data::post::RowsKind::kSft, layout.seq_len, vocab));
  if (config.train().eval_every() > 0) {
    HS_ASSIGN_OR_RETURN(o->eval_, OpenPostRows(config.data().eval_path(), "data.eval_path",
                                               data::post::RowsKind::kSft, layout.seq_len, vocab));
  }
  const size_t n = size_t(layout.global_batch * layout.seq_len);
  o->tokens_.resize(n);
  o->targets_.resize(n);
  o->positions_.resize(n);
  o->AddHeaderNote(absl::StrFormat(
      "SFT data: %d rows (%d examples, %d trained tokens) from %s", o->train_.num_rows(),
      o->train_.num_examples, o->train_.trained_tokens(), config.data().train_path()));
  return std::unique_ptr<Objective>(std::move(o));
}

}  // namespace hs::train
