// File: haiscale/train/memory_plan.cc — see memory_plan.h.
#include "haiscale/train/memory_plan.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/config/config.h"
#include "haiscale/status.h"
#include "haiscale/train/batch_layout.h"
#include "haiscale/config/model_config_convert.h"
#include "models/model_config.h"
#include "parallel/mpi_env.h"
#include "parallel/topology.h"

namespace hs::train {
namespace {

constexpr int64_t kF = 4;  // bytes of an f32 / i32 element

// What one block saves for its backward, per micro-batch (BlockSaved and
// the MlaSaved / MlpSaved / MoeSaved inside it), in bytes. `expert_parallel`:
// the routed experts are sharded over ranks (the expert rows then come back
// in slot order, see below).
int64_t BlockSavedBytes(const models::DeepseekV2Config& c, int64_t layer, int64_t B,
                        int64_t T, bool expert_parallel) {
  const int64_t N = B * T, C = c.hidden_size, H = c.num_attention_heads;
  const int64_t Dq = c.q_head_dim(), Dv = c.v_head_dim, L = c.kv_lora_rank;
  int64_t f = 3 * N * C + 2 * N;  // h1, x2, h2; rstd1, rstd2
  // MLA
  if (c.q_lora_rank > 0) f += 2 * N * c.q_lora_rank + N;  // q_a, q_a_norm, rstd
  f += N * H * Dq;                                          // q
  f += N * (L + c.qk_rope_head_dim);                        // kv_a
  f += 2 * N * L + N;                                       // c_kv, c_kv_norm, rstd
  f += N * H * (c.qk_nope_head_dim + Dv);                   // kv
  f += N * H * Dq + N * H * Dv;                             // k, v
  f += N * H * Dv + N * H;                                  // attn, lse
  if (c.IsMoeLayer(layer)) {
    const int64_t E = c.n_routed_experts, K = c.num_experts_per_tok, I = c.moe_intermediate_size;
    const int64_t R = N * K;                      // routed rows (no capacity drop)
    f += N * E + 3 * N * K + B * E;               // scores, idx/topk/weights, aux_f
    f += 2 * R * C + R * 3 * I;                   // expert_in, expert_out; gate_up, act
    // The MoE combine reads the local experts' rows where they are; a copy
    // in slot order (slot_out) is kept only when the rows come back from
    // other ranks or a capacity may have dropped some (moe.cc).
    if (expert_parallel || c.capacity_factor > 0) f += N * K * C;  // slot_out
    const int64_t Is = I * c.n_shared_experts;
    f += N * 3 * Is;                              // shared gate_up, act
  } else {
    f += N * 3 * c.intermediate_size;             // gate_up, act
  }
  return f * kF;
}

}  // namespace

ParamCounts CountStageParams(const models::DeepseekV2Config& c, int64_t first, int64_t end,
                             bool embedding, bool head) {
  // Worked out from the shapes rather than by registering the parameters:
  // a config with 10^4 layers of 6.5 x 10^4 experts (what validation
  // allows) must plan in microseconds, not build 10^9 ParamSpecs.
  const int64_t C = c.hidden_size, V = c.vocab_size, H = c.num_attention_heads;
  const int64_t Dq = c.q_head_dim(), L = c.kv_lora_rank, Q = c.q_lora_rank;
  ParamCounts n;
  auto add = [&n](int64_t count, bool routed = false) {
    (routed ? n.routed : n.dense) += count;
    n.largest = std::max(n.largest, count);
  };
  if (embedding) add(V * C);
  for (int64_t l = first; l < end; ++l) {
    if (Q > 0) {
      add(Q * C), add(Q), add(H * Dq * Q);     // q_a_proj, q_a_layernorm, q_b_proj
    } else {
      add(H * Dq * C);                         // q_proj
    }
    add((L + c.qk_rope_head_dim) * C);         // kv_a_proj_with_mqa
    add(L);                                    // kv_a_layernorm
    add(H * (c.qk_nope_head_dim + c.v_head_dim) * L);  // kv_b_proj
    add(C * H * c.v_head_dim);                 // o_proj
    if (c.IsMoeLayer(l)) {
      const int64_t I = c.moe_intermediate_size;
      add(c.n_routed_experts * C);             // gate
      for (int k = 0; k < 3; ++k) {            // gate_proj, up_proj, down_proj
        n.routed += c.n_routed_experts * I * C;
        n.largest = std::max(n.largest, I * C);
        if (c.n_shared_experts > 0) add(c.n_shared_experts * I * C);
      }
    } else {
      for (int k = 0; k < 3; ++k) add(c.intermediate_size * C);
    }
    add(C), add(C);                            // input / post-attention norms
  }
  if (head) add(C), add(V * C);                // model.norm, lm_head
  return n;
}

ActivationBytes EstimateActivationBytes(const models::DeepseekV2Config& c, int64_t first,
                                        int64_t end, bool embedding, bool head, int64_t B,
                                        int64_t T, bool expert_parallel) {
  const int64_t N = B * T, C = c.hidden_size, V = c.vocab_size;
  int64_t sum_blocks = 0, max_block = 0;
  for (int64_t l = first; l < end; ++l) {
    const int64_t b = BlockSavedBytes(c, l, B, T, expert_parallel);
    sum_blocks += b;
    max_block = std::max(max_block, b);
  }
  const int64_t residuals = (end - first + 1) * N * C * kF;  // block inputs + output
  // The head keeps hN, rstdN, logits (reused as dlogits), lse, targets,
  // plus a [N] loss vector during the forward.
  const int64_t head_bytes = head ? (N * C + N * V + 4 * N) * kF : 0;
  const int64_t tokens = embedding ? N * kF : 0;
  // A block's backward allocates gradients of its saved tensors; measured
  // on the CPU backend they peak at about two thirds of what the block
  // saved, next to the two [N, C] residual gradients it ping-pongs. The
  // head's tensors are gone (dlogits reuses the logits) before the first
  // block's backward starts, so the larger of the two counts.
  const int64_t backward_scratch = 2 * max_block / 3 + 2 * N * C * kF;
  const int64_t tail = std::max(head_bytes, backward_scratch);
  ActivationBytes a;
  a.full = residuals + sum_blocks + tokens + tail;
  // Recompute: only the block being rebuilt holds its activations.
  a.recompute = residuals + max_block + tokens + tail;
  // Inference: two residual buffers, then one block's intermediates at a
  // time, then the head's.
  a.inference = 2 * N * C * kF + std::max(max_block, head_bytes);
  return a;
}

int64_t MemoryPlan::max_rank_total() const {
  int64_t m = 0;
  for (const StageMemory& s : stages) m = std::max(m, s.total());
  return m;
}

int64_t MemoryPlan::machine_total() const {
  // Ranks r = stage * dp + dp_rank; the machine holds ranks_on_machine of
  // them. Take the worst window of consecutive ranks.
  const int64_t world = dp * pp;
  const int64_t n = std::min<int64_t>(ranks_on_machine, world);
  int64_t worst = 0;
  for (int64_t first = 0; first + n <= world; first += n) {
    int64_t sum = 0;
    for (int64_t r = first; r < first + n; ++r) sum += stages[r / dp].total();
    worst = std::max(worst, sum);
  }
  return worst;
}

std::string FormatBytes(int64_t bytes) {
  const double b = double(bytes);
  if (b >= double(int64_t{1} << 30)) return absl::StrFormat("%.2f GiB", b / double(int64_t{1} << 30));
  if (b >= double(1 << 20)) return absl::StrFormat("%.1f MiB", b / double(1 << 20));
  if (b >= 1024) return absl::StrFormat("%.1f KiB", b / 1024);
  return absl::StrCat(bytes, " B");
}

std::string MemoryPlan::Format() const {
  std::string out = absl::StrFormat(
      "memory plan per rank (micro-batch %d x %d tokens, dp %d, pp %d, ep %d, zero %d):\n",
      micro_batch, seq_len, dp, pp, ep, zero_stage);
  auto row = [&](const std::string& label, auto value) {
    out += absl::StrFormat("  %-34s", label);
    for (const StageMemory& s : stages) out += absl::StrFormat(" %12s", value(s));
    out += "\n";
  };
  if (stages.size() > 1) {
    row("stage", [](const StageMemory& s) {
      return absl::StrCat(s.stage, " [", s.first_layer, ",", s.end_layer, ")");
    });
  }
  row(stages.front().params_shared ? "parameters (node-shared, share)" : "parameters",
      [](const StageMemory& s) { return FormatBytes(s.params); });
  row(stages.front().grads_shared ? "gradients (HFReduce shared)" : "gradients",
      [](const StageMemory& s) { return FormatBytes(s.grads); });
  row(zero_stage == 1                   ? "optimizer state (ZeRO-1 share)"
      : stages.front().params_shared ? "optimizer state (node share)"
                                     : "optimizer state",
      [](const StageMemory& s) { return FormatBytes(s.optimizer); });
  if (zero_stage == 1 || stages.front().params_shared) {
    row("  (unsharded)", [](const StageMemory& s) { return FormatBytes(s.optimizer_unsharded); });
  }
  row("activations / micro-batch", [](const StageMemory& s) {
    return FormatBytes(s.activations_per_micro_batch.full);
  });
  row("  with recompute", [](const StageMemory& s) {
    return FormatBytes(s.activations_per_micro_batch.recompute);
  });
  row("micro-batches in flight", [](const StageMemory& s) {
    return absl::StrCat(s.micro_batches_in_flight);
  });
  row(stages.front().recompute ? "activations (recompute)" : "activations",
      [](const StageMemory& s) { return FormatBytes(s.activations); });
  row("HFReduce slots + ZeRO buffers", [](const StageMemory& s) { return FormatBytes(s.comm); });
  row("total", [](const StageMemory& s) { return FormatBytes(s.total()); });
  out += absl::StrFormat("  this machine: %d rank(s), %s\n", ranks_on_machine,
                         FormatBytes(machine_total()));
  return out;
}

absl::Status MemoryPlan::CheckFits(int64_t machine_bytes, const std::string& source) const {
  const int64_t need = machine_total();
  if (machine_bytes <= 0 || need <= machine_bytes) return absl::OkStatus();
  const StageMemory* worst = &stages.front();
  for (const StageMemory& s : stages) {
    if (s.total() > worst->total()) worst = &s;
  }
  std::string hint;
  if (!worst->recompute && worst->activations_per_micro_batch.recompute <
                               worst->activations_per_micro_batch.full) {
    hint += " train.recompute,";
  }
  hint += " a smaller train.micro_batch_size or train.seq_len,";
  if (zero_stage == 0 && dp > 1) hint += " parallel.zero_stage 1,";
  hint += " more pipeline stages or machines, or a smaller model";
  return absl::ResourceExhaustedError(absl::StrCat(
      "memory plan: the ", ranks_on_machine, " rank(s) on this machine need an estimated ",
      FormatBytes(need), " but the machine has ", FormatBytes(machine_bytes), " (", source,
      "); per rank up to ", FormatBytes(worst->total()), " = parameters ",
      FormatBytes(worst->params), " + gradients ", FormatBytes(worst->grads),
      " + optimizer state ", FormatBytes(worst->optimizer), " + activations ",
      FormatBytes(worst->activations), " + communication ", FormatBytes(worst->comm),
      ". Try:", hint, " (hai train --dry-run prints the plan)"));
}

absl::StatusOr<MemoryPlan> PlanTrainingMemory(const config::RunConfig& config_in,
                                              const MemoryPlanOptions& options) {
  config::RunConfig config = config_in;
  config::FillDefaults(&config);
  const config::TrainConfig& tc = config.train();
  const config::ParallelConfig& pc = config.parallel();
  const models::DeepseekV2Config mc = config::ToModelConfig(config);
  MemoryPlan plan;
  plan.pp = std::max<int64_t>(1, pc.pp());
  plan.ep = std::max<int64_t>(1, pc.ep());
  plan.zero_stage = pc.zero_stage();
  plan.dp = pc.dp() > 0 ? pc.dp() : std::max<int64_t>(1, options.world_size / plan.pp);
  plan.seq_len = tc.seq_len();
  plan.ranks_on_machine = options.ranks_on_machine > 0 ? options.ranks_on_machine
                          : pc.ranks_per_node() > 0    ? int(pc.ranks_per_node())
                                                       : int(plan.dp * plan.pp);
  // Micro-batches exactly as the trainer cuts the batch (batch_layout.h).
  HS_ASSIGN_OR_RETURN(BatchLayout batch,
                      DeriveBatchLayout(config, int(plan.dp), /*dp_rank=*/0, int(plan.pp)));
  plan.micro_batch = batch.micro_batch;
  const int64_t accum = batch.micro_batches;
  HS_ASSIGN_OR_RETURN(parallel::Topology topo,
                      parallel::Topology::Create({.world = plan.dp * plan.pp, .dp = plan.dp,
                                                  .pp = plan.pp, .ep = plan.ep,
                                                  .num_layers = mc.num_hidden_layers,
                                                  .n_routed_experts = mc.n_routed_experts,
                                                  .micro_batches = std::max(accum, plan.pp)}));
  auto split = topo.BalancedLayerSplit(mc.num_hidden_layers);
  if (pc.pp_stage_layers_size() == plan.pp) {
    int64_t begin = 0;
    for (int s = 0; s < pc.pp_stage_layers_size(); ++s) {
      split[s] = {begin, begin + pc.pp_stage_layers(s)};
      begin += pc.pp_stage_layers(s);
    }
  }
  const bool adamw = config.optimizer().type() != config::OptimizerConfig::SGD;
  const int64_t state_floats = adamw ? 2 : (config.optimizer().momentum() != 0 ? 1 : 0);
  for (int64_t s = 0; s < plan.pp; ++s) {
    StageMemory st;
    st.stage = int(s);
    st.first_layer = split[s].first;
    st.end_layer = split[s].second;
    const ParamCounts counts = CountStageParams(mc, st.first_layer, st.end_layer, s == 0,
                                                s == plan.pp - 1);
    const int64_t dense = counts.dense, experts = counts.routed, largest = counts.largest;
    // Under EP a rank holds n_routed_experts / ep of the routed experts.
    const int64_t floats = dense + experts / plan.ep;
    const int64_t padded = (floats + 15) / 16 * 16;
    st.params = padded * kF;
    st.grads = padded * kF;
    st.optimizer_unsharded = floats * state_floats * kF;
    st.optimizer = plan.zero_stage == 1 && plan.dp > 1
                       ? (floats + plan.dp - 1) / plan.dp * state_floats * kF
                       : st.optimizer_unsharded;
    const bool hfreduce = plan.dp > 1 && pc.allreduce() != config::ParallelConfig::MPI;
    st.grads_shared = hfreduce && plan.zero_stage == 0 && !pc.hfreduce_copy_grads();
    const int64_t local_dp =
        std::max<int64_t>(1, std::min<int64_t>(plan.ranks_on_machine, plan.dp));
    st.params_shared = st.grads_shared && pc.node_shared_params();
    if (st.params_shared) {
      st.params = (padded + local_dp - 1) / local_dp * kF;
      st.optimizer = (floats + local_dp - 1) / local_dp * state_floats * kF;
    }
    if (hfreduce) {
      // The node pipeline: pipeline_depth buffers of (local ranks + 2)
      // slots, the node's segment shared by its ranks.
      st.comm += pc.hfreduce_pipeline_depth() * (local_dp + 2) * (pc.hfreduce_chunk_kb() << 10) /
                 std::max<int64_t>(1, local_dp);
    }
    if (plan.zero_stage == 1 && plan.dp > 1) {
      // Ddp's scratch + gather (largest bucket) and two parts of 1/dp.
      const int64_t bucket =
          std::min(floats, int64_t(pc.bucket_mb() * (1 << 20)) / kF + largest);
      st.comm += (2 * bucket + 2 * (bucket / plan.dp + 1)) * kF;
    }
    st.activations_per_micro_batch =
        EstimateActivationBytes(mc, st.first_layer, st.end_layer, s == 0, s == plan.pp - 1,
                                plan.micro_batch, plan.seq_len, plan.ep > 1);
    // 1F1B / ZB-H1: stage s starts pp - s forwards before its first
    // backward; without a pipeline one micro-batch at a time.
    st.micro_batches_in_flight = plan.pp > 1 ? std::min<int64_t>(plan.pp - s, accum) : 1;
    // recompute_layers alone is planned as no recomputation (an upper bound).
    st.recompute = tc.recompute();
    const ActivationBytes& a = st.activations_per_micro_batch;
    const int64_t per_mb = tc.recompute() ? a.recompute : a.full;
    st.activations = per_mb * st.micro_batches_in_flight;
    plan.stages.push_back(st);
  }
  return plan;
}

int64_t MachineMemory(std::string* source) {
  int64_t bytes = 0;
  std::string from = "MemTotal in /proc/meminfo";
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  std::string unit;
  while (meminfo >> key >> kb >> unit) {
    if (key == "MemTotal:") {
      bytes = kb * 1024;
      break;
    }
  }
  for (const char* path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream f(path);
    std::string value;
    if (!(f >> value) || value == "max") continue;
    const int64_t limit = std::atoll(value.c_str());
    if (limit > 0 && (bytes == 0 || limit < bytes)) {
      bytes = limit;
      from = absl::StrCat("cgroup limit ", path);
    }
  }
  if (source != nullptr) *source = from;
  return bytes;
}

absl::Status CheckTrainingMemory(const config::RunConfig& config, bool print) {
  MemoryPlanOptions o;
  int rank = 0;
  if (parallel::MpiEnv::active()) {
    o.world_size = parallel::MpiEnv::size();
    rank = parallel::MpiEnv::rank();
    // The ranks sharing this machine's memory (parallel.ranks_per_node only
    // regroups them for HFReduce).
    o.ranks_on_machine = parallel::RanksOnThisMachine();
  }
  HS_ASSIGN_OR_RETURN(MemoryPlan plan, PlanTrainingMemory(config, o));
  std::string source;
  const int64_t machine = MachineMemory(&source);
  if (print && rank == 0) {
    std::printf("%s  machine memory: %s (%s)\n", plan.Format().c_str(),
                FormatBytes(machine).c_str(), source.c_str());
    std::fflush(stdout);
  }
  return plan.CheckFits(machine, source);
}

}  // namespace hs::train
