// File: haiscale/checkpoint/hf_convert_test.cc
//
// hai convert's library: the HF tensor list equals what the model
// registers; HF -> checkpoint -> HF gives identical bytes (bf16 and f32);
// sharded output has an index SafetensorsFolder reads; multi-rank
// checkpoints with optimizer state export their parameters; bad inputs
// give errors naming the tensor or file and leave nothing behind.
#include "haiscale/checkpoint/hf_convert.h"

#include <barrier>
#include <filesystem>
#include <map>
#include <thread>

#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "haiscale/checkpoint/checkpointer.h"
#include "haiscale/checkpoint/reader.h"
#include "haiscale/checkpoint/test_util.h"
#include "haiscale/config/config.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/io/safetensors.h"
#include "haiscale/config/model_config_convert.h"
#include "models/deepseek_v2.h"

namespace hs::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::ReadAll;
using testing::TempDir;

// MoE with query compression, a dense first layer and a shared expert.
constexpr char kMoe[] = R"(model {
  vocab_size: 64 hidden_size: 16 intermediate_size: 32 moe_intermediate_size: 8
  num_hidden_layers: 3 num_attention_heads: 2 num_key_value_heads: 2
  q_lora_rank: 12 kv_lora_rank: 8 qk_nope_head_dim: 4 qk_rope_head_dim: 4 v_head_dim: 6
  first_k_dense_replace: 1 moe_layer_freq: 1 n_routed_experts: 4 num_experts_per_tok: 2
  n_shared_experts: 1 max_position_embeddings: 64 })";
// Dense, plain q_proj.
constexpr char kDense[] = R"(model {
  vocab_size: 48 hidden_size: 8 intermediate_size: 16 num_hidden_layers: 2
  num_attention_heads: 2 num_key_value_heads: 2 kv_lora_rank: 4 qk_nope_head_dim: 4
  qk_rope_head_dim: 2 v_head_dim: 4 max_position_embeddings: 32 })";
// MoE every other layer, no shared experts.
constexpr char kSparse[] = R"(model {
  vocab_size: 32 hidden_size: 8 intermediate_size: 16 moe_intermediate_size: 4
  num_hidden_layers: 3 num_attention_heads: 1 num_key_value_heads: 1 kv_lora_rank: 4
  qk_nope_head_dim: 2 qk_rope_head_dim: 2 v_head_dim: 2 moe_layer_freq: 2
  n_routed_experts: 3 num_experts_per_tok: 1 max_position_embeddings: 32 })";

config::ModelConfig Parse(const char* text) {
  auto cfg = config::ParseConfigText(text, "test");
  EXPECT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_TRUE(config::ValidateModelConfig(cfg->model()).ok())
      << config::ValidateModelConfig(cfg->model());
  return cfg->model();
}

std::unique_ptr<models::DeepseekV2Model> MakeModel(const config::ModelConfig& mc, uint64_t seed) {
  auto model = models::DeepseekV2Model::Create(config::ToModelConfig(mc), {.seed = seed});
  EXPECT_TRUE(model.ok()) << model.status();
  return std::move(*model);
}

// A HF folder written independently of hf_convert (SafetensorsWriter).
std::string WriteHfFolder(const std::string& dir, const config::ModelConfig& mc,
                          const models::DeepseekV2Model& model, io::SafetensorsDType dtype) {
  fs::create_directories(dir);
  io::SafetensorsWriter writer;
  const models::ParamArena& arena = model.arena();
  for (const models::ParamSpec& p : arena.specs()) {
    EXPECT_TRUE(writer.AddF32(p.name, p.shape, arena.params() + p.offset, dtype).ok());
  }
  EXPECT_TRUE(writer.Write(dir + "/model.safetensors", {{"format", "pt"}}).ok());
  EXPECT_TRUE(io::WriteFileAtomically(dir + "/config.json", config::ModelConfigToHfJson(mc)).ok());
  return dir;
}

std::map<std::string, std::string> RawTensors(const io::SafetensorsFolder& f) {
  std::map<std::string, std::string> out;
  for (const std::string& name : f.names()) {
    auto raw = f.Raw(name);
    auto info = f.Info(name);
    out[name] = std::string(io::SafetensorsDTypeName(info->dtype)) + ":" +
                std::string(reinterpret_cast<const char*>(raw->data()), raw->size());
  }
  return out;
}

