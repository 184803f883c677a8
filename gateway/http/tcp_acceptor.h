#pragma once
// A TCP listener that survives running out of file descriptors.
//
// It accepts on its own strand of the io_context and hands each connected socket to a callback.
// When accept fails for want of resources (EMFILE, ENFILE, ENOBUFS, ENOMEM), it pauses for a
// moment and tries again rather than spinning or giving up: new connections wait in the
// kernel's listen backlog until descriptors are free again. (gRPC's own accept loop stops for
// good after one EMFILE, grpc/grpc#20418; the gRPC front door accepts through this instead.)
//
// Threads: Listen, Stop and local_endpoint may be called from any thread. `on_accept` and
// `on_exhausted` run on the acceptor's strand; they must not block.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace mmsgate::gateway {

class TcpAcceptor {
 public:
  using OnAccept = std::function<void(boost::asio::ip::tcp::socket socket)>;
  // Called once per spell of exhaustion (the first failed accept after a successful one), with
  // the reason, so that the log says it once rather than ten times a second.
  using OnExhausted = std::function<void(const std::string& reason)>;

  // Binds `host` (an IP literal) and `port` (0: any free port) and, with `start`, starts
  // accepting. The error names the address and why (in use, not local).
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<TcpAcceptor>> Listen(
      boost::asio::io_context& io, const std::string& host, uint16_t port, OnAccept on_accept,
      OnExhausted on_exhausted = {}, bool start = true);

  // Starts accepting on a listener made with start = false (connections wait in the backlog
  // until then). Once.
  void Start();

  ~TcpAcceptor();
  TcpAcceptor(const TcpAcceptor&) = delete;
  TcpAcceptor& operator=(const TcpAcceptor&) = delete;

  boost::asio::ip::tcp::endpoint local_endpoint() const { return endpoint_; }

  // Stops accepting and closes the listening socket; no callback starts afterwards. Idempotent.
  void Stop();

 private:
  class State;
  explicit TcpAcceptor(std::shared_ptr<State> state, boost::asio::ip::tcp::endpoint endpoint);
  std::shared_ptr<State> state_;
  boost::asio::ip::tcp::endpoint endpoint_;
};

}  // namespace mmsgate::gateway
