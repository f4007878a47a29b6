// File: data/tokenizer/tokenizer_bench_cli.cc
//
// `hai bench tokenizer`: training time and encode throughput of hai's BPE on
// the fortunes corpus, optionally against Hugging Face `tokenizers` in the
// same run (tools/peers/hf_tokenizers_peer.py, same tokenizer.json, same
// documents; the ids of both are checked to be identical).
//
//   hai bench tokenizer [--corpus /usr/share/games/fortunes] [--vocab 8192]
//       [--pre-tokenizer gpt2|deepseek] [--tokenizer T.json] [--threads N]
//       [--repeat 3] [--compare-hf] [--json]
//
// Documents are the entries of the fortune files (split on "%" lines, files
// in name order). Encode MB/s = corpus bytes / best-of-repeat wall time of
// EncodeBatch over all documents, with 1 thread and with --threads threads.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "data/tokenizer/bpe_trainer.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/cli/args.h"
#include "haiscale/cli/subcommand.h"
#include "haiscale/io/atomic_file.h"
#include "nlohmann/json.hpp"

namespace hs::data {
namespace {

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return 1;
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// FortuneDocuments(dir): the entries of every fortune file (a name without
// '.') in `dir`, in name order; an entry is the lines between "%" lines.
absl::StatusOr<std::vector<std::string>> FortuneDocuments(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "corpus directory ", dir, " not found (tools/setup.sh installs fortunes)"));
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    struct stat st;
    if (name.find('.') != std::string::npos) continue;
    if (stat((dir + "/" + name).c_str(), &st) == 0 && S_ISREG(st.st_mode)) names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<std::string> docs;
  for (const std::string& name : names) {
    absl::StatusOr<std::string> text = io::ReadFileToString(dir + "/" + name);
    if (!text.ok()) return text.status();
    std::string entry;
    size_t pos = 0;
    while (pos < text->size()) {
      size_t end = text->find('\n', pos);
      const bool has_newline = end != std::string::npos;
      if (!has_newline) end = text->size();
      const std::string_view line(text->data() + pos, end - pos);
      if (line == "%") {
        if (!entry.empty()) docs.push_back(std::move(entry));
        entry.clear();
      } else {
        entry.append(line);
        if (has_newline) entry.push_back('\n');
      }
      pos = has_newline ? end + 1 : end;
    }
    if (!entry.empty()) docs.push_back(std::move(entry));
  }
  if (docs.empty()) return absl::NotFoundError(absl::StrCat("no fortune files in ", dir));
  return docs;
}

std::string Checksum(const std::vector<std::vector<uint32_t>>& batches) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (const auto& ids : batches) {
    for (uint32_t id : ids) h = (h ^ id) * 0x100000001B3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", (unsigned long long)h);
  return buf;
}

struct EncodeResult {
  int threads = 0;
  double seconds = 0;
  int64_t tokens = 0;
  std::string checksum;
};

EncodeResult TimeEncode(const Tokenizer& tok, const std::vector<std::string_view>& docs,
                        int threads, int repeat) {
  EncodeResult r;
  r.threads = threads;
  r.seconds = 1e30;
  for (int i = 0; i < repeat; ++i) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::vector<uint32_t>> batches = tok.EncodeBatch(docs, threads);
    r.seconds = std::min(r.seconds, Seconds(start));
    if (i == 0) {
      for (const auto& ids : batches) r.tokens += int64_t(ids.size());
      r.checksum = Checksum(batches);
    }
  }
  return r;
}

// RunPeer: the `tokenizers` peer's JSON line, or an error naming the command.
absl::StatusOr<nlohmann::json> RunPeer(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return absl::InternalError(absl::StrCat("cannot run: ", cmd));
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  const int rc = pclose(p);
  nlohmann::json j = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (rc != 0 || j.is_discarded() || !j.is_object() || !j.contains("mb_per_s")) {
    return absl::InternalError(absl::StrCat(
        "tokenizers peer failed (exit ", rc, "): ", cmd,
        " (needs tools/setup.sh --peers)"));
  }
  return j;
}

