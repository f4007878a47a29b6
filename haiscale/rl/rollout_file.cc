// File: haiscale/rl/rollout_file.cc — see rollout_file.h.
#include "haiscale/rl/rollout_file.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/dataset/crc32c.h"
#include "haiscale/status.h"

namespace hs::rl {
namespace {

constexpr char kMagic[] = "HSGRPO1\n";
constexpr size_t kMagicSize = sizeof(kMagic) - 1;
constexpr size_t kCrcSize = sizeof(uint32_t);  // CRC-32C trailer

class Writer {
 public:
  void Int(int64_t v) { Raw(&v, sizeof(v)); }
  template <typename T>
  void Array(const std::vector<T>& v) {
    Int(int64_t(v.size()));
    Raw(v.data(), v.size() * sizeof(T));
  }
  void Raw(const void* p, size_t n) { out.append(static_cast<const char*>(p), n); }
  std::string out;
};

class Reader {
 public:
  // Reads bytes[kMagicSize, end).
  Reader(const std::string& bytes, size_t end, const std::string& where)
      : bytes_(bytes), end_(end), where_(where) {}
  absl::StatusOr<int64_t> Int() {
    int64_t v = 0;
    HS_RETURN_IF_ERROR(Raw(&v, sizeof(v)));
    return v;
  }
  template <typename T>
  absl::Status Array(std::vector<T>* v) {
    HS_ASSIGN_OR_RETURN(const int64_t n, Int());
    if (n < 0 || uint64_t(n) > (end_ - pos_) / sizeof(T)) {
      return absl::DataLossError(absl::StrCat(where_, ": array of ", n, " entries at byte ", pos_,
                                              " runs past the end (truncated file?)"));
    }
    v->resize(size_t(n));
    return Raw(v->data(), size_t(n) * sizeof(T));
  }
  absl::Status Raw(void* p, size_t n) {
    if (end_ - pos_ < n) {
      return absl::DataLossError(
          absl::StrCat(where_, ": ends at byte ", end_, " (truncated file?)"));
    }
    if (n == 0) return absl::OkStatus();  // an empty array's data() may be null
    std::memcpy(p, bytes_.data() + pos_, n);
    pos_ += n;
    return absl::OkStatus();
  }
  bool done() const { return pos_ == end_; }

 private:
  const std::string& bytes_;
  const size_t end_;
  const std::string& where_;
  size_t pos_ = kMagicSize;
};

// The statistics' doubles, in file order.
std::vector<double*> StatDoubles(GrpoStepStats& s) {
  return {&s.reward_mean,     &s.reward_std,      &s.frac_reward_zero_std,
          &s.kl,              &s.clip_ratio_low,  &s.clip_ratio_high,
          &s.entropy,         &s.completion_length_mean, &s.clipped_fraction,
          &s.rollout_seconds, &s.update_seconds};
}

}  // namespace

std::string SerializeRollouts(const GrpoRollouts& r) {
  Writer w;
  w.Raw(kMagic, kMagicSize);
  for (int64_t v : {r.B, r.T, r.counts.global_sequences, r.counts.global_tokens,
                    r.counts.data_parallel, r.counts.max_completion_tokens,
                    r.stats.completion_length_max, r.stats.rollout_tokens}) {
    w.Int(v);
  }
  w.Array(r.tokens);
  w.Array(r.targets);
  w.Array(r.advantages);
  w.Array(r.logp_old);
  w.Array(r.logp_ref);
  w.Array(r.stats.reward_function_means);
  GrpoStepStats stats = r.stats;
  std::vector<double> doubles;
  for (double* d : StatDoubles(stats)) doubles.push_back(*d);
  w.Array(doubles);
  const uint32_t crc = data::Crc32cExtend(0, w.out.data(), w.out.size());
  w.Raw(&crc, kCrcSize);
  return std::move(w.out);
}

absl::StatusOr<GrpoRollouts> ParseRollouts(const std::string& bytes, const std::string& where) {
  if (bytes.size() < kMagicSize || bytes.compare(0, kMagicSize, kMagic) != 0) {
    return absl::DataLossError(absl::StrCat(where, ": not a GRPO rollout file"));
  }
  if (bytes.size() < kMagicSize + kCrcSize) {
    return absl::DataLossError(absl::StrCat(where, ": ends at byte ", bytes.size(),
                                            " (truncated file?)"));
  }
  const size_t end = bytes.size() - kCrcSize;
  uint32_t stored = 0;
  std::memcpy(&stored, bytes.data() + end, kCrcSize);
  if (data::Crc32cExtend(0, bytes.data(), end) != stored) {
    return absl::DataLossError(absl::StrCat(
        where, ": checksum mismatch (CRC-32C of its first ", end,
        " bytes): the file is damaged or truncated"));
  }
  Reader in(bytes, end, where);
  GrpoRollouts r;
  for (int64_t* v : {&r.B, &r.T, &r.counts.global_sequences, &r.counts.global_tokens,
                     &r.counts.data_parallel, &r.counts.max_completion_tokens,
                     &r.stats.completion_length_max, &r.stats.rollout_tokens}) {
    HS_ASSIGN_OR_RETURN(*v, in.Int());
  }
  HS_RETURN_IF_ERROR(in.Array(&r.tokens));
  HS_RETURN_IF_ERROR(in.Array(&r.targets));
  HS_RETURN_IF_ERROR(in.Array(&r.advantages));
  HS_RETURN_IF_ERROR(in.Array(&r.logp_old));
  HS_RETURN_IF_ERROR(in.Array(&r.logp_ref));
  HS_RETURN_IF_ERROR(in.Array(&r.stats.reward_function_means));
  std::vector<double> doubles;
  HS_RETURN_IF_ERROR(in.Array(&doubles));
  std::vector<double*> fields = StatDoubles(r.stats);
  if (doubles.size() != fields.size() || !in.done()) {
    return absl::DataLossError(absl::StrCat(where, ": unexpected layout (", doubles.size(),
                                            " statistics, expected ", fields.size(), ")"));
  }
  for (size_t i = 0; i < fields.size(); ++i) *fields[i] = doubles[i];
  if (r.B < 0 || r.T < 0 || int64_t(r.tokens.size()) != r.B * r.T ||
      r.targets.size() != r.tokens.size() || int64_t(r.advantages.size()) != r.B) {
    return absl::DataLossError(absl::StrCat(where, ": rows disagree with B = ", r.B, ", T = ", r.T));
  }
  return r;
}

}  // namespace hs::rl
