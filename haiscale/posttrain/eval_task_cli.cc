// File: haiscale/posttrain/eval_task_cli.cc
//
// `hai eval-task`: exact-match accuracy of a model's greedy answers on a
// verifiable task (e.g. `hai data make-task addition`'s eval.jsonl).
//
//   hai eval-task --weights run/weights --tokenizer tok.json --data eval.jsonl
//       [--format deepseek-v2|plain] [--max-new-tokens 16] [--batch 16]
//       [--limit N] [--out answers.jsonl]
//       [--samples K --temperature T [--top-p P] [--seed S]]
//
// Each record is a conversation (data/chat/chat_template.h) whose last
// message is the reference assistant reply; the model continues the
// rendered prompt (greedy, up to EOS or --max-new-tokens), and the answer
// counts when it equals the reference after trimming surrounding
// whitespace. Prints "exact match: K/N = P%"; --out writes every prompt
// (rendered, and its messages), reference and answer as JSONL — the input
// of `hai data make-pairs`. With --samples K each prompt is answered K
// times, sampled at --temperature (deterministic for --seed), and the
// accuracy is over all answers.
//
// Exit codes: 0 success, 1 the evaluation failed, 2 bad flags.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "data/chat/chat_template.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/generate/hf_model.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "models/decode/generator.h"
#include "nlohmann/json.hpp"

namespace hs::posttrain {
namespace {

struct TaskItem {
  std::string prompt_text;
  std::vector<data::ChatMessage> prompt_messages;
  std::string reference;
};

absl::StatusOr<std::vector<TaskItem>> ReadTask(const std::string& path, data::ChatFormat format,
                                               const data::ChatSpecialTokens& special,
                                               int64_t limit) {
  HS_ASSIGN_OR_RETURN(std::string text, io::ReadFileToString(path));
  std::vector<TaskItem> items;
  const std::vector<std::string> lines = absl::StrSplit(text, '\n');
  for (size_t i = 0; i < lines.size() && (limit <= 0 || int64_t(items.size()) < limit); ++i) {
    if (absl::StripAsciiWhitespace(lines[i]).empty()) continue;
    const std::string where = absl::StrCat(path, ":", i + 1);
    HS_ASSIGN_OR_RETURN(std::vector<data::ChatMessage> messages,
                        data::ParseConversation(lines[i], where));
    if (messages.back().role != "assistant") {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the last message must be the reference reply (\"completion\" or an "
                 "assistant message)"));
    }
    TaskItem item;
    item.reference = std::string(absl::StripAsciiWhitespace(messages.back().content));
    messages.pop_back();
    auto prompt = data::RenderChat(messages, format, special, true);
    if (!prompt.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", prompt.status().message()));
    }
    item.prompt_text = *std::move(prompt);
    item.prompt_messages = std::move(messages);
    items.push_back(std::move(item));
  }
  if (items.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no records"));
  return items;
}

// CheckFlags: the flag errors (exit code 2).
absl::Status CheckFlags(const cli::ArgParser& p) {
  HS_RETURN_IF_ERROR(p.RequireStrings({"weights", "tokenizer", "data"}));
  if (p.GetInt("max-new-tokens") < 1 || p.GetInt("batch") < 1 || p.GetInt("limit") < 0) {
    return absl::InvalidArgumentError("--max-new-tokens and --batch must be >= 1, --limit >= 0");
  }
  if (p.GetInt("samples") < 1) {
    return absl::InvalidArgumentError(absl::StrCat("--samples must be >= 1, got ", p.GetInt("samples")));
  }
  if (p.GetInt("samples") > 1 && p.GetDouble("temperature") == 0) {
    return absl::InvalidArgumentError(
        "--samples > 1 needs --temperature > 0 (greedy answers are all the same)");
  }
  HS_RETURN_IF_ERROR(models::decode::CheckSamplingParams(
      {.temperature = p.GetDouble("temperature"), .top_p = p.GetDouble("top-p")}));
  return data::ParseChatFormat(p.GetString("format")).status();
}

absl::Status EvalTask(const cli::ArgParser& p) {
  HS_ASSIGN_OR_RETURN(data::ChatFormat format, data::ParseChatFormat(p.GetString("format")));
  HS_ASSIGN_OR_RETURN(data::Tokenizer tok, data::Tokenizer::LoadFile(p.GetString("tokenizer")));
  std::vector<std::string> added;
  for (const auto& t : tok.added_tokens()) added.push_back(t.content);
  HS_ASSIGN_OR_RETURN(data::ChatSpecialTokens special, data::ChatSpecialTokensOf(added));
  HS_ASSIGN_OR_RETURN(std::vector<TaskItem> items,
                      ReadTask(p.GetString("data"), format, special, p.GetInt("limit")));
  HS_ASSIGN_OR_RETURN(auto model, generate::LoadInferenceModel(p.GetString("weights")));
  if (tok.vocab_size() > model->config().vocab_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tokenizer has ", tok.vocab_size(), " ids, the model's vocabulary is ",
        model->config().vocab_size));
  }
  // Each record's prompt `samples` times in a row: answer i is record
  // i / samples (the generator's draws depend on the prompt's index).
  const int64_t samples = p.GetInt("samples");
  std::vector<std::vector<int32_t>> prompts;
  for (const TaskItem& item : items) {
    std::vector<int32_t> ids;
    for (uint32_t id : tok.Encode(item.prompt_text)) ids.push_back(int32_t(id));
    for (int64_t k = 0; k < samples; ++k) prompts.push_back(ids);
  }
  models::decode::GenerationOptions o;
  o.max_new_tokens = p.GetInt("max-new-tokens");
  o.batch = p.GetInt("batch");
  o.sampling = {.temperature = p.GetDouble("temperature"), .top_p = p.GetDouble("top-p")};
  o.seed = uint64_t(p.GetInt("seed"));
  if (std::optional<uint32_t> eos = tok.TokenId(special.eos)) o.stop_token_ids.push_back(int32_t(*eos));
  HS_ASSIGN_OR_RETURN(std::vector<models::decode::Generation> gens,
                      models::decode::Generate(model.get(), prompts, o));
  int64_t correct = 0;
  std::string out;
  for (size_t i = 0; i < gens.size(); ++i) {
    const TaskItem& item = items[i / size_t(samples)];
    std::vector<uint32_t> ids(gens[i].tokens.begin(), gens[i].tokens.end());
    HS_ASSIGN_OR_RETURN(std::string answer, tok.Decode(ids));
    answer = std::string(absl::StripAsciiWhitespace(answer));
    const bool ok = answer == item.reference;
    correct += ok;
    nlohmann::json messages = nlohmann::json::array();
    for (const data::ChatMessage& m : item.prompt_messages) {
      messages.push_back({{"role", m.role}, {"content", m.content}});
    }
    nlohmann::json rec = {{"prompt", item.prompt_text},
                          {"prompt_messages", std::move(messages)},
                          {"reference", item.reference},
                          {"answer", answer},
                          {"correct", ok}};
    absl::StrAppend(&out, rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "\n");
  }
  if (!p.GetString("out").empty()) {
    HS_RETURN_IF_ERROR(io::WriteFileAtomically(p.GetString("out"), out));
  }
  std::printf("exact match: %lld/%lld = %.1f%%\n", (long long)correct, (long long)gens.size(),
              100.0 * double(correct) / double(gens.size()));
  return absl::OkStatus();
}

