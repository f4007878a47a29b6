// File: models/kernels/cuda/gemm.cc
//
// cuBLASLt GEMMs (see gemm.h). The row-major -> column-major mapping:
// a row-major X[r,c] with row stride ld is, byte for byte, the
// column-major X^T (rows c, cols r, leading dim ld). So
//   row-major C[M,N] = op(A)[M,K] op(B)[K,N]
// is computed as the column-major
//   C^T[N,M] = op(B)^T[N,K] op(A)^T[K,M]
// i.e. cuBLASLt's (m, n, k) = (N, M, K), its "A" is our B and its "B" is
// our A, each with the same transpose flag:
//   our B, !trans_b: stored [K,N] = col-major [N,K] = op(B)^T   -> OP_N
//   our B,  trans_b: stored [N,K] = col-major [K,N]            -> OP_T
//   our A, !trans_a: stored [M,K] = col-major [K,M] = op(A)^T   -> OP_N
//   our A,  trans_a: stored [K,M] = col-major [M,K]            -> OP_T
//   C: stored [M,N] = col-major [N,M].
#include "models/kernels/cuda/gemm.h"

#include <cublasLt.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "haiscale/cuda/cublas_error.h"
#include "haiscale/cuda/error.h"

namespace hs::kernels::cuda {

// Plan: the descriptors of one shape and the algorithm the heuristic chose.
struct GemmContext::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // cuBLASLt's A, B, C=D
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  ~Plan() {
    if (c != nullptr) cublasLtMatrixLayoutDestroy(c);
    if (b != nullptr) cublasLtMatrixLayoutDestroy(b);
    if (a != nullptr) cublasLtMatrixLayoutDestroy(a);
    if (desc != nullptr) cublasLtMatmulDescDestroy(desc);
  }
};

