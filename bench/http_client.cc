#include "http_client.h"

#include <array>
#include <cctype>
#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

namespace annals::bench {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

bool ParseServerUrl(const std::string& url, ServerUrl* out) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) return false;
  std::string rest = url.substr(prefix.size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.find('/') != std::string::npos) return false;
  auto colon = rest.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == rest.size()) return false;
  out->host = rest.substr(0, colon);
  out->port = rest.substr(colon + 1);
  if (out->host.size() > 2 && out->host.front() == '[' && out->host.back() == ']') {
    out->host = out->host.substr(1, out->host.size() - 2);
  }
  return out->port.find_first_not_of("0123456789") == std::string::npos;
}

struct HttpClient::Impl {
  ServerUrl server;
  std::string bearer;
  asio::io_context io;
  tcp::socket socket{io};
  boost::beast::flat_buffer buffer;
  bool connected = false;

  bool Connect(std::string* error) {
    boost::system::error_code ec;
    socket.close(ec);
    buffer.clear();
    tcp::resolver resolver(io);
    auto endpoints = resolver.resolve(server.host, server.port, ec);
    if (!ec) asio::connect(socket, endpoints, ec);
    if (ec) {
      *error = "cannot connect to " + server.host + ":" + server.port + ": " + ec.message();
      connected = false;
      return false;
    }
    socket.set_option(tcp::no_delay(true), ec);
    connected = true;
    return true;
  }

  bool Once(std::string_view method, std::string_view target, std::string_view body,
            std::string_view content_type, Response* out, std::string* error, bool* retryable) {
    *retryable = false;
    std::string head;
    head.reserve(256);
    head.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ");
    head.append(server.host).append(":").append(server.port);
    head.append("\r\nAuthorization: Bearer ").append(bearer);
    if (!body.empty()) {
      head.append("\r\nContent-Type: ").append(content_type);
    }
    head.append("\r\nContent-Length: ").append(std::to_string(body.size()));
    head.append("\r\n\r\n");
    std::array<asio::const_buffer, 2> bufs = {asio::buffer(head.data(), head.size()),
                                              asio::buffer(body.data(), body.size())};
    boost::system::error_code ec;
    asio::write(socket, bufs, ec);
    if (ec) {
      *error = "write: " + ec.message();
      *retryable = true;
      return false;
    }
    http::response_parser<http::string_body> parser;
    parser.body_limit(256u << 20);
    http::read(socket, buffer, parser, ec);
    if (ec) {
      *error = "read: " + ec.message();
      *retryable = ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
                   ec == asio::error::eof;
      return false;
    }
    auto& res = parser.get();
    out->status = static_cast<int>(res.result_int());
    out->body = std::move(res.body());
    if (!res.keep_alive()) connected = false;
    return true;
  }
};

HttpClient::HttpClient(ServerUrl server, std::string bearer_key) : impl_(new Impl) {
  impl_->server = std::move(server);
  impl_->bearer = std::move(bearer_key);
}

HttpClient::~HttpClient() = default;

bool HttpClient::Connect(std::string* error) { return impl_->Connect(error); }

bool HttpClient::Request(std::string_view method, std::string_view target, std::string_view body,
                         std::string_view content_type, Response* out, std::string* error) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (!impl_->connected && !impl_->Connect(error)) return false;
    bool retryable = false;
    if (impl_->Once(method, target, body, content_type, out, error, &retryable)) return true;
    impl_->connected = false;
    if (!retryable) return false;
  }
  return false;
}

std::string UrlEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

}  // namespace annals::bench
