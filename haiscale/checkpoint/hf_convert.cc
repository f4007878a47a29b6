// File: haiscale/checkpoint/hf_convert.cc — see hf_convert.h.
#include "haiscale/checkpoint/hf_convert.h"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "haiscale/checkpoint/checkpointer.h"
#include "haiscale/checkpoint/internal/fs_util.h"
#include "haiscale/checkpoint/reader.h"
#include "haiscale/checkpoint/safetensors_stream.h"
#include "haiscale/config/config.h"
#include "haiscale/dtype.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/logging.h"
#include "haiscale/status.h"
#include "haiscale/config/model_config_convert.h"

namespace hs::checkpoint {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

std::string ShapeStr(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

void AddMlp(std::vector<HfTensorSpec>* out, const std::string& p, int64_t C, int64_t I) {
  out->push_back({p + ".gate_proj.weight", {I, C}});
  out->push_back({p + ".up_proj.weight", {I, C}});
  out->push_back({p + ".down_proj.weight", {C, I}});
}

// Checks that `have` (name -> shape) is exactly `want`; errors name `where`
// and the first offending tensor.
absl::Status CheckTensorSet(const std::vector<HfTensorSpec>& want,
                            const std::map<std::string, std::vector<int64_t>>& have,
                            const std::string& where) {
  std::set<std::string> wanted;
  for (const HfTensorSpec& t : want) {
    wanted.insert(t.name);
    auto it = have.find(t.name);
    if (it == have.end()) {
      return absl::NotFoundError(absl::StrCat(where, ": tensor '", t.name,
                                              "' is missing (the model config expects it)"));
    }
    if (it->second != t.shape) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": tensor '", t.name, "' has shape ",
                                                     ShapeStr(it->second),
                                                     ", the model config expects ",
                                                     ShapeStr(t.shape)));
    }
  }
  std::vector<std::string> extra;
  for (const auto& [name, shape] : have) {
    if (!wanted.count(name)) extra.push_back(name);
  }
  if (!extra.empty()) {
    const size_t n = extra.size();
    if (extra.size() > 5) extra.resize(5);
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": ", n, " tensor(s) the model config does not have (config and weights "
        "disagree): ", absl::StrJoin(extra, ", ")));
  }
  return absl::OkStatus();
}

