// File: models/kernels/cpu/gemm.cc
//
// fp32 GEMM through OpenBLAS's cblas_sgemm (row-major) and the three
// Linear-layer products built on it. OpenBLAS is the OpenMP build, so it
// uses the thread count haiscale/threads.h set; for a fixed count its
// blocking, and hence the summation order, is fixed.
//
// Usage:
//   LinearForward(out, inp, weight, N, I, O);            // out = inp @ W^T
//   LinearBackwardInput(dinp, dout, weight, N, I, O);    // dinp += dout @ W
//   LinearBackwardWeight(dweight, dout, inp, N, I, O);   // dW += dout^T @ inp
//   LinearBackward(dinp, false, dweight, dout, inp, weight, N, I, O);  // both
#include "models/kernels/cpu/gemm.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>

#include "haiscale/logging.h"
#include "models/kernels/cpu/weight_grad_queue.h"

namespace hs::kernels::cpu {

namespace {
thread_local WeightGradQueue* t_active_queue = nullptr;
}  // namespace

WeightGradQueue* ActiveWeightGradQueue() { return t_active_queue; }

WeightGradScope::WeightGradScope(WeightGradQueue* queue) : previous_(t_active_queue) {
  t_active_queue = queue;
}

WeightGradScope::~WeightGradScope() { t_active_queue = previous_; }

void WeightGradQueue::Push(float* dweight, const float* dout, const float* inp, int64_t N,
                           int64_t I, int64_t O) {
  Item item{dweight, std::vector<float>(dout, dout + N * O), std::vector<float>(inp, inp + N * I),
            N, I, O};
  bytes_ += int64_t(item.dout.size() + item.inp.size()) * 4;
  items_.push_back(std::move(item));
}

bool WeightGradQueue::RunOne() {
  if (items_.empty()) return false;
  Item item = std::move(items_.front());
  items_.pop_front();
  bytes_ -= int64_t(item.dout.size() + item.inp.size()) * 4;
  Gemm(/*trans_a=*/true, /*trans_b=*/false, item.O, item.I, item.N, 1.0f, item.dout.data(),
       item.O, item.inp.data(), item.I, 1.0f, item.dweight, item.I);
  return true;
}

void WeightGradQueue::RunAll() {
  while (RunOne()) {
  }
}

// Gemm: see gemm.h. cblas needs lda >= max(1, columns of the stored A), and
// rejects K == 0 on some builds, so the degenerate shapes are done here.
void Gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
          float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc) {
  HS_CHECK(M >= 0 && N >= 0 && K >= 0) << "M=" << M << " N=" << N << " K=" << K;
  if (M == 0 || N == 0) return;
  HS_CHECK(ldc >= N) << "ldc=" << ldc << " < N=" << N;
  HS_CHECK(lda >= (trans_a ? M : K)) << "lda=" << lda;
  HS_CHECK(ldb >= (trans_b ? K : N)) << "ldb=" << ldb;
  if (K == 0 || alpha == 0.0f) {
    // C = beta * C; beta == 0 overwrites (never reads C), as BLAS does.
    for (int64_t i = 0; i < M; ++i) {
      float* c = C + i * ldc;
      if (beta == 0.0f) {
        std::fill(c, c + N, 0.0f);
      } else if (beta != 1.0f) {
        for (int64_t j = 0; j < N; ++j) c[j] *= beta;
      }
    }
    return;
  }
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(M),
              static_cast<int>(N), static_cast<int>(K), alpha, A,
              static_cast<int>(std::max<int64_t>(lda, 1)), B,
              static_cast<int>(std::max<int64_t>(ldb, 1)), beta, C,
              static_cast<int>(ldc));
}

namespace {

// OneProductPerThread(): true at exactly two threads outside a parallel
// region, where LinearForward and LinearBackward give each thread a
// single-threaded product of their own. With more threads that would leave
// cores idle: OpenBLAS runs single-threaded inside a parallel region, so a
// product there cannot split further.
bool OneProductPerThread() { return omp_get_max_threads() == 2 && !omp_in_parallel(); }

// Rows per half at least this (and a multiple of it, OpenBLAS's SKYLAKEX
// sgemm unroll) for LinearForward to split.
constexpr int64_t kSplitRows = 16;

// LinearBackward pairs its products up to this many multiply-adds each
// (N * I * O). Above it OpenBLAS's own two-thread split is as fast or
// faster: the products take unequal times, so one thread of the pair
// waits (interleaved best-of-30, small config's shapes at 2 threads: pair /
// in turn 1.07-1.43x up to 2^28 MACs, 1.03-1.09x at 2048 x 688 x 256,
// 0.98-1.02x at 2048 x 256 x 1376, 0.93-1.00x for the lm_head's 2^32).
constexpr int64_t kPairMaxMacs = int64_t(1) << 29;

}  // namespace

