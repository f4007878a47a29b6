// File: haiscale/train/eval_cli.cc
//
// `hai eval --weights DIR --data FILE --seq S [--rows N] [--batch B] [--threads N]`
// Mean next-token cross-entropy and perplexity of HF-layout weights
// (DIR/config.json + safetensors) on a token file read as consecutive rows
// of S+1 tokens, in file order, optionally only the first N rows.
#include <cmath>
#include <cstdio>
#include <vector>

#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/train/model_config_convert.h"
#include "data/sampler.h"
#include "data/token_file.h"

namespace hs::train {
namespace {

struct EvalResult {
  double mean_ce = 0;
  int64_t rows = 0, tokens = 0;
};

absl::StatusOr<EvalResult> Evaluate(const cli::ArgParser& args) {
  const std::string dir = args.GetString("weights");
  if (dir.empty()) return absl::InvalidArgumentError("--weights DIR is required");
  if (args.GetString("data").empty()) return absl::InvalidArgumentError("--data FILE is required");
  const int64_t S = args.GetInt("seq");
  if (S <= 0) return absl::InvalidArgumentError("--seq must be > 0");
  HS_ASSIGN_OR_RETURN(config::ModelConfig mp, config::LoadModelConfigFile(dir));
  HS_RETURN_IF_ERROR(Annotate(config::ValidateModelConfig(mp), dir, "/config.json"));
  models::DeepseekV2Config mc = ToModelConfig(mp);
  HS_ASSIGN_OR_RETURN(auto model, models::DeepseekV2Model::Create(mc, {.max_seq_len = S}));
  HS_RETURN_IF_ERROR(LoadHfWeights(dir, model.get()));
  HS_ASSIGN_OR_RETURN(auto file, data::TokenFile::Open(args.GetString("data")));
  HS_RETURN_IF_ERROR(file->Validate(mc.vocab_size));
  HS_ASSIGN_OR_RETURN(data::EvalRows rows,
                      data::EvalRows::Create(file.get(), S, args.GetInt("rows")));
  const int64_t B = std::max<int64_t>(1, args.GetInt("batch"));
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
