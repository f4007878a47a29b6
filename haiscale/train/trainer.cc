// File: haiscale/train/trainer.cc — see trainer.h.
#include "haiscale/train/trainer.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/io/safetensors.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/train/model_config_convert.h"
#include "optim/clip.h"
#include "haiscale/checkpoint/reader.h"
#include "haiscale/train/preemption.h"
#include "parallel/expert_parallel.h"
#include "parallel/mpi_env.h"
#include "parallel/topology.h"
#include "optim/make_optimizer.h"

namespace hs::train {

namespace fs = std::filesystem;

absl::StatusOr<std::unique_ptr<optim::Optimizer>> BuildOptimizer(
    const config::RunConfig& config, const models::ParamArena& arena,
    int64_t begin, int64_t end) {
  const config::OptimizerConfig& o = config.optimizer();
  optim::OptimizerOptions opts;
  opts.type = o.type() == config::OptimizerConfig::SGD ? "sgd" : "adamw";
  opts.adamw.beta1 = o.beta1();
  opts.adamw.beta2 = o.beta2();
  opts.adamw.eps = o.eps();
  opts.adamw.weight_decay = o.weight_decay();
  opts.sgd.momentum = o.momentum();
  opts.sgd.weight_decay = o.weight_decay();
  std::vector<optim::ParamRange> layout;
  for (const models::ParamSpec& s : arena.specs()) {
    layout.push_back({s.name, s.offset, s.numel, s.weight_decay});
  }
  return optim::MakeOptimizer(opts, layout, arena.size(), begin, end);
}

absl::StatusOr<optim::LrSchedule> BuildSchedule(const config::RunConfig& config) {
  const config::ScheduleConfig& s = config.schedule();
  optim::LrScheduleOptions o;
  switch (s.type()) {
    case config::ScheduleConfig::WARMUP_COSINE:
      o.kind = optim::LrScheduleKind::kCosine;
      break;
    case config::ScheduleConfig::MULTISTEP:
      o.kind = optim::LrScheduleKind::kMultiStep;
      break;
    default:
      o.kind = optim::LrScheduleKind::kConstant;
  }
  o.lr = config.optimizer().lr();
  o.total_steps = std::max<int64_t>(1, config.train().steps());
  // Warmup beyond the run's end: the LR climbs for the whole (short) run.
  o.warmup_steps = std::min<int64_t>(s.warmup_steps(), o.total_steps);
  o.min_lr_ratio = s.min_lr_ratio();
  if (s.milestones_size() > 0) o.milestones.assign(s.milestones().begin(), s.milestones().end());
  if (s.factors_size() > 0) o.factors.assign(s.factors().begin(), s.factors().end());
  return optim::LrSchedule::Create(o);
}

absl::StatusOr<std::unique_ptr<Trainer>> Trainer::Create(
    const config::RunConfig& config_in, const TrainerOptions& options) {
  config::RunConfig config = config_in;
  config::FillDefaults(&config);
  HS_RETURN_IF_ERROR(config::ValidateConfig(config));
  std::unique_ptr<Trainer> t(new Trainer());
  t->config_ = config;
  t->options_ = options;
  const config::TrainConfig& tc = config.train();
  SetNumThreads(int(tc.threads()));
  t->peak_ = EstimateCpuPeak(NumThreads());
  t->seq_len_ = tc.seq_len();
  t->global_batch_ = tc.global_batch_size();
  t->micro_batch_ = tc.micro_batch_size() > 0 ? tc.micro_batch_size() : t->global_batch_;
  t->accum_ = t->global_batch_ / t->micro_batch_;

  // ---- topology: world = pp x dp (rank = stage * dp + dp_rank)
  const config::ParallelConfig& pc = config.parallel();
  int world_rank = 0, world_size = 1;
  if (options.world_comm != MPI_COMM_NULL) {
    MPI_Comm_rank(options.world_comm, &world_rank);
    MPI_Comm_size(options.world_comm, &world_size);
  }
  const int64_t pp = std::max<int64_t>(1, pc.pp());
  const int64_t ep = std::max<int64_t>(1, pc.ep());
  if (world_size % pp != 0) {
    return absl::InvalidArgumentError(absl::StrCat("parallel.pp: ", pp,
                                                   " stages do not divide the job's ", world_size,
                                                   " ranks"));
  }
  t->dp_size_ = int(world_size / pp);
  HS_ASSIGN_OR_RETURN(
      parallel::Topology topo,
      parallel::Topology::Create({.world = world_size, .dp = pc.dp() > 0 ? pc.dp() : t->dp_size_,
                                  .pp = pp, .ep = ep,
                                  .num_layers = config.model().num_hidden_layers(),
                                  .n_routed_experts = config.model().n_routed_experts(),
                                  .micro_batches = std::max<int64_t>(pp, 1)}));
  const parallel::RankCoords coords = topo.Coords(world_rank);
  t->dp_rank_ = int(coords.dp_rank);
  t->stage_ = int(coords.stage);
  t->pp_size_ = int(pp);
  t->ep_size_ = int(ep);
  t->ep_rank_ = int(coords.ep_rank);
  t->ep_group_ = int(coords.ep_group);
  if (options.world_comm != MPI_COMM_NULL) {
    // Ranks of one stage form its DP group; ranks with one dp_rank its pipeline.
    MPI_Comm_split(options.world_comm, int(coords.stage), int(coords.dp_rank), &t->dp_comm_);
    MPI_Comm_split(options.world_comm, int(coords.dp_rank), int(coords.stage), &t->pp_comm_);
    if (ep > 1) {
      // EP group: ep consecutive DP ranks of a stage; expert replicas: the
      // ranks of a stage holding the same experts (same ep_rank).
      const int64_t groups = t->dp_size_ / ep;
      MPI_Comm_split(options.world_comm, int(coords.stage * groups + coords.ep_group),
                     int(coords.ep_rank), &t->ep_comm_);
      MPI_Comm_split(options.world_comm, int(coords.stage * ep + coords.ep_rank),
                     int(coords.ep_group), &t->expert_comm_);
    }
  }
  if (ep > 1) {
    HS_ASSIGN_OR_RETURN(t->dispatcher_, parallel::AllToAllExpertDispatcher::Create(
                                            t->ep_comm_, config.model().n_routed_experts()));
  }

  // ---- model (this stage's blocks; from scratch, or from HF weights)
  models::DeepseekV2Config mc = ToModelConfig(config);
  models::ModelOptions mo;
  mo.seed = tc.seed();
  mo.max_seq_len = std::max<int64_t>(t->seq_len_, 1);
  mo.recompute_all = tc.recompute();
  mo.recompute_layers.assign(tc.recompute_layers().begin(), tc.recompute_layers().end());
  mo.dispatcher = t->dispatcher_.get();
  auto split = topo.BalancedLayerSplit(mc.num_hidden_layers);
  if (pc.pp_stage_layers_size() > 0) {
    // Explicit split (validated: one entry per stage, summing to the layers).
    int64_t begin = 0;
    for (int s = 0; s < pc.pp_stage_layers_size(); ++s) {
      split[s] = {begin, begin + pc.pp_stage_layers(s)};
      begin += pc.pp_stage_layers(s);
    }
  }
  mo.first_layer = split[t->stage_].first;
  mo.end_layer = split[t->stage_].second;
  HS_ASSIGN_OR_RETURN(t->model_, models::DeepseekV2Model::Create(mc, mo));
  if (!tc.init_from().empty()) {
    HS_RETURN_IF_ERROR(Annotate(LoadHfWeights(tc.init_from(), t->model_.get()),
                                "train.init_from"));
  }
  // Whole-model FLOPs per token: the pipeline stages' shares add up to it.
  double flops = t->model_->TrainingFlopsPerToken(t->seq_len_);
  if (t->pp_comm_ != MPI_COMM_NULL) {
    HS_RETURN_IF_ERROR(parallel::AllSumInRankOrder(t->pp_comm_, &flops, 1));
  }
  t->flops_per_token_ = flops;

  // ---- data parallelism (with a StepEngine: its job; see below)
  if (pc.dp() > 1 && pc.dp() != t->dp_size_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.dp: ", pc.dp(), " but the job has ", t->dp_size_, " data-parallel ranks (",
        world_size, " ranks / pp ", pp, ")"));
  }
  if (t->micro_batch_ * t->dp_size_ > t->global_batch_ &&
      t->global_batch_ % t->dp_size_ == 0) {
    // Fewer sequences per rank than one micro-batch: each rank runs its
    // whole slice at once (same global batch, same result).
    t->micro_batch_ = t->global_batch_ / t->dp_size_;
  }
  if (pc.micro_batches() > 0) {
    // Pipeline micro-batch count given: derive the micro-batch size.
    const int64_t local = t->global_batch_ / std::max(1, t->dp_size_);
    if (local % pc.micro_batches() != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "parallel.micro_batches: ", pc.micro_batches(), " does not divide the ", local,
          " sequences per data-parallel rank"));
    }
    t->micro_batch_ = local / pc.micro_batches();
  }
  if (t->global_batch_ % (int64_t(t->dp_size_) * t->micro_batch_) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "train.global_batch_size: ", t->global_batch_, " is not a multiple of micro_batch_size (",
        t->micro_batch_, ") x data-parallel ranks (", t->dp_size_, ")"));
  }
  HS_ASSIGN_OR_RETURN(data::SampleRange slice,
                      data::RankSlice(t->global_batch_, t->dp_size_, t->dp_rank_));
  t->local_first_ = slice.first;
  t->local_count_ = slice.count;
  t->accum_ = t->local_count_ / t->micro_batch_;
  if (pp > 1 && t->accum_ < pp) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parallel.micro_batches: ", t->accum_, " micro-batches per step for ", pp,
        " pipeline stages (need at least ", pp, "; lower train.micro_batch_size)"));
  }
  t->is_logger_ = world_rank == 0;
  if (pp > 1) {
    t->pipeline_ = std::make_unique<parallel::PipelineRunner>(
        t->pp_comm_, t->model_.get(),
        pc.pp_schedule() == config::ParallelConfig::ZB_H1 ? parallel::PipelineSchedule::kZbH1
                                                          : parallel::PipelineSchedule::kOneFOneB);
  }
  // ---- device engine (train.device != CPU): forward, backward, gradient
  // reduction and AdamW run there; model_ keeps the host copy.
  if (tc.device() != config::TrainConfig::CPU) {
    if (!options.dump_grads_dir.empty() || options.check_replicas) {
      return absl::InvalidArgumentError(
          "--dump-grads and --check-replicas read the CPU model's arenas: train.device CPU only");
    }
    StepEngineSetup setup;
    setup.config = &t->config_;
    setup.model = mc;
    setup.micro_batch = t->micro_batch_;
    setup.seq_len = t->seq_len_;
    setup.dp_comm = t->dp_comm_;
    setup.dp_rank = t->dp_rank_;
    setup.dp_size = t->dp_size_;
    setup.arena_size = t->model_->arena().size();
    if (options.world_comm != MPI_COMM_NULL) {
      // Rank within the node: one device per local rank.
      MPI_Comm node;
      MPI_Comm_split_type(options.world_comm, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL,
                          &node);
      MPI_Comm_rank(node, &setup.local_rank);
      MPI_Comm_free(&node);
    }
    HS_ASSIGN_OR_RETURN(t->engine_, CreateStepEngine(config::TrainConfig::Device_Name(tc.device()),
                                                     setup));
    t->peak_.gflops = t->engine_->PeakGflops();
    t->peak_.how = t->engine_->PeakHow();
  }
  std::vector<std::pair<int64_t, int64_t>> owned = {{0, t->model_->arena().size()}};
  if (t->dp_size_ > 1 && !t->engine_) {
    parallel::DdpOptions d;
    d.backend = pc.allreduce() == config::ParallelConfig::MPI ? parallel::DdpOptions::Backend::kMpi
                                                              : parallel::DdpOptions::Backend::kHfReduce;
    d.bucket_mb = pc.bucket_mb();
    d.zero_stage = int(pc.zero_stage());
    d.ranks_per_node = int(pc.ranks_per_node());
    d.debug_delay_ms = options.debug_comm_delay_ms;
    d.registered_grads = !pc.hfreduce_copy_grads();
    // Dense parameters over the DP group; with EP each rank's routed experts
    // only over the ranks that hold the same experts.
    parallel::DdpOptions e = d;
    if (ep > 1) d.include = [](const models::ParamSpec& s) { return s.expert < 0; };
    models::ParamArena& arena = t->model_->arena();
    HS_ASSIGN_OR_RETURN(t->ddp_, parallel::Ddp::Create(t->dp_comm_, arena, arena.grads(), d));
    // The DP group's HFReduce may keep the gradients in its registered
    // shared memory; everything after this sees them there.
    if (t->ddp_->grads() != arena.grads()) {
      HS_LOG(INFO) << "ddp: gradients in HFReduce's registered shared memory (reduced in place)";
    }
    arena.RebindGrads(t->ddp_->grads());
    if (ep > 1) {
      e.include = [](const models::ParamSpec& s) { return s.expert >= 0; };
      e.ranks_per_node = 0;
      e.registered_grads = false;  // the gradients live in the DP group's segment
      HS_ASSIGN_OR_RETURN(t->expert_ddp_,
                          parallel::Ddp::Create(t->expert_comm_, arena, arena.grads(), e));
    }
    for (parallel::Ddp* ddp : t->Ddps()) {
      HS_RETURN_IF_ERROR(ddp->CheckReplicasIdentical(t->model_->arena().params()));
    }
    owned = t->OwnedRanges();
  }

  // ---- optimizer (one per owned range) and schedule
  for (const auto& [begin, end] : owned) {
    HS_ASSIGN_OR_RETURN(auto opt, BuildOptimizer(config, t->model_->arena(), begin, end));
    t->optimizers_.push_back(std::move(opt));
  }
  HS_ASSIGN_OR_RETURN(optim::LrSchedule schedule, BuildSchedule(config));
  t->schedule_ = std::make_unique<optim::LrSchedule>(schedule);

  // ---- data
  if (config.data().train_path().empty()) {
    return absl::InvalidArgumentError("data.train_path: required for training");
  }
  HS_ASSIGN_OR_RETURN(t->data_file_, data::TokenFile::Open(config.data().train_path()));
  HS_RETURN_IF_ERROR(t->data_file_->Validate(mc.vocab_size));
  HS_ASSIGN_OR_RETURN(data::Sampler sampler,
                      data::Sampler::Create(t->data_file_.get(), t->seq_len_,
                                            t->global_batch_, tc.seed(),
                                            config.data().shuffle()));
  t->sampler_ = std::make_unique<data::Sampler>(sampler);
  t->inputs_.resize(t->global_batch_ * t->seq_len_);
  t->targets_.resize(t->global_batch_ * t->seq_len_);
  if (tc.eval_every() > 0) {
    // Validated: data.eval_path is set.
    auto file = data::TokenFile::Open(config.data().eval_path());
    if (!file.ok()) return Annotate(file.status(), "data.eval_path");
    t->eval_file_ = *std::move(file);
    HS_RETURN_IF_ERROR(Annotate(t->eval_file_->Validate(mc.vocab_size), "data.eval_path"));
    auto rows = data::EvalRows::Create(t->eval_file_.get(), t->seq_len_,
                                       tc.eval_batches() * t->global_batch_);
    if (!rows.ok()) return Annotate(rows.status(), "data.eval_path");
    t->eval_rows_ = std::make_unique<data::EvalRows>(*std::move(rows));
  }

  // ---- run directory (rank 0 only)
  std::string jsonl;
  t->save_weights_ = t->options_.write_outputs;  // every rank takes part
  if (!t->is_logger_) {
    t->options_.write_outputs = false;
    t->options_.quiet = true;
  }
  if (t->options_.write_outputs) {
    if (tc.output_dir().empty()) {
      return absl::InvalidArgumentError("train.output_dir: required (or pass --output-dir)");
    }
    std::error_code ec;
    fs::create_directories(tc.output_dir(), ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("train.output_dir: cannot create '", tc.output_dir(), "': ", ec.message()));
    }
    HS_RETURN_IF_ERROR(io::WriteFileAtomically(
        (fs::path(tc.output_dir()) / "config.pbtxt").string(), config::ConfigToText(config)));
    jsonl = (fs::path(tc.output_dir()) / "metrics.jsonl").string();
  }
  // ---- checkpoints: create the writer, resume from the latest one
  if (options.require_checkpoint && !t->save_weights_) {
    return absl::InvalidArgumentError("--resume needs train.output_dir");
  }
  if (t->save_weights_) {
    HS_ASSIGN_OR_RETURN(t->checkpointer_,
                        checkpoint::Checkpointer::Create({.output_dir = tc.output_dir(),
                                                          .keep_last = options.keep_last,
                                                          .async = options.async_checkpoint}));
    if (options.world_comm != MPI_COMM_NULL) MPI_Comm_dup(options.world_comm, &t->ckpt_comm_);
    if (options.resume) {
      HS_ASSIGN_OR_RETURN(std::optional<std::string> latest,
                          checkpoint::FindLatest(tc.output_dir()));
      if (latest.has_value()) {
        HS_RETURN_IF_ERROR(t->RestoreCheckpoint(*latest));
      } else if (options.require_checkpoint) {
        return absl::NotFoundError(absl::StrCat("--resume: no checkpoint in ", tc.output_dir(),
                                                "/checkpoints"));
      }
    }
  }
  if (t->start_step_ > 0 && !jsonl.empty()) {
    // Records past the checkpoint will be written again.
    HS_RETURN_IF_ERROR(TrimMetrics(jsonl, t->start_step_));
  }
  if (t->engine_) {
    // Initial (or restored) parameters and AdamW state to the device.
    std::vector<optim::StateSpan> spans = t->optimizers_[0]->StateSpans();
    if (spans.size() != 2) return absl::InternalError("the engine needs AdamW state");
    HS_RETURN_IF_ERROR(t->engine_->LoadState(t->model_->arena().params(), spans[0].data,
                                             spans[1].data));
  }
  const std::string out_dir = t->options_.write_outputs ? tc.output_dir() : "";
  HS_ASSIGN_OR_RETURN(
      t->log_, StepLog::Open(jsonl, t->options_.live_progress && t->is_logger_,
                             /*append=*/t->start_step_ > 0,
                             out_dir.empty() ? "" : (fs::path(out_dir) / "train.log").string(),
                             out_dir.empty() ? "" : out_dir));
  return t;
}

