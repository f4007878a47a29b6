// File: hfreduce/bench/bench_scatter_gather.cc — `hai bench reducescatter`
// and `hai bench allgather`; see bench_scatter_gather.h. Per size: HFReduce
// timed and checked, then the MPI collective on the same buffers.
#include "hfreduce/bench/bench_scatter_gather.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/dtype.h"
#include "hfreduce/bench/bench_allreduce.h"
#include "hfreduce/bench/bench_flags.h"
#include "hfreduce/hfreduce.h"
#include "hfreduce/reduce_kernels.h"

namespace hs::hfreduce {
namespace {

// Small integers: every sum is exact in f32 and bf16.
float Value(int rank, int64_t i) { return static_cast<float>((rank * 3 + i) % 7) - 3.0f; }

void Put(char* buf, DType dtype, int64_t i, float v) {
  if (dtype == DType::kF32) {
    reinterpret_cast<float*>(buf)[i] = v;
  } else {
    reinterpret_cast<bf16*>(buf)[i] = FloatToBf16(v);
  }
}

float Get(const char* buf, DType dtype, int64_t i) {
  return dtype == DType::kF32 ? reinterpret_cast<const float*>(buf)[i]
                              : Bf16ToFloat(reinterpret_cast<const bf16*>(buf)[i]);
}

struct Buffers {
  std::vector<char> send, recv;
};

// One collective both ways: HFReduce and its MPI counterpart.
struct Collective {
  bool scatter;  // ReduceScatter, else AllGather
  int rank, nranks;
  DType dtype;
  MPI_Datatype mpi_type;
  MPI_Op mpi_op;
  int64_t block;  // elements per rank's block

