// File: haiscale/train/trainer.cc — see trainer.h. Create's stages and the
// step loop; checkpoints are in trainer_checkpoint.cc.
#include "haiscale/train/trainer.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/checkpoint/reader.h"
#include "haiscale/clock.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/io/safetensors.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/config/model_config_convert.h"
#include "haiscale/train/preemption.h"
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
  if (!options.config_validated) HS_RETURN_IF_ERROR(config::ValidateConfig(config));
  std::unique_ptr<Trainer> t(new Trainer());
  t->config_ = config;
  t->options_ = options;
  SetNumThreads(int(config.train().threads()));
  t->peak_ = EstimateCpuPeak(NumThreads());
  HS_RETURN_IF_ERROR(t->BuildParallel());
  HS_RETURN_IF_ERROR(t->BuildModel());
  HS_ASSIGN_OR_RETURN(t->batch_, DeriveBatchLayout(config, t->ctx_->dp_size(),
                                                   t->ctx_->dp_rank(), t->ctx_->pp_size()));
  HS_RETURN_IF_ERROR(t->BuildRunner());
  HS_ASSIGN_OR_RETURN(optim::LrSchedule schedule, BuildSchedule(config));
  t->schedule_ = std::make_unique<optim::LrSchedule>(schedule);
  HS_ASSIGN_OR_RETURN(t->objective_, MakeObjective(config, t->batch_, t->ctx_.get()));
  HS_RETURN_IF_ERROR(t->OpenRunDirectory());
  HS_RETURN_IF_ERROR(t->ResumeAndOpenLog());
  return t;
}

Trainer::~Trainer() = default;

absl::Status Trainer::BuildParallel() {
  const config::ParallelConfig& pc = config_.parallel();
  const int64_t pp = std::max<int64_t>(1, pc.pp());
  HS_ASSIGN_OR_RETURN(ctx_, parallel::ParallelContext::Create(
                                {.dp = pc.dp(), .pp = pp, .ep = std::max<int64_t>(1, pc.ep()),
                                 .num_layers = config_.model().num_hidden_layers(),
                                 .n_routed_experts = config_.model().n_routed_experts(),
                                 .micro_batches = pp},
                                options_.distributed));
  if (ctx_->ep_size() > 1) {
    HS_ASSIGN_OR_RETURN(dispatcher_, parallel::AllToAllExpertDispatcher::Create(
                                         ctx_->ep_comm(), config_.model().n_routed_experts()));
  }
  return absl::OkStatus();
}

absl::Status Trainer::BuildModel() {
  // This stage's blocks; from scratch, or from HF weights.
  const config::TrainConfig& tc = config_.train();
  const config::ParallelConfig& pc = config_.parallel();
  models::DeepseekV2Config mc = config::ToModelConfig(config_);
  models::ModelOptions mo;
  mo.seed = tc.seed();
  mo.max_seq_len = std::max<int64_t>(tc.seq_len(), 1);
  mo.recompute_all = tc.recompute();
  mo.recompute_layers.assign(tc.recompute_layers().begin(), tc.recompute_layers().end());
  mo.dispatcher = dispatcher_.get();
  // SFT logs token accuracy (objective_sft.cc).
  mo.count_correct_tokens = config_.objective().type() == config::ObjectiveConfig::SFT;
  auto split = ctx_->topology().BalancedLayerSplit(mc.num_hidden_layers);
  if (pc.pp_stage_layers_size() > 0) {
    // Explicit split (validated: one entry per stage, summing to the layers).
    int64_t begin = 0;
    for (int s = 0; s < pc.pp_stage_layers_size(); ++s) {
      split[s] = {begin, begin + pc.pp_stage_layers(s)};
      begin += pc.pp_stage_layers(s);
    }
  }
  mo.first_layer = split[ctx_->stage()].first;
  mo.end_layer = split[ctx_->stage()].second;
  mo.params_from_file = !tc.init_from().empty();  // loaded below, never initialised
  HS_ASSIGN_OR_RETURN(model_, models::DeepseekV2Model::Create(mc, mo));
  if (!tc.init_from().empty()) {
    HS_RETURN_IF_ERROR(Annotate(LoadHfWeights(tc.init_from(), model_.get()), "train.init_from"));
  }
  // Whole-model FLOPs per token: the pipeline stages' shares add up to it.
  flops_per_token_ = model_->TrainingFlopsPerToken(tc.seq_len());
  return ctx_->SumOverPipeline(&flops_per_token_, 1);
}

