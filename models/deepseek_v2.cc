// File: models/deepseek_v2.cc — see deepseek_v2.h.
#include "models/deepseek_v2.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/cross_entropy.h"
#include "models/kernels/cpu/embedding.h"
#include "models/kernels/cpu/gemm.h"
#include "models/profile/op_profile.h"

namespace hs::models {

namespace kc = kernels::cpu;

namespace {

// CountArgmaxHits: targets >= 0 whose logits row has its (first) maximum
// at the target (token accuracy for fine-tuning logs).
int64_t CountArgmaxHits(const float* logits, const int32_t* targets, int64_t N, int64_t V) {
  int64_t hits = 0;
  for (int64_t i = 0; i < N; ++i) {
    if (targets[i] < 0) continue;
    const float* row = logits + i * V;
    hits += std::max_element(row, row + V) - row == targets[i];
  }
  return hits;
}

// CeStats: the saved [N, 2] softmax statistics as the kernel's rows.
kc::SoftmaxRowStats* CeStats(const Tensor& t) {
  static_assert(sizeof(kc::SoftmaxRowStats) == 2 * sizeof(float));
  return reinterpret_cast<kc::SoftmaxRowStats*>(t.data<float>());
}

}  // namespace

absl::Status CheckTokenIds(const int32_t* tokens, int64_t n, int64_t vocab,
                           const char* what) {
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, "[", i, "] = ", tokens[i], " is outside the vocabulary [0, ",
          vocab, ")"));
    }
  }
  return absl::OkStatus();
}

DeepseekV2Model::DeepseekV2Model(const DeepseekV2Config& config,
                                 const ModelOptions& options)
    : config_(config), options_(options) {}

absl::StatusOr<std::unique_ptr<DeepseekV2Model>> DeepseekV2Model::Create(
    const DeepseekV2Config& config, const ModelOptions& options) {
  return Build(config, options, /*allocate=*/true);
}

absl::StatusOr<std::unique_ptr<DeepseekV2Model>> DeepseekV2Model::CreateForInference(
    const DeepseekV2Config& config, ModelOptions options) {
  options.for_inference = true;
  return Build(config, options, /*allocate=*/true);
}

absl::StatusOr<std::vector<ParamSpec>> DeepseekV2Model::ParameterSpecs(
    const DeepseekV2Config& config, const ModelOptions& options) {
  HS_ASSIGN_OR_RETURN(auto m, Build(config, options, /*allocate=*/false));
  return m->arena_.specs();
}

absl::StatusOr<std::unique_ptr<DeepseekV2Model>> DeepseekV2Model::Build(
    const DeepseekV2Config& config, const ModelOptions& options, bool allocate) {
  HS_RETURN_IF_ERROR(CheckModelConfig(config));
  const int64_t L = config.num_hidden_layers;
  const int64_t first = options.first_layer, end = options.end_layer < 0 ? L : options.end_layer;
  if (first < 0 || first >= end || end > L) {
    return absl::InvalidArgumentError(absl::StrCat("pipeline stage layers [", first, ", ", end,
                                                   ") do not fit a model of ", L, " layers"));
  }
  std::unique_ptr<DeepseekV2Model> m(new DeepseekV2Model(config, options));
  m->first_layer_ = first;
  m->end_layer_ = end;
  ExpertDispatcher* dispatcher = options.dispatcher;
  if (dispatcher == nullptr && config.n_routed_experts > 0) {
    m->owned_dispatcher_ = std::make_unique<LocalExpertDispatcher>(config.n_routed_experts);
    dispatcher = m->owned_dispatcher_.get();
  }
  const float std = float(config.initializer_range);
  const int64_t C = config.hidden_size, V = config.vocab_size;
  if (m->has_embedding()) {
    m->embed_ = m->arena_.Add(kEmbeddingName, {V, C}, ParamInit::Normal(std));
  }
  for (int64_t i = first; i < end; ++i) {
    m->blocks_.push_back(std::make_unique<DecoderBlock>(m->arena_, i, config, dispatcher));
  }
  m->lm_head_begin_ = m->arena_.size();
  if (m->has_head()) {
    m->final_norm_ = RmsNorm(m->arena_, "model.norm", C, float(config.rms_norm_eps));
    m->lm_head_ = m->arena_.Add("lm_head.weight", {V, C}, ParamInit::Normal(std));
  }
  if (!allocate) return m;
  HS_RETURN_IF_ERROR(m->arena_.Allocate(
      {.grads = !options.for_inference, .zero_params = !options.params_from_file}));
  if (!options.params_from_file) m->arena_.Initialize(options.seed);
  m->recompute_.assign(end - first, options.recompute_all);
  for (int64_t l : options.recompute_layers) {
    if (l < 0 || l >= L) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train.recompute_layers: layer ", l, " does not exist (model has ", L, ")"));
    }
    if (l >= first && l < end) m->recompute_[l - first] = true;
  }
  int64_t max_T = options.max_seq_len > 0 ? options.max_seq_len
                                          : config.max_position_embeddings;
  m->rope_ = RopeCache::Build(config, max_T);
  return m;
}

