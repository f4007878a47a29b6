// File: models/kernels/cpu/attention_document_mask_test.cc
//
// Document-masked (packed) attention: a packed row gives, for each
// document, exactly the output, lse and gradients of that document run
// alone (documents crossing 64-key blocks, a 1-token document, a document
// longer than a block, a document starting in a later 256-key forward block); finite differences of the masked kernel; positions
// t (one document) equal plain causal attention bit for bit.
#include <cmath>
#include <vector>

#include "gtest/gtest.h"
#include "models/kernels/cpu/attention.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::CheckGradient;
using ::hs::testing::Dot;
using ::hs::testing::RandomProjection;
using ::hs::testing::RandomVector;

// Positions(T, lengths): 0.. within each document; lengths sum to T.
std::vector<int32_t> Positions(const std::vector<std::vector<int64_t>>& lengths, int64_t T) {
  std::vector<int32_t> pos;
  for (const auto& row : lengths) {
    int64_t sum = 0;
    for (int64_t len : row) {
      for (int64_t i = 0; i < len; ++i) pos.push_back(int32_t(i));
      sum += len;
    }
    EXPECT_EQ(sum, T);
  }
  return pos;
}

// Slice(x, b, t0, n, T, W): rows [t0, t0 + n) of batch b of a [B,T,W] tensor.
std::vector<float> Slice(const std::vector<float>& x, int64_t b, int64_t t0, int64_t n, int64_t T,
                         int64_t W) {
  return std::vector<float>(x.begin() + (b * T + t0) * W, x.begin() + (b * T + t0 + n) * W);
}

void ExpectNear(const std::vector<float>& got, const float* want, size_t n, const char* what,
                int64_t b, int64_t t0) {
  for (size_t i = 0; i < n; ++i) {
    ASSERT_NEAR(got[i], want[i], 2e-5f + 2e-5f * std::fabs(want[i]))
        << what << " batch " << b << " document at " << t0 << " element " << i;
  }
}

// ExpectPackedEqualsAlone: every document of the packed rows `docs` (B rows
// of T tokens) gives the output, lse and gradients of that document alone.
void ExpectPackedEqualsAlone(const std::vector<std::vector<int64_t>>& docs, int64_t T) {
  const int64_t B = int64_t(docs.size()), H = 2, Dk = 12, Dv = 8;
  const std::vector<int32_t> pos = Positions(docs, T);
  const float scale = 0.3f;
  std::vector<float> q = RandomVector(B * T * H * Dk, 1, 1.5f);
  std::vector<float> k = RandomVector(B * T * H * Dk, 2, 1.5f);
  std::vector<float> v = RandomVector(B * T * H * Dv, 3);
  std::vector<float> dout = RandomVector(B * T * H * Dv, 4);
  std::vector<float> out(B * T * H * Dv), lse(B * H * T);
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  AttentionForward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, T, H, Dk, Dv, scale,
                   pos.data());
  AttentionBackward(dq.data(), dk.data(), dv.data(), dout.data(), q.data(), k.data(), v.data(),
                    out.data(), lse.data(), B, T, H, Dk, Dv, scale, pos.data());
  for (int64_t b = 0; b < B; ++b) {
    int64_t t0 = 0;
    for (int64_t n : docs[b]) {
      const auto q1 = Slice(q, b, t0, n, T, H * Dk), k1 = Slice(k, b, t0, n, T, H * Dk);
      const auto v1 = Slice(v, b, t0, n, T, H * Dv), d1 = Slice(dout, b, t0, n, T, H * Dv);
      std::vector<float> o1(n * H * Dv), l1(H * n), dq1(q1.size()), dk1(k1.size()), dv1(v1.size());
      AttentionForward(o1.data(), l1.data(), q1.data(), k1.data(), v1.data(), 1, n, H, Dk, Dv,
                       scale);
      AttentionBackward(dq1.data(), dk1.data(), dv1.data(), d1.data(), q1.data(), k1.data(),
                        v1.data(), o1.data(), l1.data(), 1, n, H, Dk, Dv, scale);
      ExpectNear(o1, out.data() + (b * T + t0) * H * Dv, o1.size(), "out", b, t0);
      ExpectNear(dq1, dq.data() + (b * T + t0) * H * Dk, dq1.size(), "dq", b, t0);
      ExpectNear(dk1, dk.data() + (b * T + t0) * H * Dk, dk1.size(), "dk", b, t0);
      ExpectNear(dv1, dv.data() + (b * T + t0) * H * Dv, dv1.size(), "dv", b, t0);
      for (int64_t h = 0; h < H; ++h) {
        std::vector<float> lrow(l1.begin() + h * n, l1.begin() + (h + 1) * n);
        ExpectNear(lrow, lse.data() + (b * H + h) * T + t0, size_t(n), "lse", b, t0);
      }
      t0 += n;
    }
  }
}

