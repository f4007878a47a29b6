// File: data/sampler.cc — deterministic next-token sampling, see sampler.h.
#include "data/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

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

// Mixture block arrangement stream: which slot of block b each sample takes.
uint64_t BlockStream(int64_t block) {
  static const uint64_t kBase = StreamId("hs.data.sampler.mixture_block");
  return kBase ^ (uint64_t(block) * 0x9E3779B97F4A7C15ull);
}

// SourceStream(k): salt of mixture source k's epoch permutations.
uint64_t SourceStream(int64_t k) {
  static const uint64_t kBase = StreamId("hs.data.sampler.mixture_source");
  return kBase * (2 * uint64_t(k) + 1);
}

// CopySample: window tokens [start, start + S + 1) -> one input and one
// target row.
absl::Status CopySample(const TokenFile* file, int64_t start, int64_t seq_len,
                        int32_t* inputs, int32_t* targets) {
  HS_RETURN_IF_ERROR(file->Read(start, seq_len, inputs));
  return file->Read(start + 1, seq_len, targets);
}

absl::Status NeedsDocuments(const TokenFile& file) {
  if (file.dataset() != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "data.document_mask: ", file.path(),
      " is a flat token file without document boundaries; prepare it with `hai data prepare`"));
}

}  // namespace

absl::Status FillDocumentLayout(const TokenFile& file, int64_t start, int64_t seq_len,
                                int32_t* targets, int32_t* positions) {
  HS_RETURN_IF_ERROR(NeedsDocuments(file));
  const dataset::PreparedDataset& ds = *file.dataset();
  int64_t doc = ds.DocumentAt(start);
  int64_t next = ds.DocStart(doc + 1);  // first token of the next document
  int64_t segment = start;              // where the current segment began
  for (int64_t t = 0; t < seq_len; ++t) {
    const int64_t i = start + t;
    if (i == next) {  // a document starts at input t
      segment = i;
      next = ds.DocStart(++doc + 1);
    }
    positions[t] = int32_t(i - segment);
    if (i + 1 == next) targets[t] = -1;  // input t is the EOS: next is another document
  }
  return absl::OkStatus();
}

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
  Source source;
  source.file = file;
  source.windows = windows;
  source.per_block = kMixtureBlock;
  return Sampler({source}, seq_len, global_batch, seed, shuffle);
}

absl::StatusOr<Sampler> Sampler::CreateMixture(const std::vector<MixtureSource>& sources,
                                               int64_t seq_len, int64_t global_batch,
                                               uint64_t seed, bool shuffle) {
  if (sources.empty()) return absl::InvalidArgumentError("data.mixture: no source");
  if (sources.size() == 1) {
    return Create(sources[0].file, seq_len, global_batch, seed, shuffle);
  }
  if (seq_len < 1 || global_batch < 1) {
    return absl::InvalidArgumentError(absl::StrCat("data: seq_len ", seq_len,
                                                   " and global batch ", global_batch,
                                                   " must be >= 1"));
  }
  double total = 0;
  for (size_t k = 0; k < sources.size(); ++k) {
    const double w = sources[k].weight;
    if (!std::isfinite(w) || w <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data.mixture[", k, "] (", sources[k].file->path(), "): weight ", w,
          " must be finite and > 0"));
    }
    total += w;
  }
  // Largest-remainder rounding of the weights to kMixtureBlock samples.
  std::vector<Source> out(sources.size());
  std::vector<std::pair<double, int64_t>> remainders;
  int64_t assigned = 0;
  for (size_t k = 0; k < sources.size(); ++k) {
    const double exact = sources[k].weight / total * double(kMixtureBlock);
    out[k].per_block = int64_t(std::floor(exact));
    assigned += out[k].per_block;
    remainders.push_back({exact - std::floor(exact), int64_t(k)});
  }
  std::stable_sort(remainders.begin(), remainders.end(),
                   [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int64_t r = 0; assigned < kMixtureBlock; ++r, ++assigned) {
    ++out[remainders[size_t(r)].second].per_block;
  }
  int64_t slot = 0;
  for (size_t k = 0; k < sources.size(); ++k) {
    const TokenFile* file = sources[k].file;
    if (out[k].per_block == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data.mixture[", k, "] (", file->path(), "): weight ", sources[k].weight, " is under 1/",
          kMixtureBlock, " of the total ", total, ": it would never be sampled"));
    }
    out[k].file = file;
    out[k].windows = (file->size() - 1) / seq_len;
    out[k].block_slot = slot;
    out[k].stream = SourceStream(int64_t(k));
    slot += out[k].per_block;
    if (out[k].windows < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data.mixture[", k, "] (", file->path(), "): ", file->size(),
          " tokens is too few for one sample of seq_len ", seq_len));
    }
  }
  return Sampler(std::move(out), seq_len, global_batch, seed, shuffle);
}

