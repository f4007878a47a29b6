// File: haiscale/checkpoint/reader_test.cc
//
// Reading checkpoints: every kind of damage gives its own error naming the
// file (and tensor); FindLatest's fallback; re-sharding ZeRO-1 optimizer
// state between DP sizes, exactly; refusing a different pp/ep layout.
#include "haiscale/checkpoint/reader.h"

#include <barrier>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "haiscale/checkpoint/checkpointer.h"
#include "haiscale/checkpoint/safetensors_stream.h"
#include "haiscale/checkpoint/test_util.h"

namespace hs::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::FakeRank;
using testing::ReadAll;
using testing::StateValue;
using testing::TempDir;
using testing::WriteAll;

// Writes step `step` of a fake run with `dp` ranks (threads + barrier).
std::string SaveRun(const std::string& dir, int64_t step, int dp) {
  std::barrier sync(dp);
  std::vector<std::thread> ranks;
  for (int r = 0; r < dp; ++r) {
    ranks.emplace_back([&, r] {
      auto ckpt = Checkpointer::Create({dir, 5, false});
      FakeRank fake(step, dp, r);
      absl::Status st = (*ckpt)->Save(fake.State(), {"", "", {}}, [&sync] {
        sync.arrive_and_wait();
        return absl::OkStatus();
      });
      EXPECT_TRUE(st.ok()) << st;
    });
  }
  for (auto& t : ranks) t.join();
  return dir + "/checkpoints/" + StepDirName(step);
}

std::string Message(const absl::Status& st) { return std::string(st.message()); }

// The first error reading every tensor of rank 0's shard.
absl::Status ReadEverything(const std::string& ckpt) {
  auto reader = CheckpointReader::Open(ckpt);
  if (!reader.ok()) return reader.status();
  return (*reader)->VerifyAll();
}

TEST(ReaderTest, FlippedByteIsACrcErrorNamingTheFile) {
  const std::string ckpt = SaveRun(TempDir("flip"), 10, 2);
  const std::string shard = ckpt + "/rank_00001.safetensors";
  std::string bytes = ReadAll(shard);
  bytes[bytes.size() - 5] ^= 0x10;  // inside the data region
  WriteAll(shard, bytes);
  absl::Status st = ReadEverything(ckpt);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(st), HasSubstr("rank_00001.safetensors: CRC32 mismatch"));
  EXPECT_THAT(Message(st), HasSubstr("corrupt"));
  // A parameter in the intact shard still reads; one in the damaged does not.
  auto reader = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(reader.ok());
  std::vector<float> buf(28);
  EXPECT_TRUE((*reader)->ReadParam("model.embed_tokens.weight", {7, 4}, buf.data()).ok());
  EXPECT_THAT(Message((*reader)->ReadParam("model.layers.0.input_layernorm.weight", {4},
                                           buf.data())),
              HasSubstr("CRC32 mismatch"));
}

TEST(ReaderTest, TruncatedShardIsReportedWithSizes) {
  const std::string dir = TempDir("truncate");
  const std::string ckpt = SaveRun(dir, 10, 1);
  const std::string shard = ckpt + "/rank_00000.safetensors";
  const std::string bytes = ReadAll(shard);
  WriteAll(shard, bytes.substr(0, bytes.size() / 2));
  absl::Status st = CheckpointReader::Open(ckpt).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(st), HasSubstr("rank_00000.safetensors: " +
                                     std::to_string(bytes.size() / 2) + " bytes, the manifest says " +
                                     std::to_string(bytes.size()) + " (truncated"));
  // The only checkpoint is damaged: FindLatest refuses rather than
  // silently starting from scratch.
  auto latest = FindLatest(dir);
  EXPECT_EQ(latest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(Message(latest.status()), HasSubstr("none is intact"));
  EXPECT_THAT(Message(latest.status()), HasSubstr("truncated"));
}

