// File: haiscale/generate/bench_generate_cli.cc
//
// `hai bench generate [--config configs/bench/small.pbtxt | --weights DIR]
//   [--batch 1,16] [--prompt-len 64] [--new-tokens 64] [--repeats 5]
//   [--threads N] [--attention absorbed|expanded] [--compare-torch]`
// Decode throughput of `hai generate`'s path (models/decode, greedy): for
// each batch size, B prompts of random tokens are prefilled and then
// decoded one token per step; the rate is the tokens of the single-token
// steps over their time, median of --repeats runs after one warm-up.
// Without --weights the config's model is randomly initialised and written
// as HF weights to a scratch folder, so the PyTorch eager peer
// (tools/peers/generate_torch.py: per-head K/V cache, same threads) decodes
// the same weights; its greedy tokens of row 0 are compared with ours.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/config/config.h"
#include "haiscale/generate/hf_model.h"
#include "haiscale/rng.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/config/model_config_convert.h"
#include "models/decode/generator.h"
#include "models/decode/latent_kv_cache.h"

namespace hs::generate {
namespace {

namespace fs = std::filesystem;
namespace md = models::decode;

struct PeerResult {
  double tokens_per_s = 0;
  int64_t cache_bytes = 0;
  std::vector<int32_t> tokens;
};

absl::StatusOr<PeerResult> RunPeer(const cli::ArgParser& args, const std::string& dir,
                                   int64_t batch, const std::vector<int32_t>& row0) {
  const std::string cmd = absl::StrCat(
      args.GetString("python"), " ", args.GetString("peer-script"), " --weights ", dir,
      " --batch ", batch, " --prompt-len ", args.GetInt("prompt-len"), " --new-tokens ",
      args.GetInt("new-tokens"), " --repeats ", args.GetInt("repeats"), " --threads ",
      NumThreads(), " --prompt-ids ", absl::StrJoin(row0, ","), " --json");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError("cannot run " + cmd);
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  const int rc = pclose(p);
  const nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (rc != 0 || j.is_discarded() || !j.contains("decode_tokens_per_s")) {
    return absl::InternalError(absl::StrCat("PyTorch peer failed (exit ", rc, "): ", cmd));
  }
  return PeerResult{j["decode_tokens_per_s"].get<double>(),
                    j["kv_cache_bytes_per_token"].get<int64_t>(),
                    j["tokens"].get<std::vector<int32_t>>()};
}

absl::Status Run(const cli::ArgParser& args) {
  std::string dir = args.GetString("weights");
  std::string scratch;
  if (dir.empty()) {
    HS_ASSIGN_OR_RETURN(config::ModelConfig mp,
                        config::LoadModelConfigFile(args.GetString("config")));
    HS_RETURN_IF_ERROR(Annotate(config::ValidateModelConfig(mp), args.GetString("config")));
    HS_ASSIGN_OR_RETURN(auto init,
                        models::DeepseekV2Model::Create(config::ToModelConfig(mp), {.seed = 1}));
    scratch = (fs::temp_directory_path() / absl::StrCat("hai_bench_generate_", getpid())).string();
    HS_RETURN_IF_ERROR(train::SaveHfWeights(*init, mp, scratch, DType::kF32));
    dir = scratch;
  }
  auto cleanup = [&] {
    if (!scratch.empty()) fs::remove_all(scratch);
  };
  auto model = LoadInferenceModel(dir);
  if (!model.ok()) {
    cleanup();
    return model.status();
  }
  const models::DeepseekV2Config& c = (*model)->config();
  const int64_t P = args.GetInt("prompt-len"), N = args.GetInt("new-tokens");
  const int64_t repeats = args.GetInt("repeats");
  absl::Status status;
  if (P < 1 || N < 2 || repeats < 1) {
    status = absl::InvalidArgumentError("--prompt-len >= 1, --new-tokens >= 2, --repeats >= 1");
  } else if (P + N > c.max_position_embeddings) {
    status = absl::InvalidArgumentError(absl::StrCat(
        "--prompt-len + --new-tokens exceed max_position_embeddings (",
        c.max_position_embeddings, ")"));
  }
  std::vector<int64_t> batches;
  for (absl::string_view b : absl::StrSplit(args.GetString("batch"), ',')) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(b, &v) || v < 1) {
      status = absl::InvalidArgumentError("--batch: comma-separated sizes >= 1");
    }
    batches.push_back(v);
  }
  if (!status.ok()) {
    cleanup();
    return status;
  }
  std::printf("hai bench generate: %s | %d layers, hidden %d, %d heads, %d routed experts | "
              "prompt %d + %d new tokens, greedy | %d threads | median of %d\n",
              args.GetString("weights").empty() ? args.GetString("config").c_str() : dir.c_str(),
              int(c.num_hidden_layers), int(c.hidden_size), int(c.num_attention_heads),
              int(c.n_routed_experts), int(P), int(N), NumThreads(), int(repeats));
  std::printf("KV cache per token: latent %lld B (HaiScale) vs per-head K/V %lld B\n",
              (long long)md::LatentCacheBytesPerToken(c), (long long)md::FullKvCacheBytesPerToken(c));
  std::printf("%6s | %18s | %18s | %6s | %s\n", "batch", "HaiScale tok/s", "PyTorch tok/s",
              "ratio", "greedy tokens (row 0)");
  for (int64_t B : batches) {
    std::vector<std::vector<int32_t>> prompts(B);
    for (int64_t b = 0; b < B; ++b) {
      Philox rng(7, uint64_t(b));
      for (int64_t t = 0; t < P; ++t) prompts[b].push_back(int32_t(rng.Uint64Below(t, c.vocab_size)));
    }
    md::GenerationOptions o{.max_new_tokens = N, .batch = B};
    o.mode = args.GetString("attention") == "expanded" ? md::AttentionMode::kExpanded
                                                       : md::AttentionMode::kAbsorbed;
    std::vector<double> rates;
    std::vector<int32_t> row0;
    for (int64_t r = 0; r <= repeats; ++r) {  // r = 0: warm-up
      md::GenerationStats st;
      auto g = md::Generate(model->get(), prompts, o, nullptr, &st);
      if (!g.ok()) {
        cleanup();
        return g.status();
      }
      if (r > 0) rates.push_back(double(st.decode_tokens) / st.decode_seconds);
      row0 = (*g)[0].tokens;
    }
    std::sort(rates.begin(), rates.end());
    const double ours = rates[rates.size() / 2];
    std::string peer_col = "-", ratio_col = "-", match = "-";
    if (args.GetBool("compare-torch")) {
      auto peer = RunPeer(args, dir, B, prompts[0]);
      if (!peer.ok()) {
        cleanup();
        return peer.status();
      }
      peer_col = absl::StrFormat("%.1f", peer->tokens_per_s);
      ratio_col = absl::StrFormat("%.2fx", ours / peer->tokens_per_s);
      match = peer->tokens == row0 ? "same as PyTorch" : "DIFFER from PyTorch";
    }
    std::printf("%6d | %18.1f | %18s | %6s | %s\n", int(B), ours, peer_col.c_str(),
                ratio_col.c_str(), match.c_str());
    std::fflush(stdout);
  }
  cleanup();
  return absl::OkStatus();
}

