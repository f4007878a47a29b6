// Generation: greedy output equals argmax over full forwards of the growing
// sequence; batched (continuous batching) equals one prompt at a time,
// greedy and sampled; determinism for a seed; a batch split over callers
// (first_stream); lockstep steps; stop tokens, stop callbacks and the
// length limit; clear errors.
#include "models/decode/generator.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/decode/test_util.h"

namespace hs::models::decode {
namespace {

// Vocabulary 41, context 48, larger weights so samples vary.
DeepseekV2Config MoeConfig() {
  DeepseekV2Config c = TinyMoeConfig(2);
  c.initializer_range = 0.3;
  c.max_position_embeddings = 48;
  return c;
}

std::vector<std::vector<int32_t>> Prompts() {
  std::vector<std::vector<int32_t>> p;
  for (int64_t len : {3, 7, 1, 5, 2}) p.push_back(RandomTokens(len, 41, 9, p.size()));
  return p;
}

class GeneratorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto m = DeepseekV2Model::Create(MoeConfig(), {.seed = 4});
    ASSERT_TRUE(m.ok()) << m.status();
    model_ = std::move(*m);
  }
  std::vector<Generation> Run(const GenerationOptions& o,
                              const std::vector<std::vector<int32_t>>& prompts = Prompts(),
                              const TokenCallback& cb = nullptr) {
    auto g = Generate(model_.get(), prompts, o, cb);
    EXPECT_TRUE(g.ok()) << g.status();
    return g.ok() ? *g : std::vector<Generation>();
  }
  std::unique_ptr<DeepseekV2Model> model_;
};

TEST_F(GeneratorTest, GreedyEqualsArgmaxOfFullForwards) {
  const auto prompts = Prompts();
  const auto gens = Run({.max_new_tokens = 6, .batch = 2});
  ASSERT_EQ(gens.size(), prompts.size());
  for (size_t r = 0; r < prompts.size(); ++r) {
    std::vector<int32_t> seq = prompts[r];
    for (int step = 0; step < 6; ++step) {
      const int64_t T = int64_t(seq.size());
      auto logits = model_->ForwardLogits(seq.data(), 1, T);
      ASSERT_TRUE(logits.ok());
      seq.push_back(Argmax(logits->data<float>() + (T - 1) * 41, 41));
    }
    EXPECT_EQ(gens[r].tokens, std::vector<int32_t>(seq.begin() + prompts[r].size(), seq.end()))
        << "prompt " << r;
    EXPECT_EQ(gens[r].finish, FinishReason::kLength);
  }
}

TEST_F(GeneratorTest, BatchedEqualsOneAtATime) {
  for (double temperature : {0.0, 0.9}) {
    GenerationOptions o{.max_new_tokens = 8,
                        .sampling = {.temperature = temperature, .top_k = 20, .top_p = 0.95},
                        .seed = 17};
    o.batch = 1;
    const auto alone = Run(o);
    o.batch = 3;  // 5 prompts through 3 slots: later prompts join mid-way
    const auto together = Run(o);
    o.batch = 16;
    const auto all = Run(o);
    for (size_t r = 0; r < alone.size(); ++r) {
      EXPECT_EQ(together[r].tokens, alone[r].tokens) << "T " << temperature << " prompt " << r;
      EXPECT_EQ(all[r].tokens, alone[r].tokens) << "T " << temperature << " prompt " << r;
    }
  }
}

TEST_F(GeneratorTest, DeterministicForASeed) {
  GenerationOptions o{.max_new_tokens = 12, .sampling = {.temperature = 1.5}, .seed = 5,
                      .batch = 2};
  const auto a = Run(o), b = Run(o);
  o.seed = 6;
  const auto c = Run(o);
  int differ = 0;
  for (size_t r = 0; r < a.size(); ++r) {
    EXPECT_EQ(a[r].tokens, b[r].tokens);
    differ += a[r].tokens != c[r].tokens;
  }
  EXPECT_GT(differ, 0) << "another seed should change some samples";
}

TEST_F(GeneratorTest, FirstStreamSplitsABatchOverCallers) {
  // Prompts 2..4 generated alone with first_stream 2 sample what they
  // sample as part of the whole list.
  GenerationOptions o{.max_new_tokens = 8, .sampling = {.temperature = 1.2}, .seed = 3,
                      .batch = 2};
  const auto all = Run(o);
  const auto prompts = Prompts();
  o.first_stream = 2;
  const auto tail = Run(o, {prompts.begin() + 2, prompts.end()});
  ASSERT_EQ(tail.size(), 3u);
  for (size_t r = 0; r < tail.size(); ++r) EXPECT_EQ(tail[r].tokens, all[r + 2].tokens) << r;
}

