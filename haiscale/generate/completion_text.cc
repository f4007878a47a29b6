// File: haiscale/generate/completion_text.cc — see completion_text.h.
#include "haiscale/generate/completion_text.h"

#include <algorithm>

namespace hs::generate {

CompletionText::CompletionText(std::vector<std::string> stop_strings) {
  for (std::string& s : stop_strings) {
    if (s.empty()) continue;
    longest_ = std::max(longest_, s.size());
    stops_.push_back(std::move(s));
  }
}

bool CompletionText::Append(std::string_view bytes) {
  if (stopped_) return true;
  // A new match must end in the new bytes: search from where it could start.
  const size_t from = text_.size() >= longest_ ? text_.size() - longest_ + 1 : 0;
  text_.append(bytes);
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) cut = std::min(cut, text_.find(s, from));
  if (cut != std::string::npos) {
    text_.resize(cut);
    stopped_ = true;
  }
  return stopped_;
}

std::string CompletionText::TakePrintable(bool final) {
  size_t end = text_.size();
  if (!final && !stopped_) {
    // Hold back the longest tail that is the start of some stop string.
    size_t hold = 0;
    for (const std::string& s : stops_) {
      for (size_t n = std::min(s.size() - 1, text_.size()); n > hold; --n) {
        if (text_.compare(text_.size() - n, n, s, 0, n) == 0) {
          hold = n;
          break;
        }
      }
    }
    end = text_.size() - hold;
  }
  if (end <= printed_) return "";
  std::string out = text_.substr(printed_, end - printed_);
  printed_ = end;
  return out;
}

}  // namespace hs::generate