absl::Status Trainer::BuildRunner() {
  const config::ParallelConfig& pc = config_.parallel();
  if (ctx_->pp_size() > 1) {
    pipeline_ = std::make_unique<parallel::PipelineRunner>(
        ctx_->pp_comm(), model_.get(),
        pc.pp_schedule() == config::ParallelConfig::ZB_H1 ? parallel::PipelineSchedule::kZbH1
                                                          : parallel::PipelineSchedule::kOneFOneB);
  }
  if (config_.train().device() != config::TrainConfig::CPU) return BuildEngine();
  return BuildHostRunner();
}

absl::Status Trainer::BuildHostRunner() {
  const config::ParallelConfig& pc = config_.parallel();
  parallel::GradSyncOptions g;
  g.ddp.backend = pc.allreduce() == config::ParallelConfig::MPI
                      ? parallel::DdpOptions::Backend::kMpi
                      : parallel::DdpOptions::Backend::kHfReduce;
  g.ddp.bucket_mb = pc.bucket_mb();
  g.ddp.comm_priority = int(pc.comm_priority());
  g.ddp.comm_slice_us = int(pc.comm_slice_us());
  g.ddp.hfreduce.chunk_bytes = pc.hfreduce_chunk_kb() << 10;
  g.ddp.hfreduce.min_chunk_bytes = pc.hfreduce_min_chunk_kb() << 10;
  g.ddp.hfreduce.pipeline_depth = int(pc.hfreduce_pipeline_depth());
  g.ddp.hfreduce.tree_chunk_bytes = pc.hfreduce_tree_chunk_kb() << 10;
  g.ddp.hfreduce.tree_window = int(pc.hfreduce_tree_window());
  g.ddp.hfreduce.pair_exchange_bytes = pc.hfreduce_pair_exchange_kb() << 10;
  g.ddp.zero_stage = int(pc.zero_stage());
  g.ddp.ranks_per_node = int(pc.ranks_per_node());
  g.ddp.debug_delay_ms = options_.debug_comm_delay_ms;
  g.ddp.registered_grads = !pc.hfreduce_copy_grads();
  g.ddp.node_shared_params = pc.node_shared_params();
  if (!pc.dense_embedding_grad()) {
    g.ddp.row_sparse = [](const models::ParamSpec& s) { return s.name == models::kEmbeddingName; };
  }
  g.grad_clip = config_.optimizer().grad_clip();
  g.check_replicas = options_.check_replicas;
  HS_ASSIGN_OR_RETURN(grad_sync_, parallel::GradSync::Create(*ctx_, &model_->arena(), g));
  // One optimizer per owned range (one range without ZeRO-1).
  for (const auto& [begin, end] : grad_sync_->OwnedRanges()) {
    HS_ASSIGN_OR_RETURN(auto opt, BuildOptimizer(config_, model_->arena(), begin, end));
    optimizers_.push_back(std::move(opt));
  }
  HostUpdate update{grad_sync_.get(), &optimizers_, nullptr};
  if (!options_.dump_grads_dir.empty()) {
    update.after_reduce = [this](int64_t step) {
      return step == 0 ? DumpGradients() : absl::OkStatus();
    };
  }
  runner_ = pipeline_ ? MakePipelineRunner(pipeline_.get(), model_.get(), std::move(update))
                      : MakeCpuRunner(model_.get(), std::move(update));
  return absl::OkStatus();
}

absl::Status Trainer::BuildEngine() {
  // Forward, backward, gradient reduction and AdamW run in the engine;
  // model_ keeps the host copy.
  if (!options_.dump_grads_dir.empty() || options_.check_replicas) {
    return absl::InvalidArgumentError(
        "--dump-grads and --check-replicas read the CPU model's arenas: train.device CPU only");
  }
  StepEngineSetup setup;
  setup.config = &config_;
  setup.model = config::ToModelConfig(config_);
  setup.micro_batch = batch_.micro_batch;
  setup.seq_len = batch_.seq_len;
  setup.parallel = ctx_.get();
  setup.arena_size = model_->arena().size();
  const config::TrainConfig& tc = config_.train();
  HS_ASSIGN_OR_RETURN(engine_, CreateStepEngine(config::TrainConfig::Device_Name(tc.device()),
                                                setup));
  peak_.gflops = engine_->PeakGflops();
  peak_.how = engine_->PeakHow();
  HS_ASSIGN_OR_RETURN(auto opt, BuildOptimizer(config_, model_->arena(), 0,
                                               model_->arena().size()));
  optimizers_.push_back(std::move(opt));
  runner_ = MakeEngineRunner(engine_.get());
  return absl::OkStatus();
}

