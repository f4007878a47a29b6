// File: models/kernels/cpu/internal/cpu_features.h
//
// HasAvx512(): whether this CPU runs the kernels' AVX-512 variants, those
// compiled with target("avx512f,avx512vl,avx512dq,avx512bw"). The one
// run-time check every CPU kernel with such a variant dispatches on (asked
// of the CPU once).
//
// Usage:
//   if (internal::HasAvx512()) FooAvx512(...); else FooAvx2(...);
#ifndef MODELS_KERNELS_CPU_INTERNAL_CPU_FEATURES_H_
#define MODELS_KERNELS_CPU_INTERNAL_CPU_FEATURES_H_

namespace hs::kernels::cpu::internal {

inline bool HasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                          __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw");
  return has;
}

}  // namespace hs::kernels::cpu::internal

#endif  // MODELS_KERNELS_CPU_INTERNAL_CPU_FEATURES_H_
