// File: hfreduce/row_sparse.cc — AllReduceRows on one node: the rows that
// are nonzero on some rank, summed straight from and into the ranks'
// registered buffers; see the picture in collective.h.
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
  // Every rank reads what every other published before `in`, so all reach
  // the same verdict; none has stored `red` yet, so none has left.
  if (c.num_nodes != 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("hfreduce: ", DescribeOp(d), " needs one node (there are ", c.num_nodes,
                     "); see Communicator::CanAllReduceRows"));
  }
  std::vector<float*> bufs(L);
  for (int l = 0; l < L; ++l) {
    const int64_t off = Rank(l).shared_off;
    if (off < 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "hfreduce: ", DescribeOp(d), ": the buffer of rank ", Rank(l).global_rank,
          " is not in its registered region (Communicator::AllocShared)"));
    }
    bufs[l] = reinterpret_cast<float*>(SharedRegion(l) + off);
  }
  const float divisor = d.op == 1 ? static_cast<float>(c.size) : 1.0f;
  const int64_t per = (rows + L - 1) / L;
  const int64_t r0 = std::min(rows, me * per), r1 = std::min(rows, r0 + per);
  std::vector<const void*> srcs(L);
  float sum[kRowBlock];
  int64_t found = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t at = r * cols;
    bool any = false;
    for (int l = 0; l < L && !any; ++l) any = AnyNonzeroF32(bufs[l] + at, cols);
    if (!any) continue;  // zero on every rank: so is the sum
    ++found;
    for (int64_t b = 0; b < cols; b += kRowBlock) {
      const int64_t m = std::min(kRowBlock, cols - b);
      for (int l = 0; l < L; ++l) srcs[l] = bufs[l] + at + b;
      SumToF32(srcs.data(), L, DType::kF32, sum, m);
      for (int l = 0; l < L; ++l) ConvertFromF32(sum, m, DType::kF32, divisor, bufs[l] + at + b);
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
