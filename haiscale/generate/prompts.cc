// File: haiscale/generate/prompts.cc — see prompts.h.
#include "haiscale/generate/prompts.h"

#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/strings/ascii.h"

namespace hs::generate {

absl::StatusOr<std::vector<PromptRecord>> ReadPromptsJsonl(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open --prompts file ", path));
  std::vector<PromptRecord> records;
  std::string line;
  for (int64_t n = 1; std::getline(in, line); ++n) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    auto messages = data::ParseConversation(line, absl::StrCat(path, ":", n));
    if (!messages.ok()) return messages.status();
    PromptRecord r;
    r.messages = std::move(*messages);
    if (r.messages.back().role == "assistant") {
      r.reference = r.messages.back().content;
      r.messages.pop_back();
    }
    if (r.messages.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", n, ": nothing to prompt before the assistant message"));
    }
    records.push_back(std::move(r));
  }
  if (records.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no prompts"));
  return records;
}

absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& text) {
  std::vector<int32_t> ids;
  for (absl::string_view item : absl::StrSplit(text, ',')) {
    item = absl::StripAsciiWhitespace(item);
    int32_t id = 0;
    if (!absl::SimpleAtoi(item, &id) || id < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--ids: \"", std::string(item), "\" is not a token id (comma-separated integers >= 0)"));
    }
    ids.push_back(id);
  }
  return ids;
}

absl::StatusOr<std::string> PromptText(const PromptRecord& record, bool chat,
                                       data::ChatFormat format,
                                       const data::ChatSpecialTokens& tokens) {
  if (chat) return data::RenderChat(record.messages, format, tokens, true);
  if (record.messages.size() != 1 || record.messages[0].role != "user") {
    return absl::InvalidArgumentError(
        "a conversation with system or several messages needs --chat");
  }
  return tokens.bos + record.messages[0].content;
}

}  // namespace hs::generate