int RunBenchGenerate(int argc, char** argv) {
  cli::ArgParser args("hai bench generate");
  args.AddString("config", "configs/bench/small.pbtxt",
                 "model config (.pbtxt model section, config.json or a folder) for random weights");
  args.AddString("weights", "", "HF weights folder instead of random weights");
  args.AddString("batch", "1,16", "batch sizes, comma-separated");
  args.AddInt("prompt-len", 64, "prompt tokens per sequence");
  args.AddInt("new-tokens", 64, "tokens generated per sequence");
  args.AddInt("repeats", 5, "timed runs per batch size (median reported)");
  args.AddString("attention", "absorbed", "absorbed | expanded");
  args.AddBool("compare-torch", "also run the PyTorch eager peer on the same weights");
  args.AddString("python", "/usr/bin/python3", "python with torch, for --compare-torch");
  args.AddString("peer-script", "tools/peers/generate_torch.py", "the PyTorch peer");
  args.AddInt("threads", 0, "CPU threads, for both (0 = all cores)");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  SetNumThreads(int(args.GetInt("threads")));
  absl::Status s = Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "hai bench generate: %s\n", std::string(s.message()).c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("bench generate", "decode tokens/s with the latent KV cache (vs PyTorch)",
                       RunBenchGenerate);

}  // namespace
}  // namespace hs::generate
