// File: hfreduce/scatter_gather.cc — ReduceScatter and AllGather: node
// shared memory for the local part, a ring per rail between nodes; see the
// picture in collective.h.
#include <algorithm>
#include <cstring>
#include <functional>
#include <optional>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/str_cat.h"
#include "haiscale/dtype.h"
#include "haiscale/status.h"
#include "hfreduce/collective.h"
#include "hfreduce/engine_control.h"
#include "hfreduce/reduce_kernels.h"
#include "hfreduce/ring.h"

namespace hs::hfreduce {
namespace {

// Ring tags, apart from the tree's (100..107).
constexpr int kTagReduceScatter = 200;
constexpr int kTagAllGather = 201;
constexpr int64_t kAlignUnits = 16;  // piece borders: 64 B of f32
constexpr int64_t kAlignBytes = 64;

int64_t RoundDown(int64_t x, int64_t m) { return x / m * m; }

}  // namespace

absl::Status Engine::WaitAll(std::atomic<uint64_t> RankControl::*field, uint64_t want,
                             const char* what, uint64_t g, const OpDesc& d,
                             RingPipe* ring) const {
  const int L = config_.local_size;
  absl::Status ring_failed;
  absl::Status s = WaitFor(
      Ctx(),
      [&] {
        if (ring != nullptr) {
          ring_failed = ring->Poll();
          if (!ring_failed.ok()) return true;
        }
        for (int l = 0; l < L; ++l) {
          if ((Rank(l).*field).load(std::memory_order_acquire) < want) return false;
        }
        return true;
      },
      [&] {
        std::string late;
        for (int l = 0; l < L; ++l) {
          if ((Rank(l).*field).load() < want) absl::StrAppend(&late, " ", l);
        }
        return absl::StrCat("local ranks", late, " (", what, " of chunk ", g, " in ",
                            DescribeOp(d), ", node ", config_.node, ")");
      });
  return ring_failed.ok() ? s : ring_failed;
}

absl::Status Engine::CheckCall(const OpDesc& d, uint64_t g) {
  const EngineConfig& c = config_;
  const int buf = g % c.depth;
  TreeCtrl ctrl;
  ctrl.desc = d;
  ctrl.rank = c.rank;
  std::string local_mismatch;
  // BufDesc, not RankControl::desc: a rank that finished may already have
  // published its next call, but this buffer is not reused before all
  // ranks are out of chunk g.
  for (int l = 1; l < c.local_size; ++l) {
    if (SameOp(BufDesc(buf, l), BufDesc(buf, 0))) continue;
    MarkMismatch(&ctrl, Rank(0).global_rank, BufDesc(buf, 0), Rank(l).global_rank,
                 BufDesc(buf, l));
    local_mismatch = DescribeMismatch(ctrl);
    break;
  }
  absl::Status tree_status;
  if (c.num_nodes > 1) {
    // No data: only the OpDescs go up the tree and the verdict comes down
    // (two nodes: they swap them), so every node learns of a mismatch
    // anywhere.
    tree_status = tree_->Run(nullptr, 0, sizeof(float), CombineAddF32, &ctrl, Ctx(),
                             /*one_tree=*/true, nullptr, PairExchangeOn());
  }
  if (!local_mismatch.empty()) return absl::FailedPreconditionError(local_mismatch);
  return tree_status;
}

// What a ReduceScatter and an AllGather share: both walk `pieces` x N
// chunks of the node pipeline (chunk k*N + s is piece k at ring step s),
// publish each chunk to the node's other ranks, and keep a window of
// receives from node-1 posted ahead of use. The walk is piece-major: piece
// k goes once around the ring before piece k+1, so a node only ever waits
// for an earlier chunk of its neighbour (with step-major order every node
// would fill its send window with step 0 while its neighbour's receive
// window waits for step 1: a deadlock).
class Engine::RingPass {
 public:
  // RecvTarget(i): where the i-th receive of the call lands, and its bytes.
  using RecvTarget = std::function<std::pair<void*, int64_t>(int64_t i)>;

  // RingPass(engine, d, pieces, tag, use_ring, target): takes the call's
  // chunk ids and announces the call; the rail's ring runs only when
  // `use_ring` (more than one node and something to move).
  RingPass(Engine* engine, const OpDesc& d, int64_t pieces, int tag, bool use_ring,
           RecvTarget target)
      : e_(*engine),
        d_(d),
        nodes_(engine->config_.num_nodes),
        window_(std::max(2, engine->config_.tree.window)),
        target_(std::move(target)) {
    const EngineConfig& c = e_.config_;
    g0_ = e_.next_chunk_;
    e_.next_chunk_ += static_cast<uint64_t>(nodes_) * pieces;
    RankControl& me = e_.Rank(c.local_rank);
    me.desc = d;
    me.global_rank = c.rank;
    me.shared_off = -1;
    nrecv_ = use_ring ? static_cast<int64_t>(nodes_ - 1) * pieces : 0;
    if (use_ring) ring_.emplace(e_.rail_, tag, e_.Ctx(), window_);
  }

