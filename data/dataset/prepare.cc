// File: data/dataset/prepare.cc — text documents into a prepared dataset,
// see prepare.h.
#include "data/dataset/prepare.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "data/dataset/writer.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"
#include "nlohmann/json.hpp"

namespace hs::data::dataset {
namespace {

namespace fs = std::filesystem;

// A document and where it came from (for error messages).
struct Doc {
  std::string text;
  int64_t line = 0;  // 1-based line of its first byte
};

// ValidUtf8(s): well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = uint8_t(s[i]);
    int n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + size_t(n) >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      const uint8_t cc = uint8_t(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += size_t(n) + 1;
  }
  return true;
}

// DocumentReader: the documents of one input file, in order.
class DocumentReader {
 public:
  static absl::StatusOr<std::unique_ptr<DocumentReader>> Open(const std::string& path,
                                                              const PrepareOptions& options) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return ErrnoToStatus(errno, absl::StrCat("input ", path));
    return std::unique_ptr<DocumentReader>(new DocumentReader(path, f, options));
  }
  ~DocumentReader() {
    std::free(buf_);
    std::fclose(file_);
  }

  // Next(doc): false at the end of the file. Bad lines fail, or with
  // skip_bad are counted in *skipped.
  absl::StatusOr<bool> Next(Doc* doc, int64_t* skipped) {
    while (true) {
      doc->text.clear();
      switch (options_.format) {
        case InputFormat::kText: {
          std::string_view line;
          if (!ReadLine(&line)) return false;
          doc->line = line_;
          doc->text.assign(line);
          break;
        }
        case InputFormat::kFortune: {
          std::string_view line;
          doc->line = 0;
          bool any = false;
          while (ReadLine(&line)) {
            any = true;
            if (line == "%") break;
            if (doc->line == 0) doc->line = line_;
            if (!doc->text.empty() || doc->line != line_) doc->text.push_back('\n');
            doc->text.append(line);
          }
          if (!any) return false;
          if (doc->line == 0) continue;  // "%%" or a leading "%": no entry
          break;
        }
        case InputFormat::kJsonl: {
          std::string_view line;
          if (!ReadLine(&line)) return false;
          doc->line = line_;
          if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
          absl::Status bad = ParseJsonLine(line, &doc->text);
          if (!bad.ok()) {
            if (!options_.skip_bad) return bad;
            ++*skipped;
            continue;
          }
          break;
        }
      }
      if (options_.require_utf8 && options_.format != InputFormat::kJsonl &&
          !ValidUtf8(doc->text)) {
        absl::Status bad = absl::InvalidArgumentError(
            absl::StrCat(path_, ":", doc->line, ": not valid UTF-8 (--require-utf8)"));
        if (!options_.skip_bad) return bad;
        ++*skipped;
        continue;
      }
      return true;
    }
  }

  int64_t position() const { return position_; }

 private:
  DocumentReader(std::string path, FILE* f, const PrepareOptions& options)
      : path_(std::move(path)), file_(f), options_(options) {}

  // ReadLine: the next line without its "\n" (and a "\r" before it).
  bool ReadLine(std::string_view* line) {
    const ssize_t n = ::getline(&buf_, &cap_, file_);
    if (n < 0) return false;
    position_ += n;
    ++line_;
    size_t len = size_t(n);
    if (len > 0 && buf_[len - 1] == '\n') --len;
    if (len > 0 && buf_[len - 1] == '\r') --len;
    *line = std::string_view(buf_, len);
    return true;
  }

  absl::Status ParseJsonLine(std::string_view line, std::string* text) const {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    const std::string where = absl::StrCat(path_, ":", line_, ": ");
    if (j.is_discarded()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "invalid JSON (or not UTF-8): ",
                       std::string(line.substr(0, 60)), line.size() > 60 ? "..." : ""));
    }
    if (!j.is_object()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "not a JSON object"));
    }
    auto it = j.find(options_.field);
    if (it == j.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, "no field \"", options_.field, "\" (--field)"));
    }
    if (!it->is_string()) {
      return absl::InvalidArgumentError(absl::StrCat(where, "field \"", options_.field,
                                                     "\" is ", it->type_name(), ", not a string"));
    }
    *text = it->get<std::string>();
    return absl::OkStatus();
  }

  std::string path_;
  FILE* file_;
  const PrepareOptions& options_;
  char* buf_ = nullptr;
  size_t cap_ = 0;
  int64_t line_ = 0;
  int64_t position_ = 0;
};

// InEval(seed, i, fraction): whether document i is held out.
bool InEval(uint64_t seed, uint64_t i, double fraction) {
  uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ull;  // SplitMix64
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return double(z >> 11) * 0x1.0p-53 < fraction;
}

