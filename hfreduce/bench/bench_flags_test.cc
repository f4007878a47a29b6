// File: hfreduce/bench/bench_flags_test.cc — the benchmarks' --against
// settings and their rows (no MPI needed: nothing here communicates).
#include "hfreduce/bench/bench_flags.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace hs::hfreduce {
namespace {

TEST(AgainstOptionsTest, AppliesEachSettingToACopy) {
  Options base;
  auto o = AgainstOptions(base, {"chunk-bytes=2M", "min-chunk-bytes=1M", "tree-chunk-bytes=64K",
                                 "tree-window=8", "pipeline-depth=3", "pair-exchange-bytes=0",
                                 "small-bytes=256K", "inline=false", "transport=tcp"});
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->chunk_bytes, 2 << 20);
  EXPECT_EQ(o->min_chunk_bytes, 1 << 20);
  EXPECT_EQ(o->tree_chunk_bytes, 64 << 10);
  EXPECT_EQ(o->tree_window, 8);
  EXPECT_EQ(o->pipeline_depth, 3);
  EXPECT_EQ(o->pair_exchange_bytes, 0);
  EXPECT_EQ(o->small_bytes, 256 << 10);
  EXPECT_FALSE(o->inline_blocking);
  EXPECT_EQ(o->transport, TransportKind::kTcp);
  // The base is untouched, and no settings give the base back.
  EXPECT_EQ(base.chunk_bytes, Options().chunk_bytes);
  auto same = AgainstOptions(base, {});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(same->min_chunk_bytes, base.min_chunk_bytes);
}

TEST(AgainstOptionsTest, NamesTheBadSetting) {
  for (const char* bad : {"foo=1", "chunk-bytes", "chunk-bytes=", "chunk-bytes=12Q",
                          "tree-window=0", "pipeline-depth=x", "pipeline-depth=1", "inline=yes",
                          "transport=ib", "min-chunk-bytes=0"}) {
    auto o = AgainstOptions(Options(), {"tree-window=2", bad});
    ASSERT_FALSE(o.ok()) << bad;
    EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StartsWith(o.status().message(), std::string("--against ") + bad + ": "))
        << o.status();
  }
}

TEST(BenchRowTest, CsvHasTheHeadersColumnsAndTableItsCpuColumns) {
  BenchRow r;
  r.bytes = 1 << 20;
  r.count = 262144;
  r.hf_us = 400;
  r.mpi_us = 420;
  r.ratio = 1.05;
  r.cpu.hf_us = 201.5;
  r.cpu.mpi_us = 210.25;
  r.cpu.hf_switches = 12.5;
  r.cpu.mpi_switches = 20;
  const std::vector<std::string> header = absl::StrSplit(kBenchCsvHeader, ',');
  std::string csv = FormatBenchRow(r, true);
  ASSERT_TRUE(absl::EndsWith(csv, "\n"));
  csv.pop_back();
  const std::vector<std::string> cols = absl::StrSplit(csv, ',');
  ASSERT_EQ(cols.size(), header.size());
  EXPECT_EQ(cols[0], "1048576");
  EXPECT_EQ(header[6], "hfreduce_cpu_us");
  EXPECT_EQ(cols[6], "201.5");
  EXPECT_EQ(cols[7], "12.50");
  EXPECT_EQ(cols[8], "210.2");
  EXPECT_EQ(cols[9], "20.00");
  // Table: the cpu_us columns sit before each #wrong, as the header says.
  const std::vector<std::string> words =
      absl::StrSplit(FormatBenchRow(r, false), ' ', absl::SkipWhitespace());
  const std::vector<std::string> lines = absl::StrSplit(BenchTableHeader("MPI_Allreduce"), '\n');
  ASSERT_GE(lines.size(), 2u);
  const std::vector<std::string> names = absl::StrSplit(lines[1], ' ', absl::SkipWhitespace());
  ASSERT_EQ(words.size() + 1, names.size());  // the header line starts with "#"
  EXPECT_EQ(names[8], "cpu_us");  // "#", size, count, type, "|", time_us, algbw, busbw
  EXPECT_EQ(words[7], "201.5");
}

}  // namespace
}  // namespace hs::hfreduce
