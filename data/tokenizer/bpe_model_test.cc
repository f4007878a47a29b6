// File: data/tokenizer/bpe_model_test.cc
//
// BpeModel's merge loop (the rank-array path for short pieces and the
// priority-queue path for long ones) against a plain reference: repeatedly
// apply the lowest-ranked merge present, leftmost first.
#include "data/tokenizer/bpe_model.h"

#include <random>
#include <string>
#include <vector>

#include "data/tokenizer/byte_level.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

struct Fixture {
  std::vector<std::pair<std::string, uint32_t>> vocab;
  std::vector<std::pair<std::string, std::string>> merges;
};

// A small vocabulary over the bytes 'a', 'b', 'c' with merges in a random
// rank order, including tokens that can form from different splits.
Fixture MakeFixture(uint32_t seed) {
  Fixture f;
  for (int b = 0; b < 256; ++b) {
    const char c = char(b);
    f.vocab.emplace_back(byte_level::Encode(std::string_view(&c, 1)), uint32_t(b));
  }
  std::vector<std::pair<std::string, std::string>> candidates;
  const std::vector<std::string> pieces = {"a", "b", "c", "ab", "ba", "aa", "bc", "abc", "aab"};
  for (const std::string& l : pieces) {
    for (const std::string& r : pieces) {
      if (l.size() + r.size() <= 4) candidates.emplace_back(l, r);
    }
  }
  std::mt19937 rng(seed);
  std::shuffle(candidates.begin(), candidates.end(), rng);
  std::vector<std::string> known = {"a", "b", "c"};
  auto is_known = [&](const std::string& s) {
    return std::find(known.begin(), known.end(), s) != known.end();
  };
  // Keep a merge only when both sides exist by then (as a trainer would).
  for (int pass = 0; pass < 3; ++pass) {
    for (const auto& [l, r] : candidates) {
      if (!is_known(l) || !is_known(r)) continue;
      bool seen = false;
      for (const auto& m : f.merges) seen |= m.first == l && m.second == r;
      if (seen) continue;
      f.merges.emplace_back(l, r);
      if (!is_known(l + r)) {
        known.push_back(l + r);
        f.vocab.emplace_back(l + r, uint32_t(f.vocab.size()));
      }
    }
  }
  return f;
}

// Reference: symbols as strings; merge the lowest rank, leftmost first.
std::vector<std::string> Reference(const Fixture& f, const std::string& text) {
  std::vector<std::string> s;
  for (char c : text) s.emplace_back(1, c);
  while (s.size() > 1) {
    size_t best_rank = SIZE_MAX, best_pos = 0;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      for (size_t r = 0; r < f.merges.size() && r < best_rank; ++r) {
        if (f.merges[r].first == s[i] && f.merges[r].second == s[i + 1]) {
          best_rank = r;
          best_pos = i;
          break;
        }
      }
    }
    if (best_rank == SIZE_MAX) break;
    s[best_pos] += s[best_pos + 1];
    s.erase(s.begin() + long(best_pos) + 1);
  }
  return s;
}

TEST(BpeModelTest, ShortAndLongPiecesMatchTheReference) {
  for (uint32_t seed = 0; seed < 20; ++seed) {
    const Fixture f = MakeFixture(seed);
    absl::StatusOr<BpeModel> model = BpeModel::Create(f.vocab, f.merges, {});
    ASSERT_TRUE(model.ok()) << model.status();
    std::mt19937 rng(seed + 100);
    for (size_t length : {1, 2, 5, 17, 64, 95, 96, 97, 150, 400}) {
      std::string text(length, 'a');
      for (char& c : text) c = "aabbc"[rng() % 5];
      std::vector<uint32_t> ids;
      model->EncodePiece(text, &ids);
      std::vector<std::string> got;
      for (uint32_t id : ids) got.push_back(model->Bytes(id));
      EXPECT_EQ(got, Reference(f, text)) << "seed " << seed << " length " << length;
      // Second call: served from the per-thread cache when short.
      std::vector<uint32_t> again;
      model->EncodePiece(text, &again);
      EXPECT_EQ(again, ids);
    }
  }
}

TEST(BpeModelTest, MissingBytesAreDroppedOrUnk) {
  std::vector<std::pair<std::string, uint32_t>> vocab = {{"a", 0}, {"<unk>", 1}};
  absl::StatusOr<BpeModel> plain = BpeModel::Create(vocab, {}, {});
  ASSERT_TRUE(plain.ok());
  std::vector<uint32_t> ids;
  plain->EncodePiece("axxa", &ids);
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, 0}));
  BpeModelOptions fuse;
  fuse.unk_token = "<unk>";
  fuse.fuse_unk = true;
  absl::StatusOr<BpeModel> with_unk = BpeModel::Create(vocab, {}, fuse);
  ASSERT_TRUE(with_unk.ok());
  ids.clear();
  with_unk->EncodePiece("axxa", &ids);
  EXPECT_EQ(ids, (std::vector<uint32_t>{0, 1, 0}));
  fuse.unk_token = "<nope>";
  EXPECT_FALSE(BpeModel::Create(vocab, {}, fuse).ok());
}

TEST(BpeModelTest, DuplicateIdsAreErrors) {
  EXPECT_FALSE(BpeModel::Create({{"a", 0}, {"b", 0}}, {}, {}).ok());
  EXPECT_FALSE(BpeModel::Create({{"a", 0}, {"b", 1}}, {{"a", "b"}}, {}).ok());  // "ab" missing
}

}  // namespace
}  // namespace hs::data
