#pragma once
// Which addresses the media fetcher may connect to. The check runs on every resolved address of
// every hop (redirects included), so it sees through every spelling of a host: a name that
// resolves to 127.0.0.1, "0x7f000001", "2130706433", "127.1" and "[::ffff:127.0.0.1]" are all
// judged as 127.0.0.1.
//
// Always refused, whatever the lists say:
//   * mmsgate's own listeners: a loopback, unspecified or local-interface address on one of
//     its ports (the HTTP listener serves /metrics and media; fetching them is a self-loop);
//   * link-local addresses (169.254.0.0/16, fe80::/10), which hold the cloud metadata services,
//     and the other metadata addresses (100.100.100.200, fd00:ec2::254);
//   * addresses that are not a destination: 0.0.0.0/8, ::, multicast, 255.255.255.255.
// Then `deny` (CIDRs) refuses, and a non-empty `allow` (CIDRs) admits only what it lists.
// Loopback is allowed by default: tests serve media from 127.0.0.1.
//
// Threading: Check and AddOwnPort may be called from any thread.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/network_v4.hpp>
#include <boost/asio/ip/network_v6.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace mmsgate::mmsc {

class AddressPolicy {
 public:
  // `allow` and `deny` are CIDRs ("10.0.0.0/8", "fd00::/8") or single addresses. An error
  // (kInvalidArgument) names the entry that does not parse.
  static absl::StatusOr<std::shared_ptr<AddressPolicy>> Create(
      const std::vector<std::string>& allow, const std::vector<std::string>& deny);

  // One of mmsgate's listening ports (HTTP, gRPC); add each as soon as it is bound.
  void AddOwnPort(uint16_t port);

  // OK, or kPermissionDenied with the reason in words that follow "media URL <url> "
  // ("resolves to 169.254.169.254, a link-local address (cloud metadata) mmsgate never fetches").
  [[nodiscard]] absl::Status Check(const boost::asio::ip::address& address, uint16_t port) const;

 private:
  AddressPolicy() = default;

  std::vector<boost::asio::ip::network_v4> allow_v4_, deny_v4_;
  std::vector<boost::asio::ip::network_v6> allow_v6_, deny_v6_;
  // The addresses of this host's interfaces, read once at creation.
  std::vector<boost::asio::ip::address> local_addresses_;
  mutable std::mutex ports_mutex_;
  std::vector<uint16_t> own_ports_;
};

}  // namespace mmsgate::mmsc
