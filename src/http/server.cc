#include "http/server.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url.hpp>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "http/error_mapping.h"

namespace annals {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// Shared counters and settings of one server; outlives every session (held by shared_ptr).
struct ServerState {
  HttpServerOptions options;
  HttpHandler handler;
  std::atomic<size_t> connections{0};
  std::atomic<size_t> in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::condition_variable idle_cv;
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
    req->query.emplace_back(std::string(p.key), p.has_value ? std::string(p.value) : std::string());
  }
  return true;
}

// One connection. Reads requests one at a time (no pipelining of handlers), answers each,
// honours keep-alive. All socket operations run on the connection's strand.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, std::shared_ptr<ServerState> state)
      : stream_(std::move(socket)), state_(std::move(state)) {
    state_->connections.fetch_add(1);
  }
  ~Session() { state_->connections.fetch_sub(1); }

  void Run() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::ReadHeader, shared_from_this()));
  }

  void RejectOverloaded() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->keep_alive_ = false;
      self->Write(PlainError(503, "overloaded", "too many open connections; retry later"),
                  false, 11);
    });
  }

 private:
  void ReadHeader() {
    if (state_->stopping.load()) {
      Close();
      return;
    }
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(state_->options.max_header_bytes));
    parser_->body_limit(state_->options.max_body_bytes);
    stream_.expires_after(buffer_.size() > 0 ? state_->options.read_timeout
                                             : state_->options.idle_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) {
      HandleReadError(ec);
      return;
    }
    auto& h = parser_->get();
    keep_alive_ = h.keep_alive();
    if (auto len = parser_->content_length(); len && *len > state_->options.max_body_bytes) {
      keep_alive_ = false;
      Write(PlainError(413, "request_too_large",
                       "the request body is " + std::to_string(*len) + " bytes; the limit is " +
                           std::to_string(state_->options.max_body_bytes)),
            false, 11);
      return;
    }
    stream_.expires_after(state_->options.read_timeout);
    auto expect = h[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      auto cont = std::make_shared<http::response<http::empty_body>>(http::status::continue_, 11);
      http::async_write(stream_, *cont,
                        [self = shared_from_this(), cont](beast::error_code wec, std::size_t) {
                          if (wec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void HandleReadError(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      Write(PlainError(413, "request_too_large",
                       "the request body exceeds the limit of " +
                           std::to_string(state_->options.max_body_bytes) + " bytes"),
            false, 11);
      return;
    }
    if (ec == http::error::header_limit) {
      keep_alive_ = false;
      Write(PlainError(431, "headers_too_large", "the request headers are too large"), false, 11);
      return;
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted ||
        ec == net::error::eof) {
      Close();
      return;
    }
    // Any other parse error: a clear 400, then close.
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
    auto ep = stream_.socket().remote_endpoint(rec);
    if (!rec) req.remote_address = ep.address().to_string();

    stream_.expires_never();
    state_->in_flight.fetch_add(1);
    auto self = shared_from_this();
    const bool keep_alive = keep_alive_;
    state_->handler(std::move(req), [self, keep_alive, version](HttpResponse resp) {
      net::post(self->stream_.get_executor(), [self, keep_alive, version,
                                               resp = std::move(resp)]() mutable {
        self->Write(std::move(resp), keep_alive, version);
        if (self->state_->in_flight.fetch_sub(1) == 1) {
          std::lock_guard<std::mutex> lock(self->state_->mu);
          self->state_->idle_cv.notify_all();
        }
      });
    });
  }

  void Write(HttpResponse resp, bool keep_alive, unsigned version) {
    if (state_->stopping.load()) keep_alive = false;
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(resp.status), version);
    res->set(http::field::server, "annals");
    if (!resp.content_type.empty()) res->set(http::field::content_type, resp.content_type);
    for (auto& [k, v] : resp.headers) res->set(k, v);
    res->body() = std::move(resp.body);
    res->keep_alive(keep_alive);
    res->prepare_payload();
    stream_.expires_after(state_->options.read_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res, keep_alive](beast::error_code ec,
                                                                  std::size_t) {
                        if (ec || !keep_alive) {
                          self->Close();
                          return;
                        }
                        self->ReadHeader();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<ServerState> state_;
  bool keep_alive_ = true;
};

}  // namespace

class HttpServer::Impl {
 public:
  explicit Impl(std::shared_ptr<ServerState> state)
      : state_(std::move(state)), ioc_(state_->options.threads), acceptor_(net::make_strand(ioc_)) {}

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

  void Accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket s) {
      if (ec) {
        if (ec == net::error::operation_aborted || state_->stopping.load()) return;
      } else {
        auto session = std::make_shared<Session>(std::move(s), state_);
        if (state_->connections.load() > state_->options.max_connections) {
          session->RejectOverloaded();
        } else {
          session->Run();
        }
      }
      if (!state_->stopping.load()) Accept();
    });
  }

  void Stop(std::chrono::milliseconds grace) {
    if (stopped_) return;
    stopped_ = true;
    state_->stopping.store(true);
    net::post(acceptor_.get_executor(), [this] {
      beast::error_code ec;
      acceptor_.close(ec);
    });
    {
      std::unique_lock<std::mutex> lock(state_->mu);
      state_->idle_cv.wait_for(lock, grace, [this] { return state_->in_flight.load() == 0; });
    }
    // Give the final writes a moment to flush before the loop stops.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    while (state_->connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ioc_.stop();
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  std::shared_ptr<ServerState> state_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

Result<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                      HttpHandler handler) {
  auto state = std::make_shared<ServerState>();
  state->options = options;
  state->handler = std::move(handler);
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
void HttpServer::Stop(std::chrono::milliseconds grace) { impl_->Stop(grace); }

}  // namespace annals
