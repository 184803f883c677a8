#include "mmsc/image_adapter.h"

#include <glib.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cmath>
#include <vips/vips8>

namespace mmsgate::mmsc {
namespace {

using vips::VImage;

absl::Status CannotFit(const std::string& why) { return absl::FailedPreconditionError(why); }

// libvips keeps process-wide state: started once, with its operation cache off (every image is
// different, and the cache would hold their pixels) and one worker per operation (the pool's
// threads are the concurrency).
bool StartVips() {
  static const bool started = [] {
    if (VIPS_INIT("mmsgate") != 0) return false;
    vips_cache_set_max(0);
    vips_concurrency_set(1);
    return true;
  }();
  return started;
}

struct Encoded {
  std::string content_type;
  std::string bytes;
};

// What an adapted image is saved as (see the header).
std::string OutputType(const std::string& input_type, bool has_alpha) {
  if (input_type == "image/jpeg" || !has_alpha) return "image/jpeg";
  return "image/png";
}

Encoded Encode(const VImage& image, const std::string& type, int quality) {
  void* buffer = nullptr;
  size_t length = 0;
  if (type == "image/jpeg") {
    VImage rgb =
        image.has_alpha()
            ? image.flatten(VImage::option()->set("background", std::vector<double>{255, 255, 255}))
            : image;
    rgb.write_to_buffer(
        ".jpg", &buffer, &length,
        VImage::option()->set("Q", quality)->set("strip", true)->set("optimize_coding", true));
  } else {
    // A palette keeps transparency at a fraction of the bytes; quality picks its dithering.
    image.write_to_buffer(".png", &buffer, &length,
                          VImage::option()
                              ->set("compression", 9)
                              ->set("strip", true)
                              ->set("palette", true)
                              ->set("Q", quality));
  }
  Encoded encoded{type, std::string(static_cast<const char*>(buffer), length)};
  g_free(buffer);
  return encoded;
}

// One image to at most `budget` bytes, or why not.
absl::StatusOr<Encoded> AdaptOne(const std::string& content_type, const std::string& data,
                                 int64_t budget) {
  try {
    // Reads the header only; pixels are decoded as the resize asks for them.
    VImage image = VImage::new_from_buffer(data.data(), data.size(), "");
    const int64_t pixels = int64_t{image.width()} * image.height();
    if (pixels > kMaxAdaptablePixels) {
      return CannotFit(
          "its " + std::to_string(image.width()) + "x" + std::to_string(image.height()) +
          " pixels are more than adaptation decodes (" + std::to_string(kMaxAdaptablePixels) + ")");
    }
    if (image.interpretation() != VIPS_INTERPRETATION_sRGB &&
        image.interpretation() != VIPS_INTERPRETATION_B_W) {
      image = image.colourspace(VIPS_INTERPRETATION_sRGB);  // CMYK, 16-bit, …: what phones show
    }
    const std::string type = OutputType(content_type, image.has_alpha());
    // Recompressing alone may do when the type stays; a new type is tried at full size first.
    double scale =
        type == content_type ? std::min(1.0, std::sqrt(double(budget) / double(data.size()))) : 1.0;
    int quality = 80;
    for (int attempt = 0; attempt < 16; ++attempt) {
      VImage scaled = scale < 1.0 ? image.resize(scale) : image;
      const int longer = std::max(scaled.width(), scaled.height());
      if (longer < kMinReadableSide) break;
      Encoded encoded = Encode(scaled, type, quality);
      if (static_cast<int64_t>(encoded.bytes.size()) <= budget) return encoded;
      // Close to the budget, a little less quality is the smaller loss; far from it, fewer
      // pixels: bytes fall roughly with the pixel count, so shrink by the square root of how far
      // over it is (a little more, so it converges).
      const double fits = double(budget) / double(encoded.bytes.size());
      if (fits > 0.8 && quality > 60) {
        quality -= 10;
      } else {
        scale *= std::clamp(std::sqrt(fits) * 0.97, 0.3, 0.97);
      }
    }
    return CannotFit("it does not fit " + std::to_string(budget) +
                     " bytes at a readable size (at least " + std::to_string(kMinReadableSide) +
                     " pixels on its longer side)");
  } catch (const vips::VError& error) {
    return CannotFit(std::string("it cannot be decoded as ") + content_type + ": " +
                     std::string(error.what()).substr(0, 200));
  }
}

}  // namespace

bool IsAdaptableImage(std::string_view content_type) {
  return content_type == "image/jpeg" || content_type == "image/png" || content_type == "image/gif";
}

absl::StatusOr<std::vector<MediaItem>> AdaptImages(const std::vector<MediaItem>& media,
                                                   int64_t max_total_bytes) {
  if (!StartVips()) return absl::InternalError("libvips did not start");
  int64_t images = 0, others = 0;
  for (const auto& item : media) {
    const auto size = static_cast<int64_t>(item.data ? item.data->size() : 0);
    (IsAdaptableImage(item.content_type) ? images : others) += size;
  }
  const int64_t room = max_total_bytes - others;
  if (images == 0) return CannotFit("none of its media is a JPEG, PNG or GIF image");
  if (room <= 0) {
    return CannotFit("its other media alone take " + std::to_string(others) + " of the " +
                     std::to_string(max_total_bytes) + " bytes");
  }
  std::vector<MediaItem> adapted;
  for (const auto& item : media) {
    const auto size = static_cast<int64_t>(item.data ? item.data->size() : 0);
    // Each image's share of the room, by its size.
    const auto budget = static_cast<int64_t>(double(room) * double(size) / double(images));
    if (!IsAdaptableImage(item.content_type) || size <= budget) {
      adapted.push_back(item);
      continue;
    }
    auto encoded = AdaptOne(item.content_type, *item.data, budget);
    if (!encoded.ok()) {
      return CannotFit("image " + std::to_string(adapted.size()) + " (" + item.content_type + ", " +
                       std::to_string(size) +
                       " bytes) was not adapted: " + std::string(encoded.status().message()));
    }
    adapted.push_back(
        {encoded->content_type, std::make_shared<const std::string>(std::move(encoded->bytes))});
  }
  return adapted;
}

ImageAdapter::ImageAdapter(int threads, int max_waiting)
    : max_waiting_(max_waiting), pool_(static_cast<std::size_t>(std::max(1, threads))) {}

ImageAdapter::~ImageAdapter() {
  pool_.stop();
  pool_.join();
}

bool ImageAdapter::Submit(std::function<void()> job) {
  int waiting = waiting_.load(std::memory_order_relaxed);
  do {
    if (waiting >= max_waiting_) return false;
  } while (!waiting_.compare_exchange_weak(waiting, waiting + 1, std::memory_order_relaxed));
  boost::asio::post(pool_, [this, job = std::move(job)] {
    job();
    waiting_.fetch_sub(1, std::memory_order_relaxed);
  });
  return true;
}

}  // namespace mmsgate::mmsc