absl::Status RefuseExisting(const std::string& to, bool overwrite) {
  std::error_code ec;
  if (!fs::exists(to, ec)) return absl::OkStatus();
  if (!fs::is_directory(to, ec)) {
    return absl::AlreadyExistsError(absl::StrCat(to, " exists and is not a directory"));
  }
  if (!overwrite && !fs::is_empty(to, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat(to, " already exists; choose another --to or pass --overwrite"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<HfTensorSpec> ExpectedHfTensors(const models::DeepseekV2Config& c) {
  const int64_t C = c.hidden_size, V = c.vocab_size, H = c.num_attention_heads;
  std::vector<HfTensorSpec> out;
  out.push_back({"model.embed_tokens.weight", {V, C}});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i);
    const std::string a = p + ".self_attn";
    if (c.q_lora_rank > 0) {
      out.push_back({a + ".q_a_proj.weight", {c.q_lora_rank, C}});
      out.push_back({a + ".q_a_layernorm.weight", {c.q_lora_rank}});
      out.push_back({a + ".q_b_proj.weight", {H * c.q_head_dim(), c.q_lora_rank}});
    } else {
      out.push_back({a + ".q_proj.weight", {H * c.q_head_dim(), C}});
    }
    out.push_back({a + ".kv_a_proj_with_mqa.weight", {c.kv_lora_rank + c.qk_rope_head_dim, C}});
    out.push_back({a + ".kv_a_layernorm.weight", {c.kv_lora_rank}});
    out.push_back({a + ".kv_b_proj.weight",
                   {H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank}});
    out.push_back({a + ".o_proj.weight", {C, H * c.v_head_dim}});
    if (c.IsMoeLayer(i)) {
      for (int64_t e = 0; e < c.n_routed_experts; ++e) {
        AddMlp(&out, absl::StrCat(p, ".mlp.experts.", e), C, c.moe_intermediate_size);
      }
      out.push_back({p + ".mlp.gate.weight", {c.n_routed_experts, C}});
      if (c.n_shared_experts > 0) {
        AddMlp(&out, p + ".mlp.shared_experts", C, c.moe_intermediate_size * c.n_shared_experts);
      }
    } else {
      AddMlp(&out, p + ".mlp", C, c.intermediate_size);
    }
    out.push_back({p + ".input_layernorm.weight", {C}});
    out.push_back({p + ".post_attention_layernorm.weight", {C}});
  }
  out.push_back({"model.norm.weight", {C}});
  out.push_back({"lm_head.weight", {V, C}});
  return out;
}

absl::StatusOr<int64_t> ParseByteSize(const std::string& text) {
  std::string s(absl::StripAsciiWhitespace(text));
  size_t i = 0;
  while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
  double value = 0;
  if (i == 0 || !absl::SimpleAtod(s.substr(0, i), &value)) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a size like 2GB or 500MB"));
  }
  const std::string unit = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(s.substr(i)));
  static const std::map<std::string, double> kUnits = {
      {"", 1},       {"B", 1},        {"KB", 1e3},          {"MB", 1e6},
      {"GB", 1e9},   {"TB", 1e12},    {"KIB", 1024.0},      {"MIB", 1048576.0},
      {"GIB", 1073741824.0}, {"TIB", 1099511627776.0}};
  auto it = kUnits.find(unit);
  if (it == kUnits.end()) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "': unknown unit '", unit,
                                                   "' (B, KB, MB, GB, KiB, MiB, GiB)"));
  }
  const double bytes = value * it->second;
  if (bytes < 1 || bytes > 9e18) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is out of range"));
  }
  return int64_t(bytes);
}

absl::StatusOr<std::string> ResolveCheckpointDir(const std::string& path) {
  struct stat st;
  if (::stat((path + "/" + kManifestFile).c_str(), &st) == 0) return path;
  if (!io::IsDirectory(path)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such directory"));
  }
  HS_ASSIGN_OR_RETURN(std::optional<std::string> latest, FindLatest(path));
  if (!latest) {
    return absl::NotFoundError(absl::StrCat(
        path, ": neither a checkpoint directory (no manifest.json) nor a run directory with a "
              "complete checkpoint under checkpoints/"));
  }
  return *latest;
}

