// File: data/post/post_data.h
//
// Turning conversation and preference records into post-training rows
// (rows_file.h):
//
//   * SFT: each conversation is rendered with the chat template piece by
//     piece (prompt, then each assistant reply), each piece tokenized on its
//     own so the trained span is exact; the assistant tokens (and their EOS)
//     are trained, the rest is context (or everything with
//     train_on_prompt). Examples are packed best-fit-decreasing into rows of
//     seq_len positions with positions restarting per example (document
//     masking); an example longer than a row is truncated (or dropped), and
//     one left without trained tokens is dropped; both are counted.
//   * DPO: {"prompt", "chosen", "rejected"}, each a string or a message
//     list; one row per completion after the same rendered prompt, only the
//     completion trained; too long: the completion is cut at the row's end
//     (the pair is dropped when the prompt alone fills the row).
#ifndef DATA_POST_POST_DATA_H_
#define DATA_POST_POST_DATA_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "data/chat/chat_template.h"
#include "data/post/rows_file.h"
#include "data/tokenizer/tokenizer.h"

namespace hs::data::post {

// A tokenized example: ids, and which of them are trained as targets.
struct TokenizedExample {
  std::vector<int32_t> ids;
  std::vector<uint8_t> trained;  // same length
};

struct TemplateContext {
  const Tokenizer* tokenizer = nullptr;
  ChatFormat format = ChatFormat::kDeepSeekV2;
  ChatSpecialTokens special;
};

// TokenizeConversation: the conversation's ids with assistant replies
// trained (all tokens after the first with train_on_prompt). Errors when
// there is no assistant message or a role is out of place.
absl::StatusOr<TokenizedExample> TokenizeConversation(const std::vector<ChatMessage>& messages,
                                                      const TemplateContext& ctx,
                                                      bool train_on_prompt);

struct PackStats {
  int64_t examples = 0;   // packed
  int64_t truncated = 0;  // cut to fit a row
  int64_t dropped = 0;    // too long (with drop_long) or nothing left to train
  int64_t padding = 0;    // positions without an example
};

// PackBestFitDecreasing(examples, seq_len, vocab, drop_long, stats): SFT
// rows. An example of n ids fills n - 1 positions (inputs ids[0..n-1),
// targets ids[1..n)); longest first, each into the fullest row it fits.
// Deterministic for a given input order.
PostRows PackBestFitDecreasing(const std::vector<TokenizedExample>& examples, int64_t seq_len,
                               int64_t vocab, bool drop_long, PackStats* stats);

// A preference pair after the shared prompt.
struct TokenizedPair {
  std::vector<int32_t> prompt, chosen, rejected;
};

// ParsePreference(json_line, where, ctx): {"prompt", "chosen", "rejected"}
// where the prompt is a string (a user turn) or a message list, and each
// completion a string (an assistant turn) or a list of assistant messages.
// Errors start with `where` ("file.jsonl:7").
absl::StatusOr<TokenizedPair> ParsePreference(std::string_view json_line, std::string_view where,
                                              const TemplateContext& ctx);

// PairRows(pairs, seq_len, vocab, stats): DPO rows (chosen, rejected per
// example).
PostRows PairRows(const std::vector<TokenizedPair>& pairs, int64_t seq_len, int64_t vocab,
                  PackStats* stats);

// PackSummary: the lines prepare prints and keeps in summary.txt.
std::string PackSummary(const PostRows& rows, const PackStats& stats);

}  // namespace hs::data::post

#endif  // DATA_POST_POST_DATA_H_
