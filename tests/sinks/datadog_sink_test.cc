// The Datadog destination against a real local receiver: the gzip body is inflated here with
// zlib directly and each log checked.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "gzip_test_util.h"
#include "http_receiver.h"
#include "sink_test_util.h"
#include "sinks/datadog/datadog_sink.h"

namespace annals::sinks::testing {
namespace {

boost::json::value Json(std::string_view text) { return boost::json::parse(text); }

// Inflates one gzip member (an empty string, failing the test, when it is not gzip).
std::string Gunzip(std::string_view data) {
  std::optional<std::string> out = testing::Gunzip(data);
  EXPECT_TRUE(out.has_value()) << "not a gzip member";
  return out.value_or("");
}

class DatadogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    client_ = MakeClient();
    ASSERT_NE(client_, nullptr);
  }

  std::unique_ptr<DatadogSink> Sink(const std::string& extra_config) {
    Result<DatadogConfig> config = ParseDatadogConfig(
        Json(R"({"url":")" + receiver_.url() + R"(","api_key":"0123456789abcdef0123456789abcdef")" +
             extra_config + "}"));
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    if (!config.ok()) return nullptr;
    HttpSinkOptions options;
    options.timeout = kEventually;
    return std::make_unique<DatadogSink>(std::move(config).value(), client_.get(), &clock_,
                                         options);
  }

  HttpReceiver receiver_;
  std::unique_ptr<CurlHttpClient> client_;
  ManualClock clock_{kReceivedAt};
};

TEST_F(DatadogSinkTest, PostsAGzippedArrayOfLogs) {
  std::unique_ptr<DatadogSink> sink =
      Sink(R"(,"service":"audit","hostname":"annals-1","tags":["env:prod","team:sec"])");
  ASSERT_NE(sink, nullptr);
  receiver_.Script({{.status = 202, .body = "{}"}});
  const SinkBatch batch = MakeBatch(9, 3);
  DeliveryResult result = sink->Deliver(batch);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail;
  EXPECT_EQ(result.http_status, 202);

  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 1u);
  const ReceivedRequest& r = got[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/api/v2/logs");
  EXPECT_EQ(r.Header("dd-api-key"), "0123456789abcdef0123456789abcdef");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("content-encoding"), "gzip");
  const boost::json::value logs = Json(Gunzip(r.body));
  ASSERT_TRUE(logs.is_array());
  ASSERT_EQ(logs.as_array().size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const boost::json::object& log = logs.as_array()[i].as_object();
    EXPECT_EQ(log.size(), 5u);
    EXPECT_EQ(log.at("ddsource").as_string(), "annals");
    EXPECT_EQ(log.at("service").as_string(), "audit");
    EXPECT_EQ(log.at("hostname").as_string(), "annals-1");
    EXPECT_EQ(log.at("ddtags").as_string(), "org:org_acme,env:prod,team:sec");
    // The message is the event's JSON as a string, byte for byte.
    ASSERT_TRUE(log.at("message").is_string());
    EXPECT_EQ(std::string(log.at("message").as_string()), batch.events[i].json);
  }
}

TEST_F(DatadogSinkTest, UsesTheDefaultServiceAndOmitsTheHostname) {
  std::unique_ptr<DatadogSink> sink = Sink("");
  ASSERT_NE(sink, nullptr);
  receiver_.Script({{.status = 202}});
  ASSERT_EQ(sink->Deliver(MakeBatch(1, 1)).outcome, DeliveryOutcome::kDelivered);
  const boost::json::value logs = Json(Gunzip(receiver_.Requests().at(0).body));
  const boost::json::object& log = logs.as_array().at(0).as_object();
  EXPECT_EQ(log.size(), 4u);
  EXPECT_EQ(log.at("service").as_string(), "annals");
  EXPECT_EQ(log.at("ddtags").as_string(), "org:org_acme");
  EXPECT_FALSE(log.contains("hostname"));
}

