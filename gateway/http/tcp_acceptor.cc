#include "gateway/http/tcp_acceptor.h"

#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>

namespace mmsgate::gateway {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// A failed accept that is not the client's fault is retried after this pause; retrying at once
// would spin the io_context while nothing can change.
constexpr std::chrono::milliseconds kRetryDelay{100};

bool IsResourceShortage(const boost::system::error_code& ec) {
  return ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
         ec == net::error::no_memory || ec.value() == ENFILE;
}

}  // namespace

class TcpAcceptor::State : public std::enable_shared_from_this<State> {
 public:
  State(net::io_context& io, OnAccept on_accept, OnExhausted on_exhausted)
      : io_(io),
        strand_(net::make_strand(io)),
        acceptor_(strand_),
        retry_timer_(strand_),
        on_accept_(std::move(on_accept)),
        on_exhausted_(std::move(on_exhausted)) {}

  tcp::acceptor& acceptor() { return acceptor_; }

  void Start() {
    net::post(strand_, [self = shared_from_this()] { self->Accept(); });
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    net::post(strand_, [self = shared_from_this()] {
      boost::system::error_code ignored;
      self->acceptor_.close(ignored);
      self->retry_timer_.cancel();
    });
  }

 private:
  // On the strand.
  void Accept() {
    if (stopped_) return;
    // Each connection gets its own strand, so that its handlers may run on any io thread.
    acceptor_.async_accept(
        net::make_strand(io_),
        [self = shared_from_this()](const boost::system::error_code& ec, tcp::socket socket) {
          self->OnAccepted(ec, std::move(socket));
        });
  }

  void OnAccepted(const boost::system::error_code& ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || stopped_) return;  // `socket`, if any, closes
    if (!ec) {
      exhausted_ = false;
      on_accept_(std::move(socket));
      Accept();
      return;
    }
    if (ec == net::error::connection_aborted) {  // the client gave up before we got to it
      Accept();
      return;
    }
    if (IsResourceShortage(ec) && !exhausted_) {
      exhausted_ = true;
      if (on_exhausted_) on_exhausted_(ec.message());
    }
    retry_timer_.expires_after(kRetryDelay);
    retry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& wait_ec) {
      if (!wait_ec) self->Accept();
    });
  }

  net::io_context& io_;
  net::strand<net::io_context::executor_type> strand_;
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  const OnAccept on_accept_;
  const OnExhausted on_exhausted_;
  std::atomic<bool> stopped_{false};
  bool exhausted_ = false;  // strand only
};

absl::StatusOr<std::shared_ptr<TcpAcceptor>> TcpAcceptor::Listen(net::io_context& io,
                                                                 const std::string& host,
                                                                 uint16_t port, OnAccept on_accept,
                                                                 OnExhausted on_exhausted,
                                                                 bool start) {
  const std::string where = host + ":" + std::to_string(port);
  boost::system::error_code ec;
  const net::ip::address address = net::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError("invalid listen address '" + host + "': " + ec.message());
  }
  auto state = std::make_shared<State>(io, std::move(on_accept), std::move(on_exhausted));
  tcp::acceptor& acceptor = state->acceptor();
  const tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  tcp::endpoint bound;
  if (!ec) bound = acceptor.local_endpoint(ec);
  if (ec) {
    boost::system::error_code ignored;
    acceptor.close(ignored);
    return absl::UnavailableError("cannot listen on " + where + ": " + ec.message());
  }
  if (start) state->Start();
  return std::shared_ptr<TcpAcceptor>(new TcpAcceptor(std::move(state), bound));
}

TcpAcceptor::TcpAcceptor(std::shared_ptr<State> state, tcp::endpoint endpoint)
    : state_(std::move(state)), endpoint_(endpoint) {}

TcpAcceptor::~TcpAcceptor() { Stop(); }

void TcpAcceptor::Stop() { state_->Stop(); }

void TcpAcceptor::Start() { state_->Start(); }

}  // namespace mmsgate::gateway