absl::StatusOr<double> Trainer::ReduceAndStep(int64_t step, double lr,
                                              parallel::CommTimeline* timeline) {
  models::ParamArena& arena = model_->arena();
  for (parallel::Ddp* ddp : Ddps()) HS_RETURN_IF_ERROR(ddp->WaitGradients());
  if (ddp_) *timeline = ddp_->timeline();
  if (step == 0 && !options_.dump_grads_dir.empty()) HS_RETURN_IF_ERROR(DumpGradients());
  // ---- clip over the global gradient. Sum of squares over this rank's
  // ranges; sharded (ZeRO-1) parts are summed over their group; expert
  // parts over the EP group (each EP rank holds different experts); all of
  // it over the pipeline stages. Every sum is in rank order (deterministic).
  const auto owned = OwnedRanges();
  double sq = 0;
  if (Ddps().empty()) {
    for (const auto& [b, e] : owned) sq += optim::SumOfSquares(arena.grads() + b, e - b);
  } else {
    for (parallel::Ddp* ddp : Ddps()) {
      double part = 0;
      for (const auto& [b, e] : ddp->OwnedRanges()) part += optim::SumOfSquares(arena.grads() + b, e - b);
      if (ddp->sharded()) HS_RETURN_IF_ERROR(parallel::AllSumInRankOrder(ddp->comm(), &part, 1));
      if (ddp == expert_ddp_.get()) {
        HS_RETURN_IF_ERROR(parallel::AllSumInRankOrder(ep_comm_, &part, 1));
      }
      sq += part;
    }
  }
  if (pp_comm_ != MPI_COMM_NULL && pp_size_ > 1) {
    HS_RETURN_IF_ERROR(parallel::AllSumInRankOrder(pp_comm_, &sq, 1));
  }
  const double norm = std::sqrt(sq);
  if (!std::isfinite(norm)) {
    return absl::InternalError(absl::StrCat("step ", step + 1, ": gradient norm is not finite; stopping"));
  }
  const double scale = optim::ClipScale(norm, config_.optimizer().grad_clip());
  for (size_t i = 0; i < owned.size(); ++i) {
    const auto [b, e] = owned[i];
    if (scale != 1.0) optim::ScaleGradients(arena.grads() + b, e - b, scale);
    HS_RETURN_IF_ERROR(optimizers_[i]->Step(arena.params() + b, arena.grads() + b, b, e - b, step, lr));
  }
  for (parallel::Ddp* ddp : Ddps()) HS_RETURN_IF_ERROR(ddp->AllGatherParams(arena.params()));
  if (options_.check_replicas) {
    for (parallel::Ddp* ddp : Ddps()) {
      HS_RETURN_IF_ERROR(Annotate(ddp->CheckReplicasIdentical(arena.params()), "after step ",
                                  step + 1));
    }
  }
  return norm;
}

