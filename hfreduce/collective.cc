// File: hfreduce/collective.cc — the per-rank hierarchical schedule; see
// collective.h for the picture.
#include "hfreduce/collective.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "haiscale/dtype.h"
#include "haiscale/status.h"
#include "hfreduce/engine_control.h"
#include "hfreduce/reduce_kernels.h"

namespace hs::hfreduce {

namespace {

constexpr int64_t kAlignUnits = 16;  // slice borders: 64 B of f32
constexpr int64_t kPage = 4096;
constexpr int64_t kFuseBlock = 4096;  // elements: 16 KiB of f32 acc
constexpr int64_t kAutoChunks = 16;
constexpr bool kSmallOneTree = true;  // small path: one tree, not two halves

int64_t RoundUp(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// [Control 256][RankControl 128 x L][OpDesc of buffer b, rank l: 64 x depth x L]
int64_t ControlBytes(int local_size, int depth) {
  return RoundUp(256 + 128 * local_size + 64 * depth * local_size, kPage);
}

// How a call maps onto units of the schedule.
struct Geometry {
  bool raw = false;       // byte OR (AllGather, Broadcast) vs f32 sum
  int64_t in_size = 1;    // bytes per unit in slots
  int64_t acc_size = 1;   // bytes per unit in acc
  int64_t units = 0;      // total units of the (virtual) input
  int64_t chunk = 0;      // units per chunk
  int64_t nchunks = 1;
};

// The LocalReduce of one chunk on one rank (see tree_allreduce.h): my slice
// of the chunk summed over the node's slots in slot order, then the other
// nodes' partial sums in tree order, in L1-sized blocks so each block is
// read back from L1 by the next step.
struct SliceReduce {
  int nsrc = 0;
  const void** srcs = nullptr;        // my slice in slot l (or my input)
  const void** block_srcs = nullptr;  // scratch: srcs advanced to a block
  bool raw = false;                   // OR bytes instead of an f32 sum
  DType dtype = DType::kF32;
  int64_t in_size = 4, acc_size = 4;  // bytes per unit in srcs / in acc
  char* acc = nullptr;                // my slice in acc
  // When set, the final sums of a block go to the outputs from here (one
  // L1-resident block, reused) instead of being written to acc too: on one
  // node with every buffer registered nobody reads the acc afterwards.
  float* block_acc = nullptr;
  char* out = nullptr;                // AllReduce: my slice of the output
  // AllReduce: my slice in the registered buffers of the other local ranks,
  // written with the final values too (see collective.h).
  char* const* peer_outs = nullptr;
  int npeer_outs = 0;
  float divisor = 1.0f;

  void Emit(const float* a, int64_t unit, int64_t m) const {
    const int64_t at = unit * DTypeSize(dtype);
    ConvertFromF32(a, m, dtype, divisor, out + at);
    for (int i = 0; i < npeer_outs; ++i) ConvertFromF32(a, m, dtype, divisor, peer_outs[i] + at);
  }

  void Sources(int64_t unit) const {
    for (int l = 0; l < nsrc; ++l) {
      block_srcs[l] = static_cast<const char*>(srcs[l]) + unit * in_size;
    }
  }
  static void Reduce(void* self, int64_t off, int64_t len, const char* const* child,
                     int nchild, bool final) {
    const SliceReduce& r = *static_cast<const SliceReduce*>(self);
    const int64_t u0 = off / r.acc_size, n = len / r.acc_size;
    for (int64_t b = 0; b < n; b += kFuseBlock) {
      const int64_t m = std::min(kFuseBlock, n - b);
      r.Sources(u0 + b);
      char* a = r.acc + (u0 + b) * r.acc_size;
      if (r.raw) {
        OrBytes(r.block_srcs, r.nsrc, a, m);
        for (int c = 0; c < nchild; ++c) OrInto(a, child[c] + b, m);
        continue;
      }
      float* af = final && r.block_acc != nullptr ? r.block_acc : reinterpret_cast<float*>(a);
      // One source already where the sum goes (in place): nothing to add.
      if (r.nsrc > 1 || r.block_srcs[0] != af || r.dtype != DType::kF32) {
        SumToF32(r.block_srcs, r.nsrc, r.dtype, af, m);
      }
      for (int c = 0; c < nchild; ++c) {
        AccumulateF32(af, reinterpret_cast<const float*>(child[c]) + b, m);
      }
      if (final && r.out != nullptr) r.Emit(af, u0 + b, m);
    }
  }
  static void Result(void* self, int64_t off, int64_t len) {
    const SliceReduce& r = *static_cast<const SliceReduce*>(self);
    if (r.out == nullptr || r.raw) return;
    const int64_t u0 = off / r.acc_size;
    r.Emit(reinterpret_cast<const float*>(r.acc) + u0, u0, len / r.acc_size);
  }
};

// Units per chunk of an AllReduce of `units` elements of `esize` bytes:
// about kAutoChunks chunks, at least min_chunk_bytes, at most the slot.
// Smaller chunks keep a chunk's working set in L2, larger ones make fewer
// meetings of the node's ranks (three per chunk); docs/hfreduce.md has the
// measurements.
int64_t AllReduceChunkUnits(const EngineConfig& c, int64_t units, int64_t esize) {
  const int64_t slot = c.slot_bytes / esize / kAlignUnits * kAlignUnits;
  const int64_t want =
      std::max(c.min_chunk_bytes / esize, RoundUp(units / kAutoChunks, kAlignUnits));
  return std::min(slot, want);
}

// Local rank l's slice [*b, *e) of a chunk of n units (aligned, maybe empty).
void ChunkSlice(int64_t n, int L, int l, int64_t* b, int64_t* e) {
  const int64_t per = RoundUp((n + L - 1) / L, kAlignUnits);
  *b = std::min(n, l * per);
  *e = std::min(n, *b + per);
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> Engine::AllReduceOwnedUnits(int64_t count, DType dtype,
                                                                     int l) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  const int L = config_.local_size;
  // One rank per node reduces everything (Run's in-place path included).
  const int64_t chunk =
      L == 1 ? std::max<int64_t>(1, count) : AllReduceChunkUnits(config_, count, DTypeSize(dtype));
  for (int64_t u0 = 0; u0 < count; u0 += chunk) {
    int64_t b, e;
    ChunkSlice(std::min(chunk, count - u0), L, l, &b, &e);
    if (e > b) out.push_back({u0 + b, u0 + e});
  }
  return out;
}

int64_t Engine::SegmentBytes(const EngineConfig& c) {
  return ControlBytes(c.local_size, c.depth) +
         c.depth * RoundUp((c.local_size + 2) * c.slot_bytes, kPage) +
         c.local_size * RoundUp(c.registered_bytes, kPage) +
         RoundUp(c.node_shared_bytes, kPage);
}

char* Engine::SharedRegion(int l) const {
  return buffers_ + config_.depth * buffer_stride_ +
         l * RoundUp(config_.registered_bytes, kPage);
}

char* Engine::NodeSharedRegion() const { return SharedRegion(config_.local_size); }

Engine::Engine(const EngineConfig& config, void* area, Transport* rail,
               const std::atomic<bool>* abort)
    : config_(config),
      area_(static_cast<char*>(area)),
      control_(static_cast<Control*>(area)),
      rail_(rail),
      abort_(abort) {
  static_assert(sizeof(Control) <= 256 && sizeof(RankControl) == 128 &&
                sizeof(OpDesc) <= 64);
  buffers_ = area_ + ControlBytes(config_.local_size, config_.depth);
  buffer_stride_ = RoundUp((config_.local_size + 2) * config_.slot_bytes, kPage);
  tree_ = std::make_unique<TreeAllReduce>(rail_, config_.tree);
}

Engine::RankControl& Engine::Rank(int l) const {
  return *reinterpret_cast<RankControl*>(area_ + 256 + 128 * l);
}

OpDesc& Engine::BufDesc(int buffer, int l) const {
  return *reinterpret_cast<OpDesc*>(area_ + 256 + 128 * config_.local_size +
                                    64 * (buffer * config_.local_size + l));
}

char* Engine::Slot(int buffer, int l) const {
  return buffers_ + buffer * buffer_stride_ + l * config_.slot_bytes;
}

// The acc area is two slots wide: f32 sums of a bf16 chunk need 2x.
char* Engine::Acc(int buffer) const {
  return buffers_ + buffer * buffer_stride_ +
         config_.local_size * config_.slot_bytes;
}

void Engine::RaiseNodeAbort(const std::string& reason) {
  uint32_t expected = 0;
  if (control_->abort.load() != 0) return;
  // Claim with a CAS so only one rank writes the message.
  if (control_->abort.compare_exchange_strong(expected, 2)) {
    control_->abort_rank = config_.rank;
    std::snprintf(control_->abort_msg, sizeof(control_->abort_msg), "%s",
                  reason.c_str());
    control_->abort.store(1, std::memory_order_release);
  }
}

std::string Engine::NodeAbortReason() const {
  if (control_->abort.load(std::memory_order_acquire) != 1) return "";
  return absl::StrCat("hfreduce: aborted by rank ", control_->abort_rank,
                      " on this node: ", control_->abort_msg);
}

WaitContext Engine::Ctx() const {
  WaitContext ctx;
  ctx.abort = abort_;
  ctx.timeout = config_.timeout;
  ctx.peer_abort = [](const void* self) {
    return static_cast<const Engine*>(self)->NodeAbortReason();
  };
  ctx.peer_abort_arg = this;
  return ctx;
}

bool Engine::UsesSmallPath(const OpDesc& d) const {
  if (static_cast<OpKind>(d.kind) != OpKind::kAllReduce) return false;
  const int64_t bytes = d.count * DTypeSize(static_cast<DType>(d.dtype));
  return bytes <= std::min(config_.small_bytes, config_.slot_bytes);
}

bool Engine::PairExchangeOn() const {
  return config_.num_nodes == 2 && config_.pair_exchange_bytes > 0;
}

bool Engine::PairExchange(const OpDesc& d) const {
  const int64_t bytes = d.count * DTypeSize(static_cast<DType>(d.dtype));
  return PairExchangeOn() && bytes <= config_.pair_exchange_bytes;
}

// The small-message path: one buffer, one reducer (local rank 0), one tree
// (rail 0). The other local ranks publish their input and copy the result
// out. Per element the order is the same as on the pipelined path (slot 0,
// 1, ... then the node tree), so the bits are too.
absl::Status Engine::RunSmall(const OpCall& call) {
  const EngineConfig& c = config_;
  const OpDesc& d = call.desc;
  const DType dtype = static_cast<DType>(d.dtype);
  const int64_t esize = DTypeSize(dtype);
  const int L = c.local_size;
  const int me = c.local_rank;
  const int64_t n = d.count;
  const WaitContext ctx = Ctx();
  const float divisor = d.op == 1 ? static_cast<float>(c.size) : 1.0f;
  const uint64_t g = next_chunk_++;
  const int buf = g % c.depth;
  auto wait_one = [&](int l, std::atomic<uint64_t> RankControl::*field,
                      uint64_t want, const char* what) {
    return WaitFor(
        ctx, [&] { return (Rank(l).*field).load(std::memory_order_acquire) >= want; },
        [&] {
          return absl::StrCat("local rank ", l, " (", what, " of chunk ", g, " in ",
                              DescribeOp(d), ", node ", c.node, ")");
        });
  };
  auto wait_all = [&](std::atomic<uint64_t> RankControl::*field, uint64_t want,
                      const char* what) -> absl::Status {
    for (int l = 0; l < L; ++l) {
      if (l != me) HS_RETURN_IF_ERROR(wait_one(l, field, want, what));
    }
    return absl::OkStatus();
  };
  const bool one_node = c.num_nodes == 1 && L > 1;
  Rank(me).desc = d;
  Rank(me).global_rank = c.rank;
  if (g >= static_cast<uint64_t>(c.depth)) {
    HS_RETURN_IF_ERROR(wait_all(&RankControl::out, g - c.depth + 1, "copy-out"));
  }
  if (one_node) {
    // One node: every rank publishes its input and sums all of them itself,
    // in slot order, so all get the same bits with one synchronisation and
    // no result hand-off (the sum is redone L times; it is small).
    // Nothing holds a rank back once it is done, so it may already be in its
    // next call while the others still check this one: the OpDescs checked
    // here live with the buffer, which is not reused before all are out.
    BufDesc(buf, me) = d;
    if (n > 0) std::memcpy(Slot(buf, me), call.src, n * esize);
    Rank(me).in.store(g + 1, std::memory_order_release);
    Rank(me).red.store(g + 1, std::memory_order_release);
    HS_RETURN_IF_ERROR(wait_all(&RankControl::in, g + 1, "copy-in"));
    for (int l = 0; l < L; ++l) {
      if (SameOp(BufDesc(buf, l), BufDesc(buf, 0))) continue;
      TreeCtrl bad;
      MarkMismatch(&bad, Rank(0).global_rank, BufDesc(buf, 0), Rank(l).global_rank,
                   BufDesc(buf, l));
      return absl::FailedPreconditionError(DescribeMismatch(bad));
    }
    const void* srcs[64];
    std::vector<const void*> many;
    const void** p = srcs;
    if (L > 64) {
      many.resize(L);
      p = many.data();
    }
    float tmp[kFuseBlock];
    for (int64_t b = 0; b < n; b += kFuseBlock) {
      const int64_t m = std::min(kFuseBlock, n - b);
      for (int l = 0; l < L; ++l) {
        p[l] = (l == me ? static_cast<const char*>(call.src) : Slot(buf, l)) + b * esize;
      }
      SumToF32(p, L, dtype, tmp, m);
      ConvertFromF32(tmp, m, dtype, divisor, static_cast<char*>(call.dst) + b * esize);
    }
    Rank(me).out.store(g + 1, std::memory_order_release);
    return absl::OkStatus();
  }
  if (me != 0) {
    if (n > 0) std::memcpy(Slot(buf, me), call.src, n * esize);
    Rank(me).in.store(g + 1, std::memory_order_release);
    Rank(me).red.store(g + 1, std::memory_order_release);  // nothing to reduce
    HS_RETURN_IF_ERROR(wait_one(0, &RankControl::red, g + 1, "reduce"));
  } else {
    Rank(me).in.store(g + 1, std::memory_order_release);
    HS_RETURN_IF_ERROR(wait_all(&RankControl::in, g + 1, "copy-in"));
    TreeCtrl ctrl;
    ctrl.desc = d;
    ctrl.rank = c.rank;
    std::string local_mismatch;
    for (int l = 1; l < L && local_mismatch.empty(); ++l) {
      if (SameOp(Rank(l).desc, d)) continue;
      MarkMismatch(&ctrl, c.rank, d, Rank(l).global_rank, Rank(l).desc);
      local_mismatch = DescribeMismatch(ctrl);
    }
    float* acc = reinterpret_cast<float*>(Acc(buf));
    if (local_mismatch.empty() && n > 0) {
      const void* srcs[64];
      std::vector<const void*> many;
      const void** p = srcs;
      if (L > 64) {
        many.resize(L);
        p = many.data();
      }
      p[0] = call.src;
      for (int l = 1; l < L; ++l) p[l] = Slot(buf, l);
      SumToF32(p, L, dtype, acc, n);
    }
    absl::Status tree_status = tree_->Run(acc, n * static_cast<int64_t>(sizeof(float)),
                                          sizeof(float), CombineAddF32, &ctrl, ctx,
                                          kSmallOneTree, nullptr, PairExchange(d));
    if (!local_mismatch.empty()) return absl::FailedPreconditionError(local_mismatch);
    HS_RETURN_IF_ERROR(tree_status);
    Rank(me).red.store(g + 1, std::memory_order_release);
  }
  if (n > 0) {
    ConvertFromF32(reinterpret_cast<const float*>(Acc(buf)), n, dtype, divisor,
                   call.dst);
  }
  Rank(me).out.store(g + 1, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status Engine::Run(const OpCall& call) {
  if (UsesSmallPath(call.desc)) return RunSmall(call);
  switch (static_cast<OpKind>(call.desc.kind)) {
    case OpKind::kReduceScatter: return RunReduceScatter(call);
    case OpKind::kAllGather: return RunAllGather(call);
    case OpKind::kAllReduceRows: return RunAllReduceRows(call);
    default: break;
  }
  const EngineConfig& c = config_;
  const OpDesc& d = call.desc;
  const OpKind kind = static_cast<OpKind>(d.kind);
  const DType dtype = static_cast<DType>(d.dtype);
  const int64_t esize = DTypeSize(dtype);
  const int L = c.local_size;
  const int me = c.local_rank;
  const WaitContext ctx = Ctx();

  // --- geometry -------------------------------------------------------------
  Geometry geo;
  geo.raw = kind == OpKind::kBroadcast;
  if (geo.raw) {
    geo.in_size = geo.acc_size = 1;
    geo.units = d.count * esize;
    geo.chunk = c.slot_bytes;
  } else {
    geo.in_size = esize;
    geo.acc_size = sizeof(float);
    geo.units = d.count;
    geo.chunk = AllReduceChunkUnits(c, geo.units, esize);
  }
  // One rank per node (f32; not an average on the trees: see below): the
  // node's partial sum is the input itself, so it is sent from the buffer
  // and the other nodes' are added there, in place, as MPI does; no trip
  // through the acc, nothing in the slots, and so no need for chunks: one
  // tree call over the whole buffer keeps the tree's window streaming
  // instead of a round trip per chunk. Same decision on every node (L is
  // the same everywhere; the rest is the call's). Which tree an element
  // takes changes with the cut, so with three or more nodes the bits differ
  // from a chunked call's in the last place (still fixed for the call).
  const bool in_place = kind == OpKind::kAllReduce && L == 1 && dtype == DType::kF32 &&
                        (PairExchange(d) || d.op == 0);
  if (in_place) geo.chunk = std::max<int64_t>(1, geo.units);
  geo.nchunks = std::max<int64_t>(1, (geo.units + geo.chunk - 1) / geo.chunk);
  const float divisor = (!geo.raw && d.op == 1) ? static_cast<float>(c.size) : 1.0f;
  const char* src = static_cast<const char*>(call.src);
  char* dst = static_cast<char*>(call.dst);
  // AllReduce of a buffer in my registered region: read and written in
  // place by the slice owners (see collective.h).
  int64_t shared_off = -1;
  if (kind == OpKind::kAllReduce && c.registered_bytes > 0) {
    const char* region = SharedRegion(me);
    if (src >= region && src + d.count * esize <= region + c.registered_bytes) {
      shared_off = src - region;
    }
  }
  // Where local rank l's copy of unit u is: its registered buffer, or its
  // slot of the buffer that holds the chunk starting at unit u0.
  auto input_of = [&](int l, int buf, int64_t u0, int64_t u) -> const char* {
    const int64_t off = Rank(l).shared_off;
    if (off >= 0) return SharedRegion(l) + off + u * esize;
    return Slot(buf, l) + (u - u0) * geo.in_size;
  };

  auto chunk_range = [&](int64_t k, int64_t* u0, int64_t* u1) {
    *u0 = std::min(geo.units, k * geo.chunk);
    *u1 = std::min(geo.units, *u0 + geo.chunk);
  };
  // This rank's slice of a chunk of n units (aligned, maybe empty).
  auto slice = [&](int64_t n, int l, int64_t* b, int64_t* e) { ChunkSlice(n, L, l, b, e); };
  auto min_counter = [&](std::atomic<uint64_t> RankControl::*field) {
    uint64_t m = UINT64_MAX;
    for (int l = 0; l < L; ++l) {
      m = std::min(m, (Rank(l).*field).load(std::memory_order_acquire));
    }
    return m;
  };
  auto wait_all = [&](std::atomic<uint64_t> RankControl::*field, uint64_t want,
                      const char* what, uint64_t g) {
    return WaitFor(
        ctx, [&] { return min_counter(field) >= want; },
        [&] {
          std::string late;
          for (int l = 0; l < L; ++l) {
            if ((Rank(l).*field).load() < want) absl::StrAppend(&late, " ", l);
          }
          return absl::StrCat("local ranks", late, " (", what, " of chunk ", g,
                              " in ", DescribeOp(d), ", node ", c.node, ")");
        });
  };
  // Step 1: copy-in of chunk k (global index g) once its buffer is free.
  auto copy_in = [&](int64_t k, uint64_t g) -> absl::Status {
    if (g >= static_cast<uint64_t>(c.depth)) {
      HS_RETURN_IF_ERROR(wait_all(&RankControl::out, g - c.depth + 1,
                                  "copy-out", g - c.depth));
    }
    int64_t u0, u1;
    chunk_range(k, &u0, &u1);
    char* slot = Slot(g % c.depth, me);
    const int64_t n = u1 - u0;
    switch (kind) {
      case OpKind::kAllReduce: {
        // My own slice is reduced straight from my buffer (step 2), so only
        // the slices the other ranks reduce are published.
        if (shared_off >= 0) break;  // read in place
        int64_t s0, s1;
        slice(n, me, &s0, &s1);
        if (s0 > 0) std::memcpy(slot, src + u0 * esize, s0 * esize);
        if (n > s1) {
          std::memcpy(slot + s1 * esize, src + (u0 + s1) * esize, (n - s1) * esize);
        }
        break;
      }
      case OpKind::kBroadcast:
        if (c.rank == d.root) {
          std::memcpy(slot, src + u0, n);
        } else {
          std::memset(slot, 0, n);
        }
        break;
      default:  // ReduceScatter / AllGather: scatter_gather.cc
        break;
    }
    Rank(me).in.store(g + 1, std::memory_order_release);
    return absl::OkStatus();
  };

  if (static_cast<int>(srcs_.size()) < L) {
    srcs_.resize(L);
    block_srcs_.resize(L);
    peer_outs_.resize(L);
  }
  const uint64_t g0 = next_chunk_;
  next_chunk_ += geo.nchunks;
  Rank(me).desc = d;
  Rank(me).global_rank = c.rank;
  Rank(me).shared_off = shared_off;
  HS_RETURN_IF_ERROR(copy_in(0, g0));
  // Whether every local rank's buffer is registered: then nothing passes
  // through the slots and each rank works on its own slices, so the ranks
  // of the node meet twice per call (all in, all reduced) instead of three
  // times per chunk; between, a rank only waits when a peer is a whole
  // pipeline (`depth` chunks) behind. A rank that waits for a peer
  // descheduled by compute threads (cores shared with backward) pays for
  // every meeting.
  bool all_registered = false;
  for (int64_t k = 0; k < geo.nchunks; ++k) {
    const uint64_t g = g0 + k;
    const int buf = g % c.depth;
    const bool last = k + 1 == geo.nchunks;
    int64_t u0, u1;
    chunk_range(k, &u0, &u1);
    // Wait until every local rank published chunk g.
    if (k == 0 || !all_registered) {
      HS_RETURN_IF_ERROR(wait_all(&RankControl::in, g + 1, "copy-in", g));
    } else if (g >= static_cast<uint64_t>(c.depth)) {
      // My acc range depends on the chunk's length, so a buffer's acc is
      // reused only once every rank is out of it (rarely a wait: it takes
      // a peer `depth` chunks behind).
      HS_RETURN_IF_ERROR(wait_all(&RankControl::out, g - c.depth + 1, "reduce", g - c.depth));
    }
    if (k == 0 && kind == OpKind::kAllReduce) {
      // Published before `in`, and no rank leaves the call before all
      // reduced, so these are this call's. On one node too: in DDP on a
      // quiet machine two meetings per call gave 1.13x the tokens/s of
      // three per chunk (docs/parallelism.md).
      all_registered = true;
      for (int l = 0; l < L; ++l) all_registered &= Rank(l).shared_off >= 0;
    }
    TreeCtrl ctrl;
    std::string local_mismatch;
    if (k == 0) {
      // Every local rank must be in the same call as local rank 0.
      ctrl.desc = d;
      ctrl.rank = c.rank;
      const RankControl& first = Rank(0);
      for (int l = 1; l < L && local_mismatch.empty(); ++l) {
        if (SameOp(Rank(l).desc, first.desc)) continue;
        MarkMismatch(&ctrl, first.global_rank, first.desc, Rank(l).global_rank, Rank(l).desc);
        local_mismatch = DescribeMismatch(ctrl);
      }
    }
    int64_t s0, s1;
    slice(u1 - u0, me, &s0, &s1);
    // In place (see in_place): the buffer is the acc. Not for an average on
    // the trees: a root sends its acc down after writing the output, which
    // would then be divided already (the exchange sends nothing after).
    char* acc = in_place ? dst + u0 * esize : Acc(buf) + s0 * geo.acc_size;
    // Steps 2 + 3: the tree asks for my slice's local sum one sub-chunk at a
    // time, fused with the other nodes' partial sums, and tells when a
    // sub-chunk is final; AllReduce writes it to my output right then.
    SliceReduce sr;
    sr.nsrc = L;
    sr.srcs = srcs_.data();
    sr.block_srcs = block_srcs_.data();
    for (int l = 0; l < L; ++l) srcs_[l] = Slot(buf, l) + s0 * geo.in_size;
    int npeer_outs = 0;
    if (kind == OpKind::kAllReduce) {
      // My slice was never copied in: read it where it is, and registered
      // buffers of the others too. The per-element order (rank 0, 1, ...)
      // and so the bits are unchanged.
      // To the owners only (OpDesc::root 1): the others' copies of my
      // slice are left as they are (nobody reads them).
      const bool owners_only = d.root == 1;
      for (int l = 0; l < L; ++l) {
        if (l == me) continue;
        srcs_[l] = input_of(l, buf, u0, u0 + s0);
        if (Rank(l).shared_off >= 0 && !owners_only) {
          peer_outs_[npeer_outs++] = const_cast<char*>(input_of(l, buf, u0, u0 + s0));
        }
      }
      srcs_[me] = src + (u0 + s0) * esize;
    }
    sr.raw = geo.raw;
    sr.dtype = dtype;
    sr.in_size = geo.in_size;
    sr.acc_size = geo.acc_size;
    sr.acc = acc;
    sr.out = kind == OpKind::kAllReduce ? dst + (u0 + s0) * esize : nullptr;
    if (all_registered && c.num_nodes == 1) {
      block_acc_.resize(kFuseBlock);
      sr.block_acc = block_acc_.data();
    }
    sr.divisor = divisor;
    sr.peer_outs = peer_outs_.data();
    sr.npeer_outs = npeer_outs;
    const LocalReduce local{&SliceReduce::Reduce, &SliceReduce::Result, &sr};
    absl::Status tree_status = absl::OkStatus();
    if (local_mismatch.empty()) {
      tree_status = tree_->Run(acc, (s1 - s0) * geo.acc_size, geo.acc_size,
                               geo.raw ? CombineOr : CombineAddF32,
                               k == 0 ? &ctrl : nullptr, ctx, false, &local, PairExchange(d));
    } else {
      // Tell the other nodes (the tree carries the verdict), touch no data.
      tree_status = tree_->Run(acc, (s1 - s0) * geo.acc_size, geo.acc_size,
                               CombineAddF32, &ctrl, ctx, false, nullptr, PairExchange(d));
    }
    if (!local_mismatch.empty()) return absl::FailedPreconditionError(local_mismatch);
    HS_RETURN_IF_ERROR(tree_status);
    if (all_registered) {
      if (!last) {  // the next chunk of my slices, no meeting
        Rank(me).out.store(g + 1, std::memory_order_release);
        continue;
      }
      // The counters end where the chunk-by-chunk walk leaves them.
      Rank(me).in.store(g + 1, std::memory_order_release);
    }
    Rank(me).red.store(g + 1, std::memory_order_release);
    // Step 1': start the next chunk while the others finish this one.
    if (!last) HS_RETURN_IF_ERROR(copy_in(k + 1, g + 1));
    // Step 4: copy the finished chunk out.
    HS_RETURN_IF_ERROR(wait_all(&RankControl::red, g + 1, "reduce", g));
    const char* acc_all = Acc(buf);
    switch (kind) {
      case OpKind::kAllReduce: {
        if (shared_off >= 0) break;  // the owners wrote into my buffer
        // Everything but my own slice (already written in step 3).
        const float* a = reinterpret_cast<const float*>(acc_all);
        if (s0 > 0) ConvertFromF32(a, s0, dtype, divisor, dst + u0 * esize);
        const int64_t n = u1 - u0;
        if (n > s1) {
          ConvertFromF32(a + s1, n - s1, dtype, divisor, dst + (u0 + s1) * esize);
        }
        break;
      }
      case OpKind::kBroadcast:
        if (c.rank != d.root) std::memcpy(dst + u0, acc_all, u1 - u0);
        break;
      default:
        break;
    }
    Rank(me).out.store(g + 1, std::memory_order_release);
  }
  return absl::OkStatus();
}

}  // namespace hs::hfreduce
