// File: models/layers/moe.cc — see moe.h.
#include "models/layers/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

#include <omp.h>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/moe_gate.h"
#include "models/kernels/cpu/weight_grad_queue.h"
#include "models/profile/op_profile.h"

namespace hs::models {

namespace kc = kernels::cpu;

namespace {

// ExpertsInParallel(): run the routed experts as parallel tasks (one expert
// per thread, each GEMM single-threaded; OpenBLAS runs single-threaded inside
// an OpenMP region) instead of one expert after another with every small GEMM
// split across the threads. Each expert's arithmetic is the same either way:
// it owns its rows and its weight gradients. Not while a zero-bubble
// WeightGradQueue is active: that queue is per thread and records the
// weight-gradient GEMMs in call order.
bool ExpertsInParallel() {
  return omp_get_max_threads() > 1 && !omp_in_parallel() &&
         kc::ActiveWeightGradQueue() == nullptr;
}

// LargestFirst: the n local experts by decreasing row count (ties by index),
// the order the parallel expert loop takes them in: with one expert per
// task, a large expert taken last would leave the other threads idle while
// it runs (longest-processing-time-first scheduling). Each expert's
// arithmetic does not depend on the order.
std::vector<int64_t> LargestFirst(const DispatchPlan& plan, int64_t n) {
  std::vector<int64_t> order(n);
  for (int64_t e = 0; e < n; ++e) order[e] = e;
  auto rows = [&](int64_t e) { return plan.expert_offsets[e + 1] - plan.expert_offsets[e]; };
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return rows(a) > rows(b); });
  return order;
}

// ReadsRowsInPlace: the combine reads and writes the expert rows where
// they are instead of in slot order. Only for a dispatcher that says where
// each slot's row is (the local one: slot_row, one row per slot) and
// without a capacity (whose dropped slots need zero rows).
bool ReadsRowsInPlace(const DispatchPlan& plan, int64_t N, bool capped) {
  return !capped && int64_t(plan.slot_row.size()) == N * plan.K && plan.rows() == N * plan.K;
}

// LaneDot: sum_c a[c] * b[c] in double, in 8 fixed lanes (lane l takes
// c = l mod 8, the tail goes to lane 0, lanes added in order): a fixed
// order that vectorises, unlike one chain of dependent double adds.
double LaneDot(const float* a, const float* b, int64_t n) {
  double lane[8] = {};
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    for (int64_t l = 0; l < 8; ++l) lane[l] += double(a[c + l]) * double(b[c + l]);
  }
  for (; c < n; ++c) lane[0] += double(a[c]) * double(b[c]);
  double s = 0.0;
  for (int64_t l = 0; l < 8; ++l) s += lane[l];
  return s;
}

}  // namespace

absl::Status CheckMoeRouting(const DeepseekV2Config& c) {
  const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok;
  const int64_t D = c.ep_devices, M = c.device_limit;
  if (D < 1 || (E > 0 && E % D != 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.ep_routing_devices (or parallel.ep): must be >= 1 and divide "
        "model.n_routed_experts (", E, "), got ", D));
  }
  if (M < 0 || M > D) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.ep_device_limit: must be in [0, ", D, " routing devices], got ", M));
  }
  if (M > 0 && c.topk_method == "group_limited_greedy") {
    return absl::InvalidArgumentError(
        "parallel.ep_device_limit: device-limited routing and model.topk_method "
        "group_limited_greedy both restrict the groups; set one of them");
  }
  if (M > 0 && K > M * (E / D)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.ep_device_limit: model.num_experts_per_tok (", K, ") exceeds the ",
        M * (E / D), " experts on ", M, " devices"));
  }
  if (c.device_balance_alpha < 0 || c.comm_balance_alpha < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.device_balance_alpha/comm_balance_alpha: must be >= 0, got ",
        c.device_balance_alpha, ", ", c.comm_balance_alpha));
  }
  if (c.capacity_factor < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.capacity_factor: must be >= 0 (0 = off), got ", c.capacity_factor));
  }
  return absl::OkStatus();
}

int64_t ExpertCapacity(double capacity_factor, int64_t N, int64_t K, int64_t E) {
  return int64_t(std::ceil(capacity_factor * double(N * K) / double(E)));
}

