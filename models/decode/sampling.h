// File: models/decode/sampling.h
//
// Next-token sampling from logits: greedy, or temperature, then top-k, then
// top-p (nucleus) filtering — Hugging Face generate()'s warper order — and
// an inverse-CDF draw with a uniform number the caller supplies (from the
// counter-based Philox RNG: a pure function of seed, sequence and step, so
// sampling is deterministic for a seed and independent of batching).
//
//   p_i   = softmax(logits / temperature)
//   top-k : keep the k most probable tokens
//   top-p : keep the most probable tokens while the mass of those before
//           them is < top_p (the token that crosses top_p is kept; at least
//           one token always is)
//   then renormalise the kept tokens and draw.
// Ties order by token id (lower first), so the result never depends on the
// sort implementation.
#ifndef MODELS_DECODE_SAMPLING_H_
#define MODELS_DECODE_SAMPLING_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"

namespace hs::models::decode {

struct SamplingParams {
  double temperature = 0.0;  // 0: greedy (argmax)
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
};

// CheckSamplingParams: temperature >= 0, top_k >= 0, 0 < top_p <= 1.
absl::Status CheckSamplingParams(const SamplingParams& params);

// The kept tokens, most probable first, with renormalised probabilities.
struct Candidates {
  std::vector<int32_t> ids;
  std::vector<double> probs;
};

// FilteredDistribution: temperature, top-k and top-p over logits[V]
// (temperature > 0).
Candidates FilteredDistribution(const float* logits, int64_t V, const SamplingParams& params);

// Argmax: the highest logit (lowest id among equals).
int32_t Argmax(const float* logits, int64_t V);

// SampleToken: Argmax when temperature == 0, else the candidate at which the
// cumulative probability first exceeds `u` in [0, 1), walking the
// candidates most probable first — or, with neither top-k nor top-p, the
// whole vocabulary in id order (the same distribution without a sort of V).
int32_t SampleToken(const float* logits, int64_t V, const SamplingParams& params, float u);

// SampleTokens: one token per row of logits[B, V] with uniforms u[B] (rows
// run in parallel).
void SampleTokens(int32_t* out, const float* logits, int64_t B, int64_t V,
                  const SamplingParams& params, const float* u);

}  // namespace hs::models::decode

#endif  // MODELS_DECODE_SAMPLING_H_
