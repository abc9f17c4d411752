// Outbound HTTP(S) for log-stream destinations.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"
#include "sinks/address_policy.h"

namespace annals::sinks {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "POST";
  std::string url;  // http:// or https:// only
  HttpHeaders headers;
  std::string body;
  std::chrono::milliseconds timeout{10000};  // the whole exchange, connect included
};

struct HttpResponse {
  int status = 0;
  HttpHeaders headers;  // names lowercased
  std::string body;     // at most the client's max_response_bytes

  // The first header named `name` (lowercase), or nullopt.
  std::optional<std::string_view> Header(std::string_view name) const;
};

// Sends one request and returns the destination's answer, whatever its status. Implementations
// state their own thread-safety.
class HttpClient {
 public:
  virtual ~HttpClient() = default;

  // Errors (no answer was received): kInvalidArgument "invalid_destination" for a URL that is
  // not http(s) or has no host, "destination_not_allowed" / "destination_unresolvable" from the
  // address policy, kUnavailable "destination_timeout" and "destination_unreachable" (connect,
  // TLS or transfer failure; the message says which).
  virtual Result<HttpResponse> Send(const HttpRequest& request) = 0;
};

// The delay a Retry-After header value asks for: delta-seconds or an HTTP-date (RFC 9110
// §10.2.3), measured from `now`. nullopt when the value is neither.
std::optional<std::chrono::milliseconds> ParseRetryAfter(std::string_view value, TimestampUs now);

}  // namespace annals::sinks
