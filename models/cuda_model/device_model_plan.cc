// File: models/cuda_model/device_model_plan.cc — see device_model_plan.h.
#include "models/cuda_model/device_model_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/status.h"
#include "models/kernels/cuda/launch.h"

namespace hs::models::cuda_model {

namespace kcu = kernels::cuda;

absl::Status DeviceModelPlan::AdoptParams(const std::vector<ParamSpec>& specs) {
  for (const ParamSpec& spec : specs) {
    if (spec.offset != param_floats_) {
      return absl::InternalError(absl::StrCat("parameter ", spec.name, " at offset ", spec.offset,
                                              ", expected ", param_floats_, " (not contiguous)"));
    }
    slot_by_name_[spec.name] = int(params_.size());
    params_.push_back({spec.name, spec.shape, spec.offset, spec.numel, spec.weight_decay,
                       spec.expert});
    param_floats_ += spec.numel;
  }
  embed_ = Slot("model.embed_tokens.weight");
  final_norm_ = Slot("model.norm.weight");
  lm_head_ = Slot("lm_head.weight");
  if (embed_ < 0 || final_norm_ < 0 || lm_head_ < 0) {
    return absl::InternalError("the model registered no embedding, final norm or lm_head");
  }
  return absl::OkStatus();
}

int DeviceModelPlan::Slot(const std::string& name) const {
  auto it = slot_by_name_.find(name);
  return it == slot_by_name_.end() ? -1 : it->second;
}

absl::StatusOr<LayerSlots> DeviceModelPlan::LayerSlotsOf(int64_t i) const {
  const std::string n = absl::StrCat("model.layers.", i);
  const std::string a = n + ".self_attn", m = n + ".mlp";
  LayerSlots l;
  l.moe = config_.IsMoeLayer(i);
  l.q_a_proj = Slot(a + ".q_a_proj.weight");
  l.q_a_norm = Slot(a + ".q_a_layernorm.weight");
  l.q_b_proj = Slot(a + ".q_b_proj.weight");
  l.q_proj = Slot(a + ".q_proj.weight");
  l.kv_a_proj = Slot(a + ".kv_a_proj_with_mqa.weight");
  l.kv_a_norm = Slot(a + ".kv_a_layernorm.weight");
  l.kv_b_proj = Slot(a + ".kv_b_proj.weight");
  l.o_proj = Slot(a + ".o_proj.weight");
  if (l.moe) {
    for (int64_t e = 0; e < config_.n_routed_experts; ++e) {
      const std::string x = absl::StrCat(m, ".experts.", e);
      l.expert_gate.push_back(Slot(x + ".gate_proj.weight"));
      l.expert_down.push_back(Slot(x + ".down_proj.weight"));
    }
    l.router = Slot(m + ".gate.weight");
    l.shared_gate = Slot(m + ".shared_experts.gate_proj.weight");
    l.shared_down = Slot(m + ".shared_experts.down_proj.weight");
  } else {
    l.mlp_gate = Slot(m + ".gate_proj.weight");
    l.mlp_down = Slot(m + ".down_proj.weight");
  }
  l.input_norm = Slot(n + ".input_layernorm.weight");
  l.post_norm = Slot(n + ".post_attention_layernorm.weight");
  // The block's parameters are one contiguous range: from its first
  // registered tensor to the end of its last.
  const std::string prefix = n + ".";
  l.param_begin = -1;
  for (const ParamSlot& s : params_) {
    if (s.name.compare(0, prefix.size(), prefix) != 0) continue;
    if (l.param_begin < 0) l.param_begin = s.offset;
    l.param_end = s.offset + s.numel;
  }
  if (l.param_begin < 0 || l.kv_a_proj < 0 || l.o_proj < 0 || l.input_norm < 0 ||
      l.post_norm < 0 || (l.moe ? l.router < 0 : l.mlp_gate < 0)) {
    return absl::InternalError(absl::StrCat("layer ", i, ": parameters missing from the model"));
  }
  return l;
}

int64_t DeviceModelPlan::Take(int64_t bytes) {
  const int64_t off = act_bytes_;
  act_bytes_ += (std::max<int64_t>(bytes, 1) + kActAlign - 1) / kActAlign * kActAlign;
  return off;
}

absl::StatusOr<DeviceModelPlan> DeviceModelPlan::Create(const DeepseekV2Config& c,
                                                        int64_t B, int64_t T) {
  if (B < 1 || T < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch ", B, " x ", T, " must be positive"));
  }
  if (c.device_limit > 0 || c.device_balance_alpha > 0 || c.comm_balance_alpha > 0 ||
      c.capacity_factor > 0) {
    return absl::InvalidArgumentError(
        "train.device CUDA has no expert-parallel routing: parallel.ep_device_limit, "
        "parallel.device_balance_alpha, parallel.comm_balance_alpha and "
        "parallel.capacity_factor must be 0");
  }
  if (c.n_routed_experts > kcu::kMoeMaxExperts) {
    return absl::InvalidArgumentError(absl::StrCat("model.n_routed_experts: ", c.n_routed_experts,
                                                   " exceeds the CUDA router kernels' limit ",
                                                   kcu::kMoeMaxExperts));
  }
  if (c.qk_rope_head_dim % 2 != 0) {
    return absl::InvalidArgumentError("model.qk_rope_head_dim: must be even on train.device CUDA");
  }
  if (c.q_head_dim() > kcu::kAttnMaxHeadDim || c.v_head_dim > kcu::kAttnMaxHeadDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.qk_nope_head_dim + qk_rope_head_dim, model.v_head_dim (",
                     c.q_head_dim(), ", ", c.v_head_dim, ") exceed the CUDA attention limit ",
                     kcu::kAttnMaxHeadDim));
  }
  DeviceModelPlan p;
  p.config_ = c;
  p.B_ = B;
  p.T_ = T;
  const int64_t C = c.hidden_size, V = c.vocab_size, H = c.num_attention_heads;
  const int64_t nope = c.qk_nope_head_dim, R = c.qk_rope_head_dim, Dv = c.v_head_dim;
  const int64_t Dq = nope + R, L = c.kv_lora_rank, Q = c.q_lora_rank;
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
  const int64_t Im = c.moe_intermediate_size, Is = c.n_shared_experts * Im;
  const int64_t Id = c.intermediate_size;
  const int64_t N = B * T, NK = N * std::max<int64_t>(K, 1);

