// File: hfreduce/bench/bench_flags.cc — see bench_flags.h.
#include "hfreduce/bench/bench_flags.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/round_stats.h"
#include "haiscale/status.h"
#include "hfreduce/bench/bench_allreduce.h"

namespace hs::hfreduce {

void AddBenchFlags(cli::ArgParser* p, const char* max_bytes) {
  p->AddInt("ranks-per-node", 0, "ranks per simulated node (0: real nodes)");
  p->AddString("min-bytes", "4K", "smallest message (K/M/G suffixes)");
  p->AddString("max-bytes", max_bytes, "largest message");
  p->AddString("dtype", "f32", "f32 or bf16");
  p->AddBool("csv", "print CSV instead of the table");
  p->AddInt("iters", 0, "timed calls per size (0: by size)");
  p->AddInt("warmup", 2, "untimed calls per size");
  p->AddBool("no-inline", "HFReduce: run blocking calls on the progress thread too");
  p->AddInt("rounds", 1, "timed loops of each backend per size, alternating which goes first; "
            "report median times and the median (range) of the per-round ratios");
  p->AddString("chunk-bytes", "1M", "HFReduce shared-memory chunk per rank");
  p->AddString("tree-chunk-bytes", "128K", "HFReduce inter-node message size");
  p->AddInt("timeout-s", 60, "HFReduce timeout per wait");
  p->AddString("transport", "", "HFReduce inter-node transport: mpi or tcp "
               "(default: $HFREDUCE_TRANSPORT, else mpi)");
  p->AddString("tcp-iface", "", "tcp: interface name or IPv4 address to listen on "
               "(default: $HFREDUCE_TCP_IFACE, else the first non-loopback)");
  p->AddString("pair-exchange-bytes", "1M", "HFReduce, two nodes: the one-hop exchange up to "
               "this size, the trees above (0: always the trees)");
}

absl::StatusOr<int64_t> ParseBytesOrOff(const std::string& text) {
  if (text == "0") return 0;
  return ParseByteSize(text);
}

absl::StatusOr<BenchArgs> ParseBenchFlags(const cli::ArgParser& p) {
  BenchArgs a;
  // A size flag, its name in the error.
  auto bytes = [&](const char* flag, bool zero_is_off) -> absl::StatusOr<int64_t> {
    const std::string text = p.GetString(flag);
    auto v = zero_is_off ? ParseBytesOrOff(text) : ParseByteSize(text);
    if (!v.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", v.status().message()));
    }
    return v;
  };
  HS_ASSIGN_OR_RETURN(a.min_bytes, bytes("min-bytes", false));
  HS_ASSIGN_OR_RETURN(a.max_bytes, bytes("max-bytes", false));
  HS_ASSIGN_OR_RETURN(a.options.chunk_bytes, bytes("chunk-bytes", false));
  HS_ASSIGN_OR_RETURN(a.options.tree_chunk_bytes, bytes("tree-chunk-bytes", false));
  HS_ASSIGN_OR_RETURN(a.options.pair_exchange_bytes, bytes("pair-exchange-bytes", true));
  HS_ASSIGN_OR_RETURN(a.dtype, ParseDType(p.GetString("dtype")));
  if (a.dtype != DType::kF32 && a.dtype != DType::kBF16) {
    return absl::InvalidArgumentError("--dtype must be f32 or bf16");
  }
  auto transport = ParseTransportKind(p.GetString("transport"));
  if (!transport.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--transport: ", transport.status().message()));
  }
  a.options.transport = *transport;
  a.options.tcp_interface = p.GetString("tcp-iface");
  a.options.ranks_per_node = static_cast<int>(p.GetInt("ranks-per-node"));
  a.options.timeout = absl::Seconds(p.GetInt("timeout-s"));
  a.options.inline_blocking = !p.GetBool("no-inline");
  a.csv = p.GetBool("csv");
  a.iters = p.GetInt("iters");
  a.warmup = p.GetInt("warmup");
  a.rounds = p.GetInt("rounds");
  if (a.rounds < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--rounds must be >= 1, got ", a.rounds));
  }
  return a;
}

double RoundTimes::HfMedian() const { return MedianOf(hf); }
double RoundTimes::MpiMedian() const { return MedianOf(mpi); }
RoundComparison RoundTimes::Speedup() const { return CompareRounds(mpi, hf); }

std::string RoundsComment(int64_t nbytes, const RoundTimes& t) {
  if (t.hf.size() < 2) return "";
  const RoundComparison s = t.Speedup();
  return absl::StrFormat("# %s: %d rounds, ratio per round %.2f-%.2f\n", FormatBytes(nbytes),
                         t.hf.size(), s.min, s.max);
}

void Bf16SumOp(void* in, void* inout, int* len, MPI_Datatype*) {
  const bf16* a = static_cast<const bf16*>(in);
  bf16* b = static_cast<bf16*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = FloatToBf16(Bf16ToFloat(a[i]) + Bf16ToFloat(b[i]));
}

}  // namespace hs::hfreduce
