// File: models/cuda_model/deepseek_v2_cuda.h
//
// DeviceModel: the DeepSeek-V2 model of models/deepseek_v2.h trained on one
// GPU with the fused kernels of models/kernels/cuda. Same config, same
// parameter names, shapes and arena layout as the CPU ParamArena
// (DeviceModelPlan), same math (HF DeepseekV2ForCausalLM): embedding ->
// [RMSNorm -> MLA -> RMSNorm -> MLP | MoE]* -> RMSNorm -> lm_head ->
// cross-entropy, plus the MoE expert balance loss exactly as
// models/layers/moe.cc computes it.
//
// Precision: fp32 master params, fp32 grads and AdamW state; bf16 copies of
// the weights feed the GEMMs, norms and the embedding (refreshed by the
// fused AdamW kernel after every step); bf16 activations and residual
// stream; fp32 accumulation inside every kernel; fp32 router logits,
// softmax and combine weights; fp32 loss.
//
// Not supported (DeviceModelPlan::Create says so): expert-parallel routing
// knobs (device_limit, device/comm balance losses, capacity_factor),
// pipeline stages, activation recomputation. All activations a backward
// needs are kept; see DeviceModelPlan for the byte budget.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto m, DeviceModel::Create(config, B, T));
//   HS_RETURN_IF_ERROR(m->CopyParamsFromHost(cpu_model->arena().params()));
//   HS_RETURN_IF_ERROR(m->ZeroGrads());
//   HS_ASSIGN_OR_RETURN(models::ForwardResult r, m->Forward(tokens, targets));
//   HS_RETURN_IF_ERROR(m->Backward(1.0f / r.valid_tokens, 1.0f));
//   HS_ASSIGN_OR_RETURN(double gnorm, m->OptimizerStep(adamw_args));
#ifndef MODELS_CUDA_MODEL_DEEPSEEK_V2_CUDA_H_
#define MODELS_CUDA_MODEL_DEEPSEEK_V2_CUDA_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/cuda_model/device_model_plan.h"
#include "models/deepseek_v2.h"
#include "models/kernels/cuda/gemm.h"

namespace hs::models::cuda_model {

// DeviceBuffer: one cudaMalloc'ed block, freed on destruction.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  absl::Status Allocate(int64_t bytes, const char* what);
  template <typename T>
  T* as(int64_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr_) + byte_offset);
  }
  int64_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  int64_t bytes_ = 0;
};

// The optimizer settings of one step (optim/adamw.h + optim/clip.h).
struct AdamWStepArgs {
  int64_t step = 0;        // 0-based; bias correction uses t = step + 1
  double lr = 1e-3;
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;  // applied to the spec's weight_decay params only
  double max_grad_norm = 1.0; // <= 0: no clipping
};

class DeviceModel {
 public:
  // Create(config, B, T, device): allocates everything for micro-batches of
  // B x T tokens on `device` (made current). FailedPrecondition without a
  // GPU; ResourceExhausted when the plan does not fit.
  static absl::StatusOr<std::unique_ptr<DeviceModel>> Create(
      const DeepseekV2Config& config, int64_t B, int64_t T, int device = 0);
  ~DeviceModel();
  DeviceModel(const DeviceModel&) = delete;
  DeviceModel& operator=(const DeviceModel&) = delete;

  // Parameters / gradients in the CPU arena's layout (plan().param_floats()
  // floats). CopyParamsFromHost also refreshes the bf16 weights and zeroes
  // the AdamW state (a fresh optimizer, as for a new CPU model).
  absl::Status CopyParamsFromHost(const float* params);
  absl::Status CopyParamsToHost(float* params);
  absl::Status CopyGradsToHost(float* grads);
  absl::Status ZeroGrads();
  // AdamW moments (exp_avg, exp_avg_sq) in the arena layout, param_floats()
  // each: checkpoints save and restore them (haiscale/train/step_engine.h).
  absl::Status CopyOptimizerStateFromHost(const float* exp_avg, const float* exp_avg_sq);
  absl::Status CopyOptimizerStateToHost(float* exp_avg, float* exp_avg_sq);
  // The fp32 gradient arena on the device (param_floats() floats): the
  // data-parallel reducer sums it in place between Backward and
  // OptimizerStep. Work on stream() produces it.
  float* device_grads() const { return grads_.as<float>(); }