int RunEvalTask(int argc, char** argv) {
  cli::ArgParser p("hai eval-task");
  p.AddString("weights", "", "model folder (config.json + safetensors, e.g. RUN/weights)");
  p.AddString("tokenizer", "", "tokenizer.json");
  p.AddString("data", "", "JSONL task records ({\"prompt\", \"completion\"} or messages)");
  p.AddString("format", "deepseek-v2", "chat template: deepseek-v2 | plain");
  p.AddInt("max-new-tokens", 16, "longest answer generated");
  p.AddInt("batch", 16, "prompts decoded at once");
  p.AddInt("limit", 0, "evaluate only the first N records (0: all)");
  p.AddString("out", "", "write every answer as JSONL here (hai data make-pairs reads it)");
  p.AddInt("samples", 1, "answers per prompt (> 1 needs --temperature)");
  p.AddDouble("temperature", 0.0, "sampling temperature (0 = greedy)");
  p.AddDouble("top-p", 1.0, "nucleus sampling mass (1 = off)");
  p.AddInt("seed", 0, "sampling seed (same seed, same answers)");
  if (int rc = p.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  if (absl::Status e = CheckFlags(p); !e.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(e.message()).c_str(), p.Usage().c_str());
    return 2;
  }
  if (absl::Status e = EvalTask(p); !e.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(e.message()).c_str());
    return 1;
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("eval-task",
                       "exact-match accuracy of a model's answers on a task's JSONL (eval.jsonl)",
                       RunEvalTask);

}  // namespace
}  // namespace hs::posttrain
