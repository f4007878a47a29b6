// File: models/profile/op_profile.cc — see op_profile.h.
#include "models/profile/op_profile.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "haiscale/clock.h"

namespace hs::models {

namespace op_profile_internal {

std::atomic<bool> enabled{false};
thread_local int64_t layer = kOpLayerEmbed;
thread_local OpPhase phase = OpPhase::kForward;

namespace {

struct Store {
  std::mutex mu;
  std::vector<OpProfileEntry> entries;  // in order of first appearance
  std::map<std::tuple<int64_t, int, std::string>, size_t> index;
};

Store& GetStore() {
  static Store* store = new Store();
  return *store;
}

}  // namespace

double Now() { return NowSeconds(); }

void Add(const char* op, double seconds) {
  Store& s = GetStore();
  std::lock_guard<std::mutex> lock(s.mu);
  auto key = std::make_tuple(layer, int(phase), std::string(op));
  auto it = s.index.find(key);
  if (it == s.index.end()) {
    it = s.index.emplace(key, s.entries.size()).first;
    s.entries.push_back({op, layer, phase, 0.0, 0});
  }
  OpProfileEntry& e = s.entries[it->second];
  e.seconds += seconds;
  ++e.calls;
}

}  // namespace op_profile_internal

void EnableOpProfile(bool on) { op_profile_internal::enabled.store(on); }

std::vector<OpProfileEntry> TakeOpProfile() {
  auto& s = op_profile_internal::GetStore();
  std::lock_guard<std::mutex> lock(s.mu);
  std::vector<OpProfileEntry> out;
  out.swap(s.entries);
  s.index.clear();
  // Embedding first, decoder layers in order, head last; forward before
  // backward; ops in order of first appearance (stable).
  auto rank = [](int64_t layer) {
    return layer == kOpLayerEmbed ? -1 : layer == kOpLayerHead ? (int64_t(1) << 40) : layer;
  };
  std::stable_sort(out.begin(), out.end(), [&](const OpProfileEntry& a, const OpProfileEntry& b) {
    if (a.phase != b.phase) return a.phase < b.phase;
    return rank(a.layer) < rank(b.layer);
  });
  return out;
}

namespace {

std::string LayerName(int64_t layer) {
  if (layer == kOpLayerEmbed) return "embedding";
  if (layer == kOpLayerHead) return "head (norm, lm_head, loss)";
  return absl::StrCat("layer ", layer);
}

struct Row {
  std::string name;
  double fwd = 0, bwd = 0;
};

// Rows in order of first appearance of `key(entry)`.
template <typename KeyFn>
std::vector<Row> SumBy(const std::vector<OpProfileEntry>& entries, KeyFn key) {
  std::vector<Row> rows;
  std::map<std::string, size_t> at;
  for (const OpProfileEntry& e : entries) {
    const std::string k = key(e);
    auto it = at.find(k);
    if (it == at.end()) {
      it = at.emplace(k, rows.size()).first;
      rows.push_back({k});
    }
    (e.phase == OpPhase::kForward ? rows[it->second].fwd : rows[it->second].bwd) += e.seconds;
  }
  return rows;
}

}  // namespace

std::string FormatOpProfile(const std::vector<OpProfileEntry>& entries, int64_t steps,
                            double step_seconds,
                            const std::vector<std::pair<std::string, double>>& untimed) {
  const double per = steps > 0 ? 1e3 / double(steps) : 0.0;  // ms per step
  const double step_ms = step_seconds * 1e3;
  std::string out;
  auto line = [&](const std::string& name, double fwd, double bwd) {
    const double total = (fwd + bwd) * per;
    absl::StrAppendFormat(&out, "%-34s | %9.1f | %9.1f | %9.1f | %5.1f%%\n", name, fwd * per,
                          bwd * per, total, step_ms > 0 ? 100 * total / step_ms : 0.0);
  };
  auto header = [&](const char* first) {
    absl::StrAppendFormat(&out, "%-34s | %9s | %9s | %9s | %6s\n", first, "fwd ms", "bwd ms",
                          "total ms", "step");
  };
  absl::StrAppendFormat(&out, "op profile: ms per step over %d steps (mean step %.1f ms)\n",
                        steps, step_ms);
  header("op (all layers)");
  double fwd_sum = 0, bwd_sum = 0;
  for (const Row& r : SumBy(entries, [](const OpProfileEntry& e) { return e.op; })) {
    line(r.name, r.fwd, r.bwd);
    fwd_sum += r.fwd;
    bwd_sum += r.bwd;
  }
  line("sum of model ops", fwd_sum, bwd_sum);
  for (const auto& [name, seconds] : untimed) {
    absl::StrAppendFormat(&out, "%-34s | %9s | %9s | %9.1f | %5.1f%%\n", name, "", "",
                          seconds * per, step_ms > 0 ? 100 * seconds * per / step_ms : 0.0);
  }
  out += "\n";
  header("layer");
  for (const Row& r : SumBy(entries, [](const OpProfileEntry& e) { return LayerName(e.layer); })) {
    line(r.name, r.fwd, r.bwd);
  }
  return out;
}

}  // namespace hs::models
