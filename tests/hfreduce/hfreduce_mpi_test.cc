// File: tests/hfreduce/hfreduce_mpi_test.cc
//
// Multi-rank test driver for HFReduce, run under mpirun by the sh_test
// targets in this folder (run_mpi_test.sh). Every rank checks its own
// results against a naive reference computed from all ranks' inputs (which
// every rank can regenerate from the seed), and that its result bits equal
// every other rank's. Exit code 0 only when every check passed on every
// rank.
//
// Usage:
//   mpirun -np 4 hfreduce_mpi_test --ranks-per-node 2 --suite all
//   mpirun -np 3 hfreduce_mpi_test --ranks-per-node 1 --transport tcp --tcp-iface lo
//   suites: allreduce, async, collectives, paths, registered, pair, rows, node_shared,
//   to_owners, all,
//   mismatch, mismatch_route, mismatch_scatter, abort, timeout
#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "haiscale/dtype.h"
#include "haiscale/thread_priority.h"
#include "hfreduce/hfreduce.h"
#include "tests/hfreduce/mpi_test_inputs.h"

namespace hs::hfreduce {
namespace {

using testing::Element;
using testing::Fnv;
using testing::InputValue;
using testing::MakeInput;
using testing::SameOnAllRanks;

using testing::g_checks;
using testing::g_failures;
using testing::g_rank;
using testing::g_size;

struct Args {
  int ranks_per_node = 0;
  std::string suite = "all";
  int64_t chunk_bytes = 4096;
  int64_t tree_chunk_bytes = 1024;
  int depth = 2;
  int64_t small_bytes = 64 << 10;
  int timeout_ms = 20000;
  std::string transport;  // "", "mpi" or "tcp"
  std::string tcp_iface = "lo";
  int64_t pair_exchange_bytes = 1 << 20;
};

// The value of input element i as the rank holds it (rounded to dtype).
float HeldInput(DType dtype, bool integer, uint32_t seed, int r, int64_t i) {
  float v = InputValue(integer, seed, r, i);
  return dtype == DType::kF32 ? v : Bf16ToFloat(FloatToBf16(v));
}

void CheckReduced(const std::vector<char>& got, int64_t first, int64_t n,
                  DType dtype, ReduceOp op, bool integer, uint32_t seed,
                  const std::string& what) {
  int bad = 0;
  for (int64_t j = 0; j < n && bad < 3; ++j) {
    int64_t i = first + j;
    float g = Element(got, dtype, j);
    if (integer) {
      float sum = 0;  // exact: small integers
      for (int r = 0; r < g_size; ++r) sum += HeldInput(dtype, true, seed, r, i);
      float want = op == ReduceOp::kAverage ? sum / static_cast<float>(g_size) : sum;
      if (dtype == DType::kBF16) want = Bf16ToFloat(FloatToBf16(want));
      if (std::memcmp(&g, &want, 4) != 0) {
        ++bad;
        CHECK_OR_FAIL(false, what, " element ", i, ": got ", g, " want ", want);
      }
    } else {
      double sum = 0, mag = 0;
      for (int r = 0; r < g_size; ++r) {
        double x = HeldInput(dtype, false, seed, r, i);
        sum += x;
        mag += std::fabs(x);
      }
      if (op == ReduceOp::kAverage) {
        sum /= g_size;
        mag /= g_size;
      }
      double tol = 1e-6 * mag * g_size + 1e-30;
      if (dtype == DType::kBF16) tol += std::fabs(sum) / 256.0 + 1e-30;
      if (!(std::fabs(g - sum) <= tol)) {
        ++bad;
        CHECK_OR_FAIL(false, what, " element ", i, ": got ", g, " want ~", sum,
                      " tol ", tol);
      }
    }
  }
  ++g_checks;
}

const char* OpName(ReduceOp op) { return op == ReduceOp::kSum ? "sum" : "avg"; }

std::vector<int64_t> Counts(int64_t chunk_bytes) {
  // Odd sizes, primes, and sizes around the chunk (in f32 and bf16 units).
  int64_t cu = chunk_bytes / 4;
  return {0, 1, 2, 7, 13, 16, 17, 61, 127, 1021, cu - 1, cu, cu + 1,
          2 * cu + 3, 3 * (chunk_bytes / 2) + 5, 7919, 20011};
}

// -------------------------------------------------------------- suites ---

void SuiteAllReduce(Communicator* comm, const Args& a) {
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (int64_t count : Counts(a.chunk_bytes)) {
        for (bool integer : {true, false}) {
          uint32_t seed = static_cast<uint32_t>(count * 31 + integer);
          std::string what = absl::StrCat("allreduce ", DTypeName(dtype), " ",
                                          OpName(op), " count=", count,
                                          integer ? " int" : " rand");
          std::vector<char> buf = MakeInput(dtype, integer, seed, g_rank, count);
          absl::Status s = comm->AllReduce(buf.data(), count, dtype, op);
          CHECK_OR_FAIL(s.ok(), what, ": ", s.ToString());
          if (!s.ok()) return;
          CheckReduced(buf, 0, count, dtype, op, integer, seed, what);
          uint64_t h = Fnv(buf.data(), count * DTypeSize(dtype));
          CHECK_OR_FAIL(SameOnAllRanks(h), what, ": results differ across ranks");
          // Deterministic: the same call again gives the same bits.
          if (!integer && count > 0) {
            std::vector<char> again = MakeInput(dtype, integer, seed, g_rank, count);
            s = comm->AllReduce(again.data(), count, dtype, op);
            CHECK_OR_FAIL(s.ok() && Fnv(again.data(), count * DTypeSize(dtype)) == h,
                          what, ": repeat gave different bits");
          }
        }
      }
    }
  }
}

// The ids of this process's threads named `name` (/proc/self/task).
std::vector<int> ThreadIds(const std::string& name) {
  std::vector<int> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm_file(task.path() / "comm");
    std::string comm_name;
    std::getline(comm_file, comm_name);
    if (comm_name == name) out.push_back(std::stoi(task.path().filename().string()));
  }
  return out;
}

