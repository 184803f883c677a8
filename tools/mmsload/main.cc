// mmsload: the load harness. Sends many messages through Messaging.SendMessage with many calls
// in flight (gRPC's callback API, bounded by --concurrency, optionally paced by --rate), watches
// Messaging.WatchEvents for their status changes, and reports acceptance, refusals, SendMessage
// latency, final statuses and end-to-end latency; --csv writes one row per message.
//
// It is a pure client: it links the generated stubs and CLI11, nothing of the gateway.
// See docs/load-harness.md.

#include "mmsload/harness.h"
#include "mmsload/options.h"

int main(int argc, char** argv) {
  mmsload::Options options;
  if (const int rc = mmsload::ParseOptions(argc, argv, options); rc >= 0) return rc;
  mmsload::Harness harness(std::move(options));
  return harness.Run();
}
