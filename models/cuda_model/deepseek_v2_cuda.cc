// File: models/cuda_model/deepseek_v2_cuda.cc — see deepseek_v2_cuda.h.
//
// Residual stream and the fused RMSNorm: every block's input x_l is the
// residual_out of the norm that starts it, so the residual add of the
// previous branch happens inside that norm:
//   h1_l, x_l  = norm1_l(x2_{l-1} + ffn_out_{l-1})   (block 0: norm1(emb))
//   x2_l, h2_l = norm2_l(x_l + attn_out_l)
//   x_final    = model.norm(x2_{L-1} + ffn_out_{L-1})
// The backward keeps one bf16 residual gradient `dres`: each branch reads
// it as its output gradient, then the branch's norm backward adds the
// normalised-input gradient into it (RmsNormBackward's dinp +=).
#include "models/cuda_model/deepseek_v2_cuda.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "haiscale/cuda/device.h"
#include "haiscale/cuda/error.h"
#include "haiscale/status.h"
#include "models/cuda_model/model_ops.h"
#include "models/kernels/cuda/adamw.h"
#include "models/kernels/cuda/attention.h"
#include "models/kernels/cuda/cross_entropy.h"
#include "models/kernels/cuda/embedding.h"
#include "models/kernels/cuda/moe.h"
#include "models/kernels/cuda/rms_norm.h"
#include "models/kernels/cuda/rope.h"
#include "models/kernels/cuda/swiglu.h"
#include "models/layers/mla.h"

namespace hs::models::cuda_model {

namespace kcu = kernels::cuda;
using bf = uint16_t;

DeviceBuffer::~DeviceBuffer() {
  if (ptr_ != nullptr) cudaFree(ptr_);
}

absl::Status DeviceBuffer::Allocate(int64_t bytes, const char* what) {
  if (ptr_ != nullptr) return absl::FailedPreconditionError("DeviceBuffer allocated twice");
  absl::Status s = HS_CUDA_STATUS(cudaMalloc(&ptr_, size_t(std::max<int64_t>(bytes, 256))));
  if (!s.ok()) {
    ptr_ = nullptr;
    return Annotate(s, "allocating ", what, " (", bytes, " bytes)");
  }
  bytes_ = bytes;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DeviceModel>> DeviceModel::Create(const DeepseekV2Config& config,
                                                                 int64_t B, int64_t T,
                                                                 int device) {
  HS_RETURN_IF_ERROR(CheckModelConfig(config));
  HS_ASSIGN_OR_RETURN(DeviceModelPlan plan, DeviceModelPlan::Create(config, B, T));
  if (T > config.max_position_embeddings) {
    return absl::InvalidArgumentError(absl::StrCat("sequence length ", T,
                                                   " exceeds max_position_embeddings (",
                                                   config.max_position_embeddings, ")"));
  }
  HS_ASSIGN_OR_RETURN(hs::cuda::DeviceInfo info, hs::cuda::SelectDevice(device));
  (void)info;
  std::unique_ptr<DeviceModel> m(new DeviceModel(std::move(plan)));
  m->device_ = device;
  HS_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&m->stream_, cudaStreamNonBlocking));
  HS_ASSIGN_OR_RETURN(m->gemm_, kcu::GemmContext::Create());
  const DeviceModelPlan& p = m->plan_;
  const int64_t P = p.padded_param_floats();
  HS_RETURN_IF_ERROR(m->params_.Allocate(P * 4, "fp32 master params"));
  HS_RETURN_IF_ERROR(m->grads_.Allocate(P * 4, "fp32 grads"));
  HS_RETURN_IF_ERROR(m->m_.Allocate(P * 4, "AdamW m"));
  HS_RETURN_IF_ERROR(m->v_.Allocate(P * 4, "AdamW v"));
  HS_RETURN_IF_ERROR(m->w16_.Allocate(P * 2, "bf16 weights"));
  HS_RETURN_IF_ERROR(m->acts_.Allocate(p.activation_bytes(), "activations"));
  // Zero everything once: padding is then never uninitialised.
  for (DeviceBuffer* b : {&m->params_, &m->grads_, &m->m_, &m->v_, &m->w16_, &m->acts_}) {
    HS_RETURN_IF_ERROR(m->Zero(b->as<void>(), b->bytes()));
  }
  // RoPE tables: the CPU model's (RopeCache), rows 0..T-1.
  RopeCache rope = RopeCache::Build(config, T);
  const int64_t half = config.qk_rope_head_dim / 2;
  HS_RETURN_IF_ERROR(m->rope_cos_.Allocate(T * half * 4, "rope cos"));
  HS_RETURN_IF_ERROR(m->rope_sin_.Allocate(T * half * 4, "rope sin"));
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpy(m->rope_cos_.as<float>(), rope.cos.data<float>(),
                                     T * half * 4, cudaMemcpyHostToDevice));
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpy(m->rope_sin_.as<float>(), rope.sin.data<float>(),
                                     T * half * 4, cudaMemcpyHostToDevice));
  m->softmax_scale_ = MlaSoftmaxScale(config);
  m->host_offsets_.resize(p.layers().size());
  HS_RETURN_IF_ERROR(m->Synchronize());
  return m;
}

