// File: haiscale/io/safetensors_test.cc
//
// Tests for haiscale/io/safetensors.h: round trips (f32, bf16, f16, ints),
// bytes laid out by hand, sharded folders, and every corruption the reader
// must reject with an error naming the file (and tensor).
#include "haiscale/io/safetensors.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "haiscale/dtype.h"
#include "haiscale/io/atomic_file.h"

namespace hs::io {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir != nullptr ? dir : "/tmp") + "/" + name;
}

// A file image laid out by hand: 8-byte LE length, `header`, `data`.
std::string HandMade(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string F32Bytes(const std::vector<float>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()),
                     values.size() * sizeof(float));
}

// Open()'s error message for the file image `bytes`, written to disk as
// `name` ("OK" when it opens).
std::string OpenError(const std::string& name, const std::string& bytes) {
  const std::string path = TempPath(name);
  EXPECT_TRUE(WriteFileAtomically(path, bytes).ok());
  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open(path);
  return file.ok() ? "OK" : std::string(file.status().message());
}

TEST(SafetensorsTest, RoundTripF32AndIntsWithMetadata) {
  const std::vector<float> w = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  const std::vector<int64_t> ids = {-1, 0, int64_t{1} << 40};
  const std::vector<uint8_t> bytes = {1, 2, 3};
  const float scalar = 42.0f;
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.Add("w", SafetensorsDType::kF32, {2, 3}, w.data()).ok());
  ASSERT_TRUE(writer.Add("ids", SafetensorsDType::kI64, {3}, ids.data()).ok());
  ASSERT_TRUE(writer.Add("b", SafetensorsDType::kU8, {3}, bytes.data()).ok());
  ASSERT_TRUE(writer.Add("s", SafetensorsDType::kF32, {}, &scalar).ok());
  ASSERT_TRUE(writer.Add("e", SafetensorsDType::kF32, {0, 7}, nullptr).ok());
  const std::string path = TempPath("roundtrip.safetensors");
  ASSERT_TRUE(writer.Write(path, {{"format", "pt"}, {"step", "7"}}).ok());

  // The data region is 8-byte aligned and the header is sorted JSON.
  absl::StatusOr<std::string> image = ReadFileToString(path);
  ASSERT_TRUE(image.ok());
  uint64_t header_len = 0;
  std::memcpy(&header_len, image->data(), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  const std::string header = image->substr(8, header_len);
  EXPECT_LT(header.find("\"b\""), header.find("\"e\""));
  EXPECT_LT(header.find("\"s\""), header.find("\"w\""));
  EXPECT_EQ(*image, writer.Serialize({{"format", "pt"}, {"step", "7"}}));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> file =
      SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT((*file)->names(), ElementsAre("b", "e", "ids", "s", "w"));
  EXPECT_THAT((*file)->metadata(),
              testing::UnorderedElementsAre(testing::Pair("format", "pt"),
                                            testing::Pair("step", "7")));
  absl::StatusOr<TensorInfo> info = (*file)->Info("w");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->dtype, SafetensorsDType::kF32);
  EXPECT_THAT(info->shape, ElementsAre(2, 3));
  EXPECT_EQ(info->num_elements(), 6);
  std::vector<float> got(6);
  ASSERT_TRUE((*file)->ReadAsF32("w", got.data(), 6).ok());
  EXPECT_EQ(std::memcmp(got.data(), w.data(), 24), 0);  // bit-exact, -0 too

  absl::StatusOr<absl::Span<const uint8_t>> raw = (*file)->Raw("ids");
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 24u);
  EXPECT_EQ(std::memcmp(raw->data(), ids.data(), 24), 0);
  EXPECT_EQ((*file)->Info("s")->num_elements(), 1);
  float s = 0;
  ASSERT_TRUE((*file)->ReadAsF32("s", &s, 1).ok());
  EXPECT_EQ(s, 42.0f);
  EXPECT_EQ((*file)->Info("e")->num_elements(), 0);
  EXPECT_EQ((*file)->Raw("b")->size(), 3u);
}

