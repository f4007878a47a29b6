// File: haiscale/generate/generate_cli.cc
//
// hai generate --weights DIR (--tokenizer tokenizer.json (--prompt TEXT |
//   --prompts FILE.jsonl) | --ids 1,2,3 ...) [--chat [--chat-format F]]
//   [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
//   [--batch B] [--stop STR ...] [--out OUT.jsonl] [--stream] [--threads N]
// Batched sampling with the MLA latent KV cache (models/decode). Stops at
// EOS (the tokenizer's, or --eos-id), a stop string or --max-new-tokens.
// One prompt on a terminal streams its text; otherwise each completion is
// printed when all are done; --out writes one JSON line per prompt.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/chat/chat_template.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/generate/completion_text.h"
#include "haiscale/generate/hf_model.h"
#include "haiscale/generate/prompts.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"
#include "models/decode/generator.h"
#include "models/decode/latent_kv_cache.h"

namespace hs::generate {
namespace {

namespace md = models::decode;

// The prompts as token ids, with what the output records show of them.
struct Inputs {
  std::vector<PromptRecord> records;
  std::vector<std::string> texts;  // prompt text ("" for --ids)
  std::vector<int32_t> eos_ids;
};

absl::StatusOr<Inputs> ReadInputs(const cli::ArgParser& args,
                                  const std::optional<data::Tokenizer>& tok) {
  Inputs in;
  const bool has_prompt = args.IsSet("prompt"), has_file = args.IsSet("prompts"),
             has_ids = !args.GetList("ids").empty();
  if (int(has_prompt) + int(has_file) + int(has_ids) != 1) {
    return absl::InvalidArgumentError("give exactly one of --prompt, --prompts or --ids");
  }
  for (const std::string& e : args.GetList("eos-id")) {
    HS_ASSIGN_OR_RETURN(std::vector<int32_t> ids, ParseIdList(e));
    in.eos_ids.insert(in.eos_ids.end(), ids.begin(), ids.end());
  }
  if (has_ids) {
    for (const std::string& list : args.GetList("ids")) {
      PromptRecord r;
      HS_ASSIGN_OR_RETURN(r.ids, ParseIdList(list));
      in.records.push_back(std::move(r));
      in.texts.push_back("");
    }
    if (!tok) return in;
  } else {
    if (!tok) return absl::InvalidArgumentError("--prompt/--prompts need --tokenizer");
    if (has_prompt) {
      in.records.push_back({.messages = {{"user", args.GetString("prompt")}}});
    } else {
      HS_ASSIGN_OR_RETURN(in.records, ReadPromptsJsonl(args.GetString("prompts")));
    }
  }
  std::vector<std::string> added;
  for (const data::AddedToken& t : tok->added_tokens()) added.push_back(t.content);
  auto special = data::ChatSpecialTokensOf(added);
  if (special.ok()) {
    if (std::optional<uint32_t> id = tok->TokenId(special->eos)) in.eos_ids.push_back(int32_t(*id));
  } else if (args.GetBool("chat")) {
    return special.status();
  } else {
    special = data::ChatSpecialTokens{};
  }
  if (args.GetBool("no-bos")) special->bos.clear();
  if (has_ids) return in;
  HS_ASSIGN_OR_RETURN(data::ChatFormat format, data::ParseChatFormat(args.GetString("chat-format")));
  for (size_t i = 0; i < in.records.size(); ++i) {
    PromptRecord& r = in.records[i];
    auto text = PromptText(r, args.GetBool("chat"), format, *special);
    if (!text.ok()) return Annotate(text.status(), "prompt ", i);
    for (uint32_t id : tok->Encode(*text)) r.ids.push_back(int32_t(id));
    in.texts.push_back(*text);
  }
  return in;
}

std::string Header(const std::string& dir, const models::DeepseekV2Config& c, int64_t prompts,
                   int64_t batch, const md::SamplingParams& s) {
  const int64_t latent = md::LatentCacheBytesPerToken(c), full = md::FullKvCacheBytesPerToken(c);
  const std::string sampling =
      s.temperature == 0 ? "greedy"
                         : absl::StrFormat("temperature %g, top-k %d, top-p %g", s.temperature,
                                           s.top_k, s.top_p);
  return absl::StrFormat(
      "hai generate: %s | %d layers, %d heads | KV cache %d B/token (latent c_kv %d + k_pe %d "
      "per layer, fp32) vs %d B/token per-head K/V: %.1f%%, %.1fx smaller | %d prompts, batch "
      "%d | %s",
      dir, c.num_hidden_layers, c.num_attention_heads, latent, c.kv_lora_rank,
      c.qk_rope_head_dim, full, 100.0 * double(latent) / double(full),
      double(full) / double(latent), prompts, batch, sampling);
}

absl::Status Run(const cli::ArgParser& args) {
  const std::string dir = args.GetString("weights");
  if (dir.empty()) return absl::InvalidArgumentError("--weights DIR is required");
  std::optional<data::Tokenizer> tok;
  if (!args.GetString("tokenizer").empty()) {
    HS_ASSIGN_OR_RETURN(data::Tokenizer t, data::Tokenizer::LoadFile(args.GetString("tokenizer")));
    tok.emplace(std::move(t));
  }
  HS_ASSIGN_OR_RETURN(Inputs in, ReadInputs(args, tok));
  md::GenerationOptions o;
  o.max_new_tokens = args.GetInt("max-new-tokens");
  o.sampling = {.temperature = args.GetDouble("temperature"),
                .top_k = args.GetInt("top-k"),
                .top_p = args.GetDouble("top-p")};
  HS_RETURN_IF_ERROR(md::CheckSamplingParams(o.sampling));
  o.seed = uint64_t(args.GetInt("seed"));
  o.batch = args.GetInt("batch");
  if (o.batch < 1) return absl::InvalidArgumentError("--batch must be >= 1");
  o.stop_token_ids = in.eos_ids;
  const std::string attention = args.GetString("attention");
  if (attention != "absorbed" && attention != "expanded") {
    return absl::InvalidArgumentError("--attention must be absorbed or expanded");
  }
  o.mode = attention == "absorbed" ? md::AttentionMode::kAbsorbed : md::AttentionMode::kExpanded;
  HS_ASSIGN_OR_RETURN(auto model, LoadInferenceModel(dir));
  const models::DeepseekV2Config& config = model->config();
  if (tok && tok->vocab_size() > config.vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the tokenizer has ", tok->vocab_size(), " tokens but ", dir, "/config.json vocab_size is ",
        config.vocab_size));
  }
  const int64_t n = int64_t(in.records.size());
  std::fprintf(stderr, "%s\n",
               Header(dir, config, n, std::min(o.batch, n), o.sampling).c_str());
  std::vector<std::vector<int32_t>> prompts;
  for (const PromptRecord& r : in.records) prompts.push_back(r.ids);
  // Completion texts (stop strings) and streaming of a single prompt.
  std::vector<CompletionText> texts(n, CompletionText(args.GetList("stop")));
  const bool stream = tok && n == 1 && (args.GetBool("stream") || isatty(STDOUT_FILENO));
  if (stream) {
    std::fputs(in.texts[0].c_str(), stdout);
    std::fflush(stdout);
  }
  md::TokenCallback on_token;
  if (tok) {
    on_token = [&](int64_t r, int32_t token) {
      const bool stop = texts[r].Append(tok->TokenBytes(uint32_t(token)));
      if (stream) {
        std::fputs(texts[r].TakePrintable(stop).c_str(), stdout);
        std::fflush(stdout);
      }
      return stop;
    };
  }
  md::GenerationStats stats;
  HS_ASSIGN_OR_RETURN(std::vector<md::Generation> gens,
                      md::Generate(model.get(), prompts, o, on_token, &stats));
  // ---- output
  std::string jsonl;
  for (int64_t r = 0; r < n; ++r) {
    const md::Generation& g = gens[r];
    if (stream) {
      std::fputs((texts[r].TakePrintable(true) + "\n").c_str(), stdout);
    } else if (!args.IsSet("out")) {
      if (tok) {
        std::printf("%s\n", texts[r].text().c_str());
      } else {
        std::string ids;
        for (int32_t t : g.tokens) absl::StrAppend(&ids, ids.empty() ? "" : ",", t);
        std::printf("%s\n", ids.c_str());
      }
    }
    nlohmann::json j;
    j["index"] = r;
    if (tok) j["prompt"] = in.texts[r];
    j["prompt_ids"] = prompts[r];
    if (tok) j["completion"] = texts[r].text();
    j["completion_ids"] = g.tokens;
    j["finish_reason"] = md::FinishReasonName(g.finish);
    if (in.records[r].reference) j["reference"] = *in.records[r].reference;
    jsonl += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  if (args.IsSet("out")) HS_RETURN_IF_ERROR(io::WriteFileAtomically(args.GetString("out"), jsonl));
  std::fprintf(stderr,
               "prompt tokens %lld | generated %lld tokens in %d steps | prefill %.3f s | "
               "decode %.3f s (%.1f tokens/s)\n",
               (long long)stats.prompt_tokens, (long long)stats.generated_tokens, int(stats.steps),
               stats.prefill_seconds, stats.decode_seconds,
               stats.decode_seconds > 0 ? double(stats.decode_tokens) / stats.decode_seconds : 0.0);
  return absl::OkStatus();
}

int RunGenerate(int argc, char** argv) {
  cli::ArgParser args("hai generate");
  args.AddString("weights", "", "folder with config.json + model.safetensors (HF layout)");
  args.AddString("tokenizer", "", "tokenizer.json (HF format)");
  args.AddString("prompt", "", "one prompt text");
  args.AddString("prompts", "",
                 "JSONL: {\"prompt\": ...} or {\"messages\": [...]} per line");
  args.AddList("ids", "a prompt as comma-separated token ids (repeatable; no tokenizer needed)");
  args.AddBool("chat", "render prompts with the chat template");
  args.AddString("chat-format", "deepseek-v2", "chat template: deepseek-v2 | plain");
  args.AddBool("no-bos", "do not start prompts with the tokenizer's BOS token");
  args.AddInt("max-new-tokens", 128, "most tokens generated per prompt");
  args.AddDouble("temperature", 0.0, "sampling temperature (0 = greedy)");
  args.AddInt("top-k", 0, "sample among the k most probable tokens (0 = off)");
  args.AddDouble("top-p", 1.0, "nucleus sampling mass (1 = off)");
  args.AddInt("seed", 0, "sampling seed (same seed, same output)");
  args.AddInt("batch", 8, "prompts decoded at once");
  args.AddList("stop", "stop string (repeatable); the completion ends before it");
  args.AddList("eos-id", "extra stop token ids, comma-separated (repeatable)");
  args.AddString("out", "", "write one JSON line per prompt here");
  args.AddBool("stream", "stream a single prompt's text even when stdout is not a terminal");
  args.AddString("attention", "absorbed",
                 "absorbed (latent-space attention) | expanded (per-head K/V from the cache)");
  args.AddInt("threads", 0, "CPU threads (0 = all cores)");
  if (int code = args.ParseOrExitCode(argc, argv); code >= 0) return code;
  SetNumThreads(int(args.GetInt("threads")));
  absl::Status s = Run(args);
  if (!s.ok()) {
    std::fprintf(stderr, "hai generate: %s\n", std::string(s.message()).c_str());
    return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("generate", "sample text from weights with the MLA latent KV cache",
                       RunGenerate);

}  // namespace
}  // namespace hs::generate