DeviceModel::~DeviceModel() {
  if (stream_ != nullptr) {
    cudaStreamSynchronize(stream_);
    cudaStreamDestroy(stream_);
  }
}

uint16_t* DeviceModel::W(int slot) const { return w16_.as<bf>() + plan_.param(slot).offset; }
float* DeviceModel::G(int slot) const { return grads_.as<float>() + plan_.param(slot).offset; }

absl::Status DeviceModel::Zero(void* p, int64_t bytes) {
  if (p == nullptr || bytes <= 0) return absl::OkStatus();
  HS_CUDA_RETURN_IF_ERROR(cudaMemsetAsync(p, 0, size_t(bytes), stream_));
  return absl::OkStatus();
}

absl::Status DeviceModel::Synchronize() {
  HS_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return absl::OkStatus();
}

absl::Status DeviceModel::CopyParamsFromHost(const float* params) {
  const int64_t n = plan_.param_floats();
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(params_.as<float>(), params, n * 4,
                                          cudaMemcpyHostToDevice, stream_));
  HS_CUDA_RETURN_IF_ERROR(
      CastF32ToBf16(w16_.as<bf>(), params_.as<float>(), plan_.padded_param_floats(), stream_));
  HS_RETURN_IF_ERROR(Zero(m_.as<void>(), m_.bytes()));
  HS_RETURN_IF_ERROR(Zero(v_.as<void>(), v_.bytes()));
  return Synchronize();
}

absl::Status DeviceModel::CopyParamsToHost(float* params) {
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(params, params_.as<float>(), plan_.param_floats() * 4,
                                          cudaMemcpyDeviceToHost, stream_));
  return Synchronize();
}

absl::Status DeviceModel::CopyGradsToHost(float* grads) {
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(grads, grads_.as<float>(), plan_.param_floats() * 4,
                                          cudaMemcpyDeviceToHost, stream_));
  return Synchronize();
}

absl::Status DeviceModel::CopyOptimizerStateFromHost(const float* exp_avg,
                                                     const float* exp_avg_sq) {
  const int64_t n = plan_.param_floats();
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(m_.as<float>(), exp_avg, n * 4, cudaMemcpyHostToDevice,
                                          stream_));
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(v_.as<float>(), exp_avg_sq, n * 4,
                                          cudaMemcpyHostToDevice, stream_));
  return Synchronize();
}

absl::Status DeviceModel::CopyOptimizerStateToHost(float* exp_avg, float* exp_avg_sq) {
  const int64_t n = plan_.param_floats();
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(exp_avg, m_.as<float>(), n * 4, cudaMemcpyDeviceToHost,
                                          stream_));
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(exp_avg_sq, v_.as<float>(), n * 4,
                                          cudaMemcpyDeviceToHost, stream_));
  return Synchronize();
}

absl::Status DeviceModel::ZeroGrads() { return Zero(grads_.as<void>(), grads_.bytes()); }

absl::Status DeviceModel::NormForward(bf* res_out, bf* out, float* rstd, const bf* res,
                                      const bf* inp, int slot, int64_t C, float eps) {
  HS_CUDA_RETURN_IF_ERROR(kcu::RmsNormForward(res_out, out, rstd, res, inp, W(slot), plan_.N(), C,
                                              eps, stream_));
  return absl::OkStatus();
}

