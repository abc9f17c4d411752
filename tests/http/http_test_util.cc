#include "http_test_util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>

namespace annals::http_test {

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("annals-http-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

[[noreturn]] void Fail(const std::string& what) {
  ERR_print_errors_fp(stderr);
  throw std::runtime_error(what);
}

void WritePem(const std::filesystem::path& path, const std::function<int(FILE*)>& write) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) Fail("cannot create " + path.string());
  const int ok = write(f);
  std::fclose(f);
  if (ok != 1) Fail("cannot write " + path.string());
}

}  // namespace

CertFiles MakeSelfSignedCert(const std::filesystem::path& dir, const std::string& name) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) Fail("EC key generation failed");
  X509* cert = X509_new();
  if (!cert) Fail("X509_new failed");
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert),
                   static_cast<long>(std::random_device{}() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 7 * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* subject = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(cert, subject);
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* san =
      X509V3_EXT_conf_nid(nullptr, &v3, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1");
  if (!san || X509_add_ext(cert, san, -1) != 1) Fail("cannot add subjectAltName");
  X509_EXTENSION_free(san);
  if (X509_sign(cert, key, EVP_sha256()) == 0) Fail("X509_sign failed");

  CertFiles files{(dir / (name + ".crt")).string(), (dir / (name + ".key")).string()};
  WritePem(files.cert, [cert](FILE* f) { return PEM_write_X509(f, cert); });
  WritePem(files.key, [key](FILE* f) {
    return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  });
  X509_free(cert);
  EVP_PKEY_free(key);
  return files;
}

std::shared_ptr<SSL_CTX> MakeClientTlsContext(const std::string& ca_file, int max_version) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) Fail("SSL_CTX_new failed");
  std::shared_ptr<SSL_CTX> owned(ctx, SSL_CTX_free);
  if (max_version != 0) {
    // Let the client offer old versions at all, so that refusing them is the server's doing.
    SSL_CTX_set_security_level(ctx, 0);
    SSL_CTX_set_min_proto_version(ctx, 0);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
  }
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) Fail("bad CA file");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return owned;
}

