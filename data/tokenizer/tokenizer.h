// File: data/tokenizer/tokenizer.h
//
// Byte-level BPE tokenizer that reads and writes the Hugging Face
// `tokenizer.json` format (the one DeepSeek-V2 ships): a BPE model (vocab +
// merges), a ByteLevel or Sequence[Split..., ByteLevel] pre-tokenizer, a
// ByteLevel decoder, added tokens and an optional NFC/NFKC normalizer.
// Encoding a text gives the same ids as `tokenizers` does for that file;
// Decode(Encode(x)) == x for any bytes, invalid UTF-8 included, unless a
// normalizer changes x or an lstrip/rstrip added token absorbs whitespace.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(hs::data::Tokenizer tok,
//                       hs::data::Tokenizer::LoadFile("tokenizer.json"));
//   std::vector<uint32_t> ids = tok.Encode("Hello world<|eos|>");
//   HS_ASSIGN_OR_RETURN(std::string text, tok.Decode(ids));
//   std::optional<uint32_t> eos = tok.TokenId("<|eos|>");
//
//   // Many documents on all cores (output order = input order):
//   std::vector<std::vector<uint32_t>> batch = tok.EncodeBatch(docs, 0);
//
// Every const method is thread-safe: one Tokenizer may encode from many
// threads at once.
#ifndef DATA_TOKENIZER_TOKENIZER_H_
#define DATA_TOKENIZER_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace hs::data {

// AddedToken: a token of tokenizer.json's "added_tokens" list. Added tokens
// are found in the text before any normalization or BPE and always become
// exactly their id (never split). `special` tokens (eos, bos, chat-template
// markers) can be dropped by Decode(..., {.skip_special_tokens = true}).
struct AddedToken {
  uint32_t id = 0;
  std::string content;
  bool special = false;
  // Matching options as stored in tokenizer.json: strip whitespace on the
  // left/right of the match into the token, match whole words only.
  bool lstrip = false;
  bool rstrip = false;
  bool single_word = false;
  bool normalized = false;
};

struct EncodeOptions {
  // false: special added tokens in the text are encoded as ordinary text
  // (for untrusted user text that must not inject control tokens; like
  // `tokenizers`' encode_special_tokens). Non-special added tokens are
  // always matched.
  bool match_special_tokens = true;
};

struct DecodeOptions {
  bool skip_special_tokens = false;
};

class Tokenizer {
 public:
  // Tokenizer::LoadFile(path): parses a tokenizer.json. Errors name the
  // file and the JSON field (e.g. "pre_tokenizer.pretokenizers[0].behavior:
  // unsupported value \"Foo\""); unsupported features are errors, never
  // silently ignored.
  static absl::StatusOr<Tokenizer> LoadFile(const std::string& path);
  // Tokenizer::FromJson(json, source): the same from text; `source` names
  // the origin in errors.
  static absl::StatusOr<Tokenizer> FromJson(std::string_view json,
                                            std::string_view source = "<json>");

  // SaveFile(path): writes tokenizer.json atomically (temp + fsync +
  // rename); `tokenizers` loads it. ToJson(): the same text.
  absl::Status SaveFile(const std::string& path) const;
  std::string ToJson() const;

  // Encode(text): the ids of `text` (any bytes). No special tokens are added
  // (no bos/eos): append TokenId("<eos>") yourself where you need one.
  std::vector<uint32_t> Encode(std::string_view text,
                               const EncodeOptions& options = {}) const;
  // EncodeAppend: appends to `out` (reuses its capacity).
  void EncodeAppend(std::string_view text, std::vector<uint32_t>* out,
                    const EncodeOptions& options = {}) const;
  // EncodeBatch(texts, threads): Encode of each text, in input order, on
  // `threads` threads (0: all hardware threads). Same result for every
  // thread count.
  std::vector<std::vector<uint32_t>> EncodeBatch(
      absl::Span<const std::string_view> texts, int threads = 0,
      const EncodeOptions& options = {}) const;

  // Decode(ids): the bytes the ids stand for. An id outside the vocabulary
  // is an error naming its position and value.
  absl::StatusOr<std::string> Decode(absl::Span<const uint32_t> ids,
                                     const DecodeOptions& options = {}) const;
  // TokenBytes(id): the raw bytes of one token ("" for an unknown id).
  // Streaming generation prints these as they come.
  std::string TokenBytes(uint32_t id) const;

  // vocab_size(): 1 + the largest id (BPE vocab and added tokens): the
  // embedding rows a model needs.
  int vocab_size() const;
  // TokenId(token): the id of an added token ("<|eos|>") or of a vocab
  // entry in its tokenizer.json spelling (byte-level "Ġthe"); nullopt if none.
  std::optional<uint32_t> TokenId(std::string_view token) const;
  // IdToToken(id): the tokenizer.json spelling of an id; nullopt if unknown.
  std::optional<std::string> IdToToken(uint32_t id) const;
  bool IsSpecial(uint32_t id) const;
  const std::vector<AddedToken>& added_tokens() const;

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // The parsed model; defined in tokenizer_impl.h (internal).
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace hs::data

#endif  // DATA_TOKENIZER_TOKENIZER_H_