namespace {

cublasLtHandle_t Handle(void* h) { return static_cast<cublasLtHandle_t>(h); }

// Alignment: the largest power of two (<= 256) dividing the address.
int Alignment(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  if (v == 0) return 256;
  return int(std::min<uintptr_t>(256, v & (~v + 1)));
}

// ShapeString: "M=.. N=.. K=.." for error messages.
std::string ShapeString(const MatmulArgs& a) {
  return absl::StrCat("M=", a.M, " N=", a.N, " K=", a.K, " lda=", a.lda, " ldb=", a.ldb,
                      " ldc=", a.ldc, a.trans_a ? " A^T" : "", a.trans_b ? " B^T" : "",
                      a.c_type == GemmOut::kF32 ? " C fp32" : " C bf16");
}

absl::Status Validate(const MatmulArgs& a) {
  const bool ok = a.M >= 0 && a.N >= 0 && a.K >= 0 &&
                  a.lda >= std::max<int64_t>(1, a.trans_a ? a.M : a.K) &&
                  a.ldb >= std::max<int64_t>(1, a.trans_b ? a.K : a.N) &&
                  a.ldc >= std::max<int64_t>(1, a.N);
  if (!ok) return absl::InvalidArgumentError("GemmContext::Matmul: bad sizes " + ShapeString(a));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<GemmContext>> GemmContext::Create(int64_t workspace_bytes) {
  std::unique_ptr<GemmContext> ctx(new GemmContext());
  cublasLtHandle_t h = nullptr;
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtCreate(&h));
  ctx->handle_ = h;
  ctx->workspace_bytes_ = std::max<int64_t>(workspace_bytes, 0);
  if (ctx->workspace_bytes_ > 0) {
    HS_CUDA_RETURN_IF_ERROR(cudaMalloc(&ctx->workspace_, size_t(ctx->workspace_bytes_)));
  }
  return ctx;
}

GemmContext::~GemmContext() {
  ClearPlans();
  // Errors are ignored: the context may be gone at exit.
  if (workspace_ != nullptr) cudaFree(workspace_);
  if (handle_ != nullptr) cublasLtDestroy(Handle(handle_));
}

void GemmContext::ClearPlans() { plans_.clear(); }

absl::StatusOr<const GemmContext::Plan*> GemmContext::GetPlan(const MatmulArgs& a,
                                                               const Key& key) {
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  if (plans_.size() >= kMaxPlans) ClearPlans();
  auto plan = std::make_unique<Plan>();
  // Compute fp32, scale fp32; the transposes of cuBLASLt's A (our B) and B (our A).
  HS_CUBLAS_RETURN_IF_ERROR(
      cublasLtMatmulDescCreate(&plan->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t op_a = a.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t op_b = a.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
      plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof(op_a)));
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulDescSetAttribute(
      plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof(op_b)));
  // Stored (pre-op) column-major shapes, see the banner.
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(
      &plan->a, CUDA_R_16BF, uint64_t(a.trans_b ? a.K : a.N),
      uint64_t(a.trans_b ? a.N : a.K), a.ldb));
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(
      &plan->b, CUDA_R_16BF, uint64_t(a.trans_a ? a.M : a.K),
      uint64_t(a.trans_a ? a.K : a.M), a.lda));
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatrixLayoutCreate(
      &plan->c, a.c_type == GemmOut::kF32 ? CUDA_R_32F : CUDA_R_16BF, uint64_t(a.N),
      uint64_t(a.M), a.ldc));

  cublasLtMatmulPreference_t pref = nullptr;
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = uint64_t(workspace_bytes_);
  const uint32_t align_a = uint32_t(std::get<11>(key));  // our B
  const uint32_t align_b = uint32_t(std::get<10>(key));  // our A
  const uint32_t align_c = uint32_t(std::get<12>(key));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  cublasStatus_t st = cublasLtMatmulPreferenceSetAttribute(
      pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws));
  if (st == CUBLAS_STATUS_SUCCESS) {
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                              &align_a, sizeof(align_a));
  }
  if (st == CUBLAS_STATUS_SUCCESS) {
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                              &align_b, sizeof(align_b));
  }
  if (st == CUBLAS_STATUS_SUCCESS) {
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                              &align_c, sizeof(align_c));
  }
  if (st == CUBLAS_STATUS_SUCCESS) {
    st = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                              &align_c, sizeof(align_c));
  }
  if (st == CUBLAS_STATUS_SUCCESS) {
    ++heuristic_calls_;
    st = cublasLtMatmulAlgoGetHeuristic(Handle(handle_), plan->desc, plan->a, plan->b,
                                        plan->c, plan->c, pref, 1, &result, &found);
  }
  cublasLtMatmulPreferenceDestroy(pref);
  HS_CUBLAS_RETURN_IF_ERROR(st);
  if (found == 0) {
    return absl::NotFoundError("cuBLASLt heuristic found no algorithm for " + ShapeString(a));
  }
  plan->algo = result.algo;
  plan->workspace = result.workspaceSize;
  const Plan* p = plan.get();
  plans_.emplace(key, std::move(plan));
  return p;
}

absl::Status GemmContext::Matmul(const MatmulArgs& a, cudaStream_t stream) {
  if (absl::Status s = Validate(a); !s.ok()) return s;
  if (a.M == 0 || a.N == 0) return absl::OkStatus();
  if (a.K == 0) {
    if (a.beta == 1.0f) return absl::OkStatus();  // C += nothing
    return absl::InvalidArgumentError("GemmContext::Matmul: K = 0 with beta != 1");
  }
  const Key key{a.trans_a, a.trans_b, a.M, a.N, a.K, a.lda, a.ldb, a.ldc,
                int(a.c_type), a.beta != 0.0f, Alignment(a.A), Alignment(a.B),
                Alignment(a.C)};
  absl::StatusOr<const Plan*> plan = GetPlan(a, key);
  if (!plan.ok()) return plan.status();
  const Plan& p = **plan;
  HS_CUBLAS_RETURN_IF_ERROR(cublasLtMatmul(
      Handle(handle_), p.desc, &a.alpha, a.B, p.a, a.A, p.b, &a.beta, a.C, p.c, a.C, p.c,
      &p.algo, workspace_, p.workspace, stream));
  return absl::OkStatus();
}

