// File: haiscale/checkpoint/checkpointer.h
//
// Writing sharded, atomic, optionally asynchronous training checkpoints
// (format: format.h and docs/checkpoints.md).
//
// Protocol of one Save at step S (every rank calls it with its own state):
//   1. every rank writes checkpoints/step_S.tmp/rank_R.safetensors (temp
//      file, fsync, rename, fsync dir) and then its rank_R.json description;
//   2. barrier() on every rank (caller-provided; this library has no MPI);
//   3. rank 0 folds the rank_R.json files into manifest.json (written
//      atomically), removes everything else from step_S.tmp (stale files
//      of a crashed attempt), fsyncs it, renames step_S.tmp -> step_S
//      (atomically exchanging with an existing step_S), fsyncs
//      checkpoints/, replaces `latest` atomically, then deletes all but the
//      newest keep_last complete checkpoints and stale .tmp directories of
//      earlier steps.
// Nothing a reader could pick (a complete step_* directory or `latest`) is
// touched before the new checkpoint is complete, so a crash at any point
// leaves the previous checkpoint loadable and `latest` naming a complete one.
//
// Async mode: Save() copies every tensor into host buffers it owns (the
// "stall", last_stall_seconds()) and returns; a background thread writes the
// shard, runs the barrier and (rank 0) commits. The barrier then runs on
// that thread. A Save waits for the previous one first; Wait() joins.
//
// Usage (single process):
//   HS_ASSIGN_OR_RETURN(auto ckpt, Checkpointer::Create({.output_dir = dir,
//                                                          .keep_last = 3}));
//   ShardState s;
//   s.step = step;
//   for (const ParamSpec& p : arena.specs())
//     s.params.push_back({p.name, p.shape, arena.params() + p.offset});
//   s.arena_size = arena.size();
//   s.optim_begin = opt->begin(); s.optim_end = opt->end();
//   for (const StateSpan& st : opt->StateSpans())
//     s.optim_states.push_back({st.name, {st.size}, st.data});
//   HS_RETURN_IF_ERROR(ckpt->Save(s, {.model_config_json = json}));
//   HS_RETURN_IF_ERROR(ckpt->Wait());   // before exiting
#ifndef HAISCALE_CHECKPOINT_CHECKPOINTER_H_
#define HAISCALE_CHECKPOINT_CHECKPOINTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/checkpoint/format.h"

namespace hs::checkpoint {

// NamedSpan: fp32 values to save under `name` with `shape` (row-major,
// prod(shape) floats at `data`, borrowed until Save returns). Instead of
// `data`, `fill` may produce the values on demand into a buffer of
// prod(shape) floats (used by hai convert to stream tensors from a file;
// called once, during the write, or during the snapshot in async mode).
struct NamedSpan {
  std::string name;
  std::vector<int64_t> shape;
  const float* data = nullptr;
  std::function<absl::Status(float* dst)> fill;
};

// ShardState: what one rank saves at one step.
struct ShardState {
  int64_t step = 0;
  int rank = 0;
  Topology topology;       // of the whole run
  int pp_rank = 0;         // this rank's pipeline stage
  int dp_rank = 0;         // and data-parallel index
  int ep_rank = 0;         // and expert-parallel index (within its EP group)

  // Parameters saved by HF name. Across all ranks each name must be saved
  // exactly once (e.g. under plain DDP only dp_rank 0 of each stage saves
  // its stage's parameters; under EP each EP rank its own experts).
  std::vector<NamedSpan> params;

  // Optimizer state: each span covers the owned range [optim_begin,
  // optim_end) of the flat arena (arena_size floats) that ranks with the
  // same (pp_rank, ep_rank) share; stored as "optim.<name>", shape
  // {optim_end - optim_begin} (the span's shape is checked against that).
  int64_t arena_size = 0;
  int64_t optim_begin = 0;
  int64_t optim_end = 0;
  std::vector<NamedSpan> optim_states;

