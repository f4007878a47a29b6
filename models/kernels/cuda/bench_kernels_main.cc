// File: models/kernels/cuda/bench_kernels_main.cc
//
// A stand-alone `hai` that holds only the CUDA kernel benchmark, so the
// GPU bundle can run it while //tools:hai stays free of cuBLAS (the
// benchmark links cuBLASLt, which gpu_bundle/ cannot carry; see
// docs/cuda.md).
//
// Usage: bench_kernels bench kernels [--tokens 4096 ...]
#include "haiscale/cli/subcommand.h"

int main(int argc, char** argv) { return hs::cli::RunMain(argc, argv); }