  // Forward(tokens, targets): host arrays of B*T ids (targets < 0 are
  // ignored). Returns the CE sum, the valid target count and the summed
  // balance loss (as DeepseekV2Model::Forward), after a stream sync.
  absl::StatusOr<ForwardResult> Forward(const int32_t* tokens, const int32_t* targets);
  // Backward(ce_scale, aux_scale): gradients (+=) of
  // ce_scale * ce_sum + aux_scale * aux_loss, as DeepseekV2Model::Backward.
  absl::Status Backward(float ce_scale, float aux_scale);
  // OptimizerStep: global grad-norm clipping (fp64 sum of squares on the
  // device), then AdamW over each weight-decay segment, writing the new
  // bf16 weights. Returns the pre-clip norm; Internal (and no update)
  // when it is not finite, as the CPU trainer.
  absl::StatusOr<double> OptimizerStep(const AdamWStepArgs& args);
  absl::Status Synchronize();

  // Per-expert routed slot counts of the last Forward, summed over layers.
  std::vector<int64_t> ExpertLoad() const;
  const DeviceModelPlan& plan() const { return plan_; }
  cudaStream_t stream() const { return stream_; }

 private:
  explicit DeviceModel(DeviceModelPlan plan) : plan_(std::move(plan)) {}
  // Typed pointers into the arenas.
  template <typename T>
  T* A(int64_t off) const { return off < 0 ? nullptr : acts_.as<T>(off); }
  uint16_t* W(int slot) const;  // bf16 weight
  float* G(int slot) const;     // fp32 grad
  absl::Status NormForward(uint16_t* res_out, uint16_t* out, float* rstd, const uint16_t* res,
                           const uint16_t* inp, int slot, int64_t C, float eps);
  absl::Status NormBackward(uint16_t* dinp, const uint16_t* dout, const uint16_t* inp,
                            const float* rstd, int slot, int64_t C);
  absl::Status MlaForward(const LayerSlots& l, uint16_t* out);
  absl::Status MlaBackward(const LayerSlots& l, const uint16_t* dout, uint16_t* dh1);
  absl::Status MlpForward(const LayerSlots& l, uint16_t* out);
  absl::Status MlpBackward(const LayerSlots& l, const uint16_t* dout, uint16_t* dh2);
  absl::Status MoeForward(const LayerSlots& l, uint16_t* out);
  absl::Status MoeBackward(const LayerSlots& l, const uint16_t* dout, uint16_t* dh2,
                           float aux_scale);
  // SwiGLU FFN on `rows` rows (dense MLP or shared experts), out (=) or,
  // with accumulate, out += (beta 1 in the down-projection GEMM).
  absl::Status FfnForward(int gate, int down, int64_t I, const uint16_t* in, int64_t rows,
                          uint16_t* gate_up, uint16_t* act, uint16_t* out, bool accumulate);
  absl::Status FfnBackward(int gate, int down, int64_t I, const uint16_t* dout,
                           const uint16_t* in, int64_t rows, const uint16_t* gate_up,
                           const uint16_t* act, uint16_t* din);
  absl::Status Zero(void* p, int64_t bytes);

  DeviceModelPlan plan_;
  int device_ = 0;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<kernels::cuda::GemmContext> gemm_;
  DeviceBuffer params_, grads_, m_, v_, w16_, acts_;
  DeviceBuffer rope_cos_, rope_sin_;
  float softmax_scale_ = 1.0f;
  // Host copies of each MoE layer's expert row offsets (E+1), per layer
  // (empty for dense blocks): the grouped GEMMs need them on the host.
  std::vector<std::vector<int64_t>> host_offsets_;
  std::vector<int32_t> host_tokens_;
  bool have_forward_ = false;
};

}  // namespace hs::models::cuda_model

#endif  // MODELS_CUDA_MODEL_DEEPSEEK_V2_CUDA_H_
