// Transport-neutral HTTP request and response values, so that handlers never see Beast.
// Plain values; not synchronized (except ResponseStream, which is safe from any thread).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace annals {

struct HttpRequest {
  std::string method;                 // "GET", "POST", ...
  std::string target;                 // raw request target, e.g. "/v1/events?limit=10"
  std::vector<std::string> segments;  // percent-decoded path segments: {"v1", "events"}
  std::vector<std::pair<std::string, std::string>> query;    // percent-decoded, in order
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

// A streaming response body (used for server-sent events). The server owns the connection;
// a producer holds the shared_ptr and may call every method from any thread.
class ResponseStream {
 public:
  virtual ~ResponseStream() = default;
  // Queues `data` to be sent as one chunk. Returns false and drops `data` when the stream is
  // closed. When the bytes queued but not yet written to the socket would exceed
  // HttpServerOptions::max_stream_buffer_bytes, the server closes the connection (a slow
  // consumer must not grow memory) and returns false. An empty `data` sends nothing (an
  // empty chunk would end the body) and returns whether the stream is open.
  virtual bool Write(std::string data) = 0;
  // Bytes queued and not yet written to the socket (chunk framing included).
  virtual size_t buffered_bytes() const = 0;
  // True once the stream has ended or Close() was called; Write then returns false.
  virtual bool closed() const = 0;
  // Ends the response (terminating chunk) and closes the connection once queued data is sent.
  // Idempotent.
  virtual void Close() = 0;
  // on_drain: called whenever the queued bytes fall to zero after a socket write completed.
  // on_close: called exactly once when the stream ends for any reason (client went away,
  // Close(), slow consumer, server Stop). Both run on a server thread, never while the
  // stream holds an internal lock; they must be quick. Set them once, right after start
  // (inside start_stream is safest: the stream cannot end before start_stream returns). If
  // the stream already ended when they are set, on_close runs at once on the calling thread.
  virtual void SetCallbacks(std::function<void()> on_drain, std::function<void()> on_close) = 0;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  // Header names must be HTTP tokens and values must not contain CR, LF or NUL; the server
  // answers 500 instead of sending a response that breaks this rule.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // When set, the response is streamed: status and headers are sent with
  // `Transfer-Encoding: chunked` (no Content-Length; `body` is ignored), then
  // `start_stream` is called once with the stream. The connection is not reused afterwards.
  // It is called on a server thread and should return quickly. (An HTTP/1.0 client gets the
  // body unchunked, delimited by the end of the connection.)
  std::function<void(std::shared_ptr<ResponseStream>)> start_stream;
};

// Handlers answer through a Responder exactly once, from any thread.
using Responder = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(HttpRequest&&, Responder)>;

}  // namespace annals
