// File: models/moe/expert_dispatcher.h
//
// ExpertDispatcher: moves token rows to the experts that process them and
// back. The MoE layer only sees this interface, so expert parallelism
// (parallel/, all-to-all over the EP group) plugs in without touching the
// model. The local implementation serves single-process and pure-DP runs.
//
// Dispatch permutes the N*K (token, choice) slots into rows grouped by
// local expert; Combine returns expert outputs to slot order. As in DeepEP,
// the backward of Dispatch is a Combine and the backward of Combine is a
// Dispatch; the DispatchPlan ("handle") returned by Dispatch is required by
// the other three calls.
// Legend: N tokens, K experts per token, C hidden, R rows received.
#ifndef MODELS_MOE_EXPERT_DISPATCHER_H_
#define MODELS_MOE_EXPERT_DISPATCHER_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "haiscale/tensor.h"

namespace hs::models {

struct DispatchPlan {
  int64_t N = 0, K = 0, C = 0;
  // Rows [expert_offsets[e], expert_offsets[e+1]) of the expert input
  // belong to local expert e (size num_local_experts + 1).
  std::vector<int64_t> expert_offsets;
  // slot_row[n*K + k]: the local row of slot (n, k), for the local
  // dispatcher; EP dispatchers keep their own routing in `opaque`.
  std::vector<int64_t> slot_row;
  std::vector<int64_t> opaque;
  int64_t rows() const { return expert_offsets.empty() ? 0 : expert_offsets.back(); }
};

class ExpertDispatcher {
 public:
  virtual ~ExpertDispatcher() = default;

  // Experts [first_local_expert, first_local_expert + num_local_experts)
  // run on this rank.
  virtual int64_t first_local_expert() const = 0;
  virtual int64_t num_local_experts() const = 0;

  // Dispatch: x[N,C], idx[N,K] (global expert ids) -> expert_in[R,C]
  // grouped by local expert; fills `plan`.
  virtual absl::Status Dispatch(const float* x, const int32_t* idx, int64_t N,
                                int64_t K, int64_t C, DispatchPlan* plan,
                                Tensor* expert_in) = 0;

  // Combine: expert_out[R,C] -> slot_out[N*K, C] (=) in slot order.
  virtual absl::Status Combine(const Tensor& expert_out,
                               const DispatchPlan& plan, float* slot_out) = 0;

  // CombineBackward: dslot_out[N*K,C] -> dexpert_out[R,C] (=).
  virtual absl::Status CombineBackward(const float* dslot_out,
                                       const DispatchPlan& plan,
                                       Tensor* dexpert_out) = 0;

  // DispatchBackward: dexpert_in[R,C] -> dx[N,C] (+=, summed over k).
  virtual absl::Status DispatchBackward(const Tensor& dexpert_in,
                                        const DispatchPlan& plan,
                                        float* dx) = 0;
};

// LocalExpertDispatcher: every routed expert is on this process.
class LocalExpertDispatcher : public ExpertDispatcher {
 public:
  explicit LocalExpertDispatcher(int64_t num_experts) : E_(num_experts) {}
  int64_t first_local_expert() const override { return 0; }
  int64_t num_local_experts() const override { return E_; }
  absl::Status Dispatch(const float* x, const int32_t* idx, int64_t N,
                        int64_t K, int64_t C, DispatchPlan* plan,
                        Tensor* expert_in) override;
  absl::Status Combine(const Tensor& expert_out, const DispatchPlan& plan,
                       float* slot_out) override;
  absl::Status CombineBackward(const float* dslot_out, const DispatchPlan& plan,
                               Tensor* dexpert_out) override;
  absl::Status DispatchBackward(const Tensor& dexpert_in,
                                const DispatchPlan& plan, float* dx) override;

 private:
  int64_t E_;
};

}  // namespace hs::models

#endif  // MODELS_MOE_EXPERT_DISPATCHER_H_