absl::Status DeepseekV2Model::ForwardTrunk(Activations* a, const int32_t* tokens,
                                           const float* hidden_in, int64_t B, int64_t T,
                                           const int32_t* positions) {
  if (T > rope_.max_T) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence length ", T, " exceeds the RoPE table (", rope_.max_T, ")"));
  }
  const int64_t N = B * T, C = config_.hidden_size;
  a->positions_ = Tensor();
  if (positions != nullptr) {
    for (int64_t i = 0; i < N; ++i) {
      if (positions[i] < 0 || positions[i] > i % T) {
        return absl::InvalidArgumentError(absl::StrCat(
            "position[", i / T, ", ", i % T, "] = ", positions[i], " is outside [0, ", i % T,
            "] (an offset within the row's current document)"));
      }
    }
    a->positions_ = Tensor::Empty({N}, DType::kI32);
    std::memcpy(a->positions_.data<int32_t>(), positions, N * sizeof(int32_t));
  }
  const int32_t* pos = a->positions_.defined() ? a->positions_.data<int32_t>() : nullptr;
  const int64_t n = int64_t(blocks_.size());
  OpPhaseScope phase(OpPhase::kForward);
  // Training keeps every block's input for the backward; inference only the
  // current block's input and output.
  const bool keep = !options_.for_inference;
  a->B_ = B;
  a->T_ = T;
  a->residual_.resize(keep ? n + 1 : 2);
  a->saved_.resize(n);
  for (auto& r : a->residual_) {
    if (!r.defined() || r.dim(0) != N) r = Tensor::Empty({N, C});
  }
  auto residual = [&](int64_t i) -> float* {
    return a->residual_[keep ? i : i % 2].data<float>();
  };
  if (has_embedding()) {
    if (tokens == nullptr) return absl::InvalidArgumentError("the first stage needs tokens");
    HS_RETURN_IF_ERROR(CheckTokenIds(tokens, N, config_.vocab_size, "input token"));
    if (keep) {
      a->tokens_ = Tensor::Empty({N}, DType::kI32);
      std::memcpy(a->tokens_.data<int32_t>(), tokens, N * sizeof(int32_t));
    }
    OpLayerScope layer(kOpLayerEmbed);
    OpTimer timer("embedding");
    kc::EmbeddingForward(residual(0), tokens, arena_.param(embed_), N, C);
  } else {
    if (hidden_in == nullptr) return absl::InvalidArgumentError("a later stage needs hidden states");
    std::memcpy(residual(0), hidden_in, N * C * sizeof(float));
  }
  for (int64_t i = 0; i < n; ++i) {
    OpLayerScope layer(first_layer_ + i);
    HS_RETURN_IF_ERROR(Annotate(
        blocks_[i]->Forward(residual(i + 1), residual(i), B, T, rope_, recompute_[i] || !keep,
                            &a->saved_[i], pos),
        "layer ", first_layer_ + i));
  }
  // The stage's output is residual_.back() (output()).
  if (!keep && n % 2 == 0) std::swap(a->residual_[0], a->residual_[1]);
  if (has_head()) {
    OpLayerScope layer(kOpLayerHead);
    a->hN_ = Tensor::Uninitialized({N, C});
    a->rstdN_ = Tensor::Uninitialized({N});
    {
      OpTimer timer("rms_norm");
      final_norm_.Forward(a->hN_.data<float>(), a->rstdN_.data<float>(),
                          a->residual_.back().data<float>(), N);
    }
    a->logits_ = Tensor::Uninitialized({N, config_.vocab_size});
    OpTimer timer("lm_head");
    kc::LinearForward(a->logits_.data<float>(), a->hN_.data<float>(), arena_.param(lm_head_), N,
                      C, config_.vocab_size);
    if (!keep) {
      a->hN_ = Tensor();
      a->rstdN_ = Tensor();
      a->residual_.clear();
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ForwardResult> DeepseekV2Model::StageForward(Activations* a, const int32_t* tokens,
                                                            const float* hidden_in,
                                                            const int32_t* targets, int64_t B,
                                                            int64_t T, const int32_t* positions,
                                                            std::optional<float> backward_ce_scale) {
  const int64_t N = B * T, V = config_.vocab_size;
  if (has_head()) {
    if (targets == nullptr) return absl::InvalidArgumentError("the last stage needs targets");
    for (int64_t i = 0; i < N; ++i) {
      if (targets[i] >= V) {
        return absl::InvalidArgumentError(absl::StrCat(
            "target token[", i, "] = ", targets[i], " is outside the vocabulary [0, ", V, ")"));
      }
    }
  }
  HS_RETURN_IF_ERROR(ForwardTrunk(a, tokens, hidden_in, B, T, positions));
  ForwardResult r;
  if (has_head()) {
    OpPhaseScope phase(OpPhase::kForward);
    OpLayerScope layer(kOpLayerHead);
    OpTimer timer("cross_entropy");
    a->targets_ = Tensor::Empty({N}, DType::kI32);
    std::memcpy(a->targets_.data<int32_t>(), targets, N * sizeof(int32_t));
    Tensor losses = Tensor::Uninitialized({N});
    if (options_.count_correct_tokens) {
      // Before a fused backward below writes the gradient over the logits.
      r.correct_tokens = CountArgmaxHits(a->logits_.data<float>(), targets, N, V);
    }
    a->ce_grad_scale_ = backward_ce_scale;
    if (backward_ce_scale) {
      r.valid_tokens = kc::CrossEntropyForwardBackward(
          losses.data<float>(), a->logits_.data<float>(), targets, N, V, *backward_ce_scale);
    } else {
      a->ce_stats_ = Tensor::Uninitialized({N, 2});
      r.valid_tokens = kc::CrossEntropyForward(losses.data<float>(), CeStats(a->ce_stats_),
                                               a->logits_.data<float>(), targets, N, V);
    }
    const float* l = losses.data<float>();
    for (int64_t i = 0; i < N; ++i) r.ce_sum += l[i];
    r.row_ce_sum.assign(B, 0.0);
    for (int64_t b = 0; b < B; ++b) {
      for (int64_t t = 0; t < T; ++t) r.row_ce_sum[b] += l[b * T + t];
    }
  }
  for (const BlockSaved& s : a->saved_) r.aux_loss += s.aux_loss;
  return r;
}

absl::StatusOr<ForwardResult> DeepseekV2Model::Forward(const int32_t* tokens,
                                                       const int32_t* targets, int64_t B,
                                                       int64_t T, const int32_t* positions,
                                                       std::optional<float> backward_ce_scale) {
  if (!has_embedding() || !has_head()) {
    return absl::FailedPreconditionError("Forward needs the whole model; use StageForward");
  }
  return StageForward(&act_, tokens, nullptr, targets, B, T, positions, backward_ce_scale);
}

absl::StatusOr<Tensor> DeepseekV2Model::ForwardLogits(const int32_t* tokens, int64_t B,
                                                      int64_t T, const int32_t* positions) {
  if (!has_embedding() || !has_head()) {
    return absl::FailedPreconditionError("ForwardLogits needs the whole model");
  }
  Activations a;
  HS_RETURN_IF_ERROR(ForwardTrunk(&a, tokens, nullptr, B, T, positions));
  return a.logits_;
}

absl::Status DeepseekV2Model::Backward(float ce_scale, float aux_scale,
                                       const GradReadyHook& on_ready,
                                       const float* token_weights) {
  return StageBackward(&act_, nullptr, ce_scale, aux_scale, on_ready, token_weights);
}

absl::Status DeepseekV2Model::StageBackward(Activations* a, const float* dhidden_out,
                                            float ce_scale, float aux_scale,
                                            const GradReadyHook& on_ready,
                                            const float* token_weights) {
  if (options_.for_inference) {
    return absl::FailedPreconditionError(
        "Backward on a model created for inference (it has no gradients)");
  }
  if (a->residual_.empty()) return absl::FailedPreconditionError("Backward without a Forward");
  const int64_t N = a->B_ * a->T_, C = config_.hidden_size, V = config_.vocab_size;
  OpPhaseScope phase(OpPhase::kBackward);
  Tensor dres = Tensor::Empty({N, C});
  if (has_head()) {
    if (!a->logits_.defined()) return absl::FailedPreconditionError("Backward without a Forward");
    OpLayerScope layer(kOpLayerHead);
    std::optional<OpTimer> timer;
    // ---- head: dlogits in place of the logits, then lm_head and final norm
    float* dlogits = a->logits_.data<float>();
    if (a->ce_grad_scale_) {
      // The forward wrote the gradient already; it must be this one.
      if (*a->ce_grad_scale_ != ce_scale || token_weights != nullptr) {
        return absl::FailedPreconditionError(absl::StrCat(
            "Backward(ce_scale ", ce_scale, token_weights ? ", token weights" : "",
            ") after a Forward that wrote the gradient at ce_scale ", *a->ce_grad_scale_,
            " without token weights"));
      }
    } else {
      timer.emplace("cross_entropy");
      kc::CrossEntropyBackward(dlogits, dlogits, CeStats(a->ce_stats_),
                               a->targets_.data<int32_t>(), N, V, ce_scale, token_weights);
    }
    timer.emplace("lm_head");
    Tensor dhN = Tensor::Uninitialized({N, C});
    kc::LinearBackward(dhN.data<float>(), /*accumulate_dinp=*/false, arena_.grad(lm_head_),
                       dlogits, a->hN_.data<float>(), arena_.param(lm_head_), N, C, V);
    a->logits_ = Tensor();
    timer.emplace("rms_norm");
    final_norm_.Backward(dres.data<float>(), dhN.data<float>(), a->residual_.back().data<float>(),
                         a->rstdN_.data<float>(), N);
    timer.reset();
    if (on_ready) on_ready(lm_head_begin_, arena_.size());
  } else {
    if (dhidden_out == nullptr) return absl::InvalidArgumentError("a non-last stage needs dhidden_out");
    std::memcpy(dres.data<float>(), dhidden_out, N * C * sizeof(float));
  }
  // ---- blocks in reverse
  Tensor dprev = Tensor::Uninitialized({N, C});
  for (int64_t i = int64_t(blocks_.size()) - 1; i >= 0; --i) {
    OpLayerScope layer(first_layer_ + i);
    HS_RETURN_IF_ERROR(Annotate(
        blocks_[i]->Backward(dprev.data<float>(), dres.data<float>(),
                             a->residual_[i].data<float>(), a->B_, a->T_, rope_, aux_scale,
                             &a->saved_[i],
                             a->positions_.defined() ? a->positions_.data<int32_t>() : nullptr),
        "layer ", first_layer_ + i, " backward"));
    std::swap(dprev, dres);
    if (on_ready) on_ready(blocks_[i]->param_begin(), blocks_[i]->param_end());
  }
  if (has_embedding()) {
    OpLayerScope layer(kOpLayerEmbed);
    {
      OpTimer timer("embedding");
      kc::EmbeddingBackward(arena_.grad(embed_), a->tokens_.data<int32_t>(), dres.data<float>(),
                            N, C);
    }
    if (on_ready) on_ready(0, arena_.spec(embed_).numel);
  } else {
    a->dinput_ = dres;
  }
  a->residual_.clear();
  a->hN_ = Tensor();
  a->ce_stats_ = Tensor();
  a->ce_grad_scale_.reset();
  a->positions_ = Tensor();
  return absl::OkStatus();
}

std::vector<int64_t> DeepseekV2Model::ExpertLoad(const Activations& a) const {
  std::vector<int64_t> load(config_.n_routed_experts, 0);
  for (const BlockSaved& s : a.saved_) {
    for (size_t e = 0; e < s.moe.expert_load.size() && e < load.size(); ++e)
      load[e] += s.moe.expert_load[e];
  }
  return load;
}

double DeepseekV2Model::ForwardFlopsPerToken(int64_t T) const {
  double flops = has_head() ? 2.0 * double(config_.hidden_size) * config_.vocab_size : 0.0;
  for (const auto& b : blocks_) flops += b->FlopsPerToken(T);
  return flops;
}

}  // namespace hs::models
