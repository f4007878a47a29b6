// File: hfreduce/tree_allreduce.cc — pipelined double-binary-tree allreduce
// over a Transport; see tree_allreduce.h.
#include "hfreduce/tree_allreduce.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "haiscale/status.h"
#include "hfreduce/pair_exchange.h"
#include "hfreduce/reduce_kernels.h"

namespace hs::hfreduce {
namespace {

// Message tags: one per tree, direction and kind, so that a pair of nodes
// that are linked in both trees never confuses the streams (the control
// tags are in tree_allreduce.h).
int TagDataUp(int t) { return 104 + t; }
int TagDataDown(int t) { return 106 + t; }

constexpr Transport::Request kNone = -1;

// The state of one tree's half of the buffer during Run().
struct TreeState {
  int t = 0;
  TreeLinks links;
  int nchild = 0;
  char* base = nullptr;
  int64_t len = 0;
  int64_t sc = 0;    // sub-chunk bytes
  int64_t nsub = 0;  // number of sub-chunks
  char* scratch = nullptr;

  // Control flow (only with ctrl).
  bool ctrl_on = false;
  bool child_ctrl_ok[2] = {false, false};   // received and equal
  bool child_ctrl_recv[2] = {false, false};
  Transport::Request child_ctrl_req[2] = {kNone, kNone};
  Transport::Request parent_ctrl_req = kNone;
  bool up_ctrl_sent = false;
  bool verdict_known = false;
  TreeCtrl verdict;

  // Data flow, cursors over the sub-chunks.
  int64_t posted = 0;       // sub-chunks whose child receives are posted
  int64_t accumulated = 0;  // sub-chunks reduced with their children
  int64_t down_posted = 0;  // sub-chunks whose receive from parent is posted
  int64_t finals = 0;       // sub-chunks holding the final result
  int64_t sent_down = 0;    // sub-chunks sent to the children
  std::vector<Transport::Request> child_req;  // [k % window][child]
  std::vector<char> child_done;
  std::vector<Transport::Request> up_req;     // [k]
  std::vector<Transport::Request> down_req;   // [k]
  std::vector<Transport::Request> send_down_req;  // [k][child]
  int64_t sends_done = 0;  // completed sends (up + down)
  int64_t sends_total = 0;

