// File: models/moe/expert_dispatcher.cc — the local dispatcher.
#include "models/moe/expert_dispatcher.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace hs::models {

absl::Status LocalExpertDispatcher::Dispatch(const float* x, const int32_t* idx,
                                             int64_t N, int64_t K, int64_t C,
                                             DispatchPlan* plan,
                                             Tensor* expert_in) {
  plan->N = N;
  plan->K = K;
  plan->C = C;
  // Counting sort of slots by expert; within an expert, slots keep token
  // order, which makes the expert GEMMs (and so the results) deterministic.
  std::vector<int64_t> counts(E_ + 1, 0);
  for (int64_t s = 0; s < N * K; ++s) {
    int32_t e = idx[s];
    if (e < 0 || e >= E_) {
      return absl::InternalError(absl::StrCat("expert id ", e, " out of range [0, ", E_, ")"));
    }
    ++counts[e + 1];
  }
  plan->expert_offsets.assign(E_ + 1, 0);
  for (int64_t e = 0; e < E_; ++e) plan->expert_offsets[e + 1] = plan->expert_offsets[e] + counts[e + 1];
  std::vector<int64_t> next(plan->expert_offsets.begin(), plan->expert_offsets.end() - 1);
  plan->slot_row.assign(N * K, -1);
  for (int64_t s = 0; s < N * K; ++s) plan->slot_row[s] = next[idx[s]]++;
  // slot_row is a permutation of the rows: every row is written.
  *expert_in = Tensor::Uninitialized({N * K, C});
  float* dst = expert_in->data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < N * K; ++s) {
    std::memcpy(dst + plan->slot_row[s] * C, x + (s / K) * C, C * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status LocalExpertDispatcher::Combine(const Tensor& expert_out,
                                            const DispatchPlan& plan,
                                            float* slot_out) {
  const int64_t C = plan.C;
  const float* src = expert_out.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < plan.N * plan.K; ++s) {
    std::memcpy(slot_out + s * C, src + plan.slot_row[s] * C, C * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status LocalExpertDispatcher::CombineBackward(const float* dslot_out,
                                                    const DispatchPlan& plan,
                                                    Tensor* dexpert_out) {
  const int64_t C = plan.C;
  *dexpert_out = Tensor::Uninitialized({plan.rows(), C});
  float* dst = dexpert_out->data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t s = 0; s < plan.N * plan.K; ++s) {
    std::memcpy(dst + plan.slot_row[s] * C, dslot_out + s * C, C * sizeof(float));
  }
  return absl::OkStatus();
}

absl::Status LocalExpertDispatcher::DispatchBackward(const Tensor& dexpert_in,
                                                     const DispatchPlan& plan,
                                                     float* dx) {
  const int64_t C = plan.C, K = plan.K;
  const float* src = dexpert_in.data<float>();
  // One thread per token: sums its K slots in k order (deterministic).
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < plan.N; ++n) {
    float* row = dx + n * C;
    for (int64_t k = 0; k < K; ++k) {
      const float* g = src + plan.slot_row[n * K + k] * C;
      for (int64_t c = 0; c < C; ++c) row[c] += g[c];
    }
  }
  return absl::OkStatus();
}

}  // namespace hs::models
