// File: haiscale/train/hf_weights.h
//
// Model weights as a Hugging Face DeepSeek-V2 folder: config.json plus
// model.safetensors with HF's tensor names and shapes (Linear weights
// [out, in]), f32 or bf16 on disk. `hai train` writes one at the end of a
// run and starts from one with --init-from; `hai eval` reads one.
// Sharded HF folders (model.safetensors.index.json) are read too.
#ifndef HAISCALE_TRAIN_HF_WEIGHTS_H_
#define HAISCALE_TRAIN_HF_WEIGHTS_H_

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

// LoadHfWeights(dir, model): fills every parameter of `model` from the
// folder. Errors name the file and tensor: missing tensor, shape mismatch,
// unsupported dtype; tensors the model does not have are errors too
// (they mean the config and the weights disagree).
absl::Status LoadHfWeights(const std::string& dir, models::DeepseekV2Model* model);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_HF_WEIGHTS_H_