  // ---- parameters: the CPU arena's layout itself (DeepseekV2Model::
  // ParameterSpecs, nothing allocated), so a CPU arena's params/grads copy
  // to the device with one memcpy and the two layouts cannot drift. The
  // device code finds its tensors by HF name.
  HS_ASSIGN_OR_RETURN(std::vector<ParamSpec> specs, DeepseekV2Model::ParameterSpecs(c, {}));
  HS_RETURN_IF_ERROR(p.AdoptParams(specs));
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    HS_ASSIGN_OR_RETURN(LayerSlots l, p.LayerSlotsOf(i));
    if (l.moe) l.moe_index = int(p.num_moe_++);
    p.layers_.push_back(std::move(l));
  }
  for (const ParamSlot& s : p.params_) {
    if (!p.segments_.empty() && p.segments_.back().decay == s.weight_decay) {
      p.segments_.back().end = s.offset + s.numel;
    } else {
      p.segments_.push_back({s.offset, s.offset + s.numel, s.weight_decay});
    }
  }

  // ---- activations: per-block saved tensors first
  constexpr int64_t b2 = 2, f4 = 4, i4 = 4;
  for (LayerSlots& l : p.layers_) {
    LayerActs& x = l.acts;
    x.x = p.Take(N * C * b2);
    x.h1 = p.Take(N * C * b2);
    x.rstd1 = p.Take(N * f4);
    x.x2 = p.Take(N * C * b2);
    x.h2 = p.Take(N * C * b2);
    x.rstd2 = p.Take(N * f4);
    if (Q > 0) {
      x.q_a = p.Take(N * Q * b2);
      x.q_a_rstd = p.Take(N * f4);
      x.q_a_norm = p.Take(N * Q * b2);
    }
    x.q = p.Take(N * H * Dq * b2);
    x.kv_a = p.Take(N * (L + R) * b2);
    x.c_kv = p.Take(N * L * b2);
    x.c_kv_rstd = p.Take(N * f4);
    x.c_kv_norm = p.Take(N * L * b2);
    x.kv = p.Take(N * H * (nope + Dv) * b2);
    x.k = p.Take(N * H * Dq * b2);
    x.v = p.Take(N * H * Dv * b2);
    x.attn = p.Take(N * H * Dv * b2);
    x.lse = p.Take(N * H * f4);
    if (l.moe) {
      x.probs = p.Take(N * E * f4);
      x.idx = p.Take(N * K * i4);
      x.topk = p.Take(N * K * f4);
      x.weights = p.Take(N * K * f4);
      x.aux_f = p.Take(p.aux_groups() * E * f4);
      x.offsets = p.Take((E + 1) * 8);
      x.slot_row = p.Take(NK * i4);
      x.expert_in = p.Take(NK * C * b2);
      x.e_gate_up = p.Take(NK * 2 * Im * b2);
      x.e_act = p.Take(NK * Im * b2);
      x.expert_out = p.Take(NK * C * b2);
      if (Is > 0) {
        x.s_gate_up = p.Take(N * 2 * Is * b2);
        x.s_act = p.Take(N * Is * b2);
      }
    } else {
      x.gate_up = p.Take(N * 2 * Id * b2);
      x.act = p.Take(N * Id * b2);
    }
  }
  p.saved_bytes_ = p.act_bytes_;

  // ---- head and scratch shared by every block
  SharedActs& s = p.shared_;
  s.tokens = p.Take(N * i4);
  s.targets = p.Take(N * i4);
  s.x_final = p.Take(N * C * b2);
  s.hN = p.Take(N * C * b2);
  s.rstdN = p.Take(N * f4);
  s.logits = p.Take(N * V * b2);
  s.lse = p.Take(N * f4);
  s.losses = p.Take(N * f4);
  s.valid = p.Take(i4);
  s.branch_out = p.Take(N * C * b2);
  s.dres = p.Take(N * C * b2);
  s.dh = p.Take(N * C * b2);
  s.dattn = p.Take(N * H * Dv * b2);
  s.dq = p.Take(N * H * Dq * b2);
  s.dk = p.Take(N * H * Dq * b2);
  s.dv = p.Take(N * H * Dv * b2);
  s.dkv = p.Take(N * H * (nope + Dv) * b2);
  s.dkv_a = p.Take(N * (L + R) * b2);
  s.dc_kv_norm = p.Take(N * L * b2);
  s.dc_kv = p.Take(N * L * b2);
  if (Q > 0) {
    s.dq_a_norm = p.Take(N * Q * b2);
    s.dq_a = p.Take(N * Q * b2);
  }
  int64_t ffn_rows_i = 0;  // max rows x I over the FFN kinds
  bool any_dense = false, any_moe = false;
  for (const LayerSlots& l : p.layers_) (l.moe ? any_moe : any_dense) = true;
  if (any_dense) ffn_rows_i = std::max(ffn_rows_i, N * Id);
  if (any_moe) ffn_rows_i = std::max({ffn_rows_i, NK * Im, N * Is});
  s.dact = p.Take(ffn_rows_i * b2);
  s.dgate_up = p.Take(2 * ffn_rows_i * b2);
  if (any_moe) {
    s.dexpert_out = p.Take(NK * C * b2);
    s.dexpert_in = p.Take(NK * C * b2);
    s.router_logits = p.Take(N * E * f4);
    s.dscores = p.Take(N * E * f4);
    s.dweights = p.Take(N * K * f4);
    s.dlogits16 = p.Take(N * E * b2);
    s.permute_scratch = p.Take(kcu::MoePermuteCountShape(NK, E).scratch_elems * i4);
    s.aux_partials = p.Take(p.num_moe_ * p.aux_groups() * 8);
  }
  s.dsum = p.Take(N * H * f4);
  int64_t rms = 0;
  for (int64_t width : {C, L, Q}) {
    if (width > 0) rms = std::max(rms, kcu::RmsNormBackwardShape(N, width).scratch_elems);
  }
  s.rms_scratch = p.Take(rms * f4);
  s.invalid = p.Take(i4);
  s.sumsq = p.Take(8);
  s.sumsq_scratch = p.Take(kcu::SumSquaresShape(p.param_floats_).scratch_elems * 8);
  s.clip_scale = p.Take(f4);
  s.clip_norm = p.Take(f4);
  return p;
}