TEST(SafetensorsTest, RoundTripBf16AndF16Conversion) {
  std::vector<float> w;
  for (int i = 0; i < 1000; ++i) w.push_back(std::sin(0.37f * i) * (1 + i));
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.AddF32("w_bf16", {10, 100}, w.data(),
                            SafetensorsDType::kBF16).ok());
  ASSERT_TRUE(writer.AddF32("w_f16", {1000}, w.data(),
                            SafetensorsDType::kF16).ok());
  ASSERT_TRUE(writer.AddF32("w_f32", {1000}, w.data()).ok());
  EXPECT_FALSE(writer.AddF32("w_bad", {1}, w.data(),
                             SafetensorsDType::kI32).ok());
  const std::string path = TempPath("bf16.safetensors");
  ASSERT_TRUE(writer.Write(path).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Info("w_bf16")->dtype, SafetensorsDType::kBF16);
  EXPECT_EQ((*file)->Info("w_bf16")->num_bytes(), 2000);
  std::vector<float> got(1000);
  ASSERT_TRUE((*file)->ReadAsF32("w_bf16", got.data(), 1000).ok());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(got[i], Bf16ToFloat(FloatToBf16(w[i]))) << i;
    ASSERT_NEAR(got[i], w[i], std::abs(w[i]) / 128) << i;
  }
  ASSERT_TRUE((*file)->ReadAsF32("w_f16", got.data(), 1000).ok());
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(got[i], F16ToF32(F32ToF16(w[i]))) << i;
    ASSERT_NEAR(got[i], w[i], std::abs(w[i]) / 1024) << i;
  }
}

// Slices read in any order (as parallel loaders do) give the whole tensor;
// releasing the mapped pages of what was read leaves later reads intact.
TEST(SafetensorsTest, SlicesAndReleasedPagesReadBack) {
  std::vector<float> w(300000);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::cos(0.01f * float(i)) * float(i % 97);
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.AddF32("a", {300, 1000}, w.data(), SafetensorsDType::kBF16).ok());
  ASSERT_TRUE(writer.AddF32("b", {300000}, w.data()).ok());
  const std::string path = TempPath("slices.safetensors");
  ASSERT_TRUE(writer.Write(path).ok());
  auto file = SafetensorsFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  for (const char* name : {"a", "b"}) {
    std::vector<float> whole(w.size()), sliced(w.size());
    ASSERT_TRUE((*file)->ReadAsF32(name, whole.data(), int64_t(w.size())).ok());
    const int64_t step = 70001;  // not a page or element-size multiple
    for (int64_t first = int64_t(w.size()) / step * step; first >= 0; first -= step) {
      const int64_t count = std::min<int64_t>(step, int64_t(w.size()) - first);
      ASSERT_TRUE((*file)->ReadSliceAsF32(name, first, count, sliced.data() + first).ok());
      (*file)->ReleasePages(name, first, count);
    }
    EXPECT_EQ(std::memcmp(whole.data(), sliced.data(), w.size() * sizeof(float)), 0) << name;
    // After every page was released, a read faults them in again.
    std::vector<float> again(w.size());
    ASSERT_TRUE((*file)->ReadAsF32(name, again.data(), int64_t(w.size())).ok());
    EXPECT_EQ(std::memcmp(whole.data(), again.data(), w.size() * sizeof(float)), 0) << name;
  }
  float out[2];
  EXPECT_THAT(std::string((*file)->ReadSliceAsF32("b", 299999, 2, out).message()),
              HasSubstr("elements [299999, 300001) of tensor 'b' are outside its 300000"));
}

