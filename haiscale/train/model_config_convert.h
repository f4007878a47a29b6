// File: haiscale/train/model_config_convert.h
//
// The proto -> models::DeepseekV2Config conversion lives in
// haiscale/config/model_config_convert.h (checkpoint/ and generate/ use it
// without depending on the trainer). This header keeps the hs::train name
// for code that has not moved to the new include yet.
#ifndef HAISCALE_TRAIN_MODEL_CONFIG_CONVERT_H_
#define HAISCALE_TRAIN_MODEL_CONFIG_CONVERT_H_

#include "haiscale/config/model_config_convert.h"

namespace hs::train {
using config::ToModelConfig;
}  // namespace hs::train

#endif  // HAISCALE_TRAIN_MODEL_CONFIG_CONVERT_H_