absl::StatusOr<ConvertReport> CheckpointToHf(const std::string& from, const std::string& to,
                                             const CheckpointToHfOptions& options) {
  if (options.dtype != io::SafetensorsDType::kF32 && options.dtype != io::SafetensorsDType::kBF16) {
    return absl::InvalidArgumentError("--dtype must be f32 or bf16");
  }
  if (options.max_shard_bytes < 1) {
    return absl::InvalidArgumentError("max shard size must be positive");
  }
  HS_RETURN_IF_ERROR(RefuseExisting(to, options.overwrite));
  HS_ASSIGN_OR_RETURN(std::string dir, ResolveCheckpointDir(from));
  HS_ASSIGN_OR_RETURN(std::unique_ptr<CheckpointReader> reader, CheckpointReader::Open(dir));
  const Manifest& m = reader->manifest();
  if (m.model_config_json.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        dir, "/", kManifestFile, ": has no model config, so config.json cannot be written"));
  }
  HS_ASSIGN_OR_RETURN(config::ModelConfig model_config,
                      config::ModelConfigFromHfJson(m.model_config_json,
                                                    dir + "/" + kManifestFile + " model_config"));
  HS_RETURN_IF_ERROR(Annotate(config::ValidateModelConfig(model_config),
                              dir + "/" + kManifestFile + " model_config"));
  const std::vector<HfTensorSpec> expected =
      ExpectedHfTensors(config::ToModelConfig(model_config));
  std::map<std::string, std::vector<int64_t>> have;
  for (const auto& [name, t] : m.tensors) {
    // Optimizer state (ZeRO-1 shards keep it as named tensors) is not exported.
    if (!IsOptimizerTensor(name)) have[name] = t.shape;
  }
  HS_RETURN_IF_ERROR(CheckTensorSet(expected, have, dir));
  // Every byte is checked before anything is written.
  HS_RETURN_IF_ERROR(reader->VerifyAll());

  // Plan the files: tensors in module order, a new file whenever the next
  // tensor would push the current one past max_shard_bytes.
  const int64_t elem = io::SafetensorsDTypeSize(options.dtype);
  std::vector<std::vector<const HfTensorSpec*>> files(1);
  int64_t current = 0, total = 0;
  for (const HfTensorSpec& t : expected) {
    const int64_t bytes = Numel(t.shape) * elem;
    if (current > 0 && current + bytes > options.max_shard_bytes) {
      files.emplace_back();
      current = 0;
    }
    files.back().push_back(&t);
    current += bytes;
    total += bytes;
  }
  const int n = int(files.size());
  auto file_name = [n](int i) {
    return n == 1 ? std::string("model.safetensors")
                  : absl::StrFormat("model-%05d-of-%05d.safetensors", i + 1, n);
  };

  const std::string staging = to + ".tmp";
  HS_RETURN_IF_ERROR(internal::RemoveAll(staging));
  HS_RETURN_IF_ERROR(io::CreateDirectories(staging));
  ConvertReport report;
  report.source = dir;
  report.destination = to;
  report.step = m.step;
  Json weight_map = Json::object();
  for (int i = 0; i < n; ++i) {
    std::vector<StreamTensor> tensors;
    for (const HfTensorSpec* t : files[i]) {
      weight_map[t->name] = file_name(i);
      const std::string name = t->name;
      const int64_t numel = Numel(t->shape);
      const io::SafetensorsDType dtype = options.dtype;
      CheckpointReader* r = reader.get();
      const TensorEntry& entry = m.tensors.at(name);
      tensors.push_back({name, dtype, t->shape, [=, &entry](const EmitFn& emit) -> absl::Status {
        int rank = -1;
        for (const ShardEntry& s : r->manifest().shards) {
          if (s.file == entry.shard) rank = s.rank;
        }
        HS_ASSIGN_OR_RETURN(const io::SafetensorsFile* shard, r->Shard(rank));
        if (dtype == io::SafetensorsDType::kF32 && entry.dtype == io::SafetensorsDType::kF32) {
          // Straight from the mmap'ed shard.
          HS_ASSIGN_OR_RETURN(absl::Span<const uint8_t> raw, shard->Raw(name));
          return emit(absl::string_view(reinterpret_cast<const char*>(raw.data()), raw.size()));
        }
        std::vector<float> values(static_cast<size_t>(numel));
        HS_RETURN_IF_ERROR(shard->ReadAsF32(name, values.data(), numel));
        if (dtype == io::SafetensorsDType::kF32) return emit(F32Bytes(values.data(), numel));
        std::vector<uint16_t> bits(static_cast<size_t>(numel));
        for (int64_t k = 0; k < numel; ++k) bits[k] = FloatToBf16(values[k]).bits;
        return emit(absl::string_view(reinterpret_cast<const char*>(bits.data()),
                                      bits.size() * sizeof(uint16_t)));
      }});
      ++report.tensors;
    }
    HS_RETURN_IF_ERROR(WriteSafetensorsStreaming(staging + "/" + file_name(i), std::move(tensors),
                                                 {{"format", "pt"}})
                           .status());
    report.files.push_back(file_name(i));
  }
  report.tensor_bytes = total;
  if (n > 1) {
    Json index{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    HS_RETURN_IF_ERROR(io::WriteFileAtomically(staging + "/model.safetensors.index.json",
                                               index.dump(2) + "\n"));
  }
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(staging + "/config.json",
                                             config::ModelConfigToHfJson(model_config)));
  HS_RETURN_IF_ERROR(internal::SyncDir(staging));
  HS_RETURN_IF_ERROR(internal::PublishDirectory(staging, to));
  const std::string parent = fs::path(to).lexically_normal().parent_path().string();
  HS_RETURN_IF_ERROR(internal::SyncDir(parent.empty() ? "." : parent));
  return report;
}

