// File: data/chat/chat_template.cc — see chat_template.h.
#include "data/chat/chat_template.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace hs::data {

absl::StatusOr<ChatFormat> ParseChatFormat(std::string_view name) {
  if (name == "deepseek-v2") return ChatFormat::kDeepSeekV2;
  if (name == "plain") return ChatFormat::kPlain;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown chat format \"", std::string(name), "\" (deepseek-v2 | plain)"));
}

absl::StatusOr<ChatSpecialTokens> ChatSpecialTokensOf(const std::vector<std::string>& added) {
  auto first_present = [&](std::initializer_list<const char*> names) -> std::string {
    for (const char* n : names) {
      for (const std::string& t : added) {
        if (t == n) return t;
      }
    }
    return "";
  };
  ChatSpecialTokens t;
  t.bos = first_present({kDeepSeekBos, "<|begin_of_text|>", "<s>", "<bos>", "<|bos|>"});
  t.eos = first_present(
      {kDeepSeekEos, "<|end_of_text|>", "</s>", "<eos>", "<|eos|>", "<|endoftext|>"});
  if (t.eos.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "the tokenizer has no end-of-sequence added token (looked for ", kDeepSeekEos,
        ", <|end_of_text|>, </s>, <eos>, <|eos|>, <|endoftext|>)"));
  }
  return t;
}

absl::StatusOr<std::string> RenderChat(const std::vector<ChatMessage>& messages,
                                       ChatFormat format, const ChatSpecialTokens& tokens,
                                       bool add_generation_prompt) {
  const bool ds = format == ChatFormat::kDeepSeekV2;
  std::string out = tokens.bos;
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "system") {
      if (i != 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("messages[", i, "]: a system message must come first"));
      }
      absl::StrAppend(&out, m.content, ds ? "\n\n" : "\n");
    } else if (m.role == "user") {
      absl::StrAppend(&out, ds ? "User: " : "", m.content, ds ? "\n\n" : "\n");
    } else if (m.role == "assistant") {
      absl::StrAppend(&out, ds ? "Assistant: " : "", m.content, tokens.eos);
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "messages[", i, "].role: \"", m.role, "\" is not system, user or assistant"));
    }
  }
  if (add_generation_prompt && ds) out += "Assistant:";
  return out;
}

absl::StatusOr<std::vector<ChatMessage>> ParseConversation(std::string_view json_line,
                                                           std::string_view where_view) {
  const std::string where(where_view);
  const nlohmann::json j = nlohmann::json::parse(json_line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": not a JSON object"));
  }
  auto text = [&](const nlohmann::json& v, const std::string& field) -> absl::StatusOr<std::string> {
    if (!v.is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", field, " must be a string"));
    }
    return v.get<std::string>();
  };
  std::vector<ChatMessage> messages;
  if (auto it = j.find("messages"); it != j.end()) {
    if (!it->is_array() || it->empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": \"messages\" must be a non-empty array"));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const nlohmann::json& m = (*it)[i];
      const std::string field = absl::StrCat("messages[", i, "]");
      if (!m.is_object() || !m.contains("role") || !m.contains("content")) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": ", field, " needs \"role\" and \"content\""));
      }
      ChatMessage msg;
      auto role = text(m["role"], field + ".role");
      if (!role.ok()) return role.status();
      auto content = text(m["content"], field + ".content");
      if (!content.ok()) return content.status();
      msg.role = *role;
      msg.content = *content;
      if (msg.role != "system" && msg.role != "user" && msg.role != "assistant") {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": ", field, ".role: \"", msg.role, "\" is not system, user or assistant"));
      }
      messages.push_back(std::move(msg));
    }
    return messages;
  }
  if (auto it = j.find("prompt"); it != j.end()) {
    auto prompt = text(*it, "\"prompt\"");
    if (!prompt.ok()) return prompt.status();
    messages.push_back({"user", *prompt});
    if (auto c = j.find("completion"); c != j.end()) {
      auto completion = text(*c, "\"completion\"");
      if (!completion.ok()) return completion.status();
      messages.push_back({"assistant", *completion});
    }
    return messages;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": needs \"messages\" or \"prompt\""));
}

}  // namespace hs::data
