// File: haiscale/train/test_util.h
//
// Helpers shared by the trainer's unit tests: a fresh temp directory, the
// tiny DeepSeek-V2 run config they train, and a corpus file of one
// sentence repeated.
#ifndef HAISCALE_TRAIN_TEST_UTIL_H_
#define HAISCALE_TRAIN_TEST_UTIL_H_

#include <string>

#include "haiscale/checkpoint/test_util.h"
#include "haiscale/config/config.pb.h"

namespace hs::train::testing {

// TempDir(name): a fresh empty directory under $TEST_TMPDIR.
using checkpoint::testing::TempDir;

// TinyRun(output_dir, data): 2 blocks (1 dense, 1 MoE with 4 experts),
// hidden 32, vocab 256, 60 AdamW steps of 4 x 32 tokens, 1 thread.
config::RunConfig TinyRun(const std::string& output_dir, const std::string& data);

// RepeatedTextCorpus(path, sentence, times): writes the byte-level tokens
// of `sentence` repeated `times` times to `path`; returns path.
std::string RepeatedTextCorpus(const std::string& path, const std::string& sentence, int times);

}  // namespace hs::train::testing

#endif  // HAISCALE_TRAIN_TEST_UTIL_H_