  // Where this rank's data sampler is (e.g. samples consumed); the trainer
  // decides the unit.
  int64_t sampler_position = 0;
  // Free-form trainer state as JSON text (RNG state, LR schedule, ...).
  std::string trainer_json;
  // More "__metadata__" entries (must not reuse the reserved keys).
  std::map<std::string, std::string> metadata;
};

// ManifestInfo: what rank 0 adds to the manifest (others' copy is unused).
struct ManifestInfo {
  std::string model_config_json;  // config::ModelConfigToHfJson(...)
  std::string config_text;        // config::ConfigToText(run config)
  std::map<std::string, std::string> extras;
};

// Barrier: returns on every rank once every rank has called it; an error
// aborts the save on that rank. May be empty when world == 1.
using Barrier = std::function<absl::Status()>;

// WriteShard(output_dir, state)
//
// Step 1 of the protocol for one rank: creates checkpoints/step_S.tmp/ and
// writes the shard and its description there, durably. Validates the state
// (sizes, names, reserved metadata keys). Usually called through
// Checkpointer; hai convert calls it directly.
absl::Status WriteShard(const std::string& output_dir, const ShardState& state);

// CommitOptions: step 3's inputs.
struct CommitOptions {
  int keep_last = 3;   // complete checkpoints kept (>= 1)
};

// CommitCheckpoint(output_dir, step, world, info, options)
//
// Step 3 of the protocol (rank 0, after the barrier): verifies every
// rank's shard is present with the size it reported, writes the manifest,
// publishes step_S, updates `latest`, cleans up. Returns the final
// directory. Errors name the missing or inconsistent shard.
absl::StatusOr<std::string> CommitCheckpoint(const std::string& output_dir, int64_t step,
                                             int world, const ManifestInfo& info,
                                             const CommitOptions& options);

// Checkpointer: one per rank per run.
class Checkpointer {
 public:
  struct Options {
    std::string output_dir;
    int keep_last = 3;     // complete checkpoints kept (>= 1)
    bool async = false;    // snapshot + background write
  };

  // Checkpointer::Create(options): checks the options and creates
  // <output_dir>/checkpoints/.
  static absl::StatusOr<std::unique_ptr<Checkpointer>> Create(const Options& options);

  // Waits for a pending async save (its error is logged, not lost
  // silently; call Wait() to get it).
  ~Checkpointer();
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Checkpointer::Save(state, info, barrier)
  //
  // Runs the protocol above for this rank. Sync: returns when done (rank
  // 0: committed). Async: returns after the snapshot; the result comes from
  // Wait() or the next Save. Waits for the previous save first; if that one
  // failed, returns its error (prefixed "previous checkpoint (step N)")
  // without starting this one. `barrier` may be empty only when
  // state.topology.world == 1.
  absl::Status Save(const ShardState& state, const ManifestInfo& info,
                    Barrier barrier = nullptr);

  // Checkpointer::Wait(): waits for a pending async save; its status (OK
  // when none is pending).
  absl::Status Wait();

  // Checkpointer::last_stall_seconds(): how long the last Save blocked the
  // caller (async: waiting for the previous save + the snapshot copy; sync:
  // the whole save).
  double last_stall_seconds() const;

  // Checkpointer::last_write_seconds(): duration of the last completed
  // write (shard + barrier + commit), on whichever thread ran it.
  double last_write_seconds() const;

  // Checkpointer::last_committed_dir(): rank 0's last published checkpoint
  // directory (empty on other ranks / before the first commit).
  std::string last_committed_dir() const;

  const Options& options() const { return options_; }

 private:
  explicit Checkpointer(Options options) : options_(std::move(options)) {}
  // Writes (and on rank 0 commits) one save; runs on the caller or worker.
  absl::Status RunSave(const ShardState& state, const ManifestInfo& info,
                       const Barrier& barrier);

  Options options_;
  std::thread worker_;
  bool pending_ = false;
  int64_t pending_step_ = -1;
  absl::Status pending_status_;        // written by the worker, read after join
  mutable std::mutex mu_;              // guards the timings/dir below
  double last_stall_s_ = 0;
  double last_write_s_ = 0;
  std::string last_dir_;
};

}  // namespace hs::checkpoint

#endif  // HAISCALE_CHECKPOINT_CHECKPOINTER_H_
