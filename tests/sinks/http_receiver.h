// A real HTTP/1.1 server on 127.0.0.1 for tests of HTTP destinations: it records every request
// and answers with scripted responses.
//
//   HttpReceiver receiver;
//   ASSERT_TRUE(receiver.Start().ok());
//   receiver.Script({{.status = 503, .headers = {{"Retry-After", "7"}}}, {.status = 202}});
//   ... send to receiver.url() + "/path" ...
//   ASSERT_TRUE(receiver.WaitForRequests(2, 10s));
//   std::vector<ReceivedRequest> got = receiver.Requests();
//
// Scripted answers are used in order, one per request; afterwards every request gets
// default_answer() (200, empty body) until the next Script. Connections are kept alive when
// the client asks for it. Stop() closes the listener and every connection: connecting is then
// refused until Start() or Restart() (same port) is called. All methods are thread-safe; the
// server runs on one background thread of its own.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/status.h"

namespace annals::sinks::testing {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct ReceivedRequest {
  std::string method;
  std::string target;  // path and query, e.g. "/services/collector/event"
  Headers headers;     // names lowercased, in arrival order
  std::string body = {};
  uint64_t connection = 0;  // 1, 2, ...: which accepted connection carried the request

  // The first header named `name` (lowercase), or nullopt.
  std::optional<std::string> Header(std::string_view name) const;
};

struct Answer {
  int status = 200;
  Headers headers = {};  // e.g. {{"Retry-After", "7"}}; Content-Length is added
  std::string body = {};
  // Wait this long after reading the request before answering (forces client timeouts).
  std::chrono::milliseconds delay{0};
  // Close the connection instead of answering (after the delay).
  bool drop = false;
};

class HttpReceiver {
 public:
  HttpReceiver();
  ~HttpReceiver();  // Stop()
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  // Listens on 127.0.0.1 on a free port (the first time) or on the port it had before.
  Status Start();
  // Stop() then Start() on the same port. Recorded requests and the script are kept.
  Status Restart();
  // Closes the listener and all connections, cancelling delayed answers. Idempotent.
  void Stop();

  uint16_t port() const;
  // "http://127.0.0.1:<port>" (no trailing slash).
  std::string url() const;

  // Replaces the script (answers not yet used are dropped).
  void Script(std::vector<Answer> answers);
  static Answer default_answer() { return Answer{}; }

  std::vector<ReceivedRequest> Requests() const;
  size_t request_count() const;
  // Forgets the recorded requests.
  void ClearRequests();
  // True once at least `n` requests have been recorded, false when `timeout` passes first.
  bool WaitForRequests(size_t n, std::chrono::milliseconds timeout) const;

 private:
  class Server;
  friend class Server;

  // Called by the server thread.
  Answer Record(ReceivedRequest request);

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<ReceivedRequest> requests_;
  std::deque<Answer> script_;
  uint64_t connections_ = 0;
  uint16_t port_ = 0;
  std::unique_ptr<Server> server_;  // guarded by lifecycle_mu_
  std::mutex lifecycle_mu_;
};

}  // namespace annals::sinks::testing
