// File: data/tokenizer/tokenizer.cc
//
// Encode / decode and file I/O of Tokenizer; parsing lives in
// tokenizer_json.cc.
#include "data/tokenizer/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "data/tokenizer/tokenizer_impl.h"
#include "haiscale/io/atomic_file.h"

namespace hs::data {
namespace {

// EncodeWorkers: long-lived threads for EncodeBatch. BPE results are cached
// per thread, so reusing the same threads across calls (a dataset is
// encoded in many batches) keeps the caches warm. Never destroyed: the
// threads wait for work until the process exits.
class EncodeWorkers {
 public:
  static EncodeWorkers& Get() {
    static EncodeWorkers* workers = new EncodeWorkers();
    return *workers;
  }

  // Run(n, fn): runs fn() on n pool threads and waits for all of them.
  void Run(int n, const std::function<void()>& fn) {
    std::unique_lock<std::mutex> lock(mu_);
    while (int(threads_.size()) < n) {
      threads_.emplace_back([this] { Loop(); });
      threads_.back().detach();
    }
    int pending = n;
    std::condition_variable done;
    for (int i = 0; i < n; ++i) {
      tasks_.push_back([&] {
        fn();
        std::lock_guard<std::mutex> l(mu_);
        if (--pending == 0) done.notify_all();
      });
    }
    work_.notify_all();
    done.wait(lock, [&] { return pending == 0; });
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (true) {
      work_.wait(lock, [this] { return !tasks_.empty(); });
      std::function<void()> task = std::move(tasks_.front());
      tasks_.pop_front();
      lock.unlock();
      task();
      lock.lock();
    }
  }

  std::mutex mu_;
  std::condition_variable work_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
};

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

absl::StatusOr<Tokenizer> Tokenizer::FromJson(std::string_view json,
                                              std::string_view source) {
  nlohmann::ordered_json document;
  try {
    document = nlohmann::ordered_json::parse(json.begin(), json.end());
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(source), ": not valid JSON: ", e.what()));
  }
  absl::StatusOr<std::unique_ptr<Impl>> impl = BuildImpl(std::move(document), source);
  if (!impl.ok()) return impl.status();
  return Tokenizer(std::move(*impl));
}

absl::StatusOr<Tokenizer> Tokenizer::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = io::ReadFileToString(path);
  if (!text.ok()) return text.status();
  return FromJson(*text, path);
}

std::string Tokenizer::ToJson() const {
  return impl_->document.dump(2, ' ', /*ensure_ascii=*/false,
                              nlohmann::json::error_handler_t::replace) + "\n";
}

absl::Status Tokenizer::SaveFile(const std::string& path) const {
  return io::WriteFileAtomically(path, ToJson());
}

void Tokenizer::EncodeAppend(std::string_view text, std::vector<uint32_t>* out,
                             const EncodeOptions& options) const {
  const Impl& m = *impl_;
  const bool skip_special = !options.match_special_tokens;
  auto push_token = [out](uint32_t id) { out->push_back(id); };
  auto encode_plain = [&](std::string_view segment) {
    m.pre_tokenizer.ForEachPiece(
        segment, [&](std::string_view piece) { m.model.EncodePiece(piece, out); });
  };
  auto encode_normalized = [&](std::string_view segment) {
    if (m.normalized_matcher.empty()) {
      encode_plain(segment);
    } else {
      m.normalized_matcher.Split(segment, skip_special, encode_plain, push_token);
    }
  };
  // Tokens with normalized=false are found in the raw text; the text between
  // them is normalized, then searched for the normalized=true tokens.
  auto encode_raw_segment = [&](std::string_view segment) {
    if (m.normalizer.empty()) {
      encode_normalized(segment);
    } else {
      const std::string normalized = Normalize(segment, m.normalizer);
      encode_normalized(normalized);
    }
  };
  if (m.raw_matcher.empty()) {
    encode_raw_segment(text);
  } else {
    m.raw_matcher.Split(text, skip_special, encode_raw_segment, push_token);
  }
}

std::vector<uint32_t> Tokenizer::Encode(std::string_view text,
                                        const EncodeOptions& options) const {
  std::vector<uint32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  EncodeAppend(text, &ids, options);
  return ids;
}

std::vector<std::vector<uint32_t>> Tokenizer::EncodeBatch(
    absl::Span<const std::string_view> texts, int threads,
    const EncodeOptions& options) const {
  std::vector<std::vector<uint32_t>> result(texts.size());
  if (threads <= 0) threads = int(std::max(1u, std::thread::hardware_concurrency()));
  threads = int(std::min<size_t>(size_t(threads), std::max<size_t>(texts.size(), 1)));
  // Texts are handed out in small batches from a shared counter, so long and
  // short texts balance; each result lands at its own index.
  std::atomic<size_t> next{0};
  constexpr size_t kChunk = 16;
  auto worker = [&] {
    while (true) {
      const size_t begin = next.fetch_add(kChunk);
      if (begin >= texts.size()) return;
      const size_t end = std::min(texts.size(), begin + kChunk);
      for (size_t i = begin; i < end; ++i) result[i] = Encode(texts[i], options);
    }
  };
  if (threads == 1) {
    worker();
  } else {
    EncodeWorkers::Get().Run(threads, worker);
  }
  return result;
}

absl::StatusOr<std::string> Tokenizer::Decode(absl::Span<const uint32_t> ids,
                                              const DecodeOptions& options) const {
  const Impl& m = *impl_;
  std::string out;
  out.reserve(ids.size() * 4);
  for (size_t i = 0; i < ids.size(); ++i) {
    const uint32_t id = ids[i];
    if (auto it = m.added_by_id.find(id); it != m.added_by_id.end()) {
      const AddedToken& token = m.added_tokens[it->second];
      if (!(options.skip_special_tokens && token.special)) out += token.content;
      continue;
    }
    if (!m.model.Contains(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "token id ", id, " at position ", i, " is not in the vocabulary (size ",
          m.vocab_size, ")"));
    }
    out += m.model.Bytes(id);
  }
  return out;
}

std::string Tokenizer::TokenBytes(uint32_t id) const {
  const Impl& m = *impl_;
  if (auto it = m.added_by_id.find(id); it != m.added_by_id.end()) {
    return m.added_tokens[it->second].content;
  }
  return m.model.Bytes(id);
}

int Tokenizer::vocab_size() const { return impl_->vocab_size; }

std::optional<uint32_t> Tokenizer::TokenId(std::string_view token) const {
  const Impl& m = *impl_;
  if (auto it = m.added_by_content.find(std::string(token)); it != m.added_by_content.end()) {
    return it->second;
  }
  return m.model.TokenId(token);
}

std::optional<std::string> Tokenizer::IdToToken(uint32_t id) const {
  const Impl& m = *impl_;
  if (auto it = m.added_by_id.find(id); it != m.added_by_id.end()) {
    return m.added_tokens[it->second].content;
  }
  if (!m.model.Contains(id)) return std::nullopt;
  return m.model.Spelling(id);
}

bool Tokenizer::IsSpecial(uint32_t id) const {
  const Impl& m = *impl_;
  auto it = m.added_by_id.find(id);
  return it != m.added_by_id.end() && m.added_tokens[it->second].special;
}

const std::vector<AddedToken>& Tokenizer::added_tokens() const {
  return impl_->added_tokens;
}

}  // namespace hs::data
