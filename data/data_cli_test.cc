// File: data/data_cli_test.cc
//
// The `hai data` subcommands through the registry, as the `hai` binary
// runs them: write-corpus, from-text, inspect, and their error exit codes.
#include <string>
#include <vector>

#include "data/test_util.h"
#include "data/token_file.h"
#include "gtest/gtest.h"
#include "haiscale/cli/subcommand.h"

namespace hs::data {
namespace {

int Hai(std::vector<std::string> args) {
  args.insert(args.begin(), "hai");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return cli::RunMain(int(argv.size()), argv.data());
}

TEST(DataCliTest, WriteCorpusThenInspect) {
  const std::string out = testing::TestPath("cli_corpus.u32");
  ASSERT_EQ(Hai({"data", "write-corpus", "--out", out, "--bytes", "5000",
                 "--seed", "9"}),
            0);
  auto file = TokenFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->size(), 5000);
  EXPECT_TRUE((*file)->Validate(256).ok());
  EXPECT_EQ(Hai({"data", "inspect", out, "--seq", "64", "--vocab", "256"}), 0);
  // Ids are bytes, so a vocab of 10 must fail.
  EXPECT_EQ(Hai({"data", "inspect", out, "--vocab", "10"}), 1);
}

TEST(DataCliTest, FromText) {
  const std::string in = testing::WriteRawFile("cli_in.txt", "hello world\n");
  const std::string out = testing::TestPath("cli_text.u32");
  ASSERT_EQ(Hai({"data", "from-text", "--in", in, "--out", out}), 0);
  auto file = TokenFile::Open(out);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ((*file)->size(), 12);
  EXPECT_EQ((*file)->data()[0], uint32_t('h'));
  EXPECT_EQ((*file)->data()[11], uint32_t('\n'));
}

TEST(DataCliTest, Errors) {
  EXPECT_EQ(Hai({"data", "write-corpus"}), 1);  // --out missing
  EXPECT_EQ(Hai({"data", "write-corpus", "--out", "x", "--bogus"}), 2);
  EXPECT_EQ(Hai({"data", "from-text", "--in",
                 testing::TestPath("missing.txt"), "--out",
                 testing::TestPath("never.u32")}),
            1);
  EXPECT_EQ(Hai({"data", "inspect"}), 2);  // PATH missing
  EXPECT_EQ(Hai({"data", "inspect", testing::TestPath("missing.u32")}), 1);
  EXPECT_EQ(Hai({"data", "write-corpus", "--help"}), 0);
}

}  // namespace
}  // namespace hs::data
