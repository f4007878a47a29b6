// File: haiscale/posttrain/dpo_reference_cli.cc
//
// `hai data dpo-reference`: the reference log-probabilities of a prepared
// DPO dataset, computed once with a model's weights and stored beside the
// rows (data/post/reference_file.h), so that DPO runs from those weights
// read them instead of running the reference model:
//
//   hai data dpo-reference --weights HF_DIR --data DPO_DIR [--threads N]
//
// Each row's log-probability is the sum of its completion tokens'
// log-probabilities, one sequence per forward, as the trainer computes it.
// The file records the rows' checksum and the weights' identity; a run
// whose data or train.init_from differs refuses it.
//
// Exit codes: 0 success, 1 the computation failed, 2 bad flags.
#include <chrono>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "data/post/reference_file.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/posttrain/dpo_reference.h"
#include "haiscale/status.h"
#include "haiscale/threads.h"

namespace hs::posttrain {
namespace {

absl::Status ComputeReference(const cli::ArgParser& p) {
  const std::string weights = p.GetString("weights"), dir = p.GetString("data");
  const auto start = std::chrono::steady_clock::now();
  HS_ASSIGN_OR_RETURN(data::post::RowsReference ref, ComputeDpoReference(weights, dir));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("%lld rows (%lld pairs): reference log-probabilities of %s (%s) in %s/%s, %.1f s\n",
              (long long)ref.logps.size(), (long long)ref.logps.size() / 2, weights.c_str(),
              data::post::FormatIdentity(ref.weights).c_str(), dir.c_str(),
              data::post::kReferenceFileName, seconds);
  return absl::OkStatus();
}

int RunDpoReference(int argc, char** argv) {
  cli::ArgParser p("hai data dpo-reference");
  p.AddString("weights", "", "the reference model: HF folder (config.json + safetensors), the "
                             "weights DPO runs start from (train.init_from)");
  p.AddString("data", "", "prepared DPO rows (hai data prepare-dpo --out DIR); the values are "
                          "written to DIR/dpo_reference.bin");
  p.AddInt("threads", 0, "CPU threads (0: all cores)");
  if (int rc = p.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  if (absl::Status s = p.RequireStrings({"weights", "data"}); !s.ok()) {
    std::fprintf(stderr, "%s\n\n%s", std::string(s.message()).c_str(), p.Usage().c_str());
    return 2;
  }
  SetNumThreads(int(p.GetInt("threads")));
  if (absl::Status e = ComputeReference(p); !e.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(e.message()).c_str());
    return 1;
  }
  return 0;
}

HS_REGISTER_SUBCOMMAND("data dpo-reference",
                       "precompute a DPO dataset's reference log-probabilities with given weights",
                       RunDpoReference);

}  // namespace
}  // namespace hs::posttrain
