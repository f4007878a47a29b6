// File: haiscale/generate/hf_model.h
//
// LoadInferenceModel(dir): a forwards-only DeepseekV2Model with the weights
// of a Hugging Face folder (config.json + safetensors), as `hai generate`
// and `hai bench generate` use it. Errors name dir/config.json or the
// tensor. max_seq_len: the longest sequence its own Forward takes (the
// decoder keeps its own RoPE tables, so 1 for decoding).
#ifndef HAISCALE_GENERATE_HF_MODEL_H_
#define HAISCALE_GENERATE_HF_MODEL_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "models/deepseek_v2.h"

namespace hs::generate {

absl::StatusOr<std::unique_ptr<models::DeepseekV2Model>> LoadInferenceModel(
    const std::string& dir, int64_t max_seq_len = 1);

}  // namespace hs::generate

#endif  // HAISCALE_GENERATE_HF_MODEL_H_