absl::StatusOr<StepMetrics> Trainer::TrainStep(int64_t step) {
  const double t0 = parallel::NowSeconds();
  const int64_t S = seq_len_;
  models::ParamArena& arena = model_->arena();
  // The whole global batch is read on every rank (cheap): its target count
  // normalises the loss, so summed gradients equal the single-process ones.
  HS_RETURN_IF_ERROR(sampler_->FillBatch(step, 0, global_batch_, inputs_.data(), targets_.data()));
  int64_t valid = 0;
  for (int32_t t : targets_) valid += t >= 0;
  if (valid == 0) return absl::InvalidArgumentError(absl::StrCat("step ", step + 1, ": no targets"));
  if (engine_) {
    HS_RETURN_IF_ERROR(engine_->ZeroGrads());
  } else {
    arena.ZeroGrads();
  }
  const int64_t E = config_.model().n_routed_experts();
  // sums: ce_sum, aux (this rank's share), bubble, per-expert load.
  std::vector<double> sums(3 + E, 0.0);
  const float share = float(micro_batch_) / float(global_batch_);
  auto add_load = [&](const std::vector<int64_t>& l) {
    for (size_t e = 0; e < l.size() && int64_t(e) < E; ++e) sums[3 + e] += double(l[e]);
  };
  if (pipeline_) {
    const int32_t* in = inputs_.data() + local_first_ * S;
    const int32_t* tg = targets_.data() + local_first_ * S;
    HS_ASSIGN_OR_RETURN(parallel::PipelineStepResult r,
                        pipeline_->Step(in, tg, accum_, micro_batch_, S, 1.0f / float(valid), share));
    sums[0] = r.ce_sum;
    sums[1] = r.aux_loss;
    sums[2] = r.bubble();
    add_load(r.expert_load);
    // Pipeline: gradients are final only after the last micro-batch's
    // backward; reduce them all now.
    for (parallel::Ddp* ddp : Ddps()) {
      ddp->BeginBackward();
      ddp->EndBackward();
    }
  } else if (engine_) {
    for (int64_t m = 0; m < accum_; ++m) {
      const int64_t first = local_first_ + m * micro_batch_;
      HS_ASSIGN_OR_RETURN(models::ForwardResult r,
                          engine_->Forward(inputs_.data() + first * S, targets_.data() + first * S));
      sums[0] += r.ce_sum;
      sums[1] += r.aux_loss * share;
      add_load(engine_->ExpertLoad());
      HS_RETURN_IF_ERROR(engine_->Backward(1.0f / float(valid), share));
    }
  } else {
    for (int64_t m = 0; m < accum_; ++m) {
      const int64_t first = local_first_ + m * micro_batch_;
      const int32_t* in = inputs_.data() + first * S;
      const int32_t* tg = targets_.data() + first * S;
      HS_ASSIGN_OR_RETURN(models::ForwardResult r, model_->Forward(in, tg, micro_batch_, S));
      sums[0] += r.ce_sum;
      // The balance loss is a mean over sequences: weight each micro-batch
      // by its share of the global batch.
      sums[1] += r.aux_loss * share;
      add_load(model_->ExpertLoad());
      const bool last = m + 1 == accum_;
      if (ddp_ && last) {
        // Only the last micro-batch's gradients are final: reduce them while
        // its backward runs.
        std::vector<models::GradReadyHook> hooks;
        for (parallel::Ddp* ddp : Ddps()) {
          ddp->BeginBackward();
          hooks.push_back(ddp->hook());
        }
        HS_RETURN_IF_ERROR(model_->Backward(1.0f / float(valid), share,
                                            [&hooks](int64_t b, int64_t e) {
                                              for (auto& h : hooks) h(b, e);
                                            }));
        for (parallel::Ddp* ddp : Ddps()) ddp->EndBackward();
      } else {
        HS_RETURN_IF_ERROR(model_->Backward(1.0f / float(valid), share));
      }
    }
  }
  const double t_compute = parallel::NowSeconds() - t0;
  parallel::CommTimeline timeline;
  const double lr = schedule_->LrAt(step);
  double norm = 0;
  if (engine_) {
    HS_ASSIGN_OR_RETURN(norm, engine_->ReduceAndStep(step, lr));
  } else {
    HS_ASSIGN_OR_RETURN(norm, ReduceAndStep(step, lr, &timeline));
  }
  // ---- metrics: sums over all ranks (rank order: identical everywhere)
  if (options_.world_comm != MPI_COMM_NULL) {
    HS_RETURN_IF_ERROR(parallel::AllSumInRankOrder(options_.world_comm, sums.data(), int(sums.size())));
  }
  const double seconds = parallel::NowSeconds() - t0;

  StepMetrics m;
  m.step = step + 1;
  m.total_steps = config_.train().steps();
  m.loss = sums[0] / valid;
  m.aux_loss = sums[1];
  m.lr = lr;
  m.grad_norm = norm;
  m.step_seconds = seconds;
  const double tokens = double(global_batch_) * S;
  m.tokens_per_s = tokens / seconds;
  m.gflops = flops_per_token_ * tokens / seconds / 1e9;
  const double peak = peak_.gflops * dp_size_ * pp_size_;
  m.mfu = peak > 0 ? m.gflops / peak : 0;
  if (E > 0) {
    double sum = 0, mx = 0;
    for (int64_t e = 0; e < E; ++e) {
      sum += sums[3 + e];
      mx = std::max(mx, sums[3 + e]);
    }
    m.max_expert_load = sum > 0 ? mx / (sum / E) : 0;
  }
  m.pp = pp_size_;
  m.bubble = pipeline_ ? sums[2] / std::max(1, dp_size_ * pp_size_) : 0;
  m.dp = dp_size_;
  if (dispatcher_) {
    m.a2a_seconds = dispatcher_->stats().wait_s;
    dispatcher_->ResetStats();
  }
  m.compute_seconds = t_compute;
  m.exposed_comm_seconds = timeline.exposed;
  m.overlap = timeline.overlap();
  last_timeline_ = timeline;
  return m;
}