TEST(HfConvertTest, ExpectedTensorsAreWhatTheModelRegisters) {
  for (const char* text : {kMoe, kDense, kSparse}) {
    const config::ModelConfig mc = Parse(text);
    auto model = MakeModel(mc, 1);
    std::map<std::string, std::vector<int64_t>> from_model, expected;
    for (const models::ParamSpec& p : model->arena().specs()) from_model[p.name] = p.shape;
    for (const HfTensorSpec& t : ExpectedHfTensors(config::ToModelConfig(mc))) {
      EXPECT_TRUE(expected.emplace(t.name, t.shape).second) << "duplicate " << t.name;
    }
    EXPECT_EQ(expected, from_model) << text;
  }
}

TEST(HfConvertTest, ParseByteSize) {
  EXPECT_EQ(*ParseByteSize("2GB"), 2000000000);
  EXPECT_EQ(*ParseByteSize("500MB"), 500000000);
  EXPECT_EQ(*ParseByteSize("64KiB"), 65536);
  EXPECT_EQ(*ParseByteSize("4096"), 4096);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), int64_t(1.5 * 1073741824.0));
  EXPECT_FALSE(ParseByteSize("2 parsecs").ok());
  EXPECT_FALSE(ParseByteSize("GB").ok());
}

void RoundTrip(io::SafetensorsDType dtype, const std::string& name) {
  const config::ModelConfig mc = Parse(kMoe);
  auto model = MakeModel(mc, 7);
  const std::string root = TempDir(name);
  const std::string hf = WriteHfFolder(root + "/hf_in", mc, *model, dtype);

  auto in = HfToCheckpoint(hf, root + "/run");
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(in->destination, root + "/run/checkpoints/step_00000000");
  auto latest = FindLatest(root + "/run");
  ASSERT_TRUE(latest.ok() && latest->has_value());
  auto reader = CheckpointReader::Open(**latest);
  ASSERT_TRUE(reader.ok());
  EXPECT_FALSE((*reader)->manifest().has_optimizer_state());
  EXPECT_EQ((*reader)->step(), 0);
  // The checkpoint holds the fp32 values the HF file encodes.
  auto src = io::SafetensorsFolder::Open(hf);
  for (const models::ParamSpec& p : model->arena().specs()) {
    std::vector<float> want(p.numel), got(p.numel);
    ASSERT_TRUE((*src)->ReadAsF32(p.name, want.data(), p.numel).ok());
    ASSERT_TRUE((*reader)->ReadParam(p.name, p.shape, got.data()).ok()) << p.name;
    ASSERT_EQ(want, got) << p.name;
  }

  CheckpointToHfOptions options;
  options.dtype = dtype;
  auto out = CheckpointToHf(root + "/run", root + "/hf_out", options);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->files, std::vector<std::string>{"model.safetensors"});
  EXPECT_FALSE(fs::exists(root + "/hf_out.tmp"));
  auto back = io::SafetensorsFolder::Open(root + "/hf_out");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(RawTensors(**back), RawTensors(**src));
  EXPECT_EQ(ReadAll(root + "/hf_out/config.json"), ReadAll(hf + "/config.json"));
}

TEST(HfConvertTest, RoundTripBf16IsIdentical) { RoundTrip(io::SafetensorsDType::kBF16, "rt_bf16"); }
TEST(HfConvertTest, RoundTripF32IsIdentical) { RoundTrip(io::SafetensorsDType::kF32, "rt_f32"); }