TEST(SafetensorsTest, F16ConversionIsExact) {
  EXPECT_EQ(F16ToF32(0x3c00), 1.0f);
  EXPECT_EQ(F16ToF32(0xc000), -2.0f);
  EXPECT_EQ(F16ToF32(0x7bff), 65504.0f);
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(F16ToF32(0x03ff), std::ldexp(1023.0f, -24));
  EXPECT_EQ(F16ToF32(0x0400), std::ldexp(1.0f, -14));
  EXPECT_TRUE(std::isinf(F16ToF32(0x7c00)));
  EXPECT_TRUE(std::isnan(F16ToF32(0x7e00)));
  EXPECT_TRUE(std::signbit(F16ToF32(0x8000)));
  // Every finite half converts to f32 and back to the same bits.
  for (uint32_t bits = 0; bits < 0x10000; ++bits) {
    const float f = F16ToF32(static_cast<uint16_t>(bits));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(F16ToF32(F32ToF16(f))));
      continue;
    }
    ASSERT_EQ(F32ToF16(f), bits) << std::hex << bits;
  }
  // Rounding: ties to even, overflow to inf, underflow to 0.
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie -> even
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_EQ(F32ToF16(65519.0f), 0x7bff);
  EXPECT_EQ(F32ToF16(65520.0f), 0x7c00);
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(F32ToF16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(F32ToF16(-std::ldexp(1.0f, -30)), 0x8000);
}

TEST(SafetensorsTest, ReadsHandLaidOutBytes) {
  // Tensors stored out of name order, no padding, metadata last.
  const std::string header =
      R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},)"
      R"("a":{"dtype":"BF16","shape":[1,2],"data_offsets":[0,4]},)"
      R"("__metadata__":{"format":"pt"}})";
  // a = bf16 {1.0, -3.0} = 0x3f80, 0xc040; b = f32 {0.25, 8}.
  std::string data("\x80\x3f\x40\xc0", 4);
  data += F32Bytes({0.25f, 8.0f});
  const std::string image = HandMade(header, data);
  auto file = SafetensorsFile::FromBuffer(image, "hand.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_THAT((*file)->names(), ElementsAre("a", "b"));
  std::vector<float> a(2), b(2);
  ASSERT_TRUE((*file)->ReadAsF32("a", a.data(), 2).ok());
  ASSERT_TRUE((*file)->ReadAsF32("b", b.data(), 2).ok());
  EXPECT_THAT(a, ElementsAre(1.0f, -3.0f));
  EXPECT_THAT(b, ElementsAre(0.25f, 8.0f));
  EXPECT_EQ((*file)->metadata().at("format"), "pt");
  EXPECT_EQ(OpenError("hand.safetensors", image), "OK");
}

