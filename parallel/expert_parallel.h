// File: parallel/expert_parallel.h
//
// AllToAllExpertDispatcher: expert parallelism for the DeepSeekMoE layer
// (DeepSeek-V2 §2.2.2; the dispatch/combine shape follows DeepEP's Buffer,
// see docs/expert_parallel.md). It implements models::ExpertDispatcher over
// an EP communicator of P ranks: rank p holds the routed experts
// [p*E/P, (p+1)*E/P), so Moe registers (and DDP reduces) only those, and
// every token row travels to the rank of each expert it chose.
//
//   Dispatch (this rank's N*K slots -> the experts' ranks):
//     1. counting sort of the slots by global expert id = (destination rank,
//        local expert), slots of one expert in (token, k) order
//     2. MPI_Ialltoall of the [P x E/P] per-expert counts, overlapped with
//        packing the rows into the send buffer
//     3. MPI_Ialltoallv of the rows (one MPI datatype = one row of C floats)
//     4. received rows (source-major) regrouped by local expert:
//        expert_in = [expert 0: src 0 rows, src 1 rows, ...][expert 1: ...]
//   Combine: the exact reverse (regroup source-major, all-to-all back,
//     scatter into slot order).
//   CombineBackward = a Dispatch of the slot gradients (same plan);
//   DispatchBackward = a Combine of the row gradients, summed over k into dx.
//
// The order inside an expert (source rank, then token) is the order the
// single-process LocalExpertDispatcher gives the same tokens when rank p
// holds the p-th contiguous slice of them, so the expert GEMMs see the
// same rows (tests/ep compares the two).
//
// Waits poll MPI_Test with a deadline (a dead peer gives DeadlineExceeded,
// never a hang) and their time is accumulated in stats() (the trainer logs
// it as all-to-all time). Capacity dropping happens before dispatch, in the
// Moe layer (models::CapacityKeep), so every dispatcher honours it.
//
// Usage:
//   MPI_Comm ep_comm;   // the EP group of this rank (Topology::EpGroup)
//   HS_ASSIGN_OR_RETURN(auto disp, AllToAllExpertDispatcher::Create(ep_comm, E));
//   models::Moe moe(arena, name, config, disp.get());   // local experts only
//   ... moe.Forward / moe.Backward ...
//   double a2a_ms = 1e3 * disp->stats().wait_s;
// Legend: N tokens, K experts per token, C hidden, E routed experts,
// P EP ranks, El = E/P local experts, R rows received.
#ifndef PARALLEL_EXPERT_PARALLEL_H_
#define PARALLEL_EXPERT_PARALLEL_H_

#include <mpi.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/tensor.h"
#include "models/moe/expert_dispatcher.h"

namespace hs::parallel {

struct AllToAllOptions {
  // Seconds one exchange may wait for its peers before failing with
  // DeadlineExceeded (the caller then aborts the job).
  double timeout_s = 600.0;
};

// Measured communication of the dispatcher since the last ResetStats().
struct AllToAllStats {
  double wait_s = 0;           // time blocked waiting for all-to-alls (exposed)
  int64_t exchanges = 0;       // row all-to-alls (4 per MoE layer and step)
  int64_t rows_sent = 0;       // rows this rank sent to other ranks
  int64_t rows_received = 0;   // rows this rank received from other ranks
};

class AllToAllExpertDispatcher : public models::ExpertDispatcher {
 public:
  // Create(ep_comm, num_experts, options): duplicates ep_comm (the
  // dispatcher owns its communicator); num_experts must be divisible by
  // its size. A 1-rank communicator (MPI_COMM_SELF) is valid.
  static absl::StatusOr<std::unique_ptr<AllToAllExpertDispatcher>> Create(
      MPI_Comm ep_comm, int64_t num_experts, const AllToAllOptions& options = {});
  ~AllToAllExpertDispatcher() override;
  AllToAllExpertDispatcher(const AllToAllExpertDispatcher&) = delete;
  AllToAllExpertDispatcher& operator=(const AllToAllExpertDispatcher&) = delete;

  int64_t first_local_expert() const override { return int64_t(rank_) * local_; }
  int64_t num_local_experts() const override { return local_; }
  int ep_rank() const { return rank_; }
  int ep_size() const { return size_; }

  // Dispatch: x[N,C], idx[N,K] (global ids) -> expert_in[R,C] grouped by
  // local expert; plan->expert_offsets [El+1], plan->opaque the layout.
  absl::Status Dispatch(const float* x, const int32_t* idx, int64_t N, int64_t K,
                        int64_t C, models::DispatchPlan* plan, Tensor* expert_in) override;
  // Combine: expert_out[R,C] -> slot_out[N*K,C] (=) in slot order.
  absl::Status Combine(const Tensor& expert_out, const models::DispatchPlan& plan,
                       float* slot_out) override;
  // CombineBackward: dslot_out[N*K,C] -> dexpert_out[R,C] (=) (a Dispatch).
  absl::Status CombineBackward(const float* dslot_out, const models::DispatchPlan& plan,
                               Tensor* dexpert_out) override;
  // DispatchBackward: dexpert_in[R,C] -> dx[N,C] (+=, k in order) (a Combine).
  absl::Status DispatchBackward(const Tensor& dexpert_in, const models::DispatchPlan& plan,
                                float* dx) override;

  // stats(): all-to-all wait time and volume since ResetStats().
  const AllToAllStats& stats() const { return stats_; }
  void ResetStats() { stats_ = AllToAllStats(); }
  // last_received(): rows each local expert received in the last Dispatch
  // (its load; [El]).
  const std::vector<int64_t>& last_received() const { return last_received_; }

 private:
  AllToAllExpertDispatcher(MPI_Comm comm, int rank, int size, int64_t num_experts,
                           const AllToAllOptions& options);
  absl::StatusOr<MPI_Datatype> RowType(int64_t C);
  absl::Status WaitFor(MPI_Request* request, const char* what);
  // Slot rows (source-major, in plan order) -> expert-grouped rows [R,C].
  absl::Status ToExperts(const std::vector<float>& send_rows, const models::DispatchPlan& plan,
                         Tensor* out);
  // Expert-grouped rows [R,C] -> rows in plan send order [N*K,C].
  absl::Status FromExperts(const Tensor& rows, const models::DispatchPlan& plan,
                           std::vector<float>* slot_rows);

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  int64_t E_ = 0, local_ = 0;
  AllToAllOptions options_;
  int64_t row_type_c_ = -1;
  MPI_Datatype row_type_ = MPI_DATATYPE_NULL;
  AllToAllStats stats_;
  std::vector<int64_t> last_received_;
};

}  // namespace hs::parallel

#endif  // PARALLEL_EXPERT_PARALLEL_H_