absl::Status SyncDirectory(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoToStatus(errno, absl::StrCat("directory ", dir));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? absl::OkStatus() : ErrnoToStatus(err, absl::StrCat("fsync ", dir));
}

// Staging: the temporary output directory, removed unless committed.
class Staging {
 public:
  explicit Staging(std::string dir) : dir_(std::move(dir)) {}
  ~Staging() {
    if (!committed_) {
      std::error_code ec;
      fs::remove_all(dir_, ec);
    }
  }
  const std::string& dir() const { return dir_; }
  void set_committed() { committed_ = true; }

 private:
  std::string dir_;
  bool committed_ = false;
};

std::string ManifestJson(const PrepareOptions& o, const PrepareResult& r) {
  nlohmann::json j;
  j["inputs"] = o.inputs;
  j["format"] = o.format == InputFormat::kText    ? "text"
                : o.format == InputFormat::kJsonl ? "jsonl"
                                                  : "fortune";
  if (o.format == InputFormat::kJsonl) j["field"] = o.field;
  j["tokenizer"] = o.tokenizer_path;
  j["eos"] = {{"id", r.eos_id}, {"token", r.eos_token}, {"chosen", r.eos_reason}};
  j["eval_fraction"] = o.eval_fraction;
  j["split_seed"] = o.split_seed;
  j["shard_bytes"] = o.shard_bytes;
  j["train"] = {{"documents", r.train.documents}, {"tokens", r.train.tokens},
                {"shards", r.train.shards}};
  j["eval"] = {{"documents", r.eval.documents}, {"tokens", r.eval.tokens},
               {"shards", r.eval.shards}};
  j["skipped_bad_lines"] = r.skipped_bad;
  j["skipped_empty_documents"] = r.skipped_empty;
  j["input_bytes"] = r.bytes_read;
  return j.dump(2) + "\n";
}

}  // namespace

absl::StatusOr<InputFormat> ParseInputFormat(const std::string& name) {
  if (name == "text") return InputFormat::kText;
  if (name == "jsonl") return InputFormat::kJsonl;
  if (name == "fortune") return InputFormat::kFortune;
  return absl::InvalidArgumentError(
      absl::StrCat("--format: unknown input format \"", name, "\" (text, jsonl or fortune)"));
}

absl::StatusOr<EosChoice> ChooseEos(const Tokenizer& tokenizer, const std::string& requested) {
  if (!requested.empty()) {
    std::optional<uint32_t> id = tokenizer.TokenId(requested);
    if (!id) {
      return absl::InvalidArgumentError(
          absl::StrCat("--eos: \"", requested, "\" is not a token of the tokenizer"));
    }
    return EosChoice{*id, requested, "given with --eos"};
  }
  std::vector<const AddedToken*> specials;
  for (const AddedToken& t : tokenizer.added_tokens()) {
    if (t.special) specials.push_back(&t);
  }
  for (const char* name : {"<|endoftext|>", "<｜end▁of▁sentence｜>", "<|end_of_text|>", "</s>",
                           "<|eos|>", "<eos>"}) {
    for (const AddedToken* t : specials) {
      if (t->content == name) {
        return EosChoice{t->id, t->content,
                         "the tokenizer's end-of-text special token, found by name"};
      }
    }
  }
  if (specials.size() == 1) {
    return EosChoice{specials[0]->id, specials[0]->content,
                     "the tokenizer's only special token"};
  }
  std::vector<std::string> names;
  for (const AddedToken* t : specials) names.push_back(absl::StrCat("\"", t->content, "\""));
  return absl::InvalidArgumentError(absl::StrCat(
      "the tokenizer has no end-of-text special token to append to each document; pass --eos ",
      names.empty() ? "(it has no special tokens: train one with --special)"
                    : absl::StrCat("with one of ", absl::StrJoin(names, ", "))));
}