// LinearForward: out[N,O] = inp[N,I] @ weight[O,I]^T. At two threads the
// rows are halved (at a multiple of 16) and each thread runs its half as a
// single-threaded product: 1.02-1.2x faster on the model's shapes than
// OpenBLAS's own two-thread split, whose threads share the packed weight
// and wait for each other. Every row is the same sum for a fixed thread
// count either way.
void LinearForward(float* out, const float* inp, const float* weight,
                   int64_t N, int64_t I, int64_t O) {
  if (!OneProductPerThread() || N < 2 * kSplitRows) {
    Gemm(/*trans_a=*/false, /*trans_b=*/true, N, O, I, 1.0f, inp, I, weight, I, 0.0f, out, O);
    return;
  }
  const int64_t first = (N / 2 + kSplitRows - 1) / kSplitRows * kSplitRows;
  // A loop over the halves, not one per thread id: a team smaller than
  // asked for still does both.
#pragma omp parallel for num_threads(2) schedule(static, 1)
  for (int half = 0; half < 2; ++half) {
    const int64_t r0 = half == 0 ? 0 : first;
    const int64_t rows = half == 0 ? first : N - first;
    Gemm(/*trans_a=*/false, /*trans_b=*/true, rows, O, I, 1.0f, inp + r0 * I, I, weight, I, 0.0f,
         out + r0 * O, O);
  }
}

// LinearBackwardInput: dinp[N,I] += dout[N,O] @ weight[O,I].
void LinearBackwardInput(float* dinp, const float* dout, const float* weight,
                         int64_t N, int64_t I, int64_t O) {
  Gemm(/*trans_a=*/false, /*trans_b=*/false, N, I, O, 1.0f, dout, O, weight,
       I, 1.0f, dinp, I);
}

// LinearBackwardInputSet: dinp[N,I] = dout[N,O] @ weight[O,I].
void LinearBackwardInputSet(float* dinp, const float* dout, const float* weight,
                            int64_t N, int64_t I, int64_t O) {
  Gemm(/*trans_a=*/false, /*trans_b=*/false, N, I, O, 1.0f, dout, O, weight,
       I, 0.0f, dinp, I);
}

// LinearBackwardWeight: dweight[O,I] += dout[N,O]^T @ inp[N,I].
void LinearBackwardWeight(float* dweight, const float* dout, const float* inp,
                          int64_t N, int64_t I, int64_t O) {
  if (t_active_queue != nullptr) {
    // Zero-bubble pipelines: record now, run when the schedule has a gap.
    t_active_queue->Push(dweight, dout, inp, N, I, O);
    return;
  }
  Gemm(/*trans_a=*/true, /*trans_b=*/false, O, I, N, 1.0f, dout, O, inp, I,
       1.0f, dweight, I);
}

// LinearBackward: see gemm.h (two sections: OneProductPerThread above).
void LinearBackward(float* dinp, bool accumulate_dinp, float* dweight, const float* dout,
                    const float* inp, const float* weight, int64_t N, int64_t I, int64_t O) {
  auto input_grad = [&] {
    if (accumulate_dinp) {
      LinearBackwardInput(dinp, dout, weight, N, I, O);
    } else {
      LinearBackwardInputSet(dinp, dout, weight, N, I, O);
    }
  };
  const bool pair =
      OneProductPerThread() && t_active_queue == nullptr && N * I * O <= kPairMaxMacs;
  if (!pair) {
    input_grad();
    LinearBackwardWeight(dweight, dout, inp, N, I, O);
    return;
  }
#pragma omp parallel sections num_threads(2)
  {
#pragma omp section
    input_grad();
#pragma omp section
    LinearBackwardWeight(dweight, dout, inp, N, I, O);
  }
}

}  // namespace hs::kernels::cpu
