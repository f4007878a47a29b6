// File: data/mixture_test.cc
//
// Sampler mixtures and document layouts: exact per-block proportions,
// every source's windows visited once per its epoch, resume and DP-size
// independence (sample i depends on i alone), weight errors; document
// positions / masked targets on a prepared dataset, and the error for a
// flat file.
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "data/dataset/writer.h"
#include "data/sampler.h"
#include "data/test_util.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

using testing::TestPath;
using testing::WriteTestTokens;

// Tagged(n, tag): tokens tag*100000 + i, so a row shows its source and offset.
std::vector<uint32_t> Tagged(int64_t n, uint32_t tag) {
  std::vector<uint32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = tag * 100000 + uint32_t(i);
  return ids;
}

class MixtureTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int k = 0; k < 3; ++k) {
      auto f = TokenFile::Open(
          WriteTestTokens("src" + std::to_string(k) + ".u32", Tagged(kTokens[k], k)));
      ASSERT_TRUE(f.ok()) << f.status();
      files_.push_back(std::move(*f));
    }
  }
  Sampler Make(std::vector<double> weights, bool shuffle = true) {
    std::vector<MixtureSource> src;
    for (size_t k = 0; k < weights.size(); ++k) src.push_back({files_[k].get(), weights[k]});
    auto s = Sampler::CreateMixture(src, kSeq, kBatch, 7, shuffle);
    EXPECT_TRUE(s.ok()) << s.status();
    return *s;
  }
  // Rows(s, step, first, count): each sample's first input token.
  std::vector<int32_t> Firsts(const Sampler& s, int64_t step, int64_t first, int64_t count) {
    std::vector<int32_t> in(count * kSeq), tgt(count * kSeq), firsts;
    EXPECT_TRUE(s.FillBatch(step, first, count, in.data(), tgt.data()).ok());
    for (int64_t j = 0; j < count; ++j) {
      for (int64_t t = 0; t + 1 < kSeq; ++t) EXPECT_EQ(tgt[j * kSeq + t], in[j * kSeq + t + 1]);
      firsts.push_back(in[j * kSeq]);
    }
    return firsts;
  }
  static constexpr int64_t kSeq = 8, kBatch = 64;
  static constexpr int64_t kTokens[3] = {8 * 500 + 1, 8 * 300 + 1, 8 * 50 + 1};
  std::vector<std::unique_ptr<TokenFile>> files_;
};

TEST_F(MixtureTest, ProportionsAreExactPerBlock) {
  Sampler s = Make({0.6, 0.3, 0.1});
  EXPECT_EQ(s.BlockShare(0) + s.BlockShare(1) + s.BlockShare(2), kMixtureBlock);
  EXPECT_EQ(s.BlockShare(0), 2458);  // 0.6 * 4096 = 2457.6 rounds up (largest remainder)
  EXPECT_EQ(s.BlockShare(1), 1229);  // 1228.8
  EXPECT_EQ(s.BlockShare(2), 409);   // 409.6: the smallest remainder stays down
  const int64_t steps_per_block = kMixtureBlock / kBatch;
  std::vector<int64_t> counts = s.SourceCounts(0, 3 * steps_per_block);
  EXPECT_EQ(counts, (std::vector<int64_t>{3 * 2458, 3 * 1229, 3 * 409}));
  // Every sample's tokens come from the source Locate names.
  std::vector<int32_t> firsts = Firsts(s, 5, 0, kBatch);
  for (int64_t j = 0; j < kBatch; ++j) {
    EXPECT_EQ(firsts[j] / 100000, s.Locate(5 * kBatch + j).source);
  }
}