absl::Status LinearForward(GemmContext& ctx, bf16_bits* out, const bf16_bits* inp,
                           const bf16_bits* weight, int64_t N, int64_t I, int64_t O,
                           cudaStream_t stream) {
  MatmulArgs a;
  a.trans_b = true;  // weight [O,I] -> op = W^T [I,O]
  a.M = N, a.N = O, a.K = I;
  a.A = inp, a.lda = I;
  a.B = weight, a.ldb = I;
  a.C = out, a.ldc = O;
  return ctx.Matmul(a, stream);
}

absl::Status LinearBackwardInput(GemmContext& ctx, bf16_bits* dinp,
                                 const bf16_bits* dout, const bf16_bits* weight,
                                 int64_t N, int64_t I, int64_t O, cudaStream_t stream) {
  MatmulArgs a;
  a.M = N, a.N = I, a.K = O;
  a.A = dout, a.lda = O;
  a.B = weight, a.ldb = I;  // [O,I] = [K,N]
  a.C = dinp, a.ldc = I;
  a.beta = 1.0f;
  return ctx.Matmul(a, stream);
}

absl::Status LinearBackwardWeight(GemmContext& ctx, float* dweight,
                                  const bf16_bits* dout, const bf16_bits* inp,
                                  int64_t N, int64_t I, int64_t O, cudaStream_t stream) {
  MatmulArgs a;
  a.trans_a = true;  // dout [N,O] = [K,M]
  a.M = O, a.N = I, a.K = N;
  a.A = dout, a.lda = O;
  a.B = inp, a.ldb = I;
  a.C = dweight, a.ldc = I;
  a.c_type = GemmOut::kF32;
  a.beta = 1.0f;
  return ctx.Matmul(a, stream);
}

namespace {

// ForEachExpert: fn(e, first_row, rows) for the experts with rows, with
// the expert's context added to an error.
template <typename Fn>
absl::Status ForEachExpert(const int64_t* offsets, int64_t E, Fn fn) {
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = offsets[e], rows = offsets[e + 1] - offsets[e];
    if (rows < 0) {
      return absl::InvalidArgumentError(absl::StrCat("expert ", e, ": offsets decrease"));
    }
    if (rows == 0) continue;
    if (absl::Status s = fn(e, r0, rows); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("expert ", e, " (", rows, " rows): ",
                                                 s.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status GroupedLinearForward(GemmContext& ctx, bf16_bits* out,
                                  const bf16_bits* inp,
                                  const bf16_bits* const* weights,
                                  const int64_t* offsets, int64_t E, int64_t I,
                                  int64_t O, cudaStream_t stream) {
  return ForEachExpert(offsets, E, [&](int64_t e, int64_t r0, int64_t rows) {
    return LinearForward(ctx, out + r0 * O, inp + r0 * I, weights[e], rows, I, O, stream);
  });
}

absl::Status GroupedLinearBackwardInput(GemmContext& ctx, bf16_bits* dinp,
                                        const bf16_bits* dout,
                                        const bf16_bits* const* weights,
                                        const int64_t* offsets, int64_t E,
                                        int64_t I, int64_t O, cudaStream_t stream) {
  return ForEachExpert(offsets, E, [&](int64_t e, int64_t r0, int64_t rows) {
    return LinearBackwardInput(ctx, dinp + r0 * I, dout + r0 * O, weights[e], rows, I, O,
                               stream);
  });
}

absl::Status GroupedLinearBackwardWeight(GemmContext& ctx, float* const* dweights,
                                         const bf16_bits* dout, const bf16_bits* inp,
                                         const int64_t* offsets, int64_t E,
                                         int64_t I, int64_t O, cudaStream_t stream) {
  return ForEachExpert(offsets, E, [&](int64_t e, int64_t r0, int64_t rows) {
    return LinearBackwardWeight(ctx, dweights[e], dout + r0 * O, inp + r0 * I, rows, I, O,
                                stream);
  });
}

}  // namespace hs::kernels::cuda
