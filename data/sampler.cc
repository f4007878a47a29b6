// File: data/sampler.cc — deterministic next-token sampling, see sampler.h.
#include "data/sampler.h"

#include "absl/strings/str_cat.h"
#include "data/permutation.h"
#include "haiscale/rng.h"
#include "haiscale/status.h"

namespace hs::data {
namespace {

// Per-epoch permutation stream: a fixed name hashed, then the epoch mixed
// in with an odd multiplier so consecutive epochs get unrelated keys.
uint64_t EpochStream(int64_t epoch) {
  static const uint64_t kBase = StreamId("hs.data.sampler.epoch");
  return kBase ^ (uint64_t(epoch) * 0x9E3779B97F4A7C15ull);
}

// CopySample: window tokens [start, start + S + 1) -> one input and one
// target row.
absl::Status CopySample(const TokenFile* file, int64_t start, int64_t seq_len,
                        int32_t* inputs, int32_t* targets) {
  HS_RETURN_IF_ERROR(file->Read(start, seq_len, inputs));
  return file->Read(start + 1, seq_len, targets);
}

}  // namespace

absl::StatusOr<SampleRange> RankSlice(int64_t global_batch, int64_t dp_size,
                                      int64_t dp_rank) {
  if (dp_size < 1 || dp_rank < 0 || dp_rank >= dp_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: dp_rank ", dp_rank, " is not in [0, dp_size = ", dp_size, ")"));
  }
  if (global_batch < dp_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: global batch ", global_batch, " is smaller than dp_size ",
        dp_size, ": some DP rank would get no sample"));
  }
  const int64_t lo = dp_rank * global_batch / dp_size;
  const int64_t hi = (dp_rank + 1) * global_batch / dp_size;
  return SampleRange{lo, hi - lo};
}

absl::StatusOr<SampleRange> MicroBatchSlice(const SampleRange& range,
                                            int64_t num_micro_batches,
                                            int64_t index) {
  if (num_micro_batches < 1 || index < 0 || index >= num_micro_batches) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: micro-batch ", index, " is not in [0, ",
                     num_micro_batches, ")"));
  }
  if (num_micro_batches > range.count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: ", num_micro_batches, " micro-batches for a rank's ",
        range.count, " samples: some micro-batch would be empty"));
  }
  const int64_t lo = index * range.count / num_micro_batches;
  const int64_t hi = (index + 1) * range.count / num_micro_batches;
  return SampleRange{range.first + lo, hi - lo};
}

absl::StatusOr<Sampler> Sampler::Create(const TokenFile* file, int64_t seq_len,
                                        int64_t global_batch, uint64_t seed,
                                        bool shuffle) {
  if (seq_len < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: seq_len ", seq_len, " must be >= 1"));
  }
  if (global_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: global batch ", global_batch, " must be >= 1"));
  }
  const int64_t tokens = file->size();
  const int64_t windows = (tokens - 1) / seq_len;
  if (windows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token file ", file->path(), ": ", tokens,
        " tokens is too few for one sample of seq_len ", seq_len, " (needs ",
        seq_len + 1, " tokens)"));
  }
  if (global_batch > windows) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token file ", file->path(), ": ", tokens, " tokens give ", windows,
        " windows of seq_len ", seq_len, ", fewer than the global batch ",
        global_batch, " (needs at least ", global_batch * seq_len + 1,
        " tokens)"));
  }
  return Sampler(file, seq_len, global_batch, seed, shuffle, windows);
}

int64_t Sampler::WindowOf(int64_t sample) const {
  const int64_t epoch = sample / num_windows_;
  const int64_t position = sample % num_windows_;
  if (!shuffle_) return position;
  KeyedPermutation perm(uint64_t(num_windows_), seed_, EpochStream(epoch));
  return int64_t(perm(uint64_t(position)));
}

absl::Status Sampler::FillBatch(int64_t step, int64_t first_sample,
                                int64_t count, int32_t* inputs,
                                int32_t* targets) const {
  if (step < 0 || first_sample < 0 || count < 0 ||
      first_sample + count > global_batch_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: samples [", first_sample, ", ", first_sample + count,
        ") of step ", step, " are not within the global batch [0, ",
        global_batch_, ")"));
  }
  const int64_t base = step * global_batch_ + first_sample;
  for (int64_t j = 0; j < count; ++j) {
    const int64_t start = WindowOf(base + j) * seq_len_;
    HS_RETURN_IF_ERROR(CopySample(file_, start, seq_len_,
                                  inputs + j * seq_len_,
                                  targets + j * seq_len_));
  }
  return absl::OkStatus();
}

absl::StatusOr<EvalRows> EvalRows::Create(const TokenFile* file,
                                          int64_t seq_len, int64_t max_rows) {
  if (seq_len < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("data: seq_len ", seq_len, " must be >= 1"));
  }
  int64_t rows = file->size() / (seq_len + 1);
  if (rows < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token file ", file->path(), ": ", file->size(),
        " tokens is too few for one eval row of seq_len ", seq_len,
        " (needs ", seq_len + 1, " tokens)"));
  }
  if (max_rows > 0 && max_rows < rows) rows = max_rows;
  return EvalRows(file, seq_len, rows);
}

absl::Status EvalRows::FillRows(int64_t first_row, int64_t count,
                                int32_t* inputs, int32_t* targets) const {
  if (first_row < 0 || count < 0 || first_row + count > num_rows_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: eval rows [", first_row, ", ", first_row + count,
        ") are not within [0, ", num_rows_, ")"));
  }
  for (int64_t j = 0; j < count; ++j) {
    HS_RETURN_IF_ERROR(CopySample(file_, (first_row + j) * (seq_len_ + 1),
                                  seq_len_, inputs + j * seq_len_,
                                  targets + j * seq_len_));
  }
  return absl::OkStatus();
}

}  // namespace hs::data
