// File: haiscale/train/batch_layout.cc — see batch_layout.h.
#include "haiscale/train/batch_layout.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "data/sampler.h"
#include "haiscale/status.h"

namespace hs::train {

absl::StatusOr<BatchLayout> DeriveBatchLayout(const config::RunConfig& config, int dp_size,
                                              int dp_rank, int pp) {
  const config::TrainConfig& tc = config.train();
  BatchLayout b;
  b.seq_len = tc.seq_len();
  b.global_batch = tc.global_batch_size();
  b.micro_batch = tc.micro_batch_size() > 0 ? tc.micro_batch_size() : b.global_batch;
  if (b.micro_batch * dp_size > b.global_batch && b.global_batch % dp_size == 0) {
    // Fewer sequences per rank than one micro-batch: each rank runs its
    // whole slice at once (same global batch, same result).
    b.micro_batch = b.global_batch / dp_size;
  }
  const int64_t requested = config.parallel().micro_batches();
  if (requested > 0) {
    // Pipeline micro-batch count given: derive the micro-batch size.
    const int64_t local = b.global_batch / std::max(1, dp_size);
    if (local % requested != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("parallel.micro_batches: ", requested, " does not divide the ", local,
                       " sequences per data-parallel rank"));
    }
    b.micro_batch = local / requested;
  }
  if (b.global_batch % (int64_t(dp_size) * b.micro_batch) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train.global_batch_size: ", b.global_batch, " is not a multiple of micro_batch_size (",
        b.micro_batch, ") x data-parallel ranks (", dp_size, ")"));
  }
  HS_ASSIGN_OR_RETURN(data::SampleRange slice, data::RankSlice(b.global_batch, dp_size, dp_rank));
  b.local_first = slice.first;
  b.local_count = slice.count;
  b.micro_batches = b.local_count / b.micro_batch;
  if (pp > 1 && b.micro_batches < pp) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.micro_batches: ", b.micro_batches, " micro-batches per step for ", pp,
        " pipeline stages (need at least ", pp, "; lower train.micro_batch_size)"));
  }
  return b;
}

}  // namespace hs::train
