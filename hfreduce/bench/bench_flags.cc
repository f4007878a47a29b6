// File: hfreduce/bench/bench_flags.cc — see bench_flags.h.
#include "hfreduce/bench/bench_flags.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
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
  p->AddString("min-chunk-bytes", "512K", "HFReduce AllReduce: smallest chunk of the node "
               "pipeline (chunks are about 1/16 of the message, at most --chunk-bytes)");
  p->AddString("tree-chunk-bytes", "128K", "HFReduce inter-node message size");
  p->AddInt("tree-window", 4, "HFReduce inter-node messages in flight per tree or ring direction");
  p->AddInt("pipeline-depth", 2, "HFReduce shared-memory buffers of the node pipeline (>= 2)");
  p->AddInt("timeout-s", 60, "HFReduce timeout per wait");
  p->AddString("transport", "", "HFReduce inter-node transport: mpi or tcp "
               "(default: $HFREDUCE_TRANSPORT, else mpi)");
  p->AddString("tcp-iface", "", "tcp: interface name or IPv4 address to listen on "
               "(default: $HFREDUCE_TCP_IFACE, else the first non-loopback)");
  p->AddString("pair-exchange-bytes", "1M", "HFReduce, two nodes: the one-hop exchange up to "
               "this size, the trees above (0: always the trees)");
  p->AddList("against", "NAME=VALUE: also time a second HFReduce communicator with this "
             "option changed (chunk-bytes, min-chunk-bytes, tree-chunk-bytes, tree-window, "
             "pipeline-depth, pair-exchange-bytes, small-bytes, inline, transport; repeatable) "
             "in the same rounds, next to the first, and compare the two per round");
}

absl::StatusOr<Options> AgainstOptions(const Options& base, const std::vector<std::string>& sets) {
  Options o = base;
  for (const std::string& set : sets) {
    const size_t eq = set.find('=');
    const std::string name = set.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : set.substr(eq + 1);
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(absl::StrCat("--against ", set, ": ", why));
    };
    if (eq == std::string::npos || value.empty()) return bad("want NAME=VALUE");
    if (name == "chunk-bytes" || name == "min-chunk-bytes" || name == "tree-chunk-bytes") {
      auto v = ParseByteSize(value);
      if (!v.ok()) return bad(v.status().message());
      (name == "chunk-bytes" ? o.chunk_bytes
       : name == "min-chunk-bytes" ? o.min_chunk_bytes : o.tree_chunk_bytes) = *v;
    } else if (name == "pair-exchange-bytes" || name == "small-bytes") {
      auto v = ParseBytesOrOff(value);
      if (!v.ok()) return bad(v.status().message());
      (name == "pair-exchange-bytes" ? o.pair_exchange_bytes : o.small_bytes) = *v;
    } else if (name == "tree-window" || name == "pipeline-depth") {
      // The node pipeline copies a chunk in while the one before is out.
      const int least = name == "tree-window" ? 1 : 2;
      int v = 0;
      if (!absl::SimpleAtoi(value, &v) || v < least) {
        return bad(absl::StrCat("want an integer >= ", least));
      }
      (name == "tree-window" ? o.tree_window : o.pipeline_depth) = v;
    } else if (name == "inline") {
      if (value != "true" && value != "false") return bad("inline is true or false");
      o.inline_blocking = value == "true";
    } else if (name == "transport") {
      auto t = ParseTransportKind(value);
      if (!t.ok()) return bad(t.status().message());
      o.transport = *t;
    } else {
      return bad("unknown option (chunk-bytes, min-chunk-bytes, tree-chunk-bytes, tree-window, "
                 "pipeline-depth, pair-exchange-bytes, small-bytes, inline, transport)");
    }
  }
  return o;
}