// Their nice values.
std::vector<int> ThreadNices(const std::string& name) {
  std::vector<int> out;
  for (int tid : ThreadIds(name)) {
    std::ifstream stat_file("/proc/self/task/" + std::to_string(tid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
    // Fields after the ")" that closes the name: state is field 3, nice 19.
    std::istringstream rest(stat.substr(stat.rfind(')') + 1));
    std::string field;
    for (int f = 3; f <= 19 && rest >> field; ++f) {
      if (f == 19) out.push_back(std::stoi(field));
    }
  }
  return out;
}

// Options::progress_priority: the progress thread ("hfreduce-prog") runs that
// many nice levels below the thread that made the communicator; without the
// right to (not root) it keeps the same nice value. Options::progress_slice_us:
// it asks for that time slice (where the kernel keeps slices, Linux 6.12+).
void CheckProgressPriority(Communicator* comm) {
  Options o = comm->options();
  o.progress_priority = 3;
  o.progress_slice_us = 300;
  auto prio_or = Communicator::Create(MPI_COMM_WORLD, o);
  CHECK_OR_FAIL(prio_or.ok(), "progress_priority communicator: ", prio_or.status().ToString());
  if (!prio_or.ok()) return;
  std::vector<float> x(1000, 1.0f);
  absl::Status s = (*prio_or)->AllReduceAsync(x.data(), 1000, DType::kF32, ReduceOp::kSum).Wait();
  CHECK_OR_FAIL(s.ok(), "progress_priority allreduce: ", s.ToString());
  const int base = hs::ThisThreadNice();
  const int want = std::max(-20, base - 3);
  std::vector<int> nices = ThreadNices("hfreduce-prog");
  const bool raised = std::count(nices.begin(), nices.end(), want) > 0;
  if (geteuid() == 0) {
    CHECK_OR_FAIL(raised, "no progress thread at nice ", want, " (the caller's ", base, " - 3)");
  } else {
    CHECK_OR_FAIL(std::count(nices.begin(), nices.end(), base) == static_cast<long>(nices.size()),
                  "progress threads not at the caller's nice ", base);
  }
  CHECK_OR_FAIL(!nices.empty(), "no thread named hfreduce-prog");
  // Does this kernel keep a fair thread's slice? Ask on a throwaway thread.
  absl::Duration probe;
  std::thread([&] {
    if (hs::SetThisThreadSlice(absl::Microseconds(250)).ok()) probe = hs::ThisThreadSlice();
  }).join();
  if (probe == absl::Microseconds(250)) {
    int sliced = 0;
    for (int tid : ThreadIds("hfreduce-prog")) sliced += hs::ThreadSlice(tid) == absl::Microseconds(300);
    CHECK_OR_FAIL(sliced > 0, "no progress thread with a 300 us slice");
  }
}

void SuiteAsync(Communicator* comm, const Args& a) {
  CheckProgressPriority(comm);
  // Many calls in flight, mixed sizes/dtypes/ops, waited in reverse order.
  struct Op {
    std::vector<char> buf;
    int64_t count;
    DType dtype;
    ReduceOp op;
    uint32_t seed;
    Handle h;
  };
  std::vector<Op> ops;
  std::vector<int64_t> counts = Counts(a.chunk_bytes);
  for (int i = 0; i < 24; ++i) {
    Op o;
    o.count = counts[(i * 5) % counts.size()];
    o.dtype = i % 3 == 0 ? DType::kBF16 : DType::kF32;
    o.op = i % 2 ? ReduceOp::kAverage : ReduceOp::kSum;
    o.seed = 1000 + i;
    o.buf = MakeInput(o.dtype, true, o.seed, g_rank, o.count);
    ops.push_back(std::move(o));
  }
  for (Op& o : ops) o.h = comm->AllReduceAsync(o.buf.data(), o.count, o.dtype, o.op);
  for (int i = static_cast<int>(ops.size()) - 1; i >= 0; --i) {
    Op& o = ops[i];
    absl::Status s = o.h.Wait();
    CHECK_OR_FAIL(s.ok(), "async op ", i, ": ", s.ToString());
    CHECK_OR_FAIL(o.h.Test(), "Test() false after Wait()");
    if (s.ok()) {
      CheckReduced(o.buf, 0, o.count, o.dtype, o.op, true, o.seed,
                   absl::StrCat("async op ", i));
    }
  }
}

// Blocking calls that run on the caller's thread (Options::inline_blocking)
// leave the progress thread asleep: waking it after each call made every
// small AllReduce pay for a context switch of a raised-priority thread.
// Queued calls still wake it (SuiteAsync).
void SuiteInlineQuiet(Communicator* comm, const Args&) {
  if (!comm->options().inline_blocking) return;
  constexpr int kCalls = 200;
  constexpr int64_t kCount = 16;
  const int64_t before = comm->progress_wakeups();
  for (int i = 0; i < kCalls; ++i) {
    std::vector<char> buf = MakeInput(DType::kF32, true, 7000 + i, g_rank, kCount);
    absl::Status s = comm->AllReduce(buf.data(), kCount, DType::kF32, ReduceOp::kSum);
    CHECK_OR_FAIL(s.ok(), "inline call ", i, ": ", s.ToString());
    if (!s.ok()) return;
    CheckReduced(buf, 0, kCount, DType::kF32, ReduceOp::kSum, true, 7000 + i,
                 absl::StrCat("inline call ", i));
  }
  const int64_t woke = comm->progress_wakeups() - before;
  // A condition variable may wake spuriously now and then; one wake-up per
  // call is what the bug looked like.
  CHECK_OR_FAIL(woke <= 4, "the progress thread woke ", woke, " times during ", kCalls,
                " blocking calls that ran inline");
}

// A second communicator with `comm`'s options and a registered region of
// `region` bytes, and `buffer` bytes of that region in *big; nullptr (with
// a failed check) when either fails.
std::unique_ptr<Communicator> RegisteredComm(Communicator* comm, int64_t region, int64_t buffer,
                                             char** big) {
  Options o = comm->options();
  o.registered_bytes = region;
  auto reg_or = Communicator::Create(MPI_COMM_WORLD, o);
  CHECK_OR_FAIL(reg_or.ok(), "registered communicator: ", reg_or.status().ToString());
  if (!reg_or.ok()) return nullptr;
  std::unique_ptr<Communicator> reg = std::move(*reg_or);
  auto big_or = reg->AllocShared(buffer);
  CHECK_OR_FAIL(big_or.ok(), "AllocShared: ", big_or.status().ToString());
  if (!big_or.ok()) return nullptr;
  *big = static_cast<char*>(*big_or);
  return reg;
}

// Registered buffers (Communicator::AllocShared) are reduced in place by the
// node's ranks; the bits must equal the plain-buffer path of a communicator
// with the same options. Every rank registered, then only odd ranks (a node
// mixing both), then many async calls in flight on distinct registered
// buffers; and AllocShared past the region is a clear error.
void SuiteRegistered(Communicator* comm, const Args& a) {
  char* big = nullptr;  // 600 KiB of 2 MiB; 8 async buffers of <= 120 KiB follow
  std::unique_ptr<Communicator> reg = RegisteredComm(comm, 2 << 20, 600 << 10, &big);
  if (reg == nullptr) return;
  const int64_t chunk = a.chunk_bytes;
  for (int mode = 0; mode < 2; ++mode) {
    const bool mine_registered = mode == 0 || g_rank % 2 == 1;
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      const int64_t es = DTypeSize(dtype);
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
        for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{31}, int64_t{509},
                              chunk / es - 1, chunk / es + 1, 3 * chunk / es + 7,
                              int64_t{100003}}) {
          if (count * es > (600 << 10)) continue;
          const uint32_t seed = static_cast<uint32_t>(count * 13 + es + mode);
          const std::string what = absl::StrCat("registered mode ", mode, " ", DTypeName(dtype),
                                                " ", OpName(op), " count=", count);
          std::vector<char> x = MakeInput(dtype, false, seed, g_rank, count);
          std::vector<char> y = x;
          char* buf = mine_registered ? big : y.data();
          if (mine_registered && count > 0) std::memcpy(big, x.data(), count * es);
          absl::Status s1 = comm->AllReduce(x.data(), count, dtype, op);
          absl::Status s2 = reg->AllReduce(buf, count, dtype, op);
          CHECK_OR_FAIL(s1.ok() && s2.ok(), what, ": ", s1.ToString(), " / ", s2.ToString());
          CHECK_OR_FAIL(count == 0 || std::memcmp(x.data(), buf, count * es) == 0, what,
                        ": registered result differs from the plain path");
          CheckReduced(x, 0, count, dtype, op, false, seed, what);
        }
      }
    }
  }
  // Every rank registered, many chunks with a short last one, back to back:
  // ranks then walk their slices without meeting per chunk, and a rank may
  // run ahead of a descheduled peer. Bits must equal the plain path's on
  // every repeat (a rank that reused a buffer's acc under a peer still
  // working in it broke this).
  {
    const int64_t count = std::min<int64_t>(5 * (chunk / 4) + 37, (600 << 10) / 4);
    std::vector<char> x = MakeInput(DType::kF32, false, 4242, g_rank, count);
    std::vector<char> want = x;
    absl::Status s0 = comm->AllReduce(want.data(), count, DType::kF32, ReduceOp::kSum);
    CHECK_OR_FAIL(s0.ok(), "registered repeat reference: ", s0.ToString());
    for (int rep = 0; rep < 40 && s0.ok(); ++rep) {
      std::memcpy(big, x.data(), count * 4);
      absl::Status s = reg->AllReduce(big, count, DType::kF32, ReduceOp::kSum);
      CHECK_OR_FAIL(s.ok(), "registered repeat ", rep, ": ", s.ToString());
      CHECK_OR_FAIL(std::memcmp(big, want.data(), count * 4) == 0, "registered repeat ", rep,
                    " count=", count, ": differs from the plain path");
    }
  }
  // Async calls in flight, each on its own registered buffer.
  constexpr int kOps = 8;
  std::vector<char*> bufs(kOps);
  std::vector<int64_t> counts(kOps);
  std::vector<Handle> handles(kOps);
  for (int i = 0; i < kOps; ++i) {
    counts[i] = 1000 + 4099 * i;
    auto p = reg->AllocShared(counts[i] * 4);
    CHECK_OR_FAIL(p.ok(), "AllocShared op ", i, ": ", p.status().ToString());
    if (!p.ok()) return;
    bufs[i] = static_cast<char*>(*p);
    std::vector<char> in = MakeInput(DType::kF32, true, 900 + i, g_rank, counts[i]);
    std::memcpy(bufs[i], in.data(), counts[i] * 4);
    handles[i] = reg->AllReduceAsync(bufs[i], counts[i], DType::kF32, ReduceOp::kSum);
  }
  for (int i = kOps - 1; i >= 0; --i) {
    absl::Status st = handles[i].Wait();
    CHECK_OR_FAIL(st.ok(), "registered async op ", i, ": ", st.ToString());
    std::vector<char> got(bufs[i], bufs[i] + counts[i] * 4);
    CheckReduced(got, 0, counts[i], DType::kF32, ReduceOp::kSum, true, 900 + i,
                 absl::StrCat("registered async op ", i));
  }
  auto too_big = reg->AllocShared(1 << 20);  // about 1.1 MiB are in use
  CHECK_OR_FAIL(!too_big.ok() && too_big.status().code() == absl::StatusCode::kResourceExhausted &&
                    absl::StrContains(too_big.status().message(), "registered_bytes"),
                "AllocShared past the region: ", too_big.status().ToString());
}

