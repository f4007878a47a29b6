// tests/parity: links the host test engine (haiscale/train/host_step_engine.h)
// into `hai_host_engine` as train.device CUDA, so the parity tests run the
// trainer's device path (engine loop, HFReduce staged gradient sum) under
// mpirun on machines without a GPU.
#include "haiscale/train/host_step_engine.h"

namespace {
const bool kRegistered = hs::train::RegisterHostStepEngine("CUDA");
}  // namespace
