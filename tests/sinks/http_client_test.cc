// CurlHttpClient against a real local HTTP server, and ParseRetryAfter.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http_receiver.h"
#include "sink_test_util.h"
#include "sinks/curl_http_client.h"
#include "sinks/http_client.h"

namespace annals::sinks::testing {
namespace {

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    client_ = MakeClient();
    ASSERT_NE(client_, nullptr);
  }

  HttpRequest Post(const std::string& path, std::string body = "{}") {
    HttpRequest r;
    r.url = receiver_.url() + path;
    r.body = std::move(body);
    r.timeout = kEventually;
    return r;
  }

  HttpReceiver receiver_;
  std::unique_ptr<CurlHttpClient> client_;
};

TEST_F(HttpClientTest, PassesStatusHeadersAndBodyThrough) {
  receiver_.Script({{.status = 201,
                     .headers = {{"X-Custom-Header", " Some Value "}, {"Retry-After", "7"}},
                     .body = "created"}});
  HttpRequest request = Post("/hooks/in?x=1", R"({"a":1})");
  request.headers = {{"Content-Type", "application/json"}, {"X-Test", "yes"}};
  Result<HttpResponse> r = client_->Send(request);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "created");
  EXPECT_EQ(r->Header("x-custom-header"), "Some Value");
  EXPECT_EQ(r->Header("retry-after"), "7");
  EXPECT_EQ(r->Header("X-Custom-Header"), std::nullopt) << "names are lowercase";
  for (const auto& [name, value] : r->headers) {
    for (char c : name) EXPECT_FALSE(c >= 'A' && c <= 'Z') << name;
  }

  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].target, "/hooks/in?x=1");
  EXPECT_EQ(got[0].body, R"({"a":1})");
  EXPECT_EQ(got[0].Header("x-test"), "yes");
  EXPECT_EQ(got[0].Header("content-type"), "application/json");
  EXPECT_EQ(got[0].Header("user-agent"), DefaultUserAgent());
  EXPECT_EQ(got[0].Header("expect"), std::nullopt);
}

TEST_F(HttpClientTest, SendsNoDefaultContentTypeAndOtherMethods) {
  HttpRequest put = Post("/object", "payload");
  put.method = "PUT";
  ASSERT_TRUE(client_->Send(put).ok());
  HttpRequest get = Post("/status", "");
  get.method = "GET";
  ASSERT_TRUE(client_->Send(get).ok());
  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].method, "PUT");
  EXPECT_EQ(got[0].body, "payload");
  EXPECT_EQ(got[0].Header("content-type"), std::nullopt);
  EXPECT_EQ(got[1].method, "GET");
  EXPECT_EQ(got[1].body, "");
}

TEST_F(HttpClientTest, ReusesTheConnectionAcrossSends) {
  for (int i = 0; i < 3; ++i) {
    Result<HttpResponse> r = client_->Send(Post("/n"));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].connection, got[1].connection);
  EXPECT_EQ(got[1].connection, got[2].connection);
}

