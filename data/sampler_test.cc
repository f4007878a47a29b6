// File: data/sampler_test.cc
//
// Sampler: windows and shift-by-one targets, determinism, epochs as
// permutations, DP slices (disjoint, union = the single-rank batch for
// D in {1, 2, 4}), micro-batches, resume, errors for tiny files, and the
// eval row reader.
#include "data/sampler.h"

#include <algorithm>
#include <set>
#include <vector>

#include "data/test_util.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

using testing::Ramp;
using testing::WriteTestTokens;

// A ramp file: token value == token offset, so every row shows its source.
class SamplerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto file = TokenFile::Open(WriteTestTokens("ramp.u32", Ramp(kTokens)));
    ASSERT_TRUE(file.ok()) << file.status();
    file_ = std::move(*file);
  }
  Sampler Make(int64_t seq, int64_t batch, uint64_t seed, bool shuffle) {
    auto s = Sampler::Create(file_.get(), seq, batch, seed, shuffle);
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  // Batch(s, step, range): the first input token of each sample (= its
  // window start) after checking inputs/targets are the window shifted.
  std::vector<int32_t> Starts(const Sampler& s, int64_t step,
                              SampleRange range) {
    const int64_t S = s.seq_len();
    std::vector<int32_t> in(range.count * S), tgt(range.count * S);
    absl::Status st =
        s.FillBatch(step, range.first, range.count, in.data(), tgt.data());
    EXPECT_TRUE(st.ok()) << st;
    std::vector<int32_t> starts;
    for (int64_t j = 0; j < range.count; ++j) {
      const int32_t start = in[j * S];
      EXPECT_EQ(start % S, 0) << "window starts at a multiple of S";
      for (int64_t t = 0; t < S; ++t) {
        EXPECT_EQ(in[j * S + t], start + t);
        EXPECT_EQ(tgt[j * S + t], start + t + 1);  // next token
      }
      starts.push_back(start);
    }
    return starts;
  }

  static constexpr int64_t kTokens = 1001;  // W = 1000 / S
  std::unique_ptr<TokenFile> file_;
};

TEST_F(SamplerTest, WindowsAndTargetsNoShuffle) {
  Sampler s = Make(/*seq=*/10, /*batch=*/4, 0, /*shuffle=*/false);
  EXPECT_EQ(s.num_windows(), 100);
  EXPECT_EQ(Starts(s, 0, {0, 4}), (std::vector<int32_t>{0, 10, 20, 30}));
  EXPECT_EQ(Starts(s, 1, {1, 2}), (std::vector<int32_t>{50, 60}));
  // Step 25 wraps into epoch 1, which (unshuffled) starts over.
  EXPECT_EQ(s.Epoch(25), 1);
  EXPECT_EQ(Starts(s, 25, {0, 2}), (std::vector<int32_t>{0, 10}));
  // The last window uses the file's last token as its last target.
  EXPECT_EQ(Starts(s, 24, {3, 1}), (std::vector<int32_t>{990}));
}

TEST_F(SamplerTest, DeterministicAndSeeded) {
  Sampler a = Make(10, 8, 123, true), b = Make(10, 8, 123, true);
  Sampler c = Make(10, 8, 124, true);
  for (int64_t step : {0, 3, 12}) {
    EXPECT_EQ(Starts(a, step, {0, 8}), Starts(b, step, {0, 8}));
  }
  EXPECT_NE(Starts(a, 0, {0, 8}), Starts(c, 0, {0, 8}));
}

TEST_F(SamplerTest, EachEpochIsAPermutationOfTheWindows) {
  Sampler s = Make(10, 4, 99, true);
  const int64_t W = s.num_windows();
  std::vector<int64_t> epoch0, epoch1;
  for (int64_t i = 0; i < W; ++i) {
    epoch0.push_back(s.WindowOf(i));
    epoch1.push_back(s.WindowOf(W + i));
  }
  EXPECT_NE(epoch0, epoch1);  // a fresh order every epoch
  std::vector<int64_t> identity(W);
  for (int64_t i = 0; i < W; ++i) identity[i] = i;
  EXPECT_NE(epoch0, identity);  // shuffled
  std::sort(epoch0.begin(), epoch0.end());
  std::sort(epoch1.begin(), epoch1.end());
  EXPECT_EQ(epoch0, identity);
  EXPECT_EQ(epoch1, identity);
}

TEST_F(SamplerTest, DpSlicesPartitionTheGlobalBatch) {
  for (int64_t G : {8, 10}) {
    Sampler s = Make(10, G, 5, true);
    for (int64_t step : {0, 7, 31}) {
      std::vector<int32_t> single = Starts(s, step, {0, G});
      for (int64_t D : {1, 2, 4}) {
        std::vector<int32_t> joined;
        int64_t expected_first = 0;
        for (int64_t r = 0; r < D; ++r) {
          auto slice = RankSlice(G, D, r);
          ASSERT_TRUE(slice.ok()) << slice.status();
          EXPECT_EQ(slice->first, expected_first) << "contiguous, disjoint";
          EXPECT_GE(slice->count, G / D);
          EXPECT_LE(slice->count, G / D + 1);
          expected_first += slice->count;
          std::vector<int32_t> part = Starts(s, step, *slice);
          joined.insert(joined.end(), part.begin(), part.end());
        }
        EXPECT_EQ(expected_first, G);
        EXPECT_EQ(joined, single) << "G=" << G << " D=" << D;
      }
      // No window repeats inside one batch (G <= W, one epoch).
      EXPECT_EQ(std::set<int32_t>(single.begin(), single.end()).size(),
                size_t(G));
    }
  }
}

