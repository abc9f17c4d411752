// The HTTP/1.1 server (Boost.Beast on Asio), transport only: it parses requests, enforces
// transport limits and timeouts, and hands each request to one HttpHandler. It speaks plain
// HTTP, or HTTPS only when a certificate and key are configured. Responses are either whole
// bodies or streams (see HttpResponse::start_stream). Beast stays inside server.cc.
//
// Thread-safety: Start/Stop from one controlling thread; the handler is called concurrently
// from the server's worker threads and may answer from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"
#include "http/http_types.h"

namespace annals {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;              // 0 picks a free port; see HttpServer::port()
  int threads = 2;                   // worker threads running the event loop
  size_t max_body_bytes = 16 << 20;  // larger bodies get 413 before they are read
  // Paths that take larger (or smaller) bodies: a request whose target starts with
  // `path_prefix` may carry up to `max_bytes` instead of max_body_bytes (the longest
  // matching prefix wins).
  struct BodyLimit {
    std::string path_prefix;
    size_t max_bytes = 0;
  };
  std::vector<BodyLimit> body_limits;
  size_t max_header_bytes = 16 << 10;
  // To read a request's headers once its first byte arrived, and again its body; also
  // bounds the TLS handshake.
  std::chrono::milliseconds read_timeout{30000};
  // Before the first byte of a request (between requests on a keep-alive connection).
  std::chrono::milliseconds idle_timeout{60000};
  // A response write that makes no progress for this long closes the connection (whole
  // responses and streams alike). A streaming connection is subject to this timeout only:
  // its producer is expected to send heartbeats.
  std::chrono::milliseconds write_timeout{30000};
  size_t max_connections = 10000;  // beyond it new connections get 503 and are closed
  // Per stream: queued-but-unwritten bytes beyond this close the connection.
  size_t max_stream_buffer_bytes = 1 << 20;
  // HTTPS: a PEM certificate chain and its PEM private key. Both set: the listener speaks
  // TLS (1.2 or later) only. Exactly one set, an unreadable file or a key that does not match
  // the certificate: Start fails with invalid_config.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Shapes the transport's own answers to a request whose target is known (413 for a body
  // over its limit) by that target, e.g. so that an API served at other paths keeps its own
  // error shape there. Null: ErrorResponse (http/error_mapping.h). The status code of the
  // answer is the one HttpStatusFor gives the Status. Must be thread-safe.
  std::function<HttpResponse(const Status&, std::string_view target)> error_response;
};

class HttpServer {
 public:
  // Binds and starts serving. Errors (address in use, bad host, bad TLS files) are returned,
  // not thrown.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  ~HttpServer();  // Stop() + join.

  // The bound port (useful with port 0).
  uint16_t port() const;
  // Connections currently open / requests currently being handled.
  size_t open_connections() const;
  size_t requests_in_flight() const;
  // Streaming responses currently open (each also counts as an open connection).
  size_t open_streams() const;
  // Whether the listener speaks HTTPS.
  bool tls() const;

  // Stops accepting new connections; open connections finish the request in progress and
  // are closed. Every open stream is ended at once (its on_close runs). Waits up to `grace`
  // for in-flight requests to be answered, then stops the event loop and joins the threads.
  // Idempotent.
  void Stop(std::chrono::milliseconds grace);

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals
