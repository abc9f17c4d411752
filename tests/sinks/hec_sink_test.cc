// The Splunk HEC destination against a real local receiver.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "http_receiver.h"
#include "sink_test_util.h"
#include "sinks/splunk/hec_sink.h"

namespace annals::sinks::testing {
namespace {

boost::json::value Json(std::string_view text) { return boost::json::parse(text); }

// Splits a body of concatenated JSON objects into the objects' texts, by brace depth outside
// strings (independent of the sink's own writer).
std::vector<std::string> SplitConcatenated(std::string_view body) {
  std::vector<std::string> out;
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  size_t start = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' && depth++ == 0) start = i;
    if (c == '}' && --depth == 0) out.emplace_back(body.substr(start, i - start + 1));
  }
  return out;
}

class HecSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    client_ = MakeClient();
    ASSERT_NE(client_, nullptr);
  }

  std::unique_ptr<SplunkHecSink> Sink(const std::string& extra_config) {
    Result<SplunkHecConfig> config = ParseSplunkHecConfig(Json(
        R"({"url":")" + receiver_.url() + R"(/","token":"11111111-2222-3333-4444-555555555555")" +
        extra_config + "}"));
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    if (!config.ok()) return nullptr;
    HttpSinkOptions options;
    options.timeout = kEventually;
    return std::make_unique<SplunkHecSink>(std::move(config).value(), client_.get(), &clock_,
                                           options);
  }

  HttpReceiver receiver_;
  std::unique_ptr<CurlHttpClient> client_;
  ManualClock clock_{kReceivedAt};
};

TEST_F(HecSinkTest, PostsOneEnvelopePerEventToTheCollector) {
  std::unique_ptr<SplunkHecSink> sink = Sink(R"(,"index":"audit","host":"annals-1")");
  ASSERT_NE(sink, nullptr);
  receiver_.Script({{.status = 200, .body = R"({"text":"Success","code":0})"}});
  const SinkBatch batch = MakeBatch(5, 3);
  DeliveryResult result = sink->Deliver(batch);
  EXPECT_EQ(result.outcome, DeliveryOutcome::kDelivered) << result.detail;

  std::vector<ReceivedRequest> got = receiver_.Requests();
  ASSERT_EQ(got.size(), 1u);
  const ReceivedRequest& r = got[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/services/collector/event");
  EXPECT_EQ(r.Header("authorization"), "Splunk 11111111-2222-3333-4444-555555555555");
  EXPECT_EQ(r.Header("content-type"), "application/json");
  EXPECT_EQ(r.Header("x-splunk-request-channel"), HecChannelFor(batch.stream_id));

  const std::vector<std::string> objects = SplitConcatenated(r.body);
  ASSERT_EQ(objects.size(), 3u) << r.body;
  size_t total = 0;
  for (size_t i = 0; i < objects.size(); ++i) {
    total += objects[i].size();
    const boost::json::value v = Json(objects[i]);
    const boost::json::object& o = v.as_object();
    EXPECT_EQ(o.size(), 6u) << objects[i];
    EXPECT_EQ(o.at("source").as_string(), "annals");
    EXPECT_EQ(o.at("sourcetype").as_string(), "annals:event");
    EXPECT_EQ(o.at("index").as_string(), "audit");
    EXPECT_EQ(o.at("host").as_string(), "annals-1");
    // The event is embedded verbatim as an object, not as a string.
    EXPECT_TRUE(o.at("event").is_object());
    EXPECT_NE(objects[i].find(",\"event\":" + batch.events[i].json + "}"), std::string::npos);
    // received_at as epoch seconds with exactly three decimals, written as a JSON number.
    const TimestampUs us = batch.events[i].received_at;
    const std::string time = std::to_string(us / 1000000) + "." +
                             std::string(3 - std::to_string((us % 1000000) / 1000).size(), '0') +
                             std::to_string((us % 1000000) / 1000);
    EXPECT_TRUE(objects[i].starts_with("{\"time\":" + time + ",")) << objects[i];
    EXPECT_TRUE(o.at("time").is_double());
  }
  EXPECT_EQ(total, r.body.size()) << "objects are concatenated without separators";
  EXPECT_TRUE(objects[0].starts_with("{\"time\":1714979289.128,")) << objects[0];
}

TEST_F(HecSinkTest, UsesDefaultsAndOmitsUnsetFields) {
  std::unique_ptr<SplunkHecSink> sink = Sink(R"(,"sourcetype":"_json","source":"prod")");
  ASSERT_NE(sink, nullptr);
  ASSERT_EQ(sink->Deliver(MakeBatch(1, 1)).outcome, DeliveryOutcome::kDelivered);
  const boost::json::value v = Json(receiver_.Requests().at(0).body);
  const boost::json::object& o = v.as_object();
  EXPECT_EQ(o.size(), 4u);
  EXPECT_FALSE(o.contains("host"));
  EXPECT_FALSE(o.contains("index"));
  EXPECT_EQ(o.at("sourcetype").as_string(), "_json");
  EXPECT_EQ(o.at("source").as_string(), "prod");
}

TEST_F(HecSinkTest, PutsHecErrorsIntoTheDetail) {
  std::unique_ptr<SplunkHecSink> sink = Sink("");
  ASSERT_NE(sink, nullptr);
  receiver_.Script({{.status = 403, .body = R"({"text":"Invalid token","code":4})"},
                    {.status = 400,
                     .body = R"({"text":"Invalid data format","code":6,"invalid-event-number":2})"},
                    {.status = 503,
                     .headers = {{"Retry-After", "12"}},
                     .body = R"({"text":"Server is busy","code":9})"},
                    {.status = 401, .body = "<html>no</html>"}});
  DeliveryResult r = sink->Deliver(MakeBatch(1, 3));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(r.detail, "HTTP 403: Invalid token (HEC code 4)");
  r = sink->Deliver(MakeBatch(1, 3));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRejected);
  EXPECT_EQ(r.detail, "HTTP 400: Invalid data format (HEC code 6); invalid event number 2 of the batch");
  r = sink->Deliver(MakeBatch(1, 3));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kRetry);
  EXPECT_EQ(r.retry_after, std::chrono::milliseconds(12000));
  EXPECT_EQ(r.detail, "HTTP 503: Server is busy (HEC code 9)");
  r = sink->Deliver(MakeBatch(1, 3));
  EXPECT_EQ(r.outcome, DeliveryOutcome::kFailed);
  EXPECT_EQ(r.detail, "HTTP 401: <html>no</html>");
}

