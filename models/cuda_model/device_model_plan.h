// File: models/cuda_model/device_model_plan.h
//
// DeviceModelPlan: where every byte of the single-GPU DeepSeek-V2 training
// path (deepseek_v2_cuda.h) lives, computed on the host in plain C++ (no
// CUDA headers, tested in the default build by device_model_plan_test).
//
//  * Parameters: the CPU ParamArena's layout itself, taken from
//    DeepseekV2Model::ParameterSpecs (registration only, nothing
//    allocated): the same HF names, shapes, offsets (in floats) and
//    weight-decay flags, so a CPU arena's params/grads copy to the device
//    with one memcpy, and the two layouts cannot drift apart. The device holds four fp32 arenas with that layout (master
//    params, grads, AdamW m and v) and one bf16 arena with the SAME offsets
//    (the GEMM/norm/embedding weights; the fused AdamW kernel writes it).
//  * Activations: one device allocation carved into named regions (byte
//    offsets, 256-byte aligned): per block what its backward needs, the head
//    (logits, lse, losses), and scratch reused by every block's backward.
//    Sized for exactly B x T tokens; MoE buffers for the worst case of N*K
//    routed rows.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(DeviceModelPlan plan, DeviceModelPlan::Create(cfg, B, T));
//   plan.param_floats();            // == CPU ParamArena::size()
//   plan.layer(3).acts.q;           // byte offset of block 3's q
//   std::printf("%s\n", plan.Summary().c_str());
#ifndef MODELS_CUDA_MODEL_DEVICE_MODEL_PLAN_H_
#define MODELS_CUDA_MODEL_DEVICE_MODEL_PLAN_H_

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "models/deepseek_v2.h"
#include "models/model_config.h"
#include "models/param_arena.h"

