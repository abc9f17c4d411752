#include "http/server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <cctype>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "http/error_mapping.h"

namespace annals {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

namespace {

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// The session side of a stream as the producer-facing StreamImpl sees it. Thread-safe: both
// calls only post work to the session's strand.
class StreamOwner {
 public:
  virtual ~StreamOwner() = default;
  virtual void PostPump() = 0;   // write whatever is queued
  virtual void PostAbort() = 0;  // end the stream now and close the connection
};

// Shared counters and settings of one server; outlives every session (held by shared_ptr).
struct ServerState {
  HttpServerOptions options;
  HttpHandler handler;
  std::unique_ptr<ssl::context> tls;  // set when the listener speaks HTTPS; read-only after Start
  std::atomic<size_t> connections{0};
  std::atomic<size_t> in_flight{0};
  std::atomic<size_t> streams{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle_cv;
  // Open streams, so that Stop can end them. `stopping` is set under this mutex too, so a
  // stream that registers after Stop swept the map sees it and ends itself.
  std::mutex streams_mu;
  std::unordered_map<const void*, std::weak_ptr<StreamOwner>> open_streams;
};

HttpResponse PlainError(int status, const std::string& code, const std::string& message) {
  HttpResponse r = ErrorResponse(Status(Code::kInvalidArgument, code, message));
  r.status = status;
  return r;
}

bool ParseTarget(std::string_view target, HttpRequest* req) {
  boost::system::result<boost::urls::url_view> u = boost::urls::parse_origin_form(target);
  if (!u) return false;
  for (auto seg : u->segments()) req->segments.emplace_back(seg);
  for (auto p : u->params()) {
    if (p.key.empty() && !p.has_value) continue;  // "?", "a=1&&b=2": empty segments
    req->query.emplace_back(std::string(p.key), p.has_value ? std::string(p.value) : std::string());
  }
  return true;
}

// CR and LF would end the line (response splitting); NUL is never valid in a field.
bool HasLineBreakOrNul(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

// RFC 9110 token: the only characters a field name may have.
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) == std::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Whether the handler's status and headers can be sent as they are. A response that cannot
// is replaced by a 500: sending it would let a header value split the response, and dropping
// a header silently could change its meaning.
bool ResponseHeadIsValid(const HttpResponse& r) {
  if (r.status < 100 || r.status > 599) return false;
  if (HasLineBreakOrNul(r.content_type)) return false;
  for (const auto& [k, v] : r.headers) {
    if (!IsToken(k) || HasLineBreakOrNul(v)) return false;
  }
  return true;
}

HttpResponse InvalidResponseError() {
  return PlainError(500, "internal", "the server produced a malformed response header");
}

template <class Body>
void FillHead(const HttpResponse& resp, http::response<Body>* res) {
  res->set(http::field::server, "annals");
  if (!resp.content_type.empty()) res->set(http::field::content_type, resp.content_type);
  for (const auto& [k, v] : resp.headers) res->set(k, v);
}

std::string ChunkHead(size_t n) {
  char buf[24];
  int len = std::snprintf(buf, sizeof(buf), "%zx\r\n", n);
  return std::string(buf, static_cast<size_t>(len));
}

constexpr std::string_view kLastChunk = "0\r\n\r\n";

// The producer-facing half of a streaming response. Holds the bytes queued for the socket;
// the session (through StreamOwner) writes them. All state is guarded by mu_; callbacks are
// always invoked after mu_ is released.
class StreamImpl final : public ResponseStream {
 public:
  // What the session should do next, see Take().
  enum class Next { kIdle, kWrite, kFinish, kAbort };

  StreamImpl(std::weak_ptr<StreamOwner> owner, size_t max_buffered, bool chunked)
      : owner_(std::move(owner)), max_buffered_(max_buffered), chunked_(chunked) {}

  bool Write(std::string data) override {
    std::shared_ptr<StreamOwner> owner;
    bool abort = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (phase_ != Phase::kOpen) return false;
      if (data.empty()) return true;
      const std::string head = chunked_ ? ChunkHead(data.size()) : std::string();
      const size_t framed = head.size() + data.size() + (chunked_ ? 2 : 0);
      if (buffered_.load() + framed > max_buffered_) {
        // A consumer this slow would grow memory without bound: give up on it.
        phase_ = Phase::kAborting;
        queued_.clear();
        abort = true;
        owner = owner_.lock();
      } else {
        queued_ += head;
        queued_ += data;
        if (chunked_) queued_ += "\r\n";
        buffered_.fetch_add(framed);
        if (!pump_posted_) {
          pump_posted_ = true;
          owner = owner_.lock();
        }
      }
    }
    if (abort) {
      if (owner) owner->PostAbort();
      return false;
    }
    if (owner) owner->PostPump();
    return true;
  }

