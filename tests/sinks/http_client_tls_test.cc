// CurlHttpClient over TLS: peer verification is always on, and ca_file adds a trusted CA.
// A minimal HTTPS server (OpenSSL, one thread) with a freshly made self-signed certificate.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "sink_test_util.h"
#include "sinks/curl_http_client.h"

namespace annals::sinks::testing {
namespace {

// Writes a self-signed certificate for IP 127.0.0.1 and its key as PEM files in `dir`.
bool MakeCertificate(const std::filesystem::path& dir, std::string* cert_file,
                     std::string* key_file) {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* cert = X509_new();
  if (key == nullptr || cert == nullptr) return false;
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("annals test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] :
       {std::pair{NID_subject_alt_name, "IP:127.0.0.1"}, std::pair{NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) return false;
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(cert, key, EVP_sha256()) == 0) return false;
  *cert_file = (dir / "server.crt").string();
  *key_file = (dir / "server.key").string();
  FILE* f = std::fopen(cert_file->c_str(), "w");
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_file->c_str(), "w");
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
  return true;
}

// Answers every HTTPS request with 200 "tls ok" and closes the connection.
class TlsServer {
 public:
  bool Start(const std::string& cert_file, const std::string& key_file) {
    // OpenSSL writes with plain write(): a client that hung up (after refusing the
    // certificate) must not kill the test process with SIGPIPE.
    signal(SIGPIPE, SIG_IGN);
    ctx_ = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_file(ctx_, cert_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx_, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return false;
    }
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(fd_, 8) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      return false;
    }
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
    return true;
  }

  ~TlsServer() {
    stopping_ = true;
    if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    SSL_CTX_free(ctx_);
  }

  uint16_t port() const { return port_; }
  int handshakes() const { return handshakes_; }

 private:
  void Serve() {
    while (!stopping_) {
      const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return;
      timeval tv{5, 0};
      setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      SSL* ssl = SSL_new(ctx_);
      SSL_set_fd(ssl, conn);
      if (SSL_accept(ssl) == 1) {
        ++handshakes_;
        std::string request;
        char buf[4096];
        while (request.find("\r\n\r\n") == std::string::npos) {
          const int n = SSL_read(ssl, buf, sizeof buf);
          if (n <= 0) break;
          request.append(buf, static_cast<size_t>(n));
        }
        const std::string response =
            "HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\ntls ok";
        SSL_write(ssl, response.data(), static_cast<int>(response.size()));
        SSL_shutdown(ssl);
      }
      SSL_free(ssl);
      close(conn);
    }
  }

  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> handshakes_{0};
};

class HttpClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("annals-sinks-tls-" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    ASSERT_TRUE(MakeCertificate(dir_, &cert_, &key_));
    ASSERT_TRUE(server_.Start(cert_, key_));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  HttpRequest Get() {
    HttpRequest r;
    r.method = "GET";
    r.url = "https://127.0.0.1:" + std::to_string(server_.port()) + "/";
    r.timeout = kEventually;
    return r;
  }

  std::filesystem::path dir_;
  std::string cert_, key_;
  TlsServer server_;
};

TEST_F(HttpClientTlsTest, RefusesACertificateNoTrustedCaSigned) {
  std::unique_ptr<CurlHttpClient> client = MakeClient();
  Result<HttpResponse> r = client->Send(Get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "destination_unreachable");
  EXPECT_NE(r.status().message().find("TLS"), std::string::npos) << r.status().message();
}

TEST_F(HttpClientTlsTest, TrustsTheExtraCaFile) {
  CurlHttpClientOptions options;
  options.policy = &PermissivePolicy();
  options.ca_file = cert_;
  Result<std::unique_ptr<CurlHttpClient>> client = CurlHttpClient::Create(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  Result<HttpResponse> r = (*client)->Send(Get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "tls ok");
  // A second exchange (a new connection: the server closes each one) verifies again.
  r = (*client)->Send(Get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server_.handshakes(), 2);
}

TEST_F(HttpClientTlsTest, ChecksTheHostNameAgainstTheCertificate) {
  CurlHttpClientOptions options;
  options.policy = &PermissivePolicy();
  options.ca_file = cert_;
  Result<std::unique_ptr<CurlHttpClient>> client = CurlHttpClient::Create(options);
  ASSERT_TRUE(client.ok());
  HttpRequest request = Get();
  // "localhost" resolves to this server but is not the name the certificate was made for.
  request.url = "https://localhost:" + std::to_string(server_.port()) + "/";
  Result<HttpResponse> r = (*client)->Send(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "destination_unreachable") << r.status().ToString();
  EXPECT_NE(r.status().message().find("TLS"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace annals::sinks::testing