namespace hs::models::cuda_model {

// ParamSlot: one parameter (mirrors models::ParamSpec).
struct ParamSlot {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // floats, into every arena (fp32 and bf16 alike)
  int64_t numel = 0;
  bool weight_decay = true;  // false for RMSNorm weights
  int64_t expert = -1;       // routed expert index
};

// Byte offsets of one block's saved activations and its parameters' slot
// indices. -1 = absent (e.g. q_a_* without q_lora, MoE fields in a dense
// block). Shapes in the comments; bf16 unless noted.
struct LayerActs {
  int64_t x = -1;           // [N,C] block input (residual stream)
  int64_t h1 = -1, rstd1 = -1;  // [N,C], [N] f32
  int64_t x2 = -1;          // [N,C] residual after attention
  int64_t h2 = -1, rstd2 = -1;  // [N,C], [N] f32
  // MLA
  int64_t q_a = -1, q_a_rstd = -1, q_a_norm = -1;  // [N,Q], [N] f32, [N,Q]
  int64_t q = -1;           // [N,H,Dq], rope slice rotated
  int64_t kv_a = -1;        // [N,L+R], rope slice rotated
  int64_t c_kv = -1, c_kv_rstd = -1, c_kv_norm = -1;  // [N,L], [N] f32, [N,L]
  int64_t kv = -1;          // [N,H,nope+Dv]
  int64_t k = -1, v = -1;   // [N,H,Dq], [N,H,Dv]
  int64_t attn = -1;        // [N,H,Dv]
  int64_t lse = -1;         // [B,H,T] f32
  // dense MLP
  int64_t gate_up = -1, act = -1;  // [N,2I], [N,I]
  // MoE
  int64_t probs = -1;       // [N,E] f32 router softmax
  int64_t idx = -1;         // [N,K] i32
  int64_t topk = -1;        // [N,K] f32 selected scores
  int64_t weights = -1;     // [N,K] f32 combine weights
  int64_t aux_f = -1;       // [groups,E] f32 balance-loss f term
  int64_t offsets = -1;     // [E+1] i64 expert row offsets
  int64_t slot_row = -1;    // [N*K] i32
  int64_t expert_in = -1;   // [N*K,C]
  int64_t e_gate_up = -1;   // [N*K,2I]
  int64_t e_act = -1;       // [N*K,I]
  int64_t expert_out = -1;  // [N*K,C]
  int64_t s_gate_up = -1, s_act = -1;  // shared experts [N,2Is], [N,Is]
};

struct LayerSlots {
  bool moe = false;
  int64_t param_begin = 0, param_end = 0;  // floats, contiguous
  // MLA (slot indices into params())
  int q_proj = -1, q_a_proj = -1, q_a_norm = -1, q_b_proj = -1;
  int kv_a_proj = -1, kv_a_norm = -1, kv_b_proj = -1, o_proj = -1;
  // dense MLP: gate_proj then up_proj are adjacent = one [2I,C] matrix
  int mlp_gate = -1, mlp_down = -1;
  // MoE
  std::vector<int> expert_gate, expert_down;  // per routed expert
  int router = -1, shared_gate = -1, shared_down = -1;
  int input_norm = -1, post_norm = -1;
  int moe_index = -1;  // position among the MoE blocks (aux partials)
  LayerActs acts;
};

// Shared (reused) regions: head, backward scratch, optimizer scratch.
struct SharedActs {
  int64_t tokens = -1, targets = -1;  // [N] i32
  int64_t x_final = -1;     // [N,C] residual after the last block
  int64_t hN = -1, rstdN = -1;  // [N,C], [N] f32
  int64_t logits = -1;      // [N,V]; the CE backward overwrites it with dlogits
  int64_t lse = -1, losses = -1;  // [N] f32
  int64_t valid = -1;       // i32 (CE's valid-row counter)
  int64_t branch_out = -1;  // [N,C] attention / FFN output before the residual add
  int64_t dres = -1;        // [N,C] residual-stream gradient
  int64_t dh = -1;          // [N,C] gradient of a norm's output
  // MLA backward scratch (bf16)
  int64_t dattn = -1;       // [N,H,Dv]
  int64_t dq = -1, dk = -1; // [N,H,Dq]
  int64_t dv = -1;          // [N,H,Dv]
  int64_t dkv = -1;         // [N,H,nope+Dv]
  int64_t dkv_a = -1;       // [N,L+R]
  int64_t dc_kv_norm = -1, dc_kv = -1;  // [N,L]
  int64_t dq_a_norm = -1, dq_a = -1;    // [N,Q]
  // FFN backward scratch (bf16), sized for the largest of dense MLP,
  // routed experts (N*K rows) and shared experts
  int64_t dact = -1;        // [rows, I]
  int64_t dgate_up = -1;    // [rows, 2I]
  int64_t dexpert_out = -1, dexpert_in = -1;  // [N*K, C]
  int64_t dsum = -1;        // [B,H,T] f32 attention row dots
  int64_t router_logits = -1;  // [N,E] f32 (forward) / dlogits (backward)
  int64_t dscores = -1;     // [N,E] f32
  int64_t dweights = -1;    // [N,K] f32
  int64_t dlogits16 = -1;   // [N,E] bf16 router logit gradient for the GEMMs
  int64_t rms_scratch = -1;     // f32, max RmsNormBackward scratch
  int64_t permute_scratch = -1; // i32
  int64_t invalid = -1;     // i32
  int64_t aux_partials = -1;    // [moe layers, groups] f64
  int64_t sumsq = -1;       // f64
  int64_t sumsq_scratch = -1;   // f64
  int64_t clip_scale = -1, clip_norm = -1;  // f32
};

class DeviceModelPlan {
 public:
  // Create(config, B, T): the plan for micro-batches of B x T tokens.
  // InvalidArgument for configs the device path does not support
  // (device-limited routing, device/comm balance losses, capacity, E > 512).
  static absl::StatusOr<DeviceModelPlan> Create(const DeepseekV2Config& config,
                                                int64_t B, int64_t T);

  const DeepseekV2Config& config() const { return config_; }
  int64_t B() const { return B_; }
  int64_t T() const { return T_; }
  int64_t N() const { return B_ * T_; }