TEST(HfConvertTest, ShardedOutputHasAValidIndex) {
  const config::ModelConfig mc = Parse(kMoe);
  auto model = MakeModel(mc, 3);
  const std::string root = TempDir("sharded");
  const std::string hf = WriteHfFolder(root + "/hf_in", mc, *model, io::SafetensorsDType::kF32);
  ASSERT_TRUE(HfToCheckpoint(hf, root + "/run").ok());
  CheckpointToHfOptions options;
  options.dtype = io::SafetensorsDType::kBF16;
  options.max_shard_bytes = 4096;
  auto out = CheckpointToHf(root + "/run/checkpoints/step_00000000", root + "/hf_out", options);
  ASSERT_TRUE(out.ok()) << out.status();
  const int n = int(out->files.size());
  ASSERT_GT(n, 3);
  EXPECT_EQ(out->files.front(), absl::StrFormat("model-00001-of-%05d.safetensors", n));
  EXPECT_FALSE(fs::exists(root + "/hf_out/model.safetensors"));

  auto index = nlohmann::json::parse(ReadAll(root + "/hf_out/model.safetensors.index.json"));
  EXPECT_EQ(index["metadata"]["total_size"].get<int64_t>(), out->tensor_bytes);
  auto folder = io::SafetensorsFolder::Open(root + "/hf_out");
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_EQ(folder->get()->names().size(), model->arena().specs().size());
  int64_t total = 0;
  for (const models::ParamSpec& p : model->arena().specs()) {
    auto info = (*folder)->Info(p.name);
    ASSERT_TRUE(info.ok()) << p.name;
    EXPECT_EQ(info->dtype, io::SafetensorsDType::kBF16);
    EXPECT_EQ(info->shape, p.shape);
    total += info->num_bytes();
    std::vector<float> got(p.numel);
    ASSERT_TRUE((*folder)->ReadAsF32(p.name, got.data(), p.numel).ok());
    for (int64_t k = 0; k < p.numel; ++k) {
      ASSERT_EQ(got[k], Bf16ToFloat(FloatToBf16(model->arena().params()[p.offset + k])))
          << p.name << "[" << k << "]";
    }
  }
  EXPECT_EQ(total, out->tensor_bytes);
  for (const std::string& f : out->files) {
    auto file = io::SafetensorsFile::Open(root + "/hf_out/" + f);
    ASSERT_TRUE(file.ok());
    int64_t data_bytes = 0;
    for (const std::string& name : (*file)->names()) data_bytes += (*file)->Info(name)->num_bytes();
    // Over the limit only when one tensor alone is.
    if (data_bytes > 4096) {
      EXPECT_EQ(file->get()->names().size(), 1u) << f;
    }
  }
}

TEST(HfConvertTest, MultiRankCheckpointWithOptimizerStateExportsParameters) {
  const config::ModelConfig mc = Parse(kSparse);
  auto model = MakeModel(mc, 11);
  const models::ParamArena& arena = model->arena();
  const std::string root = TempDir("multirank");
  std::barrier sync(2);
  std::vector<std::thread> ranks;
  std::vector<float> m_state(arena.size(), 0.5f);
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      auto ckpt = Checkpointer::Create({root + "/run", 2, true});
      ShardState s;
      s.step = 30;
      s.rank = r;
      s.dp_rank = r;
      s.topology = {2, 2, 1, 1};
      const auto& specs = arena.specs();
      for (size_t k = 0; k < specs.size(); ++k) {
        if (int(k % 2) == r) s.params.push_back({specs[k].name, specs[k].shape,
                                                 arena.params() + specs[k].offset});
      }
      s.arena_size = arena.size();
      testing::OwnedRange(arena.size(), 2, r, &s.optim_begin, &s.optim_end);
      s.optim_states.push_back({"exp_avg", {s.optim_end - s.optim_begin},
                                m_state.data() + s.optim_begin});
      // The trainer's ZeRO-1 layout: optimizer parts as named tensors.
      s.params.push_back({"zero1.rank" + std::to_string(r) + ".exp_avg",
                          {s.optim_end - s.optim_begin}, m_state.data() + s.optim_begin});
      ManifestInfo info{config::ModelConfigToHfJson(mc), "", {}};
      ASSERT_TRUE((*ckpt)->Save(s, info, [&] {
                     sync.arrive_and_wait();
                     return absl::OkStatus();
                   }).ok());
      ASSERT_TRUE((*ckpt)->Wait().ok());
    });
  }
  for (auto& t : ranks) t.join();
  auto out = CheckpointToHf(root + "/run", root + "/hf", {});
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->step, 30);
  auto folder = io::SafetensorsFolder::Open(root + "/hf");
  ASSERT_TRUE(folder.ok());
  for (const models::ParamSpec& p : arena.specs()) {
    std::vector<float> got(p.numel);
    ASSERT_TRUE((*folder)->ReadAsF32(p.name, got.data(), p.numel).ok());
    EXPECT_EQ(got, std::vector<float>(arena.params() + p.offset,
                                      arena.params() + p.offset + p.numel));
  }
  EXPECT_FALSE((*folder)->Contains("optim.exp_avg"));
  EXPECT_FALSE((*folder)->Contains("zero1.rank0.exp_avg"));
  EXPECT_EQ((*folder)->names().size(), arena.specs().size());
}