absl::Status DeviceModel::NormBackward(bf* dinp, const bf* dout, const bf* inp, const float* rstd,
                                       int slot, int64_t C) {
  HS_CUDA_RETURN_IF_ERROR(kcu::RmsNormBackward(dinp, G(slot),
                                               A<float>(plan_.shared().rms_scratch), dout, inp,
                                               W(slot), rstd, plan_.N(), C, stream_));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- forward

absl::StatusOr<ForwardResult> DeviceModel::Forward(const int32_t* tokens,
                                                   const int32_t* targets) {
  const DeepseekV2Config& c = plan_.config();
  const SharedActs& s = plan_.shared();
  const int64_t N = plan_.N(), C = c.hidden_size, V = c.vocab_size;
  const float eps = float(c.rms_norm_eps);
  HS_RETURN_IF_ERROR(CheckTokenIds(tokens, N, V, "input token"));
  for (int64_t i = 0; i < N; ++i) {
    if (targets[i] >= V) {
      return absl::InvalidArgumentError(absl::StrCat("target token[", i, "] = ", targets[i],
                                                     " is outside the vocabulary [0, ", V, ")"));
    }
  }
  host_tokens_.assign(tokens, tokens + N);
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(A<int32_t>(s.tokens), tokens, N * 4,
                                          cudaMemcpyHostToDevice, stream_));
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(A<int32_t>(s.targets), targets, N * 4,
                                          cudaMemcpyHostToDevice, stream_));
  if (s.aux_partials >= 0) {
    HS_RETURN_IF_ERROR(
        Zero(A<void>(s.aux_partials), plan_.num_moe_layers() * plan_.aux_groups() * 8));
  }
  const auto& layers = plan_.layers();
  HS_CUDA_RETURN_IF_ERROR(kcu::EmbeddingForward(A<bf>(layers[0].acts.x), A<int32_t>(s.tokens),
                                                W(plan_.embed()), N, C, V, stream_));
  bf* branch = A<bf>(s.branch_out);
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerSlots& l = layers[i];
    const LayerActs& a = l.acts;
    if (i == 0) {
      HS_RETURN_IF_ERROR(NormForward(nullptr, A<bf>(a.h1), A<float>(a.rstd1), nullptr,
                                     A<bf>(a.x), l.input_norm, C, eps));
    } else {
      HS_RETURN_IF_ERROR(NormForward(A<bf>(a.x), A<bf>(a.h1), A<float>(a.rstd1),
                                     A<bf>(layers[i - 1].acts.x2), branch, l.input_norm, C, eps));
    }
    HS_RETURN_IF_ERROR(Annotate(MlaForward(l, branch), "layer ", i, " attention"));
    HS_RETURN_IF_ERROR(NormForward(A<bf>(a.x2), A<bf>(a.h2), A<float>(a.rstd2), A<bf>(a.x),
                                   branch, l.post_norm, C, eps));
    if (l.moe) {
      HS_RETURN_IF_ERROR(Annotate(MoeForward(l, branch), "layer ", i, " moe"));
    } else {
      HS_RETURN_IF_ERROR(Annotate(MlpForward(l, branch), "layer ", i, " mlp"));
    }
  }
  HS_RETURN_IF_ERROR(NormForward(A<bf>(s.x_final), A<bf>(s.hN), A<float>(s.rstdN),
                                 A<bf>(layers.back().acts.x2), branch, plan_.final_norm(), C,
                                 eps));
  HS_RETURN_IF_ERROR(kcu::LinearForward(*gemm_, A<bf>(s.logits), A<bf>(s.hN), W(plan_.lm_head()),
                                        N, C, V, stream_));
  HS_CUDA_RETURN_IF_ERROR(kcu::CrossEntropyForward(A<float>(s.losses), A<float>(s.lse),
                                                   A<bf>(s.logits), A<int32_t>(s.targets),
                                                   nullptr, N, V, stream_));
  std::vector<float> losses(N);
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(losses.data(), A<float>(s.losses), N * 4,
                                          cudaMemcpyDeviceToHost, stream_));
  std::vector<double> partials(plan_.num_moe_layers() * plan_.aux_groups());
  if (!partials.empty()) {
    HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(partials.data(), A<double>(s.aux_partials),
                                            partials.size() * 8, cudaMemcpyDeviceToHost,
                                            stream_));
  }
  HS_RETURN_IF_ERROR(Synchronize());
  ForwardResult r;
  for (int64_t i = 0; i < N; ++i) {
    r.valid_tokens += targets[i] >= 0;
    r.ce_sum += losses[i];
  }
  if (c.aux_loss_alpha > 0) {
    const int64_t G = plan_.aux_groups();
    for (int64_t m = 0; m < plan_.num_moe_layers(); ++m) {
      double total = 0;
      for (int64_t g = 0; g < G; ++g) total += partials[m * G + g];
      r.aux_loss += c.aux_loss_alpha * total / double(G);
    }
  }
  have_forward_ = true;
  return r;
}