TEST_F(HecSinkTest, TheEnvelopeStaysWithinItsBoundForTheLongestConfig) {
  const std::string name(100, 'n');
  std::unique_ptr<SplunkHecSink> sink = Sink(R"(,"index":")" + std::string(80, 'i') +
                                             R"(","host":")" + name + R"(","source":")" + name +
                                             R"(","sourcetype":")" + name + "\"");
  ASSERT_NE(sink, nullptr);
  SinkBatch batch = MakeBatch(1, 1);
  batch.events[0].received_at = int64_t{99999999999} * 1000000 + 999999;  // year 5138
  ASSERT_EQ(sink->Deliver(batch).outcome, DeliveryOutcome::kDelivered);
  const size_t envelope = receiver_.Requests().at(0).body.size() - batch.events[0].json.size();
  EXPECT_LE(envelope, 462u);
  EXPECT_LE(envelope, SplunkHecSink::batch_limits().per_event_overhead);
}

TEST(HecChannel, IsAStableUuidPerStream) {
  const std::string a = HecChannelFor("str_a");
  EXPECT_EQ(a, HecChannelFor("str_a"));
  EXPECT_NE(a, HecChannelFor("str_b"));
  ASSERT_EQ(a.size(), 36u);
  for (size_t i : {8u, 13u, 18u, 23u}) EXPECT_EQ(a[i], '-');
  EXPECT_EQ(a[14], '8');
}

std::string FirstProblem(std::string_view config_text) {
  Result<SplunkHecConfig> r = ParseSplunkHecConfig(Json(config_text));
  if (r.ok()) return "accepted";
  EXPECT_EQ(r.status().error_code(), "invalid_stream_config");
  EXPECT_EQ(r.status().message().find("s3cr3t"), std::string::npos);
  return r.status().details().empty() ? "" : r.status().details().front().path;
}

TEST(SplunkHecConfig, ParsesAndValidates) {
  Result<SplunkHecConfig> r =
      ParseSplunkHecConfig(Json(R"({"url":"https://splunk.example:8088/","token":"s3cr3t"})"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->url, "https://splunk.example:8088");
  EXPECT_EQ(r->sourcetype, "annals:event");
  EXPECT_EQ(r->source, "annals");
  EXPECT_FALSE(r->index.has_value());
  EXPECT_FALSE(r->host.has_value());

  EXPECT_EQ(FirstProblem(R"({"token":"s3cr3t"})"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"tcp://splunk:8088","token":"s3cr3t"})"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088/?a=b","token":"s3cr3t"})"), "/config/url");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088"})"), "/config/token");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088","token":"s3cr3t x"})"), "/config/token");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088","token":"s3cr3t","index":"Main"})"),
            "/config/index");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088","token":"s3cr3t","index":"_internal"})"),
            "/config/index");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088","token":"s3cr3t","source":"a\"b"})"),
            "/config/source");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088","token":"s3cr3t","sourcetype":""})"),
            "/config/sourcetype");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088","token":"s3cr3t","host":7})"),
            "/config/host");
  EXPECT_EQ(FirstProblem(R"({"url":"https://splunk:8088","token":"s3cr3t","channel":"x"})"),
            "/config/channel");
  EXPECT_EQ(SplunkHecSecretFields(), (std::vector<std::string>{"token"}));
}

TEST(SplunkHecSink, SizeLimitsStayUnderOneMegabytePerRequest) {
  EXPECT_EQ(SplunkHecSink::max_batch_events(), 1000u);
  EXPECT_EQ(SplunkHecSink::max_batch_bytes(), 1000000u);
  EXPECT_EQ(SplunkHecSink::batch_limits().per_event_overhead, 512u);
  ManualClock clock(kReceivedAt);
  SplunkHecSink sink(SplunkHecConfig{}, nullptr, &clock);
  EXPECT_EQ(sink.max_event_bytes(), 1000000u - 512u);
}

}  // namespace
}  // namespace annals::sinks::testing
