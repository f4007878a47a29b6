// File: models/layers/moe.cc — see moe.h.
#include "models/layers/moe.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/moe_gate.h"

namespace hs::models {

namespace kc = kernels::cpu;

Moe::Moe(ParamArena& arena, const std::string& name,
         const DeepseekV2Config& config, ExpertDispatcher* dispatcher)
    : C_(config.hidden_size),
      E_(config.n_routed_experts),
      K_(config.num_experts_per_tok),
      I_(config.moe_intermediate_size),
      config_(config),
      dispatcher_(dispatcher),
      arena_(&arena) {
  const float std = float(config.initializer_range);
  // HF module order: experts.*, gate, shared_experts.
  const int64_t first = dispatcher->first_local_expert();
  for (int64_t e = 0; e < dispatcher->num_local_experts(); ++e) {
    experts_.emplace_back(arena, absl::StrCat(name, ".experts.", first + e), C_,
                          I_, std, first + e);
  }
  gate_ = arena.Add(name + ".gate.weight", {E_, C_}, ParamInit::Normal(std));
  if (config.n_shared_experts > 0) {
    has_shared_ = true;
    shared_ = Mlp(arena, name + ".shared_experts", C_,
                  config.n_shared_experts * I_, std);
  }
}

absl::Status Moe::Forward(float* out, const float* x, int64_t B, int64_t T,
                          MoeSaved* s) const {
  const int64_t N = B * T;
  // ---- router: scores = softmax(x Wg^T)
  Tensor logits = Tensor::Empty({N, E_});
  kc::LinearForward(logits.data<float>(), x, arena_->param(gate_), N, C_, E_);
  s->scores = Tensor::Empty({N, E_});
  kc::SoftmaxForward(s->scores.data<float>(), logits.data<float>(), N, E_);
  s->idx = Tensor::Empty({N, K_}, DType::kI32);
  s->topk_scores = Tensor::Empty({N, K_});
  const bool group_limited = config_.topk_method == "group_limited_greedy";
  kc::TopKSelect(s->idx.data<int32_t>(), s->topk_scores.data<float>(),
                 s->scores.data<float>(), N, E_, K_, group_limited,
                 config_.n_group, config_.topk_group);
  // ---- combine weights
  s->weights = Tensor::Empty({N, K_});
  const float* ts = s->topk_scores.data<float>();
  float* w = s->weights.data<float>();
  const bool normalize = K_ > 1 && config_.norm_topk_prob;
  for (int64_t n = 0; n < N; ++n) {
    if (normalize) {
      double sum = 0;
      for (int64_t k = 0; k < K_; ++k) sum += ts[n * K_ + k];
      float denom = float(sum) + 1e-20f;
      for (int64_t k = 0; k < K_; ++k) w[n * K_ + k] = ts[n * K_ + k] / denom;
    } else {
      for (int64_t k = 0; k < K_; ++k)
        w[n * K_ + k] = ts[n * K_ + k] * float(config_.routed_scaling_factor);
    }
  }
  // ---- balance loss (value only; its gradient is added in Backward)
  const int32_t* idx = s->idx.data<int32_t>();
  const float* scores = s->scores.data<float>();
  s->expert_load.assign(E_, 0);
  for (int64_t i = 0; i < N * K_; ++i) ++s->expert_load[idx[i]];
  s->aux_loss = 0;
  if (config_.aux_loss_alpha > 0) {
    const int64_t groups = config_.seq_aux ? B : 1;
    const int64_t per = N / groups;  // tokens per group
    s->aux_f = Tensor::Empty({groups, E_});
    float* f = s->aux_f.data<float>();
    double total = 0;
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t t = 0; t < per * K_; ++t) f[g * E_ + idx[g * per * K_ + t]] += 1.0f;
      const float norm = float(per * K_) / float(E_);
      for (int64_t e = 0; e < E_; ++e) f[g * E_ + e] /= norm;
      double sum = 0;
      for (int64_t e = 0; e < E_; ++e) {
        double p = 0;
        for (int64_t t = 0; t < per; ++t) p += scores[(g * per + t) * E_ + e];
        sum += double(f[g * E_ + e]) * (p / per);
      }
      total += sum;
    }
    s->aux_loss = config_.aux_loss_alpha * total / groups;
  }
  // ---- routed experts through the dispatcher
  HS_RETURN_IF_ERROR(dispatcher_->Dispatch(x, idx, N, K_, C_, &s->plan, &s->expert_in));
  const int64_t R = s->plan.rows();
  s->gate_up = Tensor::Empty({R, 2 * I_});
  s->act = Tensor::Empty({R, I_});
  s->expert_out = Tensor::Empty({R, C_});
  for (size_t e = 0; e < experts_.size(); ++e) {
    const int64_t r0 = s->plan.expert_offsets[e], rn = s->plan.expert_offsets[e + 1] - r0;
    experts_[e].ForwardRows(s->expert_out.data<float>() + r0 * C_,
                            s->expert_in.data<float>() + r0 * C_, rn,
                            s->gate_up.data<float>() + r0 * 2 * I_,
                            s->act.data<float>() + r0 * I_);
  }
  s->slot_out = Tensor::Empty({N * K_, C_});
  HS_RETURN_IF_ERROR(dispatcher_->Combine(s->expert_out, s->plan, s->slot_out.data<float>()));
  // y[n] = sum_k w[n,k] * slot_out[n,k]
  const float* so = s->slot_out.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* y = out + n * C_;
    std::fill(y, y + C_, 0.0f);
    for (int64_t k = 0; k < K_; ++k) {
      const float wk = w[n * K_ + k];
      const float* r = so + (n * K_ + k) * C_;
      for (int64_t c = 0; c < C_; ++c) y[c] += wk * r[c];
    }
  }
  // ---- shared experts: y += shared(x)
  if (has_shared_) {
    Tensor shared_out = Tensor::Empty({N, C_});
    shared_.Forward(shared_out.data<float>(), x, N, &s->shared);
    const float* so2 = shared_out.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N * C_; ++i) out[i] += so2[i];
  }
  return absl::OkStatus();
}

