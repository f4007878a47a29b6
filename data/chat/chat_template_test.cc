// Chat rendering against the exact DeepSeek-V2-Chat and plain strings,
// special tokens found among added tokens, conversation records and their
// errors.
#include "data/chat/chat_template.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hs::data {
namespace {

const ChatSpecialTokens kDs{kDeepSeekBos, kDeepSeekEos};

std::string Render(const std::vector<ChatMessage>& m, ChatFormat f, bool gen,
                   const ChatSpecialTokens& t = kDs) {
  auto s = RenderChat(m, f, t, gen);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

TEST(ChatTemplateTest, DeepSeekV2MultiTurnWithSystem) {
  const std::vector<ChatMessage> m = {{"system", "You are helpful."},
                                      {"user", "Hi"},
                                      {"assistant", "Hello!"},
                                      {"user", "2+2?"}};
  EXPECT_EQ(Render(m, ChatFormat::kDeepSeekV2, true),
            "<｜begin▁of▁sentence｜>You are helpful.\n\nUser: Hi\n\nAssistant: "
            "Hello!<｜end▁of▁sentence｜>User: 2+2?\n\nAssistant:");
  EXPECT_EQ(Render(m, ChatFormat::kDeepSeekV2, false),
            "<｜begin▁of▁sentence｜>You are helpful.\n\nUser: Hi\n\nAssistant: "
            "Hello!<｜end▁of▁sentence｜>User: 2+2?\n\n");
}

TEST(ChatTemplateTest, DeepSeekV2WithoutSystemEndsAssistantTurnsWithEos) {
  EXPECT_EQ(Render({{"user", "a"}, {"assistant", "b"}}, ChatFormat::kDeepSeekV2, false),
            "<｜begin▁of▁sentence｜>User: a\n\nAssistant: b<｜end▁of▁sentence｜>");
  EXPECT_EQ(Render({{"user", "a"}}, ChatFormat::kDeepSeekV2, true),
            "<｜begin▁of▁sentence｜>User: a\n\nAssistant:");
}

TEST(ChatTemplateTest, Plain) {
  const ChatSpecialTokens t{"", "<|eos|>"};
  EXPECT_EQ(Render({{"user", "12+34="}, {"assistant", "46"}}, ChatFormat::kPlain, false, t),
            "12+34=\n46<|eos|>");
  EXPECT_EQ(Render({{"system", "add"}, {"user", "1+1="}}, ChatFormat::kPlain, true, t),
            "add\n1+1=\n");
  EXPECT_EQ(Render({{"user", "x"}}, ChatFormat::kPlain, true, {"<s>", "</s>"}), "<s>x\n");
}

TEST(ChatTemplateTest, RenderErrorsNameTheMessage) {
  auto s = RenderChat({{"user", "a"}, {"tool", "b"}}, ChatFormat::kDeepSeekV2, kDs, true);
  EXPECT_NE(std::string(s.status().message()).find("messages[1].role"), std::string::npos);
  s = RenderChat({{"user", "a"}, {"system", "b"}}, ChatFormat::kPlain, kDs, true);
  EXPECT_NE(std::string(s.status().message()).find("messages[1]: a system message must come first"),
            std::string::npos);
}

TEST(ChatTemplateTest, SpecialTokensFromAddedTokens) {
  const std::vector<std::string> added = {"<｜end▁of▁sentence｜>", "<｜begin▁of▁sentence｜>",
                                          "</s>"};
  auto t = ChatSpecialTokensOf(added);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->bos, kDeepSeekBos);
  EXPECT_EQ(t->eos, kDeepSeekEos);
  t = ChatSpecialTokensOf({"<|eos|>"});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->bos, "");
  EXPECT_EQ(t->eos, "<|eos|>");
  t = ChatSpecialTokensOf({"<pad>"});
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
}

TEST(ChatTemplateTest, ParsesConversationRecords) {
  auto m = ParseConversation(
      R"({"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]})",
      "x.jsonl:1");
  ASSERT_TRUE(m.ok()) << m.status();
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[1].role, "user");
  EXPECT_EQ((*m)[1].content, "u");
  m = ParseConversation(R"({"prompt": "p", "completion": "c"})", "x.jsonl:2");
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 2u);
  EXPECT_EQ((*m)[0].role, "user");
  EXPECT_EQ((*m)[1].role, "assistant");
  EXPECT_EQ((*m)[1].content, "c");
  m = ParseConversation(R"({"prompt": "p"})", "x.jsonl:3");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size(), 1u);
}

TEST(ChatTemplateTest, BadRecordsNameFileLineAndField) {
  struct Bad {
    const char* line;
    const char* message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"not json", "f.jsonl:7: not a JSON object"},
           {"[1]", "f.jsonl:7: not a JSON object"},
           {R"({"text": "x"})", "needs \"messages\" or \"prompt\""},
           {R"({"messages": []})", "\"messages\" must be a non-empty array"},
           {R"({"messages": [{"role": "user"}]})", "messages[0] needs \"role\" and \"content\""},
           {R"({"messages": [{"role": "bot", "content": "x"}]})", "messages[0].role: \"bot\""},
           {R"({"messages": [{"role": "user", "content": 3}]})", "messages[0].content must be a string"},
           {R"({"prompt": 1})", "\"prompt\" must be a string"},
       }) {
    auto m = ParseConversation(b.line, "f.jsonl:7");
    ASSERT_FALSE(m.ok()) << b.line;
    EXPECT_NE(std::string(m.status().message()).find(b.message), std::string::npos)
        << m.status() << " for " << b.line;
    EXPECT_NE(std::string(m.status().message()).find("f.jsonl:7"), std::string::npos);
  }
}

TEST(ChatTemplateTest, FormatNames) {
  EXPECT_EQ(*ParseChatFormat("deepseek-v2"), ChatFormat::kDeepSeekV2);
  EXPECT_EQ(*ParseChatFormat("plain"), ChatFormat::kPlain);
  EXPECT_FALSE(ParseChatFormat("chatml").ok());
}

}  // namespace
}  // namespace hs::data
