// File: haiscale/train/train_cli.cc
//
// `hai train --config FILE [--set a.b=c ...] [--steps N] [--output-dir DIR]
//            [--threads N] [--init-from HF_DIR] [--quiet] [--dry-run]`
// Loads the config, applies overrides (validated like the file), trains,
// saves weights. Exit codes: 0 done, 1 training failed, 2 bad usage/config.
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/status.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/train/memory_plan.h"
#include "haiscale/train/preemption.h"
#include "haiscale/train/run_lock.h"
#include "haiscale/train/trainer.h"
#include "parallel/mpi_env.h"

namespace hs::train {
namespace {

// LoadRunConfig: --config plus --set overrides and the shortcut flags.
absl::StatusOr<config::RunConfig> LoadRunConfig(const cli::ArgParser& args) {
  if (args.GetString("config").empty()) {
    return absl::InvalidArgumentError("--config is required");
  }
  auto cfg = config::LoadConfig(args.GetString("config"));
  if (!cfg.ok()) return cfg.status();
  if (args.IsSet("model")) {
    // A HF config.json (or a folder holding one) replaces the model section.
    auto model = config::LoadModelConfigFile(args.GetString("model"));
    if (!model.ok()) return Annotate(model.status(), "--model");
    *cfg->mutable_model() = *model;
  }
  std::vector<std::string> sets = args.GetList("set");
  if (args.IsSet("steps")) sets.push_back(absl::StrCat("train.steps=", args.GetInt("steps")));
  if (args.IsSet("output-dir")) sets.push_back("train.output_dir=" + args.GetString("output-dir"));
  if (args.IsSet("threads")) sets.push_back(absl::StrCat("train.threads=", args.GetInt("threads")));
  if (args.IsSet("init-from")) sets.push_back("train.init_from=" + args.GetString("init-from"));
  if (args.IsSet("data")) sets.push_back("data.train_path=" + args.GetString("data"));
  if (args.IsSet("dp")) sets.push_back(absl::StrCat("parallel.dp=", args.GetInt("dp")));
  if (args.IsSet("zero")) sets.push_back(absl::StrCat("parallel.zero_stage=", args.GetInt("zero")));
  if (args.IsSet("pp")) sets.push_back(absl::StrCat("parallel.pp=", args.GetInt("pp")));
  if (args.IsSet("ep")) sets.push_back(absl::StrCat("parallel.ep=", args.GetInt("ep")));
  if (args.IsSet("device")) {
    const std::string d = args.GetString("device");
    if (d != "cpu" && d != "cuda") {
      return absl::InvalidArgumentError(absl::StrCat("--device ", d, ": expected cpu or cuda"));
    }
    sets.push_back(d == "cuda" ? "train.device=CUDA" : "train.device=CPU");
  }
  for (const std::string& s : sets) {
    absl::Status st = config::ApplyOverride(&*cfg, s);
    if (!st.ok()) return Annotate(st, "--set ", s);
  }
  absl::Status valid = config::ValidateConfig(*cfg);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(args.GetString("config"), " (with overrides) is invalid:\n", valid.message()));
  }
  if (!cfg->train().init_from().empty()) {
    // The weights must be of the model the run config describes.
    HS_RETURN_IF_ERROR(Annotate(CheckHfWeightsConfig(cfg->train().init_from(), cfg->model()),
                                "train.init_from"));
  }
  return cfg;
}

// AddTrainFlags: the flags of `hai train`.
void AddTrainFlags(cli::ArgParser* args) {
  args->AddString("config", "", "run config (.pbtxt), e.g. configs/quickstart.pbtxt");
  args->AddList("set", "override a config field: --set train.steps=10");
  args->AddInt("steps", 0, "shortcut for --set train.steps=N");
  args->AddString("output-dir", "", "shortcut for --set train.output_dir=DIR");
  args->AddInt("threads", 0, "CPU threads (0 = all cores); shortcut for train.threads");
  args->AddString("init-from", "", "start from HF-layout weights in DIR (config.json + safetensors); its model must match the run's (--model DIR takes it from DIR)");
  args->AddString("data", "", "shortcut for --set data.train_path=FILE");
  args->AddString("model", "", "take the model section from a HF config.json (or a folder with one)");
  args->AddString("device", "cpu", "cpu or cuda (one GPU per local rank; hai_cuda); train.device");
  args->AddBool("quiet", "no per-step output");
  args->AddBool("dry-run", "print the memory plan (parameters, gradients, optimizer state, "
                          "activations, HFReduce per rank) and exit");
  args->AddInt("dp", 0, "data-parallel ranks (default: all ranks of the mpirun job)");
  args->AddInt("zero", 0, "ZeRO stage: 1 shards the optimizer state over data-parallel ranks");
  args->AddInt("pp", 0, "pipeline stages (world = pp x dp); shortcut for parallel.pp");
  args->AddInt("ep", 0, "expert-parallel ranks within each data-parallel group; parallel.ep");
  args->AddDouble("debug-comm-delay-ms", 0, "testing: slow down each gradient bucket's transport");
  args->AddBool("resume", "require a checkpoint in output_dir and continue from it (default: "
                         "resume automatically when one exists)");
  args->AddBool("no-resume", "start from step 0 even when output_dir has a checkpoint");
  args->AddString("resume-from", "", "resume from this checkpoint (a checkpoints/step_* directory) "
                                   "instead of the newest intact one");
  args->AddInt("keep-last", 3, "complete checkpoints kept in <output_dir>/checkpoints");
  args->AddBool("async-checkpoint", "write checkpoints in the background (stall = host snapshot only)");
  args->AddInt("debug-preempt-after", 0, "testing: act as if SIGTERM arrived after step N");
  args->AddString("dump-grads", "", "testing: write the first step's reduced gradients to DIR");
  args->AddBool("check-replicas", "after every step, verify all data-parallel ranks hold identical parameters");
}

