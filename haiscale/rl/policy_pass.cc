// File: haiscale/rl/policy_pass.cc
#include "haiscale/rl/policy_pass.h"

#include <algorithm>
#include <cmath>

#include "haiscale/status.h"

namespace hs::rl {

void TokenLogProbs(const float* logits, const int32_t* targets, int64_t N, int64_t V,
                   std::vector<double>* logp, std::vector<double>* entropy) {
  for (int64_t i = 0; i < N; ++i) {
    if (targets[i] < 0) continue;
    const float* row = logits + i * V;
    const double max = *std::max_element(row, row + V);
    double sum = 0, weighted = 0;
    for (int64_t v = 0; v < V; ++v) {
      const double e = std::exp(double(row[v]) - max);
      sum += e;
      weighted += e * (double(row[v]) - max);
    }
    const double lse = max + std::log(sum);
    logp->push_back(double(row[targets[i]]) - lse);
    // H = lse - E[logit] = log(sum) - E[logit - max].
    if (entropy != nullptr) entropy->push_back(std::log(sum) - weighted / sum);
  }
}

std::vector<int64_t> CompletionLengths(const int32_t* targets, int64_t B, int64_t T) {
  std::vector<int64_t> lengths(size_t(B), 0);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) lengths[size_t(b)] += targets[b * T + t] >= 0;
  }
  return lengths;
}

absl::StatusOr<std::vector<double>> PolicyLogProbs(models::DeepseekV2Model* model,
                                                   const int32_t* tokens, const int32_t* targets,
                                                   int64_t B, int64_t T) {
  HS_ASSIGN_OR_RETURN(Tensor logits, model->ForwardLogits(tokens, B, T));
  std::vector<double> logp;
  TokenLogProbs(logits.data<float>(), targets, B * T, model->config().vocab_size, &logp, nullptr);
  return logp;
}

absl::StatusOr<PolicyPassResult> GrpoForwardBackward(models::DeepseekV2Model* model,
                                                     const PolicyPassInput& in, bool backward,
                                                     float aux_scale,
                                                     const models::GradReadyHook& on_ready) {
  const int64_t N = in.B * in.T, V = model->config().vocab_size;
  HS_ASSIGN_OR_RETURN(models::ForwardResult fwd,
                      model->Forward(in.tokens, in.targets, in.B, in.T));
  PolicyPassResult out;
  out.aux_loss = fwd.aux_loss;
  std::vector<double> entropy;
  TokenLogProbs(model->logits().data<float>(), in.targets, N, V, &out.logp, &entropy);
  for (double h : entropy) out.entropy_sum += h;
  static const std::vector<double> kNone;
  HS_ASSIGN_OR_RETURN(
      out.loss, GrpoBatchLoss(out.logp, in.logp_old != nullptr ? *in.logp_old : out.logp,
                              in.logp_ref != nullptr ? *in.logp_ref : kNone,
                              CompletionLengths(in.targets, in.B, in.T),
                              in.advantages != nullptr ? *in.advantages : kNone, in.clip,
                              in.loss_type, in.counts));
  if (backward) {
    std::vector<float> weights(size_t(N), 0.0f);
    size_t k = 0;
    for (int64_t i = 0; i < N; ++i) {
      if (in.targets[i] >= 0) weights[size_t(i)] = float(-out.loss.dloss_dlogp[k++]);
    }
    HS_RETURN_IF_ERROR(model->Backward(1.0f, aux_scale, on_ready, weights.data()));
  }
  return out;
}

}  // namespace hs::rl
