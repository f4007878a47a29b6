// File: haiscale/sweep/fit_report.h
//
// report.md of `hai sweep fit`: the points, each budget's IsoFLOP fit, the
// power laws with their 95% intervals next to DeepSeek LLM's and
// Chinchilla's exponents, the grid band, and the plots made by
// tools/plot_sweep.py.
//
// Usage:
//   std::string md = FitReportMarkdown(dir, "bits per byte", rows, fit);
#ifndef HAISCALE_SWEEP_FIT_REPORT_H_
#define HAISCALE_SWEEP_FIT_REPORT_H_

#include <string>
#include <vector>

#include "haiscale/sweep/fit.h"
#include "haiscale/sweep/runner.h"

namespace hs::sweep {

// FitPointsFromResults(rows): the done rows as fit inputs (loss = metric,
// batch = batch_seqs * seq_len).
std::vector<FitPoint> FitPointsFromResults(const std::vector<PointStatus>& rows);

// FitReportMarkdown(dir, metric_name, rows, fit): the report (rows: every
// row of results.csv, failed ones listed as such).
std::string FitReportMarkdown(const std::string& dir, const std::string& metric_name,
                              const std::vector<PointStatus>& rows, const FitResult& fit);

}  // namespace hs::sweep

#endif  // HAISCALE_SWEEP_FIT_REPORT_H_
