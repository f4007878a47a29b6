// File: hfreduce/gpu/piece_plan.h
//
// How StagedAllReducer cuts a buffer into pieces that go through the
// staging ring one at a time. Pieces are as equal as possible (a 4 MiB + 1
// element buffer becomes two ~2 MiB pieces, not 4 MiB and one element, so
// the pipeline stays balanced and no piece is a latency-bound sliver), each
// starts on a 64-byte boundary of the buffer, none is larger than a staging
// slot, and together they cover the buffer in order. The plan depends only
// on (count, dtype, slot_bytes), so every rank cuts the same way and makes
// the same sequence of HFReduce calls.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(int64_t slot, StagingSlotBytes(4 << 20));
//   HS_ASSIGN_OR_RETURN(std::vector<Piece> plan, PlanPieces(n, DType::kBF16, slot));
//   for (const Piece& p : plan) copy(dev + p.byte_offset, p.bytes) ...
#ifndef HFREDUCE_GPU_PIECE_PLAN_H_
#define HFREDUCE_GPU_PIECE_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/dtype.h"

namespace hs::hfreduce::gpu {

// Pieces start at multiples of this many bytes (a cache line; it is also
// AllocShared's alignment, so slots and pieces line up alike).
inline constexpr int64_t kPieceAlignBytes = 64;

// One piece: elements [first, first + count) = bytes
// [byte_offset, byte_offset + bytes) of the buffer.
struct Piece {
  int64_t first = 0;
  int64_t count = 0;
  int64_t byte_offset = 0;
  int64_t bytes = 0;
};

// StagingSlotBytes(piece_bytes): the slot size for a requested piece size,
// rounded down to kPieceAlignBytes; InvalidArgument below that.
absl::StatusOr<int64_t> StagingSlotBytes(int64_t piece_bytes);

// PlanPieces(count, dtype, slot_bytes): the pieces of a buffer of `count`
// elements (none for count 0). dtype must be kF32 or kBF16 and slot_bytes
// a positive multiple of kPieceAlignBytes.
absl::StatusOr<std::vector<Piece>> PlanPieces(int64_t count, DType dtype, int64_t slot_bytes);

// DescribePiece(plan, k): "piece 2 of 5 (elements [2048, 3072))".
std::string DescribePiece(const std::vector<Piece>& plan, int k);

}  // namespace hs::hfreduce::gpu

#endif  // HFREDUCE_GPU_PIECE_PLAN_H_
