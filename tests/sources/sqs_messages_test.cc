// SQS messages (Lambda event format) -> annals events.
#include "sources/sqs/sqs_messages.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "domain/canonical_json.h"
#include "source_test_util.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

constexpr TimestampUs kNow = 1893456000LL * 1000000;  // 2030-01-01

SqsSourceConfig QueueConfig(const std::string& organization = "") {
  SqsSourceConfig c;
  c.name = "backend";
  c.organization = organization;
  return c;
}

SourceBatchContext Context(const std::string& implied = "") {
  SourceBatchContext ctx;
  ctx.idempotency_ttl_us = 14LL * 24 * 3600 * 1000000;
  ctx.now = kNow;
  ctx.implied_organization_id = implied;
  return ctx;
}

// An SQS Lambda event with one message per body.
std::string Event(const std::vector<std::string>& bodies,
                  const std::string& arn = "arn:aws:sqs:us-east-2:123456789012:audit-events",
                  const std::string& group = "") {
  json::array records;
  for (size_t i = 0; i < bodies.size(); ++i) {
    json::object r;
    r["messageId"] = "m" + std::to_string(i);
    r["receiptHandle"] = "AQEB...";
    r["body"] = bodies[i];
    json::object attributes{{"ApproximateReceiveCount", "1"}, {"SentTimestamp", "1545082649183"}};
    if (!group.empty()) attributes["MessageGroupId"] = group;
    r["attributes"] = attributes;
    r["messageAttributes"] = json::object();
    r["eventSource"] = "aws:sqs";
    r["eventSourceARN"] = arn;
    r["awsRegion"] = "us-east-2";
    records.push_back(r);
  }
  return json::serialize(json::object{{"Records", records}});
}

LambdaBatch Decode(const std::string& body, const SqsSourceConfig& config = QueueConfig(),
                   const std::string& implied = "") {
  Result<LambdaBatch> batch = DecodeSqsEvent(body, config, EventLimits{}, Context(implied));
  EXPECT_TRUE(batch.ok()) << batch.status().ToString();
  return batch.ok() ? std::move(batch).value() : LambdaBatch{};
}

const char kNative[] =
    R"({"action":"finding.updated","occurred_at":"2026-11-29T02:03:04Z","actor":{"id":"u","type":"user"},"targets":[{"id":"F-1","type":"finding"}]})";

TEST(SqsMessagesTest, FixtureWithNativeAndWorkOsBodies) {
  LambdaBatch batch = Decode(ReadTestData("sqs/messages.json"));
  ASSERT_EQ(batch.records.size(), 2u);
  const LambdaRecord& native = batch.records[0];
  EXPECT_EQ(native.item_identifier, "059f36b4-87a3-44ab-83d2-661975830a7d");
  EXPECT_EQ(native.ordering_key, "");  // a standard queue has no order
  ASSERT_TRUE(native.draft.ok()) << native.draft.status().ToString();
  EXPECT_EQ(native.draft->idempotency_key, "sqs backend 059f36b4-87a3-44ab-83d2-661975830a7d");
  json::value e = DraftJson(*native.draft);
  EXPECT_EQ(e.at("organization_id").as_string(), "org_acme");
  EXPECT_EQ(e.at("occurred_at").as_string(), "2026-11-29T02:03:04.123000Z");
  EXPECT_EQ(Canonical(e.at("source")),
            R"({"kind":"sqs","message_id":"059f36b4-87a3-44ab-83d2-661975830a7d","name":"backend"})");
  EXPECT_EQ(e.at("changes").at("op").as_string(), "update");

  const LambdaRecord& workos = batch.records[1];
  ASSERT_TRUE(workos.draft.ok()) << workos.draft.status().ToString();
  json::value w = DraftJson(*workos.draft);
  EXPECT_EQ(w.at("organization_id").as_string(), "org_acme");
  EXPECT_EQ(w.at("action").as_string(), "user.signed_in");
  EXPECT_EQ(w.at("context").at("location").as_string(), "203.0.113.7");
  EXPECT_EQ(w.at("metadata").at("method").as_string(), "sso");
  EXPECT_EQ(w.at("version").as_int64(), 1);
}

TEST(SqsMessagesTest, OrganizationFromBodyThenSourceThenKey) {
  // No organization anywhere: the event rule reports it.
  LambdaBatch batch = Decode(Event({kNative}));
  ASSERT_FALSE(batch.records[0].draft.ok());
  EXPECT_EQ(batch.records[0].draft.status().details()[0].path, "/Records/0/body/organization_id");

  batch = Decode(Event({kNative}), QueueConfig("org_default"));
  ASSERT_TRUE(batch.records[0].draft.ok());
  EXPECT_EQ(batch.records[0].draft->fields.organization_id, "org_default");

  batch = Decode(Event({kNative}), QueueConfig(), "org_key");
  ASSERT_TRUE(batch.records[0].draft.ok());
  EXPECT_EQ(batch.records[0].draft->fields.organization_id, "org_key");

  std::string with_org = kNative;
  with_org.insert(1, R"("organization_id":"org_body",)");
  batch = Decode(Event({with_org}), QueueConfig("org_default"));
  ASSERT_TRUE(batch.records[0].draft.ok());
  EXPECT_EQ(batch.records[0].draft->fields.organization_id, "org_body");
}

