// File: haiscale/train/memory_plan.h
//
// MemoryPlan: what one training rank will hold in host memory, worked out
// from the run config before anything is allocated, so a run that cannot
// fit is refused with a clear message instead of growing until the kernel
// kills it. `hai train` prints it before training starts; `hai train
// --dry-run` prints it and exits.
//
// Per rank (per pipeline stage, since stages hold different layers):
//   parameters   f32, this stage's layers (routed experts / ep)
//   gradients    same layout (in HFReduce's shared segment when registered)
//   optimizer    AdamW m and v (SGD momentum) of the owned range: all of it,
//                or 1/dp of it under ZeRO-1
//   activations  per micro-batch, with and without recomputation, times the
//                micro-batches a stage keeps in flight (1F1B: pp - stage)
//   comm         HFReduce's node-pipeline slots (this rank's share of the
//                segment) and ZeRO-1's bucket buffers
// The sizes mirror the tensors the layers save (models/layers/*Saved) and
// the ones their backward passes allocate; memory_plan_test checks them
// against the allocator's measured peak on a small model.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(MemoryPlan plan, PlanTrainingMemory(config, {.world_size = 4}));
//   std::printf("%s", plan.Format().c_str());
//   HS_RETURN_IF_ERROR(plan.CheckFits(MachineMemory()));
#ifndef HAISCALE_TRAIN_MEMORY_PLAN_H_
#define HAISCALE_TRAIN_MEMORY_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/config/config.pb.h"
#include "models/model_config.h"

namespace hs::train {

// Activation bytes of one micro-batch of B sequences of T tokens through
// layers [first, end) of a model (plus the head when `head`, the token ids
// when `embedding`); `expert_parallel`: routed experts sharded over ranks.
struct ActivationBytes {
  int64_t full = 0;       // every block keeps what its backward needs
  int64_t recompute = 0;  // blocks keep only their input, one is rebuilt at a time
  int64_t inference = 0;  // forward only (ModelOptions::for_inference)
};
ActivationBytes EstimateActivationBytes(const models::DeepseekV2Config& config, int64_t first,
                                        int64_t end, bool embedding, bool head, int64_t B,
                                        int64_t T, bool expert_parallel = false);

// Parameters of layers [first, end) (plus the embedding / the final norm
// and lm_head), split into routed-expert weights (sharded by EP) and the
// rest; `largest` is the biggest single tensor.
struct ParamCounts {
  int64_t dense = 0, routed = 0, largest = 0;
};
ParamCounts CountStageParams(const models::DeepseekV2Config& config, int64_t first, int64_t end,
                             bool embedding, bool head);

// One pipeline stage's rank.
struct StageMemory {
  int stage = 0;
  int64_t first_layer = 0, end_layer = 0;
  int64_t params = 0;         // bytes
  int64_t grads = 0;
  bool grads_shared = false;  // in HFReduce's registered segment
  // parallel.node_shared_params: the node's one copy of the parameters and
  // its optimizer state split over the node's ranks; params and optimizer
  // are then this rank's share of them.
  bool params_shared = false;
  int64_t optimizer = 0;      // this rank's share
  int64_t optimizer_unsharded = 0;
  ActivationBytes activations_per_micro_batch;
  int64_t micro_batches_in_flight = 1;
  bool recompute = false;     // train.recompute (recompute_layers: planned as off)
  int64_t activations = 0;    // what the run will hold: per micro-batch x in flight
  int64_t comm = 0;           // HFReduce slots + ZeRO-1 buffers
  int64_t total() const { return params + grads + optimizer + activations + comm; }
};

struct MemoryPlanOptions {
  // Ranks of the job; parallel.dp, when set, decides instead (dp x pp), so
  // a single-process --dry-run plans a multi-rank job.
  int world_size = 1;
  // Ranks sharing this machine's memory; 0: parallel.ranks_per_node, else
  // every rank of the job.
  int ranks_on_machine = 0;
};

struct MemoryPlan {
  int64_t micro_batch = 0, seq_len = 0, dp = 1, pp = 1, ep = 1, zero_stage = 0;
  int ranks_on_machine = 1;
  std::vector<StageMemory> stages;

  // Largest per-rank total over the stages.
  int64_t max_rank_total() const;
  // What the ranks on one machine need together: the stages' totals spread
  // over the machine's ranks (rank r runs stage r / dp).
  int64_t machine_total() const;

  // Format(): a table, one row per component, one column per stage.
  std::string Format() const;

  // CheckFits(machine_bytes): ResourceExhausted naming the estimate, the
  // machine's memory and what to change, when machine_total() exceeds it.
  absl::Status CheckFits(int64_t machine_bytes, const std::string& machine_source) const;
};

// PlanTrainingMemory(config, options): the plan of a validated run config
// (defaults filled here).
absl::StatusOr<MemoryPlan> PlanTrainingMemory(const config::RunConfig& config,
                                              const MemoryPlanOptions& options);

// MachineMemory(): bytes this process may use: MemTotal from /proc/meminfo,
// lowered by a cgroup limit (v2 memory.max, v1 memory.limit_in_bytes).
// `source` says which.
int64_t MachineMemory(std::string* source = nullptr);

// CheckTrainingMemory(config, print): the plan of this job (world size and
// ranks on this machine from MPI when running under mpirun), printed to
// stdout by rank 0 when `print`, and refused (ResourceExhausted) when this
// machine cannot hold it. `hai train` calls it before creating anything.
absl::Status CheckTrainingMemory(const config::RunConfig& config, bool print);

// FormatBytes(1536 << 20) == "1.50 GiB".
std::string FormatBytes(int64_t bytes);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_MEMORY_PLAN_H_
