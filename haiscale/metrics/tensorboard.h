// File: haiscale/metrics/tensorboard.h
//
// TensorBoardWriter: scalar summaries in TensorBoard's events-file format
// (`events.out.tfevents.<time>.<host>`), so `tensorboard --logdir RUN_DIR`
// plots a HaiScale run. Each record is TFRecord-framed:
//
//   uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
//
// with data a serialised hs.metrics.Event (tb_event.proto, wire-compatible
// with TensorBoard's Event). Records are flushed after every step, so a
// crash loses at most the step being written; TensorBoard tolerates a
// truncated last record.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto tb, TensorBoardWriter::Open(run_dir));
//   HS_RETURN_IF_ERROR(tb->AddScalars(step, {{"train/loss", 2.5}, {"train/lr", 3e-4}}));
#ifndef HAISCALE_METRICS_TENSORBOARD_H_
#define HAISCALE_METRICS_TENSORBOARD_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hs::metrics {

// Crc32c(data, n): CRC-32C (Castagnoli), as TFRecord uses.
uint32_t Crc32c(const void* data, size_t n);
// MaskedCrc32c: TFRecord's rotate-and-add mask of a CRC-32C.
uint32_t MaskedCrc32c(const void* data, size_t n);

// FrameRecord(data): one TFRecord (header + data + footer).
std::string FrameRecord(absl::string_view data);

class TensorBoardWriter {
 public:
  // Open(dir): creates dir/events.out.tfevents.<unix time>.<host> and
  // writes the file_version record.
  static absl::StatusOr<std::unique_ptr<TensorBoardWriter>> Open(const std::string& dir);
  ~TensorBoardWriter();

  // AddScalars: one event at `step` holding every (tag, value).
  absl::Status AddScalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);

  const std::string& path() const { return path_; }

 private:
  TensorBoardWriter() = default;
  absl::Status WriteRecord(const std::string& data);
  std::string path_;
  FILE* file_ = nullptr;
};

// ReadRecords(path): the data of every record, checking lengths and CRCs
// (errors name the file and record index). For tests and tools.
absl::StatusOr<std::vector<std::string>> ReadRecords(const std::string& path);

}  // namespace hs::metrics

#endif  // HAISCALE_METRICS_TENSORBOARD_H_
