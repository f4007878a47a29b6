// File: models/kernels/cuda/gemm.h
//
// GEMMs on the GPU through cuBLASLt: bf16 A and B, fp32 accumulation
// (CUBLAS_COMPUTE_32F, fp32 alpha/beta), bf16 or fp32 C. Row-major on the
// C++ side, like models/kernels/cpu/gemm.h (the CPU twin): a row-major
// X[r,c] is the column-major X^T, so C = op(A) op(B) is issued as
// C^T = op(B)^T op(A)^T with the operands swapped (see gemm.cc).
// Legend: N rows (tokens), I in features, O out features, E experts.
// Accumulation rule (as the CPU twin): forward outputs (=); input and
// weight gradients (+=).
//
// GemmContext owns the cuBLASLt handle, a workspace (32 MiB by default:
// the size NVIDIA recommends for Hopper) and a cache of matmul plans (the
// descriptors plus the algorithm cuBLASLt's heuristic picked) keyed by
// (transposes, M, N, K, leading dims, C type, beta != 0, pointer
// alignments). The heuristic runs once per new key; the cache holds at
// most kMaxPlans keys and is emptied when full (routing makes the grouped
// GEMMs' row counts vary from step to step). One context per device and
// thread; it is not thread-safe.
//
// The grouped expert GEMM is a loop over the experts on the host, one
// cuBLASLt matmul per non-empty expert, on `stream`, with the row offsets
// on the host (MoePermute's expert_offsets copied back once per layer).
// Chosen over cuBLAS's grouped-batched API because the per-expert shapes
// stay plain 2-D matmuls with their own cached heuristics, bf16 -> fp32
// weight gradients work the same way, and E <= 160 launches cost well
// under the expert GEMMs themselves at DeepSeek-V2 sizes.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(std::unique_ptr<GemmContext> gemm, GemmContext::Create());
//   HS_RETURN_IF_ERROR(LinearForward(*gemm, out, inp, w, N, I, O, stream));
//   HS_RETURN_IF_ERROR(LinearBackwardInput(*gemm, dinp, dout, w, N, I, O, stream));
//   HS_RETURN_IF_ERROR(LinearBackwardWeight(*gemm, dw, dout, inp, N, I, O, stream));
#ifndef MODELS_KERNELS_CUDA_GEMM_H_
#define MODELS_KERNELS_CUDA_GEMM_H_

#include <cuda_runtime_api.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

enum class GemmOut { kBf16, kF32 };

// MatmulArgs: row-major C[M,N] = alpha * op(A)[M,K] @ op(B)[K,N] + beta*C.
// op(A) = A^T when trans_a (A stored [K,M], leading dim lda); likewise B.
// C is bf16 (bf16_bits) or fp32 per c_type; D = C (in place).
struct MatmulArgs {
  bool trans_a = false, trans_b = false;
  int64_t M = 0, N = 0, K = 0;
  const bf16_bits* A = nullptr;
  int64_t lda = 0;
  const bf16_bits* B = nullptr;
  int64_t ldb = 0;
  void* C = nullptr;
  int64_t ldc = 0;
  GemmOut c_type = GemmOut::kBf16;
  float alpha = 1.0f, beta = 0.0f;
};

class GemmContext {
 public:
  static constexpr int64_t kDefaultWorkspaceBytes = int64_t(32) << 20;
  static constexpr size_t kMaxPlans = 1024;

  // GemmContext::Create(workspace_bytes): a context on the current device.
  static absl::StatusOr<std::unique_ptr<GemmContext>> Create(
      int64_t workspace_bytes = kDefaultWorkspaceBytes);
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  // GemmContext::Matmul: see MatmulArgs. InvalidArgument for inconsistent
  // sizes or leading dims; cuBLASLt errors as Status naming the call.
  absl::Status Matmul(const MatmulArgs& args, cudaStream_t stream);

  // GemmContext::plan_count(): plans in the cache now.
  size_t plan_count() const { return plans_.size(); }
  // GemmContext::heuristic_calls(): heuristic queries so far (cache misses).
  int64_t heuristic_calls() const { return heuristic_calls_; }

 private:
  struct Plan;
  // (trans_a, trans_b, M, N, K, lda, ldb, ldc, c_type, beta!=0, alignments)
  using Key = std::tuple<bool, bool, int64_t, int64_t, int64_t, int64_t, int64_t,
                         int64_t, int, bool, int, int, int>;
  GemmContext() = default;
  absl::StatusOr<const Plan*> GetPlan(const MatmulArgs& a, const Key& key);
  void ClearPlans();

  void* handle_ = nullptr;     // cublasLtHandle_t
  void* workspace_ = nullptr;  // device memory
  int64_t workspace_bytes_ = 0;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  int64_t heuristic_calls_ = 0;
};

// LinearForward: out[N,O] (=, bf16) = inp[N,I] @ weight[O,I]^T.
absl::Status LinearForward(GemmContext& ctx, bf16_bits* out, const bf16_bits* inp,
                           const bf16_bits* weight, int64_t N, int64_t I, int64_t O,
                           cudaStream_t stream);

// LinearBackwardInput: dinp[N,I] (+=, bf16) += dout[N,O] @ weight[O,I].
absl::Status LinearBackwardInput(GemmContext& ctx, bf16_bits* dinp,
                                 const bf16_bits* dout, const bf16_bits* weight,
                                 int64_t N, int64_t I, int64_t O, cudaStream_t stream);

// LinearBackwardWeight: dweight[O,I] (+=, fp32) += dout[N,O]^T @ inp[N,I].
absl::Status LinearBackwardWeight(GemmContext& ctx, float* dweight,
                                  const bf16_bits* dout, const bf16_bits* inp,
                                  int64_t N, int64_t I, int64_t O, cudaStream_t stream);

// Grouped expert GEMMs: rows [offsets[e], offsets[e+1]) of inp / out /
// dout belong to expert e (host array of E+1 offsets); weights[e] is
// expert e's [O,I] matrix (host array of E device pointers). Experts
// without rows are skipped (their dweight is left as is).
absl::Status GroupedLinearForward(GemmContext& ctx, bf16_bits* out,
                                  const bf16_bits* inp,
                                  const bf16_bits* const* weights,
                                  const int64_t* offsets, int64_t E, int64_t I,
                                  int64_t O, cudaStream_t stream);
absl::Status GroupedLinearBackwardInput(GemmContext& ctx, bf16_bits* dinp,
                                        const bf16_bits* dout,
                                        const bf16_bits* const* weights,
                                        const int64_t* offsets, int64_t E,
                                        int64_t I, int64_t O, cudaStream_t stream);
absl::Status GroupedLinearBackwardWeight(GemmContext& ctx, float* const* dweights,
                                         const bf16_bits* dout, const bf16_bits* inp,
                                         const int64_t* offsets, int64_t E,
                                         int64_t I, int64_t O, cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_GEMM_H_
