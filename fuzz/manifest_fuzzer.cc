// File: fuzz/manifest_fuzzer.cc
//
// libFuzzer target: a checkpoint manifest.json and a per-rank shard
// description (rank_XXXXX.json) through ParseManifest / ParseShardEntry; an
// accepted manifest is written back and must parse again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "haiscale/checkpoint/format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto manifest = hs::checkpoint::ParseManifest(text, "fuzz/manifest.json");
  if (manifest.ok()) {
    (void)manifest->has_optimizer_state();
    auto again = hs::checkpoint::ParseManifest(hs::checkpoint::ManifestToJson(*manifest), "again");
    if (!again.ok()) __builtin_trap();
  }
  hs::checkpoint::ShardEntry shard;
  int64_t step = 0;
  hs::checkpoint::Topology topology;
  (void)hs::checkpoint::ParseShardEntry(text, "fuzz/rank_00000.json", &shard, &step, &topology);
  return 0;
}
