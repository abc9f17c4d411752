#include "sinks/address_policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sinks/sink.h"

namespace annals::sinks {
namespace {

// Resolves `host` with the default (strict) policy and returns the error code, or "" when
// allowed.
std::string StrictVerdict(const std::string& host) {
  AddressPolicy policy;
  Result<std::vector<ResolvedAddress>> r = policy.Resolve(host, 443);
  return r.ok() ? std::string() : r.status().error_code();
}

TEST(AddressPolicy, RefusesEveryFormOfLoopbackAndPrivateAddresses) {
  // Each literal is one way of writing a non-public address; every one must be refused after
  // resolution, whatever form the resolver accepted it in.
  const char* kRefused[] = {
      "127.0.0.1",      "127.1",           "2130706433",      "0x7f000001",     "0x7f.0.0.1",
      "0177.0.0.1",     "0177.0.0.01",     "017700000001",    "127.255.255.254", "localhost",
      "0.0.0.0",        "0",               "10.0.0.1",        "10.255.255.255", "167772161",
      "172.16.0.1",     "172.31.255.255",  "192.168.1.1",     "0xc0a80101",     "100.64.0.1",
      "169.254.169.254", "2852039166",     "0xA9FEA9FE",      "169.254.0.1",    "224.0.0.1",
      "255.255.255.255", "198.18.0.1",     "192.0.2.1",       "::1",            "[::1]",
      "::",             "::ffff:127.0.0.1", "::ffff:7f00:1",  "[::ffff:169.254.169.254]",
      "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "fc00::1",        "fd00:ec2::254",
      "fe80::1",        "fec0::1",         "ff02::1",         "2001:db8::1",    "::127.0.0.1",
  };
  for (const char* host : kRefused) {
    EXPECT_EQ(StrictVerdict(host), "destination_not_allowed") << host;
  }
}

TEST(AddressPolicy, NamesTheRangeItRefuses) {
  AddressPolicy policy;
  Result<std::vector<ResolvedAddress>> r = policy.Resolve("169.254.169.254", 80);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cloud metadata"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("allow_private_destinations"), std::string::npos);
  r = policy.Resolve("2130706433", 80);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("127.0.0.1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("loopback"), std::string::npos);
}

TEST(AddressPolicy, AllowsPublicAddresses) {
  AddressPolicy policy;
  for (const char* host : {"93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111",
                           "::ffff:8.8.8.8", "172.32.0.1", "100.128.0.1", "11.0.0.1"}) {
    Result<std::vector<ResolvedAddress>> r = policy.Resolve(host, 443);
    ASSERT_TRUE(r.ok()) << host << ": " << r.status().ToString();
    ASSERT_EQ(r->size(), 1u);
  }
}

TEST(AddressPolicy, AllowPrivateLetsLoopbackThrough) {
  AddressPolicy policy(AddressPolicyOptions{.allow_private_destinations = true});
  Result<std::vector<ResolvedAddress>> r = policy.Resolve("2130706433", 80);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->front().text, "127.0.0.1");
}

TEST(AddressPolicy, UnresolvableNamesAreTheirOwnError) {
  EXPECT_EQ(StrictVerdict("no-such-host.invalid"), "destination_unresolvable");
  EXPECT_EQ(StrictVerdict(""), "destination_unresolvable");
}

TEST(AddressPolicy, ConnectTcpReachesAListenerAndReportsARefusal) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t port = ntohs(addr.sin_port);

  AddressPolicy policy(AddressPolicyOptions{.allow_private_destinations = true});
  Result<std::vector<ResolvedAddress>> r = policy.Resolve("127.0.0.1", port);
  ASSERT_TRUE(r.ok());
  Result<int> fd = ConnectTcp(*r, 2000);
  ASSERT_TRUE(fd.ok()) << fd.status().ToString();
  close(*fd);
  close(listener);
  // Nothing listens there any more.
  fd = ConnectTcp(*r, 2000);
  ASSERT_FALSE(fd.ok());
  EXPECT_EQ(fd.status().error_code(), "destination_unreachable");
}

TEST(Sink, HttpStatusesMapToTheDocumentedOutcomes) {
  EXPECT_EQ(OutcomeForHttpStatus(200), DeliveryOutcome::kDelivered);
  EXPECT_EQ(OutcomeForHttpStatus(204), DeliveryOutcome::kDelivered);
  for (int s : {408, 429, 500, 502, 503, 504}) {
    EXPECT_EQ(OutcomeForHttpStatus(s), DeliveryOutcome::kRetry) << s;
  }
  for (int s : {400, 413, 422}) EXPECT_EQ(OutcomeForHttpStatus(s), DeliveryOutcome::kRejected) << s;
  for (int s : {301, 302, 401, 403, 404, 405, 410}) {
    EXPECT_EQ(OutcomeForHttpStatus(s), DeliveryOutcome::kFailed) << s;
  }
}

}  // namespace
}  // namespace annals::sinks