  int window() const { return window_; }
  uint64_t Chunk(int64_t k, int s) const { return g0_ + static_cast<uint64_t>(k) * nodes_ + s; }
  int Buffer(uint64_t g) const { return static_cast<int>(g % e_.config_.depth); }
  // ring(): the rail's ring; only when the pass was made with use_ring.
  RingPipe& ring() { return *ring_; }
  // Ring(): the ring, or null without one (what the local waits poll).
  RingPipe* Ring() { return ring_ ? &*ring_ : nullptr; }

  // BeginChunk(g): waits until chunk g's buffer is free (every local rank
  // copied out the chunk that used it before).
  absl::Status BeginChunk(uint64_t g) {
    const int depth = e_.config_.depth;
    if (g < static_cast<uint64_t>(depth)) return absl::OkStatus();
    return e_.WaitAll(&RankControl::out, g - depth + 1, "copy-out", g - depth, d_, Ring());
  }

  // Publish(g): my part of chunk g is in my slot; announce it and wait for
  // the node's other ranks. The call's first chunk also checks the call
  // (within the node and between nodes) and posts the first receives.
  absl::Status Publish(uint64_t g) {
    const int me = e_.config_.local_rank;
    e_.BufDesc(Buffer(g), me) = d_;
    e_.Rank(me).in.store(g + 1, std::memory_order_release);
    HS_RETURN_IF_ERROR(e_.WaitAll(&RankControl::in, g + 1, "copy-in", g, d_, Ring()));
    if (g != g0_) return absl::OkStatus();
    HS_RETURN_IF_ERROR(e_.CheckCall(d_, g));
    return PostRecvs();
  }

  // Receive(use): waits for the oldest posted receive, hands its index to
  // use() while its buffer is still untouched, then posts the next.
  absl::Status Receive(absl::FunctionRef<void(int64_t)> use) {
    HS_RETURN_IF_ERROR(ring_->WaitRecv());
    use(consumed_++);
    return PostRecvs();
  }

  // EndChunk(g): I am done with chunk g's slots.
  void EndChunk(uint64_t g) {
    e_.Rank(e_.config_.local_rank).out.store(g + 1, std::memory_order_release);
  }

  // Finish(): every send went.
  absl::Status Finish() { return ring_ ? ring_->Drain() : absl::OkStatus(); }

 private:
  absl::Status PostRecvs() {
    while (posted_ < nrecv_ && posted_ < consumed_ + window_) {
      const auto [buf, bytes] = target_(posted_);
      HS_RETURN_IF_ERROR(ring_->PostRecv(buf, bytes));
      ++posted_;
    }
    return absl::OkStatus();
  }

