// A minimal blocking HTTP/1.1 client with keep-alive for the load generators (Boost.Beast
// underneath, kept out of this header). One connection per object; not thread-safe: use
// one per thread. Reconnects once if the server closed an idle connection.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace annals::bench {

struct ServerUrl {
  std::string host;
  std::string port;
};
// Parses "http://HOST:PORT" (a trailing "/" is allowed). Returns false when malformed.
bool ParseServerUrl(const std::string& url, ServerUrl* out);

class HttpClient {
 public:
  struct Response {
    int status = 0;
    std::string body;
  };

  HttpClient(ServerUrl server, std::string bearer_key);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Connects now (otherwise the first request does). False with *error on failure.
  bool Connect(std::string* error);
  // Sends one request and reads the whole response. `body` may be empty (then no
  // Content-Type is sent). False with *error on a transport failure.
  bool Request(std::string_view method, std::string_view target, std::string_view body,
               std::string_view content_type, Response* out, std::string* error);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes a query parameter value.
std::string UrlEncode(std::string_view s);

}  // namespace annals::bench
