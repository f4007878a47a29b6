// File: haiscale/train/batch_layout.h
//
// BatchLayout: how a step's global batch is cut over the data-parallel
// ranks and into micro-batches — derived once from the config and the
// parallel degrees, then read by the objective, the step engine and the
// run log.
//
//   global batch G sequences of seq_len tokens
//   rank r reads the contiguous slice RankSlice(G, dp, r) (data/sampler.h)
//   in micro_batches micro-batches of micro_batch sequences
#ifndef HAISCALE_TRAIN_BATCH_LAYOUT_H_
#define HAISCALE_TRAIN_BATCH_LAYOUT_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "haiscale/config/config.pb.h"

namespace hs::train {

struct BatchLayout {
  int64_t global_batch = 0;   // sequences per optimizer step (all ranks)
  int64_t seq_len = 0;
  int64_t micro_batch = 0;    // sequences per forward
  int64_t micro_batches = 0;  // forwards per step on this rank
  int64_t local_first = 0;    // this rank's first sequence of the global batch
  int64_t local_count = 0;    // its number of sequences
};

// DeriveBatchLayout(config, dp_size, dp_rank, pp): errors name the field
// to change (train.global_batch_size, parallel.micro_batches, ...).
absl::StatusOr<BatchLayout> DeriveBatchLayout(const config::RunConfig& config, int dp_size,
                                              int dp_rank, int pp);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_BATCH_LAYOUT_H_
