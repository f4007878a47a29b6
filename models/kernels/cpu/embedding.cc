// File: models/kernels/cpu/embedding.cc
//
// Token embedding lookup (HF nn.Embedding, embed_tokens.weight [V, C]).
// The backward groups the token positions by id (a stable counting sort),
// then each thread owns whole table rows and adds that id's dout rows in
// position order: no two threads touch one row, and the sum order is the
// serial one, so dtable is bit-identical for every thread count.
//
// Usage:
//   EmbeddingForward(x, tokens, table, N, C);
//   EmbeddingBackward(dtable, tokens, dx, N, C);
#include "models/kernels/cpu/embedding.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "haiscale/logging.h"

namespace hs::kernels::cpu {

// EmbeddingForward: out[n,:] = table[tokens[n], :], rows in parallel.
void EmbeddingForward(float* out, const int32_t* tokens, const float* table,
                      int64_t N, int64_t C) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* row = table + int64_t(tokens[n]) * C;
    std::copy(row, row + C, out + n * C);
  }
}

// EmbeddingBackward: dtable[tokens[n], :] += dout[n, :].
//   1. distinct ids in first-seen order, and for each the positions using it
//      (CSR: starts[u]..starts[u+1] into `order`, positions ascending);
//   2. parallel over distinct ids: row += dout[pos] for pos in order.
void EmbeddingBackward(float* dtable, const int32_t* tokens, const float* dout,
                       int64_t N, int64_t C) {
  if (N <= 0) return;
  // Step 1: group positions by token id (serial, O(N)).
  std::unordered_map<int32_t, int64_t> slot;  // id -> distinct index
  slot.reserve(static_cast<size_t>(N));
  std::vector<int32_t> ids;                   // distinct index -> id
  std::vector<int64_t> slot_of(N);            // position -> distinct index
  for (int64_t n = 0; n < N; ++n) {
    HS_CHECK(tokens[n] >= 0) << "token id " << tokens[n] << " at " << n;
    auto [it, inserted] = slot.emplace(tokens[n], int64_t(ids.size()));
    if (inserted) ids.push_back(tokens[n]);
    slot_of[n] = it->second;
  }
  const int64_t U = static_cast<int64_t>(ids.size());
  std::vector<int64_t> starts(U + 1, 0);
  for (int64_t n = 0; n < N; ++n) ++starts[slot_of[n] + 1];
  for (int64_t u = 0; u < U; ++u) starts[u + 1] += starts[u];
  std::vector<int64_t> order(N);
  std::vector<int64_t> fill(starts.begin(), starts.end() - 1);
  for (int64_t n = 0; n < N; ++n) order[fill[slot_of[n]]++] = n;

  // Step 2: one thread per table row, positions added in ascending order.
#pragma omp parallel for schedule(dynamic, 16)
  for (int64_t u = 0; u < U; ++u) {
    float* row = dtable + int64_t(ids[u]) * C;
    for (int64_t j = starts[u]; j < starts[u + 1]; ++j) {
      const float* d = dout + order[j] * C;
      for (int64_t c = 0; c < C; ++c) row[c] += d[c];
    }
  }
}

}  // namespace hs::kernels::cpu