absl::Status DeviceModel::MlaForward(const LayerSlots& l, bf* out) {
  const DeepseekV2Config& c = plan_.config();
  const LayerActs& a = l.acts;
  const int64_t B = plan_.B(), T = plan_.T(), N = plan_.N(), C = c.hidden_size;
  const int64_t H = c.num_attention_heads, nope = c.qk_nope_head_dim, R = c.qk_rope_head_dim;
  const int64_t Dv = c.v_head_dim, Dq = nope + R, L = c.kv_lora_rank, Q = c.q_lora_rank;
  const float* cos = rope_cos_.as<float>();
  const float* sin = rope_sin_.as<float>();
  const bf* h1 = A<bf>(a.h1);
  bf* q = A<bf>(a.q);
  if (Q > 0) {
    HS_RETURN_IF_ERROR(kcu::LinearForward(*gemm_, A<bf>(a.q_a), h1, W(l.q_a_proj), N, C, Q,
                                          stream_));
    HS_RETURN_IF_ERROR(NormForward(nullptr, A<bf>(a.q_a_norm), A<float>(a.q_a_rstd), nullptr,
                                   A<bf>(a.q_a), l.q_a_norm, Q, kLatentNormEps));
    HS_RETURN_IF_ERROR(kcu::LinearForward(*gemm_, q, A<bf>(a.q_a_norm), W(l.q_b_proj), N, Q,
                                          H * Dq, stream_));
  } else {
    HS_RETURN_IF_ERROR(kcu::LinearForward(*gemm_, q, h1, W(l.q_proj), N, C, H * Dq, stream_));
  }
  HS_CUDA_RETURN_IF_ERROR(kcu::RopeForward(q + nope, H * Dq, Dq, q + nope, H * Dq, Dq, cos, sin,
                                           B, T, H, R, 0, stream_));
  bf* kv_a = A<bf>(a.kv_a);
  HS_RETURN_IF_ERROR(kcu::LinearForward(*gemm_, kv_a, h1, W(l.kv_a_proj), N, C, L + R, stream_));
  HS_CUDA_RETURN_IF_ERROR(kcu::RopeForward(kv_a + L, L + R, 0, kv_a + L, L + R, 0, cos, sin, B, T,
                                           1, R, 0, stream_));
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(A<bf>(a.c_kv), L * 2, kv_a, (L + R) * 2, L * 2, N,
                                            cudaMemcpyDeviceToDevice, stream_));
  HS_RETURN_IF_ERROR(NormForward(nullptr, A<bf>(a.c_kv_norm), A<float>(a.c_kv_rstd), nullptr,
                                 A<bf>(a.c_kv), l.kv_a_norm, L, kLatentNormEps));
  HS_RETURN_IF_ERROR(kcu::LinearForward(*gemm_, A<bf>(a.kv), A<bf>(a.c_kv_norm), W(l.kv_b_proj),
                                        N, L, H * (nope + Dv), stream_));
  HS_CUDA_RETURN_IF_ERROR(
      MlaBuildKv(A<bf>(a.k), A<bf>(a.v), A<bf>(a.kv), kv_a, N, H, nope, R, Dv, L, stream_));
  HS_CUDA_RETURN_IF_ERROR(kcu::AttentionForward(A<bf>(a.attn), A<float>(a.lse), q, A<bf>(a.k),
                                                A<bf>(a.v), B, T, H, Dq, Dv, softmax_scale_,
                                                stream_));
  return kcu::LinearForward(*gemm_, out, A<bf>(a.attn), W(l.o_proj), N, H * Dv, C, stream_);
}

absl::Status DeviceModel::FfnForward(int gate, int down, int64_t I, const bf* in, int64_t rows,
                                     bf* gate_up, bf* act, bf* out, bool accumulate) {
  if (rows == 0) return absl::OkStatus();
  const int64_t C = plan_.config().hidden_size;
  HS_RETURN_IF_ERROR(kcu::LinearForward(*gemm_, gate_up, in, W(gate), rows, C, 2 * I, stream_));
  HS_CUDA_RETURN_IF_ERROR(kcu::SwiGluForward(act, gate_up, rows, I, stream_));
  if (!accumulate) return kcu::LinearForward(*gemm_, out, act, W(down), rows, I, C, stream_);
  kcu::MatmulArgs m;  // out += act @ W_down^T (LinearForward with beta 1)
  m.trans_b = true;
  m.M = rows, m.N = C, m.K = I;
  m.A = act, m.lda = I;
  m.B = W(down), m.ldb = I;
  m.C = out, m.ldc = C;
  m.beta = 1.0f;
  return gemm_->Matmul(m, stream_);
}

absl::Status DeviceModel::MlpForward(const LayerSlots& l, bf* out) {
  const LayerActs& a = l.acts;
  return FfnForward(l.mlp_gate, l.mlp_down, plan_.config().intermediate_size, A<bf>(a.h2),
                    plan_.N(), A<bf>(a.gate_up), A<bf>(a.act), out, false);
}

