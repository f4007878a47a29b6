// File: data/tokenizer/added_token_matcher.cc
#include "data/tokenizer/added_token_matcher.h"

#include <utf8proc.h>

#include <algorithm>
#include <optional>

#include "data/tokenizer/byte_level.h"

namespace hs::data {
namespace {

// Rust's char::is_whitespace (Unicode White_Space).
bool IsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// A word character: alphanumeric or '_'.
bool IsWordChar(char32_t c) {
  if (c == '_') return true;
  switch (utf8proc_category(utf8proc_int32_t(c))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// The code point ending at text[end) (nullopt at the start or when invalid).
std::optional<char32_t> LastCodePoint(std::string_view text, size_t end, size_t* begin) {
  if (end == 0) return std::nullopt;
  size_t start = end - 1;
  while (start > 0 && end - start < 4 && ((unsigned char)text[start] & 0xC0) == 0x80) --start;
  size_t pos = start;
  std::optional<char32_t> cp = byte_level::NextCodePoint(text, &pos);
  if (!cp || pos != end) {
    *begin = end - 1;
    return std::nullopt;
  }
  *begin = start;
  return cp;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(std::vector<const AddedToken*> tokens)
    : tokens_(std::move(tokens)) {
  terminal_.push_back(-1);
  for (size_t t = 0; t < tokens_.size(); ++t) {
    const std::string& content = tokens_[t]->content;
    if (content.empty()) continue;
    first_byte_[(unsigned char)content[0]] = true;
    int node = 0;
    for (unsigned char c : content) {
      const uint64_t key = (uint64_t(node) << 8) | c;
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, int(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    if (terminal_[node] < 0) terminal_[node] = int(t);
  }
}

int AddedTokenMatcher::LongestAt(std::string_view text, size_t pos, bool skip_special,
                                 size_t* length) const {
  int node = 0, found = -1;
  for (size_t i = pos; i < text.size(); ++i) {
    auto it = edges_.find((uint64_t(node) << 8) | (unsigned char)text[i]);
    if (it == edges_.end()) break;
    node = it->second;
    const int t = terminal_[node];
    if (t >= 0 && !(skip_special && tokens_[t]->special)) {
      found = t;
      *length = i + 1 - pos;
    }
  }
  return found;
}

void AddedTokenMatcher::Split(std::string_view text, bool skip_special,
                              absl::FunctionRef<void(std::string_view)> on_text,
                              absl::FunctionRef<void(uint32_t)> on_token) const {
  size_t emitted = 0;  // text before this offset has been handed out
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[(unsigned char)text[pos]]) {
      ++pos;
      continue;
    }
    size_t length = 0;
    const int t = LongestAt(text, pos, skip_special, &length);
    if (t < 0) {
      ++pos;
      continue;
    }
    const AddedToken& token = *tokens_[t];
    size_t start = pos, stop = pos + length;
    if (token.single_word) {
      size_t before_begin = 0, after_pos = stop;
      std::optional<char32_t> before = LastCodePoint(text, start, &before_begin);
      std::optional<char32_t> after =
          stop < text.size() ? byte_level::NextCodePoint(text, &after_pos) : std::nullopt;
      if ((before && IsWordChar(*before)) || (after && IsWordChar(*after))) {
        // Not a whole word: the match is skipped (the scan resumes after
        // it, as a non-overlapping match search does).
        pos = stop;
        continue;
      }
    }
    if (token.lstrip) {
      size_t s = start, b = 0;
      while (true) {
        std::optional<char32_t> c = LastCodePoint(text, s, &b);
        if (!c || !IsWhitespace(*c)) break;
        s = b;
      }
      start = std::max(s, emitted);
    }
    if (token.rstrip) {
      size_t p = stop;
      while (p < text.size()) {
        size_t q = p;
        std::optional<char32_t> c = byte_level::NextCodePoint(text, &q);
        if (!c || !IsWhitespace(*c)) break;
        p = q;
      }
      stop = p;
    }
    if (emitted < start) on_text(text.substr(emitted, start - emitted));
    on_token(token.id);
    emitted = stop;
    pos = stop;
  }
  if (emitted < text.size()) on_text(text.substr(emitted));
}

}  // namespace hs::data

