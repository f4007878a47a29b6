// File: haiscale/generate/hf_model.cc — see hf_model.h.
#include "haiscale/generate/hf_model.h"

#include "haiscale/config/config.h"
#include "haiscale/status.h"
#include "haiscale/train/hf_weights.h"
#include "haiscale/config/model_config_convert.h"

namespace hs::generate {

absl::StatusOr<std::unique_ptr<models::DeepseekV2Model>> LoadInferenceModel(
    const std::string& dir, int64_t max_seq_len) {
  HS_ASSIGN_OR_RETURN(config::ModelConfig mp, config::LoadModelConfigFile(dir));
  HS_RETURN_IF_ERROR(Annotate(config::ValidateModelConfig(mp), dir, "/config.json"));
  // The decoder keeps its own RoPE tables (as long as its cache): the
  // model's training-forward table needs only max_seq_len rows.
  HS_ASSIGN_OR_RETURN(auto model, models::DeepseekV2Model::CreateForInference(
                                      config::ToModelConfig(mp),
                                      {.max_seq_len = max_seq_len, .params_from_file = true}));
  HS_RETURN_IF_ERROR(train::LoadHfWeights(dir, model.get()));
  return model;
}

}  // namespace hs::generate