TEST(ReaderTest, MissingTensorMissingFileMissingManifest) {
  const std::string ckpt = SaveRun(TempDir("missing"), 10, 2);
  // A tensor the model expects but the checkpoint lacks.
  {
    const std::string mpath = ckpt + "/manifest.json";
    const std::string original = ReadAll(mpath);
    auto j = nlohmann::json::parse(original);
    j["tensors"].erase("model.norm.weight");
    WriteAll(mpath, j.dump());
    auto reader = CheckpointReader::Open(ckpt);
    ASSERT_TRUE(reader.ok()) << reader.status();
    std::vector<float> buf(4);
    absl::Status st = (*reader)->ReadParam("model.norm.weight", {4}, buf.data());
    EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(Message(st), HasSubstr("has no tensor 'model.norm.weight'"));
    WriteAll(mpath, original);
  }
  // A shard rewritten without a tensor (size and CRC made consistent, so
  // only the content check can notice).
  {
    const std::string shard = ckpt + "/rank_00000.safetensors";
    auto file = io::SafetensorsFile::Open(shard);
    ASSERT_TRUE(file.ok());
    std::vector<StreamTensor> keep;
    for (const std::string& name : (*file)->names()) {
      if (name == "lm_head.weight") continue;
      auto raw = (*file)->Raw(name);
      auto info = (*file)->Info(name);
      std::string bytes(reinterpret_cast<const char*>(raw->data()), raw->size());
      keep.push_back({name, info->dtype, info->shape,
                      [bytes](const EmitFn& emit) { return emit(bytes); }});
    }
    const std::map<std::string, std::string> meta = (*file)->metadata();
    file->reset();
    auto written = WriteSafetensorsStreaming(shard, keep, meta);
    ASSERT_TRUE(written.ok());
    const std::string mpath = ckpt + "/manifest.json";
    auto j = nlohmann::json::parse(ReadAll(mpath));
    j["shards"][0]["bytes"] = written->bytes;
    j["shards"][0]["crc32"] = written->crc32;
    WriteAll(mpath, j.dump());
    absl::Status st = ReadEverything(ckpt);
    EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(Message(st), HasSubstr("rank_00000.safetensors: tensor 'lm_head.weight' is "
                                       "listed in the manifest but missing from the file"));
  }
  // A missing shard file.
  fs::remove(ckpt + "/rank_00001.safetensors");
  absl::Status st = CheckpointReader::Open(ckpt).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(st), HasSubstr("rank_00001.safetensors: missing"));
  // No manifest at all.
  fs::remove(ckpt + "/manifest.json");
  st = CheckpointReader::Open(ckpt).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(st), HasSubstr("manifest.json: missing"));
}

TEST(ReaderTest, WrongShapeAndBadManifestText) {
  const std::string ckpt = SaveRun(TempDir("shape"), 10, 1);
  auto reader = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(reader.ok());
  std::vector<float> buf(32);
  absl::Status st = (*reader)->ReadParam("model.embed_tokens.weight", {8, 4}, buf.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Message(st), HasSubstr("rank_00000.safetensors: tensor 'model.embed_tokens.weight' "
                                     "has shape [7, 4], the model expects [8, 4]"));
  WriteAll(ckpt + "/manifest.json", "{\"format\": \"haiscale-checkpoint\", ");
  st = CheckpointReader::Open(ckpt).status();
  EXPECT_THAT(Message(st), HasSubstr("manifest.json: invalid JSON"));
  WriteAll(ckpt + "/manifest.json",
           "{\"format\": \"haiscale-checkpoint\", \"format_version\": 1, \"step\": \"x\"}");
  st = CheckpointReader::Open(ckpt).status();
  EXPECT_THAT(Message(st), HasSubstr("manifest.json.step: expected an integer"));
}

