// File: haiscale/checkpoint/checkpointer_test.cc
//
// Writing checkpoints: bit-exact round trip, multi-rank commit (ranks as
// threads with a std::barrier), keep-last-K, a crashed save's leftovers,
// async == sync, re-saving a step, and the protocol's error paths.
#include "haiscale/checkpoint/checkpointer.h"

#include <barrier>
#include <cstring>
#include <filesystem>
#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "haiscale/checkpoint/reader.h"
#include "haiscale/checkpoint/test_util.h"
#include "haiscale/io/atomic_file.h"

namespace hs::checkpoint {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using testing::FakeRank;
using testing::ReadAll;
using testing::TempDir;

ManifestInfo Info() {
  return {"{\"model_type\": \"deepseek_v2\", \"hidden_size\": 4}", "train { steps: 10 }",
          {{"git", "abc"}}};
}

// Saves `step` from `dp` ranks (threads) with a shared barrier.
void SaveAllRanks(const std::string& dir, int64_t step, int dp, bool async, int keep_last = 3) {
  std::barrier sync(dp);
  std::vector<std::thread> ranks;
  for (int r = 0; r < dp; ++r) {
    ranks.emplace_back([&, r] {
      auto ckpt = Checkpointer::Create({dir, keep_last, async});
      ASSERT_TRUE(ckpt.ok()) << ckpt.status();
      FakeRank fake(step, dp, r);
      Barrier barrier = [&sync]() {
        sync.arrive_and_wait();
        return absl::OkStatus();
      };
      absl::Status st = (*ckpt)->Save(fake.State(), Info(), barrier);
      ASSERT_TRUE(st.ok()) << st;
      st = (*ckpt)->Wait();
      ASSERT_TRUE(st.ok()) << st;
    });
  }
  for (auto& t : ranks) t.join();
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CheckpointerTest, RoundTripIsBitExact) {
  const std::string dir = TempDir("roundtrip");
  auto ckpt = Checkpointer::Create({dir, 3, false});
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  FakeRank fake(100, 1, 0);
  // Values whose bits matter: NaN payload, -0, subnormal.
  fake.arena[0] = -0.0f;
  uint32_t nan_bits = 0x7fc01234u;
  std::memcpy(&fake.arena[1], &nan_bits, 4);
  fake.arena[2] = 1e-42f;
  ASSERT_TRUE((*ckpt)->Save(fake.State(), Info()).ok());
  EXPECT_EQ((*ckpt)->last_committed_dir(), dir + "/checkpoints/step_00000100");
  EXPECT_EQ(ReadAll(dir + "/checkpoints/latest"), "step_00000100\n");
  EXPECT_EQ(Entries(dir + "/checkpoints/step_00000100"),
            (std::vector<std::string>{"manifest.json", "rank_00000.safetensors"}));

  auto latest = FindLatest(dir);
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_TRUE(latest->has_value());
  auto loaded = Load(**latest, 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  for (const auto& p : fake.params) {
    const std::vector<float>& got = loaded->tensors.at(p.name);
    ASSERT_EQ(int64_t(got.size()), p.numel) << p.name;
    EXPECT_EQ(std::memcmp(got.data(), fake.arena.data() + p.offset, p.numel * 4), 0) << p.name;
  }
  EXPECT_EQ(loaded->tensors.at("optim.exp_avg"), fake.exp_avg);
  EXPECT_EQ(loaded->tensors.at("optim.exp_avg_sq"), fake.exp_avg_sq);
  EXPECT_EQ(loaded->metadata.step, 100);
  EXPECT_EQ(loaded->metadata.sampler_position, 800);
  EXPECT_EQ(loaded->metadata.trainer_json, "{\"rng\": 3100}");
  EXPECT_EQ(loaded->metadata.extra.at("note"), "rank 0");
  EXPECT_EQ(loaded->metadata.arena_size, fake.arena_size);
  EXPECT_EQ(loaded->manifest.step, 100);
  EXPECT_EQ(loaded->manifest.config_text, "train { steps: 10 }");
  EXPECT_EQ(loaded->manifest.extras.at("git"), "abc");
  EXPECT_THAT(loaded->manifest.model_config_json, HasSubstr("deepseek_v2"));
  EXPECT_EQ(loaded->manifest.tensors.at("model.norm.weight").shape, std::vector<int64_t>{4});
  EXPECT_EQ(loaded->manifest.tensors.at("lm_head.weight").shard, "rank_00000.safetensors");
}

TEST(CheckpointerTest, MultiRankCommitIndexesEveryShard) {
  const std::string dir = TempDir("multirank");
  SaveAllRanks(dir, 7, 3, /*async=*/false);
  auto reader = CheckpointReader::Open(dir + "/checkpoints/step_00000007");
  ASSERT_TRUE(reader.ok()) << reader.status();
  const Manifest& m = (*reader)->manifest();
  EXPECT_EQ(m.topology, (Topology{3, 3, 1, 1}));
  ASSERT_EQ(m.shards.size(), 3u);
  EXPECT_EQ(m.tensors.size(), 5u);
  EXPECT_EQ(m.tensors.at("model.embed_tokens.weight").shard, "rank_00000.safetensors");
  EXPECT_EQ(m.tensors.at("model.layers.0.input_layernorm.weight").shard, "rank_00001.safetensors");
  ASSERT_TRUE((*reader)->VerifyAll().ok());
  FakeRank ref(7, 1, 0);
  for (const auto& p : ref.params) {
    std::vector<float> got(p.numel);
    ASSERT_TRUE((*reader)->ReadParam(p.name, p.shape, got.data()).ok()) << p.name;
    EXPECT_EQ(got, std::vector<float>(ref.arena.begin() + p.offset,
                                      ref.arena.begin() + p.offset + p.numel));
  }
  for (int r = 0; r < 3; ++r) {
    auto meta = (*reader)->Metadata(r);
    ASSERT_TRUE(meta.ok()) << meta.status();
    EXPECT_EQ(meta->rank, r);
    EXPECT_EQ(meta->dp_rank, r);
  }
  // The per-rank descriptions are folded into the manifest and removed.
  EXPECT_EQ(Entries(dir + "/checkpoints/step_00000007"),
            (std::vector<std::string>{"manifest.json", "rank_00000.safetensors",
                                      "rank_00001.safetensors", "rank_00002.safetensors"}));
}

TEST(CheckpointerTest, KeepsLastK) {
  const std::string dir = TempDir("keeplast");
  auto ckpt = Checkpointer::Create({dir, 2, false});
  ASSERT_TRUE(ckpt.ok());
  for (int64_t step : {10, 20, 30, 40, 50}) {
    ASSERT_TRUE((*ckpt)->Save(FakeRank(step, 1, 0).State(), Info()).ok());
  }
  EXPECT_EQ(Entries(dir + "/checkpoints"),
            (std::vector<std::string>{"latest", "step_00000040", "step_00000050"}));
  EXPECT_EQ(ReadAll(dir + "/checkpoints/latest"), "step_00000050\n");
}

TEST(CheckpointerTest, CrashedSaveIsIgnoredThenCleanedUp) {
  const std::string dir = TempDir("crash");
  auto ckpt = Checkpointer::Create({dir, 3, false});
  ASSERT_TRUE(ckpt.ok());
  ASSERT_TRUE((*ckpt)->Save(FakeRank(1, 1, 0).State(), Info()).ok());
  // A crash during step 2: a .tmp directory with a partial shard, and one
  // during an older attempt at step 3 (will be reused by the next save).
  const std::string ck = dir + "/checkpoints";
  fs::create_directories(ck + "/step_00000002.tmp");
  testing::WriteAll(ck + "/step_00000002.tmp/rank_00000.safetensors.tmp.999", "partial");
  testing::WriteAll(ck + "/step_00000002.tmp/rank_00001.safetensors", "half a shard");
  fs::create_directories(ck + "/step_00000003.tmp");
  testing::WriteAll(ck + "/step_00000003.tmp/rank_00005.safetensors", "from a bigger world");

  auto latest = FindLatest(dir);
  ASSERT_TRUE(latest.ok()) << latest.status();
  EXPECT_EQ(latest->value(), ck + "/step_00000001");

  ASSERT_TRUE((*ckpt)->Save(FakeRank(3, 1, 0).State(), Info()).ok());
  EXPECT_EQ(Entries(ck), (std::vector<std::string>{"latest", "step_00000001", "step_00000003"}));
  EXPECT_EQ(Entries(ck + "/step_00000003"),
            (std::vector<std::string>{"manifest.json", "rank_00000.safetensors"}));
  EXPECT_TRUE(Load(ck + "/step_00000003", 0).ok());
}

TEST(CheckpointerTest, AsyncEqualsSyncAndSnapshotsTheState) {
  const std::string sync_dir = TempDir("sync");
  const std::string async_dir = TempDir("async");
  FakeRank fake(5, 1, 0);
  {
    auto ckpt = Checkpointer::Create({sync_dir, 3, false});
    ASSERT_TRUE((*ckpt)->Save(fake.State(), Info()).ok());
  }
  const std::vector<float> saved_arena = fake.arena;
  {
    auto ckpt = Checkpointer::Create({async_dir, 3, true});
    ASSERT_TRUE((*ckpt)->Save(fake.State(), Info()).ok());
    // Training goes on and changes the live buffers while the write runs.
    for (float& x : fake.arena) x = 12345.0f;
    for (float& x : fake.exp_avg) x = -1.0f;
    ASSERT_TRUE((*ckpt)->Wait().ok());
    EXPECT_GE((*ckpt)->last_stall_seconds(), 0.0);
    EXPECT_GT((*ckpt)->last_write_seconds(), 0.0);
  }
  for (const char* f : {"manifest.json", "rank_00000.safetensors"}) {
    EXPECT_EQ(ReadAll(sync_dir + "/checkpoints/step_00000005/" + f),
              ReadAll(async_dir + "/checkpoints/step_00000005/" + f))
        << f;
  }
  auto loaded = Load(async_dir + "/checkpoints/step_00000005", 0);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->tensors.at("model.norm.weight"),
            std::vector<float>(saved_arena.begin() + 44, saved_arena.begin() + 48));
}

TEST(CheckpointerTest, AsyncMultiRankAndBackToBackSaves) {
  const std::string dir = TempDir("async_multi");
  std::barrier sync(2);
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r) {
    ranks.emplace_back([&, r] {
      auto ckpt = Checkpointer::Create({dir, 2, true});
      ASSERT_TRUE(ckpt.ok());
      Barrier barrier = [&sync]() {
        sync.arrive_and_wait();
        return absl::OkStatus();
      };
      for (int64_t step = 1; step <= 4; ++step) {
        FakeRank fake(step, 2, r);
        ASSERT_TRUE((*ckpt)->Save(fake.State(), Info(), barrier).ok());
      }
      ASSERT_TRUE((*ckpt)->Wait().ok());
    });
  }
  for (auto& t : ranks) t.join();
  EXPECT_EQ(Entries(dir + "/checkpoints"),
            (std::vector<std::string>{"latest", "step_00000003", "step_00000004"}));
  auto loaded = Load(dir + "/checkpoints/step_00000004", 1);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->tensors.at("optim.exp_avg"), FakeRank(4, 2, 1).exp_avg);
}