absl::StatusOr<ConvertReport> HfToCheckpoint(const std::string& hf_dir,
                                             const std::string& output_dir) {
  const std::string config_path = hf_dir + "/config.json";
  HS_ASSIGN_OR_RETURN(std::string config_text, io::ReadFileToString(config_path));
  HS_ASSIGN_OR_RETURN(config::ModelConfig model_config,
                      config::ModelConfigFromHfJson(config_text, config_path));
  HS_RETURN_IF_ERROR(Annotate(config::ValidateModelConfig(model_config), config_path));
  HS_ASSIGN_OR_RETURN(std::unique_ptr<io::SafetensorsFolder> folder,
                      io::SafetensorsFolder::Open(hf_dir));
  const std::vector<HfTensorSpec> expected =
      ExpectedHfTensors(config::ToModelConfig(model_config));
  std::map<std::string, std::vector<int64_t>> have;
  for (const std::string& name : folder->names()) {
    HS_ASSIGN_OR_RETURN(io::TensorInfo info, folder->Info(name));
    if (info.dtype != io::SafetensorsDType::kF32 && info.dtype != io::SafetensorsDType::kBF16 &&
        info.dtype != io::SafetensorsDType::kF16) {
      HS_ASSIGN_OR_RETURN(const io::SafetensorsFile* file, folder->File(name));
      return absl::InvalidArgumentError(absl::StrCat(file->path(), ": tensor '", name, "' is ",
                                                     io::SafetensorsDTypeName(info.dtype),
                                                     "; weights must be F32, BF16 or F16"));
    }
    have[name] = info.shape;
  }
  HS_RETURN_IF_ERROR(CheckTensorSet(expected, have, hf_dir));

  // Never move an existing run back to step 0.
  if (io::IsDirectory(CheckpointsDir(output_dir))) {
    absl::StatusOr<std::optional<std::string>> latest = FindLatest(output_dir);
    if (!latest.ok() || latest->has_value()) {
      return absl::AlreadyExistsError(absl::StrCat(
          output_dir, " already holds checkpoints",
          latest.ok() ? " (latest: " + **latest + ")" : "",
          "; convert into a new run directory"));
    }
  }

  ShardState state;
  state.step = 0;
  state.rank = 0;
  state.topology = Topology{};
  const io::SafetensorsFolder* src = folder.get();
  ConvertReport report;
  for (const HfTensorSpec& t : expected) {
    const std::string name = t.name;
    const int64_t numel = Numel(t.shape);
    state.params.push_back({name, t.shape, nullptr, [src, name, numel](float* dst) {
                              return src->ReadAsF32(name, dst, numel);
                            }});
    ++report.tensors;
    report.tensor_bytes += numel * int64_t(sizeof(float));
  }
  state.trainer_json = Json{{"converted_from", hf_dir}}.dump();
  HS_RETURN_IF_ERROR(WriteShard(output_dir, state));
  ManifestInfo info;
  info.model_config_json = config::ModelConfigToHfJson(model_config);
  info.extras["converted_from"] = hf_dir;
  HS_ASSIGN_OR_RETURN(std::string dir,
                      CommitCheckpoint(output_dir, 0, 1, info, CommitOptions{1}));
  report.source = hf_dir;
  report.destination = dir;
  report.files.push_back(ShardFileName(0));
  return report;
}

}  // namespace hs::checkpoint