// Whether row i of rank r's matrix in AllReduceRows case `seed` is nonzero:
// about one row in four per rank, so the union is well under all rows.
bool RowHeld(uint32_t seed, int r, int64_t i) {
  uint32_t h = seed * 2654435761u ^ uint32_t(r + 1) * 40503u ^ uint32_t(i) * 2246822519u;
  h ^= h >> 15;
  h *= 2654435761u;
  return (h >> 13) % 4 == 0;
}

// Rank r's [rows, cols] matrix: its rows of random values (small integers
// with `integer`), zero elsewhere.
std::vector<float> RowsInput(uint32_t seed, int r, int64_t rows, int64_t cols,
                             bool integer = false) {
  std::vector<float> m(rows * cols, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    if (!RowHeld(seed, r, i)) continue;
    for (int64_t j = 0; j < cols; ++j) {
      m[i * cols + j] = InputValue(integer, seed, r, i * cols + j);
    }
  }
  return m;
}

// AllReduceRows (registered buffers; one node or several) against
// AllReduce of the same matrix: the same bits in every row, the union's
// size, and failures that every rank reports alike (a plain buffer on one
// rank, a mismatched row length).
void SuiteRows(Communicator* comm, const Args& a) {
  Options o = comm->options();
  o.registered_bytes = 4 << 20;
  // With 3 or more nodes the trees cut the packed rows differently from the
  // whole matrix, so the order of the nodes' additions may differ: integer
  // inputs make every order give the same bits.
  const bool integer = comm->num_nodes() > 2;
  {
    auto reg_or = Communicator::Create(MPI_COMM_WORLD, o);
    CHECK_OR_FAIL(reg_or.ok(), "registered communicator: ", reg_or.status().ToString());
    if (!reg_or.ok()) return;
    std::unique_ptr<Communicator> reg = std::move(*reg_or);
    auto big_or = reg->AllocShared(3 << 20);
    CHECK_OR_FAIL(big_or.ok(), "AllocShared: ", big_or.status().ToString());
    if (!big_or.ok()) return;
    float* big = static_cast<float*>(*big_or);
    CHECK_OR_FAIL(reg->CanAllReduceRows(big, 3 << 20), "CanAllReduceRows: false");
    std::vector<float> plain(16);
    CHECK_OR_FAIL(!reg->CanAllReduceRows(plain.data(), 64), "CanAllReduceRows: true for a plain buffer");
    struct Shape { int64_t rows, cols; };
    for (Shape sh : {Shape{0, 8}, Shape{1, 1}, Shape{5, 3}, Shape{1000, 7}, Shape{777, 64},
                     Shape{301, 100}, Shape{33, 5003}, Shape{g_size, 16}}) {
      for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
        const uint32_t seed = uint32_t(sh.rows * 31 + sh.cols + int(op));
        const int64_t n = sh.rows * sh.cols;
        const std::string what = absl::StrCat("rows [", sh.rows, ", ", sh.cols, "] ",
                                              OpName(op));
        std::vector<float> want = RowsInput(seed, g_rank, sh.rows, sh.cols, integer);
        if (n > 0) std::memcpy(big, want.data(), n * 4);
        int64_t union_rows = 0;
        for (int64_t i = 0; i < sh.rows; ++i) {
          bool any = false;
          for (int r = 0; r < g_size; ++r) any |= RowHeld(seed, r, i);
          union_rows += any;
        }
        absl::Status s0 = comm->AllReduce(want.data(), n, DType::kF32, op);
        int64_t found = -1;
        absl::Status s1 = reg->AllReduceRows(big, sh.rows, sh.cols, op, &found);
        CHECK_OR_FAIL(s0.ok() && s1.ok(), what, ": ", s0.ToString(), " / ", s1.ToString());
        if (!s0.ok() || !s1.ok()) continue;
        CHECK_OR_FAIL(n == 0 || std::memcmp(big, want.data(), n * 4) == 0, what,
                      ": differs from AllReduce");
        CHECK_OR_FAIL(found == union_rows, what, ": ", found, " nonzero rows reported, ",
                      union_rows, " expected");
        CHECK_OR_FAIL(SameOnAllRanks(Fnv(big, n * 4)), what, ": ranks disagree");
      }
    }
    // A NaN reaches everyone; a row of -0 on one rank only stays as it is.
    {
      const int64_t rows = 4, cols = 70;
      std::fill(big, big + rows * cols, 0.0f);
      if (g_rank == 0) big[1 * cols + 69] = std::numeric_limits<float>::quiet_NaN();
      if (g_rank == g_size - 1) big[2 * cols + 3] = -0.0f;
      int64_t found = -1;
      absl::Status s = reg->AllReduceRows(big, rows, cols, ReduceOp::kSum, &found);
      CHECK_OR_FAIL(s.ok(), "NaN row: ", s.ToString());
      CHECK_OR_FAIL(found == 1 && std::isnan(big[1 * cols + 69]) && big[1 * cols] == 0.0f,
                    "NaN row: found ", found);
      CHECK_OR_FAIL(std::signbit(big[2 * cols + 3]) == (g_rank == g_size - 1),
                    "-0 row was written");
    }
    // Queued behind asynchronous calls: the call order holds.
    {
      std::vector<float> x(5000, 1.0f);
      Handle h = reg->AllReduceAsync(x.data(), 5000, DType::kF32, ReduceOp::kSum);
      std::vector<float> m = RowsInput(77, g_rank, 300, 40, integer);
      std::memcpy(big, m.data(), m.size() * 4);
      std::vector<float> want = m;
      absl::Status s = reg->AllReduceRows(big, 300, 40, ReduceOp::kSum);
      absl::Status s2 = h.Wait();
      absl::Status s0 = comm->AllReduce(want.data(), int64_t(want.size()), DType::kF32,
                                        ReduceOp::kSum);
      CHECK_OR_FAIL(s.ok() && s2.ok() && s0.ok() && x[0] == float(g_size) &&
                        std::memcmp(big, want.data(), want.size() * 4) == 0,
                    "rows behind an async call: ", s.ToString(), " / ", s2.ToString());
    }
    absl::Status bad = reg->AllReduceRows(big, -1, 4, ReduceOp::kSum);
    CHECK_OR_FAIL(absl::IsInvalidArgument(bad), "negative rows: ", bad.ToString());
  }
  if (g_size < 2) return;
  // The last rank passes a plain buffer: every rank fails, naming it.
  {
    o.timeout = absl::Milliseconds(a.timeout_ms);
    auto reg_or = Communicator::Create(MPI_COMM_WORLD, o);
    CHECK_OR_FAIL(reg_or.ok(), "registered communicator: ", reg_or.status().ToString());
    if (!reg_or.ok()) return;
    auto p = (*reg_or)->AllocShared(64 * 64 * 4);
    if (!p.ok()) return;
    std::vector<float> plain_buf(64 * 64, 1.0f);
    float* buf = g_rank == g_size - 1 ? plain_buf.data() : static_cast<float*>(*p);
    absl::Status s = (*reg_or)->AllReduceRows(buf, 64, 64, ReduceOp::kSum);
    // Its node names it (or is aborted by the rank that found it first);
    // the other nodes learn of it with the row masks.
    const bool same_node = comm->node() == (*reg_or)->num_nodes() - 1;
    CHECK_OR_FAIL((absl::IsFailedPrecondition(s) || absl::IsAborted(s)) &&
                      absl::StrContains(s.message(), "registered region") &&
                      (!same_node || absl::StrContains(s.message(), absl::StrCat("rank ", g_size - 1))),
                  "plain buffer on the last rank: ", s.ToString());
  }
  // The last rank's rows are longer: a mismatch, named.
  {
    auto reg_or = Communicator::Create(MPI_COMM_WORLD, o);
    CHECK_OR_FAIL(reg_or.ok(), "registered communicator: ", reg_or.status().ToString());
    if (!reg_or.ok()) return;
    auto p = (*reg_or)->AllocShared(64 * 64 * 4);
    if (!p.ok()) return;
    const int64_t cols = g_rank == g_size - 1 ? 32 : 16;
    absl::Status s = (*reg_or)->AllReduceRows(static_cast<float*>(*p), 64 * 16 / cols, cols,
                                              ReduceOp::kSum);
    // Named everywhere (a rank aborted by its node's first to fail quotes it,
    // cut to the abort message's length).
    CHECK_OR_FAIL((absl::IsFailedPrecondition(s) || absl::IsAborted(s)) &&
                      absl::StrContains(s.message(), "mismatched") &&
                      (absl::IsAborted(s) || absl::StrContains(s.message(), "cols=32")),
                  "mismatched row length: ", s.ToString());
  }
}