TEST_F(MixtureTest, EachSourceVisitsAllItsWindowsPerEpoch) {
  Sampler s = Make({0.5, 0.5});
  // Source 1 (300 windows) gets 2048 samples of the first block, its own
  // samples 0..2047: six whole epochs plus 248 windows of the seventh.
  std::map<int64_t, int64_t> seen;
  for (int64_t i = 0; i < kMixtureBlock; ++i) {
    Sampler::Location at = s.Locate(i);
    if (at.source != 1) continue;
    EXPECT_EQ(at.start % kSeq, 0);
    ++seen[at.start / kSeq];
  }
  ASSERT_EQ(seen.size(), 300u);
  int64_t sevens = 0;
  for (const auto& [window, n] : seen) {
    EXPECT_TRUE(n == 6 || n == 7) << "window " << window << " seen " << n;
    sevens += n == 7;
  }
  EXPECT_EQ(sevens, 248);
}

TEST_F(MixtureTest, ResumeAndDpSizeGiveTheSameSamples) {
  Sampler a = Make({2, 1, 1});
  Sampler b = Make({2, 1, 1});  // a "resumed" sampler: no state but the step
  for (int64_t step : {0, 3, 64, 65, 1000}) {
    std::vector<int32_t> whole = Firsts(a, step, 0, kBatch);
    for (int64_t dp : {2, 4}) {
      std::vector<int32_t> joined;
      for (int64_t r = 0; r < dp; ++r) {
        auto slice = RankSlice(kBatch, dp, r);
        ASSERT_TRUE(slice.ok());
        auto part = Firsts(b, step, slice->first, slice->count);
        joined.insert(joined.end(), part.begin(), part.end());
      }
      EXPECT_EQ(joined, whole) << "step " << step << " dp " << dp;
    }
  }
  // A different seed gives a different arrangement.
  std::vector<MixtureSource> src = {{files_[0].get(), 2}, {files_[1].get(), 1}};
  auto other = Sampler::CreateMixture(src, kSeq, kBatch, 8, true);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(Firsts(*other, 0, 0, kBatch), Firsts(Make({2, 1}), 0, 0, kBatch));
}

TEST_F(MixtureTest, SingleSourceIsThePlainSampler) {
  auto plain = Sampler::Create(files_[0].get(), kSeq, kBatch, 7, true);
  ASSERT_TRUE(plain.ok());
  Sampler mixed = Make({3.0});
  EXPECT_EQ(Firsts(*plain, 9, 0, kBatch), Firsts(mixed, 9, 0, kBatch));
}

TEST_F(MixtureTest, BadWeightsNameTheSource) {
  std::vector<MixtureSource> src = {{files_[0].get(), 1}, {files_[1].get(), -1}};
  auto s = Sampler::CreateMixture(src, kSeq, kBatch, 7, true);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("data.mixture[1]"), std::string::npos) << s.status();
  src[1].weight = 1e-6;
  s = Sampler::CreateMixture(src, kSeq, kBatch, 7, true);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("never be sampled"), std::string::npos) << s.status();
}

// A prepared dataset with documents of lengths 3, 1, 6, 2, 9 (+ EOS each).
class DocumentLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = TestPath("docs");
    auto w = dataset::DatasetWriter::Create(dir, 1000, 999, 2 * 7);
    ASSERT_TRUE(w.ok());
    uint32_t next = 1;
    for (int len : {3, 1, 6, 2, 9}) {
      std::vector<uint32_t> ids;
      for (int i = 0; i < len; ++i) ids.push_back(next++);
      ASSERT_TRUE((*w)->AddDocument(ids).ok());
    }
    ASSERT_TRUE((*w)->Finish().ok());
    auto f = TokenFile::Open(dir);
    ASSERT_TRUE(f.ok()) << f.status();
    file_ = std::move(*f);
  }
  std::unique_ptr<TokenFile> file_;
};

