// Incremental decoding over the latent cache against the training forward
// over the whole sequence: same logits (1e-5 relative, fp32) for a dense
// model without q_lora and a MoE model with q_lora and YaRN RoPE, with and
// without absorbed up-projections, prefill whole or in chunks; several
// sequences in one step equal each decoded alone; clear errors.
#include "models/decode/incremental_decoder.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/decode/test_util.h"

namespace hs::models::decode {
namespace {

DeepseekV2Config DenseConfig() { return TinyDenseConfig(); }

DeepseekV2Config MoeYarnConfig() {
  DeepseekV2Config c = TinyMoeConfig(3);
  c.rope_scaling.yarn = true;
  c.rope_scaling.factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 16;
  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 0.8;
  return c;
}

// Max |a - b| over max |b|.
double RelativeError(const float* a, const float* b, int64_t n) {
  double diff = 0, ref = 0;
  for (int64_t i = 0; i < n; ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    ref = std::max(ref, double(std::fabs(b[i])));
  }
  return diff / ref;
}

struct Case {
  std::string name;
  DeepseekV2Config config;
  AttentionMode mode;
};

class IncrementalMatchesFullTest : public ::testing::TestWithParam<Case> {};

TEST_P(IncrementalMatchesFullTest, PrefillThenOneTokenAtATime) {
  const Case& c = GetParam();
  auto model = DeepseekV2Model::Create(c.config, {.seed = 7});
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t T = 20, V = c.config.vocab_size;
  const std::vector<int32_t> seq = RandomTokens(T, V, 3);
  auto full = (*model)->ForwardLogits(seq.data(), 1, T);
  ASSERT_TRUE(full.ok()) << full.status();
  // Prefill chunks of 6 and 3 tokens (the second attends to a non-empty
  // cache), then single tokens.
  std::vector<int64_t> chunks = {6, 3};
  while (std::accumulate(chunks.begin(), chunks.end(), int64_t(0)) < T) chunks.push_back(1);
  auto dec = IncrementalDecoder::Create(model->get(), {.slots = 2, .capacity = 32, .mode = c.mode});
  ASSERT_TRUE(dec.ok()) << dec.status();
  int64_t pos = 0;
  for (int64_t n : chunks) {
    auto logits = (*dec)->Step({{1, absl::MakeConstSpan(seq.data() + pos, n)}}, true);
    ASSERT_TRUE(logits.ok()) << logits.status();
    const double err = RelativeError(logits->data<float>(), full->data<float>() + pos * V, n * V);
    EXPECT_LT(err, 1e-5) << "tokens " << pos << ".." << pos + n;
    pos += n;
  }
  EXPECT_EQ((*dec)->length(1), T);
  EXPECT_EQ((*dec)->length(0), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Models, IncrementalMatchesFullTest,
    ::testing::Values(Case{"DenseAbsorbed", DenseConfig(), AttentionMode::kAbsorbed},
                      Case{"DenseExpanded", DenseConfig(), AttentionMode::kExpanded},
                      Case{"MoeYarnAbsorbed", MoeYarnConfig(), AttentionMode::kAbsorbed},
                      Case{"MoeYarnExpanded", MoeYarnConfig(), AttentionMode::kExpanded}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(IncrementalDecoderTest, BatchedStepsEqualOneSequenceAtATime) {
  const DeepseekV2Config config = MoeYarnConfig();
  auto model = DeepseekV2Model::Create(config, {.seed = 11});
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t V = config.vocab_size;
  const std::vector<int64_t> prompt_len = {5, 1, 9};
  const int64_t steps = 4;
  std::vector<std::vector<int32_t>> seqs;
  for (int64_t s = 0; s < 3; ++s) seqs.push_back(RandomTokens(prompt_len[s] + steps, V, 20 + s));
  // Alone: one decoder per sequence.
  std::vector<std::vector<float>> alone(3);
  for (int64_t s = 0; s < 3; ++s) {
    auto dec = IncrementalDecoder::Create(model->get(), {.slots = 1, .capacity = 16});
    ASSERT_TRUE(dec.ok());
    auto l = (*dec)->Step({{0, absl::MakeConstSpan(seqs[s].data(), prompt_len[s])}});
    ASSERT_TRUE(l.ok()) << l.status();
    alone[s].insert(alone[s].end(), l->data<float>(), l->data<float>() + V);
    for (int64_t t = 0; t < steps; ++t) {
      l = (*dec)->Step({{0, absl::MakeConstSpan(seqs[s].data() + prompt_len[s] + t, 1)}});
      ASSERT_TRUE(l.ok()) << l.status();
      alone[s].insert(alone[s].end(), l->data<float>(), l->data<float>() + V);
    }
  }
  // Together: the three prompts in one step (slots in a shuffled order),
  // then one token each per step.
  auto dec = IncrementalDecoder::Create(model->get(), {.slots = 3, .capacity = 16});
  ASSERT_TRUE(dec.ok());
  const std::vector<int64_t> slot_of = {2, 0, 1};
  std::vector<std::vector<float>> together(3);
  for (int64_t t = -1; t < steps; ++t) {
    std::vector<SlotTokens> in;
    for (int64_t s = 0; s < 3; ++s) {
      if (t < 0) {
        in.push_back({slot_of[s], absl::MakeConstSpan(seqs[s].data(), prompt_len[s])});
      } else {
        in.push_back({slot_of[s], absl::MakeConstSpan(seqs[s].data() + prompt_len[s] + t, 1)});
      }
    }
    auto l = (*dec)->Step(in);
    ASSERT_TRUE(l.ok()) << l.status();
    ASSERT_EQ(l->dim(0), 3);
    for (int64_t s = 0; s < 3; ++s) {
      together[s].insert(together[s].end(), l->data<float>() + s * V,
                         l->data<float>() + (s + 1) * V);
    }
  }
  for (int64_t s = 0; s < 3; ++s) {
    ASSERT_EQ(together[s].size(), alone[s].size());
    EXPECT_LT(RelativeError(together[s].data(), alone[s].data(), int64_t(alone[s].size())), 1e-5)
        << "sequence " << s;
    EXPECT_EQ((*dec)->length(slot_of[s]), prompt_len[s] + steps);
  }
}

TEST(IncrementalDecoderTest, ResetStartsTheSlotAgain) {
  auto model = DeepseekV2Model::Create(DenseConfig(), {.seed = 5});
  ASSERT_TRUE(model.ok());
  auto dec = IncrementalDecoder::Create(model->get(), {.slots = 1, .capacity = 8});
  ASSERT_TRUE(dec.ok());
  const std::vector<int32_t> a = {1, 2, 3}, b = {4, 5};
  auto first = (*dec)->Step({{0, a}});
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE((*dec)->Step({{0, b}}).ok());
  (*dec)->Reset(0);
  auto again = (*dec)->Step({{0, a}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(RelativeError(again->data<float>(), first->data<float>(), first->numel()), 0.0);
}

TEST(IncrementalDecoderTest, ClearErrors) {
  auto model = DeepseekV2Model::Create(DenseConfig(), {.seed = 5});
  ASSERT_TRUE(model.ok());
  auto dec = IncrementalDecoder::Create(model->get(), {.slots = 2, .capacity = 4});
  ASSERT_TRUE(dec.ok());
  const std::vector<int32_t> five = {1, 2, 3, 4, 5}, one = {1}, bad = {41};
  auto s = (*dec)->Step({{0, five}});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(std::string(s.status().message()).find("capacity 4"), std::string::npos);
  s = (*dec)->Step({{0, one}, {0, one}});
  EXPECT_NE(std::string(s.status().message()).find("given twice"), std::string::npos);
  s = (*dec)->Step({{2, one}});
  EXPECT_NE(std::string(s.status().message()).find("out of range"), std::string::npos);
  s = (*dec)->Step({{1, bad}});
  EXPECT_NE(std::string(s.status().message()).find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ((*dec)->length(0), 0);
  EXPECT_EQ((*dec)->length(1), 0);
  // A cache larger than the machine's memory is refused before allocating.
  auto huge = IncrementalDecoder::Create(model->get(), {.slots = 1 << 20, .capacity = 1 << 20});
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(huge.status().message()).find("lower --batch or --max-new-tokens"),
            std::string::npos);
  DeepseekV2Config capped = DenseConfig();
  capped.capacity_factor = 1.0;
  auto m2 = DeepseekV2Model::Create(capped, {.seed = 5});
  ASSERT_TRUE(m2.ok());
  auto d2 = IncrementalDecoder::Create(m2->get(), {});
  EXPECT_NE(std::string(d2.status().message()).find("capacity_factor"), std::string::npos);
}

TEST(IncrementalDecoderTest, CacheBytesPerTokenAtDeepSeekV2Sizes) {
  DeepseekV2Config c;  // DeepSeek-V2 (236B): 60 layers, 128 heads
  c.num_hidden_layers = 60;
  c.num_attention_heads = 128;
  c.kv_lora_rank = 512;
  c.qk_rope_head_dim = 64;
  c.qk_nope_head_dim = 128;
  c.v_head_dim = 128;
  EXPECT_EQ(LatentCacheBytesPerToken(c), 60 * 576 * 4);
  EXPECT_EQ(FullKvCacheBytesPerToken(c), 60 * 128 * (192 + 128) * 4);
}

}  // namespace
}  // namespace hs::models::decode
