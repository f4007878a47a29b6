// File: haiscale/train/step_engine.cc — see step_engine.h.
#include "haiscale/train/step_engine.h"

#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"

namespace hs::train {
namespace {

struct Registry {
  std::mutex mu;
  std::map<std::string, StepEngineFactory> factories;
};

Registry& GetRegistry() {
  static Registry* r = new Registry();  // never destroyed: used by static initialisers
  return *r;
}

}  // namespace

bool RegisterStepEngine(const std::string& device, StepEngineFactory factory) {
  Registry& r = GetRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.factories[device] = std::move(factory);
  return true;
}

absl::StatusOr<std::unique_ptr<StepEngine>> CreateStepEngine(const std::string& device,
                                                             const StepEngineSetup& setup) {
  StepEngineFactory factory;
  {
    Registry& r = GetRegistry();
    std::lock_guard<std::mutex> lock(r.mu);
    auto it = r.factories.find(device);
    if (it == r.factories.end()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "train.device: ", device, " is not built into this binary (the CUDA backend is in "
          "hai_cuda: bazel build --config=cuda //tools:hai_cuda)"));
    }
    factory = it->second;
  }
  return factory(setup);
}

}  // namespace hs::train
