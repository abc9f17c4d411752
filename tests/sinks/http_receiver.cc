#include "http_receiver.h"

#include <fcntl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <thread>

namespace annals::sinks::testing {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr uint64_t kMaxBodyBytes = 64ull << 20;

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<std::string> ReceivedRequest::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

// One listening socket and its connections, all on one io_context run by one thread.
class HttpReceiver::Server {
 public:
  Server(HttpReceiver* owner) : owner_(owner), acceptor_(io_) {}

  ~Server() {
    io_.stop();
    if (thread_.joinable()) thread_.join();
    // Destroying io_ destroys the pending handlers, which own the sessions and their sockets.
  }

  Status Listen(uint16_t port) {
    boost::system::error_code ec;
    const tcp::endpoint endpoint(asio::ip::make_address_v4("127.0.0.1"), port);
    acceptor_.open(endpoint.protocol(), ec);
    // Not inherited by processes the test starts (a server under test would otherwise keep
    // the port open after Stop()).
    if (!ec) ::fcntl(acceptor_.native_handle(), F_SETFD, FD_CLOEXEC);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return Status::Internal("receiver cannot listen on port " + std::to_string(port) +
                                    ": " + ec.message());
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }

  uint16_t port() const { return port_; }

 private:
  testing::Answer Record(ReceivedRequest request) { return owner_->Record(std::move(request)); }
  uint64_t NextConnection() {
    std::lock_guard<std::mutex> lock(owner_->mu_);
    return ++owner_->connections_;
  }

  struct Session : std::enable_shared_from_this<Session> {
    Session(Server* server, tcp::socket socket, uint64_t id)
        : server(server), socket(std::move(socket)), timer(server->io_), id(id) {}

    void Read() {
      parser.emplace();
      parser->body_limit(kMaxBodyBytes);
      http::async_read(socket, buffer, *parser,
                       [self = shared_from_this()](boost::system::error_code ec, size_t) {
                         if (ec) return self->Close();
                         self->OnRequest();
                       });
    }

    void OnRequest() {
      const http::request<http::string_body>& message = parser->get();
      ReceivedRequest request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      for (const auto& field : message) {
        request.headers.emplace_back(Lowercase(field.name_string()), std::string(field.value()));
      }
      request.body = message.body();
      request.connection = id;
      keep_alive = message.keep_alive();
      answer = server->Record(std::move(request));
      if (answer.delay.count() > 0) {
        timer.expires_after(answer.delay);
        timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
          if (ec) return self->Close();
          self->Respond();
        });
        return;
      }
      Respond();
    }

    void Respond() {
      if (answer.drop) return Close();
      response = {};
      response.version(11);
      response.result(static_cast<unsigned>(answer.status));
      for (const auto& [name, value] : answer.headers) response.insert(name, value);
      response.body() = answer.body;
      response.keep_alive(keep_alive);
      response.prepare_payload();
      http::async_write(socket, response,
                        [self = shared_from_this()](boost::system::error_code ec, size_t) {
                          if (ec || !self->keep_alive) return self->Close();
                          self->Read();
                        });
    }

    void Close() {
      boost::system::error_code ignored;
      socket.shutdown(tcp::socket::shutdown_both, ignored);
      socket.close(ignored);
    }

    Server* server;
    tcp::socket socket;
    asio::steady_timer timer;
    uint64_t id;
    boost::beast::flat_buffer buffer;
    std::optional<http::request_parser<http::string_body>> parser;
    http::response<http::string_body> response;
    testing::Answer answer;
    bool keep_alive = true;
  };

  void Accept() {
    acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        return Accept();
      }
      ::fcntl(socket.native_handle(), F_SETFD, FD_CLOEXEC);
      std::make_shared<Session>(this, std::move(socket), NextConnection())->Read();
      Accept();
    });
  }

  HttpReceiver* owner_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  uint16_t port_ = 0;
};

HttpReceiver::HttpReceiver() = default;

HttpReceiver::~HttpReceiver() { Stop(); }

Status HttpReceiver::Start() {
  std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
  if (server_) return Status::Ok();
  uint16_t port = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    port = port_;
  }
  auto server = std::make_unique<Server>(this);
  ANNALS_RETURN_IF_ERROR(server->Listen(port));
  {
    std::lock_guard<std::mutex> lock(mu_);
    port_ = server->port();
  }
  server_ = std::move(server);
  return Status::Ok();
}

Status HttpReceiver::Restart() {
  Stop();
  return Start();
}

void HttpReceiver::Stop() {
  std::unique_ptr<Server> server;
  {
    std::lock_guard<std::mutex> lifecycle(lifecycle_mu_);
    server = std::move(server_);
  }
  server.reset();  // joins the server thread outside mu_ (its handlers take mu_)
}

uint16_t HttpReceiver::port() const {
  std::lock_guard<std::mutex> lock(mu_);
  return port_;
}

std::string HttpReceiver::url() const { return "http://127.0.0.1:" + std::to_string(port()); }

void HttpReceiver::Script(std::vector<Answer> answers) {
  std::lock_guard<std::mutex> lock(mu_);
  script_.assign(std::make_move_iterator(answers.begin()), std::make_move_iterator(answers.end()));
}

std::vector<ReceivedRequest> HttpReceiver::Requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

size_t HttpReceiver::request_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_.size();
}

void HttpReceiver::ClearRequests() {
  std::lock_guard<std::mutex> lock(mu_);
  requests_.clear();
}

bool HttpReceiver::WaitForRequests(size_t n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return requests_.size() >= n; });
}

Answer HttpReceiver::Record(ReceivedRequest request) {
  Answer answer;
  {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(std::move(request));
    if (!script_.empty()) {
      answer = std::move(script_.front());
      script_.pop_front();
    }
  }
  cv_.notify_all();
  return answer;
}

}  // namespace annals::sinks::testing