absl::Status Moe::Backward(float* dx, const float* dout, const float* x,
                           int64_t B, int64_t T, float aux_scale,
                           const MoeSaved& s) const {
  const int64_t N = B * T;
  if (has_shared_) shared_.Backward(dx, dout, x, N, s.shared);
  // ---- combine: dslot[n,k] = w[n,k] * dy[n];  dw[n,k] = <dy[n], slot_out[n,k]>
  const float* w = s.weights.data<float>();
  const float* so = s.slot_out.data<float>();
  Tensor dslot = Tensor::Empty({N * K_, C_});
  Tensor dw = Tensor::Empty({N, K_});
  float* dslot_p = dslot.data<float>();
  float* dw_p = dw.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* dy = dout + n * C_;
    for (int64_t k = 0; k < K_; ++k) {
      const float* r = so + (n * K_ + k) * C_;
      float* d = dslot_p + (n * K_ + k) * C_;
      const float wk = w[n * K_ + k];
      double dot = 0;
      for (int64_t c = 0; c < C_; ++c) {
        d[c] = wk * dy[c];
        dot += double(dy[c]) * r[c];
      }
      dw_p[n * K_ + k] = float(dot);
    }
  }
  // ---- routed experts, in reverse through the dispatcher
  Tensor dexpert_out;
  HS_RETURN_IF_ERROR(dispatcher_->CombineBackward(dslot_p, s.plan, &dexpert_out));
  const int64_t R = s.plan.rows();
  Tensor dexpert_in = Tensor::Empty({R, C_});
  for (size_t e = 0; e < experts_.size(); ++e) {
    const int64_t r0 = s.plan.expert_offsets[e], rn = s.plan.expert_offsets[e + 1] - r0;
    experts_[e].BackwardRows(dexpert_in.data<float>() + r0 * C_,
                             dexpert_out.data<float>() + r0 * C_,
                             s.expert_in.data<float>() + r0 * C_, rn,
                             s.gate_up.data<float>() + r0 * 2 * I_,
                             s.act.data<float>() + r0 * I_);
  }
  HS_RETURN_IF_ERROR(dispatcher_->DispatchBackward(dexpert_in, s.plan, dx));
  // ---- d scores: through the combine weights ...
  Tensor dscores = Tensor::Empty({N, E_});
  float* ds = dscores.data<float>();
  const float* ts = s.topk_scores.data<float>();
  const int32_t* idx = s.idx.data<int32_t>();
  const bool normalize = K_ > 1 && config_.norm_topk_prob;
  for (int64_t n = 0; n < N; ++n) {
    if (normalize) {
      // w_k = s_k / S:  ds_j = dw_j / S - sum_k dw_k s_k / S^2
      double S = 1e-20, dot = 0;
      for (int64_t k = 0; k < K_; ++k) S += ts[n * K_ + k];
      for (int64_t k = 0; k < K_; ++k) dot += double(dw_p[n * K_ + k]) * ts[n * K_ + k];
      for (int64_t k = 0; k < K_; ++k)
        ds[n * E_ + idx[n * K_ + k]] += float(dw_p[n * K_ + k] / S - dot / (S * S));
    } else {
      for (int64_t k = 0; k < K_; ++k)
        ds[n * E_ + idx[n * K_ + k]] +=
            dw_p[n * K_ + k] * float(config_.routed_scaling_factor);
    }
  }
  // ... and through the balance loss: d aux / d scores[g,t,e] =
  //     alpha * f[g,e] / (tokens per group * groups)
  if (config_.aux_loss_alpha > 0 && aux_scale != 0) {
    const int64_t groups = config_.seq_aux ? B : 1;
    const int64_t per = N / groups;
    const float* f = s.aux_f.data<float>();
    const double c = config_.aux_loss_alpha * aux_scale / (double(per) * groups);
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t t = 0; t < per; ++t)
        for (int64_t e = 0; e < E_; ++e)
          ds[(g * per + t) * E_ + e] += float(c * f[g * E_ + e]);
  }
  // ---- softmax and router GEMM
  Tensor dlogits = Tensor::Empty({N, E_});
  kc::SoftmaxBackward(dlogits.data<float>(), ds, s.scores.data<float>(), N, E_);
  kc::LinearBackwardInput(dx, dlogits.data<float>(), arena_->param(gate_), N, C_, E_);
  kc::LinearBackwardWeight(arena_->grad(gate_), dlogits.data<float>(), x, N, C_, E_);
  return absl::OkStatus();
}

double Moe::FlopsPerToken() const {
  double router = double(C_) * E_;
  double routed = double(K_) * 3.0 * C_ * I_;
  double shared = has_shared_ ? 3.0 * C_ * shared_.intermediate() : 0.0;
  return 2.0 * (router + routed + shared);
}

}  // namespace hs::models
