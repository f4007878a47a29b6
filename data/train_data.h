// File: data/train_data.h
//
// Opening the data a run config names: the training sampler over
// data.train_path or the data.mixture sources (flat token files or prepared
// dataset directories), with data.document_mask applied, and the held-out
// rows of data.eval_path. Keeps the trainer's side to one call each.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(TrainData train,
//                       OpenTrainData(config.data(), S, G, seed, vocab_size));
//   HS_RETURN_IF_ERROR(train.sampler->FillBatch(step, 0, G, in, tgt,
//                                               train.document_mask ? pos : nullptr));
#ifndef DATA_TRAIN_DATA_H_
#define DATA_TRAIN_DATA_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "data/sampler.h"
#include "data/token_file.h"
#include "haiscale/config/config.pb.h"

namespace hs::data {

struct TrainData {
  std::vector<std::unique_ptr<TokenFile>> files;  // owned sources
  std::unique_ptr<Sampler> sampler;
  bool document_mask = false;  // FillBatch needs positions
  // One line describing the sources: paths, tokens, weights and the
  // proportions realised per mixture block.
  std::string summary;
};

// OpenTrainData(data, seq_len, global_batch, seed, vocab_size): errors name
// the config field (data.train_path / data.mixture[i].path) and the file.
absl::StatusOr<TrainData> OpenTrainData(const config::DataConfig& data, int64_t seq_len,
                                        int64_t global_batch, uint64_t seed,
                                        int64_t vocab_size);

struct EvalData {
  std::unique_ptr<TokenFile> file;
  std::unique_ptr<EvalRows> rows;
  bool document_mask = false;  // FillRows needs positions
};

// OpenEvalData(data, seq_len, max_rows, vocab_size): data.eval_path as eval
// rows (see EvalRows), with the document layout when data.document_mask.
absl::StatusOr<EvalData> OpenEvalData(const config::DataConfig& data, int64_t seq_len,
                                      int64_t max_rows, int64_t vocab_size);

// RealisedMixture(sampler, steps): "name share%" per source over the first
// `steps` steps, for the log (the realised proportions).
std::string RealisedMixture(const Sampler& sampler, const std::vector<std::string>& names,
                            int64_t steps);

}  // namespace hs::data

#endif  // DATA_TRAIN_DATA_H_