  size_t buffered_bytes() const override { return buffered_.load(); }

  bool closed() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return phase_ != Phase::kOpen;
  }

  void Close() override {
    std::shared_ptr<StreamOwner> owner;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (phase_ != Phase::kOpen) return;
      phase_ = Phase::kClosing;
      if (chunked_) {
        queued_ += kLastChunk;
        buffered_.fetch_add(kLastChunk.size());
      }
      if (!pump_posted_) {
        pump_posted_ = true;
        owner = owner_.lock();
      }
    }
    if (owner) owner->PostPump();
  }

  void SetCallbacks(std::function<void()> on_drain, std::function<void()> on_close) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (phase_ != Phase::kEnded) {
        on_drain_ = std::move(on_drain);
        on_close_ = std::move(on_close);
        return;
      }
      if (close_delivered_ || !on_close) return;
      close_delivered_ = true;
    }
    on_close();  // the stream ended before the callbacks were set
  }

  // --- Session side, on the session's strand ---

  // Appends the queued bytes to *out (kWrite), or says that the stream is to end: gracefully
  // once everything including the terminating chunk was written (kFinish) or at once
  // (kAbort). kIdle: nothing to do until the producer calls again.
  Next Take(std::string* out) {
    std::lock_guard<std::mutex> lock(mu_);
    pump_posted_ = false;
    if (phase_ == Phase::kAborting) return Next::kAbort;
    if (phase_ == Phase::kEnded) return Next::kIdle;
    if (!queued_.empty()) {
      if (out->empty()) {
        out->swap(queued_);
      } else {
        out->append(queued_);
        queued_.clear();
      }
      return Next::kWrite;
    }
    return phase_ == Phase::kClosing ? Next::kFinish : Next::kIdle;
  }

  // Accounts for `n` bytes written to the socket; returns the drain callback to run when
  // that brought the queued bytes to zero on an open stream.
  std::function<void()> OnWritten(size_t n) {
    const size_t before = buffered_.fetch_sub(n);
    if (before != n) return {};
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ != Phase::kOpen) return {};
    return on_drain_;
  }

  // Marks the stream ended and drops what is queued. Returns on_close when it is to run now
  // (once: later calls return nothing).
  std::function<void()> End() {
    std::lock_guard<std::mutex> lock(mu_);
    if (phase_ == Phase::kEnded) return {};
    phase_ = Phase::kEnded;
    queued_.clear();
    buffered_.store(0);
    // Callbacks often capture the stream itself; release them to break the cycle.
    on_drain_ = nullptr;
    std::function<void()> on_close = std::move(on_close_);
    on_close_ = nullptr;
    if (on_close) close_delivered_ = true;
    return on_close;
  }

 private:
  enum class Phase { kOpen, kClosing, kAborting, kEnded };

  const std::weak_ptr<StreamOwner> owner_;
  const size_t max_buffered_;
  const bool chunked_;
  std::atomic<size_t> buffered_{0};  // queued_ plus bytes taken by the session, not yet written
  mutable std::mutex mu_;
  Phase phase_ = Phase::kOpen;
  std::string queued_;        // framed bytes not yet taken by the session
  bool pump_posted_ = false;  // a PostPump is on its way; no need for another
  bool close_delivered_ = false;
  std::function<void()> on_drain_;
  std::function<void()> on_close_;
};

