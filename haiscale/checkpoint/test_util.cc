// File: haiscale/checkpoint/test_util.cc — see test_util.h.
#include "haiscale/checkpoint/test_util.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "haiscale/logging.h"

namespace hs::checkpoint::testing {

namespace fs = std::filesystem;

std::vector<FakeParam> FakeParams(int64_t* arena_size) {
  std::vector<FakeParam> p = {
      {"model.embed_tokens.weight", {7, 4}},
      {"model.layers.0.input_layernorm.weight", {4}},
      {"model.layers.0.mlp.down_proj.weight", {4, 3}},
      {"model.norm.weight", {4}},
      {"lm_head.weight", {7, 4}},
  };
  int64_t off = 0;
  for (FakeParam& f : p) {
    f.offset = off;
    f.numel = 1;
    for (int64_t d : f.shape) f.numel *= d;
    off += f.numel;
  }
  *arena_size = off;
  return p;
}

float ParamValue(int64_t step, int64_t i) { return float(step) * 1000.0f + float(i) * 0.25f; }

float StateValue(int64_t step, int state, int64_t i) {
  return (state == 0 ? -1.0f : 3.0f) * (float(step) + 0.5f) + float(i) * 1e-3f;
}

void OwnedRange(int64_t n, int dp, int r, int64_t* begin, int64_t* end) {
  *begin = n * r / dp;
  *end = n * (r + 1) / dp;
}

FakeRank::FakeRank(int64_t step_, int dp_, int dp_rank_) : step(step_), dp(dp_), dp_rank(dp_rank_) {
  params = FakeParams(&arena_size);
  arena.resize(size_t(arena_size));
  for (int64_t i = 0; i < arena_size; ++i) arena[i] = ParamValue(step, i);
  OwnedRange(arena_size, dp, dp_rank, &begin, &end);
  for (int64_t i = begin; i < end; ++i) {
    exp_avg.push_back(StateValue(step, 0, i));
    exp_avg_sq.push_back(StateValue(step, 1, i));
  }
}

ShardState FakeRank::State() const {
  ShardState s;
  s.step = step;
  s.rank = dp_rank;
  s.topology = {dp, dp, 1, 1};
  s.dp_rank = dp_rank;
  for (size_t k = 0; k < params.size(); ++k) {
    if (int(k % dp) != dp_rank) continue;
    s.params.push_back({params[k].name, params[k].shape, arena.data() + params[k].offset});
  }
  s.arena_size = arena_size;
  s.optim_begin = begin;
  s.optim_end = end;
  s.optim_states.push_back({"exp_avg", {end - begin}, exp_avg.data()});
  s.optim_states.push_back({"exp_avg_sq", {end - begin}, exp_avg_sq.data()});
  s.sampler_position = step * 8;
  s.trainer_json = "{\"rng\": " + std::to_string(step * 31 + dp_rank) + "}";
  s.metadata["note"] = "rank " + std::to_string(dp_rank);
  return s;
}

std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  fs::path p = fs::path(base ? base : "/tmp") / name;
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  HS_CHECK(in.good()) << "cannot read " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  HS_CHECK(out.good()) << "cannot write " << path;
}

}  // namespace hs::checkpoint::testing
