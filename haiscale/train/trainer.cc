// File: haiscale/train/trainer.cc — see trainer.h.
#include "haiscale/train/trainer.h"

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/train/model_config_convert.h"
#include "optim/clip.h"
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

  // ---- model (from scratch, or from HF weights)
  models::DeepseekV2Config mc = ToModelConfig(config.model());
  models::ModelOptions mo;
  mo.seed = tc.seed();
  mo.max_seq_len = std::max<int64_t>(t->seq_len_, 1);
  mo.recompute_all = tc.recompute();
  mo.recompute_layers.assign(tc.recompute_layers().begin(), tc.recompute_layers().end());
  HS_ASSIGN_OR_RETURN(t->model_, models::DeepseekV2Model::Create(mc, mo));
  if (!tc.init_from().empty()) {
    HS_RETURN_IF_ERROR(Annotate(LoadHfWeights(tc.init_from(), t->model_.get()),
                                "train.init_from"));
  }
  t->flops_per_token_ = t->model_->TrainingFlopsPerToken(t->seq_len_);

  // ---- optimizer and schedule
  HS_ASSIGN_OR_RETURN(t->optimizer_, BuildOptimizer(config, t->model_->arena(), 0,
                                                    t->model_->arena().size()));
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

  // ---- run directory
  std::string jsonl;
  if (options.write_outputs) {
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
  HS_ASSIGN_OR_RETURN(t->log_, StepLog::Open(jsonl, options.live_progress));
  return t;
}

absl::StatusOr<StepMetrics> Trainer::TrainStep(int64_t step) {
  using Clock = std::chrono::steady_clock;
  auto t0 = Clock::now();
  const int64_t S = seq_len_;
  models::ParamArena& arena = model_->arena();
  // The whole global batch up front: its target count normalises the loss.
  HS_RETURN_IF_ERROR(sampler_->FillBatch(step, 0, global_batch_, inputs_.data(), targets_.data()));
  int64_t valid = 0;
  for (int32_t t : targets_) valid += t >= 0;
  if (valid == 0) return absl::InvalidArgumentError(absl::StrCat("step ", step + 1, ": no targets"));
  arena.ZeroGrads();
  double ce_sum = 0, aux = 0;
  std::vector<int64_t> load;
  for (int64_t m = 0; m < accum_; ++m) {
    const int32_t* in = inputs_.data() + m * micro_batch_ * S;
    const int32_t* tg = targets_.data() + m * micro_batch_ * S;
    HS_ASSIGN_OR_RETURN(models::ForwardResult r, model_->Forward(in, tg, micro_batch_, S));
    ce_sum += r.ce_sum;
    // The balance loss is a mean over sequences: weight each micro-batch
    // by its share of the global batch.
    const float share = float(micro_batch_) / float(global_batch_);
    aux += r.aux_loss * share;
    std::vector<int64_t> l = model_->ExpertLoad();
    if (load.empty()) load.assign(l.size(), 0);
    for (size_t e = 0; e < l.size(); ++e) load[e] += l[e];
    HS_RETURN_IF_ERROR(model_->Backward(1.0f / float(valid), share));
  }
  optim::ClipResult clip =
      optim::ClipGradNorm(arena.grads(), arena.size(), config_.optimizer().grad_clip());
  if (!clip.finite) {
    return absl::InternalError(absl::StrCat("step ", step + 1,
                                            ": gradient norm is not finite (loss ",
                                            ce_sum / valid, "); stopping"));
  }
  const double lr = schedule_->LrAt(step);
  HS_RETURN_IF_ERROR(optimizer_->Step(arena.params(), arena.grads(), 0, arena.size(), step, lr));
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();

  StepMetrics m;
  m.step = step + 1;
  m.total_steps = config_.train().steps();
  m.loss = ce_sum / valid;
  m.aux_loss = aux;
  m.lr = lr;
  m.grad_norm = clip.norm;
  m.step_seconds = seconds;
  const double tokens = double(global_batch_) * S;
  m.tokens_per_s = tokens / seconds;
  m.gflops = flops_per_token_ * tokens / seconds / 1e9;
  m.mfu = peak_.gflops > 0 ? m.gflops / peak_.gflops : 0;
  if (!load.empty()) {
    double sum = 0, mx = 0;
    for (int64_t v : load) {
      sum += v;
      mx = std::max(mx, double(v));
    }
    m.max_expert_load = sum > 0 ? mx / (sum / load.size()) : 0;
  }
  return m;
}

absl::Status Trainer::Run() {
  const int64_t steps = config_.train().steps();
  const int64_t log_every = std::max<int64_t>(1, config_.train().log_every());
  const int64_t save_every = config_.train().save_every();
  const std::string& out = config_.train().output_dir();
  if (!options_.quiet) {
    std::printf("hai train: %lld steps, global batch %lld x %lld tokens (%lld micro-batches), "
                "%.2fM parameters, %d threads\n",
                (long long)steps, (long long)global_batch_, (long long)seq_len_,
                (long long)accum_, model_->arena().size() / 1e6, NumThreads());
    std::printf("MFU peak: %.1f GFLOP/s = %s\n", peak_.gflops, peak_.how.c_str());
    std::fflush(stdout);
  }
  for (int64_t step = 0; step < steps; ++step) {
    HS_ASSIGN_OR_RETURN(StepMetrics m, TrainStep(step));
    train_seconds_ += m.step_seconds;
    m.eta_seconds = train_seconds_ / (step + 1) * (steps - step - 1);
    losses_.push_back(m.loss);
    bool print = !options_.quiet && ((step + 1) % log_every == 0 || step == 0 || step + 1 == steps);
    HS_RETURN_IF_ERROR(log_->Log(m, print));
    if (options_.write_outputs && save_every > 0 && (step + 1) % save_every == 0 && step + 1 < steps) {
      HS_RETURN_IF_ERROR(SaveWeights((fs::path(out) / "weights").string()));
    }
  }
  log_->Finish();
  if (options_.write_outputs) {
    std::string dir = (fs::path(out) / "weights").string();
    HS_RETURN_IF_ERROR(SaveWeights(dir));
    if (!options_.quiet) std::printf("weights saved to %s\n", dir.c_str());
  }
  return absl::OkStatus();
}

absl::Status Trainer::SaveWeights(const std::string& dir) const {
  return SaveHfWeights(*model_, config_.model(), dir, DType::kF32);
}

}  // namespace hs::train