// One connection, over plain TCP (PlainStream) or TLS (TlsStream). Reads requests one at a
// time (no pipelining of handlers), answers each, honours keep-alive; or, when a handler
// answers with a stream, writes that stream until it ends and closes the connection. All
// socket operations and all members run on the connection's strand.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>>, public StreamOwner {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  Session(tcp::socket&& socket, std::shared_ptr<ServerState> state)
      : ex_(socket.get_executor()),
        stream_(MakeStream(std::move(socket), *state)),
        state_(std::move(state)) {
    state_->connections.fetch_add(1);
  }

  ~Session() override {
    if (streaming_ && !stream_ended_) {
      // Only reached when the event loop was torn down before the stream's end ran there.
      std::function<void()> on_close = ForgetStream();
      if (on_close) on_close();
    }
    state_->connections.fetch_sub(1);
  }

  // Starts the connection: the TLS handshake if any, then either reading requests or, when
  // `overloaded`, a 503 and close.
  void Start(bool overloaded) {
    net::dispatch(ex_, [self = this->shared_from_this(), overloaded] {
      if constexpr (kTls) {
        self->Lowest().expires_after(self->state_->options.read_timeout);
        self->stream_.async_handshake(ssl::stream_base::server,
                                      [self, overloaded](beast::error_code ec) {
                                        if (ec) return self->Close();
                                        self->Begin(overloaded);
                                      });
      } else {
        self->Begin(overloaded);
      }
    });
  }

  void PostPump() override {
    net::post(ex_, [self = this->shared_from_this()] { self->PumpStream(); });
  }

  void PostAbort() override {
    net::post(ex_, [self = this->shared_from_this()] { self->EndStream(false); });
  }

 private:
  static Stream MakeStream(tcp::socket&& socket, ServerState& state) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *state.tls);
    } else {
      return Stream(std::move(socket));
    }
  }

  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }

  void Begin(bool overloaded) {
    if (!overloaded) {
      ReadRequest();
      return;
    }
    keep_alive_ = false;
    Write(
        ErrorResponse(Status::Unavailable("too many open connections; retry later", "overloaded")),
        false, 11);
  }

  // --- Requests ---

  // Waits up to idle_timeout for the first byte of the next request, then gives the whole
  // header read_timeout (a client trickling bytes cannot hold the connection longer).
  void ReadRequest() {
    if (state_->stopping.load()) {
      Close();
      return;
    }
    if (buffer_.size() > 0) {  // a pipelined request already began
      ReadHeader();
      return;
    }
    Lowest().expires_after(state_->options.idle_timeout);
    stream_.async_read_some(buffer_.prepare(2048), [self = this->shared_from_this()](
                                                       beast::error_code ec, std::size_t n) {
      if (ec) return self->Close();  // idle timeout, the client left, or a TLS failure
      self->buffer_.commit(n);
      self->ReadHeader();
    });
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(state_->options.max_header_bytes));
    // The largest limit until the target is known (OnHeader applies the path's own).
    size_t largest = state_->options.max_body_bytes;
    for (const auto& l : state_->options.body_limits) largest = std::max(largest, l.max_bytes);
    parser_->body_limit(largest);
    body_limit_ = state_->options.max_body_bytes;
    Lowest().expires_after(state_->options.read_timeout);
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnHeader, this->shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) {
      HandleReadError(ec);
      return;
    }
    auto& h = parser_->get();
    keep_alive_ = h.keep_alive();
    // The parser rejects bare CR and LF itself; this keeps the handlers' guarantee (no CR, LF
    // or NUL in a header value) independent of the parser's version.
    for (const auto& f : h) {
      if (HasLineBreakOrNul(f.value())) {
        keep_alive_ = false;
        Write(PlainError(400, "bad_request", "a request header value contains CR, LF or NUL"),
              false, 11);
        return;
      }
    }
    body_limit_ = BodyLimitFor(h.target());
    parser_->body_limit(body_limit_);
    if (auto len = parser_->content_length(); len && *len > body_limit_) {
      keep_alive_ = false;
      linger_ = true;
      Write(TargetError(Status(Code::kTooLarge, "request_too_large",
                               "the request body is " + std::to_string(*len) +
                                   " bytes; the limit is " + std::to_string(body_limit_)),
                        h.target()),
            false, 11);
      return;
    }
    Lowest().expires_after(state_->options.read_timeout);
    auto expect = h[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      Lowest().expires_after(state_->options.write_timeout);
      http::async_write(
          stream_, *cont,
          [self = this->shared_from_this(), cont](beast::error_code wec, std::size_t) {
            if (wec) return self->Close();
            self->Lowest().expires_after(self->state_->options.read_timeout);
            self->ReadBody();
          });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, this->shared_from_this()));
  }

  // The transport's answer to a request whose target is known
  // (HttpServerOptions::error_response).
  HttpResponse TargetError(const Status& status, beast::string_view target) const {
    if (!state_->options.error_response) return ErrorResponse(status);
    HttpResponse r =
        state_->options.error_response(status, std::string_view(target.data(), target.size()));
    r.status = HttpStatusFor(status.code());
    return r;
  }

  // The body limit of a request target (HttpServerOptions::body_limits).
  size_t BodyLimitFor(beast::string_view target) const {
    size_t limit = state_->options.max_body_bytes;
    size_t matched = 0;
    for (const auto& l : state_->options.body_limits) {
      if (target.substr(0, l.path_prefix.size()) == l.path_prefix &&
          l.path_prefix.size() >= matched) {
        matched = l.path_prefix.size();
        limit = l.max_bytes;
      }
    }
    return limit;
  }

  void HandleReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      // A Content-Length over every limit is caught while the header is parsed, before
      // OnHeader could apply the path's own.
      if (parser_) body_limit_ = BodyLimitFor(parser_->get().target());
      keep_alive_ = false;
      linger_ = true;
      Write(TargetError(Status(Code::kTooLarge, "request_too_large",
                               "the request body exceeds the limit of " +
                                   std::to_string(body_limit_) + " bytes"),
                        parser_ ? parser_->get().target() : beast::string_view()),
            false, 11);
      return;
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      linger_ = true;
      Write(PlainError(431, "headers_too_large", "the request headers are too large"), false, 11);
      return;
    }
    // A parse error gets a clear 400, then close. Anything else (timeout, the client left,
    // a reset, a TLS failure) just closes: there is no one to answer.
    const bool parse_error =
        ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (!parse_error) {
      Close();
      return;
    }
    keep_alive_ = false;
    Write(PlainError(400, "bad_request", "the HTTP request is malformed: " + ec.message()), false,
          11);
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) {
      HandleReadError(ec);
      return;
    }
    http::request<http::string_body> msg = parser_->release();
    parser_.reset();
    keep_alive_ = msg.keep_alive();
    const unsigned version = msg.version();

    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    if (!ParseTarget(req.target, &req)) {
      Write(PlainError(400, "bad_request", "the request target is not a valid URL path"),
            keep_alive_, version);
      return;
    }
    req.headers.reserve(16);
    for (const auto& f : msg) {
      std::string name(f.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      req.headers.emplace_back(std::move(name), std::string(f.value()));
    }
    req.body = std::move(msg.body());
    beast::error_code rec;
    auto ep = Lowest().socket().remote_endpoint(rec);
    if (!rec) req.remote_address = ep.address().to_string();

    Lowest().expires_never();
    state_->in_flight.fetch_add(1);
    auto self = this->shared_from_this();
    const bool keep_alive = keep_alive_;
    state_->handler(std::move(req), [self, keep_alive, version](HttpResponse resp) {
      net::post(self->ex_, [self, keep_alive, version, resp = std::move(resp)]() mutable {
        if (resp.start_stream) {
          self->StartStream(std::move(resp), version);
        } else {
          self->Write(std::move(resp), keep_alive, version);
        }
        if (self->state_->in_flight.fetch_sub(1) == 1) {
          std::lock_guard<std::mutex> lock(self->state_->mu);
          self->state_->idle_cv.notify_all();
        }
      });
    });
  }

  // --- Whole responses ---

  struct Outgoing {
    http::response<http::string_body> msg;
    http::response_serializer<http::string_body> sr{msg};
  };

  void Write(HttpResponse resp, bool keep_alive, unsigned version) {
    if (state_->stopping.load()) keep_alive = false;
    if (!ResponseHeadIsValid(resp)) {
      resp = InvalidResponseError();
      keep_alive = false;
    }
    auto out = std::make_shared<Outgoing>();
    out->msg.result(static_cast<http::status>(resp.status));
    out->msg.version(version);
    FillHead(resp, &out->msg);
    out->msg.body() = std::move(resp.body);
    out->msg.keep_alive(keep_alive);
    out->msg.prepare_payload();
    WriteSome(std::move(out), keep_alive);
  }

  // Each step may take up to write_timeout: the timeout bounds a write without progress, not
  // the whole response.
  void WriteSome(std::shared_ptr<Outgoing> out, bool keep_alive) {
    Lowest().expires_after(state_->options.write_timeout);
    http::async_write_some(stream_, out->sr,
                           [self = this->shared_from_this(), out, keep_alive](beast::error_code ec,
                                                                              std::size_t) mutable {
                             if (ec) return self->Close();
                             if (!out->sr.is_done()) {
                               self->WriteSome(std::move(out), keep_alive);
                               return;
                             }
                             if (!keep_alive) return self->Shutdown();
                             self->ReadRequest();
                           });
  }

  // --- Streamed responses ---

  void StartStream(HttpResponse resp, unsigned version) {
    if (!ResponseHeadIsValid(resp)) {
      keep_alive_ = false;
      Write(InvalidResponseError(), false, version);
      return;
    }
    const bool chunked = version >= 11;  // HTTP/1.0 has no chunks: the close ends the body
    http::response<http::empty_body> head(static_cast<http::status>(resp.status), version);
    FillHead(resp, &head);
    head.erase(http::field::content_length);
    head.erase(http::field::transfer_encoding);
    if (chunked) head.chunked(true);
    head.keep_alive(false);
    std::ostringstream os;
    os << head.base();
    out_ = std::move(os).str();
    out_pos_ = 0;
    out_uncounted_ = out_.size();

    stream_impl_ = std::make_shared<StreamImpl>(this->weak_from_this(),
                                                state_->options.max_stream_buffer_bytes, chunked);
    streaming_ = true;
    state_->streams.fetch_add(1);
    bool stopping;
    {
      std::lock_guard<std::mutex> lock(state_->streams_mu);
      stopping = state_->stopping.load();
      if (!stopping) state_->open_streams[this] = this->weak_from_this();
    }
    // No read or idle timeout while streaming: only writes are bounded (write_timeout). The
    // pending read notices the client leaving.
    Lowest().expires_never();
    WatchForClose();
    PumpStream();
    resp.start_stream(stream_impl_);
    if (stopping) EndStream(false);
  }

  void WatchForClose() {
    read_pending_ = true;
    stream_.async_read_some(net::buffer(watch_buf_), [self = this->shared_from_this()](
                                                         beast::error_code ec, std::size_t) {
      self->read_pending_ = false;
      if (self->shutdown_after_read_) {
        self->shutdown_after_read_ = false;
        self->Shutdown();
        return;
      }
      if (self->stream_ended_) return;
      if (ec) {
        self->EndStream(false);  // the client closed the connection (or it broke)
        return;
      }
      self->WatchForClose();  // whatever the client sends while streaming is ignored
    });
  }

  void PumpStream() {
    if (!streaming_ || stream_ended_ || writing_) return;
    if (out_pos_ == out_.size()) {
      out_.clear();
      out_pos_ = 0;
      out_uncounted_ = 0;
      switch (stream_impl_->Take(&out_)) {
        case StreamImpl::Next::kIdle:
          return;
        case StreamImpl::Next::kAbort:
          EndStream(false);
          return;
        case StreamImpl::Next::kFinish:
          EndStream(true);
          return;
        case StreamImpl::Next::kWrite:
          break;
      }
    }
    writing_ = true;
    // With the watch read pending, this arms only the write timer.
    Lowest().expires_after(state_->options.write_timeout);
    stream_.async_write_some(
        net::buffer(out_.data() + out_pos_, out_.size() - out_pos_),
        beast::bind_front_handler(&Session::OnStreamWrite, this->shared_from_this()));
  }

  void OnStreamWrite(beast::error_code ec, std::size_t n) {
    writing_ = false;
    if (stream_ended_) return;
    if (ec) {
      EndStream(false);  // write_timeout without progress, or the connection broke
      return;
    }
    // Disarm the write timer: a stale expiry would fail the next write at once.
    Lowest().expires_never();
    out_pos_ += n;
    const size_t uncounted = std::min(n, out_uncounted_);  // the status line and headers
    out_uncounted_ -= uncounted;
    if (n > uncounted) {
      if (std::function<void()> on_drain = stream_impl_->OnWritten(n - uncounted)) on_drain();
    }
    PumpStream();
  }

  // Ends the stream once: `graceful` after the terminating chunk was written, otherwise at
  // once. Runs on_close after the stream is marked ended and its lock released.
  void EndStream(bool graceful) {
    if (!streaming_ || stream_ended_) return;
    std::function<void()> on_close = ForgetStream();
    if (graceful) {
      Shutdown();
    } else {
      Close();
    }
    if (on_close) on_close();
  }

  std::function<void()> ForgetStream() {
    stream_ended_ = true;
    {
      std::lock_guard<std::mutex> lock(state_->streams_mu);
      state_->open_streams.erase(this);
    }
    state_->streams.fetch_sub(1);
    return stream_impl_->End();
  }

  // --- Closing ---

  // Closes after the last response byte was written: over TLS with a close_notify first
  // (bounded by the timeouts), so the client can tell the end from a truncation.
  void Shutdown() {
    if constexpr (kTls) {
      if (read_pending_) {
        // The stream's watch read must finish before the TLS shutdown reads.
        shutdown_after_read_ = true;
        beast::error_code ec;
        Lowest().socket().cancel(ec);
        return;
      }
      Lowest().expires_after(std::min(state_->options.read_timeout, state_->options.write_timeout));
      stream_.async_shutdown(
          [self = this->shared_from_this()](beast::error_code) { self->Close(); });
    } else if (linger_) {
      LingeringClose();
    } else {
      Close();
    }
  }

  // After refusing a request whose body was not read (413, 431), closing at once would make
  // the kernel answer the client's remaining bytes with a reset, which can destroy the
  // response before the client reads it. So: stop sending, read and discard what the client
  // still sends (at most kLingerBytes, for at most kLingerTime), then close.
  void LingeringClose() {
    static constexpr size_t kLingerBytes = 64u << 20;
    static constexpr auto kLingerTime = std::chrono::seconds(2);
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest().expires_after(kLingerTime);
    auto scratch = std::make_shared<std::array<char, 16384>>();
    auto drained = std::make_shared<size_t>(0);
    auto self = this->shared_from_this();
    auto drain = std::make_shared<std::function<void()>>();
    *drain = [self, scratch, drained, drain]() {
      self->Lowest().async_read_some(
          net::buffer(*scratch), [self, scratch, drained, drain](beast::error_code rec, size_t n) {
            *drained += n;
            if (rec || *drained > kLingerBytes) {
              self->Close();
              *drain = nullptr;  // break the cycle
              return;
            }
            (*drain)();
          });
    };
    (*drain)();
  }

  void Close() {
    beast::error_code ec;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ec);
    Lowest().socket().close(ec);
  }

  net::any_io_executor ex_;  // the connection's strand
  Stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  size_t body_limit_ = 0;  // of the request being read (HttpServerOptions::body_limits)
  std::shared_ptr<ServerState> state_;
  bool keep_alive_ = true;
  bool linger_ = false;  // the request's body was refused unread: LingeringClose

  // Streaming state.
  std::shared_ptr<StreamImpl> stream_impl_;
  bool streaming_ = false;
  bool stream_ended_ = false;
  bool writing_ = false;
  bool read_pending_ = false;
  bool shutdown_after_read_ = false;
  std::string out_;           // bytes being written
  size_t out_pos_ = 0;        // how many of them are written
  size_t out_uncounted_ = 0;  // leading bytes of out_ that are the head, not stream data
  std::array<char, 512> watch_buf_{};
};

