// File: hfreduce/pair_exchange.cc — the two-node exchange; see
// pair_exchange.h.
#include "hfreduce/pair_exchange.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "haiscale/status.h"

namespace hs::hfreduce {
namespace {

// The OpDescs travel where tree 0's control messages would (node 0 is its
// leaf, node 1 its root: node 0's goes "up", node 1's where the verdict
// comes "down"), so a node that runs the trees for this call (another count
// on the other side of Options::pair_exchange_bytes) still meets this one
// in the op check and both report the mismatch.
constexpr int kTagCtrlFromNode0 = TagCtrlUp(0);
constexpr int kTagCtrlFromNode1 = TagCtrlDown(0);
constexpr int kTagData = 111;
constexpr Transport::Request kNone = -1;
// The sum with the peer's partial and the hand-off of the result go in
// blocks that stay in L1 between the two.
constexpr int64_t kFinishBlockBytes = 16 << 10;

// The verdict both nodes reach from the same two OpDescs, the one tree 0's
// root (node 1) would send: a mismatch already found inside a node wins
// (node 1's first), else node 1's call is the reference.
TreeCtrl Verdict(const TreeCtrl& node1, const TreeCtrl& node0) {
  if (node1.bad) return node1;
  TreeCtrl v = node1;
  if (node0.bad) {
    MarkMismatch(&v, node0.ref_rank, node0.ref_desc, node0.bad_rank, node0.bad_desc);
  } else if (!SameOp(node0.desc, node1.desc)) {
    MarkMismatch(&v, node1.rank, node1.desc, node0.rank, node0.desc);
  }
  return v;
}

}  // namespace

absl::Status PairExchangeAllReduce(Transport* transport, const PairExchangeBuffers& buffers,
                                   void* data, int64_t bytes, int64_t align, CombineFn combine,
                                   TreeCtrl* ctrl, const WaitContext& ctx,
                                   const LocalReduce* local) {
  const int me = transport->rank();
  const int peer = 1 - me;
  const int W = std::max(1, buffers.window);
  const int64_t sc = std::max<int64_t>(align, buffers.chunk_bytes / align * align);
  const int64_t nsub = (bytes + sc - 1) / sc;
  char* base = static_cast<char*>(data);
  auto len_of = [&](int64_t k) { return std::min(sc, bytes - k * sc); };
  auto scratch_of = [&](int64_t k) { return buffers.scratch + (k % W) * sc; };

  std::vector<Transport::Request> send_req(nsub, kNone), recv_req(W, kNone);
  Transport::Request ctrl_send = kNone, ctrl_recv = kNone;
  auto cancel_all = [&] {
    auto cancel = [&](Transport::Request& r) {
      if (r != kNone) transport->Cancel(r);
      r = kNone;
    };
    for (auto& r : send_req) cancel(r);
    for (auto& r : recv_req) cancel(r);
    cancel(ctrl_send);
    cancel(ctrl_recv);
  };
  auto fail = [&](absl::Status s) {
    cancel_all();
    return s;
  };
  // Test(*req): true once complete (a request already retired counts).
  auto complete = [&](Transport::Request* req, bool* progress) -> absl::StatusOr<bool> {
    if (*req == kNone) return true;
    HS_ASSIGN_OR_RETURN(bool done, transport->Test(*req));
    if (done) {
      *req = kNone;
      *progress = true;
    }
    return done;
  };

  const bool ctrl_on = ctrl != nullptr;
  bool verdict_known = !ctrl_on;
  TreeCtrl verdict;
  if (ctrl_on) {
    *buffers.mine = *ctrl;  // may arrive already marked bad (node mismatch)
    const int tag_in = me == 0 ? kTagCtrlFromNode1 : kTagCtrlFromNode0;
    const int tag_out = me == 0 ? kTagCtrlFromNode0 : kTagCtrlFromNode1;
    auto r = transport->Irecv(peer, tag_in, buffers.theirs, sizeof(TreeCtrl));
    if (!r.ok()) return fail(r.status());
    ctrl_recv = *r;
    r = transport->Isend(peer, tag_out, buffers.mine, sizeof(TreeCtrl));
    if (!r.ok()) return fail(r.status());
    ctrl_send = *r;
  }
  // A mismatch inside this node: no data, only the verdict.
  const bool data_on = !(ctrl_on && buffers.mine->bad);

  int64_t sent = 0;      // sub-chunks whose partial sum went out
  int64_t posted = 0;    // sub-chunks whose receive is posted
  int64_t finished = 0;  // sub-chunks holding the result
  absl::Time deadline = absl::Now() + ctx.timeout;
  Backoff backoff;
  for (int iter = 0;; ++iter) {
    bool progress = false;
    if (!verdict_known) {
      auto got = complete(&ctrl_recv, &progress);
      if (!got.ok()) return fail(got.status());
      if (*got) {
        verdict_known = true;
        verdict = me == 1 ? Verdict(*buffers.mine, *buffers.theirs)
                          : Verdict(*buffers.theirs, *buffers.mine);
        if (verdict.bad) return fail(absl::FailedPreconditionError(DescribeMismatch(verdict)));
      }
    }
    if (data_on) {
      // My partial sums, up to a window ahead of the results.
      while (sent < nsub && sent < finished + W) {
        const int64_t k = sent;
        if (local != nullptr) local->reduce(local->self, k * sc, len_of(k), nullptr, 0, false);
        auto r = transport->Isend(peer, kTagData, base + k * sc, len_of(k));
        if (!r.ok()) return fail(r.status());
        send_req[k] = *r;
        ++sent;
        progress = true;
      }
      // The peer's, accepted only once its call matched mine.
      while (verdict_known && posted < nsub && posted < finished + W) {
        auto r = transport->Irecv(peer, kTagData, scratch_of(posted), len_of(posted));
        if (!r.ok()) return fail(r.status());
        recv_req[posted % W] = *r;
        ++posted;
      }
      // In order: once my send of k is out of the buffer and the peer's
      // partial is here, mine + theirs is the result.
      while (finished < posted) {
        const int64_t k = finished;
        auto out = complete(&send_req[k], &progress);
        if (!out.ok()) return fail(out.status());
        if (!*out) break;
        auto in = complete(&recv_req[k % W], &progress);
        if (!in.ok()) return fail(in.status());
        if (!*in) break;
        const int64_t len = len_of(k);
        const int64_t block = std::max<int64_t>(align, kFinishBlockBytes / align * align);
        for (int64_t b = 0; b < len; b += block) {
          const int64_t m = std::min(block, len - b);
          combine(base + k * sc + b, scratch_of(k) + b, m);
          if (local != nullptr && local->result != nullptr) local->result(local->self, k * sc + b, m);
        }
        ++finished;
      }
    }
    auto ctrl_out = complete(&ctrl_send, &progress);
    if (!ctrl_out.ok()) return fail(ctrl_out.status());
    if (verdict_known && *ctrl_out && (!data_on || finished == nsub)) break;
    if (progress) {
      deadline = absl::Now() + ctx.timeout;
      backoff.Reset();
      continue;
    }
    if ((iter & 15) == 0) {
      absl::Status s = CheckAbort(ctx);
      if (!s.ok()) return fail(s);
      if (absl::Now() > deadline) {
        std::string what =
            !verdict_known
                ? absl::StrCat("the op check with node ", peer)
                : absl::StrCat("the partial sum of sub-chunk ", finished, " from node ", peer);
        return fail(absl::DeadlineExceededError(absl::StrCat(
            "hfreduce: node ", me, " timed out after ", absl::FormatDuration(ctx.timeout),
            " in the two-node exchange waiting for ", what, " (", transport->name(),
            " transport)")));
      }
    }
    backoff.Pause();
  }
  if (ctrl_on) *ctrl = verdict;
  return absl::OkStatus();
}

}  // namespace hs::hfreduce