TEST(SqsMessagesTest, BadBodiesFailAloneWithTheirPath) {
  struct Case {
    std::string body;
    std::string code;
    std::string path;
  } cases[] = {
      {"not json", "invalid_json", "/Records/1/body"},
      {"", "invalid_json", "/Records/1/body"},
      {R"({"a":1,"a":2})", "invalid_json", "/Records/1/body/a"},
      {"[1,2]", "invalid_record", "/Records/1/body"},
      {R"("just a string")", "invalid_record", "/Records/1/body"},
      {R"({"action":"x.y","occurred_at":"2026-11-29T02:03:04Z","actor":{"id":"u","type":"user"},"targets":[{"id":"","type":"t"}]})",
       "invalid_event", "/Records/1/body/targets/0/id"},
      {R"({"action":"x.y","occurred_at":"2026-11-29T02:03:04Z","actor":{"id":"u","type":"user"},"targets":[{"id":"1","type":"t"}],"n":9007199254740993})",
       "invalid_json", "/Records/1/body/n"},
      {R"({"action":"x.y","occurred_at":"2026-11-29T02:03:04Z","actor":{"id":"u","type":"user"},"targets":[{"id":"1","type":"t"}],"idempotency_key":"k"})",
       "invalid_event", "/Records/1/body/idempotency_key"},
      {R"({"organization_id":"o","event":{"action":"x.y","occurred_at":"2026-11-29T02:03:04Z","actor":{"id":"u","type":"user"},"targets":[]}})",
       "invalid_event", "/Records/1/body/event/targets"},
      {R"({"organization_id":"o","event":{"action":"x.y"},"extra":1})", "invalid_record",
       "/Records/1/body/extra"},
      {R"({"organization_id":"o","event":[]})", "invalid_event", "/Records/1/body/event"},
  };
  for (const Case& c : cases) {
    LambdaBatch batch = Decode(Event({kNative, c.body, kNative}), QueueConfig("org_default"));
    ASSERT_EQ(batch.records.size(), 3u);
    EXPECT_TRUE(batch.records[0].draft.ok());
    EXPECT_TRUE(batch.records[2].draft.ok());
    ASSERT_FALSE(batch.records[1].draft.ok()) << c.body;
    const Status& s = batch.records[1].draft.status();
    EXPECT_EQ(s.error_code(), c.code) << c.body << " " << s.ToString();
    ASSERT_FALSE(s.details().empty());
    EXPECT_EQ(s.details()[0].path, c.path) << c.body << " " << s.ToString();
  }
}

TEST(SqsMessagesTest, BodyMustMatchItsMd5) {
  json::value event = json::parse(Event({kNative}));
  json::object& r = event.at("Records").as_array()[0].as_object();
  r["md5OfBody"] = "00000000000000000000000000000000";
  LambdaBatch batch = Decode(json::serialize(event), QueueConfig("o"));
  ASSERT_FALSE(batch.records[0].draft.ok());
  EXPECT_EQ(batch.records[0].draft.status().details()[0].path, "/Records/0/md5OfBody");
  r["body"] = "Test message.";
  r["md5OfBody"] = "e4e68fb7bd0e697a0ae8f1bb342846b3";  // AWS's documented example pair
  batch = Decode(json::serialize(event), QueueConfig("o"));
  ASSERT_FALSE(batch.records[0].draft.ok());
  EXPECT_EQ(batch.records[0].draft.status().error_code(), "invalid_json");  // not md5
}

TEST(SqsMessagesTest, FifoMessagesAreOrderedByGroup) {
  LambdaBatch batch =
      Decode(Event({kNative, kNative}, "arn:aws:sqs:us-east-2:123456789012:audit.fifo", "org_a"),
             QueueConfig("o"));
  ASSERT_EQ(batch.records.size(), 2u);
  EXPECT_EQ(batch.records[0].ordering_key, "group org_a");
  EXPECT_EQ(batch.records[1].ordering_key, "group org_a");
}

TEST(SqsEnvelopeTest, NotAnSqsEvent) {
  struct Case {
    std::string body;
    std::string code;
    std::string message_part;
  } cases[] = {
      {"{", "invalid_json", ""},
      {"{}", "invalid_request", "has no Records"},
      {R"({"Records":"x"})", "invalid_request", "array"},
      {ReadTestData("dynamodb/insert.json"), "invalid_request", "/v1/sources/dynamodb/{name}"},
      {R"({"Records":[{"eventSource":"aws:sqs","body":"{}"}]})", "invalid_request", "messageId"},
      {R"({"Records":[{"messageId":"1","body":"{}"}]})", "invalid_request", "aws:sqs"},
  };
  for (const Case& c : cases) {
    Result<LambdaBatch> batch = DecodeSqsEvent(c.body, QueueConfig(), EventLimits{}, Context());
    ASSERT_FALSE(batch.ok()) << c.body;
    EXPECT_EQ(batch.status().error_code(), c.code) << batch.status().ToString();
    EXPECT_NE(batch.status().message().find(c.message_part), std::string::npos)
        << batch.status().ToString();
  }
}

}  // namespace
}  // namespace annals::testing
