// File: data/tokenizer/byte_level.cc
#include "data/tokenizer/byte_level.h"

#include <array>

namespace hs::data::byte_level {
namespace {

bool MapsToItself(unsigned b) {
  return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
}

struct Tables {
  std::array<char32_t, 256> to_char{};
  // Inverse over U+0000..U+0143 (the map's range); -1 where unmapped.
  std::array<int, 0x144> to_byte{};
  Tables() {
    to_byte.fill(-1);
    char32_t next = 0x100;
    for (unsigned b = 0; b < 256; ++b) {
      to_char[b] = MapsToItself(b) ? char32_t(b) : next++;
      to_byte[to_char[b]] = int(b);
    }
  }
};

const Tables& GetTables() {
  static const Tables tables;
  return tables;
}

}  // namespace

char32_t ByteToChar(unsigned char b) { return GetTables().to_char[b]; }

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(char(cp));
  } else if (cp < 0x800) {
    out->push_back(char(0xC0 | (cp >> 6)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(char(0xE0 | (cp >> 12)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(char(0xF0 | (cp >> 18)));
    out->push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(char(0x80 | (cp & 0x3F)));
  }
}

std::optional<char32_t> NextCodePoint(std::string_view s, size_t* pos) {
  const size_t i = *pos;
  const unsigned char c0 = (unsigned char)s[i];
  *pos = i + 1;
  if (c0 < 0x80) return char32_t(c0);
  int extra;
  char32_t cp, min;
  if ((c0 & 0xE0) == 0xC0) {
    extra = 1, cp = c0 & 0x1F, min = 0x80;
  } else if ((c0 & 0xF0) == 0xE0) {
    extra = 2, cp = c0 & 0x0F, min = 0x800;
  } else if ((c0 & 0xF8) == 0xF0) {
    extra = 3, cp = c0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (i + extra >= s.size()) return std::nullopt;  // truncated
  for (int k = 1; k <= extra; ++k) {
    const unsigned char c = (unsigned char)s[i + k];
    if ((c & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (c & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
    return std::nullopt;
  }
  *pos = i + 1 + extra;
  return cp;
}

std::string Encode(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) AppendUtf8(ByteToChar(b), &out);
  return out;
}

std::optional<std::string> Decode(std::string_view token) {
  const Tables& t = GetTables();
  std::string out;
  out.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    std::optional<char32_t> cp = NextCodePoint(token, &pos);
    if (!cp || *cp >= t.to_byte.size() || t.to_byte[*cp] < 0) return std::nullopt;
    out.push_back(char(t.to_byte[*cp]));
  }
  return out;
}

}  // namespace hs::data::byte_level