double DeviceModelPlan::TrainingFlopsPerToken() const {
  const DeepseekV2Config& c = config_;
  const double C = c.hidden_size, H = c.num_attention_heads;
  const double nope = c.qk_nope_head_dim, R = c.qk_rope_head_dim, Dv = c.v_head_dim;
  const double Dq = nope + R, L = c.kv_lora_rank, Q = c.q_lora_rank;
  double flops = 2.0 * C * double(c.vocab_size);
  for (const LayerSlots& l : layers_) {
    double gemm = Q > 0 ? C * Q + Q * H * Dq : C * H * Dq;
    gemm += C * (L + R) + L * H * (nope + Dv) + H * Dv * C;
    const double attn = H * (Dq + Dv) * (double(T_) + 1) / 2;
    flops += 2.0 * (gemm + attn);
    if (l.moe) {
      const double Im = c.moe_intermediate_size;
      const double shared = c.n_shared_experts > 0 ? 3.0 * C * (c.n_shared_experts * Im) : 0.0;
      flops += 2.0 * (C * double(c.n_routed_experts) +
                      double(c.num_experts_per_tok) * 3.0 * C * Im + shared);
    } else {
      flops += 2.0 * 3.0 * C * double(c.intermediate_size);
    }
  }
  return 3.0 * flops;
}