TEST(CheckpointerTest, AsyncErrorComesBackFromWaitAndNextSave) {
  const std::string dir = TempDir("async_error");
  auto ckpt = Checkpointer::Create({dir, 3, true});
  ASSERT_TRUE(ckpt.ok());
  Barrier failing = [] { return absl::UnavailableError("peer rank 1 died"); };
  ASSERT_TRUE((*ckpt)->Save(FakeRank(1, 1, 0).State(), Info(), failing).ok());
  absl::Status st = (*ckpt)->Wait();
  EXPECT_THAT(std::string(st.message()), HasSubstr("peer rank 1 died"));
  EXPECT_FALSE(fs::exists(dir + "/checkpoints/latest"));

  ASSERT_TRUE((*ckpt)->Save(FakeRank(2, 1, 0).State(), Info(), failing).ok());
  st = (*ckpt)->Save(FakeRank(3, 1, 0).State(), Info());
  EXPECT_THAT(std::string(st.message()), HasSubstr("previous checkpoint (step 2)"));
  // After reporting, the checkpointer works again.
  ASSERT_TRUE((*ckpt)->Save(FakeRank(3, 1, 0).State(), Info()).ok());
  ASSERT_TRUE((*ckpt)->Wait().ok());
  EXPECT_EQ(ReadAll(dir + "/checkpoints/latest"), "step_00000003\n");
}

