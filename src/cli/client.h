// A small blocking HTTP client (libcurl) for the CLI's client subcommands.
// Not thread-safe: one client per thread.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "annals/status.h"

namespace annals {

struct ClientResponse {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string Header(const std::string& lower_name) const {
    for (const auto& [k, v] : headers) {
      if (k == lower_name) return v;
    }
    return "";
  }
};

class HttpClient {
 public:
  HttpClient(std::string server, std::string key);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // `path_and_query` starts with '/'. Transport failures are kUnavailable with curl's text.
  Result<ClientResponse> Send(const std::string& method, const std::string& path_and_query,
                              const std::string& body = "", const std::string& content_type = "",
                              const std::vector<std::pair<std::string, std::string>>& headers = {});

  // Percent-encodes a query value.
  std::string Escape(const std::string& value);

 private:
  std::string server_;
  std::string key_;
  void* curl_;  // CURL*
};

// Extracts "message" (and the first details) from an annals error body, for one-line errors.
std::string DescribeError(const ClientResponse& response);

}  // namespace annals
