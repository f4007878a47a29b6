// File: hfreduce/bench/bench_allreduce.cc — `hai bench allreduce`; see
// bench_allreduce.h. Per size: HFReduce timed, its result checked, then
// MPI_Allreduce on the same buffer timed and checked.
#include "hfreduce/bench/bench_allreduce.h"

#include <mpi.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/dtype.h"
#include "haiscale/status.h"
#include "hfreduce/bench/bench_flags.h"
#include "hfreduce/hfreduce.h"
#include "hfreduce/reduce_kernels.h"

namespace hs::hfreduce {
namespace {

// The check pattern: small integers, so every sum is exact in f32 and bf16.
float CheckValue(int rank, int64_t i) { return static_cast<float>((rank + i) % 7) - 3.0f; }

void Fill(void* buf, int64_t count, DType dtype, int rank, bool check) {
  for (int64_t i = 0; i < count; ++i) {
    // Timing data: small values, |x| <= 1/8, so repeated in-place sums stay
    // finite for the iteration counts used.
    float v = check ? CheckValue(rank, i)
                    : static_cast<float>((rank * 31 + i) % 17 - 8) / 64.0f;
    if (dtype == DType::kF32) {
      static_cast<float*>(buf)[i] = v;
    } else {
      static_cast<bf16*>(buf)[i] = FloatToBf16(v);
    }
  }
}

// Elements that differ from the exact sum of the check pattern.
int64_t CountWrong(const void* buf, int64_t count, DType dtype, int nranks) {
  int64_t wrong = 0;
  for (int64_t i = 0; i < count; ++i) {
    float want = 0;
    for (int r = 0; r < nranks; ++r) want += CheckValue(r, i);
    float got = dtype == DType::kF32 ? static_cast<const float*>(buf)[i]
                                     : Bf16ToFloat(static_cast<const bf16*>(buf)[i]);
    wrong += got != want;
  }
  return wrong;
}

int BenchMain(int argc, char** argv) {
  cli::ArgParser p("hai bench allreduce");
  AddBenchFlags(&p, "256M");
  p.AddString("small-bytes", "64K", "HFReduce small-message path up to this size "
              "(0: off)");
  p.AddBool("registered", "HFReduce: buffers from Communicator::AllocShared (reduced in "
            "place; MPI_Allreduce runs on the same buffers)");
  absl::Status s = p.Parse(argc, argv);
  if (!s.ok() || p.help_requested()) {
    std::fprintf(s.ok() ? stdout : stderr, "%s%s\n",
                 s.ok() ? "" : (std::string(s.message()) + "\n").c_str(),
                 p.Usage().c_str());
    return s.ok() ? 0 : 2;
  }
  auto args = ParseBenchFlags(p);
  if (!args.ok()) {
    std::fprintf(stderr, "hai bench allreduce: %s\n", std::string(args.status().message()).c_str());
    return 2;
  }
  const DType dtype = args->dtype;
  const int64_t esize = DTypeSize(dtype);
  const bool csv = args->csv;
  const int64_t* min_b = &args->min_bytes;
  const int64_t* max_b = &args->max_bytes;
  const int64_t* chunk_b = &args->options.chunk_bytes;
  const int64_t* tree_b = &args->options.tree_chunk_bytes;

  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    int provided = 0;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  }
  int rank = 0, nranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);