  // Inputs: ReduceScatter sends nranks blocks, AllGather one.
  void Fill(Buffers* b) const {
    const int64_t n = scatter ? block * nranks : block;
    for (int64_t i = 0; i < n; ++i) {
      Put(b->send.data(), dtype, i, Value(rank, scatter ? i : rank * block + i));
    }
  }
  int64_t Wrong(const Buffers& b) const {
    int64_t wrong = 0;
    const int64_t n = scatter ? block : block * nranks;
    for (int64_t i = 0; i < n; ++i) {
      float want = 0;
      if (scatter) {
        for (int r = 0; r < nranks; ++r) want += Value(r, rank * block + i);
      } else {
        want = Value(static_cast<int>(i / block), i);
      }
      wrong += Get(b.recv.data(), dtype, i) != want;
    }
    return wrong;
  }
  absl::Status Hf(Communicator* comm, Buffers* b) const {
    return scatter ? comm->ReduceScatter(b->send.data(), b->recv.data(), block, dtype,
                                         ReduceOp::kSum)
                   : comm->AllGather(b->send.data(), b->recv.data(), block, dtype);
  }
  int Mpi(Buffers* b) const {
    return scatter ? MPI_Reduce_scatter_block(b->send.data(), b->recv.data(),
                                              static_cast<int>(block), mpi_type, mpi_op,
                                              MPI_COMM_WORLD)
                   : MPI_Allgather(b->send.data(), static_cast<int>(block), mpi_type,
                                   b->recv.data(), static_cast<int>(block), mpi_type,
                                   MPI_COMM_WORLD);
  }
};

int BenchMain(bool scatter, int argc, char** argv) {
  const char* name = scatter ? "hai bench reducescatter" : "hai bench allgather";
  const char* mpi_name = scatter ? "MPI_Reduce_scatter_block" : "MPI_Allgather";
  cli::ArgParser p(name);
  AddBenchFlags(&p, "64M");
  absl::Status s = p.Parse(argc, argv);
  if (!s.ok() || p.help_requested()) {
    std::fprintf(s.ok() ? stdout : stderr, "%s%s\n",
                 s.ok() ? "" : (std::string(s.message()) + "\n").c_str(), p.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  auto args = ParseBenchFlags(p);
  if (!args.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, std::string(args.status().message()).c_str());
    return 2;
  }
  const bool csv = args->csv;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  }
  Collective col;
  col.scatter = scatter;
  col.dtype = args->dtype;
  MPI_Comm_rank(MPI_COMM_WORLD, &col.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &col.nranks);
  const int64_t esize = DTypeSize(col.dtype);
  const Options& o = args->options;
  const bool against = !args->against.empty();
  auto against_options = AgainstOptions(o, args->against);
  if (!against_options.ok()) {
    std::fprintf(stderr, "%s: %s\n", name, std::string(against_options.status().message()).c_str());
    return 2;
  }
  int rc = 0;
  {
    std::unique_ptr<Communicator> comm = CreateOrAbort(o, "");
    std::unique_ptr<Communicator> other =  // --against
        against ? CreateOrAbort(*against_options, "--against: ") : nullptr;
    MPI_Op bf16_sum;
    MPI_Op_create(&Bf16SumOp, 1, &bf16_sum);
    col.mpi_type = col.dtype == DType::kF32 ? MPI_FLOAT : MPI_UINT16_T;
    col.mpi_op = col.dtype == DType::kF32 ? MPI_SUM : bf16_sum;
    if (col.rank == 0) {
      std::printf("# %s: %d ranks = %d nodes x %d, dtype %s, simd %s, chunk %s, tree chunk %s, "
                  "inline %s, transport %s\n# host: %s, %ld cpus\n",
                  name, col.nranks, comm->num_nodes(), comm->local_size(),
                  DTypeName(col.dtype), SimdLevelName(ActiveSimdLevel()),
                  FormatBytes(o.chunk_bytes).c_str(), FormatBytes(o.tree_chunk_bytes).c_str(),
                  o.inline_blocking ? "on" : "off", comm->transport().c_str(), CpuModel().c_str(),
                  sysconf(_SC_NPROCESSORS_ONLN));
      std::printf("%s", AgainstHeader(args->against, other.get()).c_str());
      if (csv) {
        std::printf("%s\n", kBenchCsvHeader);
      } else {
        std::printf("#\n%s", BenchTableHeader(mpi_name).c_str());
      }
      std::fflush(stdout);
    }
    const double bus = col.nranks > 1 ? (col.nranks - 1.0) / col.nranks : 1.0;
    const int64_t warmup = args->warmup;
    for (int64_t bytes = args->min_bytes; bytes <= args->max_bytes && rc == 0; bytes *= 2) {
      col.block = bytes / esize / col.nranks;
      if (col.block == 0) continue;
      const int64_t total = col.block * col.nranks;  // elements of the vector
      Buffers b;
      b.send.assign((scatter ? total : col.block) * esize, 0);
      b.recv.assign((scatter ? col.block : total) * esize, 0);
      int64_t iters = args->iters;
      if (iters <= 0) iters = std::clamp<int64_t>((int64_t{64} << 20) / (total * esize), 5, 40);
      col.Fill(&b);
      absl::Status st, other_st;
      auto hf_call = [&] {
        if (st.ok()) st = col.Hf(comm.get(), &b);
      };
      auto other_call = [&] {
        if (other_st.ok()) other_st = col.Hf(other.get(), &b);
      };
      auto mpi_call = [&] { col.Mpi(&b); };
      for (int64_t i = 0; i < warmup; ++i) hf_call();
      for (int64_t i = 0; i < warmup && against; ++i) other_call();
      for (int64_t i = 0; i < warmup; ++i) mpi_call();
      std::function<LoopSample()> against_loop;
      if (against) against_loop = [&] { return TimeLoop(iters, other_call); };
      const RoundTimes t = TimeRounds(
          args->rounds, [&] { return TimeLoop(iters, hf_call); },
          [&] { return TimeLoop(iters, mpi_call); }, [&] { return !st.ok() || !other_st.ok(); },
          against_loop);
      if (!st.ok() || !other_st.ok()) {
        std::fprintf(stderr, "[rank %d] %s%s\n", col.rank, st.ok() ? "--against: " : "",
                     (st.ok() ? other_st : st).ToString().c_str());
        rc = 1;
        break;
      }
      if (against) {
        std::fill(b.recv.begin(), b.recv.end(), 0);
        if (!col.Hf(other.get(), &b).ok()) rc = 1;
        if (AgainstWrong(col.Wrong(b), absl::StrCat(total, " elements")) != 0) rc = 1;
      }
      std::fill(b.recv.begin(), b.recv.end(), 0);
      if (!col.Hf(comm.get(), &b).ok()) rc = 1;
      const int64_t hf_wrong = SumOverRanks(col.Wrong(b));
      std::fill(b.recv.begin(), b.recv.end(), 0);
      if (col.Mpi(&b) != MPI_SUCCESS) rc = 1;
      const int64_t mpi_wrong = SumOverRanks(col.Wrong(b));
      if (hf_wrong != 0) rc = 1;
      const int64_t nbytes = total * esize;
      const BenchRow row =
          MakeBenchRow(nbytes, total, col.dtype, bus, t, hf_wrong, mpi_wrong);
      if (col.rank == 0) {
        std::printf("%s", RoundsComment(nbytes, t).c_str());
        std::printf("%s", AgainstComment(nbytes, t, row.cpu, args->against).c_str());
        std::printf("%s", FormatBenchRow(row, csv).c_str());
        std::fflush(stdout);
      }
    }
    if (col.rank == 0 && !csv) {
      std::printf("# size = bytes of all ranks' blocks; algbw = size / time; busbw = algbw * "
                  "(n-1)/n (GB/s = 1e9 B/s); ratio = HFReduce / %s; cpu_us = CPU time per call and "
                  "rank, all threads%s\n", mpi_name,
                  args->rounds > 1 ? " (times: medians over the rounds; ratio: median of the "
                                     "rounds' ratios)" : "");
    }
    MPI_Op_free(&bf16_sum);
  }
  MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (!inited) MPI_Finalize();
  return rc;
}

}  // namespace

int RunBenchReduceScatter(int argc, char** argv) { return BenchMain(true, argc, argv); }
int RunBenchAllGather(int argc, char** argv) { return BenchMain(false, argc, argv); }

HS_REGISTER_SUBCOMMAND("bench reducescatter",
                       "HFReduce ReduceScatter vs MPI_Reduce_scatter_block (run under mpirun)",
                       RunBenchReduceScatter);
HS_REGISTER_SUBCOMMAND("bench allgather",
                       "HFReduce AllGather vs MPI_Allgather (run under mpirun)",
                       RunBenchAllGather);

}  // namespace hs::hfreduce
