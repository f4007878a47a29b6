// File: data/chat/chat_template.h
//
// Conversations and their rendering as model text.
//
// Formats:
//  * kDeepSeekV2 — DeepSeek-V2-Chat's template:
//      {bos}{system}\n\nUser: {user}\n\nAssistant: {assistant}{eos}User: {user}\n\nAssistant:
//    a system message renders as its text and a blank line, each user turn as
//    "User: " + text + "\n\n", each assistant turn as "Assistant: " + text +
//    eos; the generation prompt (what the model continues) is "Assistant:".
//  * kPlain — for toy tasks: {bos}, then system and user texts each followed
//    by "\n", assistant texts followed by eos; the generation prompt is
//    empty ("12+34=" then "46{eos}").
// bos/eos are the tokenizer's added-token strings (ChatSpecialTokens), so the
// rendered text encodes to their ids (an empty bos is left out).
//
// Conversation records (JSONL, one per line):
//   {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}
//   {"prompt": "...", "completion": "..."}  (= user turn, assistant turn;
//                                            "completion" optional)
#ifndef DATA_CHAT_CHAT_TEMPLATE_H_
#define DATA_CHAT_CHAT_TEMPLATE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace hs::data {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFormat { kDeepSeekV2, kPlain };

// ParseChatFormat("deepseek-v2" | "plain").
absl::StatusOr<ChatFormat> ParseChatFormat(std::string_view name);

struct ChatSpecialTokens {
  std::string bos;  // may be empty: none
  std::string eos;
};

// DeepSeek-V2's special-token strings.
inline constexpr char kDeepSeekBos[] = "<｜begin▁of▁sentence｜>";
inline constexpr char kDeepSeekEos[] = "<｜end▁of▁sentence｜>";

// ChatSpecialTokensOf(added): bos and eos among the contents of a
// tokenizer's added tokens (Tokenizer::added_tokens()): DeepSeek's strings, else the usual spellings (<s>/</s>,
// <|begin_of_text|>/<|end_of_text|>, <bos>/<eos>, <|bos|>/<|eos|>,
// <|endoftext|> as eos). Error when no eos is found.
absl::StatusOr<ChatSpecialTokens> ChatSpecialTokensOf(const std::vector<std::string>& added);

// RenderChat: the conversation's text; with add_generation_prompt, followed
// by the prompt the model's reply continues. Errors name the message index
// (unknown role, or a system message after the first turn).
absl::StatusOr<std::string> RenderChat(const std::vector<ChatMessage>& messages,
                                       ChatFormat format, const ChatSpecialTokens& tokens,
                                       bool add_generation_prompt);

// ParseConversation(json_line, where): a conversation record (see above);
// `where` ("file.jsonl:12") prefixes errors.
absl::StatusOr<std::vector<ChatMessage>> ParseConversation(std::string_view json_line,
                                                           std::string_view where);

}  // namespace hs::data

#endif  // DATA_CHAT_CHAT_TEMPLATE_H_