  Options o = args->options;
  {
    auto small_b = ParseBytesOrOff(p.GetString("small-bytes"));
    if (!small_b.ok()) {
      std::fprintf(stderr, "hai bench allreduce: %s\n",
                   std::string(small_b.status().message()).c_str());
      return 2;
    }
    o.small_bytes = *small_b;
  }
  const int64_t rounds = args->rounds;
  const bool registered = p.GetBool("registered");
  if (registered) o.registered_bytes = (*max_b + 4095) / 4096 * 4096;
  const bool against = !args->against.empty();
  auto against_options = AgainstOptions(o, args->against);
  if (!against_options.ok()) {
    std::fprintf(stderr, "hai bench allreduce: %s\n",
                 std::string(against_options.status().message()).c_str());
    return 2;
  }
  int rc = 0;
  {
    std::unique_ptr<Communicator> comm = CreateOrAbort(o, "");
    std::unique_ptr<Communicator> other =  // --against
        against ? CreateOrAbort(*against_options, "--against: ") : nullptr;
    MPI_Op bf16_sum;
    MPI_Op_create(&Bf16SumOp, 1, &bf16_sum);
    const MPI_Datatype mpi_type = dtype == DType::kF32 ? MPI_FLOAT : MPI_UINT16_T;
    const MPI_Op mpi_op = dtype == DType::kF32 ? MPI_SUM : bf16_sum;

    if (rank == 0) {
      char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
      int len = 0;
      MPI_Get_library_version(mpi_version, &len);
      std::string mpi_line(mpi_version, len);
      mpi_line = mpi_line.substr(0, mpi_line.find_first_of(",\n"));
      struct utsname un;
      uname(&un);
      const char* prefix = csv ? "# " : "# ";
      std::string pair;
      if (comm->num_nodes() == 2) {
        pair = o.pair_exchange_bytes > 0
                   ? absl::StrCat(", two-node exchange up to ", FormatBytes(o.pair_exchange_bytes))
                   : ", two-node trees";
      }
      std::printf("%shai bench allreduce: %d ranks = %d nodes x %d, dtype %s, simd %s, "
                  "chunk %s, tree chunk %s, small %s, inline %s, transport %s%s%s\n",
                  prefix, nranks, comm->num_nodes(), comm->local_size(),
                  DTypeName(dtype), SimdLevelName(ActiveSimdLevel()),
                  FormatBytes(*chunk_b).c_str(), FormatBytes(*tree_b).c_str(),
                  o.small_bytes > 0 ? FormatBytes(o.small_bytes).c_str() : "off",
                  o.inline_blocking ? "on" : "off", comm->transport().c_str(),
                  registered ? ", registered buffers" : "",
                  pair.c_str());
      std::printf("%shost: %s, %ld cpus, %s %s; %s\n", prefix, CpuModel().c_str(),
                  sysconf(_SC_NPROCESSORS_ONLN), un.sysname, un.release,
                  mpi_line.c_str());
      std::printf("%s", AgainstHeader(args->against, other.get()).c_str());
      if (csv) {
        std::printf("%s\n", kBenchCsvHeader);
      } else {
        std::printf("#\n%s", BenchTableHeader("MPI_Allreduce").c_str());
      }
      std::fflush(stdout);
    }

    // --registered: each communicator reduces a buffer registered with it
    // (the --against one its own); MPI runs on the first one's.
    auto alloc_shared = [&](Communicator* c) {
      auto shared_or = c->AllocShared(o.registered_bytes);
      if (!shared_or.ok()) {
        std::fprintf(stderr, "[rank %d] %s\n", rank, shared_or.status().ToString().c_str());
        MPI_Abort(MPI_COMM_WORLD, 1);
      }
      return static_cast<char*>(*shared_or);
    };
    char* shared = registered ? alloc_shared(comm.get()) : nullptr;
    char* other_shared = registered && against ? alloc_shared(other.get()) : nullptr;
    const double bus_factor = nranks > 1 ? 2.0 * (nranks - 1) / nranks : 1.0;
    for (int64_t bytes = *min_b; bytes <= *max_b; bytes *= 2) {
      const int64_t count = bytes / esize;
      const int64_t nbytes = count * esize;
      std::unique_ptr<char, decltype(&std::free)> buf(
          registered ? nullptr
                     : static_cast<char*>(std::aligned_alloc(
                           4096, std::max<int64_t>(4096, (nbytes + 4095) / 4096 * 4096))),
          &std::free);
      char* data = registered ? shared : buf.get();
      char* other_data = registered && against ? other_shared : data;
      int64_t iters = args->iters;
      if (iters <= 0) iters = std::clamp<int64_t>((int64_t{64} << 20) / std::max<int64_t>(nbytes, 1), 5, 40);
      const int64_t warmup = args->warmup;
      // One timed loop of `iters` calls on fresh timing data (repeated
      // in-place sums grow it; refilled, it stays finite).
      auto time_loop = [&](auto&& call, char* on) {
        Fill(on, count, dtype, rank, false);
        return TimeLoop(iters, [&] {
          if (rc == 0) call();
        });
      };
      auto call_on = [&](Communicator* c) {
        absl::Status st =
            c->AllReduce(c == other.get() ? other_data : data, count, dtype, ReduceOp::kSum);
        if (!st.ok()) {
          std::fprintf(stderr, "[rank %d] %s%s\n", rank, c == other.get() ? "--against: " : "",
                       st.ToString().c_str());
          rc = 1;
        }
      };
      auto hf_call = [&] { call_on(comm.get()); };
      auto other_call = [&] { call_on(other.get()); };
      auto mpi_call = [&] {
        MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count), mpi_type, mpi_op,
                      MPI_COMM_WORLD);
      };
      // Timing data, then warm-up calls of both.
      Fill(data, count, dtype, rank, false);
      if (other_data != data) Fill(other_data, count, dtype, rank, false);
      for (int64_t i = 0; i < warmup && rc == 0; ++i) hf_call();
      for (int64_t i = 0; i < warmup && rc == 0 && against; ++i) other_call();
      for (int64_t i = 0; i < warmup; ++i) mpi_call();
      // A failed HFReduce call fails on every rank (the communicator breaks).
      if (rc != 0) break;
      std::function<LoopSample()> against_loop;
      if (against) against_loop = [&] { return time_loop(other_call, other_data); };
      const RoundTimes t = TimeRounds(
          rounds, [&] { return time_loop(hf_call, data); },
          [&] { return time_loop(mpi_call, data); }, [&] { return rc != 0; }, against_loop);
      if (rc != 0) break;
      // Then all checked on the exact pattern.
      if (against) {
        Fill(other_data, count, dtype, rank, true);
        if (!other->AllReduce(other_data, count, dtype, ReduceOp::kSum).ok()) rc = 1;
        if (AgainstWrong(CountWrong(other_data, count, dtype, nranks),
                         absl::StrCat(nbytes, " bytes")) != 0) {
          rc = 1;
        }
      }
      Fill(data, count, dtype, rank, true);
      if (!comm->AllReduce(data, count, dtype, ReduceOp::kSum).ok()) rc = 1;
      const int64_t hf_wrong = SumOverRanks(CountWrong(data, count, dtype, nranks));
      Fill(data, count, dtype, rank, true);
      mpi_call();
      const int64_t mpi_wrong = SumOverRanks(CountWrong(data, count, dtype, nranks));
      if (hf_wrong != 0) rc = 1;
      const BenchRow row =
          MakeBenchRow(nbytes, count, dtype, bus_factor, t, hf_wrong, mpi_wrong);
      if (rank == 0) {
        std::printf("%s", RoundsComment(nbytes, t).c_str());
        std::printf("%s", AgainstComment(nbytes, t, row.cpu, args->against).c_str());
        std::printf("%s", FormatBenchRow(row, csv).c_str());
        std::fflush(stdout);
      }
    }
    if (rank == 0 && !csv) {
      std::printf("# algbw = bytes / time; busbw = algbw * 2(n-1)/n (GB/s = 1e9 B/s); "
                  "ratio = HFReduce busbw / MPI busbw; cpu_us = CPU time per call and rank, all "
                  "threads%s\n",
                  rounds > 1 ? " (times: medians over the rounds; ratio: median of the "
                               "rounds' ratios)" : "");
    }
    MPI_Op_free(&bf16_sum);
  }
  MPI_Allreduce(MPI_IN_PLACE, &rc, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (!inited) MPI_Finalize();
  return rc;
}

}  // namespace

