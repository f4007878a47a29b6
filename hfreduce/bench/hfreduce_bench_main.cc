// File: hfreduce/bench/hfreduce_bench_main.cc — a `hai` stand-in holding
// only the hfreduce benchmarks, for testing without //tools:hai.
//
// Usage: mpirun -np 4 hfreduce_bench_main bench allreduce --ranks-per-node 2
#include "haiscale/cli/subcommand.h"

int main(int argc, char** argv) { return hs::cli::RunMain(argc, argv); }
