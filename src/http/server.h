// The HTTP/1.1 server (Boost.Beast on Asio), transport only: it parses requests, enforces
// transport limits and timeouts, and hands each request to one HttpHandler. Beast stays
// inside server.cc.
//
// Thread-safety: Start/Stop from one controlling thread; the handler is called concurrently
// from the server's worker threads and may answer from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "annals/status.h"
#include "http/http_types.h"

namespace annals {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;          // 0 picks a free port; see HttpServer::port()
  int threads = 2;               // worker threads running the event loop
  size_t max_body_bytes = 16 << 20;   // larger bodies get 413 before they are read
  size_t max_header_bytes = 16 << 10;
  std::chrono::milliseconds read_timeout{30000};   // to read a whole request once it began
  std::chrono::milliseconds idle_timeout{60000};   // between requests on a keep-alive connection
  size_t max_connections = 10000;  // beyond it new connections get 503 and are closed
};

class HttpServer {
 public:
  // Binds and starts serving. Errors (address in use, bad host) are returned, not thrown.
  static Result<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                   HttpHandler handler);
  ~HttpServer();  // Stop() + join.

  // The bound port (useful with port 0).
  uint16_t port() const;
  // Connections currently open / requests currently being handled.
  size_t open_connections() const;
  size_t requests_in_flight() const;

  // Stops accepting new connections; open connections finish the request in progress and
  // are closed. Waits up to `grace` for in-flight requests to be answered, then stops the
  // event loop and joins the threads. Idempotent.
  void Stop(std::chrono::milliseconds grace);

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace annals
