#pragma once
// Real images for tests, made and read with libvips: a photo-like JPEG of about a given size
// (noise, so it does not compress away), a PNG with or without transparency, a GIF; and what a
// phone would do with bytes it received: decode them.

#include <glib.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vips/vips8>

namespace mmsgate::testing {

inline void StartVipsForTests() {
  static const bool started = VIPS_INIT("mmsgate-tests") == 0;
  (void)started;
}

inline std::string SaveImage(const vips::VImage& image, const char* suffix,
                             vips::VOption* options = nullptr) {
  void* buffer = nullptr;
  size_t length = 0;
  image.write_to_buffer(suffix, &buffer, &length, options);
  std::string bytes(static_cast<const char*>(buffer), length);
  g_free(buffer);
  return bytes;
}

// width x height of three bands of Gaussian noise around mid-grey, with an alpha band when asked.
inline vips::VImage NoiseImage(int width, int height, bool alpha = false) {
  StartVipsForTests();
  auto band = [&](int seed) {
    return vips::VImage::gaussnoise(
        width, height,
        vips::VImage::option()->set("mean", 128.0)->set("sigma", 40.0)->set("seed", seed));
  };
  vips::VImage image = band(1).bandjoin(band(2)).bandjoin(band(3));
  if (alpha) image = image.bandjoin(band(4));
  return image.cast(VIPS_FORMAT_UCHAR)
      .copy(vips::VImage::option()->set("interpretation", VIPS_INTERPRETATION_sRGB));
}

// A 4:3 JPEG within 3% of `bytes`.
inline std::string JpegOfAbout(int64_t bytes) {
  double width = 1200;
  std::string jpeg;
  for (int attempt = 0; attempt < 8; ++attempt) {
    const int w = static_cast<int>(width);
    jpeg = SaveImage(NoiseImage(w, w * 3 / 4), ".jpg", vips::VImage::option()->set("Q", 90));
    const double ratio = double(bytes) / double(jpeg.size());
    if (std::abs(ratio - 1.0) < 0.03) break;
    width *= std::sqrt(ratio);
  }
  return jpeg;
}

struct DecodedImage {
  int width = 0;
  int height = 0;
  int bands = 0;
  std::string loader;  // "jpegload_buffer", "pngload_buffer", …
};

// What a phone sees in `bytes`, or nothing when they do not decode.
inline std::optional<DecodedImage> Decode(const std::string& bytes) {
  StartVipsForTests();
  try {
    vips::VImage image = vips::VImage::new_from_buffer(bytes.data(), bytes.size(), "");
    // Decode every pixel: a truncated file fails here, not at the header.
    (void)image.avg();
    const char* loader = nullptr;
    if (vips_image_get_string(image.get_image(), "vips-loader", &loader) != 0) loader = "";
    return DecodedImage{image.width(), image.height(), image.bands(), loader};
  } catch (const vips::VError&) {
    return std::nullopt;
  }
}

}  // namespace mmsgate::testing
