// The webhook destination against a real local receiver: Standard Webhooks signing (checked
// with an independent HMAC), both body formats, outcome mapping and config validation.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json/parse.hpp>
#include <sstream>

#include "common/sha256.h"
#include "http_receiver.h"
#include "sink_test_util.h"
#include "sinks/webhook/webhook_sink.h"

namespace annals::sinks::testing {
namespace {

// The Standard Webhooks specification's published example.
constexpr std::string_view kSpecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr std::string_view kSecondSecret = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

// base64(HMAC-SHA256(key, content)) computed directly with OpenSSL, not with annals' helpers.
std::string ReferenceSignature(std::string_view key, std::string_view content) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(content.data()), content.size(), mac, &mac_len);
  std::string b64(4 * ((mac_len + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), mac,
                                static_cast<int>(mac_len));
  b64.resize(static_cast<size_t>(n));
  return b64;
}

// The key of a whsec_ secret, decoded with OpenSSL.
std::string ReferenceKey(std::string_view secret) {
  const std::string_view b64 = secret.substr(6);
  std::string out(b64.size(), '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  out.resize(static_cast<size_t>(n));
  size_t padding = 0;
  for (auto it = b64.rbegin(); it != b64.rend() && *it == '='; ++it) ++padding;
  out.resize(out.size() - padding);
  return out;
}

boost::json::value Json(std::string_view text) { return boost::json::parse(text); }

TEST(StandardWebhookSignature, MatchesTheSpecificationExample) {
  std::optional<std::string> key = Base64Decode(kSpecSecret.substr(6));
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(StandardWebhookSignature(*key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                                     R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

class WebhookSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    client_ = MakeClient();
    ASSERT_NE(client_, nullptr);
  }

  std::unique_ptr<WebhookSink> Sink(const std::string& extra_config) {
    const std::string text = R"({"url":")" + receiver_.url() + R"(/hooks/annals?tenant=7")" +
                             extra_config + "}";
    Result<WebhookConfig> config = ParseWebhookConfig(Json(text));
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    if (!config.ok()) return nullptr;
    HttpSinkOptions options;
    options.timeout = kEventually;
    return std::make_unique<WebhookSink>(std::move(config).value(), client_.get(), &clock_,
                                         options);
  }

  // Checks that `request` carries valid Standard Webhooks headers for each of `secrets`.
  void ExpectSigned(const ReceivedRequest& request, const SinkBatch& batch,
                    const std::vector<std::string_view>& secrets) {
    EXPECT_EQ(request.Header("webhook-id"), batch.delivery_id);
    EXPECT_EQ(request.Header("webhook-timestamp"), std::to_string(kReceivedAt / 1000000));
    const std::string content =
        batch.delivery_id + "." + std::to_string(kReceivedAt / 1000000) + "." + request.body;
    std::vector<std::string> signatures;
    std::istringstream in(request.Header("webhook-signature").value_or(""));
    for (std::string s; in >> s;) signatures.push_back(s);
    ASSERT_EQ(signatures.size(), secrets.size()) << request.Header("webhook-signature").value_or("");
    for (size_t i = 0; i < secrets.size(); ++i) {
      EXPECT_EQ(signatures[i], "v1," + ReferenceSignature(ReferenceKey(secrets[i]), content));
    }
  }

  HttpReceiver receiver_;
  std::unique_ptr<CurlHttpClient> client_;
  ManualClock clock_{kReceivedAt};
};

TEST_F(WebhookSinkTest, PostsASignedJsonArray) {
  std::unique_ptr<WebhookSink> sink = Sink(
      R"(,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","headers":{"Authorization":"Bearer t0k","X-Team":"sec"})");
  ASSERT_NE(sink, nullptr);
  const SinkBatch batch = MakeBatch(41, 3);
  DeliveryResult result = sink->Deliver(batch);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail;
  EXPECT_EQ(result.http_status, 200);

  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 1u);
  const ReceivedRequest& r = got[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hooks/annals?tenant=7");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("authorization"), "Bearer t0k");
  EXPECT_EQ(r.Header("x-team"), "sec");
  EXPECT_EQ(r.body, "[" + batch.events[0].json + "," + batch.events[1].json + "," +
                        batch.events[2].json + "]");
  const boost::json::value body = Json(r.body);
  ASSERT_TRUE(body.is_array());
  EXPECT_EQ(body.as_array().size(), 3u);
  ExpectSigned(r, batch, {kSpecSecret});
}

TEST_F(WebhookSinkTest, PostsSignedNdjsonWithBothSecretsDuringRotation) {
  const std::string secrets = R"(,"format":"ndjson","secrets":[")" + std::string(kSpecSecret) +
                              R"(",")" + std::string(kSecondSecret) + R"("])";
  std::unique_ptr<WebhookSink> sink = Sink(secrets);
  ASSERT_NE(sink, nullptr);
  const SinkBatch batch = MakeBatch(7, 2);
  DeliveryResult result = sink->Deliver(batch);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail;

  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].Header("content-type"), "application/x-ndjson");
  EXPECT_EQ(got[0].body, batch.events[0].json + "\n" + batch.events[1].json + "\n");
  ExpectSigned(got[0], batch, {kSpecSecret, kSecondSecret});
}