absl::Status Trainer::OpenRunDirectory() {
  // Rank 0 writes the run directory; every rank takes part in SaveWeights.
  const config::TrainConfig& tc = config_.train();
  save_weights_ = options_.write_outputs;
  if (!ctx_->is_logger()) {
    options_.write_outputs = false;
    options_.quiet = true;
  }
  if (!options_.write_outputs) return absl::OkStatus();
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
      (fs::path(tc.output_dir()) / "config.pbtxt").string(), config::ConfigToText(config_)));
  jsonl_ = (fs::path(tc.output_dir()) / "metrics.jsonl").string();
  return absl::OkStatus();
}

absl::Status Trainer::ResumeAndOpenLog() {
  // Checkpoints: create the writer, resume from the latest one.
  const config::TrainConfig& tc = config_.train();
  if (options_.require_checkpoint && !save_weights_) {
    return absl::InvalidArgumentError("--resume needs train.output_dir");
  }
  if (save_weights_) {
    HS_ASSIGN_OR_RETURN(checkpointer_,
                        checkpoint::Checkpointer::Create({.output_dir = tc.output_dir(),
                                                          .keep_last = options_.keep_last,
                                                          .async = options_.async_checkpoint}));
    if (!options_.resume_from.empty()) {
      HS_RETURN_IF_ERROR(
          Annotate(checkpoint::VerifyCheckpoint(options_.resume_from), "--resume-from"));
      HS_RETURN_IF_ERROR(RestoreCheckpoint(options_.resume_from));
    } else if (options_.resume) {
      HS_ASSIGN_OR_RETURN(std::optional<std::string> latest,
                          checkpoint::FindLatest(tc.output_dir()));
      if (latest.has_value()) {
        HS_RETURN_IF_ERROR(RestoreCheckpoint(*latest));
      } else if (options_.require_checkpoint) {
        return absl::NotFoundError(
            absl::StrCat("--resume: no checkpoint in ", tc.output_dir(), "/checkpoints"));
      }
    }
  }
  // Records past the checkpoint will be written again.
  if (start_step_ > 0 && !jsonl_.empty()) HS_RETURN_IF_ERROR(TrimMetrics(jsonl_, start_step_));
  if (engine_) {
    // Initial (or restored) parameters and AdamW state to the device.
    std::vector<optim::StateSpan> spans = optimizers_[0]->StateSpans();
    if (spans.size() != 2) return absl::InternalError("the engine needs AdamW state");
    HS_RETURN_IF_ERROR(
        engine_->LoadState(model_->arena().params(), spans[0].data, spans[1].data));
  }
  const std::string out_dir = options_.write_outputs ? tc.output_dir() : "";
  HS_ASSIGN_OR_RETURN(
      log_, StepLog::Open(jsonl_, options_.live_progress && ctx_->is_logger(),
                          /*append=*/start_step_ > 0,
                          out_dir.empty() ? "" : (fs::path(out_dir) / "train.log").string(),
                          out_dir));
  return absl::OkStatus();
}

absl::StatusOr<StepMetrics> Trainer::TrainStep(int64_t step) {
  const double t0 = NowSeconds();
  HS_RETURN_IF_ERROR(runner_->ZeroGrads());
  HS_ASSIGN_OR_RETURN(MetricSums sums, objective_->ForwardBackward(step, *runner_));
  const double t_compute = NowSeconds() - t0;
  const double lr = schedule_->LrAt(step);
  HS_ASSIGN_OR_RETURN(UpdateResult update, runner_->Update(step, lr));
  // Sums over all ranks, in rank order: identical everywhere.
  HS_RETURN_IF_ERROR(ctx_->SumOverWorld(sums.values(), sums.size()));
  const double seconds = NowSeconds() - t0;

  StepMetrics m;
  m.step = step + 1;
  m.total_steps = config_.train().steps();
  objective_->Report(sums, &m);
  m.lr = lr;
  m.grad_norm = update.grad_norm;
  m.step_seconds = seconds;
  const double tokens = double(batch_.global_batch) * batch_.seq_len;
  m.tokens_per_s = tokens / seconds;
  m.gflops = flops_per_token_ * tokens / seconds / 1e9;
  const double peak = peak_.gflops * ctx_->world_size();
  m.mfu = peak > 0 ? m.gflops / peak : 0;
  m.pp = ctx_->pp_size();
  m.bubble = pipeline_ ? sums.Get("bubble") / std::max(1, ctx_->world_size()) : 0;
  m.dp = ctx_->dp_size();
  if (dispatcher_) {
    m.a2a_seconds = dispatcher_->stats().wait_s;
    dispatcher_->ResetStats();
  }
  m.compute_seconds = t_compute;
  m.exposed_comm_seconds = update.timeline.exposed;
  m.overlap = update.timeline.overlap();
  if (update.timeline.sparse_rows_total > 0) {
    m.embedding_rows_reduced =
        double(update.timeline.sparse_rows) / double(update.timeline.sparse_rows_total);
  }
  last_timeline_ = update.timeline;
  return m;
}