absl::Status DeviceModel::MoeForward(const LayerSlots& l, bf* out) {
  const DeepseekV2Config& c = plan_.config();
  const LayerActs& a = l.acts;
  const SharedActs& s = plan_.shared();
  const int64_t N = plan_.N(), C = c.hidden_size, E = c.n_routed_experts;
  const int64_t K = c.num_experts_per_tok, Im = c.moe_intermediate_size;
  const bf* h2 = A<bf>(a.h2);
  // Router logits in fp32: softmax and top-k see no bf16 rounding of them.
  kcu::MatmulArgs m;
  m.trans_b = true;
  m.M = N, m.N = E, m.K = C;
  m.A = h2, m.lda = C;
  m.B = W(l.router), m.ldb = C;
  m.C = A<float>(s.router_logits), m.ldc = E;
  m.c_type = kcu::GemmOut::kF32;
  HS_RETURN_IF_ERROR(gemm_->Matmul(m, stream_));
  float* probs = A<float>(a.probs);
  HS_CUDA_RETURN_IF_ERROR(kcu::MoeRouterSoftmax(probs, A<float>(s.router_logits), N, E, stream_));
  const bool group_limited = c.topk_method == "group_limited_greedy";
  HS_CUDA_RETURN_IF_ERROR(kcu::MoeTopK(A<int32_t>(a.idx), A<float>(a.topk), probs, N, E, K,
                                       group_limited, c.n_group, c.topk_group, stream_));
  HS_CUDA_RETURN_IF_ERROR(MoeGateWeights(A<float>(a.weights), A<float>(a.topk), N, K,
                                         c.norm_topk_prob, c.routed_scaling_factor, stream_));
  if (c.aux_loss_alpha > 0) {
    const int64_t G = plan_.aux_groups();
    HS_CUDA_RETURN_IF_ERROR(MoeAuxLoss(A<float>(a.aux_f),
                                       A<double>(s.aux_partials) + l.moe_index * G,
                                       A<int32_t>(a.idx), probs, G, N / G, E, K, stream_));
  }
  HS_RETURN_IF_ERROR(Zero(A<void>(s.invalid), 4));
  HS_CUDA_RETURN_IF_ERROR(kcu::MoePermute(A<bf>(a.expert_in), A<int64_t>(a.offsets),
                                          A<int32_t>(a.slot_row), A<int32_t>(s.permute_scratch),
                                          A<int>(s.invalid), h2, A<int32_t>(a.idx), N, K, C, E,
                                          stream_));
  // The grouped GEMMs loop over experts on the host: fetch the offsets.
  const int layer = int(&l - plan_.layers().data());
  std::vector<int64_t>& off = host_offsets_[layer];
  off.assign(E + 1, 0);
  int invalid = 0;
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(off.data(), A<int64_t>(a.offsets), (E + 1) * 8,
                                          cudaMemcpyDeviceToHost, stream_));
  HS_CUDA_RETURN_IF_ERROR(
      cudaMemcpyAsync(&invalid, A<int>(s.invalid), 4, cudaMemcpyDeviceToHost, stream_));
  HS_RETURN_IF_ERROR(Synchronize());
  if (invalid != 0) {
    return absl::InternalError(absl::StrCat(invalid, " routed slots have an expert id outside [0, ",
                                            E, ") (NaN router scores?)"));
  }
  const int64_t rows = off[E];
  std::vector<const bf*> wg(E), wd(E);
  for (int64_t e = 0; e < E; ++e) {
    wg[e] = W(l.expert_gate[e]);
    wd[e] = W(l.expert_down[e]);
  }
  HS_RETURN_IF_ERROR(kcu::GroupedLinearForward(*gemm_, A<bf>(a.e_gate_up), A<bf>(a.expert_in),
                                               wg.data(), off.data(), E, C, 2 * Im, stream_));
  if (rows > 0) {
    HS_CUDA_RETURN_IF_ERROR(kcu::SwiGluForward(A<bf>(a.e_act), A<bf>(a.e_gate_up), rows, Im,
                                               stream_));
  }
  HS_RETURN_IF_ERROR(kcu::GroupedLinearForward(*gemm_, A<bf>(a.expert_out), A<bf>(a.e_act),
                                               wd.data(), off.data(), E, Im, C, stream_));
  HS_CUDA_RETURN_IF_ERROR(kcu::MoeCombine(out, A<bf>(a.expert_out), A<float>(a.weights),
                                          A<int32_t>(a.slot_row), N, K, C, stream_));
  if (l.shared_gate >= 0) {
    HS_RETURN_IF_ERROR(FfnForward(l.shared_gate, l.shared_down, c.n_shared_experts * Im, h2, N,
                                  A<bf>(a.s_gate_up), A<bf>(a.s_act), out, true));
  }
  return absl::OkStatus();
}

// --------------------------------------------------------------- backward

absl::Status DeviceModel::Backward(float ce_scale, float aux_scale) {
  if (!have_forward_) return absl::FailedPreconditionError("Backward without a Forward");
  have_forward_ = false;
  const DeepseekV2Config& c = plan_.config();
  const SharedActs& s = plan_.shared();
  const int64_t N = plan_.N(), C = c.hidden_size, V = c.vocab_size;
  bf* logits = A<bf>(s.logits);
  HS_CUDA_RETURN_IF_ERROR(kcu::CrossEntropyBackward(logits, logits, A<float>(s.lse),
                                                    A<int32_t>(s.targets), N, V, ce_scale,
                                                    stream_));
  bf* dh = A<bf>(s.dh);
  bf* dres = A<bf>(s.dres);
  HS_RETURN_IF_ERROR(Zero(dh, N * C * 2));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardInput(*gemm_, dh, logits, W(plan_.lm_head()), N, C, V,
                                              stream_));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardWeight(*gemm_, G(plan_.lm_head()), logits, A<bf>(s.hN), N,
                                               C, V, stream_));
  HS_RETURN_IF_ERROR(Zero(dres, N * C * 2));
  HS_RETURN_IF_ERROR(
      NormBackward(dres, dh, A<bf>(s.x_final), A<float>(s.rstdN), plan_.final_norm(), C));
  const auto& layers = plan_.layers();
  for (int64_t i = int64_t(layers.size()) - 1; i >= 0; --i) {
    const LayerSlots& l = layers[i];
    const LayerActs& a = l.acts;
    HS_RETURN_IF_ERROR(Zero(dh, N * C * 2));
    if (l.moe) {
      HS_RETURN_IF_ERROR(Annotate(MoeBackward(l, dres, dh, aux_scale), "layer ", i, " moe bwd"));
    } else {
      HS_RETURN_IF_ERROR(Annotate(MlpBackward(l, dres, dh), "layer ", i, " mlp bwd"));
    }
    HS_RETURN_IF_ERROR(NormBackward(dres, dh, A<bf>(a.x2), A<float>(a.rstd2), l.post_norm, C));
    HS_RETURN_IF_ERROR(Zero(dh, N * C * 2));
    HS_RETURN_IF_ERROR(Annotate(MlaBackward(l, dres, dh), "layer ", i, " attention bwd"));
    HS_RETURN_IF_ERROR(NormBackward(dres, dh, A<bf>(a.x), A<float>(a.rstd1), l.input_norm, C));
  }
  HS_CUDA_RETURN_IF_ERROR(kcu::EmbeddingBackward(G(plan_.embed()), A<int32_t>(s.tokens), dres, N,
                                                 C, V, stream_));
  return absl::OkStatus();
}

