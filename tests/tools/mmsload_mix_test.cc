// mmsload --mix: parsing and the spread of kinds over a run.

#include <gtest/gtest.h>

#include <array>

#include "mmsload/mix.h"

namespace mmsload {
namespace {

TEST(ParseMix, ReadsWeightsByKind) {
  std::string error;
  auto mix = ParseMix("sms=70,mms=20,intl=5,nomms=5", &error);
  ASSERT_TRUE(mix) << error;
  EXPECT_EQ(mix->weights, (std::array<int, kKinds>{70, 20, 5, 5}));
  EXPECT_TRUE(mix->carries_media());
  auto only_sms = ParseMix("sms=1", &error);
  ASSERT_TRUE(only_sms);
  EXPECT_FALSE(only_sms->carries_media());
}

TEST(ParseMix, RefusesWhatItCannotRead) {
  std::string error;
  EXPECT_FALSE(ParseMix("video=5", &error));
  EXPECT_NE(error.find("video=5"), std::string::npos) << error;
  EXPECT_FALSE(ParseMix("sms=-1", &error));
  EXPECT_FALSE(ParseMix("sms=ten", &error));
  EXPECT_FALSE(ParseMix("sms", &error));
  EXPECT_FALSE(ParseMix("sms=0,mms=0", &error));
  EXPECT_NE(error.find("zero"), std::string::npos) << error;
}

TEST(KindFor, EveryCycleHoldsExactlyTheWeightsAndKindsInterleave) {
  std::string error;
  const Mix mix = *ParseMix("sms=70,mms=20,intl=5,nomms=5", &error);
  for (int cycle = 0; cycle < 3; ++cycle) {
    std::array<int, kKinds> counts{};
    for (int i = 0; i < 100; ++i) ++counts[static_cast<int>(KindFor(mix, cycle * 100 + i))];
    EXPECT_EQ(counts, (std::array<int, kKinds>{70, 20, 5, 5})) << "cycle " << cycle;
  }
  // Not in blocks: the first ten messages are not all SMS.
  int sms_in_first_ten = 0;
  for (int i = 0; i < 10; ++i) sms_in_first_ten += KindFor(mix, i) == Kind::kSms;
  EXPECT_LT(sms_in_first_ten, 10);
  // The same index always has the same kind.
  EXPECT_EQ(KindFor(mix, 12345), KindFor(mix, 12345));
}

}  // namespace
}  // namespace mmsload