// The small-message path (one reducer per node) and the inline blocking
// path must give the same bits as the pipelined, queued path: `plain` is a
// second communicator with both turned off. Also mixes blocking calls
// (queued behind async ones, or inline when idle) with async calls.
// The same AllReduce of random inputs (seed) on two communicators: *x from
// `first`, *y from `second`. False (reported) when either call failed.
bool AllReduceOnBoth(Communicator* first, Communicator* second, DType dtype, ReduceOp op,
                     int64_t count, uint32_t seed, const std::string& what,
                     std::vector<char>* x, std::vector<char>* y) {
  *x = MakeInput(dtype, false, seed, g_rank, count);
  *y = *x;
  absl::Status s1 = first->AllReduce(x->data(), count, dtype, op);
  absl::Status s2 = second->AllReduce(y->data(), count, dtype, op);
  CHECK_OR_FAIL(s1.ok() && s2.ok(), what, ": ", s1.ToString(), " / ", s2.ToString());
  return s1.ok() && s2.ok();
}

void SuitePaths(Communicator* comm, const Args& a) {
  Options o = comm->options();
  o.small_bytes = 0;
  o.inline_blocking = false;
  auto plain_or = Communicator::Create(MPI_COMM_WORLD, o);
  CHECK_OR_FAIL(plain_or.ok(), "second communicator: ", plain_or.status().ToString());
  if (!plain_or.ok()) return;
  std::unique_ptr<Communicator> plain = std::move(*plain_or);
  const int64_t small = std::min(a.small_bytes, a.chunk_bytes);
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const int64_t es = DTypeSize(dtype);
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (int64_t count : {int64_t{1}, int64_t{3}, int64_t{31}, int64_t{509},
                            small / es - 1, small / es, small / es + 1,
                            3 * small / es + 7}) {
        if (count < 0) continue;
        uint32_t seed = static_cast<uint32_t>(count * 17 + es);
        std::string what = absl::StrCat("paths ", DTypeName(dtype), " ", OpName(op),
                                        " count=", count);
        std::vector<char> x, y;
        if (!AllReduceOnBoth(comm, plain.get(), dtype, op, count, seed, what, &x, &y)) continue;
        // Up to 2 nodes the paths add in the same order. With more nodes an
        // element's tree (0 or 1: which half of the tree's buffer it is in)
        // depends on how the call is sliced, so the paths may differ in the
        // last bits; each is still fixed for a given call (checked below).
        if (comm->num_nodes() <= 2) {
          CHECK_OR_FAIL(std::memcmp(x.data(), y.data(), count * es) == 0, what,
                        ": small/inline path differs from the pipelined path");
        }
        std::vector<char> again = MakeInput(dtype, false, seed, g_rank, count);
        absl::Status s1 = comm->AllReduce(again.data(), count, dtype, op);
        CHECK_OR_FAIL(s1.ok() && std::memcmp(x.data(), again.data(), count * es) == 0,
                      what, ": repeat gave other bits");
        CheckReduced(x, 0, count, dtype, op, false, seed, what);
        CHECK_OR_FAIL(SameOnAllRanks(Fnv(x.data(), count * es)), what,
                      ": ranks disagree");
      }
    }
  }
  // Chunks cut by message size (Options::min_chunk_bytes below the slot):
  // other chunk borders than the driver's communicator, the same sums, and
  // with up to 2 nodes the same bits (a chunk border moves no element to
  // another tree there).
  {
    Options cut = comm->options();
    cut.min_chunk_bytes = 4096;
    auto cut_or = Communicator::Create(MPI_COMM_WORLD, cut);
    CHECK_OR_FAIL(cut_or.ok(), "min_chunk_bytes communicator: ", cut_or.status().ToString());
    if (cut_or.ok()) {
      std::unique_ptr<Communicator> cutc = std::move(*cut_or);
      for (DType dtype : {DType::kF32, DType::kBF16}) {
        const int64_t es = DTypeSize(dtype);
        for (int64_t count : {40 * 4096 / es + 3, 5 * a.chunk_bytes / es + 11}) {
          const uint32_t seed = static_cast<uint32_t>(count * 29 + es);
          const std::string what =
              absl::StrCat("min_chunk_bytes 4K ", DTypeName(dtype), " count=", count);
          std::vector<char> x, y;
          if (!AllReduceOnBoth(comm, cutc.get(), dtype, ReduceOp::kSum, count, seed, what, &x,
                               &y)) {
            continue;
          }
          CheckReduced(y, 0, count, dtype, ReduceOp::kSum, false, seed, what);
          if (comm->num_nodes() <= 2) {
            CHECK_OR_FAIL(std::memcmp(x.data(), y.data(), count * es) == 0, what,
                          ": other chunk borders gave other bits");
          }
        }
      }
    }
    // Bad settings fail by name at once (a pipeline of one buffer would
    // wait forever for a chunk's copy-out before copying the next one in).
    Options too_small = comm->options(), too_shallow = comm->options();
    too_small.min_chunk_bytes = 100;
    too_shallow.pipeline_depth = 1;
    for (const auto& [bad, name] : {std::pair{too_small, "min_chunk_bytes=100"},
                                    std::pair{too_shallow, "pipeline_depth=1"}}) {
      auto bad_or = Communicator::Create(MPI_COMM_WORLD, bad);
      CHECK_OR_FAIL(!bad_or.ok() && absl::IsInvalidArgument(bad_or.status()) &&
                        absl::StrContains(bad_or.status().message(), name),
                    name, " not rejected by name: ", bad_or.status().ToString());
    }
  }
  // Async calls in flight, then blocking calls that must queue behind them
  // (and later ones that run inline), waited out of order.
  struct Op {
    std::vector<char> buf;
    int64_t count;
    DType dtype;
    ReduceOp op;
    uint32_t seed;
    Handle h;
  };
  std::vector<Op> ops(12);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 12; ++i) {
      Op& q = ops[i];
      q.count = (i % 3 == 0) ? small / 4 + i : (i % 3 == 1 ? 2 * small + i : i + 1);
      q.dtype = i % 2 ? DType::kBF16 : DType::kF32;
      q.op = (i / 2) % 2 ? ReduceOp::kAverage : ReduceOp::kSum;
      q.seed = 500 + 31 * round + i;
      q.buf = MakeInput(q.dtype, true, q.seed, g_rank, q.count);
      if (i % 4 == 3) {
        absl::Status s = comm->AllReduce(q.buf.data(), q.count, q.dtype, q.op);
        CHECK_OR_FAIL(s.ok(), "blocking op ", i, ": ", s.ToString());
      } else {
        q.h = comm->AllReduceAsync(q.buf.data(), q.count, q.dtype, q.op);
      }
    }
    for (int i = 11; i >= 0; --i) {
      Op& q = ops[i];
      if (q.h.valid()) {
        absl::Status s = q.h.Wait();
        CHECK_OR_FAIL(s.ok(), "async op ", i, ": ", s.ToString());
      }
      CheckReduced(q.buf, 0, q.count, q.dtype, q.op, true, q.seed,
                   absl::StrCat("mixed round ", round, " op ", i));
      q.h = Handle();
    }
  }
}