TEST(CheckpointerTest, ResavingAStepReplacesItAtomically) {
  const std::string dir = TempDir("resave");
  auto ckpt = Checkpointer::Create({dir, 3, false});
  ASSERT_TRUE((*ckpt)->Save(FakeRank(5, 1, 0).State(), Info()).ok());
  FakeRank other(6, 1, 0);
  ShardState s = other.State();
  s.step = 5;  // same step, different values
  ASSERT_TRUE((*ckpt)->Save(s, Info()).ok());
  auto loaded = Load(dir + "/checkpoints/step_00000005", 0);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->tensors.at("optim.exp_avg"), other.exp_avg);
  EXPECT_EQ(Entries(dir + "/checkpoints"), (std::vector<std::string>{"latest", "step_00000005"}));
}

TEST(CheckpointerTest, ProtocolErrors) {
  const std::string dir = TempDir("errors");
  auto ckpt = Checkpointer::Create({dir, 3, false});
  // World > 1 needs a barrier.
  absl::Status st = (*ckpt)->Save(FakeRank(1, 2, 0).State(), Info());
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("barrier is required"));
  // Rank 1 never wrote its shard: rank 0's commit names it.
  st = (*ckpt)->Save(FakeRank(1, 2, 0).State(), Info(), [] { return absl::OkStatus(); });
  EXPECT_THAT(std::string(st.message()), HasSubstr("rank 1 did not finish its shard for step 1"));
  EXPECT_FALSE(fs::exists(dir + "/checkpoints/step_00000001"));
  // A parameter saved by two ranks.
  // The states point into their FakeRank's buffers: keep those alive.
  const FakeRank rank0(2, 2, 0), rank1(2, 2, 1);
  ShardState r0 = rank0.State(), r1 = rank1.State();
  r1.params.push_back(r0.params[0]);
  ASSERT_TRUE(WriteShard(dir, r1).ok());
  st = (*ckpt)->Save(r0, Info(), [] { return absl::OkStatus(); });
  EXPECT_THAT(std::string(st.message()),
              HasSubstr("'model.embed_tokens.weight' was saved by rank 0 and rank 1"));
  // Bad states.
  const FakeRank rank3(3, 1, 0);
  ShardState bad = rank3.State();
  bad.optim_states[0].shape = {3};
  EXPECT_THAT(std::string((*ckpt)->Save(bad, Info()).message()),
              HasSubstr("optimizer state 'exp_avg' must have shape"));
  bad = rank3.State();
  bad.metadata["step"] = "7";
  EXPECT_THAT(std::string((*ckpt)->Save(bad, Info()).message()), HasSubstr("reserved"));
  EXPECT_FALSE(Checkpointer::Create({dir, 0, false}).ok());
}

}  // namespace
}  // namespace hs::checkpoint
