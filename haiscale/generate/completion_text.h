// File: haiscale/generate/completion_text.h
//
// CompletionText: the text of one completion as its tokens arrive. It
// finds the first stop string (the completion ends before it) and hands
// out the bytes that are safe to print while streaming: a tail that could
// still grow into a stop string is held back, so no byte of a stop string
// is ever shown.
//
// Usage:
//   CompletionText c({"\n\n", "User:"});
//   bool stop = c.Append(tokenizer.TokenBytes(id));
//   std::fputs(c.TakePrintable(/*final=*/stop).c_str(), stdout);
#ifndef HAISCALE_GENERATE_COMPLETION_TEXT_H_
#define HAISCALE_GENERATE_COMPLETION_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace hs::generate {

class CompletionText {
 public:
  explicit CompletionText(std::vector<std::string> stop_strings = {});

  // Append(bytes): adds a token's bytes; true when a stop string occurs
  // (then text() ends right before it and later appends are ignored).
  bool Append(std::string_view bytes);
  bool stopped() const { return stopped_; }
  // text(): the completion so far (before the stop string, once found).
  const std::string& text() const { return text_; }
  // TakePrintable(final): the bytes not taken yet, except a tail that is the
  // start of a stop string (it may still become one); with final (the
  // completion has ended), all of them.
  std::string TakePrintable(bool final);

 private:
  std::vector<std::string> stops_;
  size_t longest_ = 0;
  std::string text_;
  size_t printed_ = 0;
  bool stopped_ = false;
};

}  // namespace hs::generate

#endif  // HAISCALE_GENERATE_COMPLETION_TEXT_H_
