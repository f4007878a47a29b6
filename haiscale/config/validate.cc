// File: haiscale/config/validate.cc
//
// ValidateConfig / ValidateModelConfig (declared in config.h): every
// impossible or unsupported value is reported as "section.field: reason",
// all of them at once, one per line.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "haiscale/config/config.h"

namespace hs::config {
namespace {

// Accumulates "field: reason" lines.
class Problems {
 public:
  // Records "field: reason" when `ok` is false; returns `ok`.
  template <typename... Parts>
  bool Require(bool ok, const std::string& field, const Parts&... reason) {
    if (!ok) lines_.push_back(absl::StrCat(field, ": ", reason...));
    return ok;
  }

  absl::Status ToStatus() const {
    if (lines_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(absl::StrJoin(lines_, "\n"));
  }

 private:
  std::vector<std::string> lines_;
};

// Requires value > 0 for a size-like field.
void Positive(Problems& p, const std::string& field, int64_t value) {
  p.Require(value > 0, field, "must be > 0, got ", value);
}

// Requires value >= 0.
void NonNegative(Problems& p, const std::string& field, double value) {
  p.Require(value >= 0, field, "must be >= 0, got ", value);
}

// Upper bounds on the counts that multiply per-layer and per-expert
// bookkeeping. Far above any released DeepSeek model (60 layers, 160 routed
// experts for V2; 61 and 256 for V3), low enough that a typo such as
// num_hidden_layers=1000000000 is refused here instead of growing memory
// until the kernel kills the process. Byte sizes are the memory plan's job.
constexpr int64_t kMaxHiddenLayers = 10000;
constexpr int64_t kMaxRoutedExperts = 65536;

// Requires value <= bound for a count with a sanity bound.
void AtMost(Problems& p, const std::string& field, int64_t value, int64_t bound) {
  p.Require(value <= bound, field, value, " exceeds the supported maximum of ", bound);
}

void CheckModel(const ModelConfig& m, Problems& p) {
  AtMost(p, "model.num_hidden_layers", m.num_hidden_layers(), kMaxHiddenLayers);
  AtMost(p, "model.n_routed_experts", m.n_routed_experts(), kMaxRoutedExperts);
  AtMost(p, "model.n_shared_experts", m.n_shared_experts(), kMaxRoutedExperts);
  Positive(p, "model.vocab_size", m.vocab_size());
  Positive(p, "model.hidden_size", m.hidden_size());
  Positive(p, "model.intermediate_size", m.intermediate_size());
  Positive(p, "model.num_hidden_layers", m.num_hidden_layers());
  Positive(p, "model.num_attention_heads", m.num_attention_heads());
  if (p.Require(m.num_key_value_heads() > 0, "model.num_key_value_heads",
                "must be > 0, got ", m.num_key_value_heads()) &&
      m.num_attention_heads() > 0) {
    p.Require(m.num_attention_heads() % m.num_key_value_heads() == 0,
              "model.num_key_value_heads",
              "must divide num_attention_heads (", m.num_attention_heads(),
              "), got ", m.num_key_value_heads());
    p.Require(m.num_key_value_heads() == m.num_attention_heads(),
              "model.num_key_value_heads", "must equal num_attention_heads (",
              m.num_attention_heads(), "): MLA has no grouped keys/values, got ",
              m.num_key_value_heads());
  }

  // MLA.
  p.Require(m.kv_lora_rank() > 0, "model.kv_lora_rank", "must be > 0, got ",
            m.kv_lora_rank());
  p.Require(m.q_lora_rank() >= 0, "model.q_lora_rank",
            "must be >= 0 (absent/0 = plain q_proj), got ", m.q_lora_rank());
  if (p.Require(m.qk_rope_head_dim() > 0, "model.qk_rope_head_dim",
                "must be > 0, got ", m.qk_rope_head_dim())) {
    p.Require(m.qk_rope_head_dim() % 2 == 0, "model.qk_rope_head_dim",
              "must be even (RoPE rotates pairs), got ", m.qk_rope_head_dim());
  }
  Positive(p, "model.qk_nope_head_dim", m.qk_nope_head_dim());
  Positive(p, "model.v_head_dim", m.v_head_dim());

  // MoE.
  p.Require(m.n_routed_experts() >= 0, "model.n_routed_experts",
            "must be >= 0 (0 = dense), got ", m.n_routed_experts());
  p.Require(m.n_shared_experts() >= 0, "model.n_shared_experts",
            "must be >= 0, got ", m.n_shared_experts());
  p.Require(m.num_experts_per_tok() >= 0, "model.num_experts_per_tok",
            "must be >= 0, got ", m.num_experts_per_tok());
  p.Require(m.num_experts_per_tok() <= std::max<int64_t>(m.n_routed_experts(), 0),
            "model.num_experts_per_tok", m.num_experts_per_tok(),
            " exceeds n_routed_experts (", m.n_routed_experts(), ")");
  p.Require(m.topk_method() == "greedy" ||
                m.topk_method() == "group_limited_greedy",
            "model.topk_method",
            "must be \"greedy\" or \"group_limited_greedy\", got \"",
            m.topk_method(), "\"");
  p.Require(m.n_group() >= 0, "model.n_group", "must be >= 0, got ",
            m.n_group());
  p.Require(m.topk_group() >= 0, "model.topk_group", "must be >= 0, got ",
            m.topk_group());
  if (m.n_group() > 0 && m.n_routed_experts() > 0) {
    p.Require(m.n_routed_experts() % m.n_group() == 0, "model.n_group",
              "must divide n_routed_experts (", m.n_routed_experts(),
              "), got ", m.n_group());
  }
  if (m.n_group() > 0 || m.topk_group() > 0) {
    p.Require(m.topk_group() <= m.n_group(), "model.topk_group",
              m.topk_group(), " exceeds n_group (", m.n_group(), ")");
  }
  p.Require(m.scoring_func() == "softmax", "model.scoring_func",
            "only \"softmax\" is supported (DeepSeek-V2), got \"",
            m.scoring_func(), "\"");
  p.Require(m.ep_size() > 0, "model.ep_size", "must be > 0, got ",
            m.ep_size());
  p.Require(m.first_k_dense_replace() >= 0 &&
                m.first_k_dense_replace() <= m.num_hidden_layers(),
            "model.first_k_dense_replace", "must be in [0, num_hidden_layers=",
            m.num_hidden_layers(), "], got ", m.first_k_dense_replace());
  NonNegative(p, "model.aux_loss_alpha", m.aux_loss_alpha());
  if (m.n_routed_experts() > 0) {
    p.Require(m.num_experts_per_tok() > 0, "model.num_experts_per_tok",
              "must be > 0 when n_routed_experts > 0 (MoE)");
    p.Require(m.moe_layer_freq() > 0, "model.moe_layer_freq",
              "must be > 0 when n_routed_experts > 0 (MoE), got ",
              m.moe_layer_freq());
    Positive(p, "model.moe_intermediate_size", m.moe_intermediate_size());
    p.Require(m.routed_scaling_factor() > 0, "model.routed_scaling_factor",
              "must be > 0, got ", m.routed_scaling_factor());
    if (m.ep_size() > 0) {
      p.Require(m.n_routed_experts() % m.ep_size() == 0, "model.ep_size",
                "must divide n_routed_experts (", m.n_routed_experts(),
                "), got ", m.ep_size());
    }
    if (m.topk_method() == "group_limited_greedy") {
      if (p.Require(m.n_group() > 0, "model.n_group",
                    "must be > 0 for topk_method \"group_limited_greedy\"") &&
          p.Require(m.topk_group() > 0, "model.topk_group",
                    "must be > 0 for topk_method \"group_limited_greedy\"") &&
          m.n_routed_experts() % m.n_group() == 0) {
        const int64_t reachable =
            m.topk_group() * (m.n_routed_experts() / m.n_group());
        p.Require(m.num_experts_per_tok() <= reachable,
                  "model.num_experts_per_tok", m.num_experts_per_tok(),
                  " exceeds the experts in topk_group groups (", reachable, ")");
      }
    }
  } else {
    p.Require(m.n_shared_experts() == 0, "model.n_shared_experts",
              "shared experts need MoE (n_routed_experts > 0), got ",
              m.n_shared_experts());
  }

  p.Require(m.hidden_act() == "silu", "model.hidden_act",
            "only \"silu\" is supported (SwiGLU), got \"", m.hidden_act(),
            "\"");
  Positive(p, "model.max_position_embeddings", m.max_position_embeddings());
  p.Require(m.initializer_range() > 0, "model.initializer_range",
            "must be > 0, got ", m.initializer_range());
  p.Require(m.rms_norm_eps() > 0, "model.rms_norm_eps", "must be > 0, got ",
            m.rms_norm_eps());
  p.Require(m.rope_theta() > 0, "model.rope_theta", "must be > 0, got ",
            m.rope_theta());
  if (m.has_pad_token_id()) {
    NonNegative(p, "model.pad_token_id", m.pad_token_id());
  }
  NonNegative(p, "model.bos_token_id", m.bos_token_id());
  NonNegative(p, "model.eos_token_id", m.eos_token_id());
  p.Require(m.pretraining_tp() == 1, "model.pretraining_tp",
            "only 1 is supported, got ", m.pretraining_tp());
  p.Require(!m.tie_word_embeddings(), "model.tie_word_embeddings",
            "true is unsupported: DeepSeek-V2 has an untied lm_head");
  p.Require(!m.attention_bias(), "model.attention_bias",
            "true is unsupported: DeepSeek-V2's attention projections have no "
            "bias");
  p.Require(m.attention_dropout() == 0, "model.attention_dropout",
            "only 0 is supported, got ", m.attention_dropout());

  if (m.has_rope_scaling()) {
    const RopeScaling& r = m.rope_scaling();
    p.Require(r.type() == "yarn", "model.rope_scaling.type",
              "only \"yarn\" is supported, got \"", r.type(), "\"");
    p.Require(r.factor() >= 1, "model.rope_scaling.factor",
              "must be >= 1, got ", r.factor());
    Positive(p, "model.rope_scaling.original_max_position_embeddings",
             r.original_max_position_embeddings());
    p.Require(r.beta_fast() > r.beta_slow() && r.beta_slow() > 0,
              "model.rope_scaling.beta_fast",
              "need beta_fast > beta_slow > 0, got beta_fast=", r.beta_fast(),
              " beta_slow=", r.beta_slow());
    NonNegative(p, "model.rope_scaling.mscale", r.mscale());
    NonNegative(p, "model.rope_scaling.mscale_all_dim", r.mscale_all_dim());
  }
}

void CheckTrain(const RunConfig& c, Problems& p) {
  const TrainConfig& t = c.train();
  const int64_t dp = std::max<int64_t>(c.parallel().dp(), 1);
  Positive(p, "train.steps", t.steps());
  const bool batch_ok = p.Require(t.global_batch_size() > 0,
                                  "train.global_batch_size",
                                  "must be > 0, got ", t.global_batch_size());
  p.Require(t.micro_batch_size() >= 0, "train.micro_batch_size",
            "must be >= 0 (0 = no accumulation), got ", t.micro_batch_size());
  if (batch_ok && t.micro_batch_size() > 0) {
    if (p.Require(t.global_batch_size() % t.micro_batch_size() == 0,
                  "train.global_batch_size", "must be a multiple of "
                  "micro_batch_size (", t.micro_batch_size(), "), got ",
                  t.global_batch_size())) {
      p.Require(t.global_batch_size() % (t.micro_batch_size() * dp) == 0,
                "train.global_batch_size",
                "must be a multiple of micro_batch_size * parallel.dp (",
                t.micro_batch_size(), " * ", dp, "), got ",
                t.global_batch_size());
    }
  } else if (batch_ok) {
    p.Require(t.global_batch_size() % dp == 0, "train.global_batch_size",
              "must be a multiple of parallel.dp (", dp, "), got ",
              t.global_batch_size());
  }
  Positive(p, "train.seq_len", t.seq_len());
  if (t.seq_len() > 0) {
    p.Require(t.seq_len() <= c.model().max_position_embeddings(),
              "train.seq_len", t.seq_len(),
              " exceeds model.max_position_embeddings (",
              c.model().max_position_embeddings(), ")");
  }
  p.Require(!t.output_dir().empty(), "train.output_dir", "must not be empty");
  Positive(p, "train.log_every", t.log_every());
  NonNegative(p, "train.save_every", t.save_every());
  NonNegative(p, "train.threads", t.threads());
  for (int64_t layer : t.recompute_layers()) {
    p.Require(layer >= 0 && layer < c.model().num_hidden_layers(),
              "train.recompute_layers", "block ", layer,
              " is not in [0, model.num_hidden_layers=",
              c.model().num_hidden_layers(), ")");
  }
  if (t.device() == config::TrainConfig::CUDA) {
    // The GPU step (models/cuda_model) covers the data-parallel layout with
    // AdamW; everything else would be silently different, so refuse it.
    p.Require(c.parallel().pp() <= 1, "train.device",
              "CUDA trains data parallel only; parallel.pp is ", c.parallel().pp());
    p.Require(c.parallel().ep() <= 1, "train.device",
              "CUDA trains data parallel only; parallel.ep is ", c.parallel().ep());
    p.Require(c.parallel().zero_stage() == 0, "train.device",
              "CUDA keeps the whole AdamW state per rank; parallel.zero_stage must be 0");
    p.Require(c.parallel().allreduce() != config::ParallelConfig::MPI, "train.device",
              "CUDA reduces gradients with HFReduce; parallel.allreduce MPI is CPU only");
    p.Require(c.optimizer().type() == config::OptimizerConfig::ADAMW, "train.device",
              "CUDA implements AdamW only; optimizer.type is SGD");
    p.Require(!t.recompute() && t.recompute_layers_size() == 0, "train.device",
              "CUDA keeps every activation; train.recompute / recompute_layers are CPU only");
  }
  NonNegative(p, "train.eval_every", t.eval_every());
  Positive(p, "train.eval_batches", t.eval_batches());
  if (t.eval_every() > 0) {
    p.Require(!c.data().eval_path().empty(), "train.eval_every",
              "is set but data.eval_path is empty");
  }
}

void CheckOptimizer(const OptimizerConfig& o, Problems& p) {
  NonNegative(p, "optimizer.lr", o.lr());
  p.Require(o.beta1() >= 0 && o.beta1() < 1, "optimizer.beta1",
            "must be in [0, 1), got ", o.beta1());
  p.Require(o.beta2() >= 0 && o.beta2() < 1, "optimizer.beta2",
            "must be in [0, 1), got ", o.beta2());
  p.Require(o.eps() > 0, "optimizer.eps", "must be > 0, got ", o.eps());
  NonNegative(p, "optimizer.weight_decay", o.weight_decay());
  NonNegative(p, "optimizer.grad_clip", o.grad_clip());
  p.Require(o.momentum() >= 0 && o.momentum() < 1, "optimizer.momentum",
            "must be in [0, 1), got ", o.momentum());
  p.Require(OptimizerConfig::Type_IsValid(o.type()), "optimizer.type",
            "unknown value ", static_cast<int>(o.type()));
}

void CheckSchedule(const RunConfig& c, Problems& p) {
  const ScheduleConfig& s = c.schedule();
  p.Require(ScheduleConfig::Type_IsValid(s.type()), "schedule.type",
            "unknown value ", static_cast<int>(s.type()));
  // A warmup longer than the run is allowed (a short smoke run of a long
  // config): the trainer cuts it to the run's length.
  p.Require(s.warmup_steps() >= 0, "schedule.warmup_steps",
            "must be >= 0, got ", s.warmup_steps());
  p.Require(s.min_lr_ratio() >= 0 && s.min_lr_ratio() <= 1,
            "schedule.min_lr_ratio", "must be in [0, 1], got ",
            s.min_lr_ratio());
  p.Require(s.milestones_size() == s.factors_size(), "schedule.factors",
            "must have one entry per milestone (", s.milestones_size(),
            "), got ", s.factors_size());
  for (int i = 0; i < s.milestones_size(); ++i) {
    const double m = s.milestones(i);
    p.Require(m > 0 && m <= 1, "schedule.milestones",
              "entries are fractions of train.steps in (0, 1], got ", m);
    if (i > 0) {
      p.Require(m > s.milestones(i - 1), "schedule.milestones",
                "must be increasing, got ", s.milestones(i - 1), " then ", m);
    }
  }
  for (double f : s.factors()) {
    p.Require(f > 0, "schedule.factors", "entries must be > 0, got ", f);
  }
}

void CheckData(const DataConfig& d, Problems& p) {
  p.Require(DataConfig::Format_IsValid(d.format()), "data.format",
            "unknown value ", static_cast<int>(d.format()));
  if (d.mixture_size() == 0) return;
  p.Require(d.train_path().empty(), "data.mixture",
            "set either data.train_path or data.mixture, not both");
  std::set<std::string> paths;
  for (int i = 0; i < d.mixture_size(); ++i) {
    const MixtureSource& m = d.mixture(i);
    const std::string where = absl::StrCat("data.mixture[", i, "]");
    p.Require(!m.path().empty(), where + ".path", "is empty");
    p.Require(paths.insert(m.path()).second || m.path().empty(), where + ".path",
              "'", m.path(), "' is listed twice (add the weights instead)");
    p.Require(std::isfinite(m.weight()) && m.weight() > 0, where + ".weight",
              "must be finite and > 0, got ", m.weight());
  }
}

// data.document_mask: positions reach the CPU model's MLA (every pipeline
// stage included); the CUDA step does not carry them yet.
void CheckDocumentMask(const RunConfig& c, Problems& p) {
  if (!c.data().document_mask()) return;
  p.Require(c.train().device() != TrainConfig::CUDA, "data.document_mask",
            "is not supported with train.device CUDA yet (CPU training only)");
}

// objective: the kind is known; DPO's beta and label smoothing are in range;
// post-training objectives read a prepared SFT/DPO dataset, not a mixture.
void CheckObjective(const RunConfig& c, Problems& p) {
  const ObjectiveConfig& o = c.objective();
  p.Require(ObjectiveConfig::Type_IsValid(o.type()), "objective.type", "unknown value ",
            static_cast<int>(o.type()));
  p.Require(std::isfinite(o.dpo_beta()) && o.dpo_beta() > 0, "objective.dpo_beta",
            "must be finite and > 0, got ", o.dpo_beta());
  p.Require(o.dpo_label_smoothing() >= 0 && o.dpo_label_smoothing() < 0.5,
            "objective.dpo_label_smoothing", "must be in [0, 0.5), got ",
            o.dpo_label_smoothing());
  p.Require(std::isfinite(o.dpo_rpo_alpha()) && o.dpo_rpo_alpha() >= 0, "objective.dpo_rpo_alpha",
            "must be finite and >= 0, got ", o.dpo_rpo_alpha());
  if (o.type() == ObjectiveConfig::PRETRAIN) return;
  const std::string kind = ObjectiveConfig::Type_Name(o.type());
  p.Require(c.data().mixture_size() == 0, "data.mixture",
            "is not supported with objective.type ", kind,
            " (set data.train_path to a prepared ", kind, " dataset)");
  p.Require(!c.data().document_mask(), "data.document_mask",
            "is implied by objective.type ", kind, " (its rows carry their positions); leave it unset");
  p.Require(o.type() != ObjectiveConfig::GRPO || c.parallel().pp() <= 1, "parallel.pp",
            "objective.type ", kind, " runs without pipeline parallelism yet, got ",
            c.parallel().pp());
  p.Require(c.train().device() != TrainConfig::CUDA, "train.device",
            "objective.type ", kind, " runs on the CPU path only");
}

// The expert-parallel routing knobs (docs/expert_parallel.md).
void CheckExpertRouting(const RunConfig& c, Problems& p) {
  const ParallelConfig& par = c.parallel();
  const ModelConfig& m = c.model();
  NonNegative(p, "parallel.ep_routing_devices", par.ep_routing_devices());
  NonNegative(p, "parallel.ep_device_limit", par.ep_device_limit());
  NonNegative(p, "parallel.device_balance_alpha", par.device_balance_alpha());
  NonNegative(p, "parallel.comm_balance_alpha", par.comm_balance_alpha());
  NonNegative(p, "parallel.capacity_factor", par.capacity_factor());
  const int64_t devices = par.ep_routing_devices() > 0 ? par.ep_routing_devices()
                                                       : std::max<int64_t>(par.ep(), 1);
  const int64_t E = m.n_routed_experts();
  if (par.ep_routing_devices() > 1 && E > 0) {
    p.Require(E % par.ep_routing_devices() == 0, "parallel.ep_routing_devices",
              "must divide model.n_routed_experts (", E, "), got ",
              par.ep_routing_devices());
  }
  const int64_t M = par.ep_device_limit();
  if (M > 0) {
    if (!p.Require(E > 0, "parallel.ep_device_limit",
                   "device-limited routing needs MoE (model.n_routed_experts > 0)")) {
      return;
    }
    if (!p.Require(M <= devices, "parallel.ep_device_limit", "must be <= the routing "
                   "devices (parallel.ep_routing_devices or parallel.ep = ", devices,
                   "), got ", M)) {
      return;
    }
    p.Require(m.topk_method() != "group_limited_greedy", "parallel.ep_device_limit",
              "cannot be combined with model.topk_method \"group_limited_greedy\" "
              "(both restrict the groups; with n_group = devices that method already "
              "is device-limited routing)");
    if (E % devices == 0) {
      p.Require(m.num_experts_per_tok() <= M * (E / devices), "parallel.ep_device_limit",
                M, " devices hold ", M * (E / devices),
                " experts, fewer than model.num_experts_per_tok (",
                m.num_experts_per_tok(), ")");
    }
  }
}

void CheckParallel(const RunConfig& c, Problems& p) {
  const ParallelConfig& par = c.parallel();
  NonNegative(p, "parallel.dp", par.dp());
  NonNegative(p, "parallel.pp", par.pp());
  NonNegative(p, "parallel.ep", par.ep());
  const int64_t dp = std::max<int64_t>(par.dp(), 1);
  const int64_t ep = std::max<int64_t>(par.ep(), 1);
  if (ep > 1) {
    // parallel.dp 0 = "the job's ranks / pp": the topology checks it then.
    if (par.dp() > 0) {
      p.Require(dp % ep == 0, "parallel.ep", "must divide parallel.dp (", dp, "), got ", ep);
    }
    if (p.Require(c.model().n_routed_experts() > 0, "parallel.ep",
                  "expert parallelism needs MoE (model.n_routed_experts > "
                  "0)")) {
      p.Require(c.model().n_routed_experts() % ep == 0, "parallel.ep",
                "must divide model.n_routed_experts (",
                c.model().n_routed_experts(), "), got ", ep);
    }
  }
  if (par.pp() > 1) {
    p.Require(par.pp() <= c.model().num_hidden_layers(), "parallel.pp",
              par.pp(), " stages exceed model.num_hidden_layers (",
              c.model().num_hidden_layers(), ")");
  }
  CheckExpertRouting(c, p);
  p.Require(par.zero_stage() == 0 || par.zero_stage() == 1,
            "parallel.zero_stage", "must be 0 or 1, got ", par.zero_stage());
  NonNegative(p, "parallel.ranks_per_node", par.ranks_per_node());
  if (par.node_shared_params()) {
    // The parameters live in HFReduce's node segment and the arena is one
    // block: a node's ranks must hold the same parameters, all of them.
    p.Require(par.allreduce() != config::ParallelConfig::MPI, "parallel.node_shared_params",
              "needs parallel.allreduce HFREDUCE (the parameters live in its node segment)");
    p.Require(par.zero_stage() == 0, "parallel.node_shared_params",
              "needs parallel.zero_stage 0 (it splits the optimizer over the node's ranks itself)");
    p.Require(!par.hfreduce_copy_grads(), "parallel.node_shared_params",
              "needs the gradients in HFReduce's registered memory (parallel.hfreduce_copy_grads "
              "false)");
    p.Require(par.ep() <= 1, "parallel.node_shared_params",
              "needs parallel.ep 1 (the node's ranks of a data-parallel group must hold the same "
              "parameters; with expert parallelism they hold different experts)");
    p.Require(c.train().device() == config::TrainConfig::CPU, "parallel.node_shared_params",
              "is for the CPU model (train.device CPU)");
  }
  p.Require(par.bucket_mb() > 0, "parallel.bucket_mb", "must be > 0, got ",
            par.bucket_mb());
  p.Require(par.comm_priority() >= 0 && par.comm_priority() <= 20, "parallel.comm_priority",
            "must be in [0, 20] (nice levels), got ", par.comm_priority());
  p.Require(par.comm_slice_us() == 0 || (par.comm_slice_us() >= 100 && par.comm_slice_us() <= 100000),
            "parallel.comm_slice_us",
            "must be 0 or in [100, 100000] (microseconds; the kernel's range), got ",
            par.comm_slice_us());
  // HFReduce tuning: the ranges hfreduce::Communicator::Create accepts (KiB
  // are multiples of its 64-byte alignment); 1 GiB caps a slot.
  p.Require(par.hfreduce_chunk_kb() >= 4 && par.hfreduce_chunk_kb() <= (1 << 20),
            "parallel.hfreduce_chunk_kb", "must be in [4, 1048576] (KiB), got ",
            par.hfreduce_chunk_kb());
  p.Require(par.hfreduce_min_chunk_kb() >= 4 && par.hfreduce_min_chunk_kb() <= (1 << 20),
            "parallel.hfreduce_min_chunk_kb", "must be in [4, 1048576] (KiB), got ",
            par.hfreduce_min_chunk_kb());
  p.Require(par.hfreduce_pipeline_depth() >= 2 && par.hfreduce_pipeline_depth() <= 16,
            "parallel.hfreduce_pipeline_depth",
            "must be in [2, 16] (a chunk is copied in while the one before is out), got ",
            par.hfreduce_pipeline_depth());
  p.Require(par.hfreduce_tree_chunk_kb() >= 1 && par.hfreduce_tree_chunk_kb() <= (1 << 20),
            "parallel.hfreduce_tree_chunk_kb", "must be in [1, 1048576] (KiB), got ",
            par.hfreduce_tree_chunk_kb());
  p.Require(par.hfreduce_tree_window() >= 1 && par.hfreduce_tree_window() <= 64,
            "parallel.hfreduce_tree_window", "must be in [1, 64], got ",
            par.hfreduce_tree_window());
  p.Require(par.hfreduce_pair_exchange_kb() >= 0 && par.hfreduce_pair_exchange_kb() <= (1 << 30),
            "parallel.hfreduce_pair_exchange_kb", "must be >= 0 (KiB; 0: always the trees), got ",
            par.hfreduce_pair_exchange_kb());
  NonNegative(p, "parallel.micro_batches", par.micro_batches());
  if (par.pp_stage_layers_size() > 0) {
    int64_t sum = 0;
    bool positive = true;
    for (int64_t n : par.pp_stage_layers()) {
      sum += n;
      positive &= n >= 1;
    }
    p.Require(par.pp_stage_layers_size() == std::max<int64_t>(par.pp(), 1),
              "parallel.pp_stage_layers", "has ", par.pp_stage_layers_size(),
              " entries for parallel.pp = ", std::max<int64_t>(par.pp(), 1), " stages");
    p.Require(positive, "parallel.pp_stage_layers", "every stage needs at least one layer");
    p.Require(sum == c.model().num_hidden_layers(), "parallel.pp_stage_layers", "sums to ", sum,
              " but model.num_hidden_layers is ", c.model().num_hidden_layers());
  }
  p.Require(ParallelConfig::AllReduce_IsValid(par.allreduce()),
            "parallel.allreduce", "unknown value ",
            static_cast<int>(par.allreduce()));
  p.Require(ParallelConfig::PpSchedule_IsValid(par.pp_schedule()),
            "parallel.pp_schedule", "unknown value ",
            static_cast<int>(par.pp_schedule()));
}

}  // namespace

absl::Status ValidateModelConfig(const ModelConfig& model) {
  ModelConfig filled = model;
  FillModelDefaults(&filled);
  Problems problems;
  CheckModel(filled, problems);
  return problems.ToStatus();
}

absl::Status ValidateConfig(const RunConfig& config) {
  RunConfig filled = config;
  FillDefaults(&filled);
  Problems problems;
  CheckModel(filled.model(), problems);
  CheckTrain(filled, problems);
  CheckOptimizer(filled.optimizer(), problems);
  CheckSchedule(filled, problems);
  CheckData(filled.data(), problems);
  CheckDocumentMask(filled, problems);
  CheckObjective(filled, problems);
  CheckParallel(filled, problems);
  return problems.ToStatus();
}

}  // namespace hs::config