std::string DeviceModelPlan::Summary() const {
  auto mib = [](int64_t b) { return double(b) / (1 << 20); };
  return absl::StrFormat(
      "device plan: %d params (%.1f MiB fp32 master + %.1f grads + %.1f AdamW m,v + %.1f bf16 "
      "weights); activations %.1f MiB for %d x %d tokens (%.1f saved by the blocks); GEMM "
      "workspace %.1f MiB; total %.1f MiB",
      param_floats_, mib(param_bytes()), mib(grad_bytes()), mib(optimizer_bytes()),
      mib(bf16_weight_bytes()), mib(act_bytes_), B_, T_, mib(saved_bytes_),
      mib(gemm_workspace_bytes()), mib(total_bytes()));
}

absl::Status InitHostArena(const DeviceModelPlan& plan, uint64_t seed, ParamArena* arena) {
  if (arena->size() != 0) return absl::FailedPreconditionError("InitHostArena: arena not empty");
  const float std = float(plan.config().initializer_range);
  for (const ParamSlot& s : plan.params()) {
    arena->Add(s.name, s.shape,
               s.weight_decay ? ParamInit::Normal(std) : ParamInit::Ones(), s.weight_decay,
               s.expert);
  }
  if (absl::Status st = arena->Allocate(); !st.ok()) return st;
  arena->Initialize(seed);
  return absl::OkStatus();
}

}  // namespace hs::models::cuda_model
