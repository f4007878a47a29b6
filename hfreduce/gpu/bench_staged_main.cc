// File: hfreduce/gpu/bench_staged_main.cc
//
// Benchmark of HFReduce's GPU path: for each size, the staged allreduce of
// a device buffer (StagedAllReducer + CudaCopier: D2H into the pinned
// shared ring, in-place HFReduce, H2D back) against the plain allreduce of
// a host buffer that is already registered (AllocShared: the CPU path's
// best case, no copies at all). The gap is what the PCIe copies cost after
// overlap. Times are the slowest rank's mean over --iters calls; algbw =
// bytes / time (nccl-tests' definition).
//
// Usage (one rank per GPU; device = local rank % visible devices):
//   bench_staged [--min-bytes 1M] [--max-bytes 256M] [--iters 10]
//                [--piece-bytes 4M] [--depth 3] [--dtype f32|bf16]
//   mpirun -np 8 bench_staged --ranks-per-node 8 --max-bytes 1G
//
// Output:
//   #  size  type | staged: time_us  algbw | host registered: time_us  algbw | ratio
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "haiscale/cuda/device.h"
#include "haiscale/cuda/error.h"
#include "haiscale/dtype.h"
#include "hfreduce/gpu/cuda_copier.h"
#include "hfreduce/gpu/staged_allreduce.h"
#include "hfreduce/hfreduce.h"

