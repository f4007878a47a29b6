// File: models/kernels/cpu/gemm_test.cc
//
// Gemm against a double triple loop for every (trans_a, trans_b) pair with
// padded leading dimensions, alpha/beta handling, the K == 0 edge, and the
// Linear products: forward vs naive, += accumulation, finite-difference
// gradients of the input and the weight.
#include "models/kernels/cpu/gemm.h"
#include "models/kernels/cpu/weight_grad_queue.h"

#include <cmath>
#include <limits>
#include <tuple>
#include <vector>

#include "gtest/gtest.h"
#include "haiscale/threads.h"
#include "models/testing/grad_check.h"

namespace hs::kernels::cpu {
namespace {

using ::hs::testing::CheckGradient;
using ::hs::testing::Dot;
using ::hs::testing::RandomProjection;
using ::hs::testing::RandomVector;

// NaiveGemm: C = alpha * op(A) op(B) + beta * C in double (beta == 0 does
// not read C).
void NaiveGemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha,
               const float* A, int64_t lda, const float* B, int64_t ldb,
               float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t p = 0; p < K; ++p) {
        const double a = ta ? A[p * lda + i] : A[i * lda + p];
        const double b = tb ? B[j * ldb + p] : B[p * ldb + j];
        s += a * b;
      }
      const double c = beta == 0.0f ? 0.0 : double(beta) * C[i * ldc + j];
      C[i * ldc + j] = float(double(alpha) * s + c);
    }
  }
}

TEST(GemmTest, AllTransposesWithLeadingDimsMatchTripleLoop) {
  const int64_t M = 37, N = 29, K = 70;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (float beta : {0.0f, 1.0f, -0.5f}) {
        // Stored shapes, each padded by a few columns.
        const int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5,
                      ldc = N + 2;
        std::vector<float> A = RandomVector((ta ? K : M) * lda, 1);
        std::vector<float> B = RandomVector((tb ? N : K) * ldb, 2);
        std::vector<float> C = RandomVector(M * ldc, 3);
        if (beta == 0.0f) {
          // beta == 0 must overwrite, never read (NaN must not leak).
          for (int64_t i = 0; i < M; ++i) {
            C[i * ldc] = std::numeric_limits<float>::quiet_NaN();
          }
        }
        std::vector<float> ref = C;
        Gemm(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta,
             C.data(), ldc);
        NaiveGemm(ta, tb, M, N, K, 0.75f, A.data(), lda, B.data(), ldb, beta,
                  ref.data(), ldc);
        for (int64_t i = 0; i < M; ++i) {
          for (int64_t j = 0; j < ldc; ++j) {
            const float got = C[i * ldc + j], want = ref[i * ldc + j];
            if (j >= N) {
              // Padding columns untouched (NaN compares unequal to itself).
              if (!std::isnan(want)) {
                ASSERT_EQ(got, want) << "padding written at " << i << "," << j;
              }
              continue;
            }
            ASSERT_NEAR(got, want, 1e-5 * (1.0 + std::fabs(want)))
                << "ta=" << ta << " tb=" << tb << " beta=" << beta << " at ("
                << i << "," << j << ")";
          }
        }
      }
    }
  }
}

TEST(GemmTest, ZeroKScalesC) {
  std::vector<float> C = {1, 2, 3, 4, 5, 6};
  Gemm(false, false, 2, 3, 0, 1.0f, nullptr, 1, nullptr, 3, 2.0f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>{2, 4, 6, 8, 10, 12}));
  Gemm(true, true, 2, 3, 0, 1.0f, nullptr, 2, nullptr, 1, 0.0f, C.data(), 3);
  EXPECT_EQ(C, (std::vector<float>(6, 0.0f)));
}

TEST(GemmTest, SingleRowAndColumn) {
  // M = 1, N = 1 (a dot product) through the BLAS path.
  std::vector<float> a = RandomVector(13, 4), b = RandomVector(13, 5);
  float c = 0;
  Gemm(false, false, 1, 1, 13, 1.0f, a.data(), 13, b.data(), 1, 0.0f, &c, 1);
  EXPECT_NEAR(c, Dot(a.data(), b.data(), 13), 1e-5);
}

