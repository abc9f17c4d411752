// Outbound safety for log-stream destinations: which network addresses annals may connect to.
//
// A destination's host is resolved first and every resolved address is checked; annals then
// connects only to an address that passed (never re-resolving the name), so a name that
// resolves to a public address at validation time and to 127.0.0.1 at delivery time (DNS
// rebinding) is still refused. Host forms getaddrinfo accepts (names, dotted quads, and the
// decimal, octal and hex IPv4 forms such as 2130706433, 0177.0.0.1 and 0x7f.1, IPv6 literals
// including IPv4-mapped ones) all end up as socket addresses and are classified as such.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"

namespace annals::sinks {

struct AddressPolicyOptions {
  // When false (the default), loopback, private, shared (CGNAT), link-local (including the
  // cloud metadata address 169.254.169.254), unspecified, multicast, reserved and
  // documentation ranges are refused, in IPv4 and IPv6 forms alike.
  bool allow_private_destinations = false;
};

// One resolved socket address.
struct ResolvedAddress {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  // numeric form, e.g. "93.184.216.34" or "2001:db8::1"
};

// Why an address is not a public unicast address ("loopback", "private", "link-local",
// "cloud metadata", …), or an empty view when it is. IPv4-mapped, IPv4-compatible and NAT64
// (64:ff9b::/96) IPv6 addresses are classified by the IPv4 address they carry.
std::string_view NonPublicReason(const sockaddr* addr);

// Checks destinations against the options. Immutable; thread-safe.
class AddressPolicy {
 public:
  explicit AddressPolicy(AddressPolicyOptions options = {}) : options_(options) {}

  bool allow_private() const { return options_.allow_private_destinations; }

  // OK when annals may connect to `addr`; otherwise kInvalidArgument with error code
  // "destination_not_allowed" naming the address and the range it falls in.
  Status Check(const sockaddr* addr) const;

  // Resolves `host` (TCP, `port`) and returns the addresses that pass Check, in resolver order.
  // Errors: "destination_unresolvable" (kInvalidArgument) when the name does not resolve;
  // "destination_not_allowed" when every address it resolves to is refused.
  Result<std::vector<ResolvedAddress>> Resolve(const std::string& host, uint16_t port) const;

 private:
  AddressPolicyOptions options_;
};

// Opens a TCP connection to the first of `addresses` that accepts within `timeout_ms`
// (each attempt gets the whole timeout). Returns the connected, blocking socket; the caller
// owns and closes it. kUnavailable ("destination_unreachable") when none accepted.
Result<int> ConnectTcp(const std::vector<ResolvedAddress>& addresses, int timeout_ms);

}  // namespace annals::sinks