absl::StatusOr<Trainer::EvalResult> Trainer::Evaluate() {
  if (!eval_rows_) return absl::FailedPreconditionError("Evaluate: train.eval_every is 0");
  const int64_t S = seq_len_, G = global_batch_;
  std::vector<int32_t> in(G * S), tg(G * S);
  double ce = 0;
  int64_t tokens = 0;
  // Batches of G rows split over the DP ranks exactly as training batches
  // (every rank runs the same number of micro-batches, so the EP
  // all-to-alls and pipeline transfers stay matched). A short last batch
  // is padded with ignored targets.
  for (int64_t first = 0; first < eval_rows_->num_rows(); first += G) {
    const int64_t n = std::min(G, eval_rows_->num_rows() - first);
    std::fill(in.begin(), in.end(), 0);
    std::fill(tg.begin(), tg.end(), -1);
    HS_RETURN_IF_ERROR(eval_rows_->FillRows(first, n, in.data(), tg.data()));
    int64_t valid = 0;
    for (int32_t t : tg) valid += t >= 0;
    if (valid == 0) continue;  // the same on every rank
    tokens += valid;
    const int32_t* local_in = in.data() + local_first_ * S;
    const int32_t* local_tg = tg.data() + local_first_ * S;
    if (pipeline_) {
      // The pipeline has no forward-only schedule: run a step whose
      // gradients are discarded (TrainStep zeroes them first).
      HS_ASSIGN_OR_RETURN(parallel::PipelineStepResult r,
                          pipeline_->Step(local_in, local_tg, accum_, micro_batch_, S,
                                          1.0f / float(valid), 0.0f));
      ce += r.ce_sum;
    } else {
      for (int64_t m = 0; m < accum_; ++m) {
        const int32_t* mi = local_in + m * micro_batch_ * S;
        const int32_t* mt = local_tg + m * micro_batch_ * S;
        HS_ASSIGN_OR_RETURN(models::ForwardResult f, engine_ ? engine_->Forward(mi, mt)
                                                             : model_->Forward(mi, mt, micro_batch_, S));
        ce += f.ce_sum;
      }
    }
  }
  if (dispatcher_) dispatcher_->ResetStats();  // the next step's a2a time only
  if (options_.world_comm != MPI_COMM_NULL) {
    HS_RETURN_IF_ERROR(parallel::AllSumInRankOrder(options_.world_comm, &ce, 1));
  }
  return EvalResult{tokens > 0 ? ce / double(tokens) : 0.0, tokens};
}

