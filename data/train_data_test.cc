// File: data/train_data_test.cc — OpenTrainData / OpenEvalData: sources from
// the config, errors naming the field, the mixture summary and the
// document-mask requirement.
#include "data/train_data.h"

#include <string>
#include <vector>

#include "data/dataset/writer.h"
#include "data/test_util.h"
#include "gtest/gtest.h"

namespace hs::data {
namespace {

using testing::Ramp;
using testing::TestPath;
using testing::WriteTestTokens;

std::string Prepared(const std::string& name) {
  const std::string dir = TestPath(name);
  auto w = dataset::DatasetWriter::Create(dir, 512, 511, 1 << 16);
  EXPECT_TRUE(w.ok());
  for (int d = 0; d < 50; ++d) {
    std::vector<uint32_t> ids(size_t(d % 9 + 3), uint32_t(d));
    EXPECT_TRUE((*w)->AddDocument(ids).ok());
  }
  EXPECT_TRUE((*w)->Finish().ok());
  return dir;
}

TEST(TrainData, MixtureOfFlatAndPrepared) {
  config::DataConfig data;
  auto* a = data.add_mixture();
  a->set_path(WriteTestTokens("flat.u32", Ramp(400)));
  a->set_weight(3);
  auto* b = data.add_mixture();
  b->set_path(Prepared("prep"));
  b->set_weight(1);
  auto train = OpenTrainData(data, 8, 4, 1, 512);
  ASSERT_TRUE(train.ok()) << train.status();
  EXPECT_EQ(train->files.size(), 2u);
  EXPECT_EQ(train->sampler->num_sources(), 2);
  EXPECT_NE(train->summary.find("3072/4096 = 75.00%"), std::string::npos) << train->summary;
  EXPECT_NE(train->summary.find("prepared dataset, 50 documents"), std::string::npos);
  const std::string realised = RealisedMixture(*train->sampler, {"a", "b"}, 1024);
  EXPECT_NE(realised.find("a 75.00% (3072 samples)"), std::string::npos) << realised;
  // The flat source has no documents: the mask is refused, naming it.
  data.set_document_mask(true);
  auto masked = OpenTrainData(data, 8, 4, 1, 512);
  ASSERT_FALSE(masked.ok());
  EXPECT_NE(masked.status().message().find("flat.u32"), std::string::npos) << masked.status();
}

TEST(TrainData, ErrorsNameTheField) {
  config::DataConfig data;
  EXPECT_NE(OpenTrainData(data, 8, 4, 1, 512).status().message().find("data.train_path"),
            std::string::npos);
  data.add_mixture()->set_path(TestPath("missing"));
  data.mutable_mixture(0)->set_weight(1);
  auto r = OpenTrainData(data, 8, 4, 1, 512);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("data.mixture[0].path"), std::string::npos) << r.status();
  // A prepared dataset whose tokenizer is larger than the model's vocabulary.
  config::DataConfig big;
  big.set_train_path(Prepared("vocab"));
  r = OpenTrainData(big, 8, 4, 1, 256);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("512 ids"), std::string::npos) << r.status();
}

TEST(TrainData, EvalWithDocumentMask) {
  config::DataConfig data;
  data.set_eval_path(Prepared("eval"));
  data.set_document_mask(true);
  auto eval = OpenEvalData(data, 8, 0, 512);
  ASSERT_TRUE(eval.ok()) << eval.status();
  EXPECT_TRUE(eval->document_mask);
  data.set_eval_path(WriteTestTokens("eval.u32", Ramp(100)));
  EXPECT_FALSE(OpenEvalData(data, 8, 0, 512).ok());
}

}  // namespace
}  // namespace hs::data