TEST_F(SamplerTest, MicroBatchesPartitionARankSlice) {
  Sampler s = Make(10, 12, 5, true);
  auto rank = RankSlice(12, 2, 1);  // [6, 12)
  ASSERT_TRUE(rank.ok());
  std::vector<int32_t> whole = Starts(s, 4, *rank), joined;
  for (int64_t m = 0; m < 3; ++m) {
    auto mb = MicroBatchSlice(*rank, 3, m);
    ASSERT_TRUE(mb.ok()) << mb.status();
    EXPECT_EQ(mb->count, 2);
    std::vector<int32_t> part = Starts(s, 4, *mb);
    joined.insert(joined.end(), part.begin(), part.end());
  }
  EXPECT_EQ(joined, whole);
  EXPECT_FALSE(MicroBatchSlice(*rank, 7, 0).ok());  // 6 samples, 7 parts
  EXPECT_FALSE(MicroBatchSlice(*rank, 3, 3).ok());
  EXPECT_FALSE(RankSlice(12, 2, 2).ok());
  EXPECT_FALSE(RankSlice(3, 4, 0).ok());
}

TEST_F(SamplerTest, ResumeEqualsContinuingRun) {
  const int64_t k = 37;  // past the first epoch (W = 50, G = 6)
  Sampler continuing = Make(20, 6, 77, true);
  std::vector<int32_t> at_k;
  for (int64_t step = 0; step <= k; ++step) {
    at_k = Starts(continuing, step, {0, 6});
  }
  Sampler fresh = Make(20, 6, 77, true);
  EXPECT_EQ(Starts(fresh, k, {0, 6}), at_k);
}

TEST_F(SamplerTest, FillBatchRejectsRangesOutsideTheBatch) {
  Sampler s = Make(10, 4, 0, true);
  std::vector<int32_t> in(50), tgt(50);
  EXPECT_FALSE(s.FillBatch(0, 2, 3, in.data(), tgt.data()).ok());
  EXPECT_FALSE(s.FillBatch(-1, 0, 1, in.data(), tgt.data()).ok());
}

TEST(SamplerErrorsTest, TinyFiles) {
  auto file = TokenFile::Open(WriteTestTokens("tiny.u32", Ramp(8)));
  ASSERT_TRUE(file.ok());
  const std::string path = (*file)->path();
  // 8 tokens: seq 8 needs 9.
  auto a = Sampler::Create(file->get(), 8, 1, 0, true);
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.status().message().find(path), std::string::npos) << a.status();
  EXPECT_NE(a.status().message().find("needs 9 tokens"), std::string::npos)
      << a.status();
  // seq 3: W = 7 / 3 = 2 windows; batch 3 needs 3*3+1 = 10 tokens.
  auto b = Sampler::Create(file->get(), 3, 3, 0, true);
  ASSERT_FALSE(b.ok());
  EXPECT_NE(b.status().message().find(path), std::string::npos) << b.status();
  EXPECT_NE(b.status().message().find("2 windows"), std::string::npos)
      << b.status();
  EXPECT_NE(b.status().message().find("needs at least 10 tokens"),
            std::string::npos)
      << b.status();
  EXPECT_TRUE(Sampler::Create(file->get(), 3, 2, 0, true).ok());
  EXPECT_TRUE(Sampler::Create(file->get(), 7, 1, 0, true).ok());
}

TEST(EvalRowsTest, RowsInFileOrder) {
  auto file = TokenFile::Open(WriteTestTokens("eval.u32", Ramp(100)));
  ASSERT_TRUE(file.ok());
  auto rows = EvalRows::Create(file->get(), 9, 0);  // rows of 10 tokens
  ASSERT_TRUE(rows.ok()) << rows.status();
  EXPECT_EQ(rows->num_rows(), 10);
  std::vector<int32_t> in(2 * 9), tgt(2 * 9);
  ASSERT_TRUE(rows->FillRows(3, 2, in.data(), tgt.data()).ok());
  for (int64_t j = 0; j < 2; ++j) {
    for (int64_t t = 0; t < 9; ++t) {
      EXPECT_EQ(in[j * 9 + t], (3 + j) * 10 + t);
      EXPECT_EQ(tgt[j * 9 + t], (3 + j) * 10 + t + 1);
    }
  }
  EXPECT_FALSE(rows->FillRows(9, 2, in.data(), tgt.data()).ok());
  auto limited = EvalRows::Create(file->get(), 9, 4);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(limited->num_rows(), 4);
  EXPECT_EQ(EvalRows::Create(file->get(), 9, 1000)->num_rows(), 10);
  auto tiny = EvalRows::Create(file->get(), 100, 0);
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.status().message().find((*file)->path()), std::string::npos);
}

}  // namespace
}  // namespace hs::data
