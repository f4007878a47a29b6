// File: haiscale/checkpoint/convert_cli.cc
//
// `hai convert --from SRC --to DST [--dtype f32|bf16] [--max-shard-size 2GB]
//              [--overwrite]`
//
// The direction follows SRC:
//   * a HaiScale run directory (checkpoints/latest) or checkpoint directory
//     (manifest.json) -> DST becomes a Hugging Face DeepSeek-V2 folder:
//     config.json + model.safetensors, or model-0000i-of-0000n.safetensors +
//     model.safetensors.index.json when larger than --max-shard-size;
//   * a Hugging Face folder (config.json + model.safetensors[.index.json])
//     -> DST becomes a run directory holding a parameters-only step-0
//     checkpoint (checkpoints/step_00000000 + latest); `hai train
//     --output-dir DST` resumes from it (fresh optimizer state).
// Exit codes: 0 done, 1 conversion failed, 2 bad usage.
//
// Usage:
//   hai convert --from runs/quickstart --to out/hf --dtype bf16
//   hai convert --from models/DeepSeek-V2-Lite --to runs/finetune
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "haiscale/checkpoint/hf_convert.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"

namespace hs::checkpoint {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// IsHfFolder(dir): config.json plus weights, and not a HaiScale checkpoint.
bool IsHfFolder(const std::string& dir) {
  return Exists(dir + "/config.json") && !Exists(dir + "/manifest.json") &&
         (Exists(dir + "/model.safetensors") || Exists(dir + "/model.safetensors.index.json"));
}

absl::StatusOr<ConvertReport> Convert(const cli::ArgParser& args) {
  const std::string from = args.GetString("from");
  const std::string to = args.GetString("to");
  if (from.empty() || to.empty()) {
    return absl::InvalidArgumentError("--from and --to are required");
  }
  if (IsHfFolder(from)) {
    if (args.IsSet("dtype") || args.IsSet("max-shard-size") || args.IsSet("overwrite")) {
      return absl::InvalidArgumentError(
          "--dtype, --max-shard-size and --overwrite apply to checkpoint -> HF only (a "
          "checkpoint is always fp32, and is never written over an existing run)");
    }
    return HfToCheckpoint(from, to);
  }
  CheckpointToHfOptions options;
  const std::string dtype = args.GetString("dtype");
  if (dtype == "f32" || dtype == "float32") {
    options.dtype = io::SafetensorsDType::kF32;
  } else if (dtype == "bf16" || dtype == "bfloat16") {
    options.dtype = io::SafetensorsDType::kBF16;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("--dtype must be f32 or bf16, got '", dtype, "'"));
  }
  absl::StatusOr<int64_t> max_shard = ParseByteSize(args.GetString("max-shard-size"));
  if (!max_shard.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--max-shard-size: ", max_shard.status().message()));
  }
  options.max_shard_bytes = *max_shard;
  options.overwrite = args.GetBool("overwrite");
  return CheckpointToHf(from, to, options);
}

int RunConvert(int argc, char** argv) {
  cli::ArgParser args("hai convert");
  args.AddString("from", "",
                 "a run directory or checkpoint directory (-> HF), or a HF folder (-> checkpoint)");
  args.AddString("to", "", "the HF folder, or the run directory, to create");
  args.AddString("dtype", "f32", "checkpoint -> HF: f32 or bf16 on disk");
  args.AddString("max-shard-size", "2GB",
                 "checkpoint -> HF: split into model-0000i-of-0000n.safetensors above this size");
  args.AddBool("overwrite", "checkpoint -> HF: replace an existing --to folder");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  absl::StatusOr<ConvertReport> report = Convert(args);
  if (!report.ok()) {
    std::fprintf(stderr, "hai convert: %s\n", std::string(report.status().message()).c_str());
    return report.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::printf("converted %s (step %lld) -> %s: %lld tensors, %.1f MB in %s\n",
              report->source.c_str(), static_cast<long long>(report->step),
              report->destination.c_str(), static_cast<long long>(report->tensors),
              double(report->tensor_bytes) / 1e6, absl::StrJoin(report->files, ", ").c_str());
  return 0;
}

HS_REGISTER_SUBCOMMAND("convert",
                       "HaiScale checkpoint <-> Hugging Face DeepSeek-V2 folder (safetensors)",
                       RunConvert);

}  // namespace
}  // namespace hs::checkpoint