absl::Status Sampler::SetDocumentMask() {
  for (const Source& s : sources_) HS_RETURN_IF_ERROR(NeedsDocuments(*s.file));
  document_mask_ = true;
  return absl::OkStatus();
}

int64_t Sampler::WindowIn(const Source& source, int64_t sample) const {
  const int64_t epoch = sample / source.windows;
  const int64_t position = sample % source.windows;
  if (!shuffle_) return position;
  KeyedPermutation perm(uint64_t(source.windows), seed_, EpochStream(epoch) ^ source.stream);
  return int64_t(perm(uint64_t(position)));
}

int64_t Sampler::WindowOf(int64_t sample) const { return WindowIn(sources_[0], sample); }

int64_t Sampler::SourceOfSlot(int64_t slot) const {
  int64_t k = 0;
  while (slot >= sources_[k].block_slot + sources_[k].per_block) ++k;
  return k;
}

Sampler::Location Sampler::Locate(int64_t sample) const {
  if (sources_.size() == 1) return {0, WindowIn(sources_[0], sample) * seq_len_};
  const int64_t block = sample / kMixtureBlock;
  const KeyedPermutation arrangement(uint64_t(kMixtureBlock), seed_, BlockStream(block));
  const int64_t slot = int64_t(arrangement(uint64_t(sample % kMixtureBlock)));
  const int64_t k = SourceOfSlot(slot);
  const Source& src = sources_[k];
  const int64_t own = block * src.per_block + (slot - src.block_slot);
  return {k, WindowIn(src, own) * seq_len_};
}

std::vector<int64_t> Sampler::SourceCounts(int64_t step_begin, int64_t step_end) const {
  std::vector<int64_t> counts(sources_.size(), 0);
  for (int64_t i = step_begin * global_batch_; i < step_end * global_batch_; ++i) {
    ++counts[size_t(Locate(i).source)];
  }
  return counts;
}

absl::Status Sampler::FillBatch(int64_t step, int64_t first_sample,
                                int64_t count, int32_t* inputs,
                                int32_t* targets, int32_t* positions) const {
  if (step < 0 || first_sample < 0 || count < 0 ||
      first_sample + count > global_batch_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: samples [", first_sample, ", ", first_sample + count,
        ") of step ", step, " are not within the global batch [0, ",
        global_batch_, ")"));
  }
  if (document_mask_ && positions == nullptr) {
    return absl::InvalidArgumentError("data: the document mask needs a positions buffer");
  }
  const int64_t base = step * global_batch_ + first_sample;
  for (int64_t j = 0; j < count; ++j) {
    const Location at = Locate(base + j);
    const TokenFile* file = sources_[size_t(at.source)].file;
    int32_t* tgt = targets + j * seq_len_;
    HS_RETURN_IF_ERROR(CopySample(file, at.start, seq_len_, inputs + j * seq_len_, tgt));
    if (document_mask_) {
      HS_RETURN_IF_ERROR(
          FillDocumentLayout(*file, at.start, seq_len_, tgt, positions + j * seq_len_));
    }
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
                                int32_t* inputs, int32_t* targets,
                                int32_t* positions) const {
  if (first_row < 0 || count < 0 || first_row + count > num_rows_) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data: eval rows [", first_row, ", ", first_row + count,
        ") are not within [0, ", num_rows_, ")"));
  }
  for (int64_t j = 0; j < count; ++j) {
    const int64_t start = (first_row + j) * (seq_len_ + 1);
    HS_RETURN_IF_ERROR(CopySample(file_, start, seq_len_, inputs + j * seq_len_,
                                  targets + j * seq_len_));
    if (positions != nullptr) {
      HS_RETURN_IF_ERROR(FillDocumentLayout(*file_, start, seq_len_, targets + j * seq_len_,
                                            positions + j * seq_len_));
    }
  }
  return absl::OkStatus();
}

}  // namespace hs::data
