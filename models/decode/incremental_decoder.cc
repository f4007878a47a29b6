// File: models/decode/incremental_decoder.cc — see incremental_decoder.h.
#include "models/decode/incremental_decoder.h"

#include <cblas.h>
#include <omp.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/status.h"
#include "models/kernels/cpu/elementwise.h"
#include "models/kernels/cpu/embedding.h"
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/rms_norm.h"

namespace hs::models::decode {

namespace kc = kernels::cpu;

namespace {

// LmHead: logits[M,V] = h[M,C] lm_head[V,C]^T. For a few rows, one GEMV per
// row: a GEMM would first copy (pack) the whole [V,C] matrix for them.
void LmHead(float* logits, const float* h, const float* w, int64_t M, int64_t C, int64_t V) {
  constexpr int64_t kGemvRows = 4;
  if (M > kGemvRows) {
    kc::LinearForward(logits, h, w, M, C, V);
    return;
  }
  for (int64_t m = 0; m < M; ++m) {
    cblas_sgemv(CblasRowMajor, CblasNoTrans, int(V), int(C), 1.0f, w, int(C), h + m * C, 1, 0.0f,
                logits + m * V, 1);
  }
}

// Multiply-adds of one token through the weights it touches (embedding
// lookup aside): attention projections, MLP or shared + K routed experts,
// lm_head.
double MacsPerToken(const DeepseekV2Config& c) {
  const double C = double(c.hidden_size), H = double(c.num_attention_heads);
  const double Dq = double(c.q_head_dim()), L = double(c.kv_lora_rank);
  double macs = C * double(c.vocab_size);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    macs += (c.q_lora_rank > 0 ? C * c.q_lora_rank + double(c.q_lora_rank) * H * Dq : C * H * Dq) +
            C * (L + c.qk_rope_head_dim) + L * H * (c.qk_nope_head_dim + c.v_head_dim) +
            H * c.v_head_dim * C;
    macs += c.IsMoeLayer(i) ? 3.0 * C * c.moe_intermediate_size *
                                  double(c.num_experts_per_tok + c.n_shared_experts) + C * c.n_routed_experts
                            : 3.0 * C * c.intermediate_size;
  }
  return macs;
}

}  // namespace

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
  // The whole cache is allocated up front: refuse one the machine cannot hold.
  const double cache_bytes =
      double(LatentCacheBytesPerToken(config)) * double(options.slots) * double(capacity);
  const double memory_bytes = double(sysconf(_SC_PHYS_PAGES)) * double(sysconf(_SC_PAGE_SIZE));
  if (cache_bytes > memory_bytes) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the KV cache for %d sequences of %d tokens needs %.1f GiB (%d B per token), more than "
        "the machine's %.1f GiB of memory: lower --batch or --max-new-tokens",
        options.slots, capacity, cache_bytes / (1 << 30), LatentCacheBytesPerToken(config),
        memory_bytes / (1 << 30)));
  }
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
  d->macs_per_token_ = MacsPerToken(config);
  return d;
}

absl::StatusOr<Tensor> IncrementalDecoder::Step(const std::vector<SlotTokens>& inputs,
                                                bool all_logits) {
  const DeepseekV2Config& config = model_->config();
  const int64_t V = config.vocab_size;
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
  // A step this small is dominated by the fork/join of its ~10 parallel
  // regions per layer, not by arithmetic: run it on one thread.
  const int threads = omp_get_max_threads();
  const bool serial = double(N) * macs_per_token_ < kSerialStepMacs && threads > 1;
  if (serial) omp_set_num_threads(1);
  absl::StatusOr<Tensor> logits = Run(tokens, segs, all_logits);
  if (serial) omp_set_num_threads(threads);
  return logits;
}

absl::StatusOr<Tensor> IncrementalDecoder::Run(const std::vector<int32_t>& tokens,
                                               const std::vector<DecodeSegment>& segs,
                                               bool all_logits) {
  const DeepseekV2Config& config = model_->config();
  const int64_t C = config.hidden_size, V = config.vocab_size, N = int64_t(tokens.size());
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
  LmHead(logits.data<float>(), hN.data<float>(), lm_head_, M, C, V);
  return logits;
}

}  // namespace hs::models::decode
