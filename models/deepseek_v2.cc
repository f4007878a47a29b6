// File: models/deepseek_v2.cc — see deepseek_v2.h.
#include "models/deepseek_v2.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/cross_entropy.h"
#include "models/kernels/cpu/embedding.h"
#include "models/kernels/cpu/gemm.h"

namespace hs::models {

namespace kc = kernels::cpu;

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
  HS_RETURN_IF_ERROR(CheckModelConfig(config));
  std::unique_ptr<DeepseekV2Model> m(new DeepseekV2Model(config, options));
  ExpertDispatcher* dispatcher = options.dispatcher;
  if (dispatcher == nullptr && config.n_routed_experts > 0) {
    m->owned_dispatcher_ = std::make_unique<LocalExpertDispatcher>(config.n_routed_experts);
    dispatcher = m->owned_dispatcher_.get();
  }
  const float std = float(config.initializer_range);
  const int64_t C = config.hidden_size, V = config.vocab_size;
  m->embed_ = m->arena_.Add("model.embed_tokens.weight", {V, C}, ParamInit::Normal(std));
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    m->blocks_.push_back(std::make_unique<DecoderBlock>(m->arena_, i, config, dispatcher));
  }
  m->lm_head_begin_ = m->arena_.size();
  m->final_norm_ = RmsNorm(m->arena_, "model.norm", C, float(config.rms_norm_eps));
  m->lm_head_ = m->arena_.Add("lm_head.weight", {V, C}, ParamInit::Normal(std));
  HS_RETURN_IF_ERROR(m->arena_.Allocate());
  m->arena_.Initialize(options.seed);
  m->recompute_.assign(config.num_hidden_layers, options.recompute_all);
  for (int64_t l : options.recompute_layers) {
    if (l < 0 || l >= config.num_hidden_layers) {
      return absl::InvalidArgumentError(absl::StrCat(
          "train.recompute_layers: layer ", l, " does not exist (model has ",
          config.num_hidden_layers, ")"));
    }
    m->recompute_[l] = true;
  }
  int64_t max_T = options.max_seq_len > 0 ? options.max_seq_len
                                          : config.max_position_embeddings;
  m->rope_ = RopeCache::Build(config, max_T);
  m->saved_.resize(config.num_hidden_layers);
  return m;
}

absl::Status DeepseekV2Model::ForwardTrunk(const int32_t* tokens, int64_t B,
                                           int64_t T) {
  if (T > rope_.max_T) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sequence length ", T, " exceeds the RoPE table (", rope_.max_T, ")"));
  }
  const int64_t N = B * T, C = config_.hidden_size;
  HS_RETURN_IF_ERROR(CheckTokenIds(tokens, N, config_.vocab_size, "input token"));
  B_ = B;
  T_ = T;
  tokens_ = Tensor::Empty({N}, DType::kI32);
  std::memcpy(tokens_.data<int32_t>(), tokens, N * sizeof(int32_t));
  residual_.resize(blocks_.size() + 1);
  for (auto& r : residual_) {
    if (!r.defined() || r.dim(0) != N) r = Tensor::Empty({N, C});
  }
  kc::EmbeddingForward(residual_[0].data<float>(), tokens, arena_.param(embed_), N, C);
  for (size_t i = 0; i < blocks_.size(); ++i) {
    HS_RETURN_IF_ERROR(Annotate(
        blocks_[i]->Forward(residual_[i + 1].data<float>(), residual_[i].data<float>(),
                            B, T, rope_, recompute_[i], &saved_[i]),
        "layer ", i));
  }
  hN_ = Tensor::Empty({N, C});
  rstdN_ = Tensor::Empty({N});
  final_norm_.Forward(hN_.data<float>(), rstdN_.data<float>(),
                      residual_.back().data<float>(), N);
  logits_ = Tensor::Empty({N, config_.vocab_size});
  kc::LinearForward(logits_.data<float>(), hN_.data<float>(), arena_.param(lm_head_),
                    N, C, config_.vocab_size);
  return absl::OkStatus();
}

