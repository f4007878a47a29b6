// File: models/decode/incremental_decoder.h
//
// IncrementalDecoder: DeepseekV2Model run token by token over a
// LatentKvCache. A step takes new tokens for any set of sequence slots —
// a whole prompt (prefill) for one, one sampled token for another — runs
// them through the model's own blocks (norms, residuals, MLP, MoE gating
// and ExpertDispatcher are the training code's; only attention is replaced
// by MlaDecode over the cache) and returns next-token logits.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto dec, IncrementalDecoder::Create(model.get(), {.slots = 4,
//                                                                         .capacity = 512}));
//   HS_ASSIGN_OR_RETURN(Tensor logits, dec->Step({{0, prompt}}));   // [1, V]
//   HS_ASSIGN_OR_RETURN(logits, dec->Step({{0, {next}}}));
#ifndef MODELS_DECODE_INCREMENTAL_DECODER_H_
#define MODELS_DECODE_INCREMENTAL_DECODER_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "haiscale/tensor.h"
#include "models/decode/latent_kv_cache.h"
#include "models/decode/mla_decode.h"
#include "models/deepseek_v2.h"

namespace hs::models::decode {

struct DecoderOptions {
  int64_t slots = 1;      // sequences decoded at once
  int64_t capacity = 0;   // tokens per sequence (0: max_position_embeddings)
  AttentionMode mode = AttentionMode::kAbsorbed;
};

// SlotTokens: new tokens appended to one slot's sequence.
struct SlotTokens {
  int64_t slot = 0;
  absl::Span<const int32_t> tokens;
};

class IncrementalDecoder {
 public:
  // `model` (the whole model: embedding to lm_head) must outlive the decoder.
  static absl::StatusOr<std::unique_ptr<IncrementalDecoder>> Create(DeepseekV2Model* model,
                                                                    const DecoderOptions& options);

  // Step: appends each input's tokens to its slot (distinct slots) and
  // returns logits (=): [inputs, V] for the last new token of each input in
  // order, or with all_logits [total new tokens, V] in input order.
  absl::StatusOr<Tensor> Step(const std::vector<SlotTokens>& inputs, bool all_logits = false);

  // Reset(slot): forget the slot's sequence (it starts again at position 0).
  void Reset(int64_t slot) { cache_.Reset(slot); }
  int64_t length(int64_t slot) const { return cache_.length(slot); }
  const LatentKvCache& cache() const { return cache_; }
  const DeepseekV2Config& config() const { return model_->config(); }

 private:
  IncrementalDecoder() = default;
  // Step after the checks: the step's tokens in input order, its segments.
  absl::StatusOr<Tensor> Run(const std::vector<int32_t>& tokens,
                             const std::vector<DecodeSegment>& segs, bool all_logits);

  // Steps under this many multiply-adds run on one thread: a few
  // milliseconds of fp32 work, about what the fork/join of a step's ~10
  // parallel regions per layer costs when the cores are shared.
  static constexpr double kSerialStepMacs = 16e6;

  DeepseekV2Model* model_ = nullptr;
  DecoderOptions options_;
  LatentKvCache cache_;
  RopeCache rope_;
  std::vector<MlaDecode> attention_;  // one per layer
  const float* embed_ = nullptr;
  const float* final_norm_ = nullptr;
  const float* lm_head_ = nullptr;
  double macs_per_token_ = 0;
};

}  // namespace hs::models::decode

#endif  // MODELS_DECODE_INCREMENTAL_DECODER_H_