absl::Status DeviceModel::MlaBackward(const LayerSlots& l, const bf* dout, bf* dh1) {
  const DeepseekV2Config& c = plan_.config();
  const LayerActs& a = l.acts;
  const SharedActs& s = plan_.shared();
  const int64_t B = plan_.B(), T = plan_.T(), N = plan_.N(), C = c.hidden_size;
  const int64_t H = c.num_attention_heads, nope = c.qk_nope_head_dim, R = c.qk_rope_head_dim;
  const int64_t Dv = c.v_head_dim, Dq = nope + R, L = c.kv_lora_rank, Q = c.q_lora_rank;
  const float* cos = rope_cos_.as<float>();
  const float* sin = rope_sin_.as<float>();
  const bf* h1 = A<bf>(a.h1);
  // o_proj
  bf* dattn = A<bf>(s.dattn);
  HS_RETURN_IF_ERROR(Zero(dattn, N * H * Dv * 2));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardInput(*gemm_, dattn, dout, W(l.o_proj), N, H * Dv, C,
                                              stream_));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardWeight(*gemm_, G(l.o_proj), dout, A<bf>(a.attn), N,
                                               H * Dv, C, stream_));
  // attention
  bf* dq = A<bf>(s.dq);
  HS_CUDA_RETURN_IF_ERROR(kcu::AttentionBackward(
      dq, A<bf>(s.dk), A<bf>(s.dv), A<float>(s.dsum), dattn, A<bf>(a.q), A<bf>(a.k), A<bf>(a.v),
      A<bf>(a.attn), A<float>(a.lse), B, T, H, Dq, Dv, softmax_scale_, stream_));
  // dk/dv -> kv_b output and the shared k_pe (summed over heads)
  bf* dkv = A<bf>(s.dkv);
  bf* dkv_a = A<bf>(s.dkv_a);
  HS_CUDA_RETURN_IF_ERROR(
      MlaKvGrad(dkv, dkv_a, A<bf>(s.dk), A<bf>(s.dv), N, H, nope, R, Dv, L, stream_));
  HS_CUDA_RETURN_IF_ERROR(kcu::RopeBackward(dkv_a + L, L + R, 0, dkv_a + L, L + R, 0, cos, sin, B,
                                            T, 1, R, 0, stream_));
  // kv_b_proj and the latent norm
  bf* dc_kv_norm = A<bf>(s.dc_kv_norm);
  HS_RETURN_IF_ERROR(Zero(dc_kv_norm, N * L * 2));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardInput(*gemm_, dc_kv_norm, dkv, W(l.kv_b_proj), N, L,
                                              H * (nope + Dv), stream_));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardWeight(*gemm_, G(l.kv_b_proj), dkv, A<bf>(a.c_kv_norm), N,
                                               L, H * (nope + Dv), stream_));
  bf* dc_kv = A<bf>(s.dc_kv);
  HS_RETURN_IF_ERROR(Zero(dc_kv, N * L * 2));
  HS_RETURN_IF_ERROR(
      NormBackward(dc_kv, dc_kv_norm, A<bf>(a.c_kv), A<float>(a.c_kv_rstd), l.kv_a_norm, L));
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpy2DAsync(dkv_a, (L + R) * 2, dc_kv, L * 2, L * 2, N,
                                            cudaMemcpyDeviceToDevice, stream_));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardInput(*gemm_, dh1, dkv_a, W(l.kv_a_proj), N, C, L + R,
                                              stream_));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardWeight(*gemm_, G(l.kv_a_proj), dkv_a, h1, N, C, L + R,
                                               stream_));
  // queries: undo RoPE on dq's rope slice, then the q path
  HS_CUDA_RETURN_IF_ERROR(kcu::RopeBackward(dq + nope, H * Dq, Dq, dq + nope, H * Dq, Dq, cos, sin,
                                            B, T, H, R, 0, stream_));
  if (Q > 0) {
    bf* dq_a_norm = A<bf>(s.dq_a_norm);
    bf* dq_a = A<bf>(s.dq_a);
    HS_RETURN_IF_ERROR(Zero(dq_a_norm, N * Q * 2));
    HS_RETURN_IF_ERROR(kcu::LinearBackwardInput(*gemm_, dq_a_norm, dq, W(l.q_b_proj), N, Q,
                                                H * Dq, stream_));
    HS_RETURN_IF_ERROR(kcu::LinearBackwardWeight(*gemm_, G(l.q_b_proj), dq, A<bf>(a.q_a_norm), N,
                                                 Q, H * Dq, stream_));
    HS_RETURN_IF_ERROR(Zero(dq_a, N * Q * 2));
    HS_RETURN_IF_ERROR(
        NormBackward(dq_a, dq_a_norm, A<bf>(a.q_a), A<float>(a.q_a_rstd), l.q_a_norm, Q));
    HS_RETURN_IF_ERROR(
        kcu::LinearBackwardInput(*gemm_, dh1, dq_a, W(l.q_a_proj), N, C, Q, stream_));
    return kcu::LinearBackwardWeight(*gemm_, G(l.q_a_proj), dq_a, h1, N, C, Q, stream_);
  }
  HS_RETURN_IF_ERROR(
      kcu::LinearBackwardInput(*gemm_, dh1, dq, W(l.q_proj), N, C, H * Dq, stream_));
  return kcu::LinearBackwardWeight(*gemm_, G(l.q_proj), dq, h1, N, C, H * Dq, stream_);
}