absl::StatusOr<ForwardResult> DeepseekV2Model::Forward(const int32_t* tokens,
                                                       const int32_t* targets,
                                                       int64_t B, int64_t T) {
  const int64_t N = B * T, V = config_.vocab_size;
  for (int64_t i = 0; i < N; ++i) {
    if (targets[i] >= V) {
      return absl::InvalidArgumentError(absl::StrCat(
          "target token[", i, "] = ", targets[i], " is outside the vocabulary [0, ", V, ")"));
    }
  }
  HS_RETURN_IF_ERROR(ForwardTrunk(tokens, B, T));
  targets_ = Tensor::Empty({N}, DType::kI32);
  std::memcpy(targets_.data<int32_t>(), targets, N * sizeof(int32_t));
  Tensor losses = Tensor::Empty({N});
  lse_ = Tensor::Empty({N});
  valid_ = kc::CrossEntropyForward(losses.data<float>(), lse_.data<float>(),
                                   logits_.data<float>(), targets, N, V);
  ForwardResult r;
  const float* l = losses.data<float>();
  for (int64_t i = 0; i < N; ++i) r.ce_sum += l[i];
  r.valid_tokens = valid_;
  for (const BlockSaved& s : saved_) r.aux_loss += s.aux_loss;
  return r;
}

absl::StatusOr<Tensor> DeepseekV2Model::ForwardLogits(const int32_t* tokens,
                                                      int64_t B, int64_t T) {
  HS_RETURN_IF_ERROR(ForwardTrunk(tokens, B, T));
  Tensor out = logits_;
  for (auto& s : saved_) s.Clear();
  logits_ = Tensor();
  return out;
}

absl::Status DeepseekV2Model::Backward(float ce_scale, float aux_scale,
                                       const GradReadyHook& on_ready) {
  if (!logits_.defined()) {
    return absl::FailedPreconditionError("Backward without a Forward");
  }
  const int64_t N = B_ * T_, C = config_.hidden_size, V = config_.vocab_size;
  // ---- head: dlogits in place of the logits, then lm_head and final norm
  float* dlogits = logits_.data<float>();
  kc::CrossEntropyBackward(dlogits, dlogits, lse_.data<float>(),
                           targets_.data<int32_t>(), N, V, ce_scale);
  Tensor dhN = Tensor::Empty({N, C});
  kc::LinearBackwardInput(dhN.data<float>(), dlogits, arena_.param(lm_head_), N, C, V);
  kc::LinearBackwardWeight(arena_.grad(lm_head_), dlogits, hN_.data<float>(), N, C, V);
  logits_ = Tensor();
  Tensor dres = Tensor::Empty({N, C});
  final_norm_.Backward(dres.data<float>(), dhN.data<float>(),
                       residual_.back().data<float>(), rstdN_.data<float>(), N);
  if (on_ready) on_ready(lm_head_begin_, arena_.size());
  // ---- blocks in reverse
  Tensor dprev = Tensor::Empty({N, C});
  for (int64_t i = int64_t(blocks_.size()) - 1; i >= 0; --i) {
    HS_RETURN_IF_ERROR(Annotate(
        blocks_[i]->Backward(dprev.data<float>(), dres.data<float>(),
                             residual_[i].data<float>(), B_, T_, rope_, aux_scale,
                             &saved_[i]),
        "layer ", i, " backward"));
    std::swap(dprev, dres);
    if (on_ready) on_ready(blocks_[i]->param_begin(), blocks_[i]->param_end());
  }
  // ---- embedding
  kc::EmbeddingBackward(arena_.grad(embed_), tokens_.data<int32_t>(),
                        dres.data<float>(), N, C);
  if (on_ready) on_ready(0, arena_.spec(embed_).numel);
  return absl::OkStatus();
}

std::vector<int64_t> DeepseekV2Model::ExpertLoad() const {
  std::vector<int64_t> load(config_.n_routed_experts, 0);
  for (const BlockSaved& s : saved_) {
    for (size_t e = 0; e < s.moe.expert_load.size() && e < load.size(); ++e)
      load[e] += s.moe.expert_load[e];
  }
  return load;
}

double DeepseekV2Model::ForwardFlopsPerToken(int64_t T) const {
  double flops = 2.0 * double(config_.hidden_size) * config_.vocab_size;  // lm_head
  for (const auto& b : blocks_) flops += b->FlopsPerToken(T);
  return flops;
}

}  // namespace hs::models
