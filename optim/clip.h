// File: optim/clip.h
//
// Global L2 gradient-norm clipping, as torch.nn.utils.clip_grad_norm_:
//   norm  = sqrt(sum_i g_i^2)                         (over the whole span)
//   scale = max_norm / (norm + 1e-6)   when norm > max_norm, else 1
//   g_i  *= scale
// The sum is accumulated in double and is deterministic: the span is cut
// into fixed kClipChunk-element chunks, each summed sequentially, and the
// chunk sums are added in chunk order, so the result is bit-identical for
// any OpenMP thread count. A distributed trainer whose gradients are split
// (ZeRO-1 shards, pipeline stages) adds SumOfSquares of each part across
// ranks in a fixed order, then calls ClipScale and hands the scale to
// Optimizer::Step (grad_scale), which applies it as it reads the
// gradients: the same bits as ScaleGradients, without its pass.
//
// Usage:
//   ClipResult r = ClipGradNorm(grads, n, /*max_norm=*/1.0);
//   if (!r.finite) { skip the step; }      // grads were left untouched
//   log("grad-norm", r.norm);              // the pre-clip norm
#ifndef OPTIM_CLIP_H_
#define OPTIM_CLIP_H_

#include <cstdint>

namespace hs::optim {

// Elements per deterministic reduction chunk.
inline constexpr int64_t kClipChunk = 1 << 14;

// SumOfSquares(g, n): sum of g[i]^2 in double, fixed reduction order.
// NaN or inf when some element is non-finite (or the sum overflows).
double SumOfSquares(const float* g, int64_t n);

// ClipScale(norm, max_norm): max_norm / (norm + 1e-6) when norm > max_norm,
// else 1. max_norm <= 0 disables clipping (1). A non-finite norm gives 1.
double ClipScale(double norm, double max_norm);

// ScaleGradients(g, n, scale): g[i] *= scale (OpenMP-parallel).
void ScaleGradients(float* g, int64_t n, double scale);

// ClipResult: what ClipGradNorm did.
struct ClipResult {
  double norm = 0.0;   // pre-clip global L2 norm (NaN/inf if non-finite)
  double scale = 1.0;  // factor applied to the gradients (1: untouched)
  bool finite = true;  // false: norm is NaN/inf and nothing was scaled
  bool clipped = false;
};

// ClipGradNorm(g, n, max_norm)
//
// Computes the global norm of g[n] and scales g in place when it exceeds
// max_norm (max_norm <= 0: measure only). A non-finite norm is reported
// (finite = false) with the gradients left as they were, so the trainer
// can skip the step or abort.
ClipResult ClipGradNorm(float* g, int64_t n, double max_norm);

}  // namespace hs::optim

#endif  // OPTIM_CLIP_H_
