// File: haiscale/train/hf_weights.cc — see hf_weights.h.
#include "haiscale/train/hf_weights.h"

#include <filesystem>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/io/safetensors.h"
#include "haiscale/status.h"

namespace hs::train {

namespace fs = std::filesystem;

namespace {

// RemoveStaleWeightFiles: after a save, weight files of an earlier save of
// another layout (a single file vs shards of another count) would confuse
// readers; remove every model*.safetensors[.index.json] not in `keep`.
void RemoveStaleWeightFiles(const std::string& dir, const std::set<std::string>& keep) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    const bool weights = name.rfind("model", 0) == 0 &&
                         (name.size() > 12 && (name.ends_with(".safetensors") ||
                                               name.ends_with(".safetensors.index.json")));
    if (weights && !keep.count(name)) fs::remove(entry.path(), ec);
  }
}

}  // namespace

// WriteWeightFile: the selected parameters of `model` as dir/file_name.
absl::Status WriteWeightFile(const models::DeepseekV2Model& model, const std::string& dir,
                             const std::string& file_name, DType dtype,
                             const std::function<bool(const models::ParamSpec&)>& include) {
  if (dtype != DType::kF32 && dtype != DType::kBF16) {
    return absl::InvalidArgumentError(
        absl::StrCat("weights can be saved as f32 or bf16, not ", DTypeName(dtype)));
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  io::SafetensorsWriter writer;
  const models::ParamArena& arena = model.arena();
  const io::SafetensorsDType stored =
      dtype == DType::kBF16 ? io::SafetensorsDType::kBF16 : io::SafetensorsDType::kF32;
  for (const models::ParamSpec& spec : arena.specs()) {
    if (include && !include(spec)) continue;
    HS_RETURN_IF_ERROR(writer.AddF32(spec.name, spec.shape, arena.params() + spec.offset, stored));
  }
  return writer.Write((fs::path(dir) / file_name).string(), {{"format", "pt"}});
}

absl::Status SaveHfWeights(const models::DeepseekV2Model& model,
                           const config::ModelConfig& model_config,
                           const std::string& dir, DType dtype) {
  HS_RETURN_IF_ERROR(WriteWeightFile(model, dir, "model.safetensors", dtype, nullptr));
  RemoveStaleWeightFiles(dir, {"model.safetensors"});
  return io::WriteFileAtomically((fs::path(dir) / "config.json").string(),
                                 config::ModelConfigToHfJson(model_config));
}

std::string HfShardName(int shard, int num_shards) {
  return absl::StrFormat("model-%05d-of-%05d.safetensors", shard + 1, num_shards);
}

absl::Status SaveHfWeightsShard(
    const models::DeepseekV2Model& model, const std::string& dir, DType dtype, int shard,
    int num_shards, const std::function<bool(const models::ParamSpec&)>& include) {
  return WriteWeightFile(model, dir, HfShardName(shard, num_shards), dtype, include);
}

absl::Status WriteHfShardIndex(const std::string& dir, int num_shards,
                               const config::ModelConfig& model_config) {
  nlohmann::json map = nlohmann::json::object();
  int64_t total = 0;
  for (int s = 0; s < num_shards; ++s) {
    const std::string name = HfShardName(s, num_shards);
    HS_ASSIGN_OR_RETURN(auto file, io::SafetensorsFile::Open((fs::path(dir) / name).string()));
    for (const std::string& tensor : file->names()) {
      map[tensor] = name;
      HS_ASSIGN_OR_RETURN(io::TensorInfo info, file->Info(tensor));
      total += info.num_bytes();
    }
  }
  nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", map}};
  std::set<std::string> keep = {"model.safetensors.index.json"};
  for (int s = 0; s < num_shards; ++s) keep.insert(HfShardName(s, num_shards));
  RemoveStaleWeightFiles(dir, keep);
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(
      (fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2) + "\n"));
  return io::WriteFileAtomically((fs::path(dir) / "config.json").string(),
                                 config::ModelConfigToHfJson(model_config));
}

absl::Status LoadHfWeights(const std::string& dir, models::DeepseekV2Model* model) {
  HS_ASSIGN_OR_RETURN(auto folder, io::SafetensorsFolder::Open(dir));
  models::ParamArena& arena = model->arena();
  std::set<std::string> expected;
  for (const models::ParamSpec& spec : arena.specs()) {
    expected.insert(spec.name);
    if (!folder->Contains(spec.name)) {
      return absl::NotFoundError(absl::StrCat(dir, ": tensor '", spec.name,
                                              "' is missing (the model config expects it)"));
    }
    HS_ASSIGN_OR_RETURN(io::TensorInfo info, folder->Info(spec.name));
    if (info.shape != spec.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          dir, ": tensor '", spec.name, "' has shape ", ShapeToString(info.shape),
          ", the model config expects ", ShapeToString(spec.shape)));
    }
    HS_RETURN_IF_ERROR(Annotate(
        folder->ReadAsF32(spec.name, arena.params() + spec.offset, spec.numel), dir));
  }
  std::vector<std::string> extra;
  const bool whole_model = model->has_embedding() && model->has_head();
  for (const std::string& name : folder->names()) {
    if (!expected.count(name) && whole_model) extra.push_back(name);
  }
  if (!extra.empty()) {
    if (extra.size() > 5) extra.resize(5);
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": tensors the model config does not have (config and weights disagree): ",
        absl::StrJoin(extra, ", ")));
  }
  return absl::OkStatus();
}

}  // namespace hs::train
