// File: data/tokenizer/byte_level.h
//
// The byte <-> character map of byte-level BPE (GPT-2's `bytes_to_unicode`,
// used by `tokenizers`' ByteLevel pre-tokenizer and decoder): every byte
// value gets a printable Unicode character so a vocabulary of byte strings
// can be stored as JSON text. Printable Latin-1 bytes map to themselves; the
// other 68 bytes (controls, space, 0x7F-0xA0, 0xAD) map to U+0100.. in
// order, so a space is "Ġ" (U+0120) and a newline "Ċ" (U+010A).
#ifndef DATA_TOKENIZER_BYTE_LEVEL_H_
#define DATA_TOKENIZER_BYTE_LEVEL_H_

#include <optional>
#include <string>
#include <string_view>

namespace hs::data::byte_level {

// ByteToChar(b): the code point byte `b` is written as.
char32_t ByteToChar(unsigned char b);

// Encode(bytes): the byte-level spelling of raw bytes (UTF-8 text).
std::string Encode(std::string_view bytes);

// Decode(token): the raw bytes of a byte-level spelling, or nullopt when
// `token` has a character outside the 256 of the map (then it is not a
// byte-level token, e.g. an added token written as plain text).
std::optional<std::string> Decode(std::string_view token);

// AppendUtf8(cp, out): appends the UTF-8 encoding of code point `cp`.
void AppendUtf8(char32_t cp, std::string* out);

// NextCodePoint(s, pos): decodes the UTF-8 character at s[*pos] and
// advances *pos past it; nullopt (and *pos += 1) for an invalid sequence.
std::optional<char32_t> NextCodePoint(std::string_view s, size_t* pos);

}  // namespace hs::data::byte_level

#endif  // DATA_TOKENIZER_BYTE_LEVEL_H_