  int64_t ChunkLen(int64_t k) const { return std::min(sc, len - k * sc); }
  char* Chunk(int64_t k) const { return base + k * sc; }
  bool Done() const {
    bool data = finals == nsub && sent_down == nsub && sends_done == sends_total;
    return data && (!ctrl_on || verdict_known);
  }
};

// Completes a request if done; `*progress` set when it completed.
absl::Status Poll(Transport* tr, Transport::Request* req, bool* done,
                  bool* progress) {
  *done = false;
  if (*req == kNone) {
    *done = true;
    return absl::OkStatus();
  }
  HS_ASSIGN_OR_RETURN(bool complete, tr->Test(*req));
  if (complete) {
    *req = kNone;
    *done = true;
    *progress = true;
  }
  return absl::OkStatus();
}

}  // namespace

void CombineAddF32(void* dst, const void* src, int64_t bytes) {
  AccumulateF32(static_cast<float*>(dst), static_cast<const float*>(src),
                bytes / static_cast<int64_t>(sizeof(float)));
}

void CombineOr(void* dst, const void* src, int64_t bytes) {
  OrInto(dst, src, bytes);
}

TreeAllReduce::TreeAllReduce(Transport* transport, TreeOptions options)
    : transport_(transport), options_(options) {
  for (int t = 0; t < 2; ++t) {
    links_[t] = DoubleTreeLinks(transport_->size(), transport_->rank(), t);
  }
  options_.window = std::max(1, options_.window);
  scratch_.resize(2 * options_.window * 2 * options_.chunk_bytes);
}

absl::Status TreeAllReduce::Run(void* data, int64_t bytes, int64_t align,
                                CombineFn combine, TreeCtrl* ctrl,
                                const WaitContext& ctx, bool one_tree,
                                const LocalReduce* local, bool pair_exchange) {
  const int n = transport_->size();
  const int me = transport_->rank();
  if (n == 1) {
    if (local != nullptr && bytes > 0) local->reduce(local->self, 0, bytes, nullptr, 0, true);
    return absl::OkStatus();
  }
  if (n == 2 && pair_exchange) {
    PairExchangeBuffers b;
    b.scratch = scratch_.data();
    b.window = options_.window;
    b.chunk_bytes = options_.chunk_bytes;
    b.mine = &up_ctrl_[0];
    b.theirs = &child_ctrl_[0][0];
    return PairExchangeAllReduce(transport_, b, data, bytes, align, combine, ctrl, ctx, local);
  }
  const int W = options_.window;
  const int64_t sc = std::max<int64_t>(align, options_.chunk_bytes / align * align);
  // one_tree: everything on tree 0; tree 1 carries nothing, not even ctrl.
  const int64_t half = one_tree ? bytes : (bytes / align) / 2 * align;

  TreeState st[2];
  for (int t = 0; t < 2; ++t) {
    TreeState& s = st[t];
    s.t = t;
    s.links = links_[t];
    s.nchild = s.links.num_children();
    s.base = static_cast<char*>(data) + (t == 0 ? 0 : half);
    s.len = t == 0 ? half : bytes - half;
    s.sc = sc;
    s.nsub = (s.len + sc - 1) / sc;
    s.scratch = scratch_.data() + static_cast<int64_t>(t) * W * 2 * options_.chunk_bytes;
    s.child_req.assign(W * 2, kNone);
    s.child_done.assign(W * 2, 0);
    s.up_req.assign(s.nsub, kNone);
    s.down_req.assign(s.nsub, kNone);
    s.send_down_req.assign(s.nsub * 2, kNone);
    s.ctrl_on = ctrl != nullptr && !(one_tree && t == 1);
    if (s.ctrl_on) {
      up_ctrl_[t] = *ctrl;  // may arrive already marked bad (node mismatch)
      for (int c = 0; c < s.nchild; ++c) {
        HS_ASSIGN_OR_RETURN(s.child_ctrl_req[c],
                            transport_->Irecv(s.links.children[c], TagCtrlUp(t),
                                              &child_ctrl_[t][c], sizeof(TreeCtrl)));
      }
      if (s.links.parent >= 0) {
        HS_ASSIGN_OR_RETURN(s.parent_ctrl_req,
                            transport_->Irecv(s.links.parent, TagCtrlDown(t),
                                              &parent_ctrl_[t], sizeof(TreeCtrl)));
      }
    } else {
      s.child_ctrl_ok[0] = s.child_ctrl_ok[1] = true;
    }
  }

  // Every request still pending, for the error path.
  auto cancel_all = [&]() {
    for (TreeState& s : st) {
      auto cancel = [&](Transport::Request& r) {
        if (r != kNone) transport_->Cancel(r);
        r = kNone;
      };
      for (auto& r : s.child_ctrl_req) cancel(r);
      cancel(s.parent_ctrl_req);
      for (auto& r : s.child_req) cancel(r);
      for (auto& r : s.up_req) cancel(r);
      for (auto& r : s.down_req) cancel(r);
      for (auto& r : s.send_down_req) cancel(r);
    }
  };
  // What we wait for, for the timeout message.
  auto pending = [&]() {
    std::string out;
    for (const TreeState& s : st) {
      if (s.ctrl_on && !s.verdict_known) {
        absl::StrAppend(&out, " [tree ", s.t, ": op check with node ",
                        s.links.parent >= 0 ? s.links.parent : s.links.children[0], "]");
      }
      if (s.accumulated < s.nsub) {
        absl::StrAppend(&out, " [tree ", s.t, ": data of sub-chunk ", s.accumulated,
                        " from children ", s.links.children[0], "/",
                        s.links.children[1], "]");
      } else if (s.finals < s.nsub) {
        absl::StrAppend(&out, " [tree ", s.t, ": result of sub-chunk ", s.finals,
                        " from parent node ", s.links.parent, "]");
      } else if (s.sends_done < s.sends_total) {
        absl::StrAppend(&out, " [tree ", s.t, ": sends to peers]");
      }
    }
    return out;
  };

  absl::Time deadline = absl::Now() + ctx.timeout;
  Backoff backoff;
  absl::Status status;
  for (int iter = 0;; ++iter) {
    bool progress = false;
    bool all_done = true;
    for (TreeState& s : st) {
      const int t = s.t;
      bool done;
      // --- control: children's OpDesc up, verdict down -------------------
      if (s.ctrl_on && !s.verdict_known) {
        for (int c = 0; c < s.nchild; ++c) {
          if (s.child_ctrl_recv[c]) continue;
          status = Poll(transport_, &s.child_ctrl_req[c], &done, &progress);
          if (!status.ok()) break;
          if (!done) continue;
          s.child_ctrl_recv[c] = true;
          const TreeCtrl& cc = child_ctrl_[t][c];
          TreeCtrl& up = up_ctrl_[t];
          if (cc.bad && !up.bad) {
            MarkMismatch(&up, cc.ref_rank, cc.ref_desc, cc.bad_rank, cc.bad_desc);
          } else if (!SameOp(cc.desc, up.desc) && !up.bad) {
            MarkMismatch(&up, up.rank, up.desc, cc.rank, cc.desc);
          }
          s.child_ctrl_ok[c] = !cc.bad && SameOp(cc.desc, up.desc);
        }
        if (!status.ok()) break;
        bool have_children = true;
        for (int c = 0; c < s.nchild; ++c) have_children &= s.child_ctrl_recv[c];
        if (have_children && !s.up_ctrl_sent) {
          s.up_ctrl_sent = true;
          if (s.links.parent >= 0) {
            auto r = transport_->Isend(s.links.parent, TagCtrlUp(t), &up_ctrl_[t],
                                       sizeof(TreeCtrl));
            if (!r.ok()) { status = r.status(); break; }
            s.up_req.push_back(*r);  // tracked with the up sends
            ++s.sends_total;
          } else {
            parent_ctrl_[t] = up_ctrl_[t];  // the root's verdict
          }
        }
        bool verdict = false;
        if (s.links.parent < 0) {
          verdict = s.up_ctrl_sent;
        } else {
          status = Poll(transport_, &s.parent_ctrl_req, &done, &progress);
          if (!status.ok()) break;
          verdict = done;
        }
        if (verdict) {
          s.verdict_known = true;
          s.verdict = parent_ctrl_[t];
          // A parent's verdict carries the root's OpDesc; "no mismatch" with
          // another OpDesc than mine means the parent ran another protocol
          // for another call (the two-node exchange sends its OpDesc where
          // the root's verdict goes): a mismatch all the same.
          const TreeCtrl& mine = up_ctrl_[t];
          if (!s.verdict.bad && !mine.bad && !SameOp(s.verdict.desc, mine.desc)) {
            MarkMismatch(&s.verdict, s.verdict.rank, s.verdict.desc, mine.rank, mine.desc);
            parent_ctrl_[t] = s.verdict;
          }
          progress = true;
          for (int c = 0; c < s.nchild; ++c) {
            auto r = transport_->Isend(s.links.children[c], TagCtrlDown(t),
                                       &parent_ctrl_[t], sizeof(TreeCtrl));
            if (!r.ok()) { status = r.status(); break; }
            s.up_req.push_back(*r);
            ++s.sends_total;
          }
          if (!status.ok()) break;
          if (s.verdict.bad) {
            status = absl::FailedPreconditionError(DescribeMismatch(s.verdict));
            break;
          }
        }
      }
      // A local mismatch stops the data flow: only the verdict matters.
      if (s.ctrl_on && up_ctrl_[t].bad) {
        if (!s.verdict_known) all_done = false;
        continue;
      }
      // --- up: post child receives (window), reduce in child order --------
      while (s.posted < s.nsub && s.posted < s.accumulated + W) {
        bool gated = false;
        for (int c = 0; c < s.nchild; ++c) gated |= !s.child_ctrl_ok[c];
        if (gated) break;
        int64_t k = s.posted, w = k % W;
        for (int c = 0; c < s.nchild; ++c) {
          char* buf = s.scratch + (w * 2 + c) * options_.chunk_bytes;
          auto r = transport_->Irecv(s.links.children[c], TagDataUp(t), buf,
                                     s.ChunkLen(k));
          if (!r.ok()) { status = r.status(); break; }
          s.child_req[w * 2 + c] = *r;
          s.child_done[w * 2 + c] = 0;
        }
        if (!status.ok()) break;
        ++s.posted;
      }
      if (!status.ok()) break;
      while (s.accumulated < s.posted) {
        int64_t k = s.accumulated, w = k % W;
        bool ready = true;
        const char* child_data[2] = {nullptr, nullptr};
        for (int c = 0; c < s.nchild && ready; ++c) {
          child_data[c] = s.scratch + (w * 2 + c) * options_.chunk_bytes;
          if (s.child_done[w * 2 + c] != 0) continue;  // already here
          status = Poll(transport_, &s.child_req[w * 2 + c], &done, &progress);
          if (!status.ok()) break;
          if (!done) { ready = false; break; }
          // Child c only after child c-1: a fixed order, whichever message
          // came first.
          if (local == nullptr) combine(s.Chunk(k), child_data[c], s.ChunkLen(k));
          s.child_done[w * 2 + c] = 1;
        }
        if (!status.ok() || !ready) break;
        if (local != nullptr) {
          local->reduce(local->self, s.Chunk(k) - static_cast<char*>(data), s.ChunkLen(k),
                        child_data, s.nchild, s.links.parent < 0);
        }
        if (s.links.parent >= 0) {
          auto r = transport_->Isend(s.links.parent, TagDataUp(t), s.Chunk(k),
                                     s.ChunkLen(k));
          if (!r.ok()) { status = r.status(); break; }
          s.up_req[k] = *r;
          ++s.sends_total;
        } else {
          ++s.finals;  // the root's sum is final
        }
        ++s.accumulated;
        progress = true;
      }
      if (!status.ok()) break;
      // --- down: receive the final sub-chunk once our up-send is done -----
      if (s.links.parent >= 0 && (!s.ctrl_on || s.verdict_known)) {
        while (s.down_posted < s.accumulated) {
          int64_t k = s.down_posted;
          // The up-send of k must be complete (retired below) before the
          // same bytes are overwritten by the parent's result.
          if (s.up_req[k] != kNone) break;
          auto r = transport_->Irecv(s.links.parent, TagDataDown(t), s.Chunk(k),
                                     s.ChunkLen(k));
          if (!r.ok()) { status = r.status(); break; }
          s.down_req[k] = *r;
          ++s.down_posted;
        }
        if (!status.ok()) break;
        while (s.finals < s.down_posted) {
          status = Poll(transport_, &s.down_req[s.finals], &done, &progress);
          if (!status.ok() || !done) break;
          if (local != nullptr && local->result != nullptr) {
            local->result(local->self, s.Chunk(s.finals) - static_cast<char*>(data),
                          s.ChunkLen(s.finals));
          }
          ++s.finals;
        }
        if (!status.ok()) break;
      }
      while (s.sent_down < s.finals) {
        int64_t k = s.sent_down;
        for (int c = 0; c < s.nchild; ++c) {
          auto r = transport_->Isend(s.links.children[c], TagDataDown(t),
                                     s.Chunk(k), s.ChunkLen(k));
          if (!r.ok()) { status = r.status(); break; }
          s.send_down_req[k * 2 + c] = *r;
          ++s.sends_total;
        }
        if (!status.ok()) break;
        ++s.sent_down;
        progress = true;
      }
      if (!status.ok()) break;
      // --- retire completed sends ------------------------------------------
      int64_t completed = 0;
      for (auto* reqs : {&s.up_req, &s.send_down_req}) {
        for (auto& r : *reqs) {
          if (r == kNone) continue;
          status = Poll(transport_, &r, &done, &progress);
          if (!status.ok()) break;
          if (done) ++completed;
        }
        if (!status.ok()) break;
      }
      if (!status.ok()) break;
      s.sends_done += completed;
      if (!s.Done()) all_done = false;
    }
    if (!status.ok()) break;
    if (all_done) break;
    if (progress) {
      deadline = absl::Now() + ctx.timeout;
      backoff.Reset();
      continue;
    }
    if ((iter & 15) == 0) {
      status = CheckAbort(ctx);
      if (!status.ok()) break;
      if (absl::Now() > deadline) {
        status = absl::DeadlineExceededError(absl::StrCat(
            "hfreduce: node ", me, " timed out after ",
            absl::FormatDuration(ctx.timeout), " in the inter-node tree waiting for",
            pending(), " (", transport_->name(), " transport)"));
        break;
      }
    }
    backoff.Pause();
  }
  if (!status.ok()) {
    cancel_all();
    return status;
  }
  if (ctrl != nullptr) *ctrl = st[0].verdict;
  return absl::OkStatus();
}

}  // namespace hs::hfreduce
