// File: models/decode/incremental_decoder.cc — see incremental_decoder.h.
#include "models/decode/incremental_decoder.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/elementwise.h"
#include "models/kernels/cpu/embedding.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/rms_norm.h"

namespace hs::models::decode {

namespace kc = kernels::cpu;

absl::StatusOr<std::unique_ptr<IncrementalDecoder>> IncrementalDecoder::Create(
    DeepseekV2Model* model, const DecoderOptions& options) {
  const DeepseekV2Config& config = model->config();
  if (!model->has_embedding() || !model->has_head()) {
    return absl::FailedPreconditionError("decoding needs the whole model (one pipeline stage)");
  }
  if (config.capacity_factor > 0) {
    return absl::InvalidArgumentError(
        "decoding needs model.capacity_factor 0: inference drops no tokens");
  }
  if (options.slots < 1) return absl::InvalidArgumentError("decoder slots must be >= 1");
  const int64_t capacity =
      options.capacity > 0 ? options.capacity : config.max_position_embeddings;
  std::unique_ptr<IncrementalDecoder> d(new IncrementalDecoder());
  d->model_ = model;
  d->options_ = options;
  d->cache_ = LatentKvCache(config.num_hidden_layers, options.slots, capacity,
                            config.kv_lora_rank, config.qk_rope_head_dim);
  d->rope_ = RopeCache::Build(config, capacity);
  for (int64_t i = 0; i < model->num_blocks(); ++i) {
    d->attention_.emplace_back(model->block(i).attn(), config);
  }
  const ParamArena& arena = model->arena();
  HS_ASSIGN_OR_RETURN(ParamId embed, arena.Find("model.embed_tokens.weight"));
  HS_ASSIGN_OR_RETURN(ParamId norm, arena.Find("model.norm.weight"));
  HS_ASSIGN_OR_RETURN(ParamId head, arena.Find("lm_head.weight"));
  d->embed_ = arena.param(embed);
  d->final_norm_ = arena.param(norm);
  d->lm_head_ = arena.param(head);
  return d;
}

absl::StatusOr<Tensor> IncrementalDecoder::Step(const std::vector<SlotTokens>& inputs,
                                                bool all_logits) {
  const DeepseekV2Config& config = model_->config();
  const int64_t C = config.hidden_size, V = config.vocab_size;
  // ---- the step's rows: inputs concatenated in order
  std::vector<DecodeSegment> segs;
  std::vector<int32_t> tokens;
  std::vector<bool> seen(cache_.slots(), false);
  for (const SlotTokens& in : inputs) {
    if (in.slot < 0 || in.slot >= cache_.slots() || seen[in.slot]) {
      return absl::InvalidArgumentError(absl::StrCat(
          "decode step: slot ", in.slot, " is out of range [0, ", cache_.slots(),
          ") or given twice"));
    }
    seen[in.slot] = true;
    if (in.tokens.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("decode step: slot ", in.slot,
                                                     " has no new tokens"));
    }
    const int64_t count = int64_t(in.tokens.size());
    if (cache_.length(in.slot) + count > cache_.capacity()) {
      return absl::OutOfRangeError(absl::StrCat(
          "decode step: slot ", in.slot, " would hold ", cache_.length(in.slot) + count,
          " tokens, more than the cache capacity ", cache_.capacity()));
    }
    segs.push_back({in.slot, int64_t(tokens.size()), count});
    tokens.insert(tokens.end(), in.tokens.begin(), in.tokens.end());
  }
  const int64_t N = int64_t(tokens.size());
  if (N == 0) return absl::InvalidArgumentError("decode step without inputs");
  HS_RETURN_IF_ERROR(CheckTokenIds(tokens.data(), N, V, "decode token"));
  // ---- embedding, blocks (attention over the cache), final norm, lm_head
  Tensor x = Tensor::Uninitialized({N, C});
  Tensor y = Tensor::Uninitialized({N, C});
  kc::EmbeddingForward(x.data<float>(), tokens.data(), embed_, N, C);
  for (int64_t i = 0; i < model_->num_blocks(); ++i) {
    BlockSaved saved;
    const MlaDecode& attention = attention_[i];
    HS_RETURN_IF_ERROR(Annotate(
        model_->block(i).ForwardWithAttention(
            y.data<float>(), x.data<float>(), 1, N,
            [&](float* out, const float* h1) {
              attention.Forward(out, h1, N, segs, rope_, i, &cache_, options_.mode);
            },
            &saved),
        "decode layer ", i));
    std::swap(x, y);
  }
  for (const DecodeSegment& g : segs) cache_.set_length(g.slot, cache_.length(g.slot) + g.count);
  const int64_t M = all_logits ? N : int64_t(segs.size());
  Tensor last;
  const float* rows = x.data<float>();
  if (!all_logits) {
    last = Tensor::Uninitialized({M, C});
    for (int64_t s = 0; s < M; ++s) {
      std::memcpy(last.data<float>() + s * C,
                  x.data<float>() + (segs[s].row + segs[s].count - 1) * C, C * sizeof(float));
    }
    rows = last.data<float>();
  }
  Tensor hN = Tensor::Uninitialized({M, C});
  Tensor rstd = Tensor::Uninitialized({M});
  kc::RmsNormForward(hN.data<float>(), rstd.data<float>(), rows, final_norm_, M, C,
                     float(config.rms_norm_eps));
  Tensor logits = Tensor::Uninitialized({M, V});
  kc::LinearForward(logits.data<float>(), hN.data<float>(), lm_head_, M, C, V);
  return logits;
}

}  // namespace hs::models::decode
