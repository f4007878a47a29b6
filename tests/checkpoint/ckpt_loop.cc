// File: tests/checkpoint/ckpt_loop.cc
//
// The process kill9_test.sh kills: simulates `--world` ranks (threads with a
// std::barrier, one Checkpointer each) that save a checkpoint every step,
// resuming after the latest one, so a kill -9 can land anywhere in the
// protocol. Every value is a function of (step, element), so `verify`
// checks a checkpoint without a reference copy.
//
//   ckpt_loop save DIR [--world 2] [--floats N] [--steps S] [--async]
//       steps latest+1 ... latest+S (S = 0: forever), keep_last 2.
//       HS_CKPT_TEST_SLOW_FROM_STEP=k HS_CKPT_TEST_SLOW_MS=t: from step k on,
//       rank 1 sleeps t ms before writing its shard (rank 0's shard is then
//       on disk and the checkpoint incomplete: the place to kill).
//   ckpt_loop verify DIR [--expect-step S]
//       FindLatest must give the step `latest` names, every shard must pass
//       its CRC and every value must be right. Prints "verified step N".
#include <unistd.h>

#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "haiscale/checkpoint/checkpointer.h"
#include "haiscale/checkpoint/reader.h"
#include "haiscale/io/atomic_file.h"

namespace hs::checkpoint {
namespace {

float Value(int64_t step, int64_t i, int which) {
  return float((step * 7919 + i * 31 + which * 17) % 1000003);
}

struct Flags {
  std::string mode, dir;
  int world = 2;
  int64_t floats = 1000;
  int64_t steps = 0;
  bool async = false;
  int64_t expect_step = -1;
};

int64_t EnvInt(const char* name, int64_t def) {
  const char* v = std::getenv(name);
  int64_t out = def;
  if (v != nullptr && !absl::SimpleAtoi(v, &out)) return def;
  return out;
}

int Save(const Flags& f) {
  int64_t start = 1;
  auto latest = FindLatest(f.dir);
  if (!latest.ok()) {
    std::fprintf(stderr, "FindLatest: %s\n", std::string(latest.status().message()).c_str());
    return 1;
  }
  if (latest->has_value()) {
    auto reader = CheckpointReader::Open(**latest);
    if (!reader.ok()) return 1;
    start = (*reader)->step() + 1;
  }
  const int64_t slow_from = EnvInt("HS_CKPT_TEST_SLOW_FROM_STEP", -1);
  const int64_t slow_ms = EnvInt("HS_CKPT_TEST_SLOW_MS", 0);
  std::barrier sync(f.world);
  std::vector<std::thread> ranks;
  std::atomic<bool> failed{false};
  for (int r = 0; r < f.world; ++r) {
    ranks.emplace_back([&, r] {
      auto ckpt = Checkpointer::Create({f.dir, 2, f.async});
      if (!ckpt.ok()) {
        failed = true;
        return;
      }
      std::vector<float> param(f.floats), state(f.floats);
      Barrier barrier = [&sync] {
        sync.arrive_and_wait();
        return absl::OkStatus();
      };
      for (int64_t step = start; f.steps == 0 || step < start + f.steps; ++step) {
        for (int64_t i = 0; i < f.floats; ++i) {
          param[i] = Value(step, r * f.floats + i, 0);
          state[i] = Value(step, r * f.floats + i, 1);
        }
        if (r == 1 && slow_from >= 0 && step >= slow_from) {
          std::this_thread::sleep_for(std::chrono::milliseconds(slow_ms));
        }
        ShardState s;
        s.step = step;
        s.rank = r;
        s.dp_rank = r;
        s.topology = {f.world, f.world, 1, 1};
        s.params.push_back({absl::StrCat("model.layers.", r, ".weight"), {f.floats}, param.data()});
        s.arena_size = f.world * f.floats;
        s.optim_begin = r * f.floats;
        s.optim_end = (r + 1) * f.floats;
        s.optim_states.push_back({"exp_avg", {f.floats}, state.data()});
        absl::Status st = (*ckpt)->Save(s, {"", "", {}}, barrier);
        if (!st.ok()) {
          std::fprintf(stderr, "rank %d step %lld: %s\n", r, (long long)step,
                       std::string(st.message()).c_str());
          failed = true;
        }
        if (r == 0) std::printf("saving step %lld\n", (long long)step), std::fflush(stdout);
      }
      absl::Status st = (*ckpt)->Wait();
      if (!st.ok()) failed = true;
    });
  }
  for (auto& t : ranks) t.join();
  return failed ? 1 : 0;
}

int Verify(const Flags& f) {
  auto latest = FindLatest(f.dir);
  if (!latest.ok() || !latest->has_value()) {
    std::fprintf(stderr, "FindLatest: %s\n",
                 latest.ok() ? "no checkpoint" : std::string(latest.status().message()).c_str());
    return 1;
  }
  auto text = io::ReadFileToString(f.dir + "/checkpoints/latest");
  const std::string named = text.ok() ? std::string(absl::StripAsciiWhitespace(*text)) : "";
  if (f.dir + "/checkpoints/" + named != **latest) {
    std::fprintf(stderr, "latest names '%s' but the newest complete checkpoint is %s\n",
                 named.c_str(), latest->value().c_str());
    return 1;
  }
  auto reader = CheckpointReader::Open(**latest);
  if (!reader.ok()) {
    std::fprintf(stderr, "%s\n", std::string(reader.status().message()).c_str());
    return 1;
  }
  absl::Status st = (*reader)->VerifyAll();
  const int64_t step = (*reader)->step();
  const int world = (*reader)->manifest().topology.world;
  const int64_t n = (*reader)->manifest().shards[0].optim_end;
  std::vector<float> got(n);
  for (int r = 0; st.ok() && r < world; ++r) {
    st = (*reader)->ReadParam(absl::StrCat("model.layers.", r, ".weight"), {n}, got.data());
    for (int64_t i = 0; st.ok() && i < n; ++i) {
      if (got[i] != Value(step, r * n + i, 0)) st = absl::DataLossError(absl::StrCat("param ", r, "[", i, "]"));
    }
  }
  std::vector<float> all(world * n);
  if (st.ok()) st = (*reader)->ReadOptimizerState(0, 0, "exp_avg", world * n, 0, world * n, all.data());
  for (int64_t i = 0; st.ok() && i < world * n; ++i) {
    if (all[i] != Value(step, i, 1)) st = absl::DataLossError(absl::StrCat("exp_avg[", i, "]"));
  }
  if (st.ok() && f.expect_step >= 0 && step != f.expect_step) {
    st = absl::FailedPreconditionError(absl::StrCat("latest step ", step, ", expected ", f.expect_step));
  }
  if (!st.ok()) {
    std::fprintf(stderr, "verify %s: %s\n", latest->value().c_str(), std::string(st.message()).c_str());
    return 1;
  }
  std::printf("verified step %lld\n", (long long)step);
  return 0;
}

}  // namespace
}  // namespace hs::checkpoint

int main(int argc, char** argv) {
  hs::checkpoint::Flags f;
  if (argc < 3) {
    std::fprintf(stderr, "usage: ckpt_loop save|verify DIR [flags]\n");
    return 2;
  }
  f.mode = argv[1];
  f.dir = argv[2];
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> int64_t { return i + 1 < argc ? std::atoll(argv[++i]) : 0; };
    if (a == "--world") f.world = int(next());
    else if (a == "--floats") f.floats = next();
    else if (a == "--steps") f.steps = next();
    else if (a == "--expect-step") f.expect_step = next();
    else if (a == "--async") f.async = true;
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (f.mode == "save") return hs::checkpoint::Save(f);
  if (f.mode == "verify") return hs::checkpoint::Verify(f);
  std::fprintf(stderr, "unknown mode %s\n", f.mode.c_str());
  return 2;
}