absl::Status DeviceModel::FfnBackward(int gate, int down, int64_t I, const bf* dout, const bf* in,
                                      int64_t rows, const bf* gate_up, const bf* act, bf* din) {
  if (rows == 0) return absl::OkStatus();
  const SharedActs& s = plan_.shared();
  const int64_t C = plan_.config().hidden_size;
  bf* dact = A<bf>(s.dact);
  bf* dgate_up = A<bf>(s.dgate_up);
  HS_RETURN_IF_ERROR(Zero(dact, rows * I * 2));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardInput(*gemm_, dact, dout, W(down), rows, I, C, stream_));
  HS_RETURN_IF_ERROR(kcu::LinearBackwardWeight(*gemm_, G(down), dout, act, rows, I, C, stream_));
  HS_CUDA_RETURN_IF_ERROR(kcu::SwiGluBackward(dgate_up, dact, gate_up, rows, I, stream_));
  HS_RETURN_IF_ERROR(
      kcu::LinearBackwardInput(*gemm_, din, dgate_up, W(gate), rows, C, 2 * I, stream_));
  return kcu::LinearBackwardWeight(*gemm_, G(gate), dgate_up, in, rows, C, 2 * I, stream_);
}

absl::Status DeviceModel::MlpBackward(const LayerSlots& l, const bf* dout, bf* dh2) {
  const LayerActs& a = l.acts;
  return FfnBackward(l.mlp_gate, l.mlp_down, plan_.config().intermediate_size, dout, A<bf>(a.h2),
                     plan_.N(), A<bf>(a.gate_up), A<bf>(a.act), dh2);
}