TEST(SafetensorsTest, CorruptionErrorsNameFileAndTensor) {
  const std::string good_header =
      R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string good = HandMade(good_header, F32Bytes({1, 2}));
  ASSERT_EQ(OpenError("good.safetensors", good), "OK");

  EXPECT_THAT(OpenError("tiny.safetensors", "abc"),
              HasSubstr("tiny.safetensors: truncated: 3 bytes"));
  EXPECT_THAT(OpenError("empty.safetensors", ""),
              HasSubstr("empty.safetensors: truncated: 0 bytes"));
  EXPECT_THAT(OpenError("cut.safetensors", good.substr(0, good.size() - 1)),
              HasSubstr("cut.safetensors: tensor 'w': data_offsets [0, 8] run "
                        "past the data region (7 bytes"));
  EXPECT_THAT(OpenError("cuthdr.safetensors", good.substr(0, 20)),
              HasSubstr("cuthdr.safetensors: header length 54 exceeds the "
                        "file size (20 bytes"));
  std::string huge = good;
  huge[7] = '\x7f';
  EXPECT_THAT(OpenError("huge.safetensors", huge),
              HasSubstr("huge.safetensors: header length"));
  EXPECT_THAT(OpenError("json.safetensors", HandMade("{\"w\": [", "")),
              HasSubstr("json.safetensors: header is not valid JSON"));
  EXPECT_THAT(OpenError("array.safetensors", HandMade("[1]", "")),
              HasSubstr("array.safetensors: header must be a JSON object"));
  EXPECT_THAT(
      OpenError("range.safetensors",
                HandMade(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("range.safetensors: tensor 'w': data_offsets [8, 16] run past"));
  EXPECT_THAT(
      OpenError("order.safetensors",
                HandMade(R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("order.safetensors: tensor 'w': \"data_offsets\" must be"));
  EXPECT_THAT(
      OpenError("dtype.safetensors",
                HandMade(R"({"w":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("dtype.safetensors: tensor 'w': unknown dtype \"F8_E4M3\""));
  EXPECT_THAT(
      OpenError("shape.safetensors",
                HandMade(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("shape.safetensors: tensor 'w': shape [3] of F32 needs 12 "
                "bytes but data_offsets [0, 8] span 8"));
  EXPECT_THAT(
      OpenError("negshape.safetensors",
                HandMade(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("negshape.safetensors: tensor 'w': shape entries must be"));
  EXPECT_THAT(
      OpenError("nodtype.safetensors",
                HandMade(R"({"w":{"shape":[2],"data_offsets":[0,8]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("nodtype.safetensors: tensor 'w': missing or non-string"));
  EXPECT_THAT(
      OpenError("overlap.safetensors",
                HandMade(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("overlap.safetensors: tensor 'b' (bytes [4, 8]) overlaps "
                "tensor 'a'"));
  EXPECT_THAT(
      OpenError("gap.safetensors",
                HandMade(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("gap.safetensors: bytes [0, 4) of the data region belong to "
                "no tensor (before tensor 'a')"));
  EXPECT_THAT(
      OpenError("tail.safetensors",
                HandMade(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                         F32Bytes({1, 2}))),
      HasSubstr("tail.safetensors: the data region has 8 bytes but the "
                "tensors cover only 4"));
  EXPECT_THAT(
      OpenError("meta.safetensors",
                HandMade(R"({"__metadata__":{"step":7}})", "")),
      HasSubstr("meta.safetensors: __metadata__.step: expected a string"));
  EXPECT_THAT(OpenError("entry.safetensors", HandMade(R"({"w":3})", "")),
              HasSubstr("entry.safetensors: tensor 'w': expected an object"));

  absl::StatusOr<std::unique_ptr<SafetensorsFile>> missing =
      SafetensorsFile::Open(TempPath("does_not_exist.safetensors"));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()),
              HasSubstr("does_not_exist.safetensors"));
}

TEST(SafetensorsTest, LookupErrorsNameFileAndTensor) {
  const std::vector<int32_t> ids = {1, 2};
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.Add("ids", SafetensorsDType::kI32, {2}, ids.data()).ok());
  auto file = SafetensorsFile::FromBuffer(writer.Serialize(), "x.safetensors");
  ASSERT_TRUE(file.ok()) << file.status();
  absl::StatusOr<TensorInfo> info = (*file)->Info("model.embed_tokens.weight");
  EXPECT_EQ(info.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(info.status().message()),
              HasSubstr("x.safetensors: no tensor named "
                        "'model.embed_tokens.weight'"));
  float out[3];
  EXPECT_THAT(std::string((*file)->ReadAsF32("ids", out, 2).message()),
              HasSubstr("x.safetensors: tensor 'ids' is I32, not a "
                        "floating-point type"));
  EXPECT_THAT(std::string((*file)->ReadAsF32("nope", out, 2).message()),
              HasSubstr("no tensor named 'nope'"));
  SafetensorsWriter floats;
  ASSERT_TRUE(floats.AddF32("w", {3}, out).ok());
  auto ffile = SafetensorsFile::FromBuffer(floats.Serialize(), "f.safetensors");
  ASSERT_TRUE(ffile.ok());
  EXPECT_THAT(std::string((*ffile)->ReadAsF32("w", out, 2).message()),
              HasSubstr("f.safetensors: tensor 'w' has 3 elements (shape [3]), "
                        "caller expects 2"));
}

TEST(SafetensorsTest, WriterRejectsBadTensors) {
  const float x = 1;
  SafetensorsWriter writer;
  ASSERT_TRUE(writer.Add("w", SafetensorsDType::kF32, {1}, &x).ok());
  EXPECT_EQ(writer.Add("w", SafetensorsDType::kF32, {1}, &x).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(writer.Add("__metadata__", SafetensorsDType::kF32, {1}, &x).ok());
  EXPECT_FALSE(writer.Add("", SafetensorsDType::kF32, {1}, &x).ok());
  EXPECT_FALSE(writer.Add("neg", SafetensorsDType::kF32, {-1}, &x).ok());
  EXPECT_FALSE(writer.Add("null", SafetensorsDType::kF32, {1}, nullptr).ok());
  EXPECT_EQ(writer.size(), 1u);
  absl::Status status = writer.Write("/nonexistent_hs_dir/m.safetensors");
  EXPECT_THAT(std::string(status.message()),
              HasSubstr("/nonexistent_hs_dir/m.safetensors"));
}

TEST(SafetensorsFolderTest, ShardedIndexAndSingleFile) {
  const std::string dir = TempPath("hf_model");
  ASSERT_TRUE(CreateDirectories(dir).ok());
  const std::vector<float> a = {1, 2, 3}, b = {4, 5};
  SafetensorsWriter shard1, shard2;
  ASSERT_TRUE(shard1.AddF32("model.embed_tokens.weight", {3}, a.data()).ok());
  ASSERT_TRUE(shard2.AddF32("lm_head.weight", {2}, b.data(),
                            SafetensorsDType::kBF16).ok());
  ASSERT_TRUE(shard1.Write(dir + "/model-00001-of-00002.safetensors").ok());
  ASSERT_TRUE(shard2.Write(dir + "/model-00002-of-00002.safetensors").ok());
  ASSERT_TRUE(WriteFileAtomically(
                  dir + "/model.safetensors.index.json",
                  R"({"metadata": {"total_size": 16}, "weight_map": {
                    "model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                    "lm_head.weight": "model-00002-of-00002.safetensors"}})")
                  .ok());
  auto folder = SafetensorsFolder::Open(dir);
  ASSERT_TRUE(folder.ok()) << folder.status();
  EXPECT_THAT((*folder)->names(),
              ElementsAre("lm_head.weight", "model.embed_tokens.weight"));
  std::vector<float> got(2);
  ASSERT_TRUE((*folder)->ReadAsF32("lm_head.weight", got.data(), 2).ok());
  EXPECT_THAT(got, ElementsAre(4.0f, 5.0f));
  EXPECT_EQ((*folder)->Info("model.embed_tokens.weight")->num_elements(), 3);
  EXPECT_THAT(std::string((*folder)->Info("x").status().message()),
              HasSubstr("hf_model: no tensor named 'x'"));
  EXPECT_THAT(std::string((*(*folder)->File("lm_head.weight"))->path()),
              HasSubstr("model-00002-of-00002.safetensors"));

  // An index that puts a tensor in the wrong shard is an error.
  ASSERT_TRUE(WriteFileAtomically(
                  dir + "/model.safetensors.index.json",
                  R"({"weight_map": {"lm_head.weight":
                      "model-00001-of-00002.safetensors"}})")
                  .ok());
  auto wrong = SafetensorsFolder::Open(dir);
  ASSERT_FALSE(wrong.ok());
  EXPECT_THAT(std::string(wrong.status().message()),
              HasSubstr("weight_map puts tensor 'lm_head.weight' in "
                        "model-00001-of-00002.safetensors, which does not hold it"));
  ASSERT_TRUE(WriteFileAtomically(dir + "/model.safetensors.index.json",
                                  R"({"weight_map": {"w": "../x.safetensors"}})")
                  .ok());
  EXPECT_THAT(std::string(SafetensorsFolder::Open(dir).status().message()),
              HasSubstr("must be a relative path inside the folder"));

  // Without an index, model.safetensors is used.
  const std::string single = TempPath("hf_single");
  ASSERT_TRUE(CreateDirectories(single).ok());
  EXPECT_EQ(SafetensorsFolder::Open(single).status().code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(shard1.Write(single + "/model.safetensors").ok());
  auto one = SafetensorsFolder::Open(single);
  ASSERT_TRUE(one.ok()) << one.status();
  EXPECT_THAT((*one)->names(), ElementsAre("model.embed_tokens.weight"));
}

}  // namespace
}  // namespace hs::io
