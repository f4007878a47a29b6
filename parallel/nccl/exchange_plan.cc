// File: parallel/nccl/exchange_plan.cc — see exchange_plan.h.
#include "parallel/nccl/exchange_plan.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hs::parallel {
namespace {

absl::Status Pack(const std::vector<int64_t>& counts, int64_t unit, int rank,
                  const char* what, std::vector<PeerRange>* out, int64_t* total) {
  out->clear();
  int64_t at = 0;
  for (int p = 0; p < static_cast<int>(counts.size()); ++p) {
    if (counts[p] < 0) {
      return absl::InvalidArgumentError(absl::StrCat("rank ", rank, ": negative ", what,
                                                     " count ", counts[p], " for peer ", p));
    }
    out->push_back(PeerRange{p, at, counts[p] * unit});
    at += counts[p] * unit;
  }
  *total = at;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ExchangePlan> ExchangePlan::FromCounts(const std::vector<int64_t>& send_counts,
                                                      const std::vector<int64_t>& recv_counts,
                                                      int64_t unit_bytes, int rank) {
  if (unit_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("rank ", rank, ": exchange unit must be > 0 bytes, got ", unit_bytes));
  }
  if (send_counts.size() != recv_counts.size() || send_counts.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rank ", rank, ": exchange needs one send and one receive count per peer, got ",
        send_counts.size(), " and ", recv_counts.size()));
  }
  if (rank < 0 || rank >= static_cast<int>(send_counts.size())) {
    return absl::InvalidArgumentError(absl::StrCat("rank ", rank, " is outside the group of ",
                                                   send_counts.size()));
  }
  ExchangePlan plan;
  absl::Status s = Pack(send_counts, unit_bytes, rank, "send", &plan.sends, &plan.send_bytes);
  if (!s.ok()) return s;
  s = Pack(recv_counts, unit_bytes, rank, "receive", &plan.recvs, &plan.recv_bytes);
  if (!s.ok()) return s;
  return plan;
}

}  // namespace hs::parallel
