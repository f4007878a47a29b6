// File: haiscale/train/objective_post.h
//
// The post-training objectives (objective.type SFT and DPO) and what their
// tests reach: MakeObjective (objective.h) picks them.
#ifndef HAISCALE_TRAIN_OBJECTIVE_POST_H_
#define HAISCALE_TRAIN_OBJECTIVE_POST_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "data/post/rows_file.h"
#include "haiscale/train/objective.h"

namespace hs::train {

// objective.type SFT: masked cross-entropy over `hai data prepare-sft`
// rows (objective_sft.cc).
absl::StatusOr<std::unique_ptr<Objective>> MakeSftObjective(const config::RunConfig& config,
                                                            const BatchLayout& layout,
                                                            const parallel::ParallelContext* ctx);

// objective.type DPO: the sigmoid preference loss over `hai data
// prepare-dpo` rows against the initial weights (objective_dpo.cc).
absl::StatusOr<std::unique_ptr<Objective>> MakeDpoObjective(const config::RunConfig& config,
                                                            const BatchLayout& layout,
                                                            const parallel::ParallelContext* ctx);

// OpenPostRows(path, field, kind, seq_len, vocab): a prepared rows
// directory of that kind, checked against the run (train.seq_len,
// model.vocab_size); errors name `field`.
absl::StatusOr<data::post::PostRows> OpenPostRows(const std::string& path, const char* field,
                                                  data::post::RowsKind kind, int64_t seq_len,
                                                  int64_t vocab);

// One preference pair's DPO terms from its four sequence log-probabilities.
struct DpoPairTerms {
  double loss = 0;             // -(1-ε) log σ(Δ) - ε log σ(-Δ)
  double reward_chosen = 0;    // β (logp_π(c) - logp_ref(c))
  double reward_rejected = 0;  // β (logp_π(r) - logp_ref(r))
  double dloss_dchosen = 0;    // d loss / d logp_π(c)
  double dloss_drejected = 0;  // d loss / d logp_π(r)
};
DpoPairTerms DpoTerms(double policy_chosen, double policy_rejected, double ref_chosen,
                      double ref_rejected, double beta, double label_smoothing);

// d(loss)/d(summed cross-entropy) of a pair's two rows, for a loss that is
// the mean of the DPO terms over the global batch's `pairs` plus
// rpo_alpha × (cross-entropy summed over the global batch's chosen
// completion tokens) / chosen_tokens (RPO); cross-entropy = -logp.
struct DpoRowScales {
  double chosen = 0;
  double rejected = 0;
};
DpoRowScales DpoCeScales(const DpoPairTerms& t, int64_t pairs, double rpo_alpha,
                         int64_t chosen_tokens);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_OBJECTIVE_POST_H_
