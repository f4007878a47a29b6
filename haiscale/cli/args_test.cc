#include "haiscale/cli/args.h"

#include <vector>

#include "gtest/gtest.h"

namespace hs::cli {
namespace {

absl::Status ParseVec(ArgParser& p, std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return p.Parse(int(argv.size()), argv.data());
}

TEST(ArgParserTest, ParsesAllKinds) {
  ArgParser p("hai test");
  p.AddString("config", "", "config file");
  p.AddInt("steps", 5, "steps");
  p.AddDouble("lr", 0.1, "lr");
  p.AddBool("csv", "csv");
  p.AddList("set", "override");
  ASSERT_TRUE(ParseVec(p, {"test", "--config", "a.pbtxt", "--steps=9", "--csv",
                           "--set", "a=1", "--set=b.c=2"}).ok());
  EXPECT_EQ(p.GetString("config"), "a.pbtxt");
  EXPECT_EQ(p.GetInt("steps"), 9);
  EXPECT_DOUBLE_EQ(p.GetDouble("lr"), 0.1);
  EXPECT_TRUE(p.GetBool("csv"));
  EXPECT_EQ(p.GetList("set"), (std::vector<std::string>{"a=1", "b.c=2"}));
  EXPECT_TRUE(p.IsSet("steps"));
  EXPECT_FALSE(p.IsSet("lr"));
}

TEST(ArgParserTest, RequireStringsNamesTheFirstEmptyFlag) {
  ArgParser p("hai test");
  p.AddString("weights", "", "w");
  p.AddString("data", "", "d");
  ASSERT_TRUE(ParseVec(p, {"test", "--weights", "w"}).ok());
  EXPECT_TRUE(p.RequireStrings({"weights"}).ok());
  absl::Status s = p.RequireStrings({"weights", "data"});
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_EQ(s.message(), "--data is required");
}

TEST(ArgParserTest, RejectsUnknownAndMalformed) {
  ArgParser p("hai test");
  p.AddInt("steps", 5, "steps");
  absl::Status s = ParseVec(p, {"test", "--stpes", "3"});
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("--stpes"), std::string::npos);
  ArgParser q("hai test");
  q.AddInt("steps", 5, "steps");
  EXPECT_FALSE(ParseVec(q, {"test", "--steps", "x"}).ok());
  ArgParser r("hai test");
  r.AddInt("steps", 5, "steps");
  EXPECT_FALSE(ParseVec(r, {"test", "--steps"}).ok());
  EXPECT_FALSE(ParseVec(r, {"test", "stray"}).ok());
}

}  // namespace
}  // namespace hs::cli