// The two-node exchange against the trees, bit for bit (the driver's
// communicator takes the exchange at every size, the second one never):
// AllReduce (pipelined and small path, f32 and bf16, sum and average,
// counts over several sub-chunks and chunks) and Broadcast (byte-wise OR).
// With other node counts the option changes nothing.
void SuitePair(Communicator* comm, const Args& a) {
  Options o = comm->options();
  o.pair_exchange_bytes = 0;
  auto other_or = Communicator::Create(MPI_COMM_WORLD, o);
  CHECK_OR_FAIL(other_or.ok(), "second communicator: ", other_or.status().ToString());
  if (!other_or.ok()) return;
  std::unique_ptr<Communicator> other = std::move(*other_or);
  const int64_t small = std::min(a.small_bytes, a.chunk_bytes);
  const int64_t tree_units = a.tree_chunk_bytes / 4;
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    const int64_t es = DTypeSize(dtype);
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (int64_t count : {int64_t{1}, int64_t{33}, small / es - 1, small / es + 5,
                            tree_units * 5 + 3, 2 * a.chunk_bytes / es + 17,
                            9 * a.chunk_bytes / es + 1}) {
        if (count < 0) continue;
        uint32_t seed = static_cast<uint32_t>(count * 13 + es + 7);
        std::string what = absl::StrCat("pair ", DTypeName(dtype), " ", OpName(op),
                                        " count=", count);
        std::vector<char> x, y;
        if (!AllReduceOnBoth(comm, other.get(), dtype, op, count, seed, what, &x, &y)) continue;
        CHECK_OR_FAIL(std::memcmp(x.data(), y.data(), count * es) == 0, what,
                      ": the two-node exchange and the trees give other bits");
        CheckReduced(x, 0, count, dtype, op, false, seed, what);
        CHECK_OR_FAIL(SameOnAllRanks(Fnv(x.data(), count * es)), what, ": ranks disagree");
      }
    }
  }
  for (int64_t count : {int64_t{5}, 3 * a.chunk_bytes / 4 + 9}) {
    for (int root : {0, g_size - 1}) {
      std::vector<float> x(count), y(count);
      for (int64_t i = 0; i < count; ++i) {
        // Payloads a sum would not keep: NaNs, -0, denormals.
        const uint32_t bits = g_rank == root ? uint32_t(0x7fc00001u + 977u * uint32_t(i)) ^
                                                   uint32_t(i % 3 == 0 ? 0x80000000u : 0u)
                                             : 0u;
        std::memcpy(&x[i], &bits, 4);
      }
      y = x;
      std::vector<float> want = x;
      MPI_Bcast(want.data(), int(count), MPI_FLOAT, root, MPI_COMM_WORLD);
      absl::Status s1 = comm->BroadcastAsync(x.data(), count, DType::kF32, root).Wait();
      absl::Status s2 = other->BroadcastAsync(y.data(), count, DType::kF32, root).Wait();
      std::string what = absl::StrCat("pair broadcast count=", count, " root=", root);
      CHECK_OR_FAIL(s1.ok() && s2.ok(), what, ": ", s1.ToString(), " / ", s2.ToString());
      CHECK_OR_FAIL(std::memcmp(x.data(), want.data(), count * 4) == 0 &&
                        std::memcmp(y.data(), want.data(), count * 4) == 0,
                    what, ": not the root's bytes");
      ++g_checks;
    }
  }
}

