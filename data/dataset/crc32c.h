// File: data/dataset/crc32c.h
//
// CRC-32C (Castagnoli), continuable over pieces, for the checksums of
// prepared-dataset shards. Uses the SSE4.2 crc32 instruction when the CPU
// has it (several GB/s, so `hai data verify` is bound by the disk), a
// table otherwise; both give the same value.
//
// Usage:
//   uint32_t crc = Crc32cExtend(0, header, n1);
//   crc = Crc32cExtend(crc, payload, n2);   // == Crc32c over both pieces
#ifndef DATA_DATASET_CRC32C_H_
#define DATA_DATASET_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace hs::data {

// Crc32cExtend(crc, data, n): the CRC-32C of (the bytes `crc` covers) + data[n].
// Start from 0.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);

}  // namespace hs::data

#endif  // DATA_DATASET_CRC32C_H_