void CapacityKeep(const int32_t* idx, int64_t N, int64_t K, int64_t E,
                  int64_t capacity, std::vector<int64_t>* kept,
                  std::vector<int64_t>* dropped_per_expert) {
  std::vector<int64_t> taken(E, 0);
  dropped_per_expert->assign(E, 0);
  kept->clear();
  kept->reserve(N * K);
  for (int64_t s = 0; s < N * K; ++s) {
    const int32_t e = idx[s];
    if (taken[e] < capacity) {
      ++taken[e];
      kept->push_back(s);
    } else {
      ++(*dropped_per_expert)[e];
    }
  }
}

Moe::Moe(ParamArena& arena, const std::string& name,
         const DeepseekV2Config& config, ExpertDispatcher* dispatcher)
    : C_(config.hidden_size),
      E_(config.n_routed_experts),
      K_(config.num_experts_per_tok),
      I_(config.moe_intermediate_size),
      config_(config),
      dispatcher_(dispatcher),
      arena_(&arena) {
  routing_status_ = CheckMoeRouting(config);
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
  HS_RETURN_IF_ERROR(routing_status_);
  const int64_t N = B * T;
  std::optional<OpTimer> timer;
  timer.emplace("moe.gate");
  // ---- router: scores = softmax(x Wg^T)
  Tensor logits = Tensor::Uninitialized({N, E_});
  kc::LinearForward(logits.data<float>(), x, arena_->param(gate_), N, C_, E_);
  s->scores = Tensor::Uninitialized({N, E_});
  kc::SoftmaxForward(s->scores.data<float>(), logits.data<float>(), N, E_);
  s->idx = Tensor::Empty({N, K_}, DType::kI32);
  s->topk_scores = Tensor::Empty({N, K_});
  if (config_.device_limit > 0) {
    kc::TopKSelectDeviceLimited(s->idx.data<int32_t>(), s->topk_scores.data<float>(),
                                s->scores.data<float>(), N, E_, K_,
                                config_.ep_devices, config_.device_limit);
  } else {
    const bool group_limited = config_.topk_method == "group_limited_greedy";
    kc::TopKSelect(s->idx.data<int32_t>(), s->topk_scores.data<float>(),
                   s->scores.data<float>(), N, E_, K_, group_limited,
                   config_.n_group, config_.topk_group);
  }
  // ---- combine weights
  s->weights = Tensor::Uninitialized({N, K_});
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
    s->aux_expert = s->aux_loss;
  }
  if (config_.device_balance_alpha > 0 || config_.comm_balance_alpha > 0) {
    DeviceBalanceLosses(B, T, s);
  }
  // ---- capacity: keep at most `cap` slots per expert (later tokens dropped)
  const bool capped = config_.capacity_factor > 0;
  Tensor x_kept, idx_kept;
  const float* route_x = x;
  const int32_t* route_idx = idx;
  int64_t route_n = N, route_k = K_;
  if (capped) {
    CapacityKeep(idx, N, K_, E_, ExpertCapacity(config_.capacity_factor, N, K_, E_),
                 &s->kept_slots, &s->expert_dropped);
    const int64_t S = int64_t(s->kept_slots.size());
    s->dropped = N * K_ - S;
    // The dispatcher sees the kept slots as S tokens with one choice each,
    // in slot order (so every expert still gets its rows in token order).
    x_kept = Tensor::Empty({S, C_});
    idx_kept = Tensor::Empty({S}, DType::kI32);
    float* xk = x_kept.data<float>();
    int32_t* ik = idx_kept.data<int32_t>();
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < S; ++j) {
      const int64_t slot = s->kept_slots[j];
      std::memcpy(xk + j * C_, x + (slot / K_) * C_, C_ * sizeof(float));
      ik[j] = idx[slot];
    }
    route_x = xk;
    route_idx = ik;
    route_n = S;
    route_k = 1;
  }
  // ---- routed experts through the dispatcher
  timer.emplace("moe.dispatch");
  HS_RETURN_IF_ERROR(dispatcher_->Dispatch(route_x, route_idx, route_n, route_k, C_,
                                           &s->plan, &s->expert_in));
  const int64_t R = s->plan.rows();
  timer.emplace("moe.experts");
  // Every row belongs to exactly one expert, so each is written once.
  s->gate_up = Tensor::Uninitialized({R, 2 * I_});
  s->act = Tensor::Uninitialized({R, I_});
  s->expert_out = Tensor::Uninitialized({R, C_});
  const std::vector<int64_t> order = LargestFirst(s->plan, int64_t(experts_.size()));
  const int64_t n_experts = int64_t(order.size());
