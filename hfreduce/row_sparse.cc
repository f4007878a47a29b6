// File: hfreduce/row_sparse.cc — AllReduceRows: the rows that are nonzero
// on some rank, summed straight from and into the ranks' registered
// buffers (one node), or as packed node sums between nodes; see the
// picture in collective.h.
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "haiscale/dtype.h"
#include "haiscale/status.h"
#include "hfreduce/collective.h"
#include "hfreduce/engine_control.h"
#include "hfreduce/reduce_kernels.h"

namespace hs::hfreduce {
namespace {

constexpr int64_t kRowBlock = 4096;  // elements summed per pass: 16 KiB, in L1

}  // namespace

absl::Status Engine::RunAllReduceRows(const OpCall& call) {
  const EngineConfig& c = config_;
  const OpDesc& d = call.desc;
  const int L = c.local_size;
  const int me = c.local_rank;
  const int64_t cols = d.root;
  const int64_t rows = cols > 0 ? d.count / cols : 0;
  // One chunk of the pipeline's numbering, so the counters stay in step
  // with the other collectives (a buffer's OpDescs are reused only once
  // every rank is out of chunk g - depth).
  const uint64_t g = next_chunk_++;
  const int buf = g % c.depth;
  if (g >= static_cast<uint64_t>(c.depth)) {
    HS_RETURN_IF_ERROR(WaitAll(&RankControl::out, g - c.depth + 1, "copy-out", g - c.depth, d));
  }
  int64_t shared_off = -1;
  const char* src = static_cast<const char*>(call.src);
  const char* region = SharedRegion(me);
  if (c.registered_bytes > 0 && src >= region &&
      src + d.count * int64_t(sizeof(float)) <= region + c.registered_bytes) {
    shared_off = src - region;
  }
  BufDesc(buf, me) = d;
  Rank(me).desc = d;
  Rank(me).global_rank = c.rank;
  Rank(me).shared_off = shared_off;
  Rank(me).in.store(g + 1, std::memory_order_release);
  HS_RETURN_IF_ERROR(WaitAll(&RankControl::in, g + 1, "start", g, d));
  HS_RETURN_IF_ERROR(CheckCall(d, g));
  // Every rank of the node reads what every other published before `in`,
  // so all reach the same verdict; none has stored `red` yet, so none has
  // left. Between nodes the verdict travels with the row masks below.
  std::vector<float*> bufs(L);
  std::string unregistered;
  for (int l = 0; l < L; ++l) {
    const int64_t off = Rank(l).shared_off;
    if (off >= 0) {
      bufs[l] = reinterpret_cast<float*>(SharedRegion(l) + off);
    } else if (unregistered.empty()) {
      unregistered = absl::StrCat("hfreduce: ", DescribeOp(d), ": the buffer of rank ",
                                  Rank(l).global_rank,
                                  " is not in its registered region (Communicator::AllocShared)");
    }
  }
  if (!unregistered.empty() && c.num_nodes == 1) {
    return absl::FailedPreconditionError(unregistered);
  }
  const float divisor = d.op == 1 ? static_cast<float>(c.size) : 1.0f;
  const int64_t per = (rows + L - 1) / L;
  const int64_t r0 = std::min(rows, me * per), r1 = std::min(rows, r0 + per);
  std::vector<const void*> srcs(L);
  auto any_nonzero = [&](int64_t r) {
    for (int l = 0; l < L; ++l) {
      if (AnyNonzeroF32(bufs[l] + r * cols, cols)) return true;
    }
    return false;
  };
  // Row r's sum over the node's buffers, slot order, into dst.
  auto node_sum = [&](int64_t r, int64_t b, int64_t m, float* dst) {
    for (int l = 0; l < L; ++l) srcs[l] = bufs[l] + r * cols + b;
    SumToF32(srcs.data(), L, DType::kF32, dst, m);
  };
  auto write_all = [&](const float* sum, int64_t r, int64_t b, int64_t m) {
    for (int l = 0; l < L; ++l) ConvertFromF32(sum, m, DType::kF32, divisor, bufs[l] + r * cols + b);
  };
  int64_t found = 0;
  if (c.num_nodes == 1) {
    // One pass: check a row, and sum it while it is in cache.
    float sum[kRowBlock];
    for (int64_t r = r0; r < r1; ++r) {
      if (!any_nonzero(r)) continue;  // zero on every rank: so is the sum
      ++found;
      for (int64_t b = 0; b < cols; b += kRowBlock) {
        const int64_t m = std::min(kRowBlock, cols - b);
        node_sum(r, b, m, sum);
        write_all(sum, r, b, m);
      }
    }
  } else {
    // Rail me holds these rows on every node: the nodes' masks summed over
    // the trees give the union (small integers, so every node agrees), then
    // the node sums of the union's rows travel packed.
    const int64_t n = r1 - r0;
    const WaitContext ctx = Ctx();
    auto tree = [&](float* data, int64_t count) {
      const int64_t bytes = count * int64_t(sizeof(float));
      const bool pair = PairExchangeOn() && bytes <= c.pair_exchange_bytes;
      return tree_->Run(data, bytes, sizeof(float), CombineAddF32, nullptr, ctx, false, nullptr,
                        pair);
    };
    // One more count after the rows: nodes with an unregistered buffer, so
    // that every node fails alike instead of waiting for the others.
    rows_mask_.assign(n + 1, 0.0f);
    if (unregistered.empty()) {
      for (int64_t i = 0; i < n; ++i) rows_mask_[i] = any_nonzero(r0 + i) ? 1.0f : 0.0f;
    } else {
      rows_mask_[n] = 1.0f;
    }
    HS_RETURN_IF_ERROR(Annotate(tree(rows_mask_.data(), n + 1), "row masks"));
    if (!unregistered.empty()) return absl::FailedPreconditionError(unregistered);
    if (rows_mask_[n] > 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "hfreduce: ", DescribeOp(d), ": a rank on another node passed a buffer outside its "
          "registered region (Communicator::AllocShared)"));
    }
    std::vector<int64_t> union_rows;
    for (int64_t i = 0; i < n; ++i) {
      if (rows_mask_[i] > 0) union_rows.push_back(r0 + i);
    }
    found = int64_t(union_rows.size());
    rows_packed_.resize(found * cols);
    for (int64_t i = 0; i < found; ++i) {
      node_sum(union_rows[i], 0, cols, rows_packed_.data() + i * cols);
    }
    if (found > 0) HS_RETURN_IF_ERROR(Annotate(tree(rows_packed_.data(), found * cols), "rows"));
    for (int64_t i = 0; i < found; ++i) {
      write_all(rows_packed_.data() + i * cols, union_rows[i], 0, cols);
    }
  }
  Rank(me).rows_found = found;
  Rank(me).red.store(g + 1, std::memory_order_release);
  // A rank's buffer is final once every owner has written its rows.
  HS_RETURN_IF_ERROR(WaitAll(&RankControl::red, g + 1, "rows", g, d));
  // rows_found of a peer changes next in a later AllReduceRows, after that
  // call's start meeting, which this rank has not reached.
  int64_t total = 0;
  for (int l = 0; l < L; ++l) total += Rank(l).rows_found;
  if (call.nonzero_rows != nullptr) *call.nonzero_rows = total;
  Rank(me).out.store(g + 1, std::memory_order_release);
  return absl::OkStatus();
}

}  // namespace hs::hfreduce
