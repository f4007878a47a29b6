// File: data/sampler.h
//
// Deterministic, resumable sample selection for next-token training.
//
// A sample of sequence length S is S + 1 consecutive tokens: inputs are
// its first S, targets its last S (inputs shifted by one). The token file
// is cut into W = (num_tokens - 1) / S non-overlapping windows; window w
// is tokens [w*S, w*S + S + 1) (neighbouring windows share one token, the
// last target of w being the first input of w + 1, so no token is wasted).
//
// The sample stream is an infinite sequence of epochs. Epoch e visits all
// W windows once, in the order of a keyed permutation of (seed, e) when
// shuffling (KeyedPermutation, data/permutation.h) or in file order
// otherwise. Global step s with global batch G takes samples
// [s*G, (s+1)*G) of that sequence, so:
//   - the global batch does not depend on the number of DP ranks D: rank r
//     takes the contiguous slice RankSlice(G, D, r) = [r*G/D, (r+1)*G/D),
//     and its micro-batches are contiguous slices of that;
//   - the only state is the step number: a run resumed at step k reads
//     exactly what an uninterrupted run would.
//
//   windows:  |w0--|w1--|w2--|w3--|w4--|w5--|...        (S tokens apart)
//   epoch 0:  perm_0 = [3 0 5 1 4 2]   epoch 1: perm_1 = [...]
//   step s:   samples s*G .. s*G+G-1  ->  rank 0 | rank 1 | ... | rank D-1
//
// Usage:
//   HS_ASSIGN_OR_RETURN(auto file, TokenFile::Open(path));
//   HS_ASSIGN_OR_RETURN(Sampler sampler,
//                       Sampler::Create(file.get(), S, G, seed, /*shuffle=*/true));
//   HS_ASSIGN_OR_RETURN(SampleRange mine, RankSlice(G, dp_size, dp_rank));
//   HS_ASSIGN_OR_RETURN(SampleRange mb, MicroBatchSlice(mine, num_micro, m));
//   HS_RETURN_IF_ERROR(sampler.FillBatch(step, mb.first, mb.count, in, tgt));
//
// Mixtures (CreateMixture): K token sources with weights. The sample
// stream is cut into blocks of kMixtureBlock samples; every block holds
// exactly n_k samples of source k (weights rounded by largest remainder),
// placed by a keyed permutation of the block (seed, block), and source k's
// j-th sample of block b is its own sample b*n_k + j, read through its own
// epochs of shuffled windows as above. So each source still visits all of
// its windows once per (source) epoch, the proportions are exact over every
// block, and sample i is found from i alone: resumable from the step
// number, the same for any DP size.
//
// Document masks (SetDocumentMask, prepared datasets only): besides the
// tokens, FillBatch writes positions[count, S]: the offset of each token
// from the start of its document, or from the window start for a document
// that began before the window. A token whose position is 0 starts a
// segment; attention stays within segments (models/kernels/cpu/attention.h)
// and RoPE uses these positions. The target of a document's last token
// (its EOS), which is the next document's first token, is set to -1
// (ignored by the loss).
#ifndef DATA_SAMPLER_H_
#define DATA_SAMPLER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data/token_file.h"

namespace hs::data {

// SampleRange: samples [first, first + count) of one global batch.
struct SampleRange {
  int64_t first = 0;
  int64_t count = 0;
};

// RankSlice(global_batch, dp_size, dp_rank)
//
// DP rank r's contiguous part of the global batch: [r*G/D, (r+1)*G/D).
// Sizes differ by at most one when D does not divide G. Errors for
// D < 1, r outside [0, D) or G < D (a rank would get no sample).
absl::StatusOr<SampleRange> RankSlice(int64_t global_batch, int64_t dp_size,
                                      int64_t dp_rank);

// MicroBatchSlice(range, num_micro_batches, index)
//
// Micro-batch m of M: [first + m*c/M, first + (m+1)*c/M) with c = count,
// so every rank has the same number of micro-batches. Errors when M < 1,
// m is outside [0, M) or M > count.
absl::StatusOr<SampleRange> MicroBatchSlice(const SampleRange& range,
                                            int64_t num_micro_batches,
                                            int64_t index);

// Samples per mixture block: weights are realised to within 1/kMixtureBlock.
inline constexpr int64_t kMixtureBlock = 4096;

// MixtureSource: one dataset of a mixture; `file` outlives the sampler.
struct MixtureSource {
  const TokenFile* file = nullptr;
  double weight = 1.0;
};

// FillDocumentLayout(file, start, S, targets, positions): for the window of
// `file` starting at token `start` (S inputs), writes positions[S] and sets
// targets[t] = -1 where input t ends a document (see "Document masks"
// above). FailedPrecondition naming the file when it has no document index.
absl::Status FillDocumentLayout(const TokenFile& file, int64_t start, int64_t seq_len,
                                int32_t* targets, int32_t* positions);

class Sampler {
 public:
  // Sampler::Create(file, seq_len, global_batch, seed, shuffle)
  //
  // `file` must outlive the sampler. Errors name the file: fewer than
  // seq_len + 1 tokens (no window), or global_batch > W windows (with the
  // number of tokens needed, global_batch * seq_len + 1).
  static absl::StatusOr<Sampler> Create(const TokenFile* file, int64_t seq_len,
                                        int64_t global_batch, uint64_t seed,
                                        bool shuffle);

