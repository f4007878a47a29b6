// File: hfreduce/scatter_gather.cc — ReduceScatter and AllGather: node
// shared memory for the local part, a ring per rail between nodes; see the
// picture in collective.h.
#include <algorithm>
#include <cstring>
#include <optional>

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
                             const char* what, uint64_t g, const OpDesc& d) const {
  const int L = config_.local_size;
  return WaitFor(
      Ctx(),
      [&] {
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
    ctrl.bad = 1;
    ctrl.ref_rank = Rank(0).global_rank;
    ctrl.ref_desc = BufDesc(buf, 0);
    ctrl.bad_rank = Rank(l).global_rank;
    ctrl.bad_desc = BufDesc(buf, l);
    local_mismatch = DescribeMismatch(ctrl);
    break;
  }
  absl::Status tree_status;
  if (c.num_nodes > 1) {
    // No data: only the OpDescs go up the tree and the verdict comes down,
    // so every node learns of a mismatch anywhere.
    tree_status = tree_->Run(nullptr, 0, sizeof(float), CombineAddF32, &ctrl, Ctx(),
                             /*one_tree=*/true);
  }
  if (!local_mismatch.empty()) return absl::FailedPreconditionError(local_mismatch);
  return tree_status;
}

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

  const uint64_t g0 = next_chunk_;
  next_chunk_ += static_cast<uint64_t>(N) * K;
  Rank(me).desc = d;
  Rank(me).global_rank = c.rank;
  Rank(me).shared_off = -1;
  std::optional<RingPipe> ring;
  if (use_ring) ring.emplace(rail_, kTagReduceScatter, Ctx(), W);
  const int64_t nrecv = use_ring ? static_cast<int64_t>(N - 1) * K : 0;
  int64_t posted = 0, consumed = 0;
  auto post_recvs = [&]() -> absl::Status {
    while (posted < nrecv && posted < consumed + W) {
      HS_RETURN_IF_ERROR(ring->PostRecv(recv_pieces + (posted % W) * q,
                                        piece_len(posted / (N - 1)) * 4));
      ++posted;
    }
    return absl::OkStatus();
  };

  // Piece-major order: piece k goes once around the ring before piece k+1,
  // so a node only ever waits for an earlier chunk of its neighbour (with
  // step-major order every node would fill its send window with step 0
  // while its neighbour's receive window waits for step 1: a deadlock).
  for (int64_t k = 0; k < K; ++k) {
    for (int s = 0; s < N; ++s) {
      const int n = (m - 1 - s + 2 * N) % N;  // the node whose blocks this step sums
      const uint64_t g = g0 + static_cast<uint64_t>(k) * N + s;
      const int buf = g % c.depth;
      const int64_t e0 = std::min(count, k * q), len = piece_len(k);
      if (g >= static_cast<uint64_t>(c.depth)) {
        HS_RETURN_IF_ERROR(WaitAll(&RankControl::out, g - c.depth + 1, "copy-out",
                                   g - c.depth, d));
      }
      // Copy-in: the pieces the other local ranks sum (mine stays put).
      char* slot = Slot(buf, me);
      for (int l = 0; l < L; ++l) {
        if (l == me || len == 0) continue;
        std::memcpy(slot + l * q * esize, src + ((int64_t{n} * L + l) * count + e0) * esize,
                    len * esize);
      }
      BufDesc(buf, me) = d;
      Rank(me).in.store(g + 1, std::memory_order_release);
      HS_RETURN_IF_ERROR(WaitAll(&RankControl::in, g + 1, "copy-in", g, d));
      if (s == 0 && k == 0) {
        HS_RETURN_IF_ERROR(CheckCall(d, g));
        if (use_ring) HS_RETURN_IF_ERROR(post_recvs());
      }
      // The node's partial sum of block n*L + me, slot order.
      float* piece = final_piece;
      if (s < N - 1) {
        HS_RETURN_IF_ERROR(ring->WaitSends(W - 1));  // its buffer is free
        piece = send_pieces + ((k * (N - 1) + s) % W) * q;
      }
      for (int l = 0; l < L; ++l) {
        srcs_[l] = l == me ? src + ((int64_t{n} * L + me) * count + e0) * esize
                           : Slot(buf, l) + me * q * esize;
      }
      if (len > 0) SumToF32(srcs_.data(), L, dtype, piece, len);
      Rank(me).out.store(g + 1, std::memory_order_release);
      if (s > 0 && use_ring) {
        HS_RETURN_IF_ERROR(ring->WaitRecv());
        AccumulateF32(piece, recv_pieces + (consumed % W) * q, len);
        ++consumed;
        HS_RETURN_IF_ERROR(post_recvs());
      }
      if (s < N - 1) {
        if (use_ring) HS_RETURN_IF_ERROR(ring->Send(piece, len * 4));
      } else if (len > 0) {
        ConvertFromF32(piece, len, dtype, divisor, dst + e0 * esize);
      }
    }
  }
  if (use_ring) HS_RETURN_IF_ERROR(ring->Drain());
  return absl::OkStatus();
}

