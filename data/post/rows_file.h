// File: data/post/rows_file.h
//
// Post-training rows: the prepared form of SFT and DPO data. Unlike a
// pretraining dataset (a token stream cut into windows at read time), each
// row is already a training sequence of seq_len positions with its inputs,
// its targets (< 0: not trained, e.g. prompt tokens and padding) and its
// packed-document positions (restarting at 0 at each packed example).
//
//   DIR/rows.hpr
//     header (64 bytes)  magic "HAIPOSTR", u32 version, u32 kind (1 SFT,
//                        2 DPO), u64 seq_len, u64 num_rows, u64 vocab_size,
//                        u64 num_examples, u64 trained_tokens, 8 reserved
//     rows               num_rows x (tokens, targets, positions), each
//                        seq_len little-endian int32
//     trailer (4 bytes)  crc32c of everything above
//   DIR/summary.txt      what `hai data prepare-sft|prepare-dpo` reported
//
// DPO rows come in pairs: row 2i is example i's chosen completion, row
// 2i + 1 its rejected one, each after the same prompt (targets mark the
// completion tokens only).
#ifndef DATA_POST_ROWS_FILE_H_
#define DATA_POST_ROWS_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace hs::data::post {

enum class RowsKind : uint32_t { kSft = 1, kDpo = 2 };

inline constexpr char kRowsFileName[] = "rows.hpr";

struct PostRows {
  RowsKind kind = RowsKind::kSft;
  int64_t seq_len = 0;
  int64_t vocab_size = 0;
  int64_t num_examples = 0;
  std::vector<int32_t> tokens, targets, positions;  // [num_rows, seq_len] each

  int64_t num_rows() const { return seq_len ? int64_t(tokens.size()) / seq_len : 0; }
  // Targets >= 0 over all rows.
  int64_t trained_tokens() const;
  // Appends one row (each span seq_len long).
  void AddRow(const int32_t* tok, const int32_t* tgt, const int32_t* pos);
};

// WritePostRows(dir, rows): DIR/rows.hpr (temp + fsync + rename; dir is
// created) and DIR/summary.txt.
absl::Status WritePostRows(const std::string& dir, const PostRows& rows,
                           const std::string& summary);

// ReadPostRows(dir): reads and checks DIR/rows.hpr (magic, version, sizes,
// checksum, ids within the vocabulary, targets within [-1, vocab)). Errors
// name the file.
absl::StatusOr<PostRows> ReadPostRows(const std::string& dir);

// IsPostRowsDir(path): path is a directory holding rows.hpr.
bool IsPostRowsDir(const std::string& path);

const char* RowsKindName(RowsKind kind);

}  // namespace hs::data::post

#endif  // DATA_POST_ROWS_FILE_H_
