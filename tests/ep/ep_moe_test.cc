// File: tests/ep/ep_moe_test.cc
//
// Expert-parallel parity under mpirun: the DeepSeekMoE layer with its
// routed experts sharded over P ranks (AllToAllExpertDispatcher) must
// compute what one process computes with every expert local
// (LocalExpertDispatcher) on the same tokens.
//
// Every rank builds the layer from the SAME seed (parameter init is keyed
// by tensor name, so expert e has the same weights on its owner as in the
// reference), takes its slice of a global batch (rank p: sequences
// [p*Bl, (p+1)*Bl)), runs Forward + Backward through the all-to-all, and
// rank 0 gathers outputs, input gradients, router/shared gradients (summed
// over ranks) and each rank's local-expert gradients, then compares them
// with a single-process run of all P*Bl sequences.
//
// Cases (--case):
//   roundtrip  DeepEP-style self-checking rows: every row carries its
//              (rank, token) id; dispatch lands it at the right expert in
//              (source, token) order, combine returns it, the backward pair
//              is its adjoint (<dispatch(x), y> = <x, dispatch^T(y)>).
//   parity     device-limited routing, all three balance losses, shared
//              expert; reference = one process over all tokens. The EP ranks
//              scale their balance-loss gradient by 1/P (the reference
//              averages the sequence-wise losses over P times more
//              sequences).
//   capacity   capacity_factor 0.6; capacity is per source rank, so the
//              reference runs each rank's slice separately (same drops).
//   empty      the last rank's experts get no tokens at all (router rows
//              pushed far down): zero-row sends/receives and experts with
//              R = 0, gradients of those experts exactly zero.
// Tolerance: max|ep - ref| <= 1e-5 * max(max|ref|, 1e-3) per tensor (the
// measured errors are printed; expect ~1e-7 relative or exact: the expert
// GEMMs see the same rows in the same order).
//
// Usage: mpirun -np 4 ep_moe_test --case parity
#include <mpi.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "models/layers/moe.h"
#include "parallel/expert_parallel.h"

namespace hs {
namespace {

using models::DeepseekV2Config;
using models::LocalExpertDispatcher;
using models::Moe;
using models::MoeSaved;
using models::ParamArena;
using models::ParamId;

int g_rank = 0, g_size = 1;
int g_failures = 0;

#define EXPECT_OR_FAIL(cond, ...)                                                   \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "[rank %d] FAIL %s:%d: %s\n", g_rank, __FILE__, __LINE__, \
                   absl::StrCat(__VA_ARGS__).c_str());                             \
      ++g_failures;                                                                 \
    }                                                                               \
  } while (0)

#define OK_OR_DIE(expr)                                                                   \
  do {                                                                                    \
    absl::Status s_ = (expr);                                                             \
    if (!s_.ok()) {                                                                       \
      std::fprintf(stderr, "[rank %d] %s: %s\n", g_rank, #expr, std::string(s_.message()).c_str()); \
      MPI_Abort(MPI_COMM_WORLD, 3);                                                       \
    }                                                                                     \
  } while (0)

// Uniform [-scale, scale] values keyed by (seed, index): identical on all ranks.
std::vector<float> Random(int64_t n, uint64_t seed, float scale = 1.0f) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t h = (seed * 0x9E3779B97F4A7C15ull) ^ (uint64_t(i) * 0xBF58476D1CE4E5B9ull);
    uint64_t z = h + 0x94D049BB133111EBull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    v[i] = scale * (float(double(z >> 11) / double(1ull << 53)) * 2.0f - 1.0f);
  }
  return v;
}

// Compare: max|a-b| <= tol * max(max|b|, 1e-3); prints the measurement.
void Compare(const std::string& what, const float* a, const float* b, int64_t n,
             double tol = 1e-5) {
  double maxdiff = 0, maxref = 0;
  for (int64_t i = 0; i < n; ++i) {
    maxdiff = std::max(maxdiff, std::fabs(double(a[i]) - double(b[i])));
    maxref = std::max(maxref, std::fabs(double(b[i])));
    if (!std::isfinite(a[i])) maxdiff = INFINITY;
  }
  const double rel = maxdiff / std::max(maxref, 1e-3);
  std::printf("  %-34s n=%-7lld maxdiff=%.3e max|ref|=%.3e rel=%.3e %s\n", what.c_str(),
              (long long)n, maxdiff, maxref, rel, rel <= tol ? "OK" : "NOT OK");
  EXPECT_OR_FAIL(rel <= tol, what, ": relative error ", rel, " > ", tol);
}

