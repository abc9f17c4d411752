#include "sinks/address_policy.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace annals::sinks {
namespace {

struct V4Range {
  uint32_t base;
  int prefix;
  std::string_view reason;
};

// RFC 6890 special-purpose ranges and the other ranges no public destination lives in.
// More specific entries come first.
constexpr V4Range kV4Ranges[] = {
    {0xA9FEA9FE, 32, "cloud metadata"},  // 169.254.169.254
    {0x00000000, 8, "unspecified"},      // 0.0.0.0/8
    {0x0A000000, 8, "private"},          // 10.0.0.0/8
    {0x64400000, 10, "shared (carrier-grade NAT)"},  // 100.64.0.0/10
    {0x7F000000, 8, "loopback"},         // 127.0.0.0/8
    {0xA9FE0000, 16, "link-local"},      // 169.254.0.0/16
    {0xAC100000, 12, "private"},         // 172.16.0.0/12
    {0xC0000000, 24, "reserved"},        // 192.0.0.0/24 (IETF protocol assignments)
    {0xC0000200, 24, "documentation"},   // 192.0.2.0/24
    {0xC0586300, 24, "reserved"},        // 192.88.99.0/24 (6to4 relay anycast)
    {0xC0A80000, 16, "private"},         // 192.168.0.0/16
    {0xC6120000, 15, "reserved"},        // 198.18.0.0/15 (benchmarking)
    {0xC6336400, 24, "documentation"},   // 198.51.100.0/24
    {0xCB007100, 24, "documentation"},   // 203.0.113.0/24
    {0xE0000000, 4, "multicast"},        // 224.0.0.0/4
    {0xF0000000, 4, "reserved"},         // 240.0.0.0/4, including 255.255.255.255
};

std::string_view V4Reason(uint32_t a) {
  for (const V4Range& r : kV4Ranges) {
    const uint32_t mask = r.prefix == 0 ? 0 : ~uint32_t{0} << (32 - r.prefix);
    if ((a & mask) == r.base) return r.reason;
  }
  return {};
}

uint32_t V4At(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

bool AllZero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

std::string_view V6Reason(const uint8_t* b) {
  static constexpr uint8_t kMetadata[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,
                                            0,    0,    0,    0,    0, 0, 0x02, 0x54};
  if (std::memcmp(b, kMetadata, 16) == 0) return "cloud metadata";  // fd00:ec2::254
  if (AllZero(b, 10) && b[10] == 0xff && b[11] == 0xff) {            // ::ffff:a.b.c.d
    return V4Reason(V4At(b + 12));
  }
  if (AllZero(b, 12)) {  // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
    if (AllZero(b + 12, 3) && b[15] <= 1) return b[15] == 0 ? "unspecified" : "loopback";
    return V4Reason(V4At(b + 12)).empty() ? std::string_view("reserved") : V4Reason(V4At(b + 12));
  }
  if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b) {  // 64:ff9b::/96, /48
    if (AllZero(b + 4, 8)) return V4Reason(V4At(b + 12));
    if (b[4] == 0x00 && b[5] == 0x01) return "private";  // 64:ff9b:1::/48 local-use NAT64
  }
  if (b[0] == 0x01 && b[1] == 0x00 && AllZero(b + 2, 6)) return "reserved";  // 100::/64 discard
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8) return "documentation";
  if (b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00) return "reserved";  // Teredo
  if (b[0] == 0x20 && b[1] == 0x02) {  // 6to4: 2002:a.b.c.d::/48
    const std::string_view r = V4Reason(V4At(b + 2));
    if (!r.empty()) return r;
  }
  if ((b[0] & 0xfe) == 0xfc) return "private";                    // fc00::/7 unique local
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "link-local";  // fe80::/10
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0) return "private";     // fec0::/10 site-local
  if (b[0] == 0xff) return "multicast";                            // ff00::/8
  return {};
}

std::string NumericText(const sockaddr* addr) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr->sa_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(addr)->sin_addr, buf, sizeof buf);
  } else if (addr->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

}  // namespace

std::string_view NonPublicReason(const sockaddr* addr) {
  if (addr == nullptr) return "unspecified";
  if (addr->sa_family == AF_INET) {
    return V4Reason(ntohl(reinterpret_cast<const sockaddr_in*>(addr)->sin_addr.s_addr));
  }
  if (addr->sa_family == AF_INET6) {
    return V6Reason(reinterpret_cast<const sockaddr_in6*>(addr)->sin6_addr.s6_addr);
  }
  return "not an IP address";
}

Status AddressPolicy::Check(const sockaddr* addr) const {
  if (addr == nullptr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6)) {
    return Status::InvalidArgument("the destination is not an IP address",
                                   "destination_not_allowed");
  }
  if (options_.allow_private_destinations) return Status::Ok();
  const std::string_view reason = NonPublicReason(addr);
  if (reason.empty()) return Status::Ok();
  return Status::InvalidArgument("the destination address " + NumericText(addr) + " is " +
                                     std::string(reason) +
                                     "; set [streams] allow_private_destinations = true to "
                                     "allow it",
                                 "destination_not_allowed");
}

Result<std::vector<ResolvedAddress>> AddressPolicy::Resolve(const std::string& host,
                                                            uint16_t port) const {
  std::string name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  if (name.empty()) {
    return Status::InvalidArgument("the destination has no host", "destination_unresolvable");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  addrinfo* list = nullptr;
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(name.c_str(), service.c_str(), &hints, &list);
  if (rc != 0) {
    return Status::InvalidArgument(
        "the destination host '" + host + "' does not resolve: " + gai_strerror(rc),
        "destination_unresolvable");
  }
  std::vector<ResolvedAddress> allowed;
  Status first_refusal;
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    Status s = Check(ai->ai_addr);
    if (!s.ok()) {
      if (first_refusal.ok()) first_refusal = std::move(s);
      continue;
    }
    ResolvedAddress r;
    std::memcpy(&r.addr, ai->ai_addr, ai->ai_addrlen);
    r.len = static_cast<socklen_t>(ai->ai_addrlen);
    r.text = NumericText(ai->ai_addr);
    allowed.push_back(std::move(r));
  }
  freeaddrinfo(list);
  if (allowed.empty()) {
    if (!first_refusal.ok()) {
      return Status::InvalidArgument("'" + host + "': " + std::string(first_refusal.message()),
                                     "destination_not_allowed");
    }
    return Status::InvalidArgument("the destination host '" + host + "' has no usable address",
                                   "destination_unresolvable");
  }
  return allowed;
}

Result<int> ConnectTcp(const std::vector<ResolvedAddress>& addresses, int timeout_ms) {
  std::string last_error = "no address";
  for (const ResolvedAddress& a : addresses) {
    const int fd = socket(a.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len);
    if (rc != 0 && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      rc = poll(&p, 1, timeout_ms);
      if (rc == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
        rc = err == 0 ? 0 : -1;
        errno = err;
      } else {
        if (rc == 0) errno = ETIMEDOUT;
        rc = -1;
      }
    }
    if (rc == 0) {
      const int flags = fcntl(fd, F_GETFL, 0);
      fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
      return fd;
    }
    last_error = a.text + ": " + std::strerror(errno);
    close(fd);
  }
  return Status::Unavailable("cannot connect to the destination (" + last_error + ")",
                             "destination_unreachable");
}

}  // namespace annals::sinks