void SuiteCollectives(Communicator* comm, const Args& a) {
  // ReduceScatter: rank r gets block r of the reduction.
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kAverage}) {
      for (int64_t rc : {int64_t{0}, int64_t{1}, int64_t{7}, int64_t{257},
                         a.chunk_bytes / 2 + 3, 3 * a.chunk_bytes + 5}) {
        uint32_t seed = static_cast<uint32_t>(rc + 5);
        std::vector<char> send = MakeInput(dtype, true, seed, g_rank, rc * g_size);
        std::vector<char> recv(rc * DTypeSize(dtype) + 1);
        absl::Status s =
            comm->ReduceScatterAsync(send.data(), recv.data(), rc, dtype, op).Wait();
        std::string what = absl::StrCat("reduce_scatter ", DTypeName(dtype), " ",
                                        OpName(op), " recv_count=", rc);
        CHECK_OR_FAIL(s.ok(), what, ": ", s.ToString());
        if (s.ok()) CheckReduced(recv, g_rank * rc, rc, dtype, op, true, seed, what);
      }
    }
  }
  // AllGather: raw bytes, including NaN payloads and -0, must arrive exactly.
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kU8}) {
    for (int64_t sc : {int64_t{0}, int64_t{1}, int64_t{5}, int64_t{999},
                       a.chunk_bytes + 1, 3 * a.chunk_bytes + 7}) {
      const int64_t es = DTypeSize(dtype);
      auto byte_of = [&](int r, int64_t j) {
        return static_cast<char>((r * 131 + j * 29 + 7) % 256);
      };
      std::vector<char> send(sc * es + 1), recv(sc * es * g_size + 1, 0x55);
      for (int64_t j = 0; j < sc * es; ++j) send[j] = byte_of(g_rank, j);
      absl::Status s = comm->AllGatherAsync(send.data(), recv.data(), sc, dtype).Wait();
      std::string what = absl::StrCat("allgather ", DTypeName(dtype), " count=", sc);
      CHECK_OR_FAIL(s.ok(), what, ": ", s.ToString());
      int bad = 0;
      for (int r = 0; r < g_size && s.ok(); ++r) {
        for (int64_t j = 0; j < sc * es; ++j) {
          if (recv[r * sc * es + j] != byte_of(r, j) && bad++ < 3) {
            CHECK_OR_FAIL(false, what, ": byte ", j, " of rank ", r, " wrong");
          }
        }
      }
      CHECK_OR_FAIL(recv[sc * es * g_size] == 0x55, what, ": wrote past the end");
    }
  }
  // In-place AllGather: my block already sits at its place in recv.
  {
    const int64_t sc = a.chunk_bytes / 4 + 9;
    std::vector<float> recv(sc * g_size, -1.0f);
    for (int64_t j = 0; j < sc; ++j) recv[g_rank * sc + j] = g_rank * 1000.0f + j;
    absl::Status s = comm->AllGather(recv.data() + g_rank * sc, recv.data(), sc, DType::kF32);
    CHECK_OR_FAIL(s.ok(), "in-place allgather: ", s.ToString());
    bool same = true;
    for (int r = 0; r < g_size; ++r) {
      for (int64_t j = 0; j < sc; ++j) same &= recv[r * sc + j] == r * 1000.0f + j;
    }
    CHECK_OR_FAIL(same, "in-place allgather: wrong values");
  }
  // Rounded (non-integer) inputs: ReduceScatter repeats bit for bit, and
  // with at most two nodes (where the ring's order and the tree's agree)
  // its block equals the AllReduce's, as ZeRO-1's parity with DDP needs.
  for (DType dtype : {DType::kF32, DType::kBF16}) {
    for (int64_t rc : {int64_t{5}, a.chunk_bytes + 17}) {
      const uint32_t seed = static_cast<uint32_t>(7000 + rc);
      const int64_t es = DTypeSize(dtype);
      std::vector<char> send = MakeInput(dtype, false, seed, g_rank, rc * g_size);
      std::vector<char> r1(rc * es + 1), r2(rc * es + 1), all = send;
      absl::Status s1 = comm->ReduceScatterAsync(send.data(), r1.data(), rc, dtype,
                                                 ReduceOp::kAverage).Wait();
      absl::Status s2 = comm->ReduceScatter(send.data(), r2.data(), rc, dtype,
                                            ReduceOp::kAverage);  // blocking form
      absl::Status s3 = comm->AllReduce(all.data(), rc * g_size, dtype, ReduceOp::kAverage);
      std::string what = absl::StrCat("reduce_scatter bits ", DTypeName(dtype), " rc=", rc);
      CHECK_OR_FAIL(s1.ok() && s2.ok() && s3.ok(), what, ": ", s1.ToString(), s2.ToString(),
                    s3.ToString());
      CHECK_OR_FAIL(std::memcmp(r1.data(), r2.data(), rc * es) == 0, what, ": runs differ");
      if (comm->num_nodes() <= 2) {
        CHECK_OR_FAIL(std::memcmp(r1.data(), all.data() + g_rank * rc * es, rc * es) == 0,
                      what, ": differs from the allreduce");
      }
    }
  }
  // Many in flight: ReduceScatter, AllGather and AllReduce queued together.
  {
    struct Op {
      int kind;  // 0 reduce-scatter, 1 allgather, 2 allreduce
      int64_t count;
      DType dtype;
      uint32_t seed;
      std::vector<char> in, out;
      Handle h;
    };
    std::vector<Op> ops(15);
    for (int i = 0; i < 15; ++i) {
      Op& q = ops[i];
      q.kind = i % 3;
      q.count = (i * 977) % (a.chunk_bytes + 1) + 1;
      q.dtype = (i / 3) % 2 ? DType::kBF16 : DType::kF32;
      q.seed = 3000 + i;
      const int64_t es = DTypeSize(q.dtype);
      if (q.kind == 0) {
        q.in = MakeInput(q.dtype, true, q.seed, g_rank, q.count * g_size);
        q.out.assign(q.count * es + 1, 0);
        q.h = comm->ReduceScatterAsync(q.in.data(), q.out.data(), q.count, q.dtype,
                                       ReduceOp::kSum);
      } else if (q.kind == 1) {
        q.in = MakeInput(q.dtype, true, q.seed, g_rank, q.count);
        q.out.assign(q.count * es * g_size + 1, 0);
        q.h = comm->AllGatherAsync(q.in.data(), q.out.data(), q.count, q.dtype);
      } else {
        q.out = MakeInput(q.dtype, true, q.seed, g_rank, q.count);
        q.h = comm->AllReduceAsync(q.out.data(), q.count, q.dtype, ReduceOp::kSum);
      }
    }
    for (int i = 14; i >= 0; --i) {
      Op& q = ops[i];
      absl::Status s = q.h.Wait();
      std::string what = absl::StrCat("in flight op ", i, " kind ", q.kind);
      CHECK_OR_FAIL(s.ok(), what, ": ", s.ToString());
      if (!s.ok()) continue;
      if (q.kind == 0) {
        CheckReduced(q.out, g_rank * q.count, q.count, q.dtype, ReduceOp::kSum, true, q.seed,
                     what);
      } else if (q.kind == 2) {
        CheckReduced(q.out, 0, q.count, q.dtype, ReduceOp::kSum, true, q.seed, what);
      } else {
        const int64_t bytes = q.count * DTypeSize(q.dtype);
        bool same = true;
        for (int r = 0; r < g_size; ++r) {
          std::vector<char> want = MakeInput(q.dtype, true, q.seed, r, q.count);
          same &= std::memcmp(q.out.data() + r * bytes, want.data(), bytes) == 0;
        }
        CHECK_OR_FAIL(same, what, ": wrong bytes");
      }
    }
  }
  // Broadcast from every root.
  for (int root = 0; root < g_size; ++root) {
    for (int64_t count : {int64_t{1}, int64_t{333}, a.chunk_bytes / 4 * 3 + 1}) {
      std::vector<char> buf(count * 4);
      for (int64_t j = 0; j < count * 4; ++j) {
        buf[j] = g_rank == root ? static_cast<char>(root * 17 + j * 3) : 0x11;
      }
      absl::Status s =
          comm->BroadcastAsync(buf.data(), count, DType::kF32, root).Wait();
      std::string what = absl::StrCat("broadcast root=", root, " count=", count);
      CHECK_OR_FAIL(s.ok(), what, ": ", s.ToString());
      bool same = true;
      for (int64_t j = 0; j < count * 4; ++j) {
        same &= buf[j] == static_cast<char>(root * 17 + j * 3);
      }
      CHECK_OR_FAIL(same, what, ": wrong bytes");
    }
  }
  // Arguments are checked before anything is queued.
  std::vector<char> tiny(16);
  absl::Status s = comm->AllReduce(tiny.data(), 4, DType::kI32, ReduceOp::kSum);
  CHECK_OR_FAIL(absl::IsInvalidArgument(s), "i32 allreduce should be rejected: ", s.ToString());
  s = comm->BroadcastAsync(tiny.data(), 1, DType::kF32, g_size).Wait();
  CHECK_OR_FAIL(absl::IsInvalidArgument(s), "bad root should be rejected: ", s.ToString());
}

// After a warm-up call, `big_rank` calls AllReduce with 33 floats and the
// others with 32: every rank must fail with a message naming the mismatch
// within 5 s.
void CheckMismatchReported(Communicator* comm, int big_rank, const std::string& what) {
  std::vector<float> buf(64, 1.0f);
  CHECK_OR_FAIL(comm->AllReduce(buf.data(), 32, DType::kF32, ReduceOp::kSum).ok(),
                what, ": warm-up allreduce");
  const int64_t count = g_rank == big_rank ? 33 : 32;
  absl::Time t0 = absl::Now();
  absl::Status s = comm->AllReduce(buf.data(), count, DType::kF32, ReduceOp::kSum);
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  std::string msg(s.message());
  CHECK_OR_FAIL(!s.ok() && (msg.find("mismatched") != std::string::npos ||
                            msg.find("aborted by rank") != std::string::npos),
                what, ": mismatch not reported: ", s.ToString());
  CHECK_OR_FAIL(secs < 5.0, what, ": mismatch took ", secs, " s to report");
  if (g_rank == 0) std::printf("%s: rank 0 got: %s\n", what.c_str(), s.ToString().c_str());
}

// The last rank calls with another count: every rank must fail with a
// message naming the mismatch, within the timeout.
void SuiteMismatch(Communicator* comm, const Args&) {
  CheckMismatchReported(comm, g_size - 1, "mismatch");
  // The communicator stays broken.
  std::vector<float> buf(32, 1.0f);
  absl::Status s = comm->AllReduce(buf.data(), 32, DType::kF32, ReduceOp::kSum);
  CHECK_OR_FAIL(!s.ok(), "call after a failure should fail");
}

// Two nodes, counts on either side of Options::pair_exchange_bytes: one node
// takes the exchange, the other the trees, and both still name the
// mismatch (their op checks meet), whichever node has the larger count.
void SuiteMismatchRoute(Communicator* comm, const Args&) {
  Options o = comm->options();
  o.pair_exchange_bytes = 128;  // 32 floats: exchange; 33: trees
  for (int big_rank : {g_size - 1, 0}) {
    auto c_or = Communicator::Create(MPI_COMM_WORLD, o);
    CHECK_OR_FAIL(c_or.ok(), "communicator: ", c_or.status().ToString());
    if (!c_or.ok()) return;
    CheckMismatchReported(c_or->get(), big_rank, absl::StrCat("big rank ", big_rank));
  }
}

// The last rank calls ReduceScatter with another count, or AllGather where
// the others call ReduceScatter: every rank fails naming the mismatch.