Status InvalidConfig(std::string message) {
  return Status::InvalidArgument(std::move(message), "invalid_config");
}

// The TLS context for a certificate chain and key, or invalid_config naming the bad file.
Result<std::unique_ptr<ssl::context>> MakeTlsContext(const HttpServerOptions& o) {
  const std::string& cert = o.tls_cert_file;
  const std::string& key = o.tls_key_file;
  if (cert.empty())
    return InvalidConfig("tls_key_file is set but tls_cert_file is not; HTTPS needs both");
  if (key.empty()) {
    return InvalidConfig("tls_cert_file is set but tls_key_file is not; HTTPS needs both");
  }
  for (const auto& [name, path] :
       {std::pair<const char*, const std::string*>{"tls_cert_file", &cert},
        {"tls_key_file", &key}}) {
    std::ifstream f(*path);
    if (!f) return InvalidConfig(std::string(name) + " '" + *path + "' cannot be read");
  }
  auto fail = [](std::string message) {
    ERR_clear_error();
    return InvalidConfig(std::move(message));
  };
  try {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    beast::error_code ec;
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                         ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                         ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                     ec);
    if (ec || SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION) != 1) {
      return fail("cannot restrict TLS to version 1.2 or later");
    }
    ctx->use_certificate_chain_file(cert, ec);
    if (ec) {
      return fail("tls_cert_file '" + cert + "' is not a PEM certificate chain: " + ec.message());
    }
    ctx->use_private_key_file(key, ssl::context::pem, ec);
    if (ec) {
      return fail("tls_key_file '" + key + "' is not a PEM private key matching tls_cert_file '" +
                  cert + "': " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
      return fail("tls_key_file '" + key + "' does not match the certificate in tls_cert_file '" +
                  cert + "'");
    }
    return Result<std::unique_ptr<ssl::context>>(std::move(ctx));
  } catch (const std::exception& e) {
    return fail(std::string("cannot set up TLS: ") + e.what());
  }
}

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(std::shared_ptr<ServerState> state)
      : state_(std::move(state)),
        ioc_(state_->options.threads),
        acceptor_(net::make_strand(ioc_)),
        retry_timer_(acceptor_.get_executor()) {}

  Status Bind() {
    beast::error_code ec;
    auto addr = net::ip::make_address(state_->options.host, ec);
    if (ec) {
      return Status::InvalidArgument("listen host '" + state_->options.host +
                                     "' is not an IP address");
    }
    tcp::endpoint ep(addr, state_->options.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::Unavailable("cannot listen on " + state_->options.host + ":" +
                                     std::to_string(state_->options.port) + ": " + ec.message(),
                                 "listen_failed");
    }
    port_ = acceptor_.local_endpoint().port();
    return Status::Ok();
  }

  void Run() {
    Accept();
    const int n = std::max(1, state_->options.threads);
    threads_.reserve(n);
    for (int i = 0; i < n; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  template <class Stream>
  void Launch(tcp::socket&& socket) {
    auto session = std::make_shared<Session<Stream>>(std::move(socket), state_);
    session->Start(state_->connections.load() > state_->options.max_connections);
  }

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted || state_->stopping.load()) return;
        // Out of descriptors or memory: retry shortly instead of spinning on the error.
        retry_timer_.expires_after(std::chrono::milliseconds(50));
        retry_timer_.async_wait([this](beast::error_code tec) {
          if (!tec && !state_->stopping.load()) Accept();
        });
        return;
      }
      if (state_->tls) {
        Launch<TlsStream>(std::move(s));
      } else {
        Launch<PlainStream>(std::move(s));
      }
      if (!state_->stopping.load()) Accept();
    });
  }

  void Stop(std::chrono::milliseconds grace) {
    if (stopped_) return;
    stopped_ = true;
    std::vector<std::shared_ptr<StreamOwner>> streams;
    {
      std::lock_guard<std::mutex> lock(state_->streams_mu);
      state_->stopping.store(true);
      for (auto& [key, weak] : state_->open_streams) {
        if (auto s = weak.lock()) streams.push_back(std::move(s));
      }
    }
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
      retry_timer_.cancel();
    });
    for (auto& s : streams) s->PostAbort();
    streams.clear();
    const auto start = std::chrono::steady_clock::now();
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->idle_cv.wait_for(lock, grace, [this] { return state_->in_flight.load() == 0; });
    }
    // Streams end as soon as their strands run the abort; let their on_close run there.
    const auto streams_deadline =
        start + std::max<std::chrono::milliseconds>(grace, std::chrono::seconds(1));
    while (state_->streams.load() > 0 && std::chrono::steady_clock::now() < streams_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    // Give the final writes a moment to flush before the loop stops.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (state_->connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    work_.reset();
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  std::shared_ptr<ServerState> state_;
  net::io_context ioc_;
  // Keeps run() going while no I/O is pending, e.g. when every open connection waits for a
  // handler (the ingestor) to answer; released by Stop.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_{
      net::make_work_guard(ioc_)};
  tcp::acceptor acceptor_;
  net::steady_timer retry_timer_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  auto state = std::make_shared<ServerState>();
  state->options = options;
  state->handler = std::move(handler);
  if (!options.tls_cert_file.empty() || !options.tls_key_file.empty()) {
    Result<std::unique_ptr<ssl::context>> tls = MakeTlsContext(options);
    if (!tls.ok()) return tls.status();
    state->tls = std::move(tls).value();
  }
  auto impl = std::make_unique<Impl>(state);
  Status st = impl->Bind();
  if (!st.ok()) return st;
  impl->Run();
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { Stop(std::chrono::milliseconds(5000)); }

uint16_t HttpServer::port() const { return impl_->port_; }
size_t HttpServer::open_connections() const { return impl_->state_->connections.load(); }
size_t HttpServer::requests_in_flight() const { return impl_->state_->in_flight.load(); }
size_t HttpServer::open_streams() const { return impl_->state_->streams.load(); }
bool HttpServer::tls() const { return impl_->state_->tls != nullptr; }
void HttpServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

}  // namespace annals
