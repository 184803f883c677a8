// Image adaptation with libvips: what comes out fits, decodes, keeps its aspect ratio and (for
// transparency) its alpha; what cannot fit says why; the pool refuses beyond its bound.

#include "mmsc/image_adapter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>

#include "fakes/test_images.h"

namespace mmsgate::mmsc {
namespace {

using testing::Decode;
using ::testing::HasSubstr;
using testing::JpegOfAbout;
using testing::NoiseImage;
using testing::SaveImage;

std::shared_ptr<const std::string> Shared(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

TEST(ImageAdapterTest, A14MbJpegComesOutAJpegUnder1MbWithItsAspectRatio) {
  const std::string original = JpegOfAbout(1'400'000);
  const auto before = Decode(original);
  ASSERT_TRUE(before.has_value());
  auto adapted = AdaptImages({{"image/jpeg", Shared(original)}}, 1'000'000);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  ASSERT_EQ(adapted->size(), 1u);
  const auto& item = (*adapted)[0];
  EXPECT_EQ(item.content_type, "image/jpeg");
  EXPECT_LE(item.data->size(), 1'000'000u);
  const auto after = Decode(*item.data);
  ASSERT_TRUE(after.has_value()) << "the adapted bytes decode";
  EXPECT_EQ(after->loader, "jpegload_buffer");
  EXPECT_LT(after->width, before->width);
  EXPECT_NEAR(double(after->width) / after->height, double(before->width) / before->height, 0.01);
  EXPECT_GE(std::max(after->width, after->height), kMinReadableSide);
}

TEST(ImageAdapterTest, TransparencyStaysAPngAndAnOpaquePngOrGifBecomesAJpeg) {
  const std::string with_alpha = SaveImage(NoiseImage(900, 600, /*alpha=*/true), ".png");
  const std::string opaque = SaveImage(NoiseImage(900, 600), ".png");
  const std::string gif = SaveImage(NoiseImage(600, 400), ".gif");
  for (const auto& [type, bytes, want_type, want_bands] :
       {std::tuple{"image/png", with_alpha, "image/png", 4},
        std::tuple{"image/png", opaque, "image/jpeg", 3},
        std::tuple{"image/gif", gif, "image/jpeg", 3}}) {
    const int64_t limit = static_cast<int64_t>(bytes.size() / 4);
    auto adapted = AdaptImages({{type, Shared(bytes)}}, limit);
    ASSERT_TRUE(adapted.ok()) << type << ": " << adapted.status();
    const auto& item = (*adapted)[0];
    EXPECT_EQ(item.content_type, want_type) << type;
    EXPECT_LE(static_cast<int64_t>(item.data->size()), limit) << type;
    const auto decoded = Decode(*item.data);
    ASSERT_TRUE(decoded.has_value()) << type;
    EXPECT_EQ(decoded->bands, want_bands) << type;
  }
}

TEST(ImageAdapterTest, OtherMediaAreKeptAndCountAgainstTheLimitFirst) {
  const std::string jpeg = JpegOfAbout(600'000);
  const auto vcard = Shared("BEGIN:VCARD\r\nFN:Someone\r\nEND:VCARD\r\n");
  auto adapted = AdaptImages({{"text/vcard", vcard}, {"image/jpeg", Shared(jpeg)}}, 300'000);
  ASSERT_TRUE(adapted.ok()) << adapted.status();
  EXPECT_EQ((*adapted)[0].data, vcard) << "the vCard is the same bytes";
  EXPECT_LE((*adapted)[0].data->size() + (*adapted)[1].data->size(), 300'000u);
}

TEST(ImageAdapterTest, WhatCannotFitSaysWhy) {
  const auto jpeg = Shared(JpegOfAbout(500'000));
  // Too small for a readable image.
  auto tiny = AdaptImages({{"image/jpeg", jpeg}}, 800);
  EXPECT_EQ(tiny.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(tiny.status().message(), HasSubstr("readable size"));
  // Not an image at all, and an "image" that does not decode.
  auto video = AdaptImages({{"video/mp4", Shared(std::string(200'000, 'v'))}}, 100'000);
  EXPECT_THAT(video.status().message(), HasSubstr("none of its media"));
  auto broken = AdaptImages({{"image/jpeg", Shared(std::string(200'000, 'x'))}}, 100'000);
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(broken.status().message(), HasSubstr("cannot be decoded"));
}

TEST(ImageAdapterTest, ThePoolRefusesBeyondItsBound) {
  ImageAdapter adapter(1, 2);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  EXPECT_TRUE(adapter.Submit([&] {
    released.wait();
    ++ran;
  }));
  EXPECT_TRUE(adapter.Submit([&] { ++ran; }));
  EXPECT_FALSE(adapter.Submit([&] { ++ran; })) << "two are waiting or running already";
  release.set_value();
  while (adapter.waiting() > 0) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 2);
  EXPECT_TRUE(adapter.Submit([&] { ++ran; }));
}

}  // namespace
}  // namespace mmsgate::mmsc