int RunBenchTokenizer(int argc, char** argv) {
  cli::ArgParser parser("hai bench tokenizer");
  parser.AddString("corpus", "/usr/share/games/fortunes", "directory of fortune files");
  parser.AddInt("vocab", 8192, "vocabulary of the tokenizer trained for the benchmark");
  parser.AddString("pre-tokenizer", "gpt2", "gpt2 or deepseek");
  parser.AddString("tokenizer", "", "encode with this tokenizer.json instead of training one");
  parser.AddInt("threads", 0, "threads of the parallel runs (0: all cores)");
  parser.AddInt("repeat", 3, "timed encodes per configuration (the best counts)");
  parser.AddBool("compare-hf", "also run Hugging Face tokenizers on the same input");
  parser.AddString("python", "/opt/haiscale/peers-venv/bin/python3",
                   "python with PyPI tokenizers, for --compare-hf");
  parser.AddString("peer-script", "tools/peers/hf_tokenizers_peer.py",
                   "the tokenizers peer, for --compare-hf");
  parser.AddBool("json", "print one JSON line");
  if (int rc = parser.ParseOrExitCode(argc, argv); rc >= 0) return rc;
  const int threads = parser.GetInt("threads") > 0
                          ? int(parser.GetInt("threads"))
                          : int(std::max(1u, std::thread::hardware_concurrency()));
  const int repeat = int(std::max<int64_t>(1, parser.GetInt("repeat")));
  const std::string corpus = parser.GetString("corpus");
  const std::string style_name = parser.GetString("pre-tokenizer");
  absl::StatusOr<PreTokenizerStyle> style = ParsePreTokenizerStyle(style_name);
  if (!style.ok()) return Fail(style.status());

  absl::StatusOr<std::vector<std::string>> docs = FortuneDocuments(corpus);
  if (!docs.ok()) return Fail(docs.status());
  const std::vector<std::string_view> views(docs->begin(), docs->end());
  int64_t bytes = 0;
  for (const std::string& d : *docs) bytes += int64_t(d.size());

  // The tokenizer: given, or trained now (timed) and saved for the peer.
  std::string tokenizer_path = parser.GetString("tokenizer");
  double train_s = 0;
  std::optional<Tokenizer> tok;
  if (!tokenizer_path.empty()) {
    absl::StatusOr<Tokenizer> loaded = Tokenizer::LoadFile(tokenizer_path);
    if (!loaded.ok()) return Fail(loaded.status());
    tok.emplace(std::move(*loaded));
  } else {
    BpeTrainOptions options;
    options.vocab_size = int(parser.GetInt("vocab"));
    options.pre_tokenizer = *style;
    options.threads = threads;
    const auto start = std::chrono::steady_clock::now();
    absl::StatusOr<Tokenizer> trained = TrainBpe(views, options);
    train_s = Seconds(start);
    if (!trained.ok()) return Fail(trained.status());
    tok.emplace(std::move(*trained));
    tokenizer_path = absl::StrCat("/tmp/hai_bench_tokenizer.", getpid(), ".json");
    if (absl::Status s = tok->SaveFile(tokenizer_path); !s.ok()) return Fail(s);
  }

  std::vector<EncodeResult> hai = {TimeEncode(*tok, views, 1, repeat)};
  if (threads > 1) hai.push_back(TimeEncode(*tok, views, threads, repeat));

  std::vector<nlohmann::json> peer;
  std::string peer_error;
  if (parser.GetBool("compare-hf")) {
    for (const EncodeResult& r : hai) {
      std::string cmd = absl::StrCat(parser.GetString("python"), " ",
                                     parser.GetString("peer-script"), " --tokenizer ",
                                     tokenizer_path, " --corpus ", corpus, " --threads ",
                                     r.threads, " --repeat ", repeat);
      // The peer also trains once (all threads), when hai trained.
      if (train_s > 0 && r.threads == threads) {
        absl::StrAppend(&cmd, " --train-vocab ", parser.GetInt("vocab"), " --pre-tokenizer ",
                        style_name);
      }
      absl::StatusOr<nlohmann::json> j = RunPeer(cmd);
      if (!j.ok()) {
        peer_error = std::string(j.status().message());
        peer.clear();
        break;
      }
      peer.push_back(*j);
    }
  }
  if (parser.GetString("tokenizer").empty()) std::remove(tokenizer_path.c_str());

  const double mb = double(bytes) / 1e6;
  if (parser.GetBool("json")) {
    nlohmann::json out = {{"corpus", corpus}, {"documents", docs->size()}, {"bytes", bytes},
                          {"pre_tokenizer", style_name}, {"vocab", tok->vocab_size()},
                          {"train_s", train_s}};
    for (size_t i = 0; i < hai.size(); ++i) {
      nlohmann::json row = {{"threads", hai[i].threads}, {"mb_per_s", mb / hai[i].seconds},
                            {"tokens", hai[i].tokens}};
      if (i < peer.size()) {
        row["hf_mb_per_s"] = peer[i]["mb_per_s"];
        row["ids_identical"] = peer[i]["checksum"] == hai[i].checksum;
      }
      out["encode"].push_back(row);
    }
    if (!peer.empty()) out["hf_train_s"] = peer.back()["train_s"];
    if (!peer_error.empty()) out["hf_error"] = peer_error;
    std::printf("%s\n", out.dump().c_str());
    return peer_error.empty() ? 0 : 1;
  }
  std::printf("hai bench tokenizer | %s: %zu documents, %.2f MB | %s pre-tokenizer, vocab %d\n",
              corpus.c_str(), docs->size(), mb, style_name.c_str(), tok->vocab_size());
  if (train_s > 0) {
    std::printf("train  hai %.2f s (%d threads)", train_s, threads);
    if (!peer.empty()) {
      std::printf(" | tokenizers %.2f s | ratio %.2fx", peer.back()["train_s"].get<double>(),
                  peer.back()["train_s"].get<double>() / train_s);
    }
    std::printf("\n");
  }
  std::printf("%-7s | %-10s | %10s | %-10s | %10s | %5s\n", "threads", "impl", "MB/s", "tokens",
              "ratio", "ids");
  for (size_t i = 0; i < hai.size(); ++i) {
    const double hai_mbs = mb / hai[i].seconds;
    std::printf("%-7d | %-10s | %10.2f | %-10lld | %10s | %5s\n", hai[i].threads, "hai", hai_mbs,
                (long long)hai[i].tokens, "", "");
    if (i < peer.size()) {
      const double hf_mbs = peer[i]["mb_per_s"].get<double>();
      const bool same = peer[i]["checksum"] == hai[i].checksum;
      std::printf("%-7d | %-10s | %10.2f | %-10lld | %9.2fx | %5s\n", hai[i].threads,
                  "tokenizers", hf_mbs, (long long)peer[i]["tokens"].get<int64_t>(),
                  hai_mbs / hf_mbs, same ? "same" : "DIFF");
    }
  }
  if (!peer_error.empty()) return Fail(absl::InternalError(peer_error));
  return 0;
}

}  // namespace

HS_REGISTER_SUBCOMMAND("bench tokenizer",
                       "tokenizer training time and encode MB/s (vs HF tokenizers)",
                       RunBenchTokenizer);

}  // namespace hs::data
