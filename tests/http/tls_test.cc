// HTTPS: configuration errors, real clients over TLS, and clients that do not speak TLS.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "http_test_util.h"

namespace annals::http_test {
namespace {

HttpHandler Hello(std::atomic<int>* calls = nullptr) {
  return [calls](HttpRequest&& req, Responder respond) {
    if (calls) calls->fetch_add(1);
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "hello over " + req.target;
    respond(std::move(r));
  };
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override { certs_ = MakeSelfSignedCert(dir_.path(), "server"); }

  HttpServerOptions Options() const {
    HttpServerOptions o = TestOptions();
    o.tls_cert_file = certs_.cert;
    o.tls_key_file = certs_.key;
    return o;
  }

  std::string Url(uint16_t port, const std::string& path) const {
    return "https://localhost:" + std::to_string(port) + path;
  }

  TempDir dir_;
  CertFiles certs_;
};

TEST_F(TlsTest, CurlGetsAVerifiedAnswerAndKeepsTheConnection) {
  auto server = StartServer(Options(), Hello());
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->tls());
  CurlClient curl(certs_.cert);
  CurlResult first = curl.Get(Url(server->port(), "/one"));
  ASSERT_EQ(first.curl_code, 0) << first.error;
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "hello over /one");
  EXPECT_EQ(first.new_connections, 1);
  CurlResult second = curl.Get(Url(server->port(), "/two"));
  ASSERT_EQ(second.curl_code, 0) << second.error;
  EXPECT_EQ(second.body, "hello over /two");
  EXPECT_EQ(second.new_connections, 0) << "keep-alive must work over TLS";
}

TEST_F(TlsTest, RawOpenSslClientGetsAResponseAndACleanClose) {
  auto server = StartServer(Options(), Hello());
  ASSERT_TRUE(server);
  auto tls = MakeClientTlsContext(certs_.cert);
  auto conn = Conn::Open(server->port(), tls.get());
  ASSERT_TRUE(conn);
  ASSERT_TRUE(conn->Send("GET /raw HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(conn->ReadUntilClosed());
  std::optional<Response> r = ParseResponse(conn->data());
  ASSERT_TRUE(r) << conn->data();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello over /raw");
  EXPECT_TRUE(conn->got_close_notify());
  conn->Close();  // the server waits (boundedly) for the client's side of the TLS close
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }));
}

TEST_F(TlsTest, VersionsBelowTls12AreRefused) {
  auto server = StartServer(Options(), Hello());
  ASSERT_TRUE(server);
  // The same permissive client succeeds when it may use TLS 1.2: refusing 1.1 is the server's.
  auto tls12 = MakeClientTlsContext(certs_.cert, TLS1_2_VERSION);
  EXPECT_TRUE(Conn::Open(server->port(), tls12.get()));
  auto tls11 = MakeClientTlsContext(certs_.cert, TLS1_1_VERSION);
  EXPECT_FALSE(Conn::Open(server->port(), tls11.get()));
  CurlClient curl(certs_.cert);
  EXPECT_EQ(curl.Get(Url(server->port(), "/still")).body, "hello over /still");
}

