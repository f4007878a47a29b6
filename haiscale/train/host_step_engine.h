// File: haiscale/train/host_step_engine.h
//
// HostStepEngine: a StepEngine whose "device" is host memory: a CPU
// replica of the model and AdamW, with data-parallel gradients summed by
// HFReduce's staged GPU path over a HostCopier (hfreduce/gpu), i.e. the
// same reducer the CUDA engine uses, with memcpy in place of the copies.
// It exists so the trainer's device path (engine loop, gradient sum, clip,
// state hand-over for checkpoints and resume) is tested on every machine;
// tests register it under a device name (RegisterHostStepEngine("CUDA")).
#ifndef HAISCALE_TRAIN_HOST_STEP_ENGINE_H_
#define HAISCALE_TRAIN_HOST_STEP_ENGINE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "haiscale/train/step_engine.h"

namespace hs::train {

absl::StatusOr<std::unique_ptr<StepEngine>> CreateHostStepEngine(const StepEngineSetup& setup);

// RegisterHostStepEngine(device): registers CreateHostStepEngine as `device`.
bool RegisterHostStepEngine(const std::string& device);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_HOST_STEP_ENGINE_H_
