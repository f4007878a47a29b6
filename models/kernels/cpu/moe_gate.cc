// File: models/kernels/cpu/moe_gate.cc
//
// DeepSeekMoE gate pieces (HF modeling_deepseek.py, MoEGate.forward with
// scoring_func "softmax"): row softmax over the routed experts and top-k
// selection, tokens in parallel.
//
// TopKSelect orders candidates by (score descending, expert index
// ascending), so ties always go to the lower index and the output is in
// descending score order (HF's torch.topk(sorted=False) leaves the order
// unspecified; the set is the same). Group-limited greedy: HF fills the
// experts of non-selected groups with 0.0 before its top-k; with softmax
// scores (> 0) and K <= topk_group * E/n_group that equals "only experts of
// the selected groups are eligible", which is what is done here (the K bound
// is checked).
//
// Usage:
//   SoftmaxForward(probs, router_logits, N, E);
//   TopKSelect(idx, w, probs, N, E, /*K=*/6, /*group_limited=*/true,
//              /*n_group=*/8, /*topk_group=*/3);
#include "models/kernels/cpu/moe_gate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "haiscale/logging.h"
#include "models/kernels/cpu/internal/exp.h"

namespace hs::kernels::cpu {
namespace {

// Key: NaN sorts last (as -inf) so the comparator stays a strict weak order.
inline float Key(float x) {
  return std::isnan(x) ? -std::numeric_limits<float>::infinity() : x;
}

// TopIndices: moves the k best of `cand` (by score desc, index asc) to its
// front, in that order.
void TopIndices(std::vector<int32_t>& cand, const float* score, int64_t k) {
  std::partial_sort(cand.begin(), cand.begin() + k, cand.end(),
                    [score](int32_t a, int32_t b) {
                      const float sa = Key(score[a]), sb = Key(score[b]);
                      return sa > sb || (sa == sb && a < b);
                    });
}

}  // namespace

// SoftmaxForward: probs = exp(x - max) / sum exp(x - max), per row.
void SoftmaxForward(float* probs, const float* logits, int64_t N, int64_t E) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* x = logits + n * E;
    float* p = probs + n * E;
    const float mx = *std::max_element(x, x + E);
    for (int64_t e = 0; e < E; ++e) p[e] = internal::Exp(x[e] - mx);
    double sum = 0.0;
    for (int64_t e = 0; e < E; ++e) sum += p[e];
    const float inv = float(1.0 / sum);
    for (int64_t e = 0; e < E; ++e) p[e] *= inv;
  }
}

// SoftmaxBackward: dx = p * (dp - sum_e dp*p), per row (the Jacobian of
// softmax, diag(p) - p p^T, applied to dp).
void SoftmaxBackward(float* dlogits, const float* dprobs, const float* probs,
                     int64_t N, int64_t E) {
#pragma omp parallel for schedule(static)
  for (int64_t n = 0; n < N; ++n) {
    const float* dp = dprobs + n * E;
    const float* p = probs + n * E;
    float* dx = dlogits + n * E;
    double dot = 0.0;
    for (int64_t e = 0; e < E; ++e) dot += double(dp[e]) * double(p[e]);
    const float fdot = float(dot);
    for (int64_t e = 0; e < E; ++e) dx[e] = p[e] * (dp[e] - fdot);
  }
}

// TopKSelect: per token, optional group filter, then the K best experts.
void TopKSelect(int32_t* idx, float* weight, const float* scores, int64_t N,
                int64_t E, int64_t K, bool group_limited, int64_t n_group,
                int64_t topk_group) {
  HS_CHECK(K > 0 && K <= E) << "K=" << K << " E=" << E;
  int64_t group_size = E;
  if (group_limited) {
    HS_CHECK(n_group > 0 && E % n_group == 0)
        << "E=" << E << " not divisible by n_group=" << n_group;
    HS_CHECK(topk_group > 0 && topk_group <= n_group)
        << "topk_group=" << topk_group << " n_group=" << n_group;
    group_size = E / n_group;
    HS_CHECK(K <= topk_group * group_size)
        << "K=" << K << " > experts in the " << topk_group << " kept groups";
  }
#pragma omp parallel
  {
    std::vector<int32_t> cand;
    std::vector<int32_t> groups;
    std::vector<float> group_score;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const float* s = scores + n * E;
      cand.clear();
      if (group_limited) {
        // Group score = best expert of the group; keep the topk_group best.
        group_score.assign(n_group, 0.0f);
        for (int64_t g = 0; g < n_group; ++g) {
          const float* gs = s + g * group_size;
          float best = Key(gs[0]);
          for (int64_t e = 1; e < group_size; ++e) best = std::max(best, Key(gs[e]));
          group_score[g] = best;
        }
        groups.resize(n_group);
        std::iota(groups.begin(), groups.end(), 0);
        TopIndices(groups, group_score.data(), topk_group);
        std::sort(groups.begin(), groups.begin() + topk_group);
        for (int64_t r = 0; r < topk_group; ++r) {
          for (int64_t e = 0; e < group_size; ++e) {
            cand.push_back(int32_t(groups[r] * group_size + e));
          }
        }
      } else {
        cand.resize(E);
        std::iota(cand.begin(), cand.end(), 0);
      }
      TopIndices(cand, s, K);
      for (int64_t j = 0; j < K; ++j) {
        idx[n * K + j] = cand[j];
        weight[n * K + j] = s[cand[j]];
      }
    }
  }
}

// TopKSelectDeviceLimited: devices are the groups, M the groups kept.
void TopKSelectDeviceLimited(int32_t* idx, float* weight, const float* scores,
                             int64_t N, int64_t E, int64_t K, int64_t devices,
                             int64_t device_limit) {
  TopKSelect(idx, weight, scores, N, E, K, /*group_limited=*/true, devices,
             device_limit);
}

}  // namespace hs::kernels::cpu
