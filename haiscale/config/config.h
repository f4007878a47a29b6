// File: haiscale/config/config.h
//
// Loading, overriding, validating and writing HaiScale run configurations
// (hs.config.RunConfig, see config.proto), and converting the model part to
// and from Hugging Face DeepSeek-V2 config.json.
//
// A config is protobuf text format. LoadConfig parses it (unknown fields are
// errors naming file:line:column and the field) and fills HF's defaults for
// absent fields; ApplyOverride applies one `--set a.b=c`; ValidateConfig
// rejects every impossible value, listing all problems at once, one
// "field: reason" per line.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(hs::config::RunConfig cfg,
//                       hs::config::LoadConfig("configs/quickstart.pbtxt"));
//   HS_RETURN_IF_ERROR(hs::config::ApplyOverride(&cfg, "train.steps=10"));
//   HS_RETURN_IF_ERROR(hs::config::ValidateConfig(cfg));
//   std::string json = hs::config::ModelConfigToHfJson(cfg.model());
#ifndef HAISCALE_CONFIG_CONFIG_H_
#define HAISCALE_CONFIG_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "haiscale/config/config.pb.h"

namespace hs::config {

// FillModelDefaults(model)
//
// Sets every absent ModelConfig field that has a default (documented in
// config.proto; DeepseekV2Config's defaults) to that default. Present fields
// and fields whose absence means HF `null` (q_lora_rank, pad_token_id,
// rope_scaling, n_routed_experts, ...) are left alone. Idempotent.
void FillModelDefaults(ModelConfig* model);

// FillDefaults(config)
//
// FillModelDefaults on config->model plus the defaults of the train,
// optimizer, schedule and parallel sections. Idempotent.
void FillDefaults(RunConfig* config);

// ParseConfigText(text, source_name)
//
// Parses protobuf text format into a RunConfig and fills defaults. Errors
// read "<source_name>:<line>:<column>: <problem naming the field>"; unknown
// fields are errors.
absl::StatusOr<RunConfig> ParseConfigText(const std::string& text,
                                          const std::string& source_name);

// ParseTextMessage(text, source_name, message)
//
// Parses protobuf text format into any message with ParseConfigText's
// error reporting (file:line:column, the dotted field path, unknown fields
// are errors); fills no defaults. For config files of other kinds (e.g.
// hs.sweep.SweepConfig).
absl::Status ParseTextMessage(const std::string& text, const std::string& source_name,
                              google::protobuf::Message* message);

// LoadConfig(path)
//
// Reads `path` and returns ParseConfigText(contents, path). Does not
// validate: apply overrides first, then call ValidateConfig.
absl::StatusOr<RunConfig> LoadConfig(const std::string& path);

// ApplyOverride(config, assignment)
//
// Applies one "dotted.path=value" assignment, e.g. "train.steps=10",
// "model.rope_scaling.factor=40", "optimizer.type=SGD",
// "train.recompute_layers=[0,2]" (repeated fields take a bracketed, comma
// separated list; "[]" clears), or "model.rope_scaling={type: \"yarn\"
// factor: 40}" (a message field takes text format, merged). The value is
// parsed with the field's type. Errors name the path: "unknown field
// 'train.stpes'", "train.steps: expected an integer, got 'x'".
absl::Status ApplyOverride(RunConfig* config, const std::string& assignment);

// ApplyOverrides(config, assignments)
//
// ApplyOverride for each assignment in order; stops at the first error.
absl::Status ApplyOverrides(RunConfig* config,
                            const std::vector<std::string>& assignments);

// ValidateConfig(config)
//
// Checks the config as it will be used (absent fields count as their
// defaults). Returns InvalidArgument listing every problem, one per line,
// each "section.field: reason" (e.g. "model.num_experts_per_tok: 10 exceeds
// model.n_routed_experts (8)"), or OK.
absl::Status ValidateConfig(const RunConfig& config);

// ValidateModelConfig(model)
//
// The model-only part of ValidateConfig (field names prefixed "model."),
// for a model read on its own (e.g. from a HF config.json).
absl::Status ValidateModelConfig(const ModelConfig& model);

// ConfigToText(config)
//
// Text format of the whole config (defaults as filled), for the config copy
// written into a run directory. ParseConfigText reads it back unchanged.
std::string ConfigToText(const RunConfig& config);

// IsMoeLayer(model, layer)
//
// True when decoder block `layer` (0-based) uses DeepSeekMoE rather than the
// dense MLP: n_routed_experts > 0, layer >= first_k_dense_replace and
// layer % moe_layer_freq == 0 (HF's rule).
bool IsMoeLayer(const ModelConfig& model, int64_t layer);

// ModelConfigFromHfJson(json_text, source_name, ignored_keys)
//
// Reads a Hugging Face DeepSeek-V2 config.json. Keys are the ModelConfig
// field names; absent keys take HF's defaults; `null` is accepted where HF
// allows it (q_lora_rank, rope_scaling, n_routed_experts, ...). Keys HaiScale
// does not use (auto_map, torch_dtype, transformers_version, ...) are
// ignored: their names go to `ignored_keys` when given and are logged at
// INFO. A wrong type is an error naming source_name and the key; a
// model_type other than "deepseek_v2" is an error. Never throws.
absl::StatusOr<ModelConfig> ModelConfigFromHfJson(
    const std::string& json_text, const std::string& source_name,
    std::vector<std::string>* ignored_keys = nullptr);

// ModelConfigToHfJson(model)
//
// Pretty-printed HF config.json (sorted keys, 2-space indent) with
// "architectures": ["DeepseekV2ForCausalLM"], "model_type": "deepseek_v2"
// and every ModelConfig key with defaults filled; q_lora_rank, rope_scaling
// and the other nullable keys are `null` when absent/0.
std::string ModelConfigToHfJson(const ModelConfig& model);

// LoadModelConfigFile(path)
//
// The model config from `path`: a HF config.json (name ends in ".json"), a
// directory holding one (`<dir>/config.json`), or a RunConfig text file
// (".pbtxt", ".textproto", ".txtpb"; its `model` section). Defaults filled;
// not validated.
absl::StatusOr<ModelConfig> LoadModelConfigFile(const std::string& path);

}  // namespace hs::config

#endif  // HAISCALE_CONFIG_CONFIG_H_