void SuiteMismatchScatter(Communicator* comm, const Args& a) {
  const int64_t rc = a.chunk_bytes / 4 + 3;
  std::vector<float> send(rc * g_size + g_size, 1.0f), recv(rc * g_size + g_size);
  CHECK_OR_FAIL(comm->ReduceScatterAsync(send.data(), recv.data(), rc, DType::kF32,
                                         ReduceOp::kSum).Wait().ok(),
                "warm-up reduce-scatter");
  absl::Time t0 = absl::Now();
  absl::Status s;
  if (g_rank == g_size - 1) {
    s = (g_size % 2 ? comm->AllGatherAsync(send.data(), recv.data(), rc, DType::kF32)
                    : comm->ReduceScatterAsync(send.data(), recv.data(), rc + 1,
                                               DType::kF32, ReduceOp::kSum))
            .Wait();
  } else {
    s = comm->ReduceScatterAsync(send.data(), recv.data(), rc, DType::kF32, ReduceOp::kSum)
            .Wait();
  }
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  std::string msg(s.message());
  CHECK_OR_FAIL(!s.ok() && (msg.find("mismatched") != std::string::npos ||
                            msg.find("aborted by rank") != std::string::npos),
                "mismatch not reported: ", s.ToString());
  CHECK_OR_FAIL(secs < 5.0, "mismatch took ", secs, " s to report");
  if (g_rank == 0) std::printf("rank 0 got: %s\n", s.ToString().c_str());
}

// Abort with ReduceScatters and AllGathers queued: rank 0 aborts; its own
// calls fail at once, the node's other ranks are told through shared
// memory, other nodes fail by timeout; nobody hangs or crashes.
void SuiteAbort(Communicator* comm, const Args& a) {
  const int64_t rc = 4 * a.chunk_bytes + 1;
  std::vector<std::vector<float>> send(6, std::vector<float>(rc * g_size, 1.0f));
  std::vector<std::vector<float>> recv(6, std::vector<float>(rc * g_size));
  CHECK_OR_FAIL(comm->AllGatherAsync(send[0].data(), recv[0].data(), rc, DType::kF32)
                    .Wait().ok(), "warm-up allgather");
  MPI_Barrier(MPI_COMM_WORLD);
  absl::Time t0 = absl::Now();
  std::vector<Handle> hs;
  for (int i = 0; i < 6; ++i) {
    if (i == 3 && g_rank == 0) comm->Abort("test abort");
    hs.push_back(i % 2 ? comm->AllGatherAsync(send[i].data(), recv[i].data(), rc, DType::kF32)
                       : comm->ReduceScatterAsync(send[i].data(), recv[i].data(), rc,
                                                  DType::kF32, ReduceOp::kSum));
  }
  int failed = 0;
  for (Handle& h : hs) failed += !h.Wait().ok();
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  if (g_rank == 0) CHECK_OR_FAIL(failed >= 3, "rank 0: only ", failed, " calls failed");
  CHECK_OR_FAIL(secs < 3.0 * a.timeout_ms / 1000.0 + 2.0, "abort took ", secs, " s");
  absl::Status after = comm->AllGatherAsync(send[0].data(), recv[0].data(), rc,
                                            DType::kF32).Wait();
  if (g_rank == 0) CHECK_OR_FAIL(absl::IsAborted(after), "after abort: ", after.ToString());
  std::printf("rank %d: %d of 6 calls failed in %.1f s\n", g_rank, failed, secs);
}

// The last rank skips a call (a stuck or dead peer): every other rank must
// fail with a clear error within the timeout, never hang.
void SuiteTimeout(Communicator* comm, const Args& a) {
  std::vector<float> buf(5000, 1.0f);
  CHECK_OR_FAIL(comm->AllReduce(buf.data(), 5000, DType::kF32, ReduceOp::kSum).ok(),
                "warm-up allreduce");
  if (g_rank == g_size - 1) {
    std::printf("rank %d skips the call\n", g_rank);
    return;
  }
  absl::Time t0 = absl::Now();
  absl::Status s = comm->AllReduce(buf.data(), 5000, DType::kF32, ReduceOp::kSum);
  double secs = absl::ToDoubleSeconds(absl::Now() - t0);
  std::string msg(s.message());
  // Over TCP the skipping rank's communicator closes its sockets when it
  // is destroyed, so its neighbours learn at once ("closed by peer", with
  // the peer's rank and address); the others time out or are aborted.
  const bool closed = absl::IsUnavailable(s) &&
                      msg.find("closed by peer") != std::string::npos &&
                      msg.find("(rank ") != std::string::npos;
  CHECK_OR_FAIL(absl::IsDeadlineExceeded(s) || absl::IsAborted(s) || closed,
                "expected a timeout, got: ", s.ToString());
  CHECK_OR_FAIL(msg.find("timed out") != std::string::npos ||
                    msg.find("aborted by rank") != std::string::npos || closed,
                "unclear error: ", s.ToString());
  CHECK_OR_FAIL(secs < 3.0 * a.timeout_ms / 1000.0 + 2.0, "took ", secs, " s");
  std::printf("rank %d failed after %.1f s: %s\n", g_rank, secs, s.ToString().c_str());
}

// AllReduceToOwners: the owned slices of the local ranks partition the
// buffer (the same on every node), hold the plain AllReduce's bits, and with
// every buffer registered on several ranks per node and past the small path
// the rest of a rank's buffer keeps its input (nobody wrote it). Half the
// cases leave odd ranks' buffers unregistered (sums then land everywhere).
void SuiteToOwners(Communicator* comm, const Args& a) {
  char* big = nullptr;
  std::unique_ptr<Communicator> reg = RegisteredComm(comm, 2 << 20, 1 << 20, &big);
  if (reg == nullptr) return;
  const int64_t chunk = a.chunk_bytes;
  for (int mode = 0; mode < 2; ++mode) {
    const bool mine_registered = mode == 0 || g_rank % 2 == 0;
    for (DType dtype : {DType::kF32, DType::kBF16}) {
      const int64_t es = DTypeSize(dtype);
      for (int64_t count : {int64_t{0}, int64_t{1}, int64_t{509}, chunk / es + 1,
                            7 * chunk / es + 37, int64_t{200003}}) {
        if (count * es > (1 << 20)) continue;
        const uint32_t seed = static_cast<uint32_t>(count * 7 + es + 31 * mode);
        const std::string what =
            absl::StrCat("to owners mode ", mode, " ", DTypeName(dtype), " count=", count);
        std::vector<char> x = MakeInput(dtype, false, seed, g_rank, count);
        std::vector<char> want = x;
        std::vector<char> y = x;
        char* buf = mine_registered ? big : y.data();
        if (count > 0) std::memcpy(buf, x.data(), count * es);
        absl::Status s1 = comm->AllReduce(want.data(), count, dtype, ReduceOp::kSum);
        absl::Status s2 = reg->AllReduceToOwners(buf, count, dtype, ReduceOp::kSum);
        CHECK_OR_FAIL(s1.ok() && s2.ok(), what, ": ", s1.ToString(), " / ", s2.ToString());
        const auto owned = reg->AllReduceOwnedSlices(count, dtype);
        // Each element owned once per node: summed over all ranks, num_nodes.
        std::vector<int> owners(count, 0);
        int64_t bad = 0, prev_end = 0;
        for (const auto& [b, e] : owned) {
          bad += b < prev_end || e <= b || e > count;
          prev_end = e;
          for (int64_t i = b; i < e && i < count; ++i) {
            ++owners[i];
            bad += std::memcmp(buf + i * es, want.data() + i * es, es) != 0;
          }
        }
        CHECK_OR_FAIL(bad == 0, what, ": ", bad, " owned elements differ from AllReduce (or "
                      "slices out of order)");
        MPI_Allreduce(MPI_IN_PLACE, owners.data(), int(count), MPI_INT, MPI_SUM, MPI_COMM_WORLD);
        int64_t wrong = 0;
        for (int v : owners) wrong += v != reg->num_nodes();
        CHECK_OR_FAIL(wrong == 0, what, ": ", wrong, " elements not owned once per node");
        if (mode == 0 && reg->local_size() > 1 && count * es > a.small_bytes) {
          int64_t written = 0;
          std::vector<char> mine_flag(count, 0);
          for (const auto& [b, e] : owned) {
            std::fill(mine_flag.begin() + b, mine_flag.begin() + e, 1);
          }
          for (int64_t i = 0; i < count; ++i) {
            if (!mine_flag[i]) written += std::memcmp(buf + i * es, x.data() + i * es, es) != 0;
          }
          CHECK_OR_FAIL(written == 0, what, ": ", written,
                        " elements of other ranks' slices were written into this rank's buffer");
        }
      }
    }
  }
}

