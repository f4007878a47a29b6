// File: data/post/rows_file.cc — see rows_file.h.
#include "data/post/rows_file.h"

#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "data/dataset/crc32c.h"
#include "data/post/raw_bytes.h"
#include "haiscale/io/atomic_file.h"
#include "haiscale/status.h"

namespace hs::data::post {
namespace {

constexpr char kMagic[8] = {'H', 'A', 'I', 'P', 'O', 'S', 'T', 'R'};
constexpr uint32_t kVersion = 1;
constexpr int64_t kHeaderBytes = 64;

}  // namespace

const char* RowsKindName(RowsKind kind) { return kind == RowsKind::kDpo ? "DPO" : "SFT"; }

int64_t PostRows::trained_tokens() const {
  int64_t n = 0;
  for (int32_t t : targets) n += t >= 0;
  return n;
}

void PostRows::AddRow(const int32_t* tok, const int32_t* tgt, const int32_t* pos) {
  tokens.insert(tokens.end(), tok, tok + seq_len);
  targets.insert(targets.end(), tgt, tgt + seq_len);
  positions.insert(positions.end(), pos, pos + seq_len);
}

absl::Status WritePostRows(const std::string& dir, const PostRows& rows,
                           const std::string& summary) {
  HS_RETURN_IF_ERROR(io::CreateDirectories(dir));
  const int64_t rows_n = rows.num_rows(), S = rows.seq_len;
  std::string out;
  out.reserve(kHeaderBytes + rows_n * S * 12 + 4);
  out.append(kMagic, 8);
  PutRaw<uint32_t>(&out, kVersion);
  PutRaw<uint32_t>(&out, uint32_t(rows.kind));
  PutRaw<uint64_t>(&out, S);
  PutRaw<uint64_t>(&out, rows_n);
  PutRaw<uint64_t>(&out, rows.vocab_size);
  PutRaw<uint64_t>(&out, rows.num_examples);
  PutRaw<uint64_t>(&out, rows.trained_tokens());
  PutRaw<uint64_t>(&out, 0);
  for (int64_t r = 0; r < rows_n; ++r) {
    for (const std::vector<int32_t>* v : {&rows.tokens, &rows.targets, &rows.positions}) {
      out.append(reinterpret_cast<const char*>(v->data() + r * S), S * sizeof(int32_t));
    }
  }
  PutRaw<uint32_t>(&out, Crc32cExtend(0, out.data(), out.size()));
  HS_RETURN_IF_ERROR(io::WriteFileAtomically(absl::StrCat(dir, "/summary.txt"), summary));
  return io::WriteFileAtomically(absl::StrCat(dir, "/", kRowsFileName), out);
}

bool IsPostRowsDir(const std::string& path) {
  return io::IsDirectory(path) &&
         std::filesystem::is_regular_file(absl::StrCat(path, "/", kRowsFileName));
}

absl::StatusOr<PostRows> ReadPostRows(const std::string& dir) {
  const std::string file = absl::StrCat(dir, "/", kRowsFileName);
  HS_ASSIGN_OR_RETURN(std::string in, io::ReadFileToString(file));
  auto bad = [&](const std::string& what) {
    return absl::InvalidArgumentError(absl::StrCat(file, ": ", what));
  };
  if (int64_t(in.size()) < kHeaderBytes + 4 || std::memcmp(in.data(), kMagic, 8) != 0) {
    return bad("not a post-training rows file (hai data prepare-sft / prepare-dpo writes one)");
  }
  if (GetRaw<uint32_t>(in, 8) != kVersion) {
    return bad(absl::StrCat("version ", GetRaw<uint32_t>(in, 8), ", expected ", kVersion));
  }
  PostRows rows;
  const uint32_t kind = GetRaw<uint32_t>(in, 12);
  if (kind != uint32_t(RowsKind::kSft) && kind != uint32_t(RowsKind::kDpo)) {
    return bad(absl::StrCat("unknown kind ", kind));
  }
  rows.kind = RowsKind(kind);
  rows.seq_len = int64_t(GetRaw<uint64_t>(in, 16));
  const uint64_t n = GetRaw<uint64_t>(in, 24);
  rows.vocab_size = int64_t(GetRaw<uint64_t>(in, 32));
  rows.num_examples = int64_t(GetRaw<uint64_t>(in, 40));
  if (rows.seq_len <= 0 || rows.seq_len > (1 << 24) || n > (uint64_t(1) << 40) ||
      uint64_t(kHeaderBytes) + n * uint64_t(rows.seq_len) * 12 + 4 != in.size()) {
    return bad(absl::StrCat("size ", in.size(), " bytes does not match ", n, " rows of seq_len ",
                            rows.seq_len, " (truncated or corrupt)"));
  }
  const uint32_t crc = GetRaw<uint32_t>(in, int64_t(in.size()) - 4);
  if (Crc32cExtend(0, in.data(), in.size() - 4) != crc) {
    return bad("checksum mismatch (corrupt file)");
  }
  const int64_t S = rows.seq_len;
  rows.tokens.resize(n * S);
  rows.targets.resize(n * S);
  rows.positions.resize(n * S);
  for (uint64_t r = 0; r < n; ++r) {
    const char* p = in.data() + kHeaderBytes + r * S * 12;
    std::memcpy(rows.tokens.data() + r * S, p, S * 4);
    std::memcpy(rows.targets.data() + r * S, p + S * 4, S * 4);
    std::memcpy(rows.positions.data() + r * S, p + S * 8, S * 4);
  }
  for (int64_t i = 0; i < int64_t(n) * S; ++i) {
    if (rows.tokens[i] < 0 || rows.tokens[i] >= rows.vocab_size || rows.targets[i] < -1 ||
        rows.targets[i] >= rows.vocab_size || rows.positions[i] < 0) {
      return bad(absl::StrCat("row ", i / S, " position ", i % S, ": token ", rows.tokens[i],
                              ", target ", rows.targets[i], ", position ", rows.positions[i],
                              " out of range (vocab ", rows.vocab_size, ")"));
    }
  }
  if (rows.kind == RowsKind::kDpo && n % 2 != 0) return bad("a DPO file holds pairs of rows");
  return rows;
}

}  // namespace hs::data::post
