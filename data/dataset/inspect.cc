// File: data/dataset/inspect.cc — prepared-dataset summaries, see inspect.h.
#include "data/dataset/inspect.h"

#include <algorithm>
#include <bit>
#include <filesystem>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "data/tokenizer/tokenizer.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data::dataset {
namespace {

namespace fs = std::filesystem;

// Printable(bytes): a token's bytes quoted and escaped.
std::string Printable(const std::string& bytes) { return "\"" + EscapeBytes(bytes) + "\""; }

}  // namespace

std::string EscapeBytes(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c >= 32 && c < 127) {
      out += char(c);
    } else {
      out += absl::StrFormat("\\x%02x", c);
    }
  }
  return out;
}

namespace {

std::string SplitReport(const std::string& name, const PreparedDataset& ds, int64_t top,
                        const Tokenizer* tok) {
  std::string out;
  const IndexHeader& h = ds.header();
  const double avg = ds.num_docs() ? double(ds.num_tokens()) / double(ds.num_docs()) : 0;
  absl::StrAppend(&out, name, "  ", ds.dir(), "\n");
  absl::StrAppend(&out, absl::StrFormat("  documents  %d\n  tokens     %d (%.1f per document)\n",
                                        ds.num_docs(), ds.num_tokens(), avg));
  absl::StrAppend(&out, absl::StrFormat("  storage    %d shard(s), uint%d ids, vocab %d, eos id %d",
                                        ds.num_shards(), 8 * h.token_bytes, h.vocab_size,
                                        h.eos_id));
  if (tok) absl::StrAppend(&out, " ", Printable(tok->TokenBytes(h.eos_id)));
  absl::StrAppend(&out, "\n  document lengths (tokens, EOS included):\n");
  const std::vector<int64_t> hist = LengthHistogram(ds);
  const int64_t most = hist.empty() ? 0 : *std::max_element(hist.begin(), hist.end());
  for (size_t b = 0; b < hist.size(); ++b) {
    if (hist[b] == 0) continue;
    const int bar = most ? int(40 * hist[b] / most) : 0;
    absl::StrAppend(&out, absl::StrFormat("    %8d-%-8d %9d  %s\n", int64_t(1) << b,
                                          (int64_t(1) << (b + 1)) - 1, hist[b],
                                          std::string(size_t(std::max(bar, 1)), '#')));
  }
  absl::StrAppend(&out, "  top tokens:\n");
  for (const auto& [id, count] : TopTokens(ds, top)) {
    absl::StrAppend(&out, absl::StrFormat("    %8d %6.2f%%  %s\n", id,
                                          100.0 * double(count) / double(ds.num_tokens()),
                                          tok ? Printable(tok->TokenBytes(id)) : "(no tokenizer)"));
  }
  return out;
}

}  // namespace

std::vector<int64_t> LengthHistogram(const PreparedDataset& ds) {
  std::vector<int64_t> hist(64, 0);
  for (int64_t d = 0; d < ds.num_docs(); ++d) {
    const uint64_t len = uint64_t(ds.DocStart(d + 1) - ds.DocStart(d));
    ++hist[size_t(std::bit_width(len) - 1)];
  }
  while (!hist.empty() && hist.back() == 0) hist.pop_back();
  return hist;
}

std::vector<std::pair<uint32_t, int64_t>> TopTokens(const PreparedDataset& ds, int64_t k) {
  std::vector<int64_t> counts(size_t(ds.vocab_size()), 0);
  for (int64_t i = 0; i < ds.num_tokens(); ++i) {
    const uint32_t id = ds.Token(i);
    if (id < counts.size()) ++counts[id];
  }
  std::vector<std::pair<uint32_t, int64_t>> top;
  for (size_t id = 0; id < counts.size(); ++id) {
    if (counts[id] > 0) top.push_back({uint32_t(id), counts[id]});
  }
  const size_t keep = std::min(top.size(), size_t(std::max<int64_t>(k, 0)));
  std::partial_sort(top.begin(), top.begin() + keep, top.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  top.resize(keep);
  return top;
}

absl::StatusOr<std::string> InspectReport(const std::string& dir, int64_t top,
                                          const std::string& tokenizer_path) {
  std::vector<std::pair<std::string, std::string>> splits;  // name, dir
  if (PreparedDataset::IsPreparedDataset(dir)) {
    splits.push_back({"split", dir});
  } else {
    for (const char* name : {"train", "eval"}) {
      const std::string sub = (fs::path(dir) / name).string();
      if (io::IsDirectory(sub)) splits.push_back({name, sub});
    }
  }
  if (splits.empty()) {
    // Open reports why (no index: not a dataset or an interrupted prepare).
    HS_RETURN_IF_ERROR(PreparedDataset::Open(dir).status());
  }
  std::string tok_path = tokenizer_path;
  if (tok_path.empty()) {
    for (const fs::path& p : {fs::path(dir) / "tokenizer.json",
                              fs::path(dir).lexically_normal().parent_path() / "tokenizer.json"}) {
      std::error_code ec;
      if (fs::is_regular_file(p, ec)) {
        tok_path = p.string();
        break;
      }
    }
  }
  std::optional<Tokenizer> tok;
  if (!tok_path.empty()) {
    auto loaded = Tokenizer::LoadFile(tok_path);
    if (!loaded.ok()) return Annotate(loaded.status(), "--tokenizer");
    tok.emplace(std::move(*loaded));
  }
  std::string out;
  if (!tok_path.empty()) absl::StrAppend(&out, "tokenizer  ", tok_path, "\n");
  for (const auto& [name, sub] : splits) {
    HS_ASSIGN_OR_RETURN(auto ds, PreparedDataset::Open(sub));
    if (tok && uint64_t(tok->vocab_size()) != ds->vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tokenizer ", tok_path, " has ", tok->vocab_size(), " ids but ", sub, " was prepared with ",
          ds->vocab_size()));
    }
    absl::StrAppend(&out, SplitReport(name, *ds, top, tok ? &*tok : nullptr));
  }
  return out;
}

}  // namespace hs::data::dataset