// Shard paths in a manifest are confined to the checkpoint directory: a
// manifest naming "../x" or an absolute path is refused before any open.
TEST(ReaderTest, ManifestPathsOutsideTheCheckpointAreRefused) {
  const std::string ckpt = SaveRun(TempDir("escape"), 10, 1);
  const std::string original = ReadAll(ckpt + "/manifest.json");
  // A copy of the shard one level up, where "../" would find it.
  WriteAll(ckpt + "/../outside.safetensors", ReadAll(ckpt + "/rank_00000.safetensors"));
  for (const std::string bad : {"../outside.safetensors", "/etc/passwd", "sub/../../x"}) {
    nlohmann::json j = nlohmann::json::parse(original);
    j["shards"][0]["file"] = bad;
    WriteAll(ckpt + "/manifest.json", j.dump());
    absl::Status st = CheckpointReader::Open(ckpt).status();
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(Message(st), HasSubstr("shards[0].file: '" + bad + "' must be a file name "
                                       "inside the checkpoint directory"));
    j = nlohmann::json::parse(original);
    j["tensors"]["model.embed_tokens.weight"]["shard"] = bad;
    WriteAll(ckpt + "/manifest.json", j.dump());
    st = CheckpointReader::Open(ckpt).status();
    EXPECT_THAT(Message(st), HasSubstr(".shard: '" + bad + "' must be a file name")) << bad;
  }
}

// One rule for every kind of damage: a CRC mismatch in the checkpoint
// `latest` names falls back to the newest intact one, and the warning names
// what was skipped and why.
TEST(ReaderTest, CrcMismatchInLatestFallsBackWithAWarningNamingIt) {
  const std::string dir = TempDir("crc_fallback");
  const std::string older = SaveRun(dir, 10, 2);
  const std::string newer = SaveRun(dir, 20, 2);
  const std::string shard = newer + "/rank_00001.safetensors";
  std::string bytes = ReadAll(shard);
  bytes[bytes.size() - 5] ^= 0x10;
  WriteAll(shard, bytes);
  ::testing::internal::CaptureStderr();
  auto latest = FindLatest(dir);
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->value(), older);
  EXPECT_THAT(log, HasSubstr("SKIPPED, resuming from " + older));
  EXPECT_THAT(log, HasSubstr("skipped step_00000020: " + shard + ": CRC32 mismatch"));
  // Damage in the fallback too: nothing intact is an error listing both.
  std::string old_bytes = ReadAll(older + "/rank_00000.safetensors");
  WriteAll(older + "/rank_00000.safetensors", old_bytes.substr(0, 100));
  latest = FindLatest(dir);
  ASSERT_FALSE(latest.ok());
  EXPECT_THAT(Message(latest.status()), HasSubstr("none is intact"));
  EXPECT_THAT(Message(latest.status()), HasSubstr("skipped step_00000020"));
  EXPECT_THAT(Message(latest.status()), HasSubstr("skipped step_00000010"));
}

TEST(ReaderTest, LatestPointingAtAnIncompleteCheckpointFallsBack) {
  const std::string dir = TempDir("fallback");
  SaveRun(dir, 10, 1);
  const std::string newer = SaveRun(dir, 20, 1);
  const std::string ck = dir + "/checkpoints";
  // latest -> a directory that does not exist.
  WriteAll(ck + "/latest", "step_00000030\n");
  auto latest = FindLatest(dir);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->value(), newer);
  // latest -> step 20, whose manifest is gone: falls back to step 10.
  WriteAll(ck + "/latest", "step_00000020\n");
  fs::remove(newer + "/manifest.json");
  latest = FindLatest(dir);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->value(), ck + "/step_00000010");
  // No checkpoint at all.
  auto none = FindLatest(TempDir("empty_run"));
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
}