TEST(LinearTest, ForwardMatchesNaive) {
  const int64_t N = 19, I = 33, O = 21;
  std::vector<float> x = RandomVector(N * I, 6), w = RandomVector(O * I, 7);
  std::vector<float> out(N * O, 123.0f);  // overwritten (=)
  LinearForward(out.data(), x.data(), w.data(), N, I, O);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < O; ++o) {
      const double want = Dot(x.data() + n * I, w.data() + o * I, I);
      ASSERT_NEAR(out[n * O + o], want, 1e-5 * (1 + std::fabs(want)));
    }
  }
}

TEST(LinearTest, BackwardAccumulatesAndMatchesFiniteDifferences) {
  const int64_t N = 11, I = 17, O = 9;
  std::vector<float> x = RandomVector(N * I, 8), w = RandomVector(O * I, 9);
  std::vector<float> r = RandomProjection(N * O, 10);  // dL/dout
  std::vector<float> out(N * O);
  auto loss = [&] {
    LinearForward(out.data(), x.data(), w.data(), N, I, O);
    return Dot(out.data(), r.data(), N * O);
  };
  std::vector<float> dx(N * I, 0.0f), dw(O * I, 0.0f);
  LinearBackwardInput(dx.data(), r.data(), w.data(), N, I, O);
  LinearBackwardWeight(dw.data(), r.data(), x.data(), N, I, O);
  auto rx = CheckGradient("linear.dinp", loss, x.data(), dx.data(), N * I);
  EXPECT_TRUE(rx.ok) << rx.report;
  auto rw = CheckGradient("linear.dweight", loss, w.data(), dw.data(), O * I);
  EXPECT_TRUE(rw.ok) << rw.report;

  // += rule: a second call adds the same gradient again.
  std::vector<float> dx2 = dx, dw2 = dw;
  LinearBackwardInput(dx2.data(), r.data(), w.data(), N, I, O);
  LinearBackwardWeight(dw2.data(), r.data(), x.data(), N, I, O);
  for (int64_t i = 0; i < N * I; ++i) ASSERT_NEAR(dx2[i], 2 * dx[i], 1e-6);
  for (int64_t i = 0; i < O * I; ++i) ASSERT_NEAR(dw2[i], 2 * dw[i], 1e-6);
}

}  // namespace
}  // namespace hs::kernels::cpu

namespace hs::kernels::cpu {
namespace {

TEST(WeightGradQueueTest, DeferredEqualsImmediate) {
  const int64_t N = 7, I = 5, O = 3;
  std::vector<float> dout(N * O), inp(N * I);
  for (int64_t i = 0; i < N * O; ++i) dout[i] = 0.1f * float(i % 11) - 0.4f;
  for (int64_t i = 0; i < N * I; ++i) inp[i] = 0.05f * float(i % 13) - 0.3f;
  std::vector<float> now(O * I, 1.0f), later(O * I, 1.0f);
  LinearBackwardWeight(now.data(), dout.data(), inp.data(), N, I, O);
  WeightGradQueue q;
  {
    WeightGradScope scope(&q);
    EXPECT_EQ(ActiveWeightGradQueue(), &q);
    LinearBackwardWeight(later.data(), dout.data(), inp.data(), N, I, O);
  }
  EXPECT_EQ(ActiveWeightGradQueue(), nullptr);
  // Nothing happened yet; the inputs may be freed before the queue runs.
  EXPECT_EQ(later, std::vector<float>(O * I, 1.0f));
  EXPECT_EQ(q.size(), 1u);
  EXPECT_EQ(q.bytes(), (N * O + N * I) * 4);
  std::fill(dout.begin(), dout.end(), 99.0f);
  q.RunAll();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(now, later);
}

}  // namespace
}  // namespace hs::kernels::cpu