// AllocNodeShared: one block per node, the same memory on every local rank
// and a different block on every node; a second block follows the first;
// running out is ResourceExhausted and sizes that differ between a node's
// ranks are refused on all of them.
void SuiteNodeShared(Communicator* comm, const Args& a) {
  (void)comm;
  Options o;
  o.ranks_per_node = a.ranks_per_node;
  o.registered_bytes = 64 << 10;
  o.node_shared_bytes = 256 << 10;
  auto c_or = Communicator::Create(MPI_COMM_WORLD, o);
  CHECK_OR_FAIL(c_or.ok(), "node-shared communicator: ", c_or.status().ToString());
  if (!c_or.ok()) return;
  std::unique_ptr<Communicator> c = std::move(*c_or);
  const int L = c->local_size(), l = c->local_rank();
  auto first_or = c->AllocNodeShared(int64_t(L) * 64 * sizeof(int32_t));
  auto second_or = c->AllocNodeShared(1000);
  CHECK_OR_FAIL(first_or.ok() && second_or.ok(), "AllocNodeShared: ",
                first_or.status().ToString(), " / ", second_or.status().ToString());
  if (!first_or.ok() || !second_or.ok()) return;
  auto mine_or = c->AllocShared(4096);
  CHECK_OR_FAIL(mine_or.ok(), "AllocShared: ", mine_or.status().ToString());
  int32_t* block = static_cast<int32_t*>(*first_or);
  char* second = static_cast<char*>(*second_or);
  CHECK_OR_FAIL(second >= reinterpret_cast<char*>(block + L * 64) &&
                    reinterpret_cast<uintptr_t>(second) % 64 == 0,
                "the second block overlaps the first or is not 64-byte aligned");
  const char* mine = mine_or.ok() ? static_cast<char*>(*mine_or) : nullptr;
  CHECK_OR_FAIL(mine != nullptr && (mine + 4096 <= reinterpret_cast<char*>(block) ||
                                    mine >= second + 1000),
                "the node's common block overlaps the rank's registered region");
  bool zeroed = true;
  for (int i = 0; i < L * 64; ++i) zeroed = zeroed && block[i] == 0;
  CHECK_OR_FAIL(zeroed, "a new node-shared block is not zeroed");
  MPI_Barrier(MPI_COMM_WORLD);  // nobody writes before every rank looked
  // Each local rank writes its row with its node and rank; every rank of
  // the node then sees every row, and no other node's values.
  for (int i = 0; i < 64; ++i) block[l * 64 + i] = 1000 * (c->node() + 1) + l * 100 + i;
  MPI_Barrier(MPI_COMM_WORLD);
  int bad = 0;
  for (int r = 0; r < L; ++r) {
    for (int i = 0; i < 64; ++i) bad += block[r * 64 + i] != 1000 * (c->node() + 1) + r * 100 + i;
  }
  CHECK_OR_FAIL(bad == 0, bad, " values of the node's other ranks not seen (node ", c->node(), ")");
  MPI_Barrier(MPI_COMM_WORLD);
  auto too_big = c->AllocNodeShared(256 << 10);
  CHECK_OR_FAIL(too_big.status().code() == absl::StatusCode::kResourceExhausted,
                "over the region: ", too_big.status().ToString());
  // The node's last rank asks for a different size: every rank of that node fails.
  auto differ = c->AllocNodeShared(l == L - 1 ? 128 : 64);
  CHECK_OR_FAIL(L == 1 ? differ.ok() : differ.status().code() == absl::StatusCode::kInvalidArgument,
                "sizes differing between the node's ranks: ", differ.status().ToString());
  if (L > 1) {
    CHECK_OR_FAIL(absl::StrContains(differ.status().message(), "different sizes"),
                  "unclear error: ", differ.status().ToString());
  }
}

int Main(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--ranks-per-node") a.ranks_per_node = std::stoi(v);
    else if (k == "--suite") a.suite = v;
    else if (k == "--chunk-bytes") a.chunk_bytes = std::stoll(v);
    else if (k == "--tree-chunk-bytes") a.tree_chunk_bytes = std::stoll(v);
    else if (k == "--depth") a.depth = std::stoi(v);
    else if (k == "--small-bytes") a.small_bytes = std::stoll(v);
    else if (k == "--timeout-ms") a.timeout_ms = std::stoi(v);
    else if (k == "--transport") a.transport = v;
    else if (k == "--tcp-iface") a.tcp_iface = v;
    else if (k == "--pair-exchange-bytes") a.pair_exchange_bytes = std::stoll(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      return 2;
    }
  }
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  Options o;
  o.ranks_per_node = a.ranks_per_node;
  o.chunk_bytes = a.chunk_bytes;
  o.tree_chunk_bytes = a.tree_chunk_bytes;
  o.pipeline_depth = a.depth;
  o.small_bytes = a.small_bytes;
  o.pair_exchange_bytes = a.pair_exchange_bytes;
  o.timeout = absl::Milliseconds(a.timeout_ms);
  auto kind = ParseTransportKind(a.transport);
  if (!kind.ok()) {
    std::fprintf(stderr, "%s\n", kind.status().ToString().c_str());
    return 2;
  }
  o.transport = *kind;
  o.tcp_interface = a.tcp_iface;
  absl::Time t0 = absl::Now();
  {
    auto comm_or = Communicator::Create(MPI_COMM_WORLD, o);
    if (!comm_or.ok()) {
      std::fprintf(stderr, "[rank %d] Create failed: %s\n", g_rank,
                   comm_or.status().ToString().c_str());
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    std::unique_ptr<Communicator> comm = std::move(*comm_or);
    if (g_rank == 0) std::printf("%s\n", comm->Describe().c_str());
    const std::string& s = a.suite;
    if (s == "allreduce" || s == "all") SuiteAllReduce(comm.get(), a);
    if (s == "async" || s == "all") SuiteAsync(comm.get(), a);
    if (s == "inline_quiet" || s == "all") SuiteInlineQuiet(comm.get(), a);
    if (s == "collectives" || s == "all") SuiteCollectives(comm.get(), a);
    if (s == "paths" || s == "all") SuitePaths(comm.get(), a);
    if (s == "registered" || s == "all") SuiteRegistered(comm.get(), a);
    if (s == "pair" || s == "all") SuitePair(comm.get(), a);
    if (s == "rows" || s == "all") SuiteRows(comm.get(), a);
    if (s == "node_shared" || s == "all") SuiteNodeShared(comm.get(), a);
    if (s == "to_owners" || s == "all") SuiteToOwners(comm.get(), a);
    if (s == "mismatch") SuiteMismatch(comm.get(), a);
    if (s == "timeout") SuiteTimeout(comm.get(), a);
    if (s == "mismatch_scatter") SuiteMismatchScatter(comm.get(), a);
    if (s == "mismatch_route") SuiteMismatchRoute(comm.get(), a);
    if (s == "abort") SuiteAbort(comm.get(), a);
  }
  int failures = 0, checks = 0;
  MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&g_checks, &checks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (g_rank == 0) {
    std::printf("hfreduce_mpi_test: suite=%s ranks=%d ranks_per_node=%d: %s "
                "(%d checks, %d failures, %.1f s)\n",
                a.suite.c_str(), g_size, a.ranks_per_node,
                failures == 0 ? "PASS" : "FAIL", checks, failures,
                absl::ToDoubleSeconds(absl::Now() - t0));
  }
  MPI_Finalize();
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hs::hfreduce

int main(int argc, char** argv) { return hs::hfreduce::Main(argc, argv); }