TEST_F(GeneratorTest, LockstepKeepsSteppingWhileOthersWork) {
  // A stand-in for the other processes: they need 5 more steps after this
  // one is done. The outputs do not change; the model steps until then.
  GenerationOptions o{.max_new_tokens = 6, .sampling = {.temperature = 0.8}, .seed = 9,
                      .batch = 2};
  const auto alone = Run(o);
  int calls = 0, idle = 0;
  o.lockstep = [&](bool has_work) -> absl::StatusOr<bool> {
    ++calls;
    if (has_work) return true;
    return ++idle <= 5;
  };
  GenerationStats stats;
  auto g = Generate(model_.get(), Prompts(), o, nullptr, &stats);
  ASSERT_TRUE(g.ok()) << g.status();
  for (size_t r = 0; r < alone.size(); ++r) EXPECT_EQ((*g)[r].tokens, alone[r].tokens) << r;
  EXPECT_EQ(idle, 6);
  EXPECT_EQ(calls, stats.steps + 6);
  o.lockstep = [](bool) -> absl::StatusOr<bool> { return absl::AbortedError("peer gone"); };
  EXPECT_EQ(Generate(model_.get(), Prompts(), o).status().code(), absl::StatusCode::kAborted);
}

TEST_F(GeneratorTest, StopsAtAStopTokenWithoutEmittingIt) {
  const auto greedy = Run({.max_new_tokens = 6});
  const std::vector<int32_t> ref = greedy[1].tokens;  // prompt 1, greedy
  // Stop at the first occurrence of its third token.
  const int32_t eos = ref[2];
  const size_t first = std::find(ref.begin(), ref.end(), eos) - ref.begin();
  const auto gens = Run({.max_new_tokens = 6, .stop_token_ids = {eos}, .batch = 3});
  EXPECT_EQ(gens[1].finish, FinishReason::kStopToken);
  EXPECT_EQ(gens[1].tokens, std::vector<int32_t>(ref.begin(), ref.begin() + first));
  // A stop token as the very first sample gives an empty output.
  const auto first_stop = Run({.max_new_tokens = 6, .stop_token_ids = {ref[0]}});
  EXPECT_TRUE(first_stop[1].tokens.empty());
  EXPECT_EQ(first_stop[1].finish, FinishReason::kStopToken);
}

TEST_F(GeneratorTest, CallbackStopsOnePromptAndSeesEveryToken) {
  std::vector<std::vector<int32_t>> seen(5);
  const auto gens = Run({.max_new_tokens = 5, .batch = 2}, Prompts(),
                        [&](int64_t r, int32_t token) {
                          seen[r].push_back(token);
                          return r == 3 && seen[r].size() == 2;
                        });
  for (int r = 0; r < 5; ++r) EXPECT_EQ(seen[r], gens[r].tokens) << r;
  EXPECT_EQ(gens[3].tokens.size(), 2u);
  EXPECT_EQ(gens[3].finish, FinishReason::kStopCallback);
  EXPECT_EQ(gens[0].tokens.size(), 5u);
  EXPECT_STREQ(FinishReasonName(gens[3].finish), "stop_string");
}

TEST_F(GeneratorTest, LengthCapsAtTheContext) {
  // 46-token prompt, context 48: two tokens fit.
  std::vector<int32_t> longp(46, 7);
  const auto gens = Run({.max_new_tokens = 10}, {longp});
  EXPECT_EQ(gens[0].tokens.size(), 2u);
  EXPECT_EQ(gens[0].finish, FinishReason::kLength);
}

TEST_F(GeneratorTest, ClearErrors) {
  auto g = Generate(model_.get(), {{1, 2}, {}}, {});
  EXPECT_NE(std::string(g.status().message()).find("prompt 1 has no tokens"), std::string::npos);
  g = Generate(model_.get(), {std::vector<int32_t>(48, 1)}, {});
  EXPECT_NE(std::string(g.status().message()).find("max_position_embeddings"), std::string::npos);
  g = Generate(model_.get(), {{1}}, {.sampling = {.top_p = 2}});
  EXPECT_NE(std::string(g.status().message()).find("--top-p"), std::string::npos);
  g = Generate(model_.get(), {{1, 99}}, {});
  EXPECT_NE(std::string(g.status().message()).find("outside the vocabulary"), std::string::npos);
}

}  // namespace
}  // namespace hs::models::decode