TEST_F(TlsTest, PlainHttpToTheTlsListenerFailsCleanly) {
  std::atomic<int> calls{0};
  auto server = StartServer(Options(), Hello(&calls));
  ASSERT_TRUE(server);
  auto plain = Conn::Open(server->port());
  ASSERT_TRUE(plain);
  ASSERT_TRUE(plain->Send("GET /plain HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ASSERT_TRUE(plain->ReadUntilClosed()) << "the server must close a client that does not speak TLS";
  EXPECT_EQ(plain->data().find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(calls.load(), 0);

  CurlClient curl(certs_.cert);
  CurlResult r = curl.Get(Url(server->port(), "/after"));
  EXPECT_EQ(r.curl_code, 0) << r.error;
  EXPECT_EQ(r.body, "hello over /after");
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(TlsTest, TheHandshakeIsBoundedByReadTimeout) {
  HttpServerOptions options = Options();
  options.read_timeout = std::chrono::milliseconds(300);
  options.idle_timeout = std::chrono::minutes(5);  // must not be what applies
  auto server = StartServer(options, Hello());
  ASSERT_TRUE(server);
  auto silent = Conn::Open(server->port());  // TCP only: never starts the handshake
  ASSERT_TRUE(silent);
  ASSERT_TRUE(WaitUntil([&] { return server->open_connections() == 1; }));
  EXPECT_TRUE(silent->ReadUntilClosed());
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }));
}

TEST_F(TlsTest, MaxConnectionsAppliesOverTls) {
  HttpServerOptions options = Options();
  options.max_connections = 2;
  auto server = StartServer(options, Hello());
  ASSERT_TRUE(server);
  auto tls = MakeClientTlsContext(certs_.cert);
  auto a = Conn::Open(server->port(), tls.get());
  auto b = Conn::Open(server->port(), tls.get());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(WaitUntil([&] { return server->open_connections() == 2; }));
  auto extra = Conn::Open(server->port(), tls.get());
  ASSERT_TRUE(extra) << "the refusal is sent over TLS";
  extra->Send("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
  extra->ReadUntilClosed();
  std::optional<Response> r = ParseResponse(extra->data());
  ASSERT_TRUE(r) << extra->data();
  EXPECT_EQ(r->status, 503);
  EXPECT_NE(r->body.find("overloaded"), std::string::npos);

  a->Close();
  ASSERT_TRUE(WaitUntil([&] { return server->open_connections() == 1; }));
  ASSERT_TRUE(b->Send("GET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
  ASSERT_TRUE(b->ReadUntilClosed());
  r = ParseResponse(b->data());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "hello over /b");
}

void ExpectInvalidConfig(const HttpServerOptions& options, const std::string& mentions) {
  Result<std::unique_ptr<HttpServer>> s = HttpServer::Start(options, Hello());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(s.status().error_code(), "invalid_config");
  EXPECT_NE(s.status().message().find(mentions), std::string::npos) << s.status().message();
}

TEST_F(TlsTest, BadTlsConfigurationIsAnInvalidConfigError) {
  HttpServerOptions only_cert = Options();
  only_cert.tls_key_file.clear();
  ExpectInvalidConfig(only_cert, "tls_key_file");

  HttpServerOptions only_key = Options();
  only_key.tls_cert_file.clear();
  ExpectInvalidConfig(only_key, "tls_cert_file");

  const std::string missing = (dir_.path() / "missing.crt").string();
  HttpServerOptions missing_cert = Options();
  missing_cert.tls_cert_file = missing;
  ExpectInvalidConfig(missing_cert, missing);

  HttpServerOptions missing_key = Options();
  missing_key.tls_key_file = (dir_.path() / "missing.key").string();
  ExpectInvalidConfig(missing_key, missing_key.tls_key_file);

  // A key from another pair.
  CertFiles other = MakeSelfSignedCert(dir_.path(), "other");
  HttpServerOptions mismatched = Options();
  mismatched.tls_key_file = other.key;
  ExpectInvalidConfig(mismatched, other.key);

  // A file that is not PEM at all.
  const std::string junk = (dir_.path() / "junk.pem").string();
  std::ofstream(junk) << "not a certificate\n";
  HttpServerOptions junk_cert = Options();
  junk_cert.tls_cert_file = junk;
  ExpectInvalidConfig(junk_cert, junk);
  HttpServerOptions junk_key = Options();
  junk_key.tls_key_file = junk;
  ExpectInvalidConfig(junk_key, junk);

  // The right pair still works afterwards.
  auto server = StartServer(Options(), Hello());
  ASSERT_TRUE(server);
  EXPECT_TRUE(server->tls());
}

TEST(PlainListenerTest, ReportsNoTls) {
  auto server = StartServer(TestOptions(), Hello());
  ASSERT_TRUE(server);
  EXPECT_FALSE(server->tls());
}

}  // namespace
}  // namespace annals::http_test
