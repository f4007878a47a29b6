// File: models/kernels/cpu/internal/tile_gemm_test.cc
//
// The tile products against a double-precision reference on the attention
// shapes and on ragged ones (rows and columns not multiples of the blocks,
// strided operands, accumulate or overwrite), and the transpose element by
// element. Skipped on CPUs without AVX-512 (the kernels are not used there).
#include "models/kernels/cpu/internal/tile_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace hs::kernels::cpu::internal {
namespace {

std::vector<float> Pattern(int64_t n, float phase) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = std::sin(0.61f * float(i) + phase);
  return v;
}

struct Shape {
  int64_t M, N, K;
};

// Checks C = alpha op(A) B (+ C0) for one shape, with padded leading
// dimensions so that a kernel reading or writing past a row shows.
void CheckProduct(const Shape& s, bool trans_a, bool accumulate) {
  const int64_t lda = (trans_a ? s.M : s.K) + 3, ldb = s.N + 5, ldc = s.N + 7;
  const int64_t a_rows = trans_a ? s.K : s.M;
  const std::vector<float> A = Pattern(a_rows * lda, 0.3f), B = Pattern(s.K * ldb, 1.1f);
  std::vector<float> C = Pattern(s.M * ldc, 2.7f);
  const std::vector<float> C0 = C;
  const float alpha = 0.37f;
  if (trans_a) {
    TileGemmTN(s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, accumulate, C.data(), ldc);
  } else {
    TileGemmNN(s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, accumulate, C.data(), ldc);
  }
  for (int64_t i = 0; i < s.M; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = C[i * ldc + j];
      if (j >= s.N) {  // padding: untouched
        ASSERT_EQ(got, C0[i * ldc + j]) << "wrote past column " << s.N << " at " << i << "," << j;
        continue;
      }
      double want = 0, magnitude = 0;
      for (int64_t k = 0; k < s.K; ++k) {
        const double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        want += a * B[k * ldb + j];
        magnitude += std::fabs(a * B[k * ldb + j]);
      }
      want *= alpha;
      magnitude *= alpha;
      if (accumulate) {
        want += C0[i * ldc + j];
        magnitude += std::fabs(C0[i * ldc + j]);
      }
      ASSERT_NEAR(got, want, 1e-6 * (magnitude + 1.0))
          << "M=" << s.M << " N=" << s.N << " K=" << s.K << " at " << i << "," << j
          << (trans_a ? " TN" : " NN") << (accumulate ? " accumulate" : "");
    }
  }
}

class TileGemmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!TileGemmAvailable()) GTEST_SKIP() << "no AVX-512 on this CPU";
  }
};

TEST_F(TileGemmTest, AttentionShapes) {
  // Forward QK^T and PV, backward dP, dQ, dV, dK (Dk 48, Dv 32).
  for (const Shape& s : {Shape{64, 256, 48}, Shape{64, 32, 256}, Shape{256, 64, 32},
                         Shape{256, 48, 64}, Shape{64, 32, 256}, Shape{64, 48, 256}}) {
    for (bool trans_a : {false, true}) {
      for (bool accumulate : {false, true}) CheckProduct(s, trans_a, accumulate);
    }
  }
}

TEST_F(TileGemmTest, RaggedShapes) {
  for (int64_t M : {1, 3, 4, 5, 7, 9, 13, 17}) {
    for (int64_t N : {1, 15, 16, 17, 33, 47, 63, 64, 65, 100, 130}) {
      for (int64_t K : {1, 2, 17}) {
        CheckProduct({M, N, K}, /*trans_a=*/false, /*accumulate=*/(M + N) % 2 == 0);
        CheckProduct({M, N, K}, /*trans_a=*/true, /*accumulate=*/(M + N) % 2 == 1);
      }
    }
  }
}

TEST_F(TileGemmTest, OverwriteNeverReadsC) {
  // NaN in C must not reach the result when accumulate is false.
  const int64_t M = 8, N = 20, K = 5;
  const std::vector<float> A = Pattern(M * K, 0.1f), B = Pattern(K * N, 0.2f);
  std::vector<float> C(M * N, std::nanf(""));
  TileGemmNN(M, N, K, 1.0f, A.data(), K, B.data(), N, /*accumulate=*/false, C.data(), N);
  for (float c : C) ASSERT_FALSE(std::isnan(c));
}