absl::Status Trainer::Run() {
  const int64_t steps = config_.train().steps();
  const int64_t log_every = std::max<int64_t>(1, config_.train().log_every());
  const int64_t save_every = config_.train().save_every();
  const std::string& out = config_.train().output_dir();
  if (!options_.quiet) {
    if (!resumed_from_.empty()) {
      log_->Note(absl::StrFormat("resuming from %s (step %d)", resumed_from_, start_step_));
    }
    log_->Note(absl::StrFormat(
        "hai train: %d steps, global batch %d x %d tokens (%d micro-batches), %.2fM parameters, "
        "%d threads",
        steps, global_batch_, seq_len_, accum_, model_->arena().size() / 1e6, NumThreads()));
    log_->Note(absl::StrFormat("MFU peak: %.1f GFLOP/s per rank = %s", peak_.gflops, peak_.how));
    if (engine_) log_->Note("device: " + engine_->Describe());
    if (ddp_) {
      log_->Note(absl::StrFormat(
          "data parallel: %d ranks, %s, %d gradient buckets, ZeRO-%d; optimizer state %.2f MB "
          "per rank",
          dp_size_,
          config_.parallel().allreduce() == config::ParallelConfig::MPI ? "MPI_Allreduce"
                                                                        : "HFReduce",
          ddp_->buckets().size(), int(config_.parallel().zero_stage()),
          OptimizerStateFloats() * 4 / 1e6));
    }
    if (pipeline_) {
      log_->Note(absl::StrFormat(
          "pipeline: %d stages (%s), %d micro-batches per step, theoretical bubble %.3f",
          pp_size_,
          config_.parallel().pp_schedule() == config::ParallelConfig::ZB_H1 ? "ZB-H1" : "1F1B",
          accum_, parallel::TheoreticalBubble(pp_size_, accum_)));
    }
    if (ep_size_ > 1) {
      log_->Note(absl::StrFormat("expert parallel: %d ranks per EP group, %d experts per rank",
                                 ep_size_, dispatcher_->num_local_experts()));
    }
  }
  for (int64_t step = start_step_; step < steps; ++step) {
    HS_ASSIGN_OR_RETURN(StepMetrics m, TrainStep(step));
    train_seconds_ += m.step_seconds;
    m.eta_seconds = train_seconds_ / (step + 1 - start_step_) * (steps - step - 1);
    losses_.push_back(m.loss);
    const int64_t eval_every = config_.train().eval_every();
    const bool evaluate = eval_every > 0 && ((step + 1) % eval_every == 0 || step + 1 == steps);
    if (evaluate) {
      HS_ASSIGN_OR_RETURN(EvalResult e, Evaluate());
      m.eval_loss = e.loss;
      m.eval_tokens = e.tokens;
    }
    bool print = !options_.quiet && ((step + 1) % log_every == 0 || step == start_step_ ||
                                     step + 1 == steps || evaluate);
    HS_RETURN_IF_ERROR(log_->Log(m, print));
    // Preemption: every rank learns of a signal on any rank at the same
    // step boundary (MAX over the job), saves, and stops.
    int preempt = PreemptionRequested() ||
                  (options_.preempt_after_steps > 0 && step + 1 == options_.preempt_after_steps);
    if (options_.world_comm != MPI_COMM_NULL) {
      MPI_Allreduce(MPI_IN_PLACE, &preempt, 1, MPI_INT, MPI_MAX, options_.world_comm);
    }
    if (preempt) {
      log_->Finish();
      HS_RETURN_IF_ERROR(SaveCheckpoint(step + 1));
      if (checkpointer_) HS_RETURN_IF_ERROR(checkpointer_->Wait());
      return absl::CancelledError(absl::StrCat(
          "preempted after step ", step + 1,
          checkpointer_ ? "; checkpoint saved, rerun the same command to resume"
                        : " (no output_dir: nothing saved)"));
    }
    if (save_every > 0 && (step + 1) % save_every == 0 && step + 1 < steps) {
      HS_RETURN_IF_ERROR(SaveCheckpoint(step + 1));
    }
  }
  log_->Finish();
  if (start_step_ < steps) HS_RETURN_IF_ERROR(SaveCheckpoint(steps));
  if (checkpointer_) HS_RETURN_IF_ERROR(checkpointer_->Wait());
  if (save_weights_) {
    // The final checkpoint above already copied the engine's state back.
    const bool synced = checkpointer_ != nullptr && start_step_ < steps;
    if (!synced) HS_RETURN_IF_ERROR(SyncHostModel());
    std::string dir = (fs::path(out) / "weights").string();
    HS_RETURN_IF_ERROR(SaveWeights(dir));
    if (!options_.quiet) log_->Note("weights saved to " + dir);
  }
  return absl::OkStatus();
}

