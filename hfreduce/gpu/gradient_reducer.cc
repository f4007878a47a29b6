// File: hfreduce/gpu/gradient_reducer.cc — see gradient_reducer.h.
#include "hfreduce/gpu/gradient_reducer.h"

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"

namespace hs::hfreduce::gpu {

absl::StatusOr<std::unique_ptr<GradientReducer>> GradientReducer::Create(
    MPI_Comm comm, int ranks_per_node, DeviceCopier* copier, const StagedOptions& options) {
  std::unique_ptr<GradientReducer> r(new GradientReducer());
  Options o;
  o.ranks_per_node = ranks_per_node;
  o.registered_bytes = StagedAllReducer::StagingBytes(options);
  HS_ASSIGN_OR_RETURN(r->comm_, Communicator::Create(comm, o));
  HS_ASSIGN_OR_RETURN(r->staged_, StagedAllReducer::Create(r->comm_.get(), copier, options));
  r->copier_ = copier;
  return r;
}

absl::Status GradientReducer::Sum(float* device_grads, int64_t count) {
  return staged_->AllReduce(device_grads, count, DType::kF32, ReduceOp::kSum);
}

std::string GradientReducer::Describe() const {
  return absl::StrCat("HFReduce staged (", comm_->num_nodes(), " node(s) x ", comm_->local_size(),
                      " ranks, ", staged_->slot_bytes() >> 10, " KiB pieces, ", staged_->depth(),
                      " slots, ", copier_->Describe(), " copier)");
}

}  // namespace hs::hfreduce::gpu
