// Stop strings across token boundaries, the earliest of several, and the
// streaming rule (no byte of a stop string is ever printed).
#include "haiscale/generate/completion_text.h"

#include "gtest/gtest.h"

namespace hs::generate {
namespace {

TEST(CompletionTextTest, NoStopStringsPrintsEverything) {
  CompletionText c;
  EXPECT_FALSE(c.Append("Hello"));
  EXPECT_EQ(c.TakePrintable(false), "Hello");
  EXPECT_FALSE(c.Append(", world"));
  EXPECT_EQ(c.TakePrintable(false), ", world");
  EXPECT_EQ(c.TakePrintable(true), "");
  EXPECT_EQ(c.text(), "Hello, world");
}

TEST(CompletionTextTest, StopStringSplitOverTokens) {
  CompletionText c({"User:"});
  std::string printed;
  EXPECT_FALSE(c.Append("4 apples.\nUs"));
  printed += c.TakePrintable(false);
  EXPECT_EQ(printed, "4 apples.\n");  // "Us" is held back
  EXPECT_FALSE(c.Append("e"));
  printed += c.TakePrintable(false);
  EXPECT_TRUE(c.Append("r: more"));
  printed += c.TakePrintable(true);
  EXPECT_EQ(printed, "4 apples.\n");
  EXPECT_EQ(c.text(), "4 apples.\n");
  EXPECT_TRUE(c.Append("ignored"));
  EXPECT_EQ(c.text(), "4 apples.\n");
}

TEST(CompletionTextTest, EarliestOfSeveralStops) {
  CompletionText c({"###", "\n\n", ""});
  EXPECT_TRUE(c.Append("a\n\nb###"));
  EXPECT_EQ(c.text(), "a");
}

TEST(CompletionTextTest, HeldBackBytesComeOutAtTheEnd) {
  CompletionText c({"STOP"});
  EXPECT_FALSE(c.Append("abcST"));
  EXPECT_EQ(c.TakePrintable(false), "abc");
  EXPECT_FALSE(c.Append("x"));  // "STx" can no longer become "STOP"
  EXPECT_EQ(c.TakePrintable(false), "STx");
  EXPECT_FALSE(c.Append("S"));
  EXPECT_EQ(c.TakePrintable(false), "");
  EXPECT_EQ(c.TakePrintable(true), "S");
}

}  // namespace
}  // namespace hs::generate