absl::Status DeviceModel::MoeBackward(const LayerSlots& l, const bf* dout, bf* dh2,
                                      float aux_scale) {
  const DeepseekV2Config& c = plan_.config();
  const LayerActs& a = l.acts;
  const SharedActs& s = plan_.shared();
  const int64_t N = plan_.N(), C = c.hidden_size, E = c.n_routed_experts;
  const int64_t K = c.num_experts_per_tok, Im = c.moe_intermediate_size;
  const bf* h2 = A<bf>(a.h2);
  if (l.shared_gate >= 0) {
    HS_RETURN_IF_ERROR(FfnBackward(l.shared_gate, l.shared_down, c.n_shared_experts * Im, dout,
                                   h2, N, A<bf>(a.s_gate_up), A<bf>(a.s_act), dh2));
  }
  // combine: dexpert_out rows and the combine-weight gradient
  bf* dexpert_out = A<bf>(s.dexpert_out);
  float* dw = A<float>(s.dweights);
  HS_CUDA_RETURN_IF_ERROR(kcu::MoeCombineBackward(dexpert_out, dw, dout, A<bf>(a.expert_out),
                                                  A<float>(a.weights), A<int32_t>(a.slot_row), N,
                                                  K, C, stream_));
  // routed experts (grouped GEMMs over the forward's host offsets)
  const int layer = int(&l - plan_.layers().data());
  const std::vector<int64_t>& off = host_offsets_[layer];
  const int64_t rows = off[E];
  std::vector<const bf*> wg(E), wd(E);
  std::vector<float*> gg(E), gd(E);
  for (int64_t e = 0; e < E; ++e) {
    wg[e] = W(l.expert_gate[e]);
    wd[e] = W(l.expert_down[e]);
    gg[e] = G(l.expert_gate[e]);
    gd[e] = G(l.expert_down[e]);
  }
  bf* dact = A<bf>(s.dact);
  bf* dgate_up = A<bf>(s.dgate_up);
  bf* dexpert_in = A<bf>(s.dexpert_in);
  HS_RETURN_IF_ERROR(Zero(dact, rows * Im * 2));
  HS_RETURN_IF_ERROR(kcu::GroupedLinearBackwardInput(*gemm_, dact, dexpert_out, wd.data(),
                                                     off.data(), E, Im, C, stream_));
  HS_RETURN_IF_ERROR(kcu::GroupedLinearBackwardWeight(*gemm_, gd.data(), dexpert_out,
                                                      A<bf>(a.e_act), off.data(), E, Im, C,
                                                      stream_));
  if (rows > 0) {
    HS_CUDA_RETURN_IF_ERROR(
        kcu::SwiGluBackward(dgate_up, dact, A<bf>(a.e_gate_up), rows, Im, stream_));
  }
  HS_RETURN_IF_ERROR(Zero(dexpert_in, rows * C * 2));
  HS_RETURN_IF_ERROR(kcu::GroupedLinearBackwardInput(*gemm_, dexpert_in, dgate_up, wg.data(),
                                                     off.data(), E, C, 2 * Im, stream_));
  HS_RETURN_IF_ERROR(kcu::GroupedLinearBackwardWeight(*gemm_, gg.data(), dgate_up,
                                                      A<bf>(a.expert_in), off.data(), E, C,
                                                      2 * Im, stream_));
  HS_CUDA_RETURN_IF_ERROR(
      kcu::MoePermuteBackward(dh2, dexpert_in, A<int32_t>(a.slot_row), N, K, C, stream_));
  // scores: through the combine weights and the balance loss
  const int64_t G_ = plan_.aux_groups();
  const bool aux = c.aux_loss_alpha > 0 && aux_scale != 0;
  const double coef = aux ? c.aux_loss_alpha * aux_scale / (double(N / G_) * double(G_)) : 0.0;
  float* dscores = A<float>(s.dscores);
  HS_CUDA_RETURN_IF_ERROR(MoeScoresGrad(dscores, dw, A<float>(a.topk), A<int32_t>(a.idx),
                                        aux ? A<float>(a.aux_f) : nullptr, coef, N, E, K, N / G_,
                                        c.norm_topk_prob, c.routed_scaling_factor, stream_));
  // softmax and the router GEMMs (bf16 operands: the logit gradient is
  // rounded once, like every other activation gradient)
  float* dlogits = A<float>(s.router_logits);
  HS_CUDA_RETURN_IF_ERROR(
      kcu::MoeRouterSoftmaxBackward(dlogits, dscores, A<float>(a.probs), N, E, stream_));
  bf* dlogits16 = A<bf>(s.dlogits16);
  HS_CUDA_RETURN_IF_ERROR(CastF32ToBf16(dlogits16, dlogits, N * E, stream_));
  HS_RETURN_IF_ERROR(
      kcu::LinearBackwardInput(*gemm_, dh2, dlogits16, W(l.router), N, C, E, stream_));
  return kcu::LinearBackwardWeight(*gemm_, G(l.router), dlogits16, h2, N, C, E, stream_);
}

// -------------------------------------------------------------- optimizer

absl::StatusOr<double> DeviceModel::OptimizerStep(const AdamWStepArgs& o) {
  const SharedActs& s = plan_.shared();
  const int64_t n = plan_.param_floats();
  double* sumsq = A<double>(s.sumsq);
  HS_CUDA_RETURN_IF_ERROR(kcu::GradSumOfSquares(sumsq, A<double>(s.sumsq_scratch),
                                                grads_.as<float>(), n, false, stream_));
  float* scale = A<float>(s.clip_scale);
  HS_CUDA_RETURN_IF_ERROR(
      kcu::GradClipScale(scale, A<float>(s.clip_norm), sumsq, o.max_grad_norm, stream_));
  double sq = 0;
  HS_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(&sq, sumsq, 8, cudaMemcpyDeviceToHost, stream_));
  HS_RETURN_IF_ERROR(Synchronize());
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) {
    return absl::InternalError(
        absl::StrCat("step ", o.step + 1, ": gradient norm is not finite; stopping"));
  }
  for (const DeviceModelPlan::Segment& seg : plan_.decay_segments()) {
    const kcu::AdamWScalars k = kcu::MakeAdamWScalars(
        o.lr, seg.decay ? o.weight_decay : 0.0, o.beta1, o.beta2, o.eps, o.step + 1);
    HS_CUDA_RETURN_IF_ERROR(kcu::AdamWStep(params_.as<float>() + seg.begin,
                                           w16_.as<bf>() + seg.begin,
                                           grads_.as<float>() + seg.begin, m_.as<float>() + seg.begin,
                                           v_.as<float>() + seg.begin, seg.end - seg.begin, k,
                                           scale, stream_));
  }
  return norm;
}

std::vector<int64_t> DeviceModel::ExpertLoad() const {
  std::vector<int64_t> load(plan_.config().n_routed_experts, 0);
  for (const std::vector<int64_t>& off : host_offsets_) {
    for (size_t e = 0; e + 1 < off.size(); ++e) load[e] += off[e + 1] - off[e];
  }
  return load;
}

}  // namespace hs::models::cuda_model