// Re-sharding: optimizer state written by D1 ranks, read back as the ranges
// of D2 ranks, must equal what a D2 run would hold, bit for bit.
void ExpectReshard(int d1, int d2) {
  const std::string ckpt = SaveRun(TempDir("reshard_" + std::to_string(d1)), 42, d1);
  auto reader = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(reader.ok()) << reader.status();
  ASSERT_TRUE((*reader)->CheckTopology({d2, d2, 1, 1}).ok());
  for (int r = 0; r < d2; ++r) {
    FakeRank want(42, d2, r);
    for (int s = 0; s < 2; ++s) {
      std::vector<float> got(size_t(want.end - want.begin), -7.0f);
      absl::Status st = (*reader)->ReadOptimizerState(0, 0, s == 0 ? "exp_avg" : "exp_avg_sq",
                                                      want.arena_size, want.begin, want.end,
                                                      got.data());
      ASSERT_TRUE(st.ok()) << st;
      EXPECT_EQ(got, s == 0 ? want.exp_avg : want.exp_avg_sq)
          << "D" << d1 << " -> D" << d2 << " rank " << r;
    }
  }
}

TEST(ReaderTest, ReshardTwoToOne) { ExpectReshard(2, 1); }
TEST(ReaderTest, ReshardOneToTwo) { ExpectReshard(1, 2); }
TEST(ReaderTest, ReshardTwoToThree) { ExpectReshard(2, 3); }
TEST(ReaderTest, ReshardThreeToTwo) { ExpectReshard(3, 2); }

TEST(ReaderTest, ReshardRefusals) {
  const std::string ckpt = SaveRun(TempDir("refuse"), 42, 2);
  auto reader = CheckpointReader::Open(ckpt);
  ASSERT_TRUE(reader.ok());
  absl::Status st = (*reader)->CheckTopology({4, 2, 2, 1});
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Message(st), HasSubstr("world=2 dp=2 pp=1 ep=1, this run has world=4 dp=2 pp=2"));
  EXPECT_THAT(Message(st), HasSubstr("cannot be re-sharded onto a different pp/ep"));
  EXPECT_EQ((*reader)->CheckTopology({2, 2, 1, 2}).code(), absl::StatusCode::kFailedPrecondition);
  std::vector<float> buf(200);
  st = (*reader)->ReadOptimizerState(0, 0, "exp_avg", 99, 0, 10, buf.data());
  EXPECT_THAT(Message(st), HasSubstr("has 76 floats in the checkpoint but 99 in this run"));
  st = (*reader)->ReadOptimizerState(0, 0, "momentum", 76, 0, 10, buf.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(st), HasSubstr("no optimizer state 'momentum' (it holds: exp_avg, "
                                     "exp_avg_sq)"));
  st = (*reader)->ReadOptimizerState(1, 0, "exp_avg", 76, 0, 10, buf.data());
  EXPECT_THAT(Message(st), HasSubstr("is in no shard"));
  // Spot check one value across the shard boundary (element 38).
  ASSERT_TRUE((*reader)->ReadOptimizerState(0, 0, "exp_avg", 76, 37, 40, buf.data()).ok());
  EXPECT_EQ(buf[1], StateValue(42, 0, 38));
}

TEST(ReaderTest, ParametersOnlyCheckpointFitsAnyLayout) {
  const std::string dir = TempDir("params_only");
  FakeRank fake(0, 1, 0);
  ShardState s = fake.State();
  s.optim_states.clear();
  s.optim_begin = s.optim_end = 0;
  ASSERT_TRUE(WriteShard(dir, s).ok());
  ASSERT_TRUE(CommitCheckpoint(dir, 0, 1, {}, {}).ok());
  auto reader = CheckpointReader::Open(dir + "/checkpoints/step_00000000");
  ASSERT_TRUE(reader.ok());
  EXPECT_FALSE((*reader)->manifest().has_optimizer_state());
  EXPECT_TRUE((*reader)->CheckTopology({8, 2, 4, 2}).ok());
  std::vector<float> buf(4);
  absl::Status st = (*reader)->ReadOptimizerState(0, 0, "exp_avg", 76, 0, 4, buf.data());
  EXPECT_EQ(st.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Message(st), HasSubstr("parameters only"));
}

}  // namespace
}  // namespace hs::checkpoint