  // Sampler::CreateMixture(sources, seq_len, global_batch, seed, shuffle)
  //
  // A weighted blend (see "Mixtures" above). Errors name the source: a
  // weight that is not finite and > 0, a weight too small to get one
  // sample per block, or a file shorter than one window.
  static absl::StatusOr<Sampler> CreateMixture(const std::vector<MixtureSource>& sources,
                                               int64_t seq_len, int64_t global_batch,
                                               uint64_t seed, bool shuffle);

  // Sampler::SetDocumentMask(): FillBatch then needs `positions` and masks
  // cross-document targets. Errors name a source without document offsets
  // (a flat token file).
  absl::Status SetDocumentMask();
  bool document_mask() const { return document_mask_; }

  // Sampler::num_windows(): W = (num_tokens - 1) / seq_len (of source 0).
  int64_t num_windows() const { return sources_[0].windows; }
  int64_t num_sources() const { return int64_t(sources_.size()); }
  // Sampler::BlockShare(k): samples of source k per kMixtureBlock.
  int64_t BlockShare(int64_t k) const { return sources_[k].per_block; }

  // Sampler::SourceCounts(step_begin, step_end): how many samples of steps
  // [step_begin, step_end) each source provides (the realised mixture).
  std::vector<int64_t> SourceCounts(int64_t step_begin, int64_t step_end) const;

  // Sampler::Locate(sample): the source and token offset of sample `sample`
  // (>= 0) of the infinite stream.
  struct Location {
    int64_t source = 0;
    int64_t start = 0;
  };
  Location Locate(int64_t sample) const;
  int64_t seq_len() const { return seq_len_; }
  int64_t global_batch() const { return global_batch_; }

  // Sampler::WindowOf(sample): the window index of sample `sample` (>= 0)
  // of the infinite epoch sequence; its tokens start at WindowOf * seq_len.
  int64_t WindowOf(int64_t sample) const;

  // Sampler::Epoch(step): the epoch that step's first sample belongs to
  // (of source 0's sample stream for a mixture).
  int64_t Epoch(int64_t step) const {
    return step * global_batch_ / sources_[0].windows;
  }

  // Sampler::FillBatch(step, first_sample, count, inputs, targets)
  //
  // Writes samples step*G + first_sample + j, j in [0, count), as rows:
  // inputs[count, S] and targets[count, S], targets[j][t] = inputs[j][t+1]
  // for t < S - 1. [first_sample, first_sample + count) must lie within
  // [0, G) (use RankSlice / MicroBatchSlice); step >= 0. With the document
  // mask, positions[count, S] is required (else ignored and may be null).
  absl::Status FillBatch(int64_t step, int64_t first_sample, int64_t count,
                         int32_t* inputs, int32_t* targets,
                         int32_t* positions = nullptr) const;

 private:
  struct Source {
    const TokenFile* file = nullptr;
    int64_t windows = 0;
    int64_t per_block = 0;   // samples per mixture block
    int64_t block_slot = 0;  // first slot of the block arrangement
    uint64_t stream = 0;     // permutation stream salt (0 for a lone source)
  };
  Sampler(std::vector<Source> sources, int64_t seq_len, int64_t global_batch, uint64_t seed,
          bool shuffle)
      : sources_(std::move(sources)),
        seq_len_(seq_len),
        global_batch_(global_batch),
        seed_(seed),
        shuffle_(shuffle) {}
  int64_t WindowIn(const Source& source, int64_t sample) const;
  int64_t SourceOfSlot(int64_t slot) const;

  std::vector<Source> sources_;
  int64_t seq_len_;
  int64_t global_batch_;
  uint64_t seed_;
  bool shuffle_;
  bool document_mask_ = false;
};

// EvalRows: a token file read as rows of S + 1 tokens in file order, row r
// being tokens [r*(S+1), (r+1)*(S+1)) (rows do not overlap; a trailing
// partial row is dropped), for `hai eval`.
class EvalRows {
 public:
  // EvalRows::Create(file, seq_len, max_rows): max_rows <= 0 means all
  // rows, otherwise the first min(max_rows, available) rows. Errors name
  // the file when it holds fewer than seq_len + 1 tokens.
  static absl::StatusOr<EvalRows> Create(const TokenFile* file,
                                         int64_t seq_len, int64_t max_rows);

  // EvalRows::num_rows(): rows this reader serves.
  int64_t num_rows() const { return num_rows_; }
  int64_t seq_len() const { return seq_len_; }

  // EvalRows::FillRows(first_row, count, inputs, targets, positions): rows
  // [first_row, first_row + count) into inputs[count, S] / targets[count, S];
  // with a non-null `positions` [count, S], the document layout as
  // FillDocumentLayout gives it (prepared datasets only).
  absl::Status FillRows(int64_t first_row, int64_t count, int32_t* inputs,
                        int32_t* targets, int32_t* positions = nullptr) const;

 private:
  EvalRows(const TokenFile* file, int64_t seq_len, int64_t num_rows)
      : file_(file), seq_len_(seq_len), num_rows_(num_rows) {}

  const TokenFile* file_;
  int64_t seq_len_;
  int64_t num_rows_;
};

}  // namespace hs::data

#endif  // DATA_SAMPLER_H_