#pragma omp parallel for schedule(dynamic, 1) if (ExpertsInParallel())
  for (int64_t i = 0; i < n_experts; ++i) {
    const int64_t e = order[i];
    const int64_t r0 = s->plan.expert_offsets[e], rn = s->plan.expert_offsets[e + 1] - r0;
    experts_[e].ForwardRows(s->expert_out.data<float>() + r0 * C_,
                            s->expert_in.data<float>() + r0 * C_, rn,
                            s->gate_up.data<float>() + r0 * 2 * I_,
                            s->act.data<float>() + r0 * I_);
  }
  timer.emplace("moe.combine");
  // y[n] = sum_k w[n,k] * (slot (n, k)'s expert output). In place, the
  // rows Combine would copy into slot order are read where they are
  // (expert_out[slot_row[n*K + k]]: the same sums).
  const bool in_place = ReadsRowsInPlace(s->plan, N, capped);
  if (!in_place) HS_RETURN_IF_ERROR(CombineIntoSlots(N, capped, s));
  const float* rows = in_place ? s->expert_out.data<float>() : s->slot_out.data<float>();
  const int64_t* slot_row = in_place ? s->plan.slot_row.data() : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    float* y = out + n * C_;
    std::fill(y, y + C_, 0.0f);
    for (int64_t k = 0; k < K_; ++k) {
      const float wk = w[n * K_ + k];
      const float* r = rows + (slot_row ? slot_row[n * K_ + k] : n * K_ + k) * C_;
      for (int64_t c = 0; c < C_; ++c) y[c] += wk * r[c];
    }
  }
  // ---- shared experts: y += shared(x)
  if (has_shared_) {
    timer.emplace("moe.shared");
    Tensor shared_out = Tensor::Uninitialized({N, C_});
    shared_.Forward(shared_out.data<float>(), x, N, &s->shared);
    const float* so2 = shared_out.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < N * C_; ++i) out[i] += so2[i];
  }
  return absl::OkStatus();
}

// CombineIntoSlots: the dispatcher's Combine into s->slot_out [N*K, C] (slot
// order; dropped slots zero).
absl::Status Moe::CombineIntoSlots(int64_t N, bool capped, MoeSaved* s) const {
  // Capacity-dropped slots rely on zero rows; otherwise Combine writes all.
  s->slot_out = capped ? Tensor::Empty({N * K_, C_}) : Tensor::Uninitialized({N * K_, C_});
  if (capped) {
    // Dropped slots keep the zero rows Empty() gave them.
    const int64_t S = int64_t(s->kept_slots.size());
    Tensor kept_out = Tensor::Uninitialized({S, C_});
    HS_RETURN_IF_ERROR(dispatcher_->Combine(s->expert_out, s->plan, kept_out.data<float>()));
    float* so_all = s->slot_out.data<float>();
    const float* ko = kept_out.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < S; ++j) {
      std::memcpy(so_all + s->kept_slots[j] * C_, ko + j * C_, C_ * sizeof(float));
    }
  } else {
    HS_RETURN_IF_ERROR(dispatcher_->Combine(s->expert_out, s->plan, s->slot_out.data<float>()));
  }
  return absl::OkStatus();
}