  Engine& e_;
  const OpDesc& d_;
  const int nodes_, window_;
  const RecvTarget target_;
  uint64_t g0_ = 0;
  int64_t nrecv_ = 0, posted_ = 0, consumed_ = 0;
  std::optional<RingPipe> ring_;
};

absl::Status Engine::RunReduceScatter(const OpCall& call) {
  const EngineConfig& c = config_;
  const OpDesc& d = call.desc;
  const DType dtype = static_cast<DType>(d.dtype);
  const int64_t esize = DTypeSize(dtype);
  const int L = c.local_size, me = c.local_rank, N = c.num_nodes, m = c.node;
  const int64_t count = d.count;
  const float divisor = d.op == 1 ? static_cast<float>(c.size) : 1.0f;
  const char* src = static_cast<const char*>(call.src);
  char* dst = static_cast<char*>(call.dst);

  // A piece: q elements of each of the L blocks bound for one node, all in
  // one slot; between nodes a piece is q f32 partial sums.
  int64_t q = std::max(kAlignUnits, RoundDown(c.slot_bytes / esize / L, kAlignUnits));
  if (N > 1) {
    // The tree's message size: larger pieces (1/8 of a block) were slower at
    // 8-16 MiB on 2 x 2 (a slot of L pieces plus the f32 send and receive
    // windows then outgrow L2), unlike AllGather's.
    q = std::min(q, std::max(kAlignUnits, RoundDown(c.tree.chunk_bytes / 4, kAlignUnits)));
  }
  const int64_t K = std::max<int64_t>(1, (count + q - 1) / q);
  auto piece_len = [&](int64_t k) { return std::max<int64_t>(0, std::min(q, count - k * q)); };
  const bool use_ring = N > 1 && count > 0;
  const int W = std::max(2, c.tree.window);
  ring_pieces_.resize((use_ring ? 2 * W + 1 : 1) * q);
  float* final_piece = ring_pieces_.data();
  float* send_pieces = final_piece + q;      // [W][q]
  float* recv_pieces = send_pieces + W * q;  // [W][q]
  if (static_cast<int>(srcs_.size()) < L) {  // shared with Run's sizing
    srcs_.resize(L);
    block_srcs_.resize(L);
    peer_outs_.resize(L);
  }
  // Receive i is the partial sum of piece i / (N-1) from node m-1.
  RingPass pass(this, d, K, kTagReduceScatter, use_ring, [&](int64_t i) {
    return std::pair<void*, int64_t>(recv_pieces + (i % W) * q, piece_len(i / (N - 1)) * 4);
  });

  for (int64_t k = 0; k < K; ++k) {
    for (int s = 0; s < N; ++s) {
      const int n = (m - 1 - s + 2 * N) % N;  // the node whose blocks this step sums
      const uint64_t g = pass.Chunk(k, s);
      const int buf = pass.Buffer(g);
      const int64_t e0 = std::min(count, k * q), len = piece_len(k);
      HS_RETURN_IF_ERROR(pass.BeginChunk(g));
      // Copy-in: the pieces the other local ranks sum (mine stays put).
      char* slot = Slot(buf, me);
      for (int l = 0; l < L; ++l) {
        if (l == me || len == 0) continue;
        std::memcpy(slot + l * q * esize, src + ((int64_t{n} * L + l) * count + e0) * esize,
                    len * esize);
      }
      HS_RETURN_IF_ERROR(pass.Publish(g));
      // The node's partial sum of block n*L + me, slot order.
      float* piece = final_piece;
      if (s < N - 1) {
        if (use_ring) HS_RETURN_IF_ERROR(pass.ring().WaitSends(W - 1));  // its buffer is free
        piece = send_pieces + ((k * (N - 1) + s) % W) * q;
      }
      for (int l = 0; l < L; ++l) {
        srcs_[l] = l == me ? src + ((int64_t{n} * L + me) * count + e0) * esize
                           : Slot(buf, l) + me * q * esize;
      }
      if (len > 0) SumToF32(srcs_.data(), L, dtype, piece, len);
      pass.EndChunk(g);
      if (s > 0 && use_ring) {
        HS_RETURN_IF_ERROR(pass.Receive(
            [&](int64_t i) { AccumulateF32(piece, recv_pieces + (i % W) * q, len); }));
      }
      if (s < N - 1) {
        if (use_ring) HS_RETURN_IF_ERROR(pass.ring().Send(piece, len * 4));
      } else if (len > 0) {
        ConvertFromF32(piece, len, dtype, divisor, dst + e0 * esize);
      }
    }
  }
  return pass.Finish();
}

absl::Status Engine::RunAllGather(const OpCall& call) {
  const EngineConfig& c = config_;
  const OpDesc& d = call.desc;
  const int L = c.local_size, me = c.local_rank, N = c.num_nodes, m = c.node;
  const int64_t B = d.count * DTypeSize(static_cast<DType>(d.dtype));  // block bytes
  const char* src = static_cast<const char*>(call.src);
  char* dst = static_cast<char*>(call.dst);
  auto block = [&](int node, int l) { return dst + (int64_t{node} * L + l) * B; };

  // A piece is as large as a slot. Every piece is a meeting of the node's
  // ranks and of the ring's neighbours, and where ranks share cores with
  // other work each meeting can cost a scheduling round; a block still
  // streams around the ring piece by piece when it is larger than a slot,
  // and the ring moves the blocks of all nodes at once. Measured on 2 x 2
  // (docs/hfreduce.md, in one run against the earlier rule of at least the
  // tree's message size and 1/8 of a block): 1.03-1.11x faster at 1-16 MiB.
  const int64_t q = std::max(kAlignBytes, RoundDown(c.slot_bytes, kAlignBytes));
  const int64_t K = std::max<int64_t>(1, (B + q - 1) / q);
  auto piece_len = [&](int64_t k) { return std::max<int64_t>(0, std::min(q, B - k * q)); };
  const bool use_ring = N > 1 && B > 0;
  // Receive i is piece i / (N-1) of the block of node m - 1 - i % (N-1),
  // straight into its place in my output.
  RingPass pass(this, d, K, kTagAllGather, use_ring, [&](int64_t i) {
    const int from = (m - 1 - static_cast<int>(i % (N - 1)) + N) % N;
    const int64_t k = i / (N - 1);
    return std::pair<void*, int64_t>(block(from, me) + k * q, piece_len(k));
  });

  for (int64_t k = 0; k < K; ++k) {
    for (int s = 0; s < N; ++s) {
      const int n = (m - s + N) % N;  // the node whose blocks this step moves
      const uint64_t g = pass.Chunk(k, s);
      const int buf = pass.Buffer(g);
      const int64_t o = k * q, len = piece_len(k);
      HS_RETURN_IF_ERROR(pass.BeginChunk(g));
      char* piece = block(n, me) + o;
      if (s == 0) {
        if (len > 0 && piece != src + o) std::memmove(piece, src + o, len);
      } else if (use_ring) {
        HS_RETURN_IF_ERROR(pass.Receive([](int64_t) {}));  // it landed in place
      }
      if (L > 1 && len > 0) std::memcpy(Slot(buf, me), piece, len);
      HS_RETURN_IF_ERROR(pass.Publish(g));
      if (use_ring && s < N - 1) HS_RETURN_IF_ERROR(pass.ring().Send(piece, len));
      for (int l = 0; l < L; ++l) {
        if (l != me && len > 0) std::memcpy(block(n, l) + o, Slot(buf, l), len);
      }
      pass.EndChunk(g);
    }
  }
  return pass.Finish();
}

}  // namespace hs::hfreduce
