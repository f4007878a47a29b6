// File: data/post/raw_bytes.h
//
// The fixed-size header fields of the post-training files (rows.hpr,
// dpo_reference.bin): trivially copyable values appended to, and read back
// from, a byte string in the machine's (little-endian) order.
#ifndef DATA_POST_RAW_BYTES_H_
#define DATA_POST_RAW_BYTES_H_

#include <cstdint>
#include <cstring>
#include <string>

namespace hs::data::post {

template <typename T>
void PutRaw(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(T));
}

// GetRaw(in, offset): the T at in[offset] (the caller checked the size).
template <typename T>
T GetRaw(const std::string& in, int64_t offset) {
  T v;
  std::memcpy(&v, in.data() + offset, sizeof(T));
  return v;
}

}  // namespace hs::data::post

#endif  // DATA_POST_RAW_BYTES_H_
