// File: models/kernels/cpu/rms_norm.h
//
// RMSNorm as Hugging Face's DeepseekV2RMSNorm computes it:
//   rstd[n] = 1 / sqrt(mean_c(x[n,c]^2) + eps)
//   out[n,c] = weight[c] * (x[n,c] * rstd[n])
// Legend: N = rows, C = channels.
#ifndef MODELS_KERNELS_CPU_RMS_NORM_H_
#define MODELS_KERNELS_CPU_RMS_NORM_H_

#include <cstdint>

namespace hs::kernels::cpu {

// RmsNormForward: out[N,C] (=), rstd[N] (=, saved for backward).
void RmsNormForward(float* out, float* rstd, const float* inp,
                    const float* weight, int64_t N, int64_t C, float eps);

// RmsNormBackward: dinp[N,C] (+=), dweight[C] (+=).
//   xhat = x * rstd;  dweight += sum_n dout * xhat
//   dinp += rstd * (dout*w - xhat * mean_c(dout*w*xhat))
// With dinp_base [N,C], dinp (=) dinp_base + that instead: the same sums as
// copying dinp_base into dinp first (a residual's gradient), without the
// copy. dweight's sum over rows is deterministic for a fixed thread count.
void RmsNormBackward(float* dinp, float* dweight, const float* dout,
                     const float* inp, const float* weight, const float* rstd,
                     int64_t N, int64_t C, const float* dinp_base = nullptr);

}  // namespace hs::kernels::cpu

#endif  // MODELS_KERNELS_CPU_RMS_NORM_H_
