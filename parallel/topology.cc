// File: parallel/topology.cc — see topology.h.
#include "parallel/topology.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace hs::parallel {

absl::StatusOr<Topology> Topology::Create(const TopologySpec& s) {
  Topology t;
  t.pp_ = s.pp <= 1 ? 1 : s.pp;
  t.ep_ = s.ep <= 1 ? 1 : s.ep;
  t.world_ = s.world;
  std::vector<std::string> errors;
  if (s.world < 1) errors.push_back(absl::StrCat("world: must be >= 1, got ", s.world));
  if (s.pp < 0) errors.push_back(absl::StrCat("parallel.pp: must be >= 0, got ", s.pp));
  if (s.ep < 0) errors.push_back(absl::StrCat("parallel.ep: must be >= 0, got ", s.ep));
  if (s.dp < 0) errors.push_back(absl::StrCat("parallel.dp: must be >= 0, got ", s.dp));
  t.dp_ = s.dp > 0 ? s.dp : (s.world >= 1 && s.world % t.pp_ == 0 ? s.world / t.pp_ : 0);
  if (t.dp_ * t.pp_ != s.world) {
    errors.push_back(absl::StrCat("parallel.dp x parallel.pp: ", t.dp_, " x ", t.pp_, " = ",
                                  t.dp_ * t.pp_, " but the job has ", s.world, " ranks"));
  }
  if (t.dp_ > 0 && t.dp_ % t.ep_ != 0) {
    errors.push_back(absl::StrCat("parallel.ep: ", t.ep_, " must divide parallel.dp (", t.dp_, ")"));
  }
  if (t.ep_ > 1 && (s.n_routed_experts <= 0 || s.n_routed_experts % t.ep_ != 0)) {
    errors.push_back(absl::StrCat("parallel.ep: ", t.ep_, " must divide model.n_routed_experts (",
                                  s.n_routed_experts, ")"));
  }
  if (s.num_layers < t.pp_) {
    errors.push_back(absl::StrCat("parallel.pp: ", t.pp_, " stages but model.num_hidden_layers is ",
                                  s.num_layers));
  }
  if (s.micro_batches < t.pp_) {
    errors.push_back(absl::StrCat("parallel.micro_batches: ", s.micro_batches,
                                  " is fewer than the ", t.pp_, " pipeline stages"));
  }
  if (!errors.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(absl::StrJoin(errors, "\n"), "\n(world=", s.world,
                                                   " dp=", s.dp, " pp=", s.pp, " ep=", s.ep, ")"));
  }
  return t;
}

RankCoords Topology::Coords(int64_t rank) const {
  RankCoords c;
  c.rank = rank;
  c.stage = rank / dp_;
  c.dp_rank = rank % dp_;
  c.ep_group = c.dp_rank / ep_;
  c.ep_rank = c.dp_rank % ep_;
  return c;
}

std::vector<int64_t> Topology::DpGroup(int64_t stage) const {
  std::vector<int64_t> g;
  for (int64_t d = 0; d < dp_; ++d) g.push_back(stage * dp_ + d);
  return g;
}

std::vector<int64_t> Topology::EpGroup(int64_t stage, int64_t ep_group) const {
  std::vector<int64_t> g;
  for (int64_t e = 0; e < ep_; ++e) g.push_back(stage * dp_ + ep_group * ep_ + e);
  return g;
}

std::vector<int64_t> Topology::PipelineGroup(int64_t dp_rank) const {
  std::vector<int64_t> g;
  for (int64_t s = 0; s < pp_; ++s) g.push_back(s * dp_ + dp_rank);
  return g;
}

std::vector<int64_t> Topology::ExpertReplicaGroup(int64_t rank) const {
  RankCoords c = Coords(rank);
  std::vector<int64_t> g;
  for (int64_t grp = 0; grp < dp_ / ep_; ++grp) g.push_back(c.stage * dp_ + grp * ep_ + c.ep_rank);
  return g;
}

std::vector<std::pair<int64_t, int64_t>> Topology::BalancedLayerSplit(int64_t num_layers) const {
  std::vector<std::pair<int64_t, int64_t>> split;
  int64_t begin = 0;
  for (int64_t s = 0; s < pp_; ++s) {
    int64_t n = num_layers / pp_ + (s < num_layers % pp_ ? 1 : 0);
    split.push_back({begin, begin + n});
    begin += n;
  }
  return split;
}

std::string Topology::ToString() const {
  return absl::StrCat("world=", world_, " (pp=", pp_, " x dp=", dp_, "), ep=", ep_,
                      " (", dp_ / ep_, " expert replicas per stage)");
}

}  // namespace hs::parallel
