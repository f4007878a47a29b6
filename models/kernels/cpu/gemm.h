// File: models/kernels/cpu/gemm.h
//
// fp32 GEMM on the CPU through OpenBLAS (cblas_sgemm, OpenMP build), and
// the Linear-layer shapes built on it. Row-major throughout.
// Legend: N = rows (tokens), I = in features, O = out features.
// Accumulation rule: forward outputs are overwritten (=); weight and input
// gradients accumulate (+=), as in llm.c, so a residual branch and a
// recomputed block can add into the same buffer.
#ifndef MODELS_KERNELS_CPU_GEMM_H_
#define MODELS_KERNELS_CPU_GEMM_H_

#include <cstdint>

namespace hs::kernels::cpu {

// Gemm: C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta * C.
// op(A) = A^T when trans_a (then A is stored [K,M] with leading dim lda).
void Gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
          float alpha, const float* A, int64_t lda, const float* B,
          int64_t ldb, float beta, float* C, int64_t ldc);

// LinearForward: out[N,O] = inp[N,I] @ weight[O,I]^T (HF nn.Linear layout,
// no bias: DeepSeek-V2 has none). At two threads each thread runs half of
// the rows as a single-threaded product (faster on the model's shapes than
// one product split by OpenBLAS; rows are independent sums, so the result
// is the one-thread result).
void LinearForward(float* out, const float* inp, const float* weight,
                   int64_t N, int64_t I, int64_t O);

// LinearBackwardInput: dinp[N,I] += dout[N,O] @ weight[O,I].
void LinearBackwardInput(float* dinp, const float* dout, const float* weight,
                         int64_t N, int64_t I, int64_t O);

// LinearBackwardInputSet: dinp[N,I] = dout[N,O] @ weight[O,I] (overwrites;
// dinp may be uninitialised). Same products and order as LinearBackwardInput
// into a zeroed buffer (BLAS beta = 0 instead of 1 on zeros).
void LinearBackwardInputSet(float* dinp, const float* dout, const float* weight,
                            int64_t N, int64_t I, int64_t O);

// LinearBackwardWeight: dweight[O,I] += dout[N,O]^T @ inp[N,I].
// Kept separate from the input gradient so a zero-bubble pipeline can
// schedule it later: while a WeightGradQueue is active on this thread
// (weight_grad_queue.h) the GEMM is recorded instead of run.
void LinearBackwardWeight(float* dweight, const float* dout, const float* inp,
                          int64_t N, int64_t I, int64_t O);

// LinearBackward: both products of a Linear's backward,
//   dinp[N,I] (= or, with accumulate_dinp, +=) dout[N,O] @ weight[O,I]
//   dweight[O,I] += dout[N,O]^T @ inp[N,I]   (LinearBackwardWeight's rule)
// They are independent, so with two threads (outside a parallel region, no
// WeightGradQueue active) products of up to 2^29 multiply-adds each run
// single-threaded, one per thread, at once: the model's small products
// (N = 2048 rows on 64-688 features) run 1.03-1.4x faster that way than one
// after the other on both threads. Otherwise (and for larger products,
// where OpenBLAS's own split is as fast) they run in turn. The results are
// fixed run after run either way; on the model's shapes (N = 2048) the
// paired products also equal the two-thread products' bits (a 3-step
// training run gives a byte-identical checkpoint), but OpenBLAS does not
// promise that for every shape (at 3 threads a 512-row product differs in
// the last bits).
void LinearBackward(float* dinp, bool accumulate_dinp, float* dweight, const float* dout,
                    const float* inp, const float* weight, int64_t N, int64_t I, int64_t O);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_GEMM_H_
