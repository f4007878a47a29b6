// File: data/corpus.h
//
// Writing token files, and the built-in quickstart corpus.
//
// Token files are flat little-endian uint32 ids (see token_file.h) and are
// written atomically (haiscale/io/atomic_file.h: temp file, fsync, rename),
// so an interrupted `hai data` never leaves a half-written file behind.
//
// The quickstart corpus is a few KB of original English paragraphs (on
// distributed training, weather, cooking, gardening, trains and the sea)
// expanded deterministically into any size: each paragraph is a run of
// consecutive sentences from one topic, with topic, start and length drawn
// from Philox(seed). The sentences share a small vocabulary and repeat, so
// a tiny model's loss falls quickly, while the mix keeps it from
// memorising one fixed string.
//
// Usage:
//   std::string text = QuickstartCorpus(kQuickstartCorpusDefaultBytes, 1234);
//   HS_RETURN_IF_ERROR(WriteTokensFromText(text, "data/quickstart.u32"));
#ifndef DATA_CORPUS_H_
#define DATA_CORPUS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hs::data {

// Default size of the quickstart corpus (256 KiB of text = 256 Ki tokens).
inline constexpr int64_t kQuickstartCorpusDefaultBytes = 256 * 1024;

// WriteTokenFile(path, ids, n): writes ids[n] as a flat u32 token file,
// atomically. Errors name the path.
absl::Status WriteTokenFile(const std::string& path, const uint32_t* ids,
                            int64_t n);

// WriteTokensFromText(text, path): byte-level tokenizes `text` (one token
// per byte, vocab 256) and writes it with WriteTokenFile's guarantees,
// converting in chunks so memory stays O(chunk). Empty text is an error
// (an empty token file cannot be opened).
absl::Status WriteTokensFromText(absl::string_view text,
                                 const std::string& path);

// QuickstartCorpus(bytes, seed): exactly `bytes` bytes of ASCII text,
// a pure function of (bytes, seed).
std::string QuickstartCorpus(int64_t bytes, uint64_t seed);

}  // namespace hs::data

#endif  // DATA_CORPUS_H_
