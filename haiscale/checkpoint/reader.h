// File: haiscale/checkpoint/reader.h
//
// Finding and reading HaiScale checkpoints (format.h), with every check a
// resume needs: the manifest parses, every shard is present with its size
// and CRC32, each file's tensors are the ones the manifest lists, and each
// tensor has the shape the caller expects. Every error names the file (and
// the tensor).
//
// Optimizer state is read by arena range, so a run with a different DP size
// re-shards it (ZeRO-1 ranges of D1 ranks -> ranges of D2 ranks of the same
// flat arena); a different PP or EP layout is refused by CheckTopology.
//
// Usage (each rank):
//   HS_ASSIGN_OR_RETURN(std::optional<std::string> dir, FindLatest(output_dir));
//   if (dir) {
//     HS_ASSIGN_OR_RETURN(auto ckpt, CheckpointReader::Open(*dir));
//     HS_RETURN_IF_ERROR(ckpt->CheckTopology(now));
//     for (const ParamSpec& p : arena.specs())
//       HS_RETURN_IF_ERROR(ckpt->ReadParam(p.name, p.shape, arena.params() + p.offset));
//     for (const StateSpan& s : opt->StateSpans())
//       HS_RETURN_IF_ERROR(ckpt->ReadOptimizerState(pp_rank, ep_rank, s.name,
//           arena.size(), opt->begin(), opt->end(), s.data));
//     HS_ASSIGN_OR_RETURN(ShardMetadata meta, ckpt->Metadata(rank));
//     start_step = ckpt->step();
//   }
#ifndef HAISCALE_CHECKPOINT_READER_H_
#define HAISCALE_CHECKPOINT_READER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/checkpoint/format.h"
#include "haiscale/io/safetensors.h"

namespace hs::checkpoint {

// FindLatest(output_dir)
//
// The checkpoint directory to resume from, under one rule for every kind of
// damage: the newest *intact* checkpoint wins. A checkpoint is intact when
// VerifyCheckpoint passes (manifest parses, every shard present with the
// manifest's size and CRC32, valid header, exactly the listed tensors).
// The one `checkpoints/latest` names is tried first, then every step_*
// directory newest first. When anything is passed over (latest missing,
// unreadable or naming a damaged checkpoint, a CRC mismatch, ...), a WARN
// names each skipped checkpoint and why, and the one resumed from.
// nullopt when there is no step_* directory at all (only .tmp directories
// of crashed saves count as none). An error listing every reason when
// step_* directories exist but none is intact, so a run never silently
// restarts from scratch over damaged checkpoints. Reads every shard of the
// checkpoint it returns (once; the reads warm the page cache for resume).
absl::StatusOr<std::optional<std::string>> FindLatest(const std::string& output_dir);

// VerifyCheckpoint(dir): OK when the checkpoint in `dir` is intact (see
// FindLatest); otherwise the first problem, naming the file.
absl::Status VerifyCheckpoint(const std::string& dir);

// CheckComplete(dir): the cheap completeness check (manifest parses, every
// shard present with its size; no CRC).
absl::Status CheckComplete(const std::string& dir);

// ShardMetadata: one shard's "__metadata__", parsed.
struct ShardMetadata {
  int64_t step = 0;
  int rank = 0;
  Topology topology;
  int pp_rank = 0, dp_rank = 0, ep_rank = 0;
  int64_t arena_size = 0, optim_begin = 0, optim_end = 0;
  int64_t sampler_position = 0;
  std::string trainer_json;
  std::map<std::string, std::string> extra;  // the caller's own keys
};

// CheckpointReader: one complete checkpoint directory.
// Thread-safe; shards are opened (and CRC-checked) on first use.
class CheckpointReader {
 public:
  // CheckpointReader::Open(dir): parses the manifest and checks that every
  // shard is present with the manifest's size. Does not read shard bytes.
  static absl::StatusOr<std::unique_ptr<CheckpointReader>> Open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  const Manifest& manifest() const { return manifest_; }
  int64_t step() const { return manifest_.step; }

  // CheckpointReader::CheckTopology(now)
  //
  // OK when a run with topology `now` can resume from this checkpoint: the
  // same layout; or another DP size (optimizer state is re-sharded by
  // range); or any layout when the checkpoint has parameters only.
  // FailedPrecondition with the reason when pp or ep differ and there is
  // optimizer state.
  absl::Status CheckTopology(const Topology& now) const;

  // CheckpointReader::HasParam(name): whether some shard holds parameter
  // `name`.
  bool HasParam(const std::string& name) const;

  // CheckpointReader::ReadParam(name, shape, dst)
  //
  // Copies parameter `name` (fp32; bf16/f16 widened exactly) into `dst`,
  // which holds prod(shape) floats. NotFound when the checkpoint lacks it;
  // InvalidArgument when its shape differs from `shape`; DataLoss when its
  // shard fails the size/CRC/header checks.
  absl::Status ReadParam(const std::string& name, const std::vector<int64_t>& shape,
                         float* dst);

  // CheckpointReader::ReadOptimizerState(pp_rank, ep_rank, state,
  //                                      arena_size, begin, end, dst)
  //
  // Fills dst[0, end - begin) with optimizer state `state` ("exp_avg") for
  // arena elements [begin, end) of the arena of stage (pp_rank, ep_rank),
  // gathering it from whichever shards hold those elements: this is the
  // re-sharding from the checkpoint's DP size to the caller's. NotFound
  // when the checkpoint has no optimizer state (parameters only: start the
  // optimizer fresh) or not this state; FailedPrecondition when the arena
  // size differs or part of the range is held by no shard.
  absl::Status ReadOptimizerState(int pp_rank, int ep_rank, const std::string& state,
                                  int64_t arena_size, int64_t begin, int64_t end, float* dst);

  // CheckpointReader::Metadata(rank): rank's shard metadata (opens and
  // verifies that shard).
  absl::StatusOr<ShardMetadata> Metadata(int rank);

  // CheckpointReader::Shard(rank): rank's shard, verified: size and CRC32
  // as the manifest says, header valid, tensors (names, dtypes, shapes)
  // exactly the manifest's. The pointer lives as long as the reader.
  absl::StatusOr<const io::SafetensorsFile*> Shard(int rank);

  // CheckpointReader::VerifyAll(): Shard(r) for every rank.
  absl::Status VerifyAll();

 private:
  CheckpointReader() = default;
  absl::StatusOr<const io::SafetensorsFile*> OpenShardLocked(int rank);

  std::string dir_;
  Manifest manifest_;
  std::mutex mu_;
  std::vector<std::unique_ptr<io::SafetensorsFile>> shards_;  // by rank, lazily
};

// LoadedCheckpoint: one rank's shard read into memory (small models,
// tests, tools; resume through CheckpointReader to avoid the copy).
struct LoadedCheckpoint {
  std::string dir;
  Manifest manifest;
  ShardMetadata metadata;
  // Every tensor of the shard: parameters by name, optimizer state as
  // "optim.<state>".
  std::map<std::string, std::vector<float>> tensors;
};

// Load(dir, rank): verifies the manifest and rank's shard (size, CRC,
// header, tensors vs manifest) and reads it.
absl::StatusOr<LoadedCheckpoint> Load(const std::string& dir, int rank);

}  // namespace hs::checkpoint

#endif  // HAISCALE_CHECKPOINT_READER_H_
