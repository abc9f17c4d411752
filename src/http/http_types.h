// Transport-neutral HTTP request and response values, so that handlers never see Beast.
// Plain values; not synchronized.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace annals {

struct HttpRequest {
  std::string method;                 // "GET", "POST", ...
  std::string target;                 // raw request target, e.g. "/v1/events?limit=10"
  std::vector<std::string> segments;  // percent-decoded path segments: {"v1", "events"}
  std::vector<std::pair<std::string, std::string>> query;  // percent-decoded, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote_address;

  // The first header with this (lower-case) name, if any.
  std::optional<std::string> Header(const std::string& lower_name) const {
    for (const auto& [k, v] : headers) {
      if (k == lower_name) return v;
    }
    return std::nullopt;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Handlers answer through a Responder exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, Responder)>;

}  // namespace annals
