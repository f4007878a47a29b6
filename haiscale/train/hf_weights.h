// File: haiscale/train/hf_weights.h
//
// Model weights as a Hugging Face DeepSeek-V2 folder: config.json plus
// model.safetensors with HF's tensor names and shapes (Linear weights
// [out, in]), f32 or bf16 on disk. `hai train` writes one at the end of a
// run and starts from one with --init-from; `hai eval` reads one.
// Sharded HF folders (model.safetensors.index.json) are read too.
#ifndef HAISCALE_TRAIN_HF_WEIGHTS_H_
#define HAISCALE_TRAIN_HF_WEIGHTS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "haiscale/config/config.pb.h"
#include "haiscale/dtype.h"
#include "models/deepseek_v2.h"

namespace hs::train {

// SaveHfWeights(model, model_config, dir, dtype): writes dir/model.safetensors
// and dir/config.json, each atomically (temp file, fsync, rename); creates
// dir. dtype is kF32 or kBF16 (round to nearest even).
absl::Status SaveHfWeights(const models::DeepseekV2Model& model,
                           const config::ModelConfig& model_config,
                           const std::string& dir, DType dtype);

// SaveHfWeightsShard(model, dir, dtype, shard, num_shards): one pipeline
// stage's parameters as dir/model-<shard+1>-of-<num_shards>.safetensors
// (HF's sharded naming, 5 digits). Atomic; creates dir.
// `include` selects the parameters to write (nullptr: all), e.g. only this
// rank's routed experts under expert parallelism.
absl::Status SaveHfWeightsShard(
    const models::DeepseekV2Model& model, const std::string& dir, DType dtype, int shard,
    int num_shards, const std::function<bool(const models::ParamSpec&)>& include = nullptr);

// WriteHfShardIndex(dir, num_shards, model_config): after every shard is
// written, dir/model.safetensors.index.json (weight_map from the shards'
// headers, metadata.total_size) and dir/config.json. Atomic.
absl::Status WriteHfShardIndex(const std::string& dir, int num_shards,
                               const config::ModelConfig& model_config);

// HfShardName(shard, num_shards): "model-00001-of-00002.safetensors".
std::string HfShardName(int shard, int num_shards);

// LoadHfWeights(dir, model): fills every parameter of `model` from the
// folder. Errors name the file and tensor: missing tensor, shape mismatch,
// unsupported dtype; tensors the model does not have are errors too
// (they mean the config and the weights disagree) — except for a pipeline
// stage, which loads its own blocks and ignores the other stages' tensors,
// and an expert-parallel shard, which loads its own routed experts and
// ignores the other ranks'.
// Every tensor is checked before any is read. Conversion (bf16/f16 -> f32)
// runs on all OpenMP threads in chunks, straight into the arena, and each
// chunk's file pages are released once copied: peak memory is the
// parameters plus a few chunks, never a second copy of the file. Create the
// model with ModelOptions::params_from_file (and for_inference for eval,
// generation and reference models) so it is not initialised first:
//   HS_ASSIGN_OR_RETURN(auto model, models::DeepseekV2Model::CreateForInference(
//                                       config, {.params_from_file = true}));
//   HS_RETURN_IF_ERROR(LoadHfWeights(dir, model.get()));
absl::Status LoadHfWeights(const std::string& dir, models::DeepseekV2Model* model);

// CheckHfWeightsConfig(dir, run_model): reads and validates dir/config.json
// like `--model` does, then requires every field that changes the model's
// function to equal the run config's `run_model` (sizes, MLA and MoE
// shapes, routing, norms, RoPE and its scaling). Fields that do not change
// the computed function may differ: token ids, use_cache,
// max_position_embeddings (only bounds seq_len), initializer_range (the
// weights replace the init), ep_size, and the training-only aux-loss knobs.
// InvalidArgument lists every mismatch as "field: the weights have A, the
// run config has B"; missing/garbage files are errors naming the path.
absl::Status CheckHfWeightsConfig(const std::string& dir, const config::ModelConfig& run_model);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_HF_WEIGHTS_H_