TEST(AttentionDocumentMask, PackedRowEqualsDocumentsRunAlone) {
  ExpectPackedEqualsAlone({{40, 70, 1, 39}, {5, 130, 15}}, 150);
}

TEST(AttentionDocumentMask, DocumentStartingInALaterForwardKeyBlock) {
  // The forward streams keys in blocks of 256 from the query block's first
  // visible key (64 here, for the document at 100). In the query block
  // 512-575, rows from 540 start a document that the first key block
  // (64-319) does not reach: they see nothing there and must keep their
  // running state (no -inf - -inf NaN) until the second block.
  ExpectPackedEqualsAlone({{100, 440, 60}}, 600);
}

TEST(AttentionDocumentMask, GradientsMatchFiniteDifferences) {
  const int64_t B = 2, T = 37, H = 2, Dk = 8, Dv = 6;
  const std::vector<int32_t> pos = Positions({{10, 20, 7}, {1, 1, 35}}, T);
  const float scale = 0.35f;
  std::vector<float> q = RandomVector(B * T * H * Dk, 11, 1.5f);
  std::vector<float> k = RandomVector(B * T * H * Dk, 12, 1.5f);
  std::vector<float> v = RandomVector(B * T * H * Dv, 13);
  std::vector<float> r = RandomProjection(B * T * H * Dv, 14);
  std::vector<float> out(B * T * H * Dv), lse(B * H * T);
  auto loss = [&] {
    AttentionForward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, T, H, Dk, Dv, scale,
                     pos.data());
    return Dot(out.data(), r.data(), out.size());
  };
  loss();
  std::vector<float> dq(q.size()), dk(k.size()), dv(v.size());
  AttentionBackward(dq.data(), dk.data(), dv.data(), r.data(), q.data(), k.data(), v.data(),
                    out.data(), lse.data(), B, T, H, Dk, Dv, scale, pos.data());
  hs::testing::GradCheckOptions opt;
  opt.eps = 3e-3;
  opt.max_checks = 96;
  auto rq = CheckGradient("masked_attention.dq", loss, q.data(), dq.data(), q.size(), opt);
  EXPECT_TRUE(rq.ok) << rq.report;
  auto rk = CheckGradient("masked_attention.dk", loss, k.data(), dk.data(), k.size(), opt);
  EXPECT_TRUE(rk.ok) << rk.report;
  auto rv = CheckGradient("masked_attention.dv", loss, v.data(), dv.data(), v.size(), opt);
  EXPECT_TRUE(rv.ok) << rv.report;
}

TEST(AttentionDocumentMask, OneDocumentIsPlainCausal) {
  const int64_t B = 1, T = 90, H = 2, Dk = 8, Dv = 8;
  const std::vector<int32_t> pos = Positions({{T}}, T);
  std::vector<float> q = RandomVector(B * T * H * Dk, 21), k = RandomVector(B * T * H * Dk, 22);
  std::vector<float> v = RandomVector(B * T * H * Dv, 23), d = RandomVector(B * T * H * Dv, 24);
  std::vector<std::vector<float>> results[2];
  for (int masked = 0; masked < 2; ++masked) {
    const int32_t* p = masked ? pos.data() : nullptr;
    std::vector<float> out(B * T * H * Dv), lse(B * H * T), dq(q.size()), dk(k.size()),
        dv(v.size());
    AttentionForward(out.data(), lse.data(), q.data(), k.data(), v.data(), B, T, H, Dk, Dv, 0.3f,
                     p);
    AttentionBackward(dq.data(), dk.data(), dv.data(), d.data(), q.data(), k.data(), v.data(),
                      out.data(), lse.data(), B, T, H, Dk, Dv, 0.3f, p);
    results[masked] = {out, lse, dq, dk, dv};
  }
  for (size_t i = 0; i < results[0].size(); ++i) EXPECT_EQ(results[0][i], results[1][i]) << i;
}

}  // namespace
}  // namespace hs::kernels::cpu