struct CaseSetup {
  DeepseekV2Config config;
  int64_t Bl = 2, T = 8;  // sequences per rank, tokens per sequence
  bool per_slice_reference = false;
  bool starve_last_rank = false;
};

DeepseekV2Config BaseConfig(int P) {
  DeepseekV2Config c;
  c.hidden_size = 16;
  c.n_routed_experts = 8;
  c.num_experts_per_tok = 3;
  c.moe_intermediate_size = 8;
  c.n_shared_experts = 1;
  c.norm_topk_prob = true;
  c.seq_aux = true;
  c.aux_loss_alpha = 0.01;
  c.initializer_range = 0.3;
  c.ep_devices = P;
  return c;
}

// Starve: the router rows of the last rank's experts point away from the
// (positive) inputs, so no token ever picks them.
void Starve(ParamArena& arena, const DeepseekV2Config& c, int P) {
  ParamId gate = *arena.Find("mlp.gate.weight");
  const int64_t El = c.n_routed_experts / P;
  for (int64_t e = (P - 1) * El; e < c.n_routed_experts; ++e)
    for (int64_t j = 0; j < c.hidden_size; ++j) arena.param(gate)[e * c.hidden_size + j] = -3.0f;
}

// Layer state of one run: outputs, input grads, aux loss, the arena.
struct Run {
  std::vector<float> out, dx;
  double aux = 0;
  int64_t dropped = 0;
  std::vector<int64_t> load;
};

void RunLayer(const Moe& moe, const std::vector<float>& x, const std::vector<float>& dout,
              int64_t B, int64_t T, float aux_scale, Run* run) {
  const int64_t n = int64_t(x.size());
  run->out.assign(n, 0.0f);
  run->dx.assign(n, 0.0f);
  MoeSaved s;
  OK_OR_DIE(moe.Forward(run->out.data(), x.data(), B, T, &s));
  OK_OR_DIE(moe.Backward(run->dx.data(), dout.data(), x.data(), B, T, aux_scale, s));
  run->aux = s.aux_loss;
  run->dropped = s.dropped;
  run->load = s.expert_load;
}

// Gathers rank-major slices of `local` (equal sizes) on rank 0.
std::vector<float> Gather(const std::vector<float>& local) {
  std::vector<float> all(g_rank == 0 ? local.size() * g_size : 0);
  MPI_Gather(local.data(), int(local.size()), MPI_FLOAT, all.data(), int(local.size()),
             MPI_FLOAT, 0, MPI_COMM_WORLD);
  return all;
}

// Gradient of `name` from the arena (copied).
std::vector<float> Grad(const ParamArena& arena, const std::string& name) {
  ParamId id = *arena.Find(name);
  return std::vector<float>(arena.grad(id), arena.grad(id) + arena.spec(id).numel);
}