TEST(HfConvertTest, BadInputsGiveClearErrorsAndWriteNothing) {
  const config::ModelConfig mc = Parse(kDense);
  auto model = MakeModel(mc, 5);
  const std::string root = TempDir("bad");
  const std::string hf = WriteHfFolder(root + "/hf_in", mc, *model, io::SafetensorsDType::kF32);
  ASSERT_TRUE(HfToCheckpoint(hf, root + "/run").ok());

  // Converting into a run that already has a checkpoint.
  absl::Status st = HfToCheckpoint(hf, root + "/run").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(std::string(st.message()), HasSubstr("already holds checkpoints"));
  // An existing destination.
  fs::create_directories(root + "/taken");
  testing::WriteAll(root + "/taken/x", "x");
  st = CheckpointToHf(root + "/run", root + "/taken", {}).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kAlreadyExists);
  CheckpointToHfOptions overwrite;
  overwrite.overwrite = true;
  ASSERT_TRUE(CheckpointToHf(root + "/run", root + "/taken", overwrite).ok());
  EXPECT_FALSE(fs::exists(root + "/taken/x"));
  EXPECT_TRUE(fs::exists(root + "/taken/model.safetensors"));

  // A corrupt shard: the CRC error names the file; no output appears.
  const std::string shard = root + "/run/checkpoints/step_00000000/rank_00000.safetensors";
  std::string bytes = ReadAll(shard);
  bytes[bytes.size() - 1] ^= 1;
  testing::WriteAll(shard, bytes);
  st = CheckpointToHf(root + "/run", root + "/hf_out", {}).status();
  EXPECT_THAT(std::string(st.message()), HasSubstr("rank_00000.safetensors: CRC32 mismatch"));
  EXPECT_FALSE(fs::exists(root + "/hf_out"));

  // A HF folder whose tensor has the wrong shape, and one missing a tensor.
  io::SafetensorsWriter w;
  std::vector<float> zeros(4096);
  for (const models::ParamSpec& p : model->arena().specs()) {
    std::vector<int64_t> shape = p.shape;
    if (p.name == "model.norm.weight") shape = {9};
    if (p.name == "lm_head.weight") continue;
    ASSERT_TRUE(w.AddF32(p.name, shape, zeros.data()).ok());
  }
  fs::create_directories(root + "/hf_bad");
  ASSERT_TRUE(w.Write(root + "/hf_bad/model.safetensors").ok());
  ASSERT_TRUE(
      io::WriteFileAtomically(root + "/hf_bad/config.json", config::ModelConfigToHfJson(mc)).ok());
  st = HfToCheckpoint(root + "/hf_bad", root + "/run2").status();
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("tensor 'model.norm.weight' has shape [9], the model config expects [8]"));
  EXPECT_FALSE(fs::exists(root + "/run2/checkpoints/latest"));
  io::SafetensorsWriter w2;
  for (const models::ParamSpec& p : model->arena().specs()) {
    if (p.name != "lm_head.weight") {
      ASSERT_TRUE(w2.AddF32(p.name, p.shape, zeros.data()).ok());
    }
  }
  ASSERT_TRUE(w2.Write(root + "/hf_bad/model.safetensors").ok());
  st = HfToCheckpoint(root + "/hf_bad", root + "/run2").status();
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(st.message()), HasSubstr("tensor 'lm_head.weight' is missing"));
}

}  // namespace
}  // namespace hs::checkpoint
