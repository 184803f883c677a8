// The media fetch address policy: what is always refused, the self-loop in every spelling that
// resolves to it, and the allow/deny lists.

#include "mmsc/address_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace mmsgate::mmsc {
namespace {

using ::testing::HasSubstr;
namespace ip = boost::asio::ip;

std::shared_ptr<AddressPolicy> Policy(std::vector<std::string> allow = {},
                                      std::vector<std::string> deny = {}) {
  auto policy = AddressPolicy::Create(allow, deny);
  EXPECT_TRUE(policy.ok()) << policy.status();
  return *policy;
}

absl::Status Check(const AddressPolicy& policy, const char* address, uint16_t port = 80) {
  return policy.Check(ip::make_address(address), port);
}

TEST(AddressPolicyTest, LinkLocalMetadataAndNonDestinationsAreAlwaysRefused) {
  // Even an allow list that names them does not let them through.
  const auto policy = Policy({"0.0.0.0/0", "::/0"});
  for (const char* address :
       {"169.254.169.254", "169.254.1.1", "100.100.100.200", "0.0.0.0", "0.1.2.3", "224.0.0.1",
        "255.255.255.255", "fe80::1", "fd00:ec2::254", "::", "ff02::1", "::ffff:169.254.169.254"}) {
    const auto status = Check(*policy, address);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << address;
    EXPECT_THAT(std::string(status.message()), HasSubstr("never fetches")) << address;
  }
  EXPECT_THAT(std::string(Check(*policy, "169.254.169.254").message()), HasSubstr("metadata"));
}

TEST(AddressPolicyTest, OwnListenersAreRefusedOnEveryLocalAddressOtherPortsAreNot) {
  const auto policy = Policy();
  EXPECT_TRUE(Check(*policy, "127.0.0.1", 8080).ok());  // not known as ours yet
  policy->AddOwnPort(8080);
  policy->AddOwnPort(50051);
  for (const char* address : {"127.0.0.1", "127.0.0.2", "::1", "::ffff:127.0.0.1"}) {
    const auto status = Check(*policy, address, 8080);
    EXPECT_EQ(status.code(), absl::StatusCode::kPermissionDenied) << address;
    EXPECT_THAT(std::string(status.message()), HasSubstr("mmsgate's own listener")) << address;
  }
  EXPECT_FALSE(Check(*policy, "127.0.0.1", 50051).ok());
  // Loopback on another port is a test's media server: allowed by default.
  EXPECT_TRUE(Check(*policy, "127.0.0.1", 8081).ok());
  EXPECT_TRUE(Check(*policy, "::1", 9000).ok());
  // A remote address on the same port number is someone else's server.
  EXPECT_TRUE(Check(*policy, "192.0.2.10", 8080).ok());
}

TEST(AddressPolicyTest, DenyRefusesAndANonEmptyAllowAdmitsOnlyWhatItLists) {
  const auto denied = Policy({}, {"127.0.0.0/8", "10.1.2.3"});
  EXPECT_THAT(std::string(Check(*denied, "127.0.0.1", 9000).message()),
              HasSubstr("--media-fetch-deny"));
  EXPECT_FALSE(Check(*denied, "10.1.2.3").ok());
  EXPECT_TRUE(Check(*denied, "10.1.2.4").ok());
  EXPECT_FALSE(Check(*denied, "::ffff:10.1.2.3").ok());

  const auto allowed = Policy({"192.0.2.0/24", "2001:db8::/32"}, {"192.0.2.7"});
  EXPECT_TRUE(Check(*allowed, "192.0.2.1").ok());
  EXPECT_TRUE(Check(*allowed, "2001:db8::5").ok());
  EXPECT_FALSE(Check(*allowed, "192.0.2.7").ok());  // deny wins
  EXPECT_THAT(std::string(Check(*allowed, "198.51.100.1").message()),
              HasSubstr("not in --media-fetch-allow"));
  EXPECT_FALSE(Check(*allowed, "2001:db9::1").ok());
}

TEST(AddressPolicyTest, AnEntryThatIsNotACidrIsNamed) {
  for (const char* entry : {"10.0.0.0/33", "localhost", "1.2.3", "fe80::/129", ""}) {
    const auto policy = AddressPolicy::Create({entry}, {});
    ASSERT_FALSE(policy.ok()) << entry;
    EXPECT_THAT(std::string(policy.status().message()), HasSubstr("is not an address or CIDR"));
  }
}

}  // namespace
}  // namespace mmsgate::mmsc
