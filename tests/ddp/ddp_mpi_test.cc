// File: tests/ddp/ddp_mpi_test.cc
//
// Multi-rank test driver for parallel::Ddp's bucket reduction, run under
// mpirun by the sh_tests in this folder. A small arena (an embedding-like
// [48, 33] matrix, then two dense parameters) is reduced with every
// backend (HFReduce in registered memory, HFReduce through its slots,
// MPI_Allreduce), ZeRO-0 and ZeRO-1, the embedding row-sparse or dense, for
// three embedding patterns: a few rows per rank (the sparse path), rows
// nonzero on most of rank 0 (denser than max_sparse_density: the dense
// fallback) and none at all; HFReduce with registered gradients sums the
// rows in place instead. Inputs are small integers plus one half, so
// every sum is exact and every rank checks its owned ranges bit for bit
// against the sum it computes from all ranks' inputs, and that every rank
// holds the same bits.
//
// Usage: mpirun -np 4 ddp_mpi_test --ranks-per-node 2
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/param_arena.h"
#include "parallel/ddp.h"
#include "tests/hfreduce/mpi_test_inputs.h"

namespace hs::parallel {
namespace {

using hfreduce::testing::Fnv;
using hfreduce::testing::g_checks;
using hfreduce::testing::g_failures;
using hfreduce::testing::g_rank;
using hfreduce::testing::g_size;
using hfreduce::testing::InputValue;
using hfreduce::testing::SameOnAllRanks;

constexpr int64_t kRows = 48, kCols = 33;
constexpr char kEmbedding[] = "model.embed_tokens.weight";

enum class Pattern { kFewRows, kMostRows, kNoRows };

const char* Name(Pattern p) {
  switch (p) {
    case Pattern::kFewRows: return "few rows";
    case Pattern::kMostRows: return "most rows";
    case Pattern::kNoRows: return "no rows";
  }
  return "?";
}

// Whether embedding row `row` is nonzero on rank r: a few rows per rank,
// some shared between ranks (at most 4 ranks: under half the rows in all), or (kMostRows) 3/4 of them on rank 0.
bool RowNonzero(Pattern p, int r, int64_t row) {
  switch (p) {
    case Pattern::kFewRows: return row % 16 == r || row == 3 * r + 1;
    case Pattern::kMostRows: return r == 0 ? row % 4 != 0 : row == 5;
    case Pattern::kNoRows: return false;
  }
  return false;
}

// Rank r's gradient element i (arena offset) in round `round`: small
// integers + 0.5 (never zero, sums exact) outside the embedding's zero rows.
float GradValue(Pattern p, int round, int r, int64_t i) {
  if (i < kRows * kCols && !RowNonzero(p, r, i / kCols)) return 0.0f;
  return InputValue(true, 17u + uint32_t(round), r, i) + 0.5f;
}

struct Case {
  DdpOptions::Backend backend;
  bool registered;
  int zero;
  bool sparse;
  // HFReduce tuned far from its defaults (small chunks and tree messages,
  // three pipeline buffers, no two-node exchange): many chunks per bucket.
  bool tuned = false;
};

std::string Describe(const Case& c, Pattern p) {
  return absl::StrCat(c.backend == DdpOptions::Backend::kMpi ? "MPI" : "HFReduce",
                      c.registered ? " registered" : "", " ZeRO-", c.zero,
                      c.sparse ? " row-sparse" : " dense", c.tuned ? " tuned" : "", ", ",
                      Name(p));
}

void RunCase(const Case& c, int ranks_per_node) {
  models::ParamArena arena;
  arena.Add(kEmbedding, {kRows, kCols}, models::ParamInit::Zeros());
  arena.Add("model.layers.0.mlp.weight", {50, 20}, models::ParamInit::Zeros());
  arena.Add("model.norm.weight", {kCols}, models::ParamInit::Zeros());
  if (absl::Status s = arena.Allocate(); !s.ok()) {
    CHECK_OR_FAIL(false, "Allocate: ", s.ToString());
    return;
  }
  DdpOptions o;
  o.backend = c.backend;
  o.bucket_mb = 2000.0 * 4 / (1 << 20);  // ~2,000 floats: several dense buckets
  o.zero_stage = c.zero;
  o.ranks_per_node = ranks_per_node;
  o.registered_grads = c.registered;
  if (c.tuned) {
    o.hfreduce.chunk_bytes = 8 << 10;
    o.hfreduce.min_chunk_bytes = 4 << 10;
    o.hfreduce.pipeline_depth = 3;
    o.hfreduce.tree_chunk_bytes = 1 << 10;
    o.hfreduce.tree_window = 2;
    o.hfreduce.pair_exchange_bytes = 0;
  }
  if (c.sparse) o.row_sparse = [](const models::ParamSpec& s) { return s.name == kEmbedding; };
  auto ddp_or = Ddp::Create(MPI_COMM_WORLD, arena, arena.grads(), o);
  if (!ddp_or.ok()) {
    CHECK_OR_FAIL(false, Describe(c, Pattern::kFewRows), ": Create: ", ddp_or.status().ToString());
    return;
  }
  Ddp& ddp = **ddp_or;
  int sparse_buckets = 0;
  for (const Bucket& b : ddp.buckets()) sparse_buckets += b.rows > 0;
  CHECK_OR_FAIL(sparse_buckets == (c.sparse ? 1 : 0), Describe(c, Pattern::kFewRows), ": ",
                sparse_buckets, " row-sparse buckets");
  // HFReduce with registered gradients: the rows are summed in place
  // (AllReduceRows); elsewhere packed.
  const bool in_place = c.sparse && c.backend == DdpOptions::Backend::kHfReduce &&
                        c.registered && c.zero == 0;
  CHECK_OR_FAIL(ddp.rows_in_place() == in_place, Describe(c, Pattern::kFewRows),
                ": rows_in_place() is ", ddp.rows_in_place());
  float* g = ddp.grads();
  const int64_t n = arena.size();
  int round = 0;
  for (Pattern p : {Pattern::kFewRows, Pattern::kMostRows, Pattern::kNoRows}) {
    const std::string what = Describe(c, p);
    ++round;
    for (int64_t i = 0; i < n; ++i) g[i] = GradValue(p, round, g_rank, i);
    ddp.BeginBackward();
    ddp.EndBackward();
    if (absl::Status s = ddp.WaitGradients(); !s.ok()) {
      CHECK_OR_FAIL(false, what, ": WaitGradients: ", s.ToString());
      continue;
    }
    int wrong = 0;
    int64_t first_wrong = -1;
    uint64_t h = 1469598103934665603ull;
    for (const auto& [begin, end] : ddp.OwnedRanges()) {
      for (int64_t i = begin; i < end; ++i) {
        float want = 0.0f;
        for (int r = 0; r < g_size; ++r) want += GradValue(p, round, r, i);
        if (std::memcmp(&want, &g[i], sizeof(float)) != 0 && !(want == 0 && g[i] == 0)) {
          if (wrong++ == 0) first_wrong = i;
        }
      }
      if (c.zero == 0) h = Fnv(g + begin, size_t(end - begin) * sizeof(float)) ^ (h * 31);
    }
    CHECK_OR_FAIL(wrong == 0, what, ": ", wrong, " wrong sums, first at arena offset ",
                  first_wrong, " (got ", first_wrong >= 0 ? g[first_wrong] : 0.0f, ")");
    if (c.zero == 0) CHECK_OR_FAIL(SameOnAllRanks(h), what, ": ranks hold different bits");
    // The reduced rows: the union's size on the sparse path (always when in
    // place), every row on the packed path's dense fallback, nothing counted
    // without row_sparse.
    int64_t union_rows = 0;
    for (int64_t row = 0; row < kRows; ++row) {
      bool any = false;
      for (int r = 0; r < g_size; ++r) any = any || RowNonzero(p, r, row);
      union_rows += any;
    }
    if (p == Pattern::kFewRows) {
      CHECK_OR_FAIL(union_rows <= kRows / 2, what, ": the pattern has ", union_rows,
                    " rows, too many for the sparse path");
    }
    const CommTimeline& t = ddp.timeline();
    int64_t want_rows = 0, want_total = 0;
    if (c.sparse) {
      want_total = kRows;
      want_rows = in_place || union_rows <= kRows / 2 ? union_rows : kRows;
    }
    CHECK_OR_FAIL(t.sparse_rows == want_rows && t.sparse_rows_total == want_total, what,
                  ": reduced ", t.sparse_rows, " of ", t.sparse_rows_total,
                  " embedding rows, expected ", want_rows, " of ", want_total);
  }
}

int Main(int argc, char** argv) {
  int ranks_per_node = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--ranks-per-node") {
      ranks_per_node = std::stoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", argv[i]);
      return 2;
    }
  }
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  using B = DdpOptions::Backend;
  for (const Case& c : std::vector<Case>{{B::kHfReduce, true, 0, true},
                                         {B::kHfReduce, false, 0, true},
                                         {B::kHfReduce, false, 1, true},
                                         {B::kMpi, false, 0, true},
                                         {B::kMpi, false, 1, true},
                                         {B::kHfReduce, true, 0, false},
                                         {B::kMpi, false, 1, false},
                                         {B::kHfReduce, true, 0, true, true},
                                         {B::kHfReduce, false, 0, false, true},
                                         {B::kHfReduce, false, 1, false, true}}) {
    RunCase(c, ranks_per_node);
  }
  int failures = 0, checks = 0;
  MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  MPI_Allreduce(&g_checks, &checks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (g_rank == 0) {
    std::printf("ddp_mpi_test: ranks=%d ranks_per_node=%d: %s (%d checks, %d failures)\n",
                g_size, ranks_per_node, failures == 0 ? "PASS" : "FAIL", checks, failures);
  }
  MPI_Finalize();
  return failures == 0 ? 0 : 1;
}

}  // namespace
}  // namespace hs::parallel

int main(int argc, char** argv) { return hs::parallel::Main(argc, argv); }
