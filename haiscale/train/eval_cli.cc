// File: haiscale/train/eval_cli.cc
//
// `hai eval --weights DIR --data FILE --seq S [--rows N] [--batch B] [--threads N]`
// Mean next-token cross-entropy and perplexity of HF-layout weights
// (DIR/config.json + safetensors) on a token file read as consecutive rows
// of S+1 tokens, in file order, optionally only the first N rows.
// Exit codes: 0 done, 1 evaluation failed (including a non-finite
// cross-entropy), 2 bad usage (S above max_position_embeddings, N below 0
// or beyond the file, B < 1).
#include <cmath>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/config/model_config_convert.h"
#include "data/sampler.h"
#include "data/token_file.h"

namespace hs::train {
namespace {

struct EvalResult {
  double mean_ce = 0;
  int64_t rows = 0, tokens = 0;
};

// CheckEvalArgs: the numeric flags, before anything is loaded.
absl::Status CheckEvalArgs(const cli::ArgParser& args) {
  if (args.GetString("weights").empty()) {
    return absl::InvalidArgumentError("--weights DIR is required");
  }
  if (args.GetString("data").empty()) return absl::InvalidArgumentError("--data FILE is required");
  if (args.GetInt("seq") <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("--seq must be > 0, got ", args.GetInt("seq")));
  }
  if (args.GetInt("rows") < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rows must be >= 0 (0 = all rows), got ", args.GetInt("rows")));
  }
  if (args.GetInt("batch") <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--batch must be > 0, got ", args.GetInt("batch")));
  }
  if (args.GetInt("threads") < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--threads must be >= 0 (0 = all cores), got ", args.GetInt("threads")));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvalResult> Evaluate(const cli::ArgParser& args) {
  const std::string dir = args.GetString("weights");
  const int64_t S = args.GetInt("seq");
  HS_ASSIGN_OR_RETURN(config::ModelConfig mp, config::LoadModelConfigFile(dir));
  HS_RETURN_IF_ERROR(Annotate(config::ValidateModelConfig(mp), dir, "/config.json"));
  if (S > mp.max_position_embeddings()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--seq ", S, " exceeds max_position_embeddings (", mp.max_position_embeddings(),
                     ") of ", dir, "/config.json"));
  }
  models::DeepseekV2Config mc = config::ToModelConfig(mp);
  // Forwards only, weights from the file: no gradients, no random init.
  HS_ASSIGN_OR_RETURN(auto model, models::DeepseekV2Model::CreateForInference(
                                      mc, {.max_seq_len = S, .params_from_file = true}));
  HS_RETURN_IF_ERROR(LoadHfWeights(dir, model.get()));
  HS_ASSIGN_OR_RETURN(auto file, data::TokenFile::Open(args.GetString("data")));
  HS_RETURN_IF_ERROR(file->Validate(mc.vocab_size));
  HS_ASSIGN_OR_RETURN(data::EvalRows rows, data::EvalRows::Create(file.get(), S, 0));
  const int64_t wanted = args.GetInt("rows");
  if (wanted > rows.num_rows()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--rows ", wanted, ": ", args.GetString("data"), " holds only ", rows.num_rows(),
        " rows of --seq + 1 = ", S + 1, " tokens"));
  }
  if (wanted > 0) {
    HS_ASSIGN_OR_RETURN(rows, data::EvalRows::Create(file.get(), S, wanted));
  }
  const int64_t B = args.GetInt("batch");
  std::vector<int32_t> in(B * S), tg(B * S);
  EvalResult r;
  double ce = 0;
  for (int64_t first = 0; first < rows.num_rows(); first += B) {
    const int64_t n = std::min(B, rows.num_rows() - first);
    HS_RETURN_IF_ERROR(rows.FillRows(first, n, in.data(), tg.data()));
    HS_ASSIGN_OR_RETURN(models::ForwardResult f, model->Forward(in.data(), tg.data(), n, S));
    ce += f.ce_sum;
    r.tokens += f.valid_tokens;
  }
  r.rows = rows.num_rows();
  r.mean_ce = r.tokens ? ce / r.tokens : 0;
  if (!std::isfinite(r.mean_ce)) {
    // NaN/Inf weights (or an overflow) give no meaningful number: an error,
    // not a result.
    return absl::DataLossError(absl::StrCat("cross-entropy is ", r.mean_ce, " (not finite) for ",
                                            dir, " on ", args.GetString("data"),
                                            ": the weights hold NaN/Inf or overflow"));
  }
  return r;
}

int RunEval(int argc, char** argv) {
  cli::ArgParser args("hai eval");
  args.AddString("weights", "", "folder with config.json + model.safetensors (HF layout)");
  args.AddString("data", "", "token file (flat little-endian uint32)");
  args.AddInt("seq", 256, "sequence length S (rows are S+1 tokens)");
  args.AddInt("rows", 0, "evaluate only the first N rows (0 = all)");
  args.AddInt("batch", 8, "rows per forward");
  args.AddInt("threads", 0, "CPU threads (0 = all cores)");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  absl::Status usage = CheckEvalArgs(args);
  if (!usage.ok()) {
    std::fprintf(stderr, "hai eval: %s\n", std::string(usage.message()).c_str());
    return 2;
  }
  SetNumThreads(int(args.GetInt("threads")));
  auto r = Evaluate(args);
  if (!r.ok()) {
    std::fprintf(stderr, "hai eval: %s\n", std::string(r.status().message()).c_str());
    return r.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  std::printf("rows %lld | tokens %lld | cross-entropy %.6f | perplexity %.4f\n",
              (long long)r->rows, (long long)r->tokens, r->mean_ce, std::exp(r->mean_ce));
  return 0;
}

HS_REGISTER_SUBCOMMAND("eval", "cross-entropy and perplexity of weights on a token file", RunEval);

}  // namespace
}  // namespace hs::train
