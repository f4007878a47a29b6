// File: models/decode/generator.h
//
// Generate: batched autoregressive generation for a list of prompts with
// the IncrementalDecoder. Up to `batch` sequences decode together; when one
// finishes, the next prompt takes its cache slot and is prefilled in the
// same step as the others' next tokens (continuous batching). A sequence
// stops at a stop token (EOS; not included in its output), when the
// on_token callback says so (the CLI's stop strings), or after
// max_new_tokens (or at the cache's capacity).
//
// Determinism: the uniform for step s of prompt r is
// Philox(seed, StreamId("generate") + first_stream + r).Uniform(s), so the
// output of a prompt depends on the seed, its stream and the prompt alone —
// not on the batch size or on which other prompts run beside it.
#ifndef MODELS_DECODE_GENERATOR_H_
#define MODELS_DECODE_GENERATOR_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "models/decode/mla_decode.h"
#include "models/decode/sampling.h"
#include "models/deepseek_v2.h"

namespace hs::models::decode {

struct GenerationOptions {
  int64_t max_new_tokens = 128;
  SamplingParams sampling;
  uint64_t seed = 0;
  // Stream of prompts[0]; prompt r samples from stream first_stream + r (a
  // caller that splits one batch over processes passes each part's offset
  // and gets the samples of the whole batch).
  uint64_t first_stream = 0;
  std::vector<int32_t> stop_token_ids;  // e.g. EOS
  int64_t batch = 1;                    // sequences decoded at once
  AttentionMode mode = AttentionMode::kAbsorbed;
  // Expert parallelism: every model step exchanges tokens with the other
  // processes of the expert-parallel group, so they must all run the same
  // number of steps. When set, lockstep(has_work) is called before each
  // step with whether this process has sequences to step, and returns
  // whether any process has (e.g. an all-reduce over the group); while
  // others still work, a process with nothing left steps a one-token dummy
  // sequence in a spare cache slot and discards its output. Needs at least
  // one prompt per process.
  std::function<absl::StatusOr<bool>(bool has_work)> lockstep;
};

enum class FinishReason { kStopToken, kStopCallback, kLength };
const char* FinishReasonName(FinishReason reason);  // "stop", "stop_string", "length"

struct Generation {
  std::vector<int32_t> tokens;  // generated tokens (the stop token excluded)
  FinishReason finish = FinishReason::kLength;
};

// Step statistics for benchmarks and the CLI's summary line.
struct GenerationStats {
  int64_t prompt_tokens = 0;
  int64_t generated_tokens = 0;  // sampled tokens, stop tokens included
  int64_t steps = 0;
  double prefill_seconds = 0;    // steps that held a prompt
  double decode_seconds = 0;     // steps of single tokens only
  int64_t decode_tokens = 0;     // tokens sampled in those steps
};

// TokenCallback(prompt index, token): called for every generated token
// (not for stop tokens), in step order; return true to finish that prompt
// here (the token stays in its output).
using TokenCallback = std::function<bool(int64_t prompt, int32_t token)>;

// Generate: one Generation per prompt (each prompt needs >= 1 token).
absl::StatusOr<std::vector<Generation>> Generate(DeepseekV2Model* model,
                                                 const std::vector<std::vector<int32_t>>& prompts,
                                                 const GenerationOptions& options,
                                                 const TokenCallback& on_token = nullptr,
                                                 GenerationStats* stats = nullptr);

}  // namespace hs::models::decode

#endif  // MODELS_DECODE_GENERATOR_H_
