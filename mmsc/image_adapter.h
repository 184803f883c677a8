#pragma once
// Image content adaptation, as the provider and real MMSCs do it: an image MMS over the
// destination carrier's size limit is scaled down and recompressed until it fits, aspect ratio
// kept, so it still goes out as MMS. Decoding and encoding are libvips's; nothing here touches
// pixels itself.
//
// What comes out: a JPEG stays a JPEG; a PNG or GIF without transparency becomes a JPEG (photos
// and screenshots shrink best so); one with transparency stays PNG (palette) so it keeps it.
// An animated GIF keeps its first frame. An image that would have to shrink below
// kMinReadableSide pixels on its longer side, or is not a decodable JPEG/PNG/GIF, is not adapted
// (the message then falls back to SMS + link).
//
// Threading rule: AdaptImages is CPU-heavy and blocking: run it on ImageAdapter's pool, never on
// the io_context or the storage executor.

#include <atomic>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace mmsgate::mmsc {

// Smallest longer side an adapted image may have and still be worth looking at.
inline constexpr int kMinReadableSide = 96;
// Larger images are not decoded at all (a decompression bomb costs RAM before it costs bytes).
inline constexpr int64_t kMaxAdaptablePixels = int64_t{64} * 1000 * 1000;

// True for the types adaptation handles: image/jpeg, image/png, image/gif.
[[nodiscard]] bool IsAdaptableImage(std::string_view content_type);

struct MediaItem {
  std::string content_type;
  std::shared_ptr<const std::string> data;
};

// Makes `media` fit `max_total_bytes` in all by adapting its images (others are kept as they
// are; their bytes count against the limit first). Images share what is left in proportion to
// their sizes. Returns the items in order, adapted or not; FailedPrecondition when they cannot
// fit (the reason in words). Blocking.
[[nodiscard]] absl::StatusOr<std::vector<MediaItem>> AdaptImages(
    const std::vector<MediaItem>& media, int64_t max_total_bytes);

// The bounded pool adaptation runs on: `threads` workers and at most `max_waiting` jobs queued
// or running; beyond that Submit refuses, so a burst of oversized images cannot queue unbounded
// work (the caller answers 20429).
class ImageAdapter {
 public:
  ImageAdapter(int threads, int max_waiting);
  ~ImageAdapter();
  ImageAdapter(const ImageAdapter&) = delete;
  ImageAdapter& operator=(const ImageAdapter&) = delete;

  // Runs `job` on the pool; false (and `job` dropped) when max_waiting jobs are there already.
  // Any thread.
  [[nodiscard]] bool Submit(std::function<void()> job);
  [[nodiscard]] int waiting() const { return waiting_.load(std::memory_order_relaxed); }
  [[nodiscard]] int max_waiting() const { return max_waiting_; }

 private:
  const int max_waiting_;
  std::atomic<int> waiting_{0};
  boost::asio::thread_pool pool_;
};

}  // namespace mmsgate::mmsc
