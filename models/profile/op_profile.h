// File: models/profile/op_profile.h
//
// Opt-in per-operation wall-time profile of the CPU model: forward and
// backward time per (layer, op), e.g. "mla.attention" of layer 2 backward.
// Off by default; then an OpTimer costs one relaxed atomic load and a branch
// (no clock read). `hai bench train --profile` turns it on for the timed
// steps and prints FormatOpProfile's tables.
//
// Timers sit at the model's top level (the calling thread), around whole
// kernels and GEMMs, never inside an OpenMP region, so an op's time is the
// wall time of everything it ran on all threads. Nested timers both count
// (do not nest them); the tables sum disjoint ops only.
//
// Usage:
//   EnableOpProfile(true);
//   { OpPhaseScope phase(OpPhase::kBackward); OpLayerScope layer(3);
//     OpTimer t("mla.o_proj"); ... }
//   std::vector<OpProfileEntry> e = TakeOpProfile();  // and resets
#ifndef MODELS_PROFILE_OP_PROFILE_H_
#define MODELS_PROFILE_OP_PROFILE_H_

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace hs::models {

enum class OpPhase { kForward = 0, kBackward = 1 };

// Layer ids besides decoder layers 0..L-1.
inline constexpr int64_t kOpLayerEmbed = -1;  // token embedding
inline constexpr int64_t kOpLayerHead = -2;   // final norm, lm_head, loss

struct OpProfileEntry {
  std::string op;
  int64_t layer = 0;
  OpPhase phase = OpPhase::kForward;
  double seconds = 0;
  int64_t calls = 0;
};

namespace op_profile_internal {
extern std::atomic<bool> enabled;
extern thread_local int64_t layer;
extern thread_local OpPhase phase;
void Add(const char* op, double seconds);
double Now();
}  // namespace op_profile_internal

inline bool OpProfileEnabled() {
  return op_profile_internal::enabled.load(std::memory_order_relaxed);
}
void EnableOpProfile(bool on);
// TakeOpProfile: the totals since the last call (or since enabling), sorted
// by layer, phase and first appearance of the op; resets them.
std::vector<OpProfileEntry> TakeOpProfile();

// OpTimer: adds its lifetime to (current layer, current phase, op). `op`
// must outlive the profile (a string literal).
class OpTimer {
 public:
  explicit OpTimer(const char* op)
      : op_(OpProfileEnabled() ? op : nullptr), t0_(op_ ? op_profile_internal::Now() : 0) {}
  ~OpTimer() {
    if (op_) op_profile_internal::Add(op_, op_profile_internal::Now() - t0_);
  }
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_;
  double t0_;
};

// OpLayerScope / OpPhaseScope: set the calling thread's current layer /
// phase for the timers inside, restoring the previous one on exit.
class OpLayerScope {
 public:
  explicit OpLayerScope(int64_t layer) : prev_(op_profile_internal::layer) {
    op_profile_internal::layer = layer;
  }
  ~OpLayerScope() { op_profile_internal::layer = prev_; }

 private:
  int64_t prev_;
};

class OpPhaseScope {
 public:
  explicit OpPhaseScope(OpPhase phase) : prev_(op_profile_internal::phase) {
    op_profile_internal::phase = phase;
  }
  ~OpPhaseScope() { op_profile_internal::phase = prev_; }

 private:
  OpPhase prev_;
};

// FormatOpProfile: two tables, milliseconds per step (`steps` steps were
// profiled): per op summed over layers (forward, backward, share of
// `step_seconds`), then per layer. `untimed` rows (name, seconds over all
// steps) are appended to the op table: the parts of the step outside the
// model's timers (optimizer, unprofiled glue).
std::string FormatOpProfile(const std::vector<OpProfileEntry>& entries, int64_t steps,
                            double step_seconds,
                            const std::vector<std::pair<std::string, double>>& untimed);

}  // namespace hs::models

#endif  // MODELS_PROFILE_OP_PROFILE_H_
