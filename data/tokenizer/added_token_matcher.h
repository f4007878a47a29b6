// File: data/tokenizer/added_token_matcher.h
//
// Finds added tokens ("<|eos|>", chat-template markers) in a text the way
// `tokenizers` does: leftmost-longest matches of the token strings, then
// each token's single_word / lstrip / rstrip rules. The text between
// matches is returned as plain segments for normalization and BPE.
#ifndef DATA_TOKENIZER_ADDED_TOKEN_MATCHER_H_
#define DATA_TOKENIZER_ADDED_TOKEN_MATCHER_H_

#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/functional/function_ref.h"
#include "data/tokenizer/tokenizer.h"

namespace hs::data {

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // tokens: the added tokens this matcher looks for (pointers stay valid
  // for the matcher's lifetime).
  explicit AddedTokenMatcher(std::vector<const AddedToken*> tokens);

  bool empty() const { return tokens_.empty(); }

  // Split(text, skip_special, on_text, on_token): walks `text` left to
  // right calling on_text(segment) for plain text and on_token(id) for each
  // matched token. With skip_special, special tokens are not matched.
  void Split(std::string_view text, bool skip_special,
             absl::FunctionRef<void(std::string_view)> on_text,
             absl::FunctionRef<void(uint32_t)> on_token) const;

 private:
  // Longest token starting at text[pos]; -1 if none.
  int LongestAt(std::string_view text, size_t pos, bool skip_special,
                size_t* length) const;

  std::vector<const AddedToken*> tokens_;
  // Trie over bytes: node 0 is the root; edges keyed by node << 8 | byte.
  std::unordered_map<uint64_t, int> edges_;
  std::vector<int> terminal_;  // token index ending at each node, or -1
  bool first_byte_[256] = {};
};

}  // namespace hs::data

#endif  // DATA_TOKENIZER_ADDED_TOKEN_MATCHER_H_