absl::StatusOr<EvalResult> Trainer::Evaluate() {
  if (!objective_->has_eval()) {
    return absl::FailedPreconditionError("Evaluate: train.eval_every is 0");
  }
  HS_ASSIGN_OR_RETURN(EvalResult r, objective_->Evaluate(*runner_));
  if (dispatcher_) dispatcher_->ResetStats();  // the next step's a2a time only
  return r;
}

void Trainer::LogRunHeader() {
  const int64_t steps = config_.train().steps();
  if (!resumed_from_.empty()) {
    log_->Note(absl::StrFormat("resuming from %s (step %d)", resumed_from_, start_step_));
  }
  log_->Note(absl::StrFormat(
      "hai train: %d steps, global batch %d x %d tokens (%d micro-batches), %.2fM parameters, "
      "%d threads",
      steps, batch_.global_batch, batch_.seq_len, batch_.micro_batches,
      model_->arena().size() / 1e6, NumThreads()));
  log_->Note(absl::StrFormat("MFU peak: %.1f GFLOP/s per rank = %s", peak_.gflops, peak_.how));
  if (engine_) log_->Note("device: " + engine_->Describe());
  if (grad_sync_ && grad_sync_->data_parallel()) {
    log_->Note(absl::StrFormat("data parallel: %s; optimizer state %.2f MB per rank",
                               grad_sync_->Describe(), OptimizerStateFloats() * 4 / 1e6));
  }
  if (pipeline_) {
    log_->Note(absl::StrFormat(
        "pipeline: %d stages (%s), %d micro-batches per step, theoretical bubble %.3f",
        ctx_->pp_size(),
        config_.parallel().pp_schedule() == config::ParallelConfig::ZB_H1 ? "ZB-H1" : "1F1B",
        batch_.micro_batches, parallel::TheoreticalBubble(ctx_->pp_size(), batch_.micro_batches)));
  }
  if (ctx_->ep_size() > 1) {
    log_->Note(absl::StrFormat("expert parallel: %d ranks per EP group, %d experts per rank",
                               ctx_->ep_size(), dispatcher_->num_local_experts()));
  }
  for (const std::string& note : objective_->header_notes()) log_->Note(note);
}

absl::Status Trainer::Run() {
  const config::TrainConfig& tc = config_.train();
  const int64_t steps = tc.steps();
  const int64_t log_every = std::max<int64_t>(1, tc.log_every());
  if (!options_.quiet) LogRunHeader();
  for (int64_t step = start_step_; step < steps; ++step) {
    HS_ASSIGN_OR_RETURN(StepMetrics m, TrainStep(step));
    train_seconds_ += m.step_seconds;
    m.eta_seconds = train_seconds_ / (step + 1 - start_step_) * (steps - step - 1);
    losses_.push_back(m.loss);
    const bool evaluate =
        tc.eval_every() > 0 && ((step + 1) % tc.eval_every() == 0 || step + 1 == steps);
    if (evaluate) {
      HS_ASSIGN_OR_RETURN(EvalResult e, Evaluate());
      m.eval_loss = e.loss;
      m.eval_tokens = e.tokens;
      m.eval_perplexity = e.perplexity;
      for (const auto& [name, value] : e.metrics) m.objective.push_back({"eval_" + name, value});
    }
    const bool print = !options_.quiet && ((step + 1) % log_every == 0 || step == start_step_ ||
                                           step + 1 == steps || evaluate);
    HS_RETURN_IF_ERROR(log_->Log(m, print));
    HS_ASSIGN_OR_RETURN(const bool preempted, StopForPreemption(step));
    if (preempted) {
      return absl::CancelledError(absl::StrCat(
          "preempted after step ", step + 1,
          checkpointer_ ? "; checkpoint saved, rerun the same command to resume"
                        : " (no output_dir: nothing saved)"));
    }
    if (tc.save_every() > 0 && (step + 1) % tc.save_every() == 0 && step + 1 < steps) {
      HS_RETURN_IF_ERROR(SaveCheckpoint(step + 1));
    }
  }
  return Finish();
}