absl::Status Trainer::SyncHostModel() {
  if (!engine_) return absl::OkStatus();
  std::vector<optim::StateSpan> spans = optimizers_[0]->StateSpans();
  return engine_->StoreState(model_->arena().params(), spans[0].data, spans[1].data);
}

absl::Status Trainer::DumpGradients() const {
  if (ddp_ && ddp_->sharded()) {
    return absl::FailedPreconditionError("--dump-grads needs parallel.zero_stage 0");
  }
  io::SafetensorsWriter writer;
  const models::ParamArena& arena = model_->arena();
  for (const models::ParamSpec& spec : arena.specs()) {
    if (!WritesParam(spec)) continue;
    HS_RETURN_IF_ERROR(writer.AddF32(spec.name, spec.shape, arena.grads() + spec.offset));
  }
  if (writer.size() == 0) return absl::OkStatus();
  std::error_code ec;
  fs::create_directories(options_.dump_grads_dir, ec);
  return writer.Write((fs::path(options_.dump_grads_dir) /
                       absl::StrCat("grads_stage", stage_, "_ep", ep_rank_, ".safetensors"))
                          .string());
}

bool Trainer::WritesParam(const models::ParamSpec& spec) const {
  // Routed experts differ across an EP group and repeat across its replicas;
  // everything else repeats across the whole DP group.
  return spec.expert >= 0 && ep_size_ > 1 ? ep_group_ == 0 : dp_rank_ == 0;
}

