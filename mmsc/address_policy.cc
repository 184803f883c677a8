#include "mmsc/address_policy.h"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

namespace mmsgate::mmsc {
namespace {

namespace ip = boost::asio::ip;

// An IPv4 address written as IPv6 (::ffff:a.b.c.d) is judged as the IPv4 address it reaches.
ip::address Normalized(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  }
  return address;
}

bool InV4(const ip::address_v4& address, const char* cidr) {
  const auto network = ip::make_network_v4(cidr);
  return (address.to_uint() & network.netmask().to_uint()) == network.network().to_uint();
}

bool InNetwork(const ip::address_v4& address, const ip::network_v4& network) {
  return (address.to_uint() & network.netmask().to_uint()) == network.network().to_uint();
}

bool InNetwork(const ip::address_v6& address, const ip::network_v6& network) {
  const auto bytes = address.to_bytes();
  const auto prefix = network.network().to_bytes();
  int bits = network.prefix_length();
  for (std::size_t i = 0; i < bytes.size() && bits > 0; ++i, bits -= 8) {
    const unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
    if ((bytes[i] & mask) != (prefix[i] & mask)) return false;
  }
  return true;
}

// Why an address is never a fetch target, or "" when it may be one.
std::string NeverFetched(const ip::address& address) {
  if (address.is_v4()) {
    const auto v4 = address.to_v4();
    if (InV4(v4, "0.0.0.0/8")) return "an unspecified address, which is not a destination";
    if (v4 == ip::make_address_v4("100.100.100.200") ||
        v4 == ip::make_address_v4("169.254.169.254")) {
      return "a cloud metadata address";
    }
    if (InV4(v4, "169.254.0.0/16")) return "a link-local address (where cloud metadata lives)";
    if (v4.is_multicast() || v4 == ip::address_v4::broadcast()) {
      return "a multicast or broadcast address, which is not a destination";
    }
    return "";
  }
  const auto v6 = address.to_v6();
  if (v6.is_unspecified()) return "an unspecified address, which is not a destination";
  if (v6 == ip::make_address_v6("fd00:ec2::254")) return "a cloud metadata address";
  if (v6.is_link_local()) return "a link-local address (where cloud metadata lives)";
  if (v6.is_multicast()) return "a multicast address, which is not a destination";
  return "";
}

std::vector<ip::address> LocalAddresses() {
  std::vector<ip::address> addresses;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return addresses;
  for (ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    if (entry->ifa_addr == nullptr) continue;
    if (entry->ifa_addr->sa_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(entry->ifa_addr);
      addresses.push_back(ip::address_v4(ntohl(in->sin_addr.s_addr)));
    } else if (entry->ifa_addr->sa_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(entry->ifa_addr);
      ip::address_v6::bytes_type bytes;
      std::memcpy(bytes.data(), in6->sin6_addr.s6_addr, bytes.size());
      addresses.push_back(ip::address_v6(bytes, in6->sin6_scope_id));
    }
  }
  freeifaddrs(list);
  return addresses;
}

absl::Status ParseEntry(const std::string& entry, std::vector<ip::network_v4>* v4,
                        std::vector<ip::network_v6>* v6) {
  boost::system::error_code ec;
  const bool has_prefix = entry.find('/') != std::string::npos;
  if (entry.find(':') == std::string::npos) {
    const auto network = has_prefix ? ip::make_network_v4(entry, ec)
                                    : ip::network_v4(ip::make_address_v4(entry, ec), 32);
    if (!ec) {
      v4->push_back(network);
      return absl::OkStatus();
    }
  } else {
    const auto network = has_prefix ? ip::make_network_v6(entry, ec)
                                    : ip::network_v6(ip::make_address_v6(entry, ec), 128);
    if (!ec) {
      v6->push_back(network);
      return absl::OkStatus();
    }
  }
  return absl::InvalidArgumentError("\"" + entry +
                                    "\" is not an address or CIDR (e.g. 10.0.0.0/8, fd00::/8)");
}

}  // namespace

absl::StatusOr<std::shared_ptr<AddressPolicy>> AddressPolicy::Create(
    const std::vector<std::string>& allow, const std::vector<std::string>& deny) {
  std::shared_ptr<AddressPolicy> policy(new AddressPolicy());
  for (const auto& entry : allow) {
    if (auto status = ParseEntry(entry, &policy->allow_v4_, &policy->allow_v6_); !status.ok()) {
      return status;
    }
  }
  for (const auto& entry : deny) {
    if (auto status = ParseEntry(entry, &policy->deny_v4_, &policy->deny_v6_); !status.ok()) {
      return status;
    }
  }
  policy->local_addresses_ = LocalAddresses();
  return policy;
}

void AddressPolicy::AddOwnPort(uint16_t port) {
  std::lock_guard lock(ports_mutex_);
  if (std::find(own_ports_.begin(), own_ports_.end(), port) == own_ports_.end()) {
    own_ports_.push_back(port);
  }
}

absl::Status AddressPolicy::Check(const ip::address& given, uint16_t port) const {
  const ip::address address = Normalized(given);
  const std::string shown = address.to_string();
  if (const std::string why = NeverFetched(address); !why.empty()) {
    return absl::PermissionDeniedError("resolves to " + shown + ", " + why +
                                       "; mmsgate never fetches media from there");
  }
  const bool local = address.is_loopback() ||
                     std::find(local_addresses_.begin(), local_addresses_.end(), address) !=
                         local_addresses_.end();
  if (local) {
    std::lock_guard lock(ports_mutex_);
    if (std::find(own_ports_.begin(), own_ports_.end(), port) != own_ports_.end()) {
      return absl::PermissionDeniedError(
          "points at mmsgate's own listener (" + shown + " port " + std::to_string(port) +
          "); mmsgate does not fetch media from itself: serve the media from another server");
    }
  }
  const auto listed = [&](const auto& v4_list, const auto& v6_list) {
    if (address.is_v4()) {
      return std::any_of(v4_list.begin(), v4_list.end(),
                         [&](const auto& n) { return InNetwork(address.to_v4(), n); });
    }
    return std::any_of(v6_list.begin(), v6_list.end(),
                       [&](const auto& n) { return InNetwork(address.to_v6(), n); });
  };
  if (listed(deny_v4_, deny_v6_)) {
    return absl::PermissionDeniedError("resolves to " + shown +
                                       ", which --media-fetch-deny refuses");
  }
  if ((!allow_v4_.empty() || !allow_v6_.empty()) && !listed(allow_v4_, allow_v6_)) {
    return absl::PermissionDeniedError("resolves to " + shown +
                                       ", which is not in --media-fetch-allow");
  }
  return absl::OkStatus();
}

}  // namespace mmsgate::mmsc
