// File: haiscale/config/model_config_convert.h
//
// Converts the ModelConfig proto (HF config.json keys) into the plain
// models::DeepseekV2Config the model code uses, so models/ stays free of
// protobuf. Expects defaults already filled (LoadConfig/FillModelDefaults).
#ifndef HAISCALE_CONFIG_MODEL_CONFIG_CONVERT_H_
#define HAISCALE_CONFIG_MODEL_CONFIG_CONVERT_H_

#include "haiscale/config/config.pb.h"
#include "models/model_config.h"

namespace hs::config {

// ToModelConfig(proto): field-by-field copy; q_lora_rank absent -> 0 (null),
// rope_scaling absent -> no YaRN.
models::DeepseekV2Config ToModelConfig(const ModelConfig& proto);

// ToModelConfig(run): the model fields as above plus the expert-parallel
// routing knobs from run.parallel (docs/expert_parallel.md):
//   ep_devices     = parallel.ep_routing_devices, or parallel.ep when 0
//   device_limit   = parallel.ep_device_limit
//   device_balance_alpha, comm_balance_alpha, capacity_factor = same names
// With those knobs at 0 the model computes exactly what the ModelConfig
// overload's model computes, whatever parallel.ep is.
models::DeepseekV2Config ToModelConfig(const RunConfig& run);

}  // namespace hs::config

#endif  // HAISCALE_CONFIG_MODEL_CONFIG_CONVERT_H_
