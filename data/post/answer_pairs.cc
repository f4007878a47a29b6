// File: data/post/answer_pairs.cc
#include "data/post/answer_pairs.h"

#include <map>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "data/chat/chat_template.h"
#include "haiscale/status.h"
#include "nlohmann/json.hpp"

namespace hs::data::post {
namespace {

using Json = nlohmann::json;

// One prompt's answers, gathered over the file.
struct PromptAnswers {
  Json prompt;            // as written out: a string or a message list
  std::string reference;
  std::string reference_where;  // first record of the prompt, for errors
  std::vector<std::string> rejected;
  std::set<std::string> seen_wrong;
};

absl::StatusOr<std::string> StringField(const Json& j, const char* field, const std::string& where) {
  auto it = j.find(field);
  if (it == j.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": missing \"", field, "\" (write the answers with hai eval-task --out)"));
  }
  if (!it->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": \"", field, "\" must be a string"));
  }
  return std::string(absl::StripAsciiWhitespace(it->get<std::string>()));
}

// The prompt as prepare-dpo reads it: a lone user message as its text.
absl::StatusOr<Json> PromptOf(const Json& j, const std::string& where) {
  auto it = j.find("prompt_messages");
  if (it == j.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": missing \"prompt_messages\" (write the answers with hai eval-task --out)"));
  }
  const Json wrapped = {{"messages", *it}};
  HS_ASSIGN_OR_RETURN(std::vector<ChatMessage> messages,
                      ParseConversation(wrapped.dump(), absl::StrCat(where, ": \"prompt_messages\"")));
  if (messages.back().role == "assistant") {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": \"prompt_messages\" ends with an assistant message"));
  }
  if (messages.size() == 1 && messages[0].role == "user") return Json(messages[0].content);
  Json list = Json::array();
  for (const ChatMessage& m : messages) list.push_back({{"role", m.role}, {"content", m.content}});
  return list;
}

}  // namespace

absl::StatusOr<AnswerPairs> PairsFromAnswers(std::string_view answers_jsonl,
                                             std::string_view name_view,
                                             const AnswerPairOptions& options) {
  const std::string name(name_view);
  if (options.max_per_prompt < 0) {
    return absl::InvalidArgumentError("max_per_prompt must be >= 0");
  }
  AnswerPairs out;
  AnswerPairStats& st = out.stats;
  std::vector<PromptAnswers> prompts;
  std::map<std::string, size_t> index;  // the prompt's JSON -> prompts[i]
  const std::vector<std::string> lines = absl::StrSplit(std::string(answers_jsonl), '\n');
  for (size_t i = 0; i < lines.size(); ++i) {
    if (absl::StripAsciiWhitespace(lines[i]).empty()) continue;
    const std::string where = absl::StrCat(name, ":", i + 1);
    const Json j = Json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
    }
    HS_ASSIGN_OR_RETURN(Json prompt, PromptOf(j, where));
    HS_ASSIGN_OR_RETURN(std::string reference, StringField(j, "reference", where));
    HS_ASSIGN_OR_RETURN(std::string answer, StringField(j, "answer", where));
    ++st.answers;
    const std::string key = prompt.dump();
    auto [it, inserted] = index.emplace(key, prompts.size());
    if (inserted) prompts.push_back({std::move(prompt), reference, where, {}, {}});
    PromptAnswers& p = prompts[it->second];
    if (p.reference != reference) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": reference \"", reference,
                                                     "\" differs from \"", p.reference, "\" of ",
                                                     p.reference_where, " (same prompt)"));
    }
    if (answer == reference) continue;
    ++st.wrong;
    if (!p.seen_wrong.insert(answer).second) {
      ++st.duplicates;
    } else if (options.max_per_prompt > 0 && int64_t(p.rejected.size()) >= options.max_per_prompt) {
      ++st.over_limit;
    } else {
      p.rejected.push_back(answer);
    }
  }
  if (st.answers == 0) return absl::InvalidArgumentError(absl::StrCat(name, ": no answers"));
  st.prompts = int64_t(prompts.size());
  for (const PromptAnswers& p : prompts) {
    if (p.seen_wrong.empty()) ++st.all_correct;
    if (!p.rejected.empty()) ++st.prompts_paired;
    for (const std::string& rejected : p.rejected) {
      const Json pair = {{"prompt", p.prompt}, {"chosen", p.reference}, {"rejected", rejected}};
      absl::StrAppend(&out.jsonl, pair.dump(-1, ' ', false, Json::error_handler_t::replace), "\n");
      ++st.pairs;
    }
  }
  return out;
}

std::string AnswerPairSummary(const AnswerPairStats& s) {
  return absl::StrFormat(
      "%d answers to %d prompts, %d wrong (%d repeated, %d over the per-prompt limit); "
      "%d pairs from %d prompts; %d prompts answered correctly every time",
      s.answers, s.prompts, s.wrong, s.duplicates, s.over_limit, s.pairs, s.prompts_paired,
      s.all_correct);
}

}  // namespace hs::data::post