absl::Status Moe::Backward(float* dx, const float* dout, const float* x,
                           int64_t B, int64_t T, float aux_scale,
                           const MoeSaved& s, bool overwrite_dx) const {
  const int64_t N = B * T;
  std::optional<OpTimer> timer;
  // dx's first term: the shared experts' input gradient (then the routed
  // experts' through the dispatcher, which adds).
  if (has_shared_) {
    timer.emplace("moe.shared");
    shared_.Backward(dx, dout, x, N, s.shared, overwrite_dx);
  } else if (overwrite_dx) {
    std::fill(dx, dx + N * C_, 0.0f);
  }
  timer.emplace("moe.combine");
  // ---- combine: dslot[n,k] = w[n,k] * dy[n];  dw[n,k] = <dy[n], slot_out[n,k]>
  const bool capped = config_.capacity_factor > 0;
  const bool in_place = ReadsRowsInPlace(s.plan, N, capped);
  const float* w = s.weights.data<float>();
  // In place (the forward kept no slot_out): slot (n, k) is expert row
  // slot_row[n*K + k], read and written there, the same values
  // CombineBackward would move.
  const float* so = in_place ? s.expert_out.data<float>() : s.slot_out.data<float>();
  const int64_t* slot_row = in_place ? s.plan.slot_row.data() : nullptr;
  Tensor dslot, dexpert_out;
  if (in_place) {
    dexpert_out = Tensor::Uninitialized({s.plan.rows(), C_});
  } else {
    dslot = Tensor::Uninitialized({N * K_, C_});
  }
  float* dslot_p = in_place ? dexpert_out.data<float>() : dslot.data<float>();
  Tensor dw = Tensor::Uninitialized({N, K_});
  float* dw_p = dw.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* dy = dout + n * C_;
    for (int64_t k = 0; k < K_; ++k) {
      const int64_t row = slot_row ? slot_row[n * K_ + k] : n * K_ + k;
      const float* r = so + row * C_;
      float* d = dslot_p + row * C_;
      const float wk = w[n * K_ + k];
      for (int64_t c = 0; c < C_; ++c) d[c] = wk * dy[c];
      dw_p[n * K_ + k] = float(LaneDot(dy, r, C_));
    }
  }
  // ---- routed experts, in reverse through the dispatcher
  const int64_t S = int64_t(s.kept_slots.size());
  if (in_place) {
    // dexpert_out is complete.
  } else if (capped) {
    // Only kept slots go back to the experts; a dropped slot's output was
    // zero, so its weight gets dw = <dy, 0> = 0 and its expert nothing.
    Tensor dslot_kept = Tensor::Uninitialized({S, C_});
    float* dk = dslot_kept.data<float>();
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < S; ++j) {
      std::memcpy(dk + j * C_, dslot_p + s.kept_slots[j] * C_, C_ * sizeof(float));
    }
    HS_RETURN_IF_ERROR(dispatcher_->CombineBackward(dk, s.plan, &dexpert_out));
  } else {
    HS_RETURN_IF_ERROR(dispatcher_->CombineBackward(dslot_p, s.plan, &dexpert_out));
  }
  const int64_t R = s.plan.rows();
  timer.emplace("moe.experts");
  // Every row belongs to exactly one expert, which overwrites it.
  Tensor dexpert_in = Tensor::Uninitialized({R, C_});
  const std::vector<int64_t> order = LargestFirst(s.plan, int64_t(experts_.size()));
  const int64_t n_experts = int64_t(order.size());
#pragma omp parallel for schedule(dynamic, 1) if (ExpertsInParallel())
  for (int64_t i = 0; i < n_experts; ++i) {
    const int64_t e = order[i];
    const int64_t r0 = s.plan.expert_offsets[e], rn = s.plan.expert_offsets[e + 1] - r0;
    experts_[e].BackwardRows(dexpert_in.data<float>() + r0 * C_,
                             dexpert_out.data<float>() + r0 * C_,
                             s.expert_in.data<float>() + r0 * C_, rn,
                             s.gate_up.data<float>() + r0 * 2 * I_,
                             s.act.data<float>() + r0 * I_, /*overwrite_dinp=*/true);
  }
  timer.emplace("moe.dispatch");
  if (capped) {
    // dx[n] += the kept slots of token n, in k order (as without capacity).
    Tensor dx_kept = Tensor::Empty({S, C_});
    HS_RETURN_IF_ERROR(dispatcher_->DispatchBackward(dexpert_in, s.plan, dx_kept.data<float>()));
    const float* dk = dx_kept.data<float>();
    for (int64_t j = 0; j < S; ++j) {
      float* row = dx + (s.kept_slots[j] / K_) * C_;
      const float* g = dk + j * C_;
      for (int64_t c = 0; c < C_; ++c) row[c] += g[c];
    }
  } else {
    HS_RETURN_IF_ERROR(dispatcher_->DispatchBackward(dexpert_in, s.plan, dx));
  }
  // ---- d scores: through the combine weights ...
  timer.emplace("moe.gate");
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
  // ... and through the device-level and communication balance losses:
  //     d aux / d scores[g,t,e] = (alpha2 f'[g,dev(e)] + alpha3 f''[g,dev(e)])
  //                               / (tokens per group * groups)
  if ((config_.device_balance_alpha > 0 || config_.comm_balance_alpha > 0) &&
      aux_scale != 0) {
    const int64_t groups = config_.seq_aux ? B : 1;
    const int64_t per = N / groups;
    const int64_t D = config_.ep_devices, Ed = E_ / D;
    const double c = double(aux_scale) / (double(per) * groups);
    std::vector<float> coef(groups * D, 0.0f);
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t i = 0; i < D; ++i) {
        double v = 0;
        if (config_.device_balance_alpha > 0)
          v += config_.device_balance_alpha * s.dev_f.data<float>()[g * D + i];
        if (config_.comm_balance_alpha > 0)
          v += config_.comm_balance_alpha * s.comm_f.data<float>()[g * D + i];
        coef[g * D + i] = float(c * v);
      }
    }
    for (int64_t g = 0; g < groups; ++g)
      for (int64_t t = 0; t < per; ++t)
        for (int64_t e = 0; e < E_; ++e)
          ds[(g * per + t) * E_ + e] += coef[g * D + e / Ed];
  }
  // ---- softmax and router GEMM
  Tensor dlogits = Tensor::Uninitialized({N, E_});
  kc::SoftmaxBackward(dlogits.data<float>(), ds, s.scores.data<float>(), N, E_);
  kc::LinearBackward(dx, /*accumulate_dinp=*/true, arena_->grad(gate_), dlogits.data<float>(), x,
                     arena_->param(gate_), N, C_, E_);
  return absl::OkStatus();
}

