// File: haiscale/train/cuda/adamw_args.h
//
// AdamWArgs(optimizer, step, lr): the device model's AdamWStepArgs from the
// run config's optimizer section (the CPU trainer's settings), so that
// models/cuda_model stays free of the config proto.
#ifndef HAISCALE_TRAIN_CUDA_ADAMW_ARGS_H_
#define HAISCALE_TRAIN_CUDA_ADAMW_ARGS_H_

#include <cstdint>

#include "haiscale/config/config.pb.h"
#include "models/cuda_model/deepseek_v2_cuda.h"

namespace hs::train {

models::cuda_model::AdamWStepArgs AdamWArgs(const config::OptimizerConfig& optimizer,
                                            int64_t step, double lr);

}  // namespace hs::train

#endif  // HAISCALE_TRAIN_CUDA_ADAMW_ARGS_H_
