// File: haiscale/train/host_step_engine.cc — see host_step_engine.h.
#include "haiscale/train/host_step_engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/cpu_peak.h"
#include "haiscale/train/trainer.h"
#include "hfreduce/gpu/host_copier.h"
#include "optim/clip.h"
#include "parallel/device_grad_sync.h"

namespace hs::train {
namespace {

class HostStepEngine final : public StepEngine {
 public:
  std::string Describe() const override {
    return absl::StrCat("host test engine, ",
                        grad_sum_ ? grad_sum_->Describe() : std::string("single process"));
  }
  double PeakGflops() const override { return peak_.gflops; }
  std::string PeakHow() const override { return peak_.how; }

  absl::Status ZeroGrads() override {
    model_->arena().ZeroGrads();
    return absl::OkStatus();
  }
  absl::StatusOr<models::ForwardResult> Forward(const int32_t* tokens,
                                                const int32_t* targets) override {
    return model_->Forward(tokens, targets, B_, T_);
  }
  absl::Status Backward(float ce_scale, float aux_scale) override {
    return model_->Backward(ce_scale, aux_scale);
  }
  std::vector<int64_t> ExpertLoad() const override { return model_->ExpertLoad(); }

  absl::StatusOr<double> ReduceAndStep(int64_t step, double lr) override {
    models::ParamArena& arena = model_->arena();
    const int64_t n = arena.size();
    if (grad_sum_) HS_RETURN_IF_ERROR(grad_sum_->Sum(arena.grads(), n));
    const double norm = std::sqrt(optim::SumOfSquares(arena.grads(), n));
    if (!std::isfinite(norm)) {
      return absl::InternalError(
          absl::StrCat("step ", step + 1, ": gradient norm is not finite; stopping"));
    }
    const float scale = float(optim::ClipScale(norm, grad_clip_));
    HS_RETURN_IF_ERROR(opt_->Step(arena.params(), arena.grads(), 0, n, step, lr, scale));
    return norm;
  }

  absl::Status LoadState(const float* params, const float* exp_avg,
                         const float* exp_avg_sq) override {
    const int64_t n = model_->arena().size();
    std::memcpy(model_->arena().params(), params, n * sizeof(float));
    std::vector<optim::StateSpan> spans = opt_->StateSpans();
    const float* src[2] = {exp_avg, exp_avg_sq};
    for (int k = 0; k < 2; ++k) {
      if (src[k] != nullptr) {
        std::memcpy(spans[k].data, src[k], n * sizeof(float));
      } else {
        std::fill(spans[k].data, spans[k].data + n, 0.0f);
      }
    }
    return absl::OkStatus();
  }
  absl::Status StoreState(float* params, float* exp_avg, float* exp_avg_sq) override {
    const int64_t n = model_->arena().size();
    std::memcpy(params, model_->arena().params(), n * sizeof(float));
    std::vector<optim::StateSpan> spans = opt_->StateSpans();
    std::memcpy(exp_avg, spans[0].data, n * sizeof(float));
    std::memcpy(exp_avg_sq, spans[1].data, n * sizeof(float));
    return absl::OkStatus();
  }

  std::unique_ptr<models::DeepseekV2Model> model_;
  std::unique_ptr<optim::Optimizer> opt_;
  hfreduce::gpu::HostCopier copier_;
  std::unique_ptr<parallel::DeviceGradSync> grad_sum_;
  CpuPeak peak_;
  int64_t B_ = 0, T_ = 0;
  double grad_clip_ = 0;
};

}  // namespace

absl::StatusOr<std::unique_ptr<StepEngine>> CreateHostStepEngine(const StepEngineSetup& s) {
  auto e = std::make_unique<HostStepEngine>();
  HS_ASSIGN_OR_RETURN(e->model_, models::DeepseekV2Model::Create(
                                     s.model, {.seed = 0, .max_seq_len = s.seq_len}));
  if (e->model_->arena().size() != s.arena_size) {
    return absl::InternalError(absl::StrCat("host engine arena has ", e->model_->arena().size(),
                                            " floats, the trainer's ", s.arena_size));
  }
  HS_ASSIGN_OR_RETURN(e->opt_, BuildOptimizer(*s.config, e->model_->arena(), 0,
                                              e->model_->arena().size()));
  if (e->opt_->StateSpans().size() != 2) {
    return absl::InvalidArgumentError("optimizer.type: the engine implements AdamW only");
  }
  HS_ASSIGN_OR_RETURN(e->grad_sum_,
                      parallel::DeviceGradSync::Create(
                          *s.parallel, int(s.config->parallel().ranks_per_node()), &e->copier_));
  e->peak_ = EstimateCpuPeak(NumThreads());
  e->B_ = s.micro_batch;
  e->T_ = s.seq_len;
  e->grad_clip_ = s.config->optimizer().grad_clip();
  return std::unique_ptr<StepEngine>(std::move(e));
}

bool RegisterHostStepEngine(const std::string& device) {
  return RegisterStepEngine(device, CreateHostStepEngine);
}

}  // namespace hs::train