  // Parameters.
  const std::vector<ParamSlot>& params() const { return params_; }
  const ParamSlot& param(int i) const { return params_[i]; }
  int64_t param_floats() const { return param_floats_; }  // == ParamArena::size()
  // Padded to 16 floats, as ParamArena::Allocate does (device arenas).
  int64_t padded_param_floats() const { return (param_floats_ + 15) / 16 * 16; }
  int embed() const { return embed_; }
  int final_norm() const { return final_norm_; }
  int lm_head() const { return lm_head_; }
  const std::vector<LayerSlots>& layers() const { return layers_; }
  const LayerSlots& layer(int64_t i) const { return layers_[i]; }
  int64_t num_moe_layers() const { return num_moe_; }
  int64_t aux_groups() const { return config_.seq_aux ? B_ : 1; }
  // Weight-decay segments: maximal runs [begin, end) of equal flag
  // covering [0, param_floats()), in order (one AdamW launch each).
  struct Segment {
    int64_t begin, end;
    bool decay;
  };
  const std::vector<Segment>& decay_segments() const { return segments_; }

  // Activations.
  const SharedActs& shared() const { return shared_; }
  int64_t activation_bytes() const { return act_bytes_; }  // the whole region
  int64_t saved_bytes() const { return saved_bytes_; }     // per-block part

  // Device memory totals (bytes).
  int64_t param_bytes() const { return padded_param_floats() * 4; }       // fp32 master
  int64_t grad_bytes() const { return padded_param_floats() * 4; }
  int64_t optimizer_bytes() const { return 2 * padded_param_floats() * 4; }  // m, v
  int64_t bf16_weight_bytes() const { return padded_param_floats() * 2; }
  int64_t gemm_workspace_bytes() const { return int64_t(32) << 20; }
  int64_t total_bytes() const {
    return param_bytes() + grad_bytes() + optimizer_bytes() + bf16_weight_bytes() +
           activation_bytes() + gemm_workspace_bytes();
  }

  // Training FLOPs per token at sequence length T: 3x the forward, the
  // same formula as DeepseekV2Model::TrainingFlopsPerToken (the test
  // checks they agree), so MFU numbers of both benches compare.
  double TrainingFlopsPerToken() const;

  // Summary(): one line per memory kind, for logs.
  std::string Summary() const;

 private:
  DeviceModelPlan() = default;
  // AdoptParams: the CPU model's specs as this plan's parameter slots.
  absl::Status AdoptParams(const std::vector<ParamSpec>& specs);
  int Slot(const std::string& name) const;  // -1: not registered
  absl::StatusOr<LayerSlots> LayerSlotsOf(int64_t layer) const;
  int64_t Take(int64_t bytes);

  DeepseekV2Config config_;
  int64_t B_ = 0, T_ = 0;
  std::vector<ParamSlot> params_;
  int64_t param_floats_ = 0;
  std::unordered_map<std::string, int> slot_by_name_;
  int embed_ = -1, final_norm_ = -1, lm_head_ = -1;
  std::vector<LayerSlots> layers_;
  int64_t num_moe_ = 0;
  std::vector<Segment> segments_;
  SharedActs shared_;
  int64_t act_bytes_ = 0, saved_bytes_ = 0;
};

// InitHostArena(plan, seed, arena): registers the plan's parameters in an
// empty ParamArena with the CPU model's initialisers (Normal(initializer_
// range) for matrices, ones for RMSNorm weights), allocates and initialises
// it: the values DeepseekV2Model::Create(config, {.seed}) starts from,
// without building the CPU layers (the GPU bench needs only the values).
absl::Status InitHostArena(const DeviceModelPlan& plan, uint64_t seed, ParamArena* arena);

// Region alignment of the activation arena (bytes).
inline constexpr int64_t kActAlign = 256;

}  // namespace hs::models::cuda_model

#endif  // MODELS_CUDA_MODEL_DEVICE_MODEL_PLAN_H_