std::string FormatBytes(int64_t b) {
  if (b >= (1 << 30) && b % (1 << 30) == 0) return absl::StrCat(b >> 30, "G");
  if (b >= (1 << 20) && b % (1 << 20) == 0) return absl::StrCat(b >> 20, "M");
  if (b >= (1 << 10) && b % (1 << 10) == 0) return absl::StrCat(b >> 10, "K");
  return absl::StrCat(b);
}

std::string CpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      auto pos = line.find(':');
      if (pos != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(pos + 1)));
      }
    }
  }
  return "unknown cpu";
}

absl::StatusOr<int64_t> ParseByteSize(const std::string& text) {
  std::string t(absl::StripAsciiWhitespace(text));
  int64_t mult = 1;
  if (!t.empty()) {
    char last = absl::ascii_toupper(t.back());
    if (last == 'B' && t.size() > 1) {  // "4KB", "4KiB" spelled loosely
      t.pop_back();
      if (!t.empty() && absl::ascii_toupper(t.back()) == 'I') t.pop_back();
      last = t.empty() ? '\0' : absl::ascii_toupper(t.back());
    }
    if (last == 'K' || last == 'M' || last == 'G') {
      mult = last == 'K' ? (1 << 10) : last == 'M' ? (1 << 20) : (int64_t{1} << 30);
      t.pop_back();
    }
  }
  int64_t v = 0;
  if (t.empty() || !absl::SimpleAtoi(t, &v) || v <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("bad byte size '", text,
                                                   "' (e.g. 4096, 4K, 256M, 1G)"));
  }
  return v * mult;
}

int RunBenchAllreduce(int argc, char** argv) { return BenchMain(argc, argv); }

HS_REGISTER_SUBCOMMAND("bench allreduce",
                       "HFReduce vs MPI_Allreduce bandwidth (run under mpirun)",
                       RunBenchAllreduce);

}  // namespace hs::hfreduce
