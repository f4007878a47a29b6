// File: parallel/topology.h
//
// Topology: the one place that knows the degree arithmetic of a run.
// world = pp x dp; the EP group is a subgroup of the DP group (experts are
// sharded across it, everything else is replicated over dp). There is no
// tensor parallelism (on PCIe nodes it costs more bandwidth than it saves).
//
// Rank layout: rank = stage * dp + dp_rank, so the ranks of one pipeline
// stage are consecutive (one node holds whole DP groups when it can, which
// keeps HFReduce's intra-node phase busy) and ep groups are consecutive
// runs of ep DP ranks.
//
//   pp=2, dp=4, ep=2:   stage 0: ranks 0 1 2 3   (ep groups {0,1} {2,3})
//                       stage 1: ranks 4 5 6 7   (ep groups {4,5} {6,7})
//
// Usage:
//   HS_ASSIGN_OR_RETURN(Topology topo, Topology::Create({.world = 8, .dp = 4, .pp = 2, .ep = 2,
//                                                        ...model facts...}));
//   RankCoords c = topo.Coords(rank);
#ifndef PARALLEL_TOPOLOGY_H_
#define PARALLEL_TOPOLOGY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::parallel {

struct TopologySpec {
  int64_t world = 1;
  int64_t dp = 0;            // 0: world / pp
  int64_t pp = 1;            // 0 or 1: no pipeline
  int64_t ep = 1;            // 0 or 1: no expert parallelism
  // Model and batch facts the degrees must agree with.
  int64_t num_layers = 1;
  int64_t n_routed_experts = 0;
  int64_t micro_batches = 1;  // per step, per pipeline
};

struct RankCoords {
  int64_t rank = 0;
  int64_t stage = 0;     // pipeline stage
  int64_t dp_rank = 0;   // index in the DP group of its stage
  int64_t ep_rank = 0;   // index in its EP group
  int64_t ep_group = 0;  // which EP group of its stage
};

class Topology {
 public:
  // Create: validates dp * pp == world, ep | dp, ep | n_routed_experts,
  // num_layers >= pp, micro_batches >= pp. One error lists every problem,
  // each naming its field, followed by the degrees.
  static absl::StatusOr<Topology> Create(const TopologySpec& spec);

  int64_t world() const { return world_; }
  int64_t dp() const { return dp_; }
  int64_t pp() const { return pp_; }
  int64_t ep() const { return ep_; }

  RankCoords Coords(int64_t rank) const;
  // Ranks of the DP group of `stage` (size dp), of an EP group (size ep),
  // and of the pipeline through `dp_rank` (size pp), in order.
  std::vector<int64_t> DpGroup(int64_t stage) const;
  std::vector<int64_t> EpGroup(int64_t stage, int64_t ep_group) const;
  std::vector<int64_t> PipelineGroup(int64_t dp_rank) const;
  // Ranks holding the same experts as `rank` (same stage, same ep_rank):
  // expert gradients are reduced over these only.
  std::vector<int64_t> ExpertReplicaGroup(int64_t rank) const;

  // Stage layer split: contiguous, balanced (the first layers % pp stages
  // get one more). Returns [begin, end) per stage.
  std::vector<std::pair<int64_t, int64_t>> BalancedLayerSplit(int64_t num_layers) const;

  std::string ToString() const;

 private:
  int64_t world_ = 1, dp_ = 1, pp_ = 1, ep_ = 1;
};

}  // namespace hs::parallel

#endif  // PARALLEL_TOPOLOGY_H_