namespace hs::hfreduce::gpu {
namespace {

struct Args {
  int64_t min_bytes = 1 << 20;
  int64_t max_bytes = 256 << 20;
  int iters = 10;
  int64_t piece_bytes = 4 << 20;
  int depth = 3;
  int ranks_per_node = 0;
  DType dtype = DType::kF32;
};

// "4M", "256K", "1G" or plain bytes.
int64_t ParseBytes(const std::string& s) {
  int64_t mult = 1;
  std::string num = s;
  if (!s.empty()) {
    const char u = s.back();
    if (u == 'K' || u == 'k') mult = 1 << 10;
    if (u == 'M' || u == 'm') mult = 1 << 20;
    if (u == 'G' || u == 'g') mult = 1 << 30;
    if (mult != 1) num.pop_back();
  }
  int64_t v = 0;
  if (!absl::SimpleAtoi(num, &v)) {
    std::fprintf(stderr, "bad size '%s'\n", s.c_str());
    std::exit(2);
  }
  return v * mult;
}

std::string Human(int64_t b) {
  if (b >= (1 << 30) && b % (1 << 30) == 0) return absl::StrCat(b >> 30, "G");
  if (b >= (1 << 20) && b % (1 << 20) == 0) return absl::StrCat(b >> 20, "M");
  if (b >= (1 << 10) && b % (1 << 10) == 0) return absl::StrCat(b >> 10, "K");
  return absl::StrCat(b);
}

void Check(const absl::Status& s, const char* what) {
  if (s.ok()) return;
  std::fprintf(stderr, "bench_staged: %s: %s\n", what, s.ToString().c_str());
  MPI_Abort(MPI_COMM_WORLD, 1);
}

// Mean seconds per call of `f`, the slowest rank's (after one warm-up).
template <typename F>
double TimeCalls(int iters, F f) {
  f();
  MPI_Barrier(MPI_COMM_WORLD);
  const absl::Time t0 = absl::Now();
  for (int i = 0; i < iters; ++i) f();
  double secs = absl::ToDoubleSeconds(absl::Now() - t0) / iters, worst = 0;
  MPI_Allreduce(&secs, &worst, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return worst;
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--min-bytes")
      a.min_bytes = ParseBytes(v);
    else if (k == "--max-bytes")
      a.max_bytes = ParseBytes(v);
    else if (k == "--iters")
      a.iters = std::max(1, std::atoi(v.c_str()));
    else if (k == "--piece-bytes")
      a.piece_bytes = ParseBytes(v);
    else if (k == "--depth")
      a.depth = std::atoi(v.c_str());
    else if (k == "--ranks-per-node")
      a.ranks_per_node = std::atoi(v.c_str());
    else if (k == "--dtype")
      a.dtype = v == "bf16" ? DType::kBF16 : DType::kF32;
    else {
      std::fprintf(stderr, "unknown flag %s (see bench_staged_main.cc)\n", k.c_str());
      return 2;
    }
  }
  // Before MPI: without a GPU there is nothing to measure.
  absl::StatusOr<int> ndev = hs::cuda::DeviceCount();
  if (!ndev.ok()) {
    std::fprintf(stderr, "bench_staged: no CUDA device (%s)\n",
                 std::string(ndev.status().message()).c_str());
    return 1;
  }
  int provided = 0, rank = 0;
  // Started without mpirun (an MPI singleton), OpenMPI would try to fork an
  // orted, which the GPU bundle does not carry: run isolated instead (a
  // no-op under mpirun; an explicit setting wins).
  setenv("OMPI_MCA_ess_singleton_isolated", "1", /*overwrite=*/0);
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  {
    StagedOptions so{a.piece_bytes, a.depth};
    Options o;
    o.ranks_per_node = a.ranks_per_node;
    // The ring plus the host buffer of the baseline (64-byte alignment slack).
    o.registered_bytes = StagedAllReducer::StagingBytes(so) + a.max_bytes + 64;
    auto comm_or = Communicator::Create(MPI_COMM_WORLD, o);
    Check(comm_or.status(), "Communicator::Create");
    std::unique_ptr<Communicator> comm = std::move(*comm_or);
    auto info = hs::cuda::SelectDevice(comm->local_rank() % *ndev);
    Check(info.status(), "SelectDevice");
    auto copier_or = CudaCopier::Create({.device = info->index});
    Check(copier_or.status(), "CudaCopier::Create");
    std::unique_ptr<CudaCopier> copier = std::move(*copier_or);
    auto staged_or = StagedAllReducer::Create(comm.get(), copier.get(), so);
    Check(staged_or.status(), "StagedAllReducer::Create");
    std::unique_ptr<StagedAllReducer> staged = std::move(*staged_or);
    auto host_or = comm->AllocShared(a.max_bytes);
    Check(host_or.status(), "AllocShared");
    void* host = *host_or;
    std::memset(host, 0, a.max_bytes);
    void* dev = nullptr;
    Check(HS_CUDA_STATUS(cudaMalloc(&dev, a.max_bytes)), "cudaMalloc");
    Check(HS_CUDA_STATUS(cudaMemset(dev, 0, a.max_bytes)), "cudaMemset");

    if (rank == 0) {
      std::printf("# bench_staged: %d ranks, %s\n# %s\n# copier: %s, pieces %s x %d\n",
                  comm->size(), info->ToString().c_str(), comm->Describe().c_str(),
                  copier->Describe().c_str(), Human(staged->slot_bytes()).c_str(), staged->depth());
      std::printf("#%11s %5s | %12s %9s | %12s %9s | %6s\n", "size", "type", "staged_us", "algbw",
                  "hostreg_us", "algbw", "ratio");
    }
    const int64_t es = DTypeSize(a.dtype);
    for (int64_t bytes = a.min_bytes; bytes <= a.max_bytes; bytes *= 2) {
      const int64_t count = bytes / es;
      const double t_staged = TimeCalls(a.iters, [&] {
        Check(staged->AllReduce(dev, count, a.dtype, ReduceOp::kSum), "staged");
      });
      const double t_host = TimeCalls(
          a.iters, [&] { Check(comm->AllReduce(host, count, a.dtype, ReduceOp::kSum), "host"); });
      if (rank == 0) {
        const double bw_s = bytes / t_staged / 1e9, bw_h = bytes / t_host / 1e9;
        std::printf("%12s %5s | %12.1f %9.2f | %12.1f %9.2f | %6.2f\n", Human(bytes).c_str(),
                    DTypeName(a.dtype), t_staged * 1e6, bw_s, t_host * 1e6, bw_h, bw_s / bw_h);
      }
    }
    (void)cudaFree(dev);
  }
  MPI_Finalize();
  return 0;
}

}  // namespace
}  // namespace hs::hfreduce::gpu

int main(int argc, char** argv) { return hs::hfreduce::gpu::Main(argc, argv); }
