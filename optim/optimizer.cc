// File: optim/optimizer.cc — arena layout and range checks, see optimizer.h.
#include "optim/optimizer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace hs::optim {

bool DecaysByDefault(const std::vector<int64_t>& shape,
                     bool decay_norms_and_biases) {
  return decay_norms_and_biases || shape.size() >= 2;
}

absl::StatusOr<DecayMask> DecayMask::Create(
    const std::vector<ParamRange>& layout, int64_t arena_size) {
  if (arena_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer layout: arena_size ", arena_size, " < 0"));
  }
  std::vector<const ParamRange*> sorted;
  sorted.reserve(layout.size());
  for (const ParamRange& r : layout) {
    if (r.offset < 0 || r.numel < 0 || r.offset + r.numel > arena_size) {
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer layout: parameter '", r.name, "' range [", r.offset, ", ",
          r.offset + r.numel, ") is outside the arena [0, ", arena_size, ")"));
    }
    sorted.push_back(&r);
  }
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const ParamRange* a, const ParamRange* b) {
                     return a->offset < b->offset;
                   });
  DecayMask mask;
  mask.arena_size_ = arena_size;
  for (size_t i = 0; i < sorted.size(); ++i) {
    const ParamRange& r = *sorted[i];
    if (i > 0) {
      const ParamRange& prev = *sorted[i - 1];
      if (prev.offset + prev.numel > r.offset) {
        return absl::InvalidArgumentError(absl::StrCat(
            "optimizer layout: parameters '", prev.name, "' and '", r.name,
            "' overlap at element ", r.offset));
      }
    }
    if (!r.decay || r.numel == 0) continue;
    if (!mask.decayed_.empty() && mask.decayed_.back().second == r.offset) {
      mask.decayed_.back().second = r.offset + r.numel;  // merge adjacent
    } else {
      mask.decayed_.emplace_back(r.offset, r.offset + r.numel);
    }
  }
  return mask;
}

DecayMask DecayMask::AllDecay(int64_t arena_size) {
  DecayMask mask;
  mask.arena_size_ = arena_size;
  if (arena_size > 0) mask.decayed_.emplace_back(0, arena_size);
  return mask;
}

std::vector<DecayMask::Segment> DecayMask::Segments(int64_t begin,
                                                    int64_t end) const {
  std::vector<Segment> out;
  int64_t pos = begin;
  // First decayed interval that ends after `begin`.
  auto it = std::upper_bound(
      decayed_.begin(), decayed_.end(), begin,
      [](int64_t value, const std::pair<int64_t, int64_t>& iv) {
        return value < iv.second;
      });
  for (; it != decayed_.end() && pos < end; ++it) {
    int64_t lo = std::max(it->first, pos);
    int64_t hi = std::min(it->second, end);
    if (lo >= end) break;
    if (pos < lo) out.push_back({pos, lo, false});
    out.push_back({lo, hi, true});
    pos = hi;
  }
  if (pos < end) out.push_back({pos, end, false});
  return out;
}

absl::Status Optimizer::CheckRange(int64_t offset, int64_t n) const {
  if (n < 0 || offset < begin_ || offset + n > end_) {
    return absl::InvalidArgumentError(absl::StrCat(
        name(), " step: range [", offset, ", ", offset + n,
        ") is outside the optimizer's owned range [", begin_, ", ", end_,
        ")"));
  }
  return absl::OkStatus();
}

}  // namespace hs::optim