std::vector<parallel::Ddp*> Trainer::Ddps() const {
  std::vector<parallel::Ddp*> out;
  if (ddp_) out.push_back(ddp_.get());
  if (expert_ddp_) out.push_back(expert_ddp_.get());
  return out;
}

std::vector<std::pair<int64_t, int64_t>> Trainer::OwnedRanges() const {
  std::vector<std::pair<int64_t, int64_t>> all;
  if (Ddps().empty()) return {{0, model_->arena().size()}};
  for (parallel::Ddp* ddp : Ddps()) {
    for (const auto& r : ddp->OwnedRanges()) all.push_back(r);
  }
  std::sort(all.begin(), all.end());
  std::vector<std::pair<int64_t, int64_t>> merged;
  for (const auto& r : all) {
    if (!merged.empty() && merged.back().second == r.first) {
      merged.back().second = r.second;
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

int64_t Trainer::OptimizerStateFloats() const {
  int64_t n = 0;
  for (const auto& o : optimizers_)
    for (const auto& span : const_cast<optim::Optimizer&>(*o).StateSpans()) n += span.size;
  return n;
}

absl::Status Trainer::SaveWeights(const std::string& dir) const {
  if (pp_size_ == 1 && ep_size_ == 1) {
    // Every data-parallel rank holds the whole model: rank 0 writes it.
    return is_logger_ ? SaveHfWeights(*model_, config_.model(), dir, DType::kF32)
                      : absl::OkStatus();
  }
  // Pipeline / expert parallel: one shard per (stage, ep_rank), written by
  // the first EP group of each stage (dense parameters by its ep_rank 0),
  // then rank 0 writes the index: a HF sharded folder.
  const int shards = pp_size_ * ep_size_;
  if (ep_group_ == 0) {
    HS_RETURN_IF_ERROR(SaveHfWeightsShard(
        *model_, dir, DType::kF32, stage_ * ep_size_ + ep_rank_, shards,
        [this](const models::ParamSpec& s) { return WritesParam(s); }));
  }
  int rc = MPI_Barrier(options_.world_comm);
  if (rc != MPI_SUCCESS) return parallel::MpiError(rc, "MPI_Barrier");
  if (is_logger_) return WriteHfShardIndex(dir, shards, config_.model());
  return absl::OkStatus();
}

}  // namespace hs::train
