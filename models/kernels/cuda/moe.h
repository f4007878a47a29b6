// File: models/kernels/cuda/moe.h
//
// DeepSeekMoE routing on the GPU: router softmax (fwd/bwd), top-k
// selection (greedy and group-limited greedy), the token permute that
// groups the N*K (token, choice) slots by expert, and the un-permute with
// the weighted combine (fwd/bwd). CPU twins: models/kernels/cpu/moe_gate.h
// (softmax, top-k: same semantics, ties to the lower expert index) and
// models/moe/expert_dispatcher.h (LocalExpertDispatcher: the same
// expert_offsets and slot rows, token order within an expert) followed by
// the weighted sum of models/layers/moe.cc.
// Legend: N tokens, E routed experts, K experts per token, C hidden,
// R = N*K rows of the expert input (fewer when ids are invalid).
//
//   probs[n,e]   = softmax_e(logits[n,e])              fp32, sum in fp64
//   idx, weight  = top-K of probs (score desc, index asc)
//   expert_in[slot_row[n*K+k]] = x[n]                  permute (dispatch)
//   y[n]         = sum_k w[n,k] expert_out[slot_row[n*K+k]]   combine
// Backward:
//   dexpert_out[slot_row[n*K+k]] = w[n,k] dy[n];  dw[n,k] = <dy[n], expert_out[row]>
//   dx[n]       += sum_k dexpert_in[slot_row[n*K+k]]   (k order)
// Every result is deterministic: no floating-point atomics; the permute
// is a counting sort whose rows depend only on idx.
//
// Usage (one MoE layer, device pointers):
//   MoeRouterSoftmax(probs, logits, N, E, s);
//   MoeTopK(idx, w, probs, N, E, 6, true, 8, 3, s);   // DeepSeek-V2
//   MoePermute(expert_in, offsets, slot_row, scratch, nullptr, x, idx,
//              N, K, C, E, s);
//   ... copy offsets (E+1 int64) to the host, GroupedLinear* (gemm.h) ...
//   MoeCombine(y, expert_out, w, slot_row, N, K, C, s);
#ifndef MODELS_KERNELS_CUDA_MOE_H_
#define MODELS_KERNELS_CUDA_MOE_H_

#include <cuda_runtime_api.h>

#include <cstdint>

#include "models/kernels/cuda/launch.h"

namespace hs::kernels::cuda {

// MoeRouterSoftmax: probs[N,E] (=) = softmax(logits[N,E]) per row (fp32,
// max-shifted, fp64 sum). E <= kMoeMaxExperts.
cudaError_t MoeRouterSoftmax(float* probs, const float* logits, int64_t N,
                             int64_t E, cudaStream_t stream);

// MoeRouterSoftmaxBackward: dlogits[N,E] (=) = p * (dp - sum_e dp*p).
cudaError_t MoeRouterSoftmaxBackward(float* dlogits, const float* dprobs,
                                     const float* probs, int64_t N, int64_t E,
                                     cudaStream_t stream);

// MoeTopK: idx[N,K] (=, int32), weight[N,K] (=, the selected scores) in
// descending score order, ties to the lower index; NaN scores sort last.
// group_limited: only the experts of the topk_group best groups (group
// score = its best expert's) are eligible. cudaErrorInvalidValue where
// cpu::TopKSelect would HS_CHECK-fail (K > E, E % n_group != 0, ...).
cudaError_t MoeTopK(int32_t* idx, float* weight, const float* scores,
                    int64_t N, int64_t E, int64_t K, bool group_limited,
                    int64_t n_group, int64_t topk_group, cudaStream_t stream);

// MoePermuteScratchInts(slots, E): int32 elements `scratch` must hold.
int64_t MoePermuteScratchInts(int64_t slots, int64_t E);

// MoePermute: counting sort of the N*K slots by expert (= outputs):
//   expert_offsets[E+1] (int64): rows [off[e], off[e+1]) belong to expert e
//   slot_row[N*K] (int32): the expert_in row of slot s; within an expert,
//     slots keep their order (token order), as LocalExpertDispatcher
//   expert_in[R, C] (bf16): row slot_row[s] = x[s / K]
// Slots with an id outside [0, E) get slot_row -1 and no row; their number
// is ADDED to *invalid_count when it is not null (the CPU dispatcher
// returns an error there; check the count).
cudaError_t MoePermute(bf16_bits* expert_in, int64_t* expert_offsets,
                       int32_t* slot_row, int32_t* scratch, int* invalid_count,
                       const bf16_bits* x, const int32_t* idx, int64_t N,
                       int64_t K, int64_t C, int64_t E, cudaStream_t stream);

// MoePermuteBackward: dx[N,C] (+=) += sum_k dexpert_in[slot_row[n*K+k]],
// k in order, fp32 sum, one bf16 rounding.
cudaError_t MoePermuteBackward(bf16_bits* dx, const bf16_bits* dexpert_in,
                               const int32_t* slot_row, int64_t N, int64_t K,
                               int64_t C, cudaStream_t stream);

// MoeCombine: y[N,C] (=) = sum_k weight[n,k] * expert_out[slot_row[n*K+k]]
// (k in order, fp32; slots with row -1 add nothing).
cudaError_t MoeCombine(bf16_bits* y, const bf16_bits* expert_out,
                       const float* weight, const int32_t* slot_row,
                       int64_t N, int64_t K, int64_t C, cudaStream_t stream);

// MoeCombineBackward: dexpert_out rows (=) = bf16(weight[n,k] * dy[n]) and
// dweight[N,K] (=, fp32, fp64 dot) = <dy[n], expert_out[slot_row[n*K+k]]>
// (0 for slots with row -1).
cudaError_t MoeCombineBackward(bf16_bits* dexpert_out, float* dweight,
                               const bf16_bits* dy,
                               const bf16_bits* expert_out,
                               const float* weight, const int32_t* slot_row,
                               int64_t N, int64_t K, int64_t C,
                               cudaStream_t stream);

}  // namespace hs::kernels::cuda

#endif  // MODELS_KERNELS_CUDA_MOE_H_
