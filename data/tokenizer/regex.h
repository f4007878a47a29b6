// File: data/tokenizer/regex.h
//
// A compiled PCRE2 pattern (JIT, UTF-8 with Unicode classes) that finds
// matches the way `tokenizers` does with Oniguruma: `^`/`$` match at line
// boundaries, an empty match right where the previous match ended is
// skipped, and the subject may be any bytes (invalid UTF-8 never matches a
// pattern character, PCRE2_MATCH_INVALID_UTF). Thread-safe: match state
// lives in thread-local storage.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto re, Regex::Compile("\\p{N}{1,3}"));
//   re->ForEachMatch(text, [&](size_t begin, size_t end) { ... });
#ifndef DATA_TOKENIZER_REGEX_H_
#define DATA_TOKENIZER_REGEX_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace hs::data {

class Regex {
 public:
  // Compile(pattern): errors quote the pattern, PCRE2's message and offset.
  static absl::StatusOr<std::unique_ptr<Regex>> Compile(std::string_view pattern);
  // Literal(text): a pattern matching `text` exactly (its metacharacters
  // escaped), as `tokenizers` does for a Split `String` pattern.
  static std::string EscapeLiteral(std::string_view text);

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // ForEachMatch(subject, fn): calls fn(begin, end) for every match, left to
  // right, non-overlapping. A search that exceeds PCRE2's match limits (only
  // pathological patterns backtrack that much) ends the search: the rest of
  // the subject is left unmatched, so no text is ever lost.
  void ForEachMatch(std::string_view subject,
                    absl::FunctionRef<void(size_t, size_t)> fn) const;

  const std::string& pattern() const { return pattern_; }

 private:
  Regex(std::string pattern, void* code) : pattern_(std::move(pattern)), code_(code) {}
  std::string pattern_;
  void* code_;  // pcre2_code_8*
};

}  // namespace hs::data

#endif  // DATA_TOKENIZER_REGEX_H_