void RunParity(const CaseSetup& cs) {
  const int P = g_size;
  const DeepseekV2Config& c = cs.config;
  const int64_t C = c.hidden_size, Bl = cs.Bl, T = cs.T, Nl = Bl * T, E = c.n_routed_experts;
  const int64_t El = E / P;
  const uint64_t seed = 1234;
  // Global batch (identical on all ranks); positive inputs for `empty`.
  std::vector<float> xg = Random(P * Nl * C, 77, 1.5f), dg = Random(P * Nl * C, 78);
  if (cs.starve_last_rank)
    for (float& v : xg) v = std::fabs(v) + 0.1f;
  std::vector<float> x(xg.begin() + g_rank * Nl * C, xg.begin() + (g_rank + 1) * Nl * C);
  std::vector<float> dout(dg.begin() + g_rank * Nl * C, dg.begin() + (g_rank + 1) * Nl * C);

  // ---- expert-parallel run: this rank holds experts [rank*El, (rank+1)*El)
  auto disp = parallel::AllToAllExpertDispatcher::Create(MPI_COMM_WORLD, E);
  OK_OR_DIE(disp.status());
  ParamArena arena;
  Moe moe(arena, "mlp", c, disp->get());
  OK_OR_DIE(arena.Allocate());
  arena.Initialize(seed);
  if (cs.starve_last_rank) Starve(arena, c, P);
  int64_t registered_experts = 0;
  for (const auto& spec : arena.specs()) {
    if (spec.expert >= 0) {
      EXPECT_OR_FAIL(spec.expert / El == g_rank, "rank ", g_rank, " registered foreign expert ",
                     spec.expert);
      ++registered_experts;
    }
  }
  EXPECT_OR_FAIL(registered_experts == 3 * El, "expected ", 3 * El, " expert tensors, got ",
                 registered_experts);
  // With the full-batch reference the sequence-wise balance losses average
  // over P times more sequences: scale this rank's share by 1/P.
  const float aux_scale = cs.per_slice_reference ? 1.0f : 1.0f / float(P);
  Run ep;
  RunLayer(moe, x, dout, Bl, T, aux_scale, &ep);
  const auto& stats = (*disp)->stats();
  EXPECT_OR_FAIL(stats.exchanges == 4, "expected 4 row all-to-alls, got ", stats.exchanges);
  std::vector<int64_t> received = (*disp)->last_received();

  // ---- gather to rank 0
  std::vector<float> out_all = Gather(ep.out), dx_all = Gather(ep.dx);
  std::vector<double> aux_all(g_rank == 0 ? P : 0);
  MPI_Gather(&ep.aux, 1, MPI_DOUBLE, aux_all.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  // Replicated parameters: router and shared expert, summed over ranks in rank order.
  std::vector<std::string> replicated = {"mlp.gate.weight",
                                         "mlp.shared_experts.gate_proj.weight",
                                         "mlp.shared_experts.up_proj.weight",
                                         "mlp.shared_experts.down_proj.weight"};
  std::vector<std::vector<float>> rep_all;
  for (const auto& name : replicated) rep_all.push_back(Gather(Grad(arena, name)));
  // Local experts, rank-major = expert order.
  std::vector<std::vector<float>> expert_all;  // [proj] -> [E * numel]
  for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
    std::vector<float> mine;
    for (int64_t le = 0; le < El; ++le) {
      std::vector<float> g =
          Grad(arena, absl::StrCat("mlp.experts.", g_rank * El + le, ".", proj, ".weight"));
      mine.insert(mine.end(), g.begin(), g.end());
    }
    expert_all.push_back(Gather(mine));
  }
  // Load: rows received per local expert must equal the tokens that chose it.
  std::vector<int64_t> load_sum(E, 0);
  std::vector<int64_t> kept_load(E, 0);
  MPI_Allreduce(ep.load.data(), load_sum.data(), int(E), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  int64_t dropped_total = 0;
  MPI_Allreduce(&ep.dropped, &dropped_total, 1, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
  if (c.capacity_factor == 0) {
    for (int64_t le = 0; le < El; ++le)
      EXPECT_OR_FAIL(received[le] == load_sum[g_rank * El + le], "expert ", g_rank * El + le,
                     " received ", received[le], " rows, routing chose it ",
                     load_sum[g_rank * El + le], " times");
  } else {
    const int64_t cap = models::ExpertCapacity(c.capacity_factor, Nl, c.num_experts_per_tok, E);
    for (int64_t le = 0; le < El; ++le)
      EXPECT_OR_FAIL(received[le] <= cap * P, "expert ", g_rank * El + le, " received ",
                     received[le], " > capacity ", cap, " x ", P, " ranks");
    if (g_rank == 0) EXPECT_OR_FAIL(dropped_total > 0, "capacity case dropped nothing");
  }
  if (cs.starve_last_rank && g_rank == P - 1) {
    EXPECT_OR_FAIL(disp.value()->last_received().size() == size_t(El), "bad stats size");
    int64_t r = 0;
    for (int64_t v : received) r += v;
    EXPECT_OR_FAIL(r == 0, "starved rank received ", r, " rows");
  }

  if (g_rank == 0) {
    // ---- single-process reference with every expert local
    LocalExpertDispatcher local(E);
    ParamArena ref_arena;
    Moe ref(ref_arena, "mlp", c, &local);
    OK_OR_DIE(ref_arena.Allocate());
    ref_arena.Initialize(seed);
    if (cs.starve_last_rank) Starve(ref_arena, c, P);
    std::vector<float> ref_out, ref_dx;
    double ref_aux = 0;
    std::vector<int64_t> ref_load(E, 0);
    if (!cs.per_slice_reference) {
      Run r;
      RunLayer(ref, xg, dg, P * Bl, T, 1.0f, &r);
      ref_out = r.out;
      ref_dx = r.dx;
      ref_aux = r.aux;
      ref_load = r.load;
    } else {
      for (int p = 0; p < P; ++p) {
        std::vector<float> xs(xg.begin() + p * Nl * C, xg.begin() + (p + 1) * Nl * C);
        std::vector<float> ds(dg.begin() + p * Nl * C, dg.begin() + (p + 1) * Nl * C);
        Run r;
        RunLayer(ref, xs, ds, Bl, T, 1.0f, &r);
        ref_out.insert(ref_out.end(), r.out.begin(), r.out.end());
        ref_dx.insert(ref_dx.end(), r.dx.begin(), r.dx.end());
        ref_aux += r.aux / P;
        for (int64_t e = 0; e < E; ++e) ref_load[e] += r.load[e];
      }
    }
    std::printf("ep_moe_test: P=%d E=%lld K=%lld tokens/rank=%lld M=%lld capacity=%.2f\n", P,
                (long long)E, (long long)c.num_experts_per_tok, (long long)Nl,
                (long long)c.device_limit, c.capacity_factor);
    for (int64_t e = 0; e < E; ++e)
      EXPECT_OR_FAIL(ref_load[e] == load_sum[e], "routing differs for expert ", e);
    Compare("output", out_all.data(), ref_out.data(), int64_t(ref_out.size()));
    Compare("dx", dx_all.data(), ref_dx.data(), int64_t(ref_dx.size()));
    double aux_mean = 0;
    for (double a : aux_all) aux_mean += a / P;
    const float a32 = float(aux_mean), r32 = float(ref_aux);
    Compare("aux loss (mean over ranks)", &a32, &r32, 1);
    for (size_t i = 0; i < replicated.size(); ++i) {
      std::vector<float> want = Grad(ref_arena, replicated[i]);
      std::vector<float> sum(want.size(), 0.0f);
      for (int p = 0; p < P; ++p)
        for (size_t j = 0; j < want.size(); ++j) sum[j] += rep_all[i][p * want.size() + j];
      Compare(absl::StrCat("d ", replicated[i], " (sum)"), sum.data(), want.data(),
              int64_t(want.size()));
    }
    const char* projs[] = {"gate_proj", "up_proj", "down_proj"};
    for (int j = 0; j < 3; ++j) {
      std::vector<float> want;
      for (int64_t e = 0; e < E; ++e) {
        std::vector<float> g = Grad(ref_arena, absl::StrCat("mlp.experts.", e, ".", projs[j], ".weight"));
        want.insert(want.end(), g.begin(), g.end());
        if (cs.starve_last_rank && e / El == P - 1) {
          for (float v : g) EXPECT_OR_FAIL(v == 0.0f, "starved expert ", e, " has a gradient");
        }
      }
      Compare(absl::StrCat("d experts.*.", projs[j]), expert_all[j].data(), want.data(),
              int64_t(want.size()));
    }
    double wait_ms = 1e3 * stats.wait_s;
    std::printf("  all-to-all: %lld exchanges, %lld rows sent, %.3f ms waited (rank 0)\n",
                (long long)stats.exchanges, (long long)stats.rows_sent, wait_ms);
  }
}

// Round trip with self-identifying rows: x[n] = (rank, n, 0, ...).
void RunRoundTrip() {
  const int P = g_size;
  const int64_t E = 4 * P, El = 4, K = 3, C = 4;
  auto disp = parallel::AllToAllExpertDispatcher::Create(MPI_COMM_WORLD, E);
  OK_OR_DIE(disp.status());
  for (int64_t N : {int64_t(0), int64_t(1), int64_t(37)}) {
    // Rank p routes only to experts of ranks >= p % 2 ... so some (src, dst)
    // pairs carry nothing; N = 0 means this call sends nothing at all.
    std::vector<int32_t> idx(N * K);
    std::vector<float> r = Random(N * K, 900 + g_rank * 13 + N);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t k = 0; k < K; ++k) {
        const int64_t lo = (g_rank % 2) * El;
        int32_t e = int32_t(lo + int64_t(std::fabs(r[n * K + k]) * (E - lo)) % (E - lo));
        idx[n * K + k] = e;
      }
    }
    std::vector<float> x(N * C);
    for (int64_t n = 0; n < N; ++n) {
      x[n * C] = float(g_rank);
      x[n * C + 1] = float(n);
      x[n * C + 2] = float(n % 3);
      x[n * C + 3] = -1.0f;
    }
    models::DispatchPlan plan;
    Tensor ein;
    OK_OR_DIE((*disp)->Dispatch(x.data(), idx.data(), N, K, C, &plan, &ein));
    // Every received row of local expert le: the sender really routed that
    // token to it, and rows come in (source, token) order.
    for (int64_t le = 0; le < El; ++le) {
      int prev_src = -1, prev_tok = -1;
      for (int64_t row = plan.expert_offsets[le]; row < plan.expert_offsets[le + 1]; ++row) {
        const int src = int(ein.data<float>()[row * C]);
        const int tok = int(ein.data<float>()[row * C + 1]);
        EXPECT_OR_FAIL(src > prev_src || (src == prev_src && tok >= prev_tok),
                       "rows of expert ", le, " out of (source, token) order");
        EXPECT_OR_FAIL(src % 2 == 0 || g_rank * El + le >= El, "rank ", src,
                       " never routes to expert ", g_rank * El + le);
        prev_src = src;
        prev_tok = tok;
      }
    }
    // Combine of the received rows: each slot gets its own token back.
    std::vector<float> slots(std::max<int64_t>(N * K * C, 1));
    OK_OR_DIE((*disp)->Combine(ein, plan, slots.data()));
    for (int64_t s = 0; s < N * K; ++s)
      for (int64_t c = 0; c < C; ++c)
        EXPECT_OR_FAIL(slots[s * C + c] == x[(s / K) * C + c], "combine slot ", s);
    // Adjoint: <Dispatch(x), y> summed over ranks == <x, DispatchBackward(y)>.
    std::vector<float> y = Random(ein.numel(), 500 + g_rank + N);
    Tensor yt = Tensor::Empty({plan.rows(), C});
    if (ein.numel() > 0) std::memcpy(yt.data<float>(), y.data(), y.size() * sizeof(float));
    std::vector<float> dx(N * C, 0.0f);
    OK_OR_DIE((*disp)->DispatchBackward(yt, plan, dx.data()));
    double lhs = 0, rhs = 0;
    for (int64_t i = 0; i < ein.numel(); ++i) lhs += double(ein.data<float>()[i]) * y[i];
    for (int64_t i = 0; i < N * C; ++i) rhs += double(x[i]) * dx[i];
    double sums[2] = {lhs, rhs}, total[2];
    MPI_Allreduce(sums, total, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    EXPECT_OR_FAIL(std::fabs(total[0] - total[1]) <= 1e-6 * (1 + std::fabs(total[0])),
                   "dispatch adjoint: ", total[0], " vs ", total[1]);
    // CombineBackward(Combine(rows)) == rows (Combine is a permutation of rows).
    Tensor back;
    OK_OR_DIE((*disp)->CombineBackward(slots.data(), plan, &back));
    EXPECT_OR_FAIL(back.numel() == ein.numel(), "combine backward size");
    for (int64_t i = 0; i < ein.numel(); ++i)
      EXPECT_OR_FAIL(back.data<float>()[i] == ein.data<float>()[i], "combine backward row ", i / C);
  }
  if (g_rank == 0) std::printf("ep_moe_test roundtrip: P=%d E=%lld\n", P, (long long)E);
}

}  // namespace
}  // namespace hs

int main(int argc, char** argv) {
  using namespace hs;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_size);
  std::string which = "parity";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string(argv[i]) == "--case") which = argv[i + 1];
  const int P = g_size;
  CaseSetup cs;
  cs.config = BaseConfig(P);
  if (which == "roundtrip") {
    RunRoundTrip();
  } else if (which == "parity") {
    cs.config.device_limit = P == 2 ? 1 : 2;
    cs.config.device_balance_alpha = 0.05;
    cs.config.comm_balance_alpha = 0.02;
    RunParity(cs);
  } else if (which == "capacity") {
    cs.config.capacity_factor = 0.6;
    cs.config.device_balance_alpha = 0.05;
    cs.per_slice_reference = true;
    RunParity(cs);
  } else if (which == "empty") {
    cs.starve_last_rank = true;
    RunParity(cs);
  } else {
    if (g_rank == 0) std::fprintf(stderr, "unknown --case %s\n", which.c_str());
    MPI_Finalize();
    return 2;
  }
  int failures = 0;
  MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (g_rank == 0) std::printf("ep_moe_test %s: %s\n", which.c_str(), failures ? "FAILED" : "PASSED");
  MPI_Finalize();
  return failures ? 1 : 0;
}
