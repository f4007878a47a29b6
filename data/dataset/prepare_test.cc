// File: data/dataset/prepare_test.cc
//
// Prepare: byte-identical output for 1, 2 and 4 threads, documents + EOS
// decode back to the input, the held-out split, the three input formats,
// bad input errors (file:line) and --skip-bad counts, no output after a
// failure, EOS choice; and `hai data prepare | inspect | verify` through
// the command registry.
#include "data/dataset/prepare.h"

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "data/dataset/reader.h"
#include "data/test_util.h"
#include "data/tokenizer/bpe_trainer.h"
#include "gtest/gtest.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/io/atomic_file.h"

namespace hs::data::dataset {
namespace {

namespace fs = std::filesystem;
using ::hs::data::testing::TestPath;
using ::hs::data::testing::WriteRawFile;

const char* kWords[] = {"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog",
                        "café", "naïve", "東京", "🙂", "data", "shard", "index"};

// Text(d): a deterministic document of a few words.
std::string Text(int d) {
  std::string s;
  for (int w = 0; w < d % 11 + 2; ++w) {
    if (w) s += ' ';
    s += kWords[(d * 7 + w * 3) % 15];
  }
  return s;
}

// A small trained tokenizer with "<|endoftext|>", shared by the tests.
const std::string& TokenizerPath() {
  static const std::string path = [] {
    std::vector<std::string> docs;
    for (int d = 0; d < 200; ++d) docs.push_back(Text(d));
    std::vector<std::string_view> views(docs.begin(), docs.end());
    BpeTrainOptions o;
    o.vocab_size = 300;
    o.special_tokens = {"<|endoftext|>"};
    auto tok = TrainBpe(views, o);
    EXPECT_TRUE(tok.ok()) << tok.status();
    const std::string p = TestPath("tokenizer.json");
    EXPECT_TRUE(tok->SaveFile(p).ok());
    return p;
  }();
  return path;
}

Tokenizer LoadTokenizer() {
  auto tok = Tokenizer::LoadFile(TokenizerPath());
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(*tok);
}

std::string JsonlInput(const std::string& name, int docs) {
  std::string text;
  for (int d = 0; d < docs; ++d) {
    text += absl::StrCat("{\"id\": ", d, ", \"text\": \"", Text(d), "\"}\n");
  }
  return WriteRawFile(name, text);
}

PrepareOptions Options(std::vector<std::string> inputs, const std::string& out) {
  PrepareOptions o;
  o.inputs = std::move(inputs);
  o.out_dir = TestPath(out);
  o.tokenizer_path = TokenizerPath();
  o.format = InputFormat::kJsonl;
  o.shard_bytes = 2 * 97;  // many shards
  o.batch_bytes = 500;     // many batches
  o.eval_fraction = 0.2;
  return o;
}

std::string Bytes(const std::string& path) {
  auto s = io::ReadFileToString(path);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *s : "";
}

TEST(Prepare, SameBytesForAnyThreadCountAndDecodesBack) {
  const Tokenizer tok = LoadTokenizer();
  const std::string a = JsonlInput("a.jsonl", 150), b = JsonlInput("b.jsonl", 90);
  std::vector<std::string> outs;
  for (int threads : {1, 2, 4}) {
    PrepareOptions o = Options({a, b}, absl::StrCat("threads", threads));
    o.threads = threads;
    auto r = Prepare(tok, o);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->train.documents + r->eval.documents, 240);
    EXPECT_GT(r->eval.documents, 20);
    EXPECT_LT(r->eval.documents, 80);
    EXPECT_EQ(r->eos_token, "<|endoftext|>");
    outs.push_back(o.out_dir);
  }
  for (const char* split : {"train", "eval"}) {
    auto ds = PreparedDataset::Open(absl::StrCat(outs[0], "/", split));
    ASSERT_TRUE(ds.ok()) << ds.status();
    ASSERT_GT((*ds)->num_shards(), 3);
    EXPECT_TRUE((*ds)->VerifyChecksums().ok());
    for (size_t k = 1; k < outs.size(); ++k) {
      EXPECT_EQ(Bytes(absl::StrCat(outs[0], "/", split, "/index.hds")),
                Bytes(absl::StrCat(outs[k], "/", split, "/index.hds")));
      for (int64_t s = 0; s < (*ds)->num_shards(); ++s) {
        EXPECT_EQ(Bytes((*ds)->ShardPath(s)),
                  Bytes(absl::StrCat(outs[k], "/", split, "/", ShardFileName(s))));
      }
    }
  }
  // Train + eval documents, in order, are the inputs' texts, each + EOS.
  auto train = PreparedDataset::Open(outs[0] + "/train");
  auto eval = PreparedDataset::Open(outs[0] + "/eval");
  ASSERT_TRUE(train.ok() && eval.ok());
  int64_t ti = 0, ei = 0;
  for (int d = 0; d < 240; ++d) {
    const std::string want = Text(d < 150 ? d : d - 150) + "<|endoftext|>";
    // The document is in whichever split holds the next unseen one that matches.
    bool found = false;
    for (auto* pair : {&ti, &ei}) {
      const PreparedDataset& ds = pair == &ti ? **train : **eval;
      if (*pair >= ds.num_docs()) continue;
      std::vector<uint32_t> ids;
      for (int64_t i = ds.DocStart(*pair); i < ds.DocStart(*pair + 1); ++i) {
        ids.push_back(ds.Token(i));
      }
      EXPECT_EQ(ids.back(), ds.eos_id());
      auto text = tok.Decode(ids);
      ASSERT_TRUE(text.ok());
      if (*text == want) {
        ++*pair;
        found = true;
        break;
      }
    }
    EXPECT_TRUE(found) << "document " << d << ": " << want;
  }
  EXPECT_EQ(ti, (*train)->num_docs());
  EXPECT_EQ(ei, (*eval)->num_docs());
  EXPECT_TRUE(fs::exists(outs[0] + "/tokenizer.json"));
  EXPECT_TRUE(fs::exists(outs[0] + "/prepare.json"));
}

TEST(Prepare, BadJsonLinesNameFileAndLine) {
  const Tokenizer tok = LoadTokenizer();
  const std::string in = WriteRawFile(
      "bad.jsonl", "{\"text\": \"fine\"}\n{\"text\": \"broken\n{\"body\": \"x\"}\n"
                   "{\"text\": 7}\n\n{\"text\": \"\\u00e9t\\u00e9\"}\n[1]\n");
  PrepareOptions o = Options({in}, "bad_out");
  auto r = Prepare(tok, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad.jsonl:2: invalid JSON"), std::string::npos)
      << r.status();
  EXPECT_FALSE(fs::exists(o.out_dir));
  EXPECT_FALSE(fs::exists(absl::StrCat(o.out_dir, ".tmp.", ::getpid())));
  o.skip_bad = true;
  o.eval_fraction = 0;
  r = Prepare(tok, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->skipped_bad, 4);  // broken JSON, missing field, number, not an object
  EXPECT_EQ(r->train.documents, 2);
  EXPECT_FALSE(fs::exists(o.out_dir + "/eval"));
  // The missing field and the wrong type, each on its own.
  const std::string missing = WriteRawFile("missing.jsonl", "{\"text\": \"a\"}\n{\"body\": \"x\"}\n");
  r = Prepare(tok, Options({missing}, "missing_out"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("missing.jsonl:2: no field \"text\""), std::string::npos)
      << r.status();
  const std::string typed = WriteRawFile("typed.jsonl", "{\"text\": [\"a\"]}\n");
  r = Prepare(tok, Options({typed}, "typed_out"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("typed.jsonl:1: field \"text\" is array"),
            std::string::npos)
      << r.status();
  // JSON with invalid UTF-8 inside a string.
  const std::string latin = WriteRawFile("latin.jsonl", "{\"text\": \"caf\xe9\"}\n");
  r = Prepare(tok, Options({latin}, "latin_out"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("latin.jsonl:1:"), std::string::npos) << r.status();
}

TEST(Prepare, TextAndFortuneFormats) {
  const Tokenizer tok = LoadTokenizer();
  const std::string fortunes = WriteRawFile(
      "fortunes", "the quick fox\n\tjumps\n%\nover the lazy dog\n%\n%\ncafé\n");
  PrepareOptions o = Options({fortunes}, "fortune_out");
  o.format = InputFormat::kFortune;
  o.eval_fraction = 0;
  auto r = Prepare(tok, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->train.documents, 3);
  auto ds = PreparedDataset::Open(o.out_dir + "/train");
  ASSERT_TRUE(ds.ok());
  std::vector<uint32_t> ids;
  for (int64_t i = 0; i < (*ds)->DocStart(1); ++i) ids.push_back((*ds)->Token(i));
  EXPECT_EQ(*tok.Decode(ids), "the quick fox\n\tjumps<|endoftext|>");

  const std::string text = WriteRawFile("lines.txt", "one line\n\nsecond \xff line\r\n");
  o = Options({text}, "text_out");
  o.format = InputFormat::kText;
  o.eval_fraction = 0;
  r = Prepare(tok, o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->train.documents, 2);  // the empty line is no document
  o.out_dir = TestPath("text_utf8_out");
  o.require_utf8 = true;
  r = Prepare(tok, o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("lines.txt:3: not valid UTF-8"), std::string::npos)
      << r.status();
  o.skip_bad = true;
  r = Prepare(tok, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->skipped_bad, 1);
}

TEST(Prepare, RefusesAnExistingOutputAndBadOptions) {
  const Tokenizer tok = LoadTokenizer();
  PrepareOptions o = Options({JsonlInput("c.jsonl", 10)}, "exists");
  ASSERT_TRUE(io::CreateDirectories(o.out_dir).ok());
  EXPECT_EQ(Prepare(tok, o).status().code(), absl::StatusCode::kAlreadyExists);
  o.out_dir = TestPath("frac");
  o.eval_fraction = 1.0;
  EXPECT_NE(Prepare(tok, o).status().message().find("--eval-fraction"), std::string::npos);
  o.eval_fraction = 0;
  o.inputs = {TestPath("nope.jsonl")};
  EXPECT_NE(Prepare(tok, o).status().message().find("nope.jsonl"), std::string::npos);
}

TEST(Prepare, EosChoice) {
  const Tokenizer tok = LoadTokenizer();
  auto eos = ChooseEos(tok, "");
  ASSERT_TRUE(eos.ok());
  EXPECT_EQ(eos->token, "<|endoftext|>");
  EXPECT_EQ(eos->id, *tok.TokenId("<|endoftext|>"));
  EXPECT_FALSE(ChooseEos(tok, "<nope>").ok());
  // A tokenizer without special tokens needs --eos.
  std::vector<std::string_view> texts = {"abc abc abd"};
  BpeTrainOptions o;
  o.vocab_size = 260;
  auto plain = TrainBpe(texts, o);
  ASSERT_TRUE(plain.ok());
  auto none = ChooseEos(*plain, "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("--eos"), std::string::npos);
  auto given = ChooseEos(*plain, "a");
  ASSERT_TRUE(given.ok()) << given.status();
}

int Hai(std::vector<std::string> args) {
  args.insert(args.begin(), "hai");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return cli::RunMain(int(argv.size()), argv.data());
}

TEST(PrepareCli, PrepareInspectVerify) {
  const std::string a = JsonlInput("cli_a.jsonl", 60), b = JsonlInput("cli_b.jsonl", 40);
  const std::string out = TestPath("cli_out");
  ASSERT_EQ(Hai({"data", "prepare", "--tokenizer", TokenizerPath(), "--format", "jsonl", "--in",
                 a, b, "--out", out, "--shard-size", "1KB", "--threads", "2",
                 "--eval-fraction", "0.1"}),
            0);
  EXPECT_EQ(Hai({"data", "inspect", out, "--top", "5"}), 0);
  EXPECT_EQ(Hai({"data", "verify", out}), 0);
  EXPECT_EQ(Hai({"data", "verify", out + "/train"}), 0);
  // Same output again: exists.
  EXPECT_EQ(Hai({"data", "prepare", "--tokenizer", TokenizerPath(), "--in", a, "--out", out}), 1);
  EXPECT_EQ(Hai({"data", "prepare", "--in", a, "--out", out}), 2);  // no --tokenizer
  EXPECT_EQ(Hai({"data", "prepare", "--tokenizer", TokenizerPath(), "--in", a, "--out",
                 TestPath("x"), "--shard-size", "12XB"}),
            1);
  // A flipped payload byte: verify fails.
  const std::string shard = out + "/train/shard-00000.bin";
  std::string bytes = Bytes(shard);
  bytes[40] ^= 1;
  ASSERT_TRUE(io::WriteFileAtomically(shard, bytes).ok());
  EXPECT_EQ(Hai({"data", "verify", out}), 1);
  EXPECT_EQ(Hai({"data", "verify", TestPath("nothing_here")}), 1);
}

}  // namespace
}  // namespace hs::data::dataset
