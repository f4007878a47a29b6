// File: haiscale/train/hf_weights.cc — see hf_weights.h.
#include "haiscale/train/hf_weights.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/text_format.h"
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

// Fields that may differ between the weights' config.json and the run
// config (see CheckHfWeightsConfig).
bool DoesNotChangeTheFunction(const std::string& field) {
  static const std::set<std::string>* names = new std::set<std::string>{
      "use_cache",         "pad_token_id", "bos_token_id",   "eos_token_id",
      "initializer_range", "ep_size",      "aux_loss_alpha", "seq_aux",
      "max_position_embeddings"};
  return names->count(field) > 0;
}

// The value of a singular scalar field as text ("absent" for an unset
// message).
std::string FieldText(const google::protobuf::Message& m,
                      const google::protobuf::FieldDescriptor* f) {
  const google::protobuf::Reflection* r = m.GetReflection();
  std::string text;
  if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE && !r->HasField(m, f)) {
    return "absent";
  }
  google::protobuf::TextFormat::PrintFieldValueToString(m, f, -1, &text);
  return text;
}

// Appends "prefix.field: ..." for each differing field of a and b.
void CollectMismatches(const google::protobuf::Message& weights,
                       const google::protobuf::Message& run, const std::string& prefix,
                       std::vector<std::string>* out) {
  const google::protobuf::Descriptor* d = weights.GetDescriptor();
  const google::protobuf::Reflection* rw = weights.GetReflection();
  const google::protobuf::Reflection* rr = run.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const google::protobuf::FieldDescriptor* f = d->field(i);
    if (f->is_repeated() || (prefix.empty() && DoesNotChangeTheFunction(f->name()))) continue;
    const std::string name = prefix.empty() ? f->name() : prefix + "." + f->name();
    if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE &&
        rw->HasField(weights, f) && rr->HasField(run, f)) {
      CollectMismatches(rw->GetMessage(weights, f), rr->GetMessage(run, f), name, out);
      continue;
    }
    const std::string a = FieldText(weights, f), b = FieldText(run, f);
    if (a != b) {
      out->push_back(absl::StrCat(name, ": the weights have ", a, ", the run config has ", b));
    }
  }
}

}  // namespace

absl::Status CheckHfWeightsConfig(const std::string& dir, const config::ModelConfig& run_model) {
  const std::string path = (fs::path(dir) / "config.json").string();
  if (!fs::is_regular_file(path)) {
    return absl::NotFoundError(absl::StrCat(
        path, ": missing (weights to start from need the config.json they were saved with)"));
  }
  HS_ASSIGN_OR_RETURN(config::ModelConfig weights, config::LoadModelConfigFile(path));
  HS_RETURN_IF_ERROR(Annotate(config::ValidateModelConfig(weights), path));
  config::ModelConfig run = run_model;
  config::FillModelDefaults(&run);
  std::vector<std::string> mismatches;
  CollectMismatches(weights, run, "", &mismatches);
  if (mismatches.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      path, " disagrees with the run config's model section in fields that change the model:\n  ",
      absl::StrJoin(mismatches, "\n  "), "\n(to train the weights' model as saved, pass --model ",
      dir, " to take the model section from its config.json)"));
}

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

namespace {

// One piece of the load: elements [first, first + count) of a parameter.
struct LoadChunk {
  const io::SafetensorsFile* file;
  const models::ParamSpec* spec;
  int64_t first, count;
};

// Chunks this size (elements) spread a large tensor (the embedding, the
// lm_head) over the threads while keeping per-chunk overhead negligible.
constexpr int64_t kLoadChunkElements = int64_t{1} << 20;

}  // namespace

absl::Status LoadHfWeights(const std::string& dir, models::DeepseekV2Model* model) {
  HS_ASSIGN_OR_RETURN(auto folder, io::SafetensorsFolder::Open(dir));
  models::ParamArena& arena = model->arena();
  // Check every tensor before reading any: a bad folder fails fast, and the
  // errors come in parameter order.
  std::set<std::string> expected;
  std::vector<LoadChunk> chunks;
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
    HS_ASSIGN_OR_RETURN(const io::SafetensorsFile* file, folder->File(spec.name));
    for (int64_t first = 0; first < spec.numel; first += kLoadChunkElements) {
      chunks.push_back({file, &spec, first, std::min(kLoadChunkElements, spec.numel - first)});
    }
  }
  // A pipeline stage ignores the other stages' tensors; an expert-parallel
  // shard (fewer routed experts than the config has) the other ranks'
  // routed experts.
  std::set<int64_t> held_experts;
  for (const models::ParamSpec& spec : arena.specs()) {
    if (spec.expert >= 0) held_experts.insert(spec.expert);
  }
  const bool expert_shard =
      !held_experts.empty() && int64_t(held_experts.size()) < model->config().n_routed_experts;
  std::vector<std::string> extra;
  const bool whole_model = model->has_embedding() && model->has_head();
  for (const std::string& name : folder->names()) {
    if (expected.count(name) || !whole_model) continue;
    if (expert_shard && absl::StrContains(name, ".mlp.experts.")) continue;
    extra.push_back(name);
  }
  if (!extra.empty()) {
    if (extra.size() > 5) extra.resize(5);
    return absl::InvalidArgumentError(absl::StrCat(
        dir, ": tensors the model config does not have (config and weights disagree): ",
        absl::StrJoin(extra, ", ")));
  }
  // Convert chunk by chunk on all threads, straight into the arena (no f32
  // copy of the file), and drop each chunk's file pages once copied so the
  // process never holds the file and the parameters at once.
  std::vector<absl::Status> status(chunks.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t i = 0; i < int64_t(chunks.size()); ++i) {
    const LoadChunk& c = chunks[i];
    status[i] = c.file->ReadSliceAsF32(c.spec->name, c.first, c.count,
                                       arena.params() + c.spec->offset + c.first);
    c.file->ReleasePages(c.spec->name, c.first, c.count);
  }
  for (const absl::Status& st : status) HS_RETURN_IF_ERROR(Annotate(st, dir));
  return absl::OkStatus();
}

}  // namespace hs::train