std::unique_ptr<Communicator> CreateOrAbort(const Options& o, const char* what) {
  auto comm = Communicator::Create(MPI_COMM_WORLD, o);
  if (!comm.ok()) {
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    std::fprintf(stderr, "[rank %d] %s%s\n", rank, what, comm.status().ToString().c_str());
    MPI_Abort(MPI_COMM_WORLD, 1);
  }
  return std::move(*comm);
}

int64_t SumOverRanks(int64_t local) {
  MPI_Allreduce(MPI_IN_PLACE, &local, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  return local;
}

int64_t AgainstWrong(int64_t local_wrong, const std::string& at) {
  const int64_t wrong = SumOverRanks(local_wrong);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (wrong != 0 && rank == 0) {
    std::fprintf(stderr, "--against: %ld wrong elements at %s\n", wrong, at.c_str());
  }
  return wrong;
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
  HS_ASSIGN_OR_RETURN(a.options.min_chunk_bytes, bytes("min-chunk-bytes", false));
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
  a.options.tree_window = static_cast<int>(p.GetInt("tree-window"));
  a.options.pipeline_depth = static_cast<int>(p.GetInt("pipeline-depth"));
  if (a.options.tree_window < 1) return absl::InvalidArgumentError("--tree-window must be >= 1");
  if (a.options.pipeline_depth < 2) {
    return absl::InvalidArgumentError("--pipeline-depth must be >= 2");
  }
  a.csv = p.GetBool("csv");
  a.iters = p.GetInt("iters");
  a.warmup = p.GetInt("warmup");
  a.rounds = p.GetInt("rounds");
  if (a.rounds < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--rounds must be >= 1, got ", a.rounds));
  }
  a.against = p.GetList("against");
  return a;
}

namespace {

// One field of each sample, in round order.
std::vector<double> Field(const std::vector<LoopSample>& v, double LoopSample::*field) {
  std::vector<double> out;
  out.reserve(v.size());
  for (const LoopSample& s : v) out.push_back(s.*field);
  return out;
}

}  // namespace

double RoundTimes::HfMedian() const { return MedianOf(Field(hf, &LoopSample::seconds)); }
double RoundTimes::MpiMedian() const { return MedianOf(Field(mpi, &LoopSample::seconds)); }
RoundComparison RoundTimes::Speedup() const {
  return CompareRounds(Field(mpi, &LoopSample::seconds), Field(hf, &LoopSample::seconds));
}
double RoundTimes::AgainstMedian() const { return MedianOf(Field(against, &LoopSample::seconds)); }
RoundComparison RoundTimes::SpeedupOverAgainst() const {
  return CompareRounds(Field(against, &LoopSample::seconds), Field(hf, &LoopSample::seconds));
}

CpuPerCall MeanCpuPerCall(const RoundTimes& t) {
  double v[6] = {MedianOf(Field(t.hf, &LoopSample::cpu_us)),
                 MedianOf(Field(t.hf, &LoopSample::switches)),
                 MedianOf(Field(t.mpi, &LoopSample::cpu_us)),
                 MedianOf(Field(t.mpi, &LoopSample::switches)),
                 MedianOf(Field(t.against, &LoopSample::cpu_us)),
                 MedianOf(Field(t.against, &LoopSample::switches))};
  int nranks = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  MPI_Allreduce(MPI_IN_PLACE, v, 6, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  CpuPerCall c;
  c.hf_us = v[0] / nranks;
  c.hf_switches = v[1] / nranks;
  c.mpi_us = v[2] / nranks;
  c.mpi_switches = v[3] / nranks;
  c.against_us = v[4] / nranks;
  c.against_switches = v[5] / nranks;
  return c;
}

std::string BenchTableHeader(const char* mpi_name) {
  const char* row = "# %10s %11s %5s | %12s %9s %9s %9s %7s | %12s %9s %9s %9s %7s | %6s\n";
  return absl::StrFormat(row, "", "", "", "HFReduce", "", "", "", "", mpi_name, "", "", "", "",
                         "") +
         absl::StrFormat(row, "size", "count", "type", "time_us", "algbw", "busbw", "cpu_us",
                         "#wrong", "time_us", "algbw", "busbw", "cpu_us", "#wrong", "ratio");
}

BenchRow MakeBenchRow(int64_t bytes, int64_t count, DType dtype, double bus_factor,
                      const RoundTimes& t, int64_t hf_wrong, int64_t mpi_wrong) {
  BenchRow r;
  r.bytes = bytes;
  r.count = count;
  r.dtype = dtype;
  r.hf_us = t.HfMedian() * 1e6;
  r.mpi_us = t.MpiMedian() * 1e6;
  r.hf_algbw = bytes / (r.hf_us * 1e-6) / 1e9;
  r.mpi_algbw = bytes / (r.mpi_us * 1e-6) / 1e9;
  r.hf_busbw = r.hf_algbw * bus_factor;
  r.mpi_busbw = r.mpi_algbw * bus_factor;
  r.hf_wrong = hf_wrong;
  r.mpi_wrong = mpi_wrong;
  r.ratio = t.Speedup().median;
  r.cpu = MeanCpuPerCall(t);
  return r;
}

std::string FormatBenchRow(const BenchRow& r, bool csv) {
  if (csv) {
    return absl::StrFormat("%d,%.2f,%.3f,%.2f,%.3f,%.3f,%.1f,%.2f,%.1f,%.2f\n", r.bytes, r.hf_us,
                           r.hf_busbw, r.mpi_us, r.mpi_busbw, r.ratio, r.cpu.hf_us,
                           r.cpu.hf_switches, r.cpu.mpi_us, r.cpu.mpi_switches);
  }
  return absl::StrFormat(
      "  %10s %11d %5s | %12.1f %9.3f %9.3f %9.1f %7d | %12.1f %9.3f %9.3f %9.1f %7d | %6.2f\n",
      FormatBytes(r.bytes), r.count, DTypeName(r.dtype), r.hf_us, r.hf_algbw, r.hf_busbw,
      r.cpu.hf_us, r.hf_wrong, r.mpi_us, r.mpi_algbw, r.mpi_busbw, r.cpu.mpi_us, r.mpi_wrong,
      r.ratio);
}

std::string AgainstHeader(const std::vector<std::string>& sets, const Communicator* other) {
  if (other == nullptr) return "";
  return absl::StrFormat("# against: %s (transport %s), timed next to HFReduce in every round\n",
                         absl::StrJoin(sets, " "), other->transport());
}

std::string AgainstComment(int64_t nbytes, const RoundTimes& t, const CpuPerCall& cpu,
                           const std::vector<std::string>& sets) {
  if (t.against.empty()) return "";
  const RoundComparison s = t.SpeedupOverAgainst();
  return absl::StrFormat(
      "# %s: against %s: %.1f us, %.0f us CPU; HFReduce / against per round %.2fx "
      "(%.2f-%.2f), faster in %d of %d (sign test p %.3f)\n",
      FormatBytes(nbytes), absl::StrJoin(sets, " "), t.AgainstMedian() * 1e6, cpu.against_us,
      s.median, s.min, s.max, s.higher, s.rounds, s.sign_p());
}

std::string RoundsComment(int64_t nbytes, const RoundTimes& t) {
  if (t.hf.size() < 2) return "";
  const RoundComparison s = t.Speedup();
  return absl::StrFormat(
      "# %s: %d rounds, ratio per round %.2f-%.2f, HFReduce faster in %d (sign test p %.3f)\n",
      FormatBytes(nbytes), t.hf.size(), s.min, s.max, s.higher, s.sign_p());
}

void Bf16SumOp(void* in, void* inout, int* len, MPI_Datatype*) {
  const bf16* a = static_cast<const bf16*>(in);
  bf16* b = static_cast<bf16*>(inout);
  for (int i = 0; i < *len; ++i) b[i] = FloatToBf16(Bf16ToFloat(a[i]) + Bf16ToFloat(b[i]));
}

}  // namespace hs::hfreduce
