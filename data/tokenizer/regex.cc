// File: data/tokenizer/regex.cc
#define PCRE2_CODE_UNIT_WIDTH 8
#include "data/tokenizer/regex.h"

#include <pcre2.h>

#include <cctype>

#include "absl/strings/str_cat.h"
#include "data/tokenizer/byte_level.h"

namespace hs::data {
namespace {

// Per-thread match state: the match data (one ovector pair is all we read)
// and a JIT stack larger than the 32 KiB default, for long runs matched by
// patterns with backtracking.
struct ThreadMatchState {
  pcre2_match_data* data = nullptr;
  pcre2_match_context* context = nullptr;
  pcre2_jit_stack* stack = nullptr;
  ThreadMatchState() {
    data = pcre2_match_data_create(1, nullptr);
    context = pcre2_match_context_create(nullptr);
    stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~ThreadMatchState() {
    pcre2_jit_stack_free(stack);
    pcre2_match_context_free(context);
    pcre2_match_data_free(data);
  }
};

ThreadMatchState& MatchState() {
  thread_local ThreadMatchState state;
  return state;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Regex>> Regex::Compile(std::string_view pattern) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF |
                           PCRE2_MULTILINE;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()),
                                   pattern.size(), options, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrCat(
        "regex \"", std::string(pattern), "\": ", reinterpret_cast<const char*>(message),
        " at offset ", offset));
  }
  // Without JIT (an unusual PCRE2 build) matching still works, only slower.
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  return std::unique_ptr<Regex>(new Regex(std::string(pattern), code));
}

std::string Regex::EscapeLiteral(std::string_view text) {
  std::string out;
  for (char c : text) {
    const unsigned char u = (unsigned char)c;
    if (u < 0x80 && !std::isalnum(u)) out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::ForEachMatch(std::string_view subject,
                         absl::FunctionRef<void(size_t, size_t)> fn) const {
  ThreadMatchState& state = MatchState();
  const auto* code = static_cast<const pcre2_code*>(code_);
  const auto* text = reinterpret_cast<PCRE2_SPTR>(subject.data());
  size_t search_from = 0;
  bool matched_before = false;
  size_t last_match_end = 0;
  while (search_from <= subject.size()) {
    const int rc = pcre2_match(code, text, subject.size(), search_from, 0,
                               state.data, state.context);
    if (rc < 0) return;  // PCRE2_ERROR_NOMATCH (or a resource limit)
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(state.data);
    const size_t begin = ovector[0], end = ovector[1];
    if (begin == end && matched_before && last_match_end == end) {
      // An empty match where the last match ended: step one character.
      if (search_from >= subject.size()) return;
      size_t next = search_from;
      byte_level::NextCodePoint(subject, &next);
      search_from = next;
      continue;
    }
    fn(begin, end);
    matched_before = true;
    last_match_end = end;
    search_from = end;
  }
}

}  // namespace hs::data