absl::Status Engine::RunAllGather(const OpCall& call) {
  const EngineConfig& c = config_;
  const OpDesc& d = call.desc;
  const int L = c.local_size, me = c.local_rank, N = c.num_nodes, m = c.node;
  const int64_t B = d.count * DTypeSize(static_cast<DType>(d.dtype));  // block bytes
  const char* src = static_cast<const char*>(call.src);
  char* dst = static_cast<char*>(call.dst);
  auto block = [&](int node, int l) { return dst + (int64_t{node} * L + l) * B; };

  int64_t q = std::max(kAlignBytes, RoundDown(c.slot_bytes, kAlignBytes));
  if (N > 1) q = std::min(q, std::max(kAlignBytes, RoundDown(c.tree.chunk_bytes, kAlignBytes)));
  const int64_t K = std::max<int64_t>(1, (B + q - 1) / q);
  auto piece_len = [&](int64_t k) { return std::max<int64_t>(0, std::min(q, B - k * q)); };
  const bool use_ring = N > 1 && B > 0;
  const int W = std::max(2, c.tree.window);

  const uint64_t g0 = next_chunk_;
  next_chunk_ += static_cast<uint64_t>(N) * K;
  Rank(me).desc = d;
  Rank(me).global_rank = c.rank;
  Rank(me).shared_off = -1;
  std::optional<RingPipe> ring;
  if (use_ring) ring.emplace(rail_, kTagAllGather, Ctx(), W);
  // Receive i is piece i / (N-1) of the block of node m - 1 - i % (N-1),
  // straight into its place in my output.
  const int64_t nrecv = use_ring ? static_cast<int64_t>(N - 1) * K : 0;
  int64_t posted = 0, consumed = 0;
  auto post_recvs = [&]() -> absl::Status {
    while (posted < nrecv && posted < consumed + W) {
      const int from = (m - 1 - static_cast<int>(posted % (N - 1)) + N) % N;
      const int64_t k = posted / (N - 1);
      HS_RETURN_IF_ERROR(ring->PostRecv(block(from, me) + k * q, piece_len(k)));
      ++posted;
    }
    return absl::OkStatus();
  };

  for (int64_t k = 0; k < K; ++k) {  // piece-major, as in RunReduceScatter
    for (int s = 0; s < N; ++s) {
      const int n = (m - s + N) % N;  // the node whose blocks this step moves
      const uint64_t g = g0 + static_cast<uint64_t>(k) * N + s;
      const int buf = g % c.depth;
      const int64_t o = k * q, len = piece_len(k);
      if (g >= static_cast<uint64_t>(c.depth)) {
        HS_RETURN_IF_ERROR(WaitAll(&RankControl::out, g - c.depth + 1, "copy-out",
                                   g - c.depth, d));
      }
      char* piece = block(n, me) + o;
      if (s == 0) {
        if (len > 0 && piece != src + o) std::memmove(piece, src + o, len);
      } else if (use_ring) {
        HS_RETURN_IF_ERROR(ring->WaitRecv());
        ++consumed;
        HS_RETURN_IF_ERROR(post_recvs());
      }
      if (L > 1 && len > 0) std::memcpy(Slot(buf, me), piece, len);
      BufDesc(buf, me) = d;
      Rank(me).in.store(g + 1, std::memory_order_release);
      HS_RETURN_IF_ERROR(WaitAll(&RankControl::in, g + 1, "copy-in", g, d));
      if (s == 0 && k == 0) {
        HS_RETURN_IF_ERROR(CheckCall(d, g));
        if (use_ring) HS_RETURN_IF_ERROR(post_recvs());
      }
      if (use_ring && s < N - 1) HS_RETURN_IF_ERROR(ring->Send(piece, len));
      for (int l = 0; l < L; ++l) {
        if (l != me && len > 0) std::memcpy(block(n, l) + o, Slot(buf, l), len);
      }
      Rank(me).out.store(g + 1, std::memory_order_release);
    }
  }
  if (use_ring) HS_RETURN_IF_ERROR(ring->Drain());
  return absl::OkStatus();
}

}  // namespace hs::hfreduce