TEST_F(HttpClientTest, KeepsAtMostMaxResponseBytesAndReadsTheRest) {
  const std::string big(1 << 20, 'x');
  receiver_.Script({{.status = 500, .body = big}, {.status = 200, .body = "next"}});
  Result<HttpResponse> r = client_->Send(Post("/big"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body.size(), 64u * 1024);
  // The rest of the body was read: the same connection carries the next exchange.
  r = client_->Send(Post("/after"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "next");
  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].connection, got[1].connection);

  std::unique_ptr<CurlHttpClient> small = MakeClient(PermissivePolicy(), 10);
  receiver_.Script({{.status = 200, .body = "0123456789abcdef"}});
  r = small->Send(Post("/small"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "0123456789");
}

TEST_F(HttpClientTest, ReturnsRedirectsWithoutFollowingThem) {
  receiver_.Script({{.status = 302, .headers = {{"Location", receiver_.url() + "/elsewhere"}}},
                    {.status = 307, .headers = {{"Location", "file:///etc/passwd"}}}});
  Result<HttpResponse> r = client_->Send(Post("/here"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(r->Header("location"), receiver_.url() + "/elsewhere");
  r = client_->Send(Post("/again"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 307);
  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].target, "/here");
  EXPECT_EQ(got[1].target, "/again");
}

TEST_F(HttpClientTest, TimesOut) {
  receiver_.Script({{.status = 200, .delay = 5s}});
  HttpRequest request = Post("/slow");
  request.timeout = 300ms;
  Result<HttpResponse> r = client_->Send(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().error_code(), "destination_timeout") << r.status().ToString();
  EXPECT_EQ(receiver_.request_count(), 1u);
  // The client recovers on a fresh connection.
  ASSERT_TRUE(client_->Send(Post("/fast")).ok());
}

TEST_F(HttpClientTest, RefusedConnectionIsUnreachableUntilTheReceiverRestarts) {
  ASSERT_TRUE(client_->Send(Post("/before")).ok());
  receiver_.Stop();
  Result<HttpResponse> r = client_->Send(Post("/down"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kUnavailable);
  EXPECT_EQ(r.status().error_code(), "destination_unreachable") << r.status().ToString();
  ASSERT_TRUE(receiver_.Restart().ok());
  r = client_->Send(Post("/up"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(receiver_.Requests().back().target, "/up");
}

TEST_F(HttpClientTest, ADroppedConnectionIsUnreachable) {
  receiver_.Script({{.drop = true}});
  Result<HttpResponse> r = client_->Send(Post("/drop"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "destination_unreachable") << r.status().ToString();
}

TEST_F(HttpClientTest, TheDefaultPolicyRefusesLocalAddressesBeforeConnecting) {
  const AddressPolicy strict;
  std::unique_ptr<CurlHttpClient> client = MakeClient(strict);
  const std::string port = std::to_string(receiver_.port());
  for (const std::string& url :
       {"http://127.0.0.1:" + port + "/", "http://2130706433:" + port + "/",
        "http://[::ffff:127.0.0.1]:" + port + "/", "http://localhost:" + port + "/",
        "http://0x7f.1:" + port + "/", "http://127.1:" + port + "/"}) {
    HttpRequest request;
    request.url = url;
    request.body = "{}";
    Result<HttpResponse> r = client->Send(request);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << url;
    EXPECT_EQ(r.status().error_code(), "destination_not_allowed")
        << url << ": " << r.status().ToString();
  }
  EXPECT_EQ(receiver_.request_count(), 0u);
}

TEST_F(HttpClientTest, RefusesSchemesOtherThanHttpAndHttps) {
  const std::string port = std::to_string(receiver_.port());
  for (const std::string& url :
       {"ftp://127.0.0.1:" + port + "/x", std::string("file:///etc/passwd"),
        std::string("gopher://127.0.0.1/"), std::string("not a url"), std::string("/relative"),
        std::string("http://"), std::string("")}) {
    HttpRequest request;
    request.url = url;
    Result<HttpResponse> r = client_->Send(request);
    ASSERT_FALSE(r.ok()) << url;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << url;
    EXPECT_EQ(r.status().error_code(), "invalid_destination")
        << url << ": " << r.status().ToString();
  }
  EXPECT_EQ(receiver_.request_count(), 0u);
}

TEST_F(HttpClientTest, RefusesHeadersThatWouldSplitTheRequest) {
  HttpRequest request = Post("/x");
  request.headers = {{"X-Evil", "a\r\nHost: elsewhere"}};
  Result<HttpResponse> r = client_->Send(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_request");
  request.headers = {{"Bad Name", "v"}};
  r = client_->Send(request);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_request");
  EXPECT_EQ(receiver_.request_count(), 0u);
}

TEST(CurlHttpClient, NeedsAPolicyAndAReadableCaFile) {
  Result<std::unique_ptr<CurlHttpClient>> r = CurlHttpClient::Create({});
  EXPECT_FALSE(r.ok());
  CurlHttpClientOptions options;
  options.policy = &PermissivePolicy();
  options.ca_file = "/nonexistent/ca.pem";
  r = CurlHttpClient::Create(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

// --- ParseRetryAfter ------------------------------------------------------------------------

// 1994-11-06T08:49:00Z, 37 seconds before the dates below.
constexpr TimestampUs kNow = 784111740LL * 1000000;

TEST(ParseRetryAfter, DeltaSeconds) {
  EXPECT_EQ(ParseRetryAfter("120", kNow), std::chrono::milliseconds(120000));
  EXPECT_EQ(ParseRetryAfter(" 5 ", kNow), std::chrono::milliseconds(5000));
  EXPECT_EQ(ParseRetryAfter("0", kNow), std::chrono::milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("-3", kNow), std::chrono::milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999999", kNow),
            std::chrono::milliseconds(int64_t{365} * 24 * 3600 * 1000));
}

TEST(ParseRetryAfter, HttpDatesInAllThreeForms) {
  const auto k37s = std::chrono::milliseconds(37000);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kNow), k37s);
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", kNow), k37s);
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", kNow), k37s);
  EXPECT_EQ(ParseRetryAfter("Sun Nov 16 08:49:37 1994", kNow),
            std::chrono::milliseconds((10LL * 86400 + 37) * 1000));
  // A date in the past means now.
  EXPECT_EQ(ParseRetryAfter("Sat, 05 Nov 1994 08:49:37 GMT", kNow), std::chrono::milliseconds(0));
  // Sub-second "now" is measured exactly.
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", kNow + 500000),
            std::chrono::milliseconds(36500));
}

TEST(ParseRetryAfter, RefusesAnythingElse) {
  for (const char* bad : {"", "  ", "abc", "1.5", "5s", "+5", "- 5",
                          "Sun, 31 Feb 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
                          "Sun, 06 Nov 1994 25:49:37 GMT", "Sun, 6 Nov 1994 08:49:37 GMT",
                          "Sunday, 06-Nov-1994 08:49:37 GMT", "Sun Nov 6 08:49:37 1994",
                          "Xyz, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:37 GMT x"}) {
    EXPECT_EQ(ParseRetryAfter(bad, kNow), std::nullopt) << bad;
  }
}

TEST(HttpResponse, HeaderFindsTheFirstOfAName) {
  HttpResponse r;
  r.headers = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(r.Header("a"), "1");
  EXPECT_EQ(r.Header("b"), "2");
  EXPECT_EQ(r.Header("c"), std::nullopt);
}

}  // namespace
}  // namespace annals::sinks::testing
