// File: haiscale/sweep/sweep_config.h
//
// Loading and validating a scaling-law sweep config (hs.sweep.SweepConfig,
// sweep.proto). The base run config (a file next to the sweep config or
// written inline) is loaded like `hai train --config` loads one, the
// base_overrides are applied like `--set`, and both the sweep fields and
// the base are validated, every problem one "field: reason" line.
//
// Usage:
//   HS_ASSIGN_OR_RETURN(Sweep sweep, LoadSweep("configs/sweeps/isoflop_tiny.pbtxt"));
//   for (int64_t depth : FamilyDepths(sweep.config.family())) ...
#ifndef HAISCALE_SWEEP_SWEEP_CONFIG_H_
#define HAISCALE_SWEEP_SWEEP_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "haiscale/config/config.pb.h"
#include "haiscale/sweep/sweep.pb.h"

namespace hs::sweep {

// A loaded sweep: its config (defaults filled) and the base run config
// with the overrides applied.
struct Sweep {
  SweepConfig config;
  config::RunConfig base;
  std::string source;  // the sweep file's path ("<text>" for ParseSweepText)
};

// FillSweepDefaults(config): the defaults documented in sweep.proto that do
// not depend on the base config. Idempotent.
void FillSweepDefaults(SweepConfig* config);

// ParseSweepText(text, source_name, base_dir): parses, resolves
// base_config relative to base_dir, applies base_overrides, fills defaults
// and validates. Errors name source_name and the field.
absl::StatusOr<Sweep> ParseSweepText(const std::string& text, const std::string& source_name,
                                     const std::string& base_dir);

// LoadSweep(path): ParseSweepText of the file, base_config relative to the
// file's directory.
absl::StatusOr<Sweep> LoadSweep(const std::string& path);

// ValidateSweep(sweep): every problem of the sweep fields and of the base
// config, one "field: reason" per line ("budgets[1]: must be > 0",
// "base.train.seq_len: ..."), or OK.
absl::Status ValidateSweep(const Sweep& sweep);

// FamilyDepths(rule): the depths of every IsoFLOP curve, ascending and
// distinct (family.depths, or sizes_per_budget spread over
// [min_depth, max_depth]).
std::vector<int64_t> FamilyDepths(const FamilyRule& rule);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_SWEEP_CONFIG_H_
