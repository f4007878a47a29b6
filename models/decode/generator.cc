// File: models/decode/generator.cc — see generator.h.
#include "models/decode/generator.h"

#include <algorithm>
#include <chrono>
#include <deque>

#include "absl/strings/str_cat.h"
#include "haiscale/rng.h"
#include "haiscale/status.h"
#include "models/decode/incremental_decoder.h"

namespace hs::models::decode {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStopToken:
      return "stop";
    case FinishReason::kStopCallback:
      return "stop_string";
    case FinishReason::kLength:
      return "length";
  }
  return "length";
}

namespace {

struct Active {
  int64_t prompt = -1;     // index into prompts; -1: slot free
  bool prefilled = false;  // the prompt is in the cache
  int32_t next = 0;        // the last sampled token, fed in the next step
  int64_t limit = 0;       // most tokens this prompt may generate
};

}  // namespace

absl::StatusOr<std::vector<Generation>> Generate(DeepseekV2Model* model,
                                                 const std::vector<std::vector<int32_t>>& prompts,
                                                 const GenerationOptions& options,
                                                 const TokenCallback& on_token,
                                                 GenerationStats* stats) {
  HS_RETURN_IF_ERROR(CheckSamplingParams(options.sampling));
  if (options.max_new_tokens < 1) {
    return absl::InvalidArgumentError("--max-new-tokens must be >= 1");
  }
  const DeepseekV2Config& config = model->config();
  const int64_t max_pos = config.max_position_embeddings;
  int64_t longest = 0;
  for (size_t r = 0; r < prompts.size(); ++r) {
    if (prompts[r].empty()) {
      return absl::InvalidArgumentError(absl::StrCat("prompt ", r, " has no tokens"));
    }
    if (int64_t(prompts[r].size()) >= max_pos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "prompt ", r, " has ", prompts[r].size(), " tokens; the model's context is ", max_pos,
          " (max_position_embeddings) and generation needs at least one more"));
    }
    longest = std::max(longest, int64_t(prompts[r].size()));
  }
  std::vector<Generation> out(prompts.size());
  if (prompts.empty()) {
    if (options.lockstep) return absl::InvalidArgumentError("lockstep generation needs a prompt");
    return out;
  }
  const int64_t slots = std::clamp<int64_t>(options.batch, 1, int64_t(prompts.size()));
  const int64_t capacity = std::min(longest + options.max_new_tokens, max_pos);
  // Lockstep: one more cache slot, for the steps this process only keeps
  // the others company in.
  const int64_t idle_slot = slots;
  HS_ASSIGN_OR_RETURN(auto decoder, IncrementalDecoder::Create(
                                        model, {.slots = slots + (options.lockstep ? 1 : 0),
                                                .capacity = capacity, .mode = options.mode}));
  GenerationStats st;
  std::deque<int64_t> pending;
  for (size_t r = 0; r < prompts.size(); ++r) pending.push_back(int64_t(r));
  std::vector<Active> active(slots);
  const uint64_t stream0 = StreamId("generate") + options.first_stream;
  const int64_t V = config.vocab_size;
  for (;;) {
    // Admit waiting prompts into free slots.
    for (int64_t s = 0; s < slots && !pending.empty(); ++s) {
      if (active[s].prompt >= 0) continue;
      const int64_t r = pending.front();
      pending.pop_front();
      decoder->Reset(s);
      active[s] = {r, false, 0,
                   std::min(options.max_new_tokens, capacity - int64_t(prompts[r].size()))};
    }
    std::vector<SlotTokens> inputs;
    std::vector<int64_t> input_slot;
    bool has_prompt = false;
    for (int64_t s = 0; s < slots; ++s) {
      Active& a = active[s];
      if (a.prompt < 0) continue;
      if (!a.prefilled) {
        inputs.push_back({s, prompts[a.prompt]});
        st.prompt_tokens += int64_t(prompts[a.prompt].size());
        has_prompt = true;
      } else {
        inputs.push_back({s, absl::MakeConstSpan(&a.next, 1)});
      }
      input_slot.push_back(s);
    }
    if (options.lockstep) {
      HS_ASSIGN_OR_RETURN(const bool anyone, options.lockstep(!inputs.empty()));
      if (!anyone) break;
      if (inputs.empty()) {
        // Nothing of ours left: a one-token sequence in the spare slot takes
        // this process through the step's expert exchanges.
        static const int32_t kIdleToken = 0;
        decoder->Reset(idle_slot);
        HS_RETURN_IF_ERROR(
            decoder->Step({{idle_slot, absl::MakeConstSpan(&kIdleToken, 1)}}).status());
        continue;
      }
    } else if (inputs.empty()) {
      break;
    }
    const auto t0 = std::chrono::steady_clock::now();
    HS_ASSIGN_OR_RETURN(Tensor logits, decoder->Step(inputs));
    const int64_t n = int64_t(inputs.size());
    std::vector<float> u(n);
    for (int64_t i = 0; i < n; ++i) {
      const Active& a = active[input_slot[i]];
      u[i] = Philox(options.seed, stream0 + uint64_t(a.prompt))
                 .Uniform(uint64_t(out[a.prompt].tokens.size()));
    }
    std::vector<int32_t> sampled(n);
    SampleTokens(sampled.data(), logits.data<float>(), n, V, options.sampling, u.data());
    const double dt =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    (has_prompt ? st.prefill_seconds : st.decode_seconds) += dt;
    if (!has_prompt) st.decode_tokens += n;
    ++st.steps;
    st.generated_tokens += n;
    for (int64_t i = 0; i < n; ++i) {
      Active& a = active[input_slot[i]];
      Generation& g = out[a.prompt];
      a.prefilled = true;
      a.next = sampled[i];
      bool done = false;
      if (std::find(options.stop_token_ids.begin(), options.stop_token_ids.end(), sampled[i]) !=
          options.stop_token_ids.end()) {
        g.finish = FinishReason::kStopToken;
        done = true;
      } else {
        g.tokens.push_back(sampled[i]);
        if (on_token && on_token(a.prompt, sampled[i])) {
          g.finish = FinishReason::kStopCallback;
          done = true;
        } else if (int64_t(g.tokens.size()) >= a.limit) {
          g.finish = FinishReason::kLength;
          done = true;
        }
      }
      if (done) a.prompt = -1;
    }
  }
  if (stats != nullptr) *stats = st;
  return out;
}

}  // namespace hs::models::decode
