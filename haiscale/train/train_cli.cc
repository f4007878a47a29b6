// File: haiscale/train/train_cli.cc
//
// `hai train --config FILE [--set a.b=c ...] [--steps N] [--output-dir DIR]
//            [--threads N] [--init-from HF_DIR] [--quiet]`
// Loads the config, applies overrides (validated like the file), trains,
// saves weights. Exit codes: 0 done, 1 training failed, 2 bad usage/config.
#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/train/trainer.h"

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
  for (const std::string& s : sets) {
    absl::Status st = config::ApplyOverride(&*cfg, s);
    if (!st.ok()) return Annotate(st, "--set ", s);
  }
  absl::Status valid = config::ValidateConfig(*cfg);
  if (!valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(args.GetString("config"), " (with overrides) is invalid:\n", valid.message()));
  }
  return cfg;
}

int RunTrain(int argc, char** argv) {
  cli::ArgParser args("hai train");
  args.AddString("config", "", "run config (.pbtxt), e.g. configs/quickstart.pbtxt");
  args.AddList("set", "override a config field: --set train.steps=10");
  args.AddInt("steps", 0, "shortcut for --set train.steps=N");
  args.AddString("output-dir", "", "shortcut for --set train.output_dir=DIR");
  args.AddInt("threads", 0, "CPU threads (0 = all cores); shortcut for train.threads");
  args.AddString("init-from", "", "start from HF-layout weights in DIR (config.json + safetensors)");
  args.AddString("data", "", "shortcut for --set data.train_path=FILE");
  args.AddString("model", "", "take the model section from a HF config.json (or a folder with one)");
  args.AddBool("quiet", "no per-step output");
  absl::Status parsed = args.Parse(argc, argv);
  if (args.help_requested()) {
    std::printf("%s", args.Usage().c_str());
    return 0;
  }
  if (!parsed.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(parsed.message()).c_str(), args.Usage().c_str());
    return 2;
  }
  auto cfg = LoadRunConfig(args);
  if (!cfg.ok()) {
    std::fprintf(stderr, "hai train: %s\n", std::string(cfg.status().message()).c_str());
    return 2;
  }
  TrainerOptions options;
  options.live_progress = isatty(STDOUT_FILENO) != 0;
  options.quiet = args.GetBool("quiet");
  auto trainer = Trainer::Create(*cfg, options);
  if (!trainer.ok()) {
    std::fprintf(stderr, "hai train: %s\n", std::string(trainer.status().message()).c_str());
    return trainer.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  absl::Status run = (*trainer)->Run();
  if (!run.ok()) {
    std::fprintf(stderr, "\nhai train: %s\n", std::string(run.message()).c_str());
    return 1;
  }
  const auto& losses = (*trainer)->losses();
  if (!losses.empty() && !options.quiet) {
    std::printf("loss %.4f -> %.4f over %zu steps\n", losses.front(), losses.back(), losses.size());
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("train", "train a DeepSeek-V2 model from a .pbtxt config", RunTrain);

}  // namespace
}  // namespace hs::train
