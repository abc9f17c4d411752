// Test support for the HTTP server tests: raw clients over real sockets (plain TCP or TLS),
// response and chunked-body parsing, a self-signed certificate generator and a libcurl
// helper. Nothing here is thread-safe unless stated; each test thread uses its own objects.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"

namespace annals::http_test {

using namespace std::chrono_literals;

// A generous deadline for things that must happen eventually; tests never assert on speed.
inline constexpr std::chrono::seconds kEventually{30};

// Polls `done` every few milliseconds until it holds or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout = kEventually);

// A temporary directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct CertFiles {
  std::string cert;  // PEM certificate (self-signed, CN and SAN localhost / 127.0.0.1)
  std::string key;   // PEM private key
};
// Writes a fresh self-signed certificate and key to dir/NAME.crt and dir/NAME.key.
CertFiles MakeSelfSignedCert(const std::filesystem::path& dir, const std::string& name);

// A client TLS context that trusts `ca_file` (or verifies nothing when empty).
// `max_version`: 0 for the library default, else e.g. TLS1_1_VERSION.
std::shared_ptr<SSL_CTX> MakeClientTlsContext(const std::string& ca_file, int max_version = 0);

// A blocking client connection over plain TCP or TLS. Reads use short socket timeouts so
// that every Read* call is bounded by its deadline.
class Conn {
 public:
  // Connects to 127.0.0.1:port; with `tls` set, also completes the TLS handshake.
  // `rcvbuf` > 0 sets SO_RCVBUF before connecting (a small window makes a slow reader).
  // Returns nullptr when the connection or handshake fails.
  static std::unique_ptr<Conn> Open(uint16_t port, SSL_CTX* tls = nullptr, int rcvbuf = 0);
  ~Conn();

  bool Send(std::string_view data);
  // Reads whatever arrives within `wait`; returns false once the peer closed (or the
  // connection broke). Appends to data().
  bool ReadSome(std::chrono::milliseconds wait);
  // Reads until `pattern` is in data(); false when the connection closed or `timeout` passed.
  bool ReadUntil(std::string_view pattern, std::chrono::milliseconds timeout = kEventually);
  // Reads until the peer closes; false when `timeout` passed first.
  bool ReadUntilClosed(std::chrono::milliseconds timeout = kEventually);
  void Close();

  const std::string& data() const { return data_; }
  bool closed() const { return closed_; }
  // TLS: whether the server ended with a close_notify alert (a clean TLS close).
  bool got_close_notify() const { return close_notify_; }
  int fd() const { return fd_; }

 private:
  Conn() = default;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string data_;
  bool closed_ = false;
  bool close_notify_ = false;
};

// A parsed HTTP/1.x response head and its raw body.
struct Response {
  int status = 0;
  std::string head;  // status line and header lines, without the blank line
  std::string body;  // raw bytes after the head (still chunk-framed if chunked)
  std::optional<std::string> Header(std::string_view name) const;  // case-insensitive
};
// Parses `raw`; nullopt when it does not hold a complete response head.
std::optional<Response> ParseResponse(const std::string& raw);
// Whether `raw` holds a complete response with a Content-Length body.
bool HasCompleteResponse(const std::string& raw);

// Decodes a chunked body into its chunks. Returns true when it ends with the terminating
// chunk and nothing but an empty trailer follows; false when framing is broken or cut short.
bool DecodeChunked(std::string_view body, std::vector<std::string>* chunks);

// GET over libcurl (HTTP or HTTPS). With `ca_file`, the peer and host name are verified.
struct CurlResult {
  int curl_code = -1;  // CURLcode; 0 is success
  long status = 0;
  std::string body;
  std::string error;
  long new_connections = -1;  // CURLINFO_NUM_CONNECTS of the last transfer
};
class CurlClient {
 public:
  explicit CurlClient(std::string ca_file = "");
  ~CurlClient();
  CurlClient(const CurlClient&) = delete;
  CurlClient& operator=(const CurlClient&) = delete;
  // Reuses the connection between calls when the server keeps it alive.
  CurlResult Get(const std::string& url);

 private:
  void* curl_;
  std::string ca_file_;
};

// Options for a test server: port 0, two threads, short but not tight timeouts.
HttpServerOptions TestOptions();
std::unique_ptr<HttpServer> StartServer(const HttpServerOptions& options, HttpHandler handler);

}  // namespace annals::http_test
