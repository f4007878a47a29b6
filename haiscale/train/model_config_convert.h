// File: haiscale/train/model_config_convert.h
//
// Converts the ModelConfig proto (HF config.json keys) into the plain
// models::DeepseekV2Config the model code uses, so models/ stays free of
// protobuf. Expects defaults already filled (LoadConfig/FillModelDefaults).
#ifndef HAISCALE_TRAIN_MODEL_CONFIG_CONVERT_H_
#define HAISCALE_TRAIN_MODEL_CONFIG_CONVERT_H_

#include "haiscale/config/config.pb.h"
#include "models/model_config.h"

namespace hs::train {

// ToModelConfig(proto): field-by-field copy; q_lora_rank absent -> 0 (null),
// rope_scaling absent -> no YaRN.
models::DeepseekV2Config ToModelConfig(const config::ModelConfig& proto);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_MODEL_CONFIG_CONVERT_H_
