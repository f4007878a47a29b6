// OpProfile: nothing is recorded while off; a forward + backward of a small
// model records the embedding, every layer's attention and FFN ops and the
// head, each in its phase; FormatOpProfile lists them per op and per layer.
#include "models/profile/op_profile.h"

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "models/decode/test_util.h"
#include "models/deepseek_v2.h"

namespace hs::models {
namespace {

void Step(DeepseekV2Model& model) {
  const int64_t B = 2, T = 8;
  std::vector<int32_t> tokens(B * T), targets(B * T);
  for (int64_t i = 0; i < B * T; ++i) {
    tokens[i] = int32_t(i * 7 % 37);
    targets[i] = int32_t(i * 5 % 37);
  }
  auto r = model.Forward(tokens.data(), targets.data(), B, T);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(model.Backward(1.0f / r->valid_tokens, 1.0f).ok());
}

const OpProfileEntry* Find(const std::vector<OpProfileEntry>& e, const std::string& op,
                           int64_t layer, OpPhase phase) {
  auto it = std::find_if(e.begin(), e.end(), [&](const OpProfileEntry& x) {
    return x.op == op && x.layer == layer && x.phase == phase;
  });
  return it == e.end() ? nullptr : &*it;
}

TEST(OpProfileTest, OffRecordsNothing) {
  auto model = DeepseekV2Model::Create(decode::TinyMoeConfig(2), {.seed = 1});
  ASSERT_TRUE(model.ok()) << model.status();
  EnableOpProfile(false);
  TakeOpProfile();
  Step(**model);
  EXPECT_TRUE(TakeOpProfile().empty());
}

TEST(OpProfileTest, RecordsEveryLayerAndPhase) {
  auto model = DeepseekV2Model::Create(decode::TinyMoeConfig(2), {.seed = 1});
  ASSERT_TRUE(model.ok()) << model.status();
  EnableOpProfile(true);
  TakeOpProfile();
  Step(**model);
  Step(**model);
  std::vector<OpProfileEntry> e = TakeOpProfile();
  EnableOpProfile(false);
  for (OpPhase phase : {OpPhase::kForward, OpPhase::kBackward}) {
    for (const char* op : {"embedding"}) EXPECT_NE(Find(e, op, kOpLayerEmbed, phase), nullptr);
    for (const char* op : {"rms_norm", "lm_head", "cross_entropy"}) {
      const OpProfileEntry* x = Find(e, op, kOpLayerHead, phase);
      ASSERT_NE(x, nullptr) << op;
      EXPECT_EQ(x->calls, 2) << op;  // once per step
      EXPECT_GE(x->seconds, 0.0);
    }
    for (int64_t layer : {0, 1}) {
      EXPECT_NE(Find(e, "mla.attention", layer, phase), nullptr) << layer;
      EXPECT_NE(Find(e, "mla.q_proj", layer, phase), nullptr) << layer;
    }
    EXPECT_NE(Find(e, "mlp (dense)", 0, phase), nullptr);
    EXPECT_EQ(Find(e, "mlp (dense)", 1, phase), nullptr);
    EXPECT_NE(Find(e, "moe.experts", 1, phase), nullptr);
    EXPECT_NE(Find(e, "moe.gate", 1, phase), nullptr);
  }
  // Sorted: forward entries first, embedding before layers before the head.
  EXPECT_EQ(e.front().phase, OpPhase::kForward);
  EXPECT_EQ(e.front().layer, kOpLayerEmbed);
  EXPECT_EQ(e.back().phase, OpPhase::kBackward);

  const std::string table = FormatOpProfile(e, 2, 0.01, {{"optimizer (clip, AdamW)", 0.002}});
  for (const char* s : {"mla.attention", "moe.experts", "lm_head", "layer 0", "layer 1",
                        "embedding", "head (norm, lm_head, loss)", "optimizer (clip, AdamW)",
                        "sum of model ops"}) {
    EXPECT_NE(table.find(s), std::string::npos) << s << "\n" << table;
  }
}

}  // namespace
}  // namespace hs::models
