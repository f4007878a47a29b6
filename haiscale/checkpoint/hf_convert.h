// File: haiscale/checkpoint/hf_convert.h
//
// Conversion between HaiScale checkpoints and Hugging Face DeepSeek-V2
// folders (what `hai convert` runs). Reference for names and shapes:
// HF's modeling_deepseek.py (DeepseekV2ForCausalLM); Linear weights are
// [out, in]. Both directions stream tensor by tensor (sources are mmap'ed,
// at most one tensor is converted in memory at a time) and publish their
// output atomically (written under a temporary name, fsynced, renamed).
//
// Usage:
//   HS_ASSIGN_OR_RETURN(ConvertReport r,
//       CheckpointToHf("runs/a", "out/hf", {.dtype = io::SafetensorsDType::kBF16,
//                                           .max_shard_bytes = int64_t(2) << 30}));
//   HS_ASSIGN_OR_RETURN(ConvertReport r2, HfToCheckpoint("models/v2-lite", "runs/ft"));
//   // runs/ft/checkpoints/step_00000000 (parameters only) + latest
#ifndef HAISCALE_CHECKPOINT_HF_CONVERT_H_
#define HAISCALE_CHECKPOINT_HF_CONVERT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "haiscale/io/safetensors.h"
#include "models/model_config.h"

namespace hs::checkpoint {

// HfTensorSpec: one tensor of a HF DeepSeek-V2 checkpoint.
struct HfTensorSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// ExpectedHfTensors(config)
//
// Every tensor HF's DeepseekV2ForCausalLM has for `config`, in module
// order: embed_tokens; per layer self_attn (q_proj, or q_a_proj +
// q_a_layernorm + q_b_proj when q_lora_rank > 0; kv_a_proj_with_mqa,
// kv_a_layernorm, kv_b_proj, o_proj), mlp (gate/up/down_proj, or
// experts.{e}.*, gate, shared_experts.* on MoE layers), input_layernorm,
// post_attention_layernorm; model.norm; lm_head (untied).
std::vector<HfTensorSpec> ExpectedHfTensors(const models::DeepseekV2Config& config);

// ParseByteSize(text): "2GB", "500MB", "64KiB", "4096" -> bytes (GB/MB/KB
// are powers of 1000 as in HF's max_shard_size; GiB/MiB/KiB powers of 1024).
absl::StatusOr<int64_t> ParseByteSize(const std::string& text);

// ResolveCheckpointDir(path): a checkpoint directory (has manifest.json)
// is returned as is; a run directory resolves through FindLatest.
absl::StatusOr<std::string> ResolveCheckpointDir(const std::string& path);

struct CheckpointToHfOptions {
  io::SafetensorsDType dtype = io::SafetensorsDType::kF32;  // kF32 or kBF16
  int64_t max_shard_bytes = int64_t(2) * 1000 * 1000 * 1000;  // HF's "2GB"
  bool overwrite = false;  // replace an existing `to` directory
};

// ConvertReport: what a conversion wrote.
struct ConvertReport {
  std::string source;              // the checkpoint or HF directory read
  std::string destination;         // the directory written
  int64_t step = 0;
  int64_t tensors = 0;
  int64_t tensor_bytes = 0;        // sum of tensor data written
  std::vector<std::string> files;  // safetensors files written
};

// CheckpointToHf(from, to, options)
//
// `from` is a run directory (its latest checkpoint) or a checkpoint
// directory. Verifies every shard (size, CRC32), checks the parameters are
// exactly ExpectedHfTensors of the manifest's model config (names and
// shapes; errors name the tensor), then writes `to` with config.json and
// model.safetensors, or model-0000i-of-0000n.safetensors plus
// model.safetensors.index.json when the tensors exceed max_shard_bytes.
// Optimizer state is not exported. `to` must not exist unless overwrite.
absl::StatusOr<ConvertReport> CheckpointToHf(const std::string& from, const std::string& to,
                                             const CheckpointToHfOptions& options);

// HfToCheckpoint(hf_dir, output_dir)
//
// Reads a HF DeepSeek-V2 folder (config.json + model.safetensors or a
// sharded index; f32/bf16/f16) and writes a parameters-only HaiScale
// checkpoint at step 0 into run directory `output_dir`
// (checkpoints/step_00000000 + latest), fp32 as the trainer's arenas hold
// them. Refuses an output_dir that already has a checkpoint.
absl::StatusOr<ConvertReport> HfToCheckpoint(const std::string& hf_dir,
                                             const std::string& output_dir);

}  // namespace hs::checkpoint

#endif  // HAISCALE_CHECKPOINT_HF_CONVERT_H_
