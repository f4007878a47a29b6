// File: haiscale/checkpoint/format.h
//
// The on-disk format of HaiScale's sharded training checkpoints (see
// docs/checkpoints.md for the full description):
//
//   <output_dir>/checkpoints/
//     step_00000100/            one complete checkpoint
//       manifest.json           written by rank 0 after every shard is durable
//       rank_00000.safetensors  rank 0's shard
//       rank_00001.safetensors  ...
//     step_00000200.tmp/        a checkpoint being written (or left by a crash)
//     latest                    "step_00000100\n", replaced atomically, last
//
// A shard is a safetensors file: parameters under their Hugging Face names
// (each parameter in exactly one shard), the optimizer state of the rank's
// owned arena range as flat tensors "optim.<state>" ([optim_end -
// optim_begin] floats), and "__metadata__" with the step, topology, arena
// range, sampler position and the trainer's free-form JSON.
//
// The manifest (Manifest below, JSON) names every shard with its byte size
// and CRC32 and indexes every parameter tensor (name -> shard, dtype, shape).
//
// Usage:
//   HS_ASSIGN_OR_RETURN(Manifest m, ParseManifest(text, "step_00000100/manifest.json"));
//   std::string json = ManifestToJson(m);
#ifndef HAISCALE_CHECKPOINT_FORMAT_H_
#define HAISCALE_CHECKPOINT_FORMAT_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/io/safetensors.h"

namespace hs::checkpoint {

// Version of the manifest/shard layout; readers refuse other versions.
inline constexpr int kFormatVersion = 1;

// Prefix of the flat optimizer-state tensors in a shard: "optim.exp_avg".
inline constexpr char kOptimPrefix[] = "optim.";

// Prefix of the optimizer state a ZeRO-1 trainer saves as named tensors
// ("zero1.rank<r>.<state>": rank r's owned bucket parts, concatenated).
// They are not model parameters: `hai convert` and other parameter readers
// skip them.
inline constexpr char kZero1Prefix[] = "zero1.";

// IsOptimizerTensor(name): optim.* or zero1.* (not a model parameter).
inline bool IsOptimizerTensor(const std::string& name) {
  return name.rfind(kOptimPrefix, 0) == 0 || name.rfind(kZero1Prefix, 0) == 0;
}

// File names inside a checkpoint directory and the run's checkpoints/.
inline constexpr char kManifestFile[] = "manifest.json";
inline constexpr char kLatestFile[] = "latest";
inline constexpr char kCheckpointsDir[] = "checkpoints";

// Topology: the parallel layout a checkpoint was written with.
// world = dp * pp; ep divides dp (parallel/ validates this; here it is data).
struct Topology {
  int world = 1;
  int dp = 1;
  int pp = 1;
  int ep = 1;

  // Topology::ToString(): "world=4 dp=2 pp=2 ep=1".
  std::string ToString() const;
  bool operator==(const Topology& o) const {
    return world == o.world && dp == o.dp && pp == o.pp && ep == o.ep;
  }
  bool operator!=(const Topology& o) const { return !(*this == o); }
};

// StepDirName(step): "step_00000100" (8 digits; more when the step needs it).
std::string StepDirName(int64_t step);

// ParseStepDirName(name): the step of "step_00000100" (nullopt for anything
// else, including "step_00000100.tmp").
std::optional<int64_t> ParseStepDirName(const std::string& name);

// ParseTmpStepDirName(name): the step of "step_00000100.tmp", else nullopt.
std::optional<int64_t> ParseTmpStepDirName(const std::string& name);

// ShardFileName(rank): "rank_00000.safetensors".
std::string ShardFileName(int rank);

// ShardInfoFileName(rank): "rank_00000.json", the per-rank description a
// rank writes beside its shard in the .tmp directory; rank 0 folds them
// into the manifest and removes them.
std::string ShardInfoFileName(int rank);

// CheckpointsDir(output_dir): "<output_dir>/checkpoints".
std::string CheckpointsDir(const std::string& output_dir);

// One tensor of a shard, as the manifest records it.
struct TensorEntry {
  std::string name;
  std::string shard;  // file name inside the checkpoint directory
  io::SafetensorsDType dtype = io::SafetensorsDType::kF32;
  std::vector<int64_t> shape;
};

// One rank's shard.
struct ShardEntry {
  std::string file;   // "rank_00000.safetensors"
  int rank = 0;
  int pp_rank = 0;
  int dp_rank = 0;
  int ep_rank = 0;
  int64_t bytes = 0;    // size of the whole file
  uint32_t crc32 = 0;   // zlib crc32 of the whole file
  // Optimizer state: the owned range [optim_begin, optim_end) of a flat
  // arena of arena_size floats shared by ranks with the same (pp_rank,
  // ep_rank); one tensor "optim.<name>" per entry of optim_states.
  int64_t arena_size = 0;
  int64_t optim_begin = 0;
  int64_t optim_end = 0;
  std::vector<std::string> optim_states;
  // Every tensor of the file (parameters and optim.*), in name order.
  std::vector<TensorEntry> tensors;
};

// The manifest of a complete checkpoint.
struct Manifest {
  int format_version = kFormatVersion;
  int64_t step = 0;
  Topology topology;
  std::string model_config_json;  // HF config.json text ("" when unknown)
  std::string config_text;        // RunConfig text format ("" when unknown)
  std::map<std::string, std::string> extras;  // free-form, from the caller
  std::vector<ShardEntry> shards;             // by rank, 0..world-1
  // Parameter tensors (not optim.*): name -> where it is.
  std::map<std::string, TensorEntry> tensors;

  // Manifest::has_optimizer_state(): some shard holds optimizer state.
  bool has_optimizer_state() const;
};

// ManifestToJson(manifest): pretty-printed JSON (sorted keys).
std::string ManifestToJson(const Manifest& manifest);

// ParseManifest(text, source_name): the inverse; every missing or
// mistyped field is an InvalidArgument naming source_name and the field;
// a different format version is FailedPrecondition.
absl::StatusOr<Manifest> ParseManifest(const std::string& text,
                                       const std::string& source_name);

// ShardEntryToJson / ParseShardEntry: one shard's description alone (the
// per-rank rank_XXXXX.json files), with the step and topology it was
// written for.
std::string ShardEntryToJson(const ShardEntry& shard, int64_t step,
                             const Topology& topology);
absl::Status ParseShardEntry(const std::string& text,
                             const std::string& source_name, ShardEntry* shard,
                             int64_t* step, Topology* topology);

}  // namespace hs::checkpoint

#endif  // HAISCALE_CHECKPOINT_FORMAT_H_