TEST_F(TileGemmTest, TransposeEveryElement) {
  for (int64_t n : {1, 5, 16, 17, 64, 200, 256}) {
    for (int64_t K : {1, 15, 16, 32, 48, 50}) {
      const int64_t ld_src = K + 2, ld_dst = n + 9;
      const std::vector<float> src = Pattern(n * ld_src, 0.5f);
      std::vector<float> dst(K * ld_dst, -7.0f);
      TransposeTile(dst.data(), ld_dst, src.data(), ld_src, n, K);
      for (int64_t k = 0; k < K; ++k) {
        for (int64_t j = 0; j < ld_dst; ++j) {
          const float want = j < n ? src[j * ld_src + k] : -7.0f;
          ASSERT_EQ(dst[k * ld_dst + j], want) << "n=" << n << " K=" << K << " at " << k << "," << j;
        }
      }
    }
  }
}

TEST_F(TileGemmTest, CausalColumnsComputeWhatEachRowNeeds) {
  // kColumns: row i's columns j < i + 1 + diagonal hold the product (the
  // bits of the unlimited call); a column no row of its block needs is left
  // as it was. Diagonals inside, before and past a 64-column panel.
  const int64_t M = 70, N = 150, K = 48;
  const std::vector<float> A = Pattern(M * K, 0.2f), B = Pattern(K * N, 0.8f);
  std::vector<float> full(M * N);
  TileGemmNN(M, N, K, 0.3f, A.data(), K, B.data(), N, false, full.data(), N);
  for (int64_t diagonal : {-5, 0, 17, 64, 80, 200}) {
    std::vector<float> C(M * N, -9.0f);
    TileGemmNN(M, N, K, 0.3f, A.data(), K, B.data(), N, false, C.data(), N,
               {CausalLimit::kColumns, diagonal});
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) {
        if (j < i + 1 + diagonal) {
          ASSERT_EQ(C[i * N + j], full[i * N + j]) << "diagonal " << diagonal << " at " << i << "," << j;
        } else if (j >= i + 8 + diagonal) {  // past every block's last row (blocks of <= 8 rows)
          ASSERT_EQ(C[i * N + j], -9.0f) << "diagonal " << diagonal << " wrote " << i << "," << j;
        }
      }
    }
  }
}

TEST_F(TileGemmTest, CausalDepthSkipsOnlyZeroTerms) {
  // kDepth: with A's terms past row i's limit zero (masked probabilities),
  // the limited product equals the full one bit for bit, also accumulating.
  const int64_t M = 70, N = 40, K = 150;
  for (int64_t diagonal : {-3, 0, 33, 100, 200}) {
    std::vector<float> A = Pattern(M * K, 0.6f);
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t k = std::max<int64_t>(0, i + 1 + diagonal); k < K; ++k) A[i * K + k] = 0.0f;
    }
    const std::vector<float> B = Pattern(K * N, 1.3f);
    for (bool accumulate : {false, true}) {
      std::vector<float> full = Pattern(M * N, 0.1f), limited = full;
      TileGemmNN(M, N, K, 0.7f, A.data(), K, B.data(), N, accumulate, full.data(), N);
      TileGemmNN(M, N, K, 0.7f, A.data(), K, B.data(), N, accumulate, limited.data(), N,
                 {CausalLimit::kDepth, diagonal});
      for (int64_t i = 0; i < M * N; ++i) {
        // Equal values (a skipped 0 * b may only turn a -0 sum into +0).
        ASSERT_EQ(limited[i], full[i]) << "diagonal " << diagonal << " element " << i;
      }
    }
  }
}

TEST_F(TileGemmTest, SameBitsEveryCall) {
  // One FMA chain per element in a fixed order: repeated calls and calls on
  // a row subset give identical bits (what attention's thread invariance
  // rests on).
  const int64_t M = 64, N = 48, K = 256;
  const std::vector<float> A = Pattern(M * K, 0.9f), B = Pattern(K * N, 0.4f);
  std::vector<float> C1(M * N), C2(M * N);
  TileGemmNN(M, N, K, 0.5f, A.data(), K, B.data(), N, false, C1.data(), N);
  TileGemmNN(M, N, K, 0.5f, A.data(), K, B.data(), N, false, C2.data(), N);
  EXPECT_EQ(C1, C2);
  std::vector<float> tail(5 * N);
  TileGemmNN(5, N, K, 0.5f, A.data() + 59 * K, K, B.data(), N, false, tail.data(), N);
  for (int64_t i = 0; i < 5 * N; ++i) ASSERT_EQ(tail[i], C1[59 * N + i]) << i;
}

}  // namespace
}  // namespace hs::kernels::cpu::internal
