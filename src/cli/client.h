// A small blocking HTTP client (libcurl) for the CLI's client subcommands.
// Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
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
  // The "code" of an annals error body ("organization_not_found"), or "" when it has none.
  std::string ErrorCode() const;
};

class HttpClient {
 public:
  // `ca_file`: a PEM bundle to verify an https server with instead of the system's trust
  // store ("" for the system's), e.g. for a server with a private or self-signed certificate.
  HttpClient(std::string server, std::string key, std::string ca_file = "");
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  using Headers = std::vector<std::pair<std::string, std::string>>;

  // `path_and_query` starts with '/'. Transport failures are kUnavailable with curl's text;
  // a response that takes longer than the timeout (see set_timeout) is one too.
  Result<ClientResponse> Send(const std::string& method, const std::string& path_and_query,
                              const std::string& body = "", const std::string& content_type = "",
                              const Headers& headers = {});

  // Sends a GET for a long-lived response (server-sent events) and hands its body to
  // `on_data` piece by piece as it arrives, when the status is 2xx and the Content-Type's
  // media type is `content_type`; any other response's body is collected into the result.
  // There is no overall timeout. The transfer ends, with OK, when the server ends the
  // response, when `on_data` returns false, or when `stop` returns true (it is polled at
  // least once a second). It fails with kUnavailable when it cannot connect (error code
  // "connection_failed"), when the connection breaks after the response began
  // ("connection_lost"), or when nothing at all arrives for `idle_timeout`
  // ("connection_idle").
  Result<ClientResponse> Stream(const std::string& path_and_query, const Headers& headers,
                                const std::string& content_type,
                                const std::function<bool(std::string_view)>& on_data,
                                const std::function<bool()>& stop,
                                std::chrono::seconds idle_timeout);

  // The limit for one Send, from connecting to the end of the response (default 300 s).
  void set_timeout(std::chrono::seconds timeout) { timeout_ = timeout; }

  // Percent-encodes a query value or a path segment (everything but A-Z a-z 0-9 - . _ ~).
  std::string Escape(const std::string& value);

  const std::string& server() const { return server_; }

 private:
  // Resets the handle and sets the URL, method and headers of a request; the returned list
  // (free it with curl_slist_free_all) must live until the transfer ends.
  void* Prepare(const std::string& method, const std::string& path_and_query,
                const std::string& content_type, const Headers& headers);
  Status TransportError(int curl_code) const;

  std::string server_;
  std::string key_;
  std::string ca_file_;
  std::chrono::seconds timeout_{300};
  void* curl_;  // CURL*
};

// Whether a Content-Type value ("text/event-stream; charset=utf-8") names `media_type`
// ("text/event-stream"), ignoring case and parameters.
bool IsMediaType(std::string_view content_type, std::string_view media_type);

// Extracts "message" (and the first details) from an annals error body, for one-line errors.
std::string DescribeError(const ClientResponse& response);

}  // namespace annals