TEST_F(WebhookSinkTest, RetriesKeepTheDeliveryIdAndSignAgainAtTheirTime) {
  std::unique_ptr<WebhookSink> sink = Sink(R"(,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")");
  ASSERT_NE(sink, nullptr);
  const SinkBatch batch = MakeBatch(1, 1);
  receiver_.Script({{.status = 503}});
  EXPECT_EQ(sink->Deliver(batch).outcome, DeliveryOutcome::kRetry);
  clock_.Advance(90 * 1000000);
  EXPECT_EQ(sink->Deliver(batch).outcome, DeliveryOutcome::kDelivered);
  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].Header("webhook-id"), got[1].Header("webhook-id"));
  EXPECT_EQ(got[1].Header("webhook-timestamp"), std::to_string(kReceivedAt / 1000000 + 90));
  EXPECT_NE(got[0].Header("webhook-signature"), got[1].Header("webhook-signature"));
}

TEST_F(WebhookSinkTest, MapsEveryKindOfAnswer) {
  std::unique_ptr<WebhookSink> sink = Sink(R"(,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")");
  ASSERT_NE(sink, nullptr);
  struct Case {
    Answer answer;
    DeliveryOutcome outcome;
    std::optional<std::chrono::milliseconds> retry_after;
  };
  const std::vector<Case> cases = {
      {{.status = 204}, DeliveryOutcome::kDelivered, std::nullopt},
      {{.status = 500, .body = "boom"}, DeliveryOutcome::kRetry, std::nullopt},
      {{.status = 429, .headers = {{"Retry-After", "30"}}}, DeliveryOutcome::kRetry, 30s},
      {{.status = 503, .headers = {{"Retry-After", "Mon, 06 May 2024 07:08:39 GMT"}}},
       DeliveryOutcome::kRetry, std::chrono::milliseconds(29876)},
      {{.status = 408}, DeliveryOutcome::kRetry, std::nullopt},
      {{.status = 410}, DeliveryOutcome::kFailed, std::nullopt},
      {{.status = 401}, DeliveryOutcome::kFailed, std::nullopt},
      {{.status = 403}, DeliveryOutcome::kFailed, std::nullopt},
      {{.status = 301, .headers = {{"Location", "http://127.0.0.1:1/"}}}, DeliveryOutcome::kFailed,
       std::nullopt},
      {{.status = 400}, DeliveryOutcome::kRejected, std::nullopt},
      {{.status = 413}, DeliveryOutcome::kRejected, std::nullopt},
      {{.status = 422}, DeliveryOutcome::kRejected, std::nullopt},
  };
  for (const Case& c : cases) {
    receiver_.Script({c.answer});
    DeliveryResult result = sink->Deliver(MakeBatch(1, 1));
    EXPECT_EQ(result.outcome, c.outcome) << c.answer.status << " " << result.detail;
    EXPECT_EQ(result.http_status, c.answer.status);
    EXPECT_EQ(result.retry_after, c.retry_after) << c.answer.status;
    EXPECT_TRUE(result.detail.starts_with("HTTP " + std::to_string(c.answer.status)))
        << result.detail;
  }
  EXPECT_EQ(receiver_.request_count(), cases.size()) << "no redirect was followed";
}

TEST_F(WebhookSinkTest, TheDetailIsTheStatusAndTheBodyOnOneShortLine) {
  std::unique_ptr<WebhookSink> sink = Sink(R"(,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")");
  ASSERT_NE(sink, nullptr);
  receiver_.Script({{.status = 503, .body = "upstream\r\n  overloaded\n" + std::string(500, 'z')}});
  DeliveryResult result = sink->Deliver(MakeBatch(1, 1));
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_TRUE(result.detail.starts_with("HTTP 503: upstream overloaded zzz")) << result.detail;
  EXPECT_EQ(result.detail.find('\n'), std::string::npos);
  EXPECT_LT(result.detail.size(), 230u);
  EXPECT_TRUE(result.detail.ends_with("\xE2\x80\xA6")) << result.detail;
}

TEST_F(WebhookSinkTest, TransportFailuresRetryAndRefusedDestinationsFail) {
  std::unique_ptr<WebhookSink> sink = Sink(R"(,"secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")");
  ASSERT_NE(sink, nullptr);
  receiver_.Stop();
  DeliveryResult result = sink->Deliver(MakeBatch(1, 1));
  EXPECT_EQ(result.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(result.http_status, 0);
  EXPECT_FALSE(result.detail.empty());
  ASSERT_TRUE(receiver_.Restart().ok());

  const AddressPolicy strict;
  std::unique_ptr<CurlHttpClient> strict_client = MakeClient(strict);
  Result<WebhookConfig> config = ParseWebhookConfig(
      Json(R"({"url":")" + receiver_.url() + R"(/","secret":")" + std::string(kSpecSecret) + "\"}"));
  ASSERT_TRUE(config.ok());
  WebhookSink refused(std::move(config).value(), strict_client.get(), &clock_);
  result = refused.Deliver(MakeBatch(1, 1));
  EXPECT_EQ(result.outcome, DeliveryOutcome::kFailed);
  EXPECT_NE(result.detail.find("loopback"), std::string::npos) << result.detail;
  EXPECT_EQ(receiver_.request_count(), 0u);
}

