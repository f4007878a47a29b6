// File: haiscale/checkpoint/test_util.h
//
// Test helpers for haiscale/checkpoint: a small fake "model + ZeRO-1
// optimizer" whose every value is a known function of (step, arena
// element, state), so a loaded or re-sharded checkpoint checks itself
// (DeepEP's self-checking data), plus temp directories and file surgery.
#ifndef HAISCALE_CHECKPOINT_TEST_UTIL_H_
#define HAISCALE_CHECKPOINT_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "haiscale/checkpoint/checkpointer.h"

namespace hs::checkpoint::testing {

// FakeParam: name, shape and arena offset of one parameter.
struct FakeParam {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;
  int64_t numel = 0;
};

// The fake model's parameters (names as HF would spell them) and arena size.
std::vector<FakeParam> FakeParams(int64_t* arena_size);

// ParamValue(step, i) / StateValue(step, state, i): the value of arena
// element i at `step`; `state` is 0 (exp_avg) or 1 (exp_avg_sq).
float ParamValue(int64_t step, int64_t i);
float StateValue(int64_t step, int state, int64_t i);

// OwnedRange(arena_size, dp, dp_rank): ZeRO-1's contiguous split.
void OwnedRange(int64_t arena_size, int dp, int dp_rank, int64_t* begin, int64_t* end);

// FakeRank: one DP rank's buffers at `step` (world = dp, pp = ep = 1).
// Parameters are distributed round robin over the ranks (each saved once).
struct FakeRank {
  FakeRank(int64_t step, int dp, int dp_rank);
  ShardState State() const;

  int64_t step;
  int dp, dp_rank;
  int64_t arena_size = 0, begin = 0, end = 0;
  std::vector<FakeParam> params;
  std::vector<float> arena;          // every parameter
  std::vector<float> exp_avg, exp_avg_sq;  // owned range
};

// TempDir(name): a fresh empty directory under $TEST_TMPDIR.
std::string TempDir(const std::string& name);

// ReadAll / WriteAll: raw file contents (test surgery; not atomic).
std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& bytes);

}  // namespace hs::checkpoint::testing

#endif  // HAISCALE_CHECKPOINT_TEST_UTIL_H_
