// File: fuzz/hf_config_fuzzer.cc
//
// libFuzzer target: a Hugging Face config.json through
// ModelConfigFromHfJson and ValidateModelConfig (what `--model`,
// `--init-from` and `hai eval --weights` read), and an accepted config back
// to JSON and in again.
#include <cstddef>
#include <cstdint>
#include <string>

#include "haiscale/config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto model = hs::config::ModelConfigFromHfJson(text, "fuzz/config.json");
  if (!model.ok()) return 0;
  (void)hs::config::ValidateModelConfig(*model);
  auto again = hs::config::ModelConfigFromHfJson(hs::config::ModelConfigToHfJson(*model), "again");
  if (!again.ok()) __builtin_trap();  // what we write we must read back
  return 0;
}
