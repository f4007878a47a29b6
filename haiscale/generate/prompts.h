// File: haiscale/generate/prompts.h
//
// The prompts of `hai generate`: from --prompt TEXT, a --prompts JSONL file
// (conversation records, data/chat/chat_template.h; a trailing assistant
// message is the reference answer, kept for the output, not prompted) or
// --ids lists of token ids; turned into token ids with the tokenizer, the
// chat template (--chat) or as raw text after the tokenizer's BOS.
#ifndef HAISCALE_GENERATE_PROMPTS_H_
#define HAISCALE_GENERATE_PROMPTS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/chat/chat_template.h"

namespace hs::generate {

struct PromptRecord {
  std::vector<data::ChatMessage> messages;  // empty for --ids prompts
  std::optional<std::string> reference;     // a trailing assistant message
  std::vector<int32_t> ids;                 // filled by EncodePrompts for text
};

// ReadPromptsJsonl(path): one record per non-blank line; errors name
// path:line.
absl::StatusOr<std::vector<PromptRecord>> ReadPromptsJsonl(const std::string& path);

// ParseIdList("1, 2,3"): the ids; errors name the flag and the bad item.
absl::StatusOr<std::vector<int32_t>> ParseIdList(const std::string& text);

// PromptText(record, chat, format, tokens): the text the model sees — the
// rendered conversation with the generation prompt (chat), or bos + the
// single user message (not chat; more messages are an error).
absl::StatusOr<std::string> PromptText(const PromptRecord& record, bool chat,
                                       data::ChatFormat format,
                                       const data::ChatSpecialTokens& tokens);

}  // namespace hs::generate

#endif  // HAISCALE_GENERATE_PROMPTS_H_
