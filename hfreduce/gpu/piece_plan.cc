// File: hfreduce/gpu/piece_plan.cc
#include "hfreduce/gpu/piece_plan.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace hs::hfreduce::gpu {

absl::StatusOr<int64_t> StagingSlotBytes(int64_t piece_bytes) {
  const int64_t slot = piece_bytes / kPieceAlignBytes * kPieceAlignBytes;
  if (slot <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("staged allreduce: piece size ", piece_bytes,
                                                   " bytes is below the ", kPieceAlignBytes,
                                                   "-byte minimum"));
  }
  return slot;
}

absl::StatusOr<std::vector<Piece>> PlanPieces(int64_t count, DType dtype, int64_t slot_bytes) {
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("staged allreduce: dtype ", DTypeName(dtype), " (f32 or bf16 only)"));
  }
  if (count < 0) {
    return absl::InvalidArgumentError(absl::StrCat("staged allreduce: negative count ", count));
  }
  if (slot_bytes <= 0 || slot_bytes % kPieceAlignBytes != 0) {
    return absl::InvalidArgumentError(absl::StrCat("staged allreduce: slot size ", slot_bytes,
                                                   " is not a positive multiple of ",
                                                   kPieceAlignBytes));
  }
  std::vector<Piece> plan;
  if (count == 0) return plan;
  const int64_t esize = DTypeSize(dtype);
  const int64_t align = kPieceAlignBytes / esize;  // elements per alignment unit
  const int64_t slot_elems = slot_bytes / esize;   // a multiple of align
  const int64_t n = (count + slot_elems - 1) / slot_elems;
  // Equal shares, rounded up to the alignment: still <= slot_elems because
  // slot_elems is a multiple of align and ceil(count / n) <= slot_elems.
  int64_t per = (count + n - 1) / n;
  per = (per + align - 1) / align * align;
  per = std::min(per, slot_elems);
  for (int64_t first = 0; first < count; first += per) {
    Piece p;
    p.first = first;
    p.count = std::min(per, count - first);
    p.byte_offset = first * esize;
    p.bytes = p.count * esize;
    plan.push_back(p);
  }
  return plan;
}

std::string DescribePiece(const std::vector<Piece>& plan, int k) {
  if (k < 0 || k >= static_cast<int>(plan.size())) {
    return absl::StrCat("piece ", k, " of ", plan.size());
  }
  const Piece& p = plan[k];
  return absl::StrCat("piece ", k, " of ", plan.size(), " (elements [", p.first, ", ",
                      p.first + p.count, "))");
}

}  // namespace hs::hfreduce::gpu