std::unique_ptr<Conn> Conn::Open(uint16_t port, SSL_CTX* tls, int rcvbuf) {
  std::unique_ptr<Conn> c(new Conn());
  c->fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd_ < 0) return nullptr;
  if (rcvbuf > 0) ::setsockopt(c->fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  timeval tv{0, 100 * 1000};  // bounds each blocking read/write; callers loop to deadlines
  ::setsockopt(c->fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int one = 1;
  ::setsockopt(c->fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(c->fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return nullptr;
  if (tls) {
    c->ssl_ = SSL_new(tls);
    SSL_set_fd(c->ssl_, c->fd_);
    SSL_set_tlsext_host_name(c->ssl_, "localhost");
    SSL_set1_host(c->ssl_, "localhost");
    const auto deadline = std::chrono::steady_clock::now() + kEventually;
    for (;;) {
      int r = SSL_connect(c->ssl_);
      if (r == 1) break;
      int err = SSL_get_error(c->ssl_, r);
      if (err == SSL_ERROR_WANT_READ && std::chrono::steady_clock::now() < deadline) continue;
      ERR_clear_error();
      return nullptr;
    }
  }
  return c;
}

Conn::~Conn() { Close(); }

void Conn::Close() {
  if (ssl_) {
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool Conn::Send(std::string_view data) {
  while (!data.empty()) {
    ssize_t n;
    if (ssl_) {
      n = SSL_write(ssl_, data.data(), static_cast<int>(data.size()));
      if (n <= 0) {
        ERR_clear_error();
        return false;
      }
    } else {
      n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool Conn::ReadSome(std::chrono::milliseconds wait) {
  if (closed_) return false;
  const auto deadline = std::chrono::steady_clock::now() + wait;
  char buf[16384];
  do {
    if (ssl_) {
      int n = SSL_read(ssl_, buf, sizeof(buf));
      if (n > 0) {
        data_.append(buf, static_cast<size_t>(n));
        return true;
      }
      int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ) continue;  // the socket read timed out; try again
      if (err == SSL_ERROR_ZERO_RETURN) close_notify_ = true;
      ERR_clear_error();
      closed_ = true;
      return false;
    }
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n > 0) {
      data_.append(buf, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    closed_ = true;  // 0: orderly close; <0: reset or another error
    return false;
  } while (std::chrono::steady_clock::now() < deadline);
  return true;
}

bool Conn::ReadUntil(std::string_view pattern, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (data_.find(pattern) == std::string::npos) {
    if (closed_ || std::chrono::steady_clock::now() >= deadline) return false;
    ReadSome(100ms);
  }
  return true;
}

bool Conn::ReadUntilClosed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!closed_) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    ReadSome(100ms);
  }
  return true;
}

std::optional<std::string> Response::Header(std::string_view name) const {
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
    return s;
  };
  const std::string want = lower(std::string(name));
  size_t pos = head.find("\r\n");
  while (pos != std::string::npos) {
    size_t start = pos + 2;
    size_t end = head.find("\r\n", start);
    std::string line =
        head.substr(start, end == std::string::npos ? std::string::npos : end - start);
    size_t colon = line.find(':');
    if (colon != std::string::npos && lower(line.substr(0, colon)) == want) {
      size_t v = line.find_first_not_of(" \t", colon + 1);
      return v == std::string::npos ? std::string() : line.substr(v);
    }
    pos = end;
  }
  return std::nullopt;
}

std::optional<Response> ParseResponse(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos || raw.compare(0, 5, "HTTP/") != 0) return std::nullopt;
  Response r;
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  size_t sp = r.head.find(' ');
  if (sp == std::string::npos) return std::nullopt;
  r.status = std::atoi(r.head.c_str() + sp + 1);
  return r;
}

bool HasCompleteResponse(const std::string& raw) {
  std::optional<Response> r = ParseResponse(raw);
  if (!r) return false;
  std::optional<std::string> len = r->Header("Content-Length");
  return len && r->body.size() >= std::stoul(*len);
}

bool DecodeChunked(std::string_view body, std::vector<std::string>* chunks) {
  for (;;) {
    size_t eol = body.find("\r\n");
    if (eol == std::string_view::npos || eol == 0) return false;
    size_t size = 0;
    for (char c : body.substr(0, eol)) {
      int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : (c >= 'a' && c <= 'f')                    ? c - 'a' + 10
              : (c >= 'A' && c <= 'F')                    ? c - 'A' + 10
                                                          : -1;
      if (d < 0) return false;
      size = size * 16 + static_cast<size_t>(d);
    }
    body.remove_prefix(eol + 2);
    if (size == 0) return body == "\r\n";
    if (body.size() < size + 2 || body.substr(size, 2) != "\r\n") return false;
    chunks->emplace_back(body.substr(0, size));
    body.remove_prefix(size + 2);
  }
}

namespace {

size_t CurlAppend(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

std::once_flag curl_once;

}  // namespace

CurlClient::CurlClient(std::string ca_file) : ca_file_(std::move(ca_file)) {
  std::call_once(curl_once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

CurlClient::~CurlClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

CurlResult CurlClient::Get(const std::string& url) {
  CURL* c = static_cast<CURL*>(curl_);
  CurlResult r;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CurlAppend);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  if (!ca_file_.empty()) {
    curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  }
  r.curl_code = curl_easy_perform(c);
  r.error = error;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &r.new_connections);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  return r;
}

HttpServerOptions TestOptions() {
  HttpServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.threads = 2;
  o.read_timeout = 10s;
  o.idle_timeout = 10s;
  o.write_timeout = 10s;
  return o;
}

std::unique_ptr<HttpServer> StartServer(const HttpServerOptions& options, HttpHandler handler) {
  Result<std::unique_ptr<HttpServer>> s = HttpServer::Start(options, std::move(handler));
  if (!s.ok()) {
    ADD_FAILURE() << "server failed to start: " << s.status().ToString();
    return nullptr;
  }
  return std::move(s).value();
}

}  // namespace annals::http_test