namespace hs::kernels::cpu {
namespace {

// At two threads LinearForward gives each thread half of the rows as a
// single-threaded product: the one-thread bits, for even and odd row counts.
TEST(LinearForwardTest, TwoThreadsGiveTheOneThreadBits) {
  const int saved_threads = NumThreads();
  for (auto [N, I, O] : {std::tuple<int64_t, int64_t, int64_t>{2048, 688, 256},
                         {512, 96, 384}, {300, 64, 129}, {37, 29, 70}, {31, 8, 5}}) {
    SCOPED_TRACE(::testing::Message() << N << "x" << I << "x" << O);
    const std::vector<float> inp = RandomVector(N * I, 21);
    const std::vector<float> weight = RandomVector(O * I, 22);
    std::vector<float> one(N * O), two(N * O);
    SetNumThreads(1);
    LinearForward(one.data(), inp.data(), weight.data(), N, I, O);
    SetNumThreads(2);
    LinearForward(two.data(), inp.data(), weight.data(), N, I, O);
    EXPECT_EQ(one, two);
  }
  SetNumThreads(saved_threads);
}

// LinearBackward runs its two (small) products at once at two threads (each on one
// thread, so with the one-thread bits), in turn otherwise (the bits of that
// thread count), and defers the weight product to an active WeightGradQueue.
TEST(LinearBackwardTest, PairEqualsTheTwoProductsInTurn) {
  const int saved_threads = NumThreads();
  // Shapes of the model's small products (and odd ones).
  for (auto [N, I, O] : {std::tuple<int64_t, int64_t, int64_t>{512, 96, 384},
                         {300, 64, 129}, {37, 29, 70}}) {
    const std::vector<float> dout = RandomVector(N * O, 11);
    const std::vector<float> inp = RandomVector(N * I, 12);
    const std::vector<float> weight = RandomVector(O * I, 13);
    const std::vector<float> dinp0 = RandomVector(N * I, 14);
    const std::vector<float> dw0 = RandomVector(O * I, 15);
    for (bool accumulate : {false, true}) {
      for (int threads : {1, 2, 3}) {
        SCOPED_TRACE(::testing::Message() << N << "x" << I << "x" << O << " threads " << threads
                                          << " accumulate " << accumulate);
        // The two products in turn, at the thread count each product gets.
        SetNumThreads(threads == 2 ? 1 : threads);
        std::vector<float> want_dinp = dinp0, want_dw = dw0;
        if (accumulate) {
          LinearBackwardInput(want_dinp.data(), dout.data(), weight.data(), N, I, O);
        } else {
          LinearBackwardInputSet(want_dinp.data(), dout.data(), weight.data(), N, I, O);
        }
        LinearBackwardWeight(want_dw.data(), dout.data(), inp.data(), N, I, O);
        SetNumThreads(threads);
        std::vector<float> dinp = dinp0, dw = dw0;
        LinearBackward(dinp.data(), accumulate, dw.data(), dout.data(), inp.data(),
                       weight.data(), N, I, O);
        EXPECT_EQ(dinp, want_dinp);
        EXPECT_EQ(dw, want_dw);
        // Deferred: the input product now (in turn, at this thread count),
        // the weight product on RunAll.
        SetNumThreads(threads);
        std::vector<float> turn_dinp = dinp0;
        if (accumulate) {
          LinearBackwardInput(turn_dinp.data(), dout.data(), weight.data(), N, I, O);
        } else {
          LinearBackwardInputSet(turn_dinp.data(), dout.data(), weight.data(), N, I, O);
        }
        std::vector<float> qdinp = dinp0, qdw = dw0;
        WeightGradQueue q;
        {
          WeightGradScope scope(&q);
          LinearBackward(qdinp.data(), accumulate, qdw.data(), dout.data(), inp.data(),
                         weight.data(), N, I, O);
        }
        EXPECT_EQ(qdinp, turn_dinp);
        EXPECT_EQ(qdw, dw0);
        q.RunAll();
        std::vector<float> turn_dw = dw0;
        LinearBackwardWeight(turn_dw.data(), dout.data(), inp.data(), N, I, O);
        EXPECT_EQ(qdw, turn_dw);
      }
    }
  }
  SetNumThreads(saved_threads);
}

}  // namespace
}  // namespace hs::kernels::cpu