absl::StatusOr<bool> Trainer::StopForPreemption(int64_t step) {
  // Every rank learns of a signal on any rank at the same step boundary,
  // saves, and stops.
  const bool local = PreemptionRequested() || (options_.preempt_after_steps > 0 &&
                                               step + 1 == options_.preempt_after_steps);
  HS_ASSIGN_OR_RETURN(const bool preempt, ctx_->AnyRank(local));
  if (!preempt) return false;
  log_->Finish();
  HS_RETURN_IF_ERROR(SaveCheckpoint(step + 1));
  if (checkpointer_) HS_RETURN_IF_ERROR(checkpointer_->Wait());
  return true;
}

absl::Status Trainer::Finish() {
  const int64_t steps = config_.train().steps();
  log_->Finish();
  if (start_step_ < steps) HS_RETURN_IF_ERROR(SaveCheckpoint(steps));
  if (checkpointer_) HS_RETURN_IF_ERROR(checkpointer_->Wait());
  if (!save_weights_) return absl::OkStatus();
  // The final checkpoint above already copied the engine's state back.
  const bool synced = checkpointer_ != nullptr && start_step_ < steps;
  if (!synced) HS_RETURN_IF_ERROR(SyncHostModel());
  const std::string dir = (fs::path(config_.train().output_dir()) / "weights").string();
  HS_RETURN_IF_ERROR(SaveWeights(dir));
  if (!options_.quiet) log_->Note("weights saved to " + dir);
  return absl::OkStatus();
}

absl::Status Trainer::SyncHostModel() {
  if (!engine_) return absl::OkStatus();
  std::vector<optim::StateSpan> spans = optimizers_[0]->StateSpans();
  return engine_->StoreState(model_->arena().params(), spans[0].data, spans[1].data);
}

absl::Status Trainer::DumpGradients() const {
  // ZeRO-1 and node-shared parameters leave each rank only its parts of the sum.
  if (sharded()) {
    return absl::FailedPreconditionError(
        "--dump-grads needs parallel.zero_stage 0 and parallel.node_shared_params false");
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
                       absl::StrCat("grads_stage", ctx_->stage(), "_ep", ctx_->ep_rank(),
                                    ".safetensors"))
                          .string());
}

bool Trainer::WritesParam(const models::ParamSpec& spec) const {
  // Routed experts differ across an EP group and repeat across its replicas;
  // everything else repeats across the whole DP group.
  return spec.expert >= 0 && ctx_->ep_size() > 1 ? ctx_->ep_group() == 0 : ctx_->dp_rank() == 0;
}

int64_t Trainer::OptimizerStateFloats() const {
  int64_t n = 0;
  for (const auto& o : optimizers_)
    for (const auto& span : const_cast<optim::Optimizer&>(*o).StateSpans()) n += span.size;
  return n;
}

absl::Status Trainer::SaveWeights(const std::string& dir) const {
  const int pp = ctx_->pp_size(), ep = ctx_->ep_size();
  if (pp == 1 && ep == 1) {
    // Every data-parallel rank holds the whole model: rank 0 writes it.
    return ctx_->is_logger() ? SaveHfWeights(*model_, config_.model(), dir, DType::kF32)
                             : absl::OkStatus();
  }
  // Pipeline / expert parallel: one shard per (stage, ep_rank), written by
  // the first EP group of each stage (dense parameters by its ep_rank 0),
  // then rank 0 writes the index: a HF sharded folder.
  const int shards = pp * ep;
  if (ctx_->ep_group() == 0) {
    HS_RETURN_IF_ERROR(SaveHfWeightsShard(
        *model_, dir, DType::kF32, ctx_->stage() * ep + ctx_->ep_rank(), shards,
        [this](const models::ParamSpec& s) { return WritesParam(s); }));
  }
  HS_RETURN_IF_ERROR(ctx_->Barrier());
  if (ctx_->is_logger()) return WriteHfShardIndex(dir, shards, config_.model());
  return absl::OkStatus();
}

}  // namespace hs::train