// OptionsFromArgs: the trainer's options from the flags.
absl::StatusOr<TrainerOptions> OptionsFromArgs(const cli::ArgParser& args, bool multi_rank) {
  TrainerOptions options;
  // mpirun hands ranks a pseudo-terminal even when its own output is a
  // pipe: under MPI print plain lines.
  options.live_progress = isatty(STDOUT_FILENO) != 0 && !multi_rank;
  options.quiet = args.GetBool("quiet");
  options.distributed = multi_rank;
  options.config_validated = true;  // LoadRunConfig validated it
  options.debug_comm_delay_ms = args.GetDouble("debug-comm-delay-ms");
  options.check_replicas = args.GetBool("check-replicas");
  options.dump_grads_dir = args.GetString("dump-grads");
  options.resume = !args.GetBool("no-resume");
  options.require_checkpoint = args.GetBool("resume");
  if (options.require_checkpoint && !options.resume) {
    return absl::InvalidArgumentError("--resume and --no-resume contradict each other");
  }
  options.resume_from = args.GetString("resume-from");
  if (!options.resume_from.empty() && !options.resume) {
    return absl::InvalidArgumentError("--resume-from and --no-resume contradict each other");
  }
  options.keep_last = int(args.GetInt("keep-last"));
  options.async_checkpoint = args.GetBool("async-checkpoint");
  options.preempt_after_steps = args.GetInt("debug-preempt-after");
  return options;
}

// LockRunDir(config): one job per run directory, held until this process
// exits (rank 0 only; nullptr elsewhere).
absl::StatusOr<std::unique_ptr<RunDirLock>> LockRunDir(const config::RunConfig& cfg) {
  if (parallel::MpiEnv::rank() != 0) return std::unique_ptr<RunDirLock>();
  std::string previous;
  HS_ASSIGN_OR_RETURN(std::unique_ptr<RunDirLock> lock,
                      RunDirLock::Acquire(cfg.train().output_dir(), &previous));
  if (!previous.empty()) {
    std::fprintf(stderr, "hai train: %s was left by a job that died without releasing it (%s); "
                 "taking it over\n",
                 lock->path().c_str(), previous.c_str());
  }
  return lock;
}

int RunTrain(int argc, char** argv) {
  cli::ArgParser args("hai train");
  AddTrainFlags(&args);
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  const bool multi_rank = parallel::MpiEnv::active() && parallel::MpiEnv::size() > 1;
  // Under mpirun any failure aborts every rank (nobody hangs in a collective).
  auto fail = [&](const absl::Status& s, int code) {
    if (multi_rank) parallel::AbortJob(s, code);
    std::fprintf(stderr, "hai train: %s\n", std::string(s.message()).c_str());
    return code;
  };
  auto cfg = LoadRunConfig(args);
  if (!cfg.ok()) return fail(cfg.status(), 2);
  // The memory plan, before anything is allocated: a run this machine
  // cannot hold is refused here instead of growing until it is killed.
  const bool dry_run = args.GetBool("dry-run");
  absl::Status fits = CheckTrainingMemory(*cfg, dry_run || !args.GetBool("quiet"));
  if (!fits.ok()) return fail(fits, 2);
  if (dry_run) return 0;
  auto options = OptionsFromArgs(args, multi_rank);
  if (!options.ok()) return fail(options.status(), 2);
  auto run_lock = LockRunDir(*cfg);
  if (!run_lock.ok()) return fail(run_lock.status(), 1);
  InstallPreemptionHandlers();
  auto trainer = Trainer::Create(*cfg, *options);
  if (!trainer.ok()) {
    return fail(trainer.status(),
                trainer.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1);
  }
  absl::Status run = (*trainer)->Run();
  if (absl::IsCancelled(run)) {
    // Preempted: every rank saved its shard; exit with the distinct code.
    if (parallel::MpiEnv::rank() == 0) {
      std::fprintf(stderr, "hai train: %s\n", std::string(run.message()).c_str());
    }
    trainer->reset();
    run_lock->reset();
    parallel::MpiEnv::Finalize();
    std::exit(kExitPreempted);
  }
  if (!run.ok()) return fail(run, 1);
  const auto& losses = (*trainer)->losses();
  if (!losses.empty() && !options->quiet && parallel::MpiEnv::rank() == 0) {
    std::printf("loss %.4f -> %.4f over %zu steps\n", losses.front(), losses.back(), losses.size());
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("train", "train a DeepSeek-V2 model from a .pbtxt config", RunTrain);

}  // namespace
}  // namespace hs::train