// --- config ---------------------------------------------------------------------------------

// The path of the first detail of a refused config, or "accepted".
std::string FirstProblem(std::string_view config_text) {
  Result<WebhookConfig> r = ParseWebhookConfig(Json(config_text));
  if (r.ok()) return "accepted";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().error_code(), "invalid_stream_config");
  EXPECT_FALSE(r.status().details().empty());
  EXPECT_EQ(r.status().message().find("MfKQ9r8G"), std::string::npos) << "secrets stay secret";
  return r.status().details().empty() ? "" : r.status().details().front().path;
}

TEST(WebhookConfig, ParsesAValidConfig) {
  Result<WebhookConfig> r = ParseWebhookConfig(Json(
      R"({"url":"https://hooks.example.com/in?x=1","format":"ndjson","headers":{"X-A":"1"},)"
      R"("secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->url, "https://hooks.example.com/in?x=1");
  EXPECT_EQ(r->format, WebhookFormat::kNdjson);
  ASSERT_EQ(r->headers.size(), 1u);
  EXPECT_EQ(r->headers[0], (std::pair<std::string, std::string>("X-A", "1")));
  ASSERT_EQ(r->signing_keys.size(), 2u);
  EXPECT_EQ(r->signing_keys[0], ReferenceKey(kSpecSecret));
  EXPECT_EQ(r->signing_keys[1].size(), 32u);

  r = ParseWebhookConfig(Json(R"({"url":"http://h.example","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->format, WebhookFormat::kJsonArray);
}

TEST(WebhookConfig, NamesThePathOfEachProblem) {
  const std::string secret = R"("secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")";
  EXPECT_EQ(FirstProblem("[]"), "/config");
  EXPECT_EQ(FirstProblem("{" + secret + "}"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"ftp://h.example/x",)" + secret + "}"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"file:///etc/passwd",)" + secret + "}"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"h.example/x",)" + secret + "}"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"https://u:p@h.example/",)" + secret + "}"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example/#frag",)" + secret + "}"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":42,)" + secret + "}"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example","format":"xml",)" + secret + "}"),
            "/config/format");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example","colour":"blue",)" + secret + "}"),
            "/config/colour");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example"})"), "/config/secret");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example","secret":"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"})"),
            "/config/secret");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example","secret":"whsec_MfKQ9r8G!!!"})"),
            "/config/secret");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example","secret":"whsec_c2hvcnQ="})"),
            "/config/secret");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret +
                         R"(,"secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]})"),
            "/config/secrets");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example","secrets":[]})"), "/config/secrets");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example","secrets":["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 5]})"),
            "/config/secrets/1");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret +
                         R"(,"headers":{"Content-Type":"text/plain"}})"),
            "/config/headers/Content-Type");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret +
                         R"(,"headers":{"Webhook-Signature":"forged"}})"),
            "/config/headers/Webhook-Signature");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret +
                         R"(,"headers":{"Transfer-Encoding":"chunked"}})"),
            "/config/headers/Transfer-Encoding");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret +
                         R"(,"headers":{"Bad Name":"v"}})"),
            "/config/headers/Bad Name");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret +
                         R"(,"headers":{"X-A":"v\r\nHost: evil"}})"),
            "/config/headers/X-A");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret + R"(,"headers":{"X-A":1}})"),
            "/config/headers/X-A");
  EXPECT_EQ(FirstProblem(R"({"url":"https://h.example",)" + secret + R"(,"headers":["X-A"]})"),
            "/config/headers");
}

TEST(WebhookConfig, ReportsEveryProblem) {
  Result<WebhookConfig> r = ParseWebhookConfig(Json(R"({"url":"gopher://x","extra":1})"));
  ASSERT_FALSE(r.ok());
  std::vector<std::string> paths;
  for (const ErrorDetail& d : r.status().details()) paths.push_back(d.path);
  EXPECT_EQ(paths, (std::vector<std::string>{"/config/extra", "/config/url", "/config/secret"}));
}

TEST(WebhookConfig, ListsItsSecretFields) {
  EXPECT_EQ(WebhookSecretFields(), (std::vector<std::string>{"secret", "secrets", "headers"}));
}

TEST(WebhookSink, BatchLimitsKeepTheBodyWithinOneMebibyte) {
  EXPECT_EQ(WebhookSink::max_batch_events(), 1000u);
  // json_array: 2 + sum(json) + (n - 1) <= 2 + sum(json + 1) <= 1 MiB.
  EXPECT_EQ(WebhookSink::max_batch_bytes() + 2, size_t{1} << 20);
}

}  // namespace
}  // namespace annals::sinks::testing
