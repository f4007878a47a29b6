// File: data/post/reference_file.h
//
// Precomputed DPO reference log-probabilities, stored beside the prepared
// pairs (`hai data dpo-reference`), so that a DPO run reads them instead of
// running the reference model itself:
//
//   DIR/dpo_reference.bin
//     header (48 bytes)  magic "HAIDPORF", u32 version, u32 rows_crc (of the
//                        rows' tokens, targets and positions), u64 num_rows,
//                        u32 weights_crc, u32 reserved, u64 weights_bytes,
//                        u64 weights_dir length
//     weights_dir        the folder the values were computed from (for
//                        messages only; identity is the crc and size)
//     logps              num_rows little-endian float64, row order
//     trailer (4 bytes)  crc32c of everything above
//
// The weights' identity is a CRC-32C over the Hugging Face folder's
// config.json, *.safetensors and *.safetensors.index.json (names, sizes
// and bytes, in name order): the same files give the same identity
// wherever they are copied, and any change to the weights or the model
// config gives another.
#ifndef DATA_POST_REFERENCE_FILE_H_
#define DATA_POST_REFERENCE_FILE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/post/rows_file.h"

namespace hs::data::post {

inline constexpr char kReferenceFileName[] = "dpo_reference.bin";

struct WeightsIdentity {
  uint32_t crc = 0;
  uint64_t bytes = 0;
  bool operator==(const WeightsIdentity& o) const { return crc == o.crc && bytes == o.bytes; }
};

// IdentifyWeights(dir): the identity of a Hugging Face weights folder.
// Errors name the folder (missing, no config.json, no safetensors).
absl::StatusOr<WeightsIdentity> IdentifyWeights(const std::string& dir);

// RowsCrc(rows): CRC-32C of the rows' tokens, targets and positions.
uint32_t RowsCrc(const PostRows& rows);

struct RowsReference {
  std::vector<double> logps;  // per row
  uint32_t rows_crc = 0;
  WeightsIdentity weights;
  std::string weights_dir;
};

// WriteRowsReference(dir, ref): DIR/dpo_reference.bin, temp + fsync +
// rename.
absl::Status WriteRowsReference(const std::string& dir, const RowsReference& ref);

// ReadRowsReference(dir): DIR/dpo_reference.bin checked (magic, version,
// sizes, checksum), or nullopt when there is none. Errors name the file.
absl::StatusOr<std::optional<RowsReference>> ReadRowsReference(const std::string& dir);

// FormatIdentity(id): "crc32c 0x1234abcd, 12345 bytes", for messages.
std::string FormatIdentity(const WeightsIdentity& id);

}  // namespace hs::data::post

#endif  // DATA_POST_REFERENCE_FILE_H_