absl::StatusOr<PrepareResult> Prepare(const Tokenizer& tokenizer, const PrepareOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.inputs.empty()) return absl::InvalidArgumentError("--in: no input file");
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out: required");
  if (!(o.eval_fraction >= 0 && o.eval_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--eval-fraction: must be in [0, 1), got ", o.eval_fraction));
  }
  std::error_code ec;
  if (fs::exists(o.out_dir, ec)) {
    return absl::AlreadyExistsError(
        absl::StrCat("--out: ", o.out_dir, " already exists (remove it or choose another)"));
  }
  PrepareProgress progress;
  for (const std::string& in : o.inputs) {
    struct stat st;
    if (::stat(in.c_str(), &st) != 0) return ErrnoToStatus(errno, absl::StrCat("input ", in));
    if (!S_ISREG(st.st_mode)) {
      return absl::InvalidArgumentError(absl::StrCat("input ", in, ": not a regular file"));
    }
    progress.bytes_total += st.st_size;
  }
  PrepareResult result;
  HS_ASSIGN_OR_RETURN(EosChoice eos, ChooseEos(tokenizer, o.eos_token));
  result.eos_id = eos.id;
  result.eos_token = eos.token;
  result.eos_reason = eos.reason;

  const fs::path out = fs::path(o.out_dir).lexically_normal();
  Staging staging(absl::StrCat(out.string(), ".tmp.", ::getpid()));
  fs::remove_all(staging.dir(), ec);
  HS_RETURN_IF_ERROR(io::CreateDirectories(staging.dir()));
  const uint64_t vocab = uint64_t(tokenizer.vocab_size());
  HS_ASSIGN_OR_RETURN(auto train, DatasetWriter::Create(staging.dir() + "/train", vocab, eos.id,
                                                        o.shard_bytes));
  std::unique_ptr<DatasetWriter> eval;
  if (o.eval_fraction > 0) {
    HS_ASSIGN_OR_RETURN(eval, DatasetWriter::Create(staging.dir() + "/eval", vocab, eos.id,
                                                    o.shard_bytes));
  }

  std::vector<Doc> batch;
  int64_t batch_bytes = 0, done_bytes = 0, doc_index = 0;
  auto flush = [&]() -> absl::Status {
    std::vector<std::string_view> texts;
    texts.reserve(batch.size());
    for (const Doc& d : batch) texts.push_back(d.text);
    const std::vector<std::vector<uint32_t>> ids = tokenizer.EncodeBatch(texts, o.threads);
    for (size_t i = 0; i < batch.size(); ++i) {
      if (ids[i].empty()) {
        ++result.skipped_empty;
        continue;
      }
      const bool held_out = eval && InEval(o.split_seed, uint64_t(doc_index++), o.eval_fraction);
      HS_RETURN_IF_ERROR(held_out ? eval->AddDocument(ids[i]) : train->AddDocument(ids[i]));
    }
    batch.clear();
    batch_bytes = 0;
    return absl::OkStatus();
  };
  auto report = [&](int64_t bytes_read) {
    progress.bytes_read = bytes_read;
    progress.documents = train->num_docs() + (eval ? eval->num_docs() : 0);
    progress.tokens = train->num_tokens() + (eval ? eval->num_tokens() : 0);
    progress.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (o.on_progress) o.on_progress(progress);
  };
  for (const std::string& in : o.inputs) {
    HS_ASSIGN_OR_RETURN(auto reader, DocumentReader::Open(in, o));
    Doc doc;
    while (true) {
      HS_ASSIGN_OR_RETURN(bool more, reader->Next(&doc, &result.skipped_bad));
      if (!more) break;
      batch_bytes += int64_t(doc.text.size());
      batch.push_back(std::move(doc));
      doc = Doc();
      if (batch_bytes >= o.batch_bytes) {
        HS_RETURN_IF_ERROR(flush());
        report(done_bytes + reader->position());
      }
    }
    done_bytes += reader->position();
  }
  HS_RETURN_IF_ERROR(flush());
  report(done_bytes);
  result.bytes_read = done_bytes;
  if (train->num_docs() == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no training document in ", absl::StrJoin(o.inputs, ", "),
        result.skipped_bad ? absl::StrCat(" (", result.skipped_bad, " bad lines skipped)") : ""));
  }
  HS_RETURN_IF_ERROR(train->Finish());
  result.train = {train->num_docs(), train->num_tokens(), train->num_shards()};
  if (eval) {
    if (eval->num_docs() > 0) {
      HS_RETURN_IF_ERROR(eval->Finish());
      result.eval = {eval->num_docs(), eval->num_tokens(), eval->num_shards()};
    } else {
      fs::remove_all(eval->dir(), ec);
    }
  }
  HS_ASSIGN_OR_RETURN(std::string tokenizer_json, io::ReadFileToString(o.tokenizer_path));
  HS_RETURN_IF_ERROR(
      io::WriteFileAtomically(staging.dir() + "/tokenizer.json", tokenizer_json));
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  HS_RETURN_IF_ERROR(
      io::WriteFileAtomically(staging.dir() + "/prepare.json", ManifestJson(o, result)));
  if (::rename(staging.dir().c_str(), out.c_str()) != 0) {
    return ErrnoToStatus(errno, absl::StrCat("--out: rename ", staging.dir(), " to ", out.string()));
  }
  staging.set_committed();
  const fs::path parent = out.has_parent_path() ? out.parent_path() : fs::path(".");
  HS_RETURN_IF_ERROR(SyncDirectory(parent.string()));
  return result;
}

}  // namespace hs::data::dataset
