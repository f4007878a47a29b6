// File: haiscale/rl/grpo_math.cc
#include "haiscale/rl/grpo_math.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace hs::rl {
namespace {

// Sample mean and standard deviation of values[begin, end).
void MeanStd(const std::vector<double>& v, size_t begin, size_t end, double* mean, double* std) {
  const double n = double(end - begin);
  double sum = 0;
  for (size_t i = begin; i < end; ++i) sum += v[i];
  *mean = sum / n;
  double sq = 0;
  for (size_t i = begin; i < end; ++i) sq += (v[i] - *mean) * (v[i] - *mean);
  *std = n > 1 ? std::sqrt(sq / (n - 1)) : 0.0;
}

}  // namespace

absl::StatusOr<Advantages> GroupAdvantages(const std::vector<double>& rewards, int group_size,
                                           ScaleRewards scale) {
  if (group_size < 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("grpo.num_generations must be at least 2, got ", group_size));
  }
  if (rewards.empty() || rewards.size() % size_t(group_size) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(rewards.size(), " rewards are not whole groups of ",
                                                   group_size));
  }
  for (size_t i = 0; i < rewards.size(); ++i) {
    if (!std::isfinite(rewards[i])) {
      return absl::InvalidArgumentError(absl::StrCat("reward of completion ", i, " is ",
                                                     rewards[i], " (must be finite)"));
    }
  }
  Advantages out;
  out.values.resize(rewards.size());
  out.groups = int64_t(rewards.size()) / group_size;
  MeanStd(rewards, 0, rewards.size(), &out.reward_mean, &out.reward_std);
  for (int64_t g = 0; g < out.groups; ++g) {
    const size_t begin = size_t(g) * size_t(group_size), end = begin + size_t(group_size);
    double mean, std;
    MeanStd(rewards, begin, end, &mean, &std);
    const bool all_equal = std::all_of(rewards.begin() + long(begin), rewards.begin() + long(end),
                                       [&](double r) { return r == rewards[begin]; });
    if (all_equal) ++out.zero_std_groups;
    const double scale_by = scale == ScaleRewards::kGroup   ? std + kAdvantageEpsilon
                            : scale == ScaleRewards::kBatch ? out.reward_std + kAdvantageEpsilon
                                                            : 1.0;
    for (size_t i = begin; i < end; ++i) {
      out.values[i] = all_equal ? 0.0 : (rewards[i] - mean) / scale_by;
    }
  }
  out.frac_reward_zero_std = double(out.zero_std_groups) / double(out.groups);
  return out;
}

TokenLoss GrpoTokenLoss(double logp, double logp_old, double logp_ref, double advantage,
                        const ClipParams& clip) {
  TokenLoss t;
  t.ratio = std::exp(logp - logp_old);
  const double clipped = std::clamp(t.ratio, 1.0 - clip.epsilon_low, 1.0 + clip.epsilon_high);
  const double unclipped_term = t.ratio * advantage, clipped_term = clipped * advantage;
  // min picks the clipped term only where clipping lowers the objective;
  // there the ratio is constant in logp and the gradient is cut.
  const bool cut = clipped_term < unclipped_term;
  t.loss = -std::min(unclipped_term, clipped_term);
  t.dloss_dlogp = cut ? 0.0 : -unclipped_term;
  t.clipped_low = t.ratio < 1.0 - clip.epsilon_low && advantage < 0;
  t.clipped_high = t.ratio > 1.0 + clip.epsilon_high && advantage > 0;
  if (clip.beta != 0) {
    const double d = logp_ref - logp;
    t.kl = std::exp(d) - d - 1.0;
    t.loss += clip.beta * t.kl;
    t.dloss_dlogp += clip.beta * (1.0 - std::exp(d));
  }
  return t;
}

absl::StatusOr<std::vector<double>> TokenWeights(LossType type, const std::vector<int64_t>& lengths,
                                                 const BatchCounts& counts) {
  int64_t local_tokens = 0;
  for (int64_t n : lengths) local_tokens += n;
  std::vector<double> w(lengths.size(), 0.0);
  switch (type) {
    case LossType::kGrpo:
      if (counts.global_sequences <= 0) return absl::InvalidArgumentError("no sequences in the batch");
      for (size_t i = 0; i < lengths.size(); ++i) {
        if (lengths[i] > 0) w[i] = 1.0 / (double(counts.global_sequences) * double(lengths[i]));
      }
      break;
    case LossType::kBnpo:
      if (counts.data_parallel <= 0) return absl::InvalidArgumentError("data_parallel must be positive");
      if (local_tokens > 0) {
        std::fill(w.begin(), w.end(), 1.0 / (double(counts.data_parallel) * double(local_tokens)));
      }
      break;
    case LossType::kDapo:
      if (counts.global_tokens > 0) std::fill(w.begin(), w.end(), 1.0 / double(counts.global_tokens));
      break;
    case LossType::kDrGrpo:
      if (counts.global_sequences <= 0 || counts.max_completion_tokens <= 0) {
        return absl::InvalidArgumentError("DR_GRPO needs sequences and a maximum completion length");
      }
      std::fill(w.begin(), w.end(),
                1.0 / (double(counts.global_sequences) * double(counts.max_completion_tokens)));
      break;
  }
  return w;
}

absl::StatusOr<BatchLoss> GrpoBatchLoss(const std::vector<double>& logp,
                                        const std::vector<double>& logp_old,
                                        const std::vector<double>& logp_ref,
                                        const std::vector<int64_t>& lengths,
                                        const std::vector<double>& advantages,
                                        const ClipParams& clip, LossType type,
                                        const BatchCounts& counts) {
  int64_t total = 0;
  for (int64_t n : lengths) total += n;
  if (int64_t(logp.size()) != total || logp_old.size() != logp.size() ||
      (clip.beta != 0 && logp_ref.size() != logp.size()) || advantages.size() != lengths.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "GRPO loss inputs disagree: ", logp.size(), " log-probs, ", logp_old.size(), " old, ",
        logp_ref.size(), " reference, ", total, " completion tokens, ", advantages.size(),
        " advantages for ", lengths.size(), " sequences"));
  }
  absl::StatusOr<std::vector<double>> weights = TokenWeights(type, lengths, counts);
  if (!weights.ok()) return weights.status();
  BatchLoss out;
  out.dloss_dlogp.resize(logp.size());
  size_t t = 0;
  for (size_t i = 0; i < lengths.size(); ++i) {
    for (int64_t k = 0; k < lengths[i]; ++k, ++t) {
      const TokenLoss tl = GrpoTokenLoss(logp[t], logp_old[t], clip.beta != 0 ? logp_ref[t] : 0.0,
                                         advantages[i], clip);
      out.loss += (*weights)[i] * tl.loss;
      out.dloss_dlogp[t] = (*weights)[i] * tl.dloss_dlogp;
      out.kl_sum += tl.kl;
      out.clipped_low += tl.clipped_low;
      out.clipped_high += tl.clipped_high;
    }
  }
  out.tokens = total;
  return out;
}

}  // namespace hs::rl