TEST_F(DatadogSinkTest, MapsAnswers) {
  std::unique_ptr<DatadogSink> sink = Sink("");
  ASSERT_NE(sink, nullptr);
  receiver_.Script({{.status = 403, .body = R"({"errors":[{"status":"403","title":"Forbidden"}]})"},
                    {.status = 413},
                    {.status = 429, .headers = {{"Retry-After", "3"}}},
                    {.status = 500}});
  DeliveryResult r = sink->Deliver(MakeBatch(1, 2));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(r.detail, R"(HTTP 403: {"errors":[{"status":"403","title":"Forbidden"}]})");
  EXPECT_EQ(r.detail.find("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(sink->Deliver(MakeBatch(1, 2)).outcome, DeliveryOutcome::kRejected);
  r = sink->Deliver(MakeBatch(1, 2));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(3000));
  EXPECT_EQ(sink->Deliver(MakeBatch(1, 2)).outcome, DeliveryOutcome::kRetry);
}

TEST_F(DatadogSinkTest, ALogStaysWithinItsBoundForTheLongestConfig) {
  std::string tags = "[";
  for (int i = 0; i < 5; ++i) tags += std::string(i ? "," : "") + "\"" + std::string(199, 't') + "\"";
  tags += "]";
  std::unique_ptr<DatadogSink> sink = Sink(R"(,"service":")" + std::string(100, 's') +
                                           R"(","hostname":")" + std::string(255, 'h') +
                                           R"(","tags":)" + tags);
  ASSERT_NE(sink, nullptr);
  receiver_.Script({{.status = 202}});
  SinkBatch batch = MakeBatch(1, 1);
  batch.organization_id = std::string(128, 'o');
  // Only quotes: the worst case of escaping.
  batch.events[0].json = "[" + std::string(1000, '"') + "]";
  ASSERT_EQ(sink->Deliver(batch).outcome, DeliveryOutcome::kDelivered);
  const std::string body = Gunzip(receiver_.Requests().at(0).body);
  const size_t log_bytes = body.size() - 2;  // without the array's brackets
  EXPECT_LE(log_bytes, 2 * batch.events[0].json.size() + DatadogSink::kMaxLogEnvelopeBytes);
  const boost::json::value logs = Json(body);
  EXPECT_EQ(std::string(logs.as_array().at(0).as_object().at("message").as_string()),
            batch.events[0].json);
}

std::string FirstProblem(std::string_view config_text) {
  Result<DatadogConfig> r = ParseDatadogConfig(Json(config_text));
  if (r.ok()) return "accepted";
  EXPECT_EQ(r.status().error_code(), "invalid_stream_config");
  EXPECT_EQ(r.status().message().find("k3y"), std::string::npos);
  return r.status().details().empty() ? "" : r.status().details().front().path;
}

TEST(DatadogConfig, ParsesAndValidates) {
  Result<DatadogConfig> r = ParseDatadogConfig(
      Json(R"({"url":"https://http-intake.logs.datadoghq.eu/","api_key":"k3y","tags":["a:b"]})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->url, "https://http-intake.logs.datadoghq.eu");
  EXPECT_EQ(r->service, "annals");
  EXPECT_EQ(r->tags, (std::vector<std::string>{"a:b"}));

  EXPECT_EQ(FirstProblem(R"({"api_key":"k3y"})"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"ftp://dd.example","api_key":"k3y"})"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example"})"), "/config/api_key");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example","api_key":""})"), "/config/api_key");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example","api_key":"k3y","service":"a b"})"),
            "/config/service");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example","api_key":"k3y","hostname":"a/b"})"),
            "/config/hostname");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example","api_key":"k3y","tags":"a:b"})"),
            "/config/tags");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example","api_key":"k3y","tags":["ok","a,b"]})"),
            "/config/tags/1");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example","api_key":"k3y","tags":["ok",3]})"),
            "/config/tags/1");
  EXPECT_EQ(FirstProblem(R"({"url":"https://dd.example","api_key":"k3y","site":"eu"})"),
            "/config/site");
  EXPECT_EQ(DatadogSecretFields(), (std::vector<std::string>{"api_key"}));
}

TEST(DatadogSink, SizeLimitsFollowTheIntakeLimits) {
  EXPECT_EQ(DatadogSink::max_batch_events(), 1000u);
  // 2 + sum(2 * json + 1600) <= 5,000,000 when sum(json + 800) <= max_batch_bytes.
  EXPECT_LE(2 + 2 * DatadogSink::max_batch_bytes(), 5000000u);
  EXPECT_EQ(DatadogSink::batch_limits().per_event_overhead * 2, DatadogSink::kMaxLogEnvelopeBytes);
  ManualClock clock(kReceivedAt);
  DatadogSink sink(DatadogConfig{}, nullptr, &clock);
  EXPECT_LE(2 * sink.max_event_bytes() + DatadogSink::kMaxLogEnvelopeBytes, 1000000u);
}

}  // namespace
}  // namespace annals::sinks::testing
