// File: haiscale/train/cuda/cuda_step_engine.cc
//
// The StepEngine of `train.device: CUDA` (haiscale/train/step_engine.h):
// one GPU per rank (device = local rank) running DeviceModel
// (models/cuda_model), with the data-parallel gradient sum from
// parallel::DeviceGradSync (HFReduce's staged GPU path: D2H into the node's
// pinned shared segment, CPU reduction and inter-node trees, H2D), then
// grad-norm clipping and the fused AdamW on the device. Linked into
// hai_cuda (alwayslink): `mpirun -np 8 hai_cuda train --config ...
// --set train.device=CUDA` trains data parallel on 8 GPUs.
//
// The trainer's tests drive the same interface with the host test engine
// (haiscale/train/host_step_engine.h) and the same GradientReducer.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "haiscale/cuda/device.h"
#include "haiscale/status.h"
#include "haiscale/train/cuda/adamw_args.h"
#include "haiscale/train/step_engine.h"
#include "hfreduce/gpu/cuda_copier.h"
#include "models/cuda_model/deepseek_v2_cuda.h"
#include "parallel/device_grad_sync.h"

namespace hs::train {
namespace {

using models::ForwardResult;
using models::cuda_model::DeviceModel;

class CudaStepEngine final : public StepEngine {
 public:
  std::string Describe() const override {
    return absl::StrCat(device_.ToString(), ", ",
                        grad_sum_ ? grad_sum_->Describe() : std::string("single GPU"));
  }
  double PeakGflops() const override { return peaks_.bf16_tflops * 1e3; }
  std::string PeakHow() const override { return "bf16 dense, " + peaks_.how; }

  absl::Status ZeroGrads() override { return model_->ZeroGrads(); }
  absl::StatusOr<ForwardResult> Forward(const int32_t* tokens, const int32_t* targets) override {
    return model_->Forward(tokens, targets);
  }
  absl::Status Backward(float ce_scale, float aux_scale) override {
    return model_->Backward(ce_scale, aux_scale);
  }
  std::vector<int64_t> ExpertLoad() const override { return model_->ExpertLoad(); }

  absl::StatusOr<double> ReduceAndStep(int64_t step, double lr) override {
    if (grad_sum_) {
      // The copier's producer is the model's stream: the D2H copies start
      // after the backward kernels that write the gradients.
      HS_RETURN_IF_ERROR(grad_sum_->Sum(model_->device_grads(), model_->plan().param_floats()));
    }
    return model_->OptimizerStep(AdamWArgs(optimizer_, step, lr));
  }

  absl::Status LoadState(const float* params, const float* exp_avg,
                         const float* exp_avg_sq) override {
    HS_RETURN_IF_ERROR(model_->CopyParamsFromHost(params));  // zeroes the moments
    if (exp_avg != nullptr && exp_avg_sq != nullptr) {
      HS_RETURN_IF_ERROR(model_->CopyOptimizerStateFromHost(exp_avg, exp_avg_sq));
    }
    return absl::OkStatus();
  }
  absl::Status StoreState(float* params, float* exp_avg, float* exp_avg_sq) override {
    HS_RETURN_IF_ERROR(model_->CopyParamsToHost(params));
    return model_->CopyOptimizerStateToHost(exp_avg, exp_avg_sq);
  }

  hs::cuda::DeviceInfo device_;
  hs::cuda::DevicePeaks peaks_;
  config::OptimizerConfig optimizer_;
  std::unique_ptr<DeviceModel> model_;
  std::unique_ptr<hfreduce::gpu::CudaCopier> copier_;
  std::unique_ptr<parallel::DeviceGradSync> grad_sum_;
};

absl::StatusOr<std::unique_ptr<StepEngine>> CreateCudaStepEngine(const StepEngineSetup& s) {
  auto e = std::make_unique<CudaStepEngine>();
  const std::string rank =
      absl::StrCat("train.device CUDA, data-parallel rank ", s.parallel->dp_rank());
  auto dev = hs::cuda::SelectDevice(s.parallel->local_rank());
  if (!dev.ok()) return Annotate(dev.status(), rank);
  e->device_ = *dev;
  auto peaks = hs::cuda::GetDevicePeaks(e->device_.index);
  if (!peaks.ok()) return Annotate(peaks.status(), rank);
  e->peaks_ = *peaks;
  e->optimizer_ = s.config->optimizer();
  auto model = DeviceModel::Create(s.model, s.micro_batch, s.seq_len, e->device_.index);
  if (!model.ok()) return Annotate(model.status(), rank);
  e->model_ = *std::move(model);
  if (e->model_->plan().param_floats() != s.arena_size) {
    return absl::InternalError(absl::StrCat(rank, ": device arena has ",
                                            e->model_->plan().param_floats(),
                                            " floats, the CPU arena ", s.arena_size));
  }
  if (s.parallel->dp_size() > 1) {
    auto copier = hfreduce::gpu::CudaCopier::Create(
        {.device = e->device_.index, .producer = e->model_->stream()});
    if (!copier.ok()) return Annotate(copier.status(), rank);
    e->copier_ = *std::move(copier);
    auto sync = parallel::DeviceGradSync::Create(
        *s.parallel, int(s.config->parallel().ranks_per_node()), e->copier_.get());
    if (!sync.ok()) return Annotate(sync.status(), rank);
    e->grad_sum_ = *std::move(sync);
  }
  return std::unique_ptr<StepEngine>(std::move(e));
}

const bool kRegistered = RegisterStepEngine("CUDA", CreateCudaStepEngine);

}  // namespace
}  // namespace hs::train