TEST_F(DocumentLayoutTest, PositionsRestartAndEosTargetsAreIgnored) {
  // Stream: 1 2 3 E | 4 E | 5 6 7 8 9 10 E | 11 12 E | 13 ... 21 E  (E = 999)
  ASSERT_EQ(file_->size(), 26);
  ASSERT_EQ(file_->data(), nullptr);
  auto s = Sampler::Create(file_.get(), 6, 1, 0, /*shuffle=*/false);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->SetDocumentMask().ok());
  std::vector<int32_t> in(6), tgt(6), pos(6);
  EXPECT_FALSE(s->FillBatch(0, 0, 1, in.data(), tgt.data()).ok());  // positions needed
  ASSERT_TRUE(s->FillBatch(0, 0, 1, in.data(), tgt.data(), pos.data()).ok());
  EXPECT_EQ(in, (std::vector<int32_t>{1, 2, 3, 999, 4, 999}));
  EXPECT_EQ(tgt, (std::vector<int32_t>{2, 3, 999, -1, 999, -1}));
  EXPECT_EQ(pos, (std::vector<int32_t>{0, 1, 2, 3, 0, 1}));
  // Window 1 starts mid-document? tokens [6, 12): 5 6 7 8 9 10 (a fresh document).
  ASSERT_TRUE(s->FillBatch(1, 0, 1, in.data(), tgt.data(), pos.data()).ok());
  EXPECT_EQ(in, (std::vector<int32_t>{5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(pos, (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(tgt.back(), 999);
  // Window 3 = tokens [18, 24): 15 .. 20 inside the last document, which
  // began before the window: positions count from the window start.
  ASSERT_TRUE(s->FillBatch(3, 0, 1, in.data(), tgt.data(), pos.data()).ok());
  EXPECT_EQ(in, (std::vector<int32_t>{15, 16, 17, 18, 19, 20}));
  EXPECT_EQ(pos, (std::vector<int32_t>{0, 1, 2, 3, 4, 5}));
  // Window 2 = tokens [12, 18): E 11 12 E 13 14.
  ASSERT_TRUE(s->FillBatch(2, 0, 1, in.data(), tgt.data(), pos.data()).ok());
  EXPECT_EQ(in, (std::vector<int32_t>{999, 11, 12, 999, 13, 14}));
  EXPECT_EQ(tgt, (std::vector<int32_t>{-1, 12, 999, -1, 14, 15}));
  EXPECT_EQ(pos, (std::vector<int32_t>{0, 0, 1, 2, 0, 1}));
}

TEST_F(DocumentLayoutTest, EvalRowsFillTheSameLayout) {
  auto rows = EvalRows::Create(file_.get(), 6, 0);
  ASSERT_TRUE(rows.ok());
  std::vector<int32_t> in(6), tgt(6), pos(6);
  ASSERT_TRUE(rows->FillRows(0, 1, in.data(), tgt.data(), pos.data()).ok());
  EXPECT_EQ(tgt, (std::vector<int32_t>{2, 3, 999, -1, 999, -1}));
  EXPECT_EQ(pos, (std::vector<int32_t>{0, 1, 2, 3, 0, 1}));
}

TEST(DocumentLayout, FlatFileIsRejected) {
  auto f = TokenFile::Open(WriteTestTokens("flat.u32", testing::Ramp(100)));
  ASSERT_TRUE(f.ok());
  auto s = Sampler::Create(f->get(), 8, 2, 0, true);
  ASSERT_TRUE(s.ok());
  absl::Status st = s->SetDocumentMask();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("flat.u32"), std::string::npos) << st;
}

TEST(DocumentLayout, PreparedDatasetAsTokenFile) {
  const std::string dir = TestPath("as_file");
  auto w = dataset::DatasetWriter::Create(dir, 70000, 5, 4 * 3);
  ASSERT_TRUE(w.ok());
  const std::vector<uint32_t> doc = {69999, 1, 2, 3};
  ASSERT_TRUE((*w)->AddDocument(doc).ok());
  ASSERT_TRUE((*w)->Finish().ok());
  auto f = TokenFile::Open(dir);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->size(), 5);
  EXPECT_TRUE((*f)->Validate(70000).ok());
  EXPECT_FALSE((*f)->Validate(1000).ok());
  EXPECT_EQ((*f)->MinMax(), std::make_pair(1u, 69999u));
  std::vector<int32_t> got(5);
  ASSERT_TRUE((*f)->Read(0, 5, got.data()).ok());
  EXPECT_EQ(got, (std::vector<int32_t>{69999, 1, 2, 3, 5}));
}

}  // namespace
}  // namespace hs::data