// DeviceBalanceLosses: DeepSeek-V2 eq. 29-34 over groups of `per` tokens
// (sequences with seq_aux). Fills dev_f / comm_f (f', f'') and adds
// aux_device + aux_comm to aux_loss.
void Moe::DeviceBalanceLosses(int64_t B, int64_t T, MoeSaved* s) const {
  const int64_t N = B * T;
  const int64_t groups = config_.seq_aux ? B : 1;
  const int64_t per = N / groups;
  const int64_t D = config_.ep_devices, Ed = E_ / D;
  const int64_t M = config_.device_limit > 0 ? config_.device_limit : std::min(K_, D);
  const int32_t* idx = s->idx.data<int32_t>();
  const float* scores = s->scores.data<float>();
  s->dev_f = Tensor::Empty({groups, D});
  s->comm_f = Tensor::Empty({groups, D});
  float* fdev = s->dev_f.data<float>();
  float* fcomm = s->comm_f.data<float>();
  double dev_total = 0, comm_total = 0;
  std::vector<int64_t> count(E_), sent(D);
  std::vector<double> pdev(D);
  std::vector<char> on(D);
  for (int64_t g = 0; g < groups; ++g) {
    std::fill(count.begin(), count.end(), 0);
    std::fill(sent.begin(), sent.end(), 0);
    std::fill(pdev.begin(), pdev.end(), 0.0);
    for (int64_t t = 0; t < per; ++t) {
      const int64_t n = g * per + t;
      std::fill(on.begin(), on.end(), 0);
      for (int64_t k = 0; k < K_; ++k) {
        const int32_t e = idx[n * K_ + k];
        ++count[e];
        on[e / Ed] = 1;
      }
      for (int64_t i = 0; i < D; ++i) sent[i] += on[i];
      for (int64_t e = 0; e < E_; ++e) pdev[e / Ed] += scores[n * E_ + e];
    }
    for (int64_t i = 0; i < D; ++i) {
      // f'_i = mean_{e in E_i} f_e, f_e = E/(K T) count_e
      int64_t c = 0;
      for (int64_t e = i * Ed; e < (i + 1) * Ed; ++e) c += count[e];
      fdev[g * D + i] = float(double(E_) / double(K_ * per) * double(c) / double(Ed));
      // f''_i = D/(M T) #{tokens sending to device i}
      fcomm[g * D + i] = float(double(D) / double(M * per) * double(sent[i]));
      const double p = pdev[i] / double(per);  // P'_i = P''_i = sum_{e in E_i} P_e
      dev_total += double(fdev[g * D + i]) * p;
      comm_total += double(fcomm[g * D + i]) * p;
    }
  }
  s->aux_device = config_.device_balance_alpha * dev_total / groups;
  s->aux_comm = config_.comm_balance_alpha * comm_total / groups;
  s->aux_loss += s->aux_device + s->aux_comm;
}

double Moe::FlopsPerToken() const {
  double router = double(C_) * E_;
  double routed = double(K_) * 3.0 * C_ * I_;
  double shared = has_shared_ ? 3.0 * C_ * shared_.intermediate() : 0.0;
  return 2.0 * (router + routed + shared);
}

}  // namespace hs::models
