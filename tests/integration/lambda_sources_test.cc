// POST /v1/sources/dynamodb/{name} and POST /v1/sources/sqs/{name} end to end: the real
// binary configured with [[sources.dynamodb]] and [[sources.sqs]], Lambda batches over HTTP.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "harness.h"

#ifndef ANNALS_TESTDATA
#error "ANNALS_TESTDATA must name tests/testdata"
#endif

namespace annals::testing {
namespace {

namespace json = boost::json;

const char kConfig[] = R"(
[[sources.dynamodb]]
name = "items"
organization_attribute = "tenantId"
actor_attribute = "updatedBy"
target_type = "item"

[[sources.dynamodb]]
name = "app"
organization_attribute = "orgId"
type_from_key = "pk"
id_from_keys = ["sk"]

[[sources.sqs]]
name = "backend"

[[sources.sqs]]
name = "jobs"
organization = "org_jobs"
)";

std::string ReadTestData(const std::string& relative) {
  std::ifstream in(std::string(ANNALS_TESTDATA) + "/" + relative, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// One DynamoDB stream record of table Items with key itemId = `key`.
std::string Record(const std::string& event_name, const std::string& key, const std::string& seq,
                   const std::string& images, const std::string& extra = "") {
  json::object r;
  r["eventID"] = "ev-" + seq;
  r["eventName"] = event_name;
  r["eventVersion"] = "1.1";
  r["eventSource"] = "aws:dynamodb";
  r["awsRegion"] = "us-east-1";
  json::object ddb = json::parse("{" + images + "}").as_object();
  ddb["ApproximateCreationDateTime"] = 1732845123 + std::stoll(seq.substr(seq.size() - 3));
  ddb["Keys"] = json::object{{"itemId", json::object{{"S", key}}}};
  ddb["SequenceNumber"] = seq;
  ddb["SizeBytes"] = 100;
  ddb["StreamViewType"] = "NEW_AND_OLD_IMAGES";
  r["dynamodb"] = ddb;
  r["eventSourceARN"] =
      "arn:aws:dynamodb:us-east-1:123456789012:table/Items/stream/2024-11-01T00:00:00.000";
  std::string out = json::serialize(r);
  if (!extra.empty()) out.insert(1, extra + ",");
  return out;
}

std::string Batch(const std::vector<std::string>& records) {
  std::string out = R"({"Records":[)";
  for (size_t i = 0; i < records.size(); ++i) out += (i ? "," : "") + records[i];
  return out + "]}";
}

// An SQS Lambda event with one message per body (ids m<first>, m<first+1>, ...).
std::string SqsEvent(const std::vector<std::string>& bodies, int first = 0) {
  json::array records;
  for (size_t i = 0; i < bodies.size(); ++i) {
    json::object r;
    r["messageId"] = "m" + std::to_string(first + static_cast<int>(i));
    r["receiptHandle"] = "AQEB...";
    r["body"] = bodies[i];
    r["attributes"] = json::object{{"ApproximateReceiveCount", "1"}};
    r["messageAttributes"] = json::object();
    r["eventSource"] = "aws:sqs";
    r["eventSourceARN"] = "arn:aws:sqs:us-east-2:123456789012:audit-events";
    r["awsRegion"] = "us-east-2";
    records.push_back(r);
  }
  return json::serialize(json::object{{"Records", records}});
}

std::vector<std::string> Failures(const json::value& answer) {
  std::vector<std::string> out;
  for (const auto& f : answer.at("batchItemFailures").as_array()) {
    out.emplace_back(f.at("itemIdentifier").as_string());
  }
  return out;
}

class LambdaSourcesTest : public ::testing::Test {
 protected:
  void Start(std::map<std::string, std::string> env = {{"ANNALS_ADMIN_KEY", kAdminKey},
                                                        {"ANNALS_ORGS_AUTO_CREATE", "true"}}) {
    const auto file = dir_.path() / "annals.toml";
    std::ofstream(file) << kConfig;
    ASSERT_TRUE(server_.Start(dir_.path() / "data", {"--config", file.string()}, env))
        << server_.StderrText();
  }

  ClientResponse Send(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& key = kAdminKey,
                      const std::string& content_type = "application/json") {
    HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : content_type);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClientResponse{};
  }

  // Posts a batch and expects 200; returns the answer.
  json::value PostBatch(const std::string& kind, const std::string& name, const std::string& body,
                        const std::string& key = kAdminKey) {
    ClientResponse r = Send("POST", "/v1/sources/" + kind + "/" + name, body, key);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200) return json::parse(R"({"batchItemFailures":[],"records":[]})");
    json::value v = json::parse(r.body);
    EXPECT_EQ(v.at("records").as_array().size(),
              json::parse(body).at("Records").as_array().size());
    return v;
  }

  json::value Get(const std::string& path, const std::string& key = kAdminKey) {
    ClientResponse r = Send("GET", path, "", key);
    EXPECT_EQ(r.status, 200) << path << " " << r.body;
    return r.status == 200 ? json::parse(r.body) : json::value();
  }

  // Events of an organization (`filter`: more query parameters, e.g. "&action=item.*").
  size_t CountEvents(const std::string& org, const std::string& filter = "") {
    json::value page = Get("/v1/events?limit=1000&organization_id=" + org + filter);
    return page.is_null() ? 0 : page.at("data").as_array().size();
  }

  json::value SourceStatus(const std::string& kind, const std::string& name) {
    json::value list = Get("/v1/sources");
    for (const auto& s : list.at("data").as_array()) {
      if (s.at("kind").as_string() == kind && s.at("name").as_string() == name) return s;
    }
    ADD_FAILURE() << "no source " << kind << "/" << name << " in " << json::serialize(list);
    return json::value();
  }

  std::string CreateKey(const std::string& body) {
    ClientResponse r = Send("POST", "/v1/api-keys", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(json::parse(r.body).at("key").as_string()) : "";
  }

  TempDir dir_;
  ServerProcess server_;
};

TEST_F(LambdaSourcesTest, DynamoDbFixturesBuildTheItemsHistory) {
  Start();
  std::vector<std::string> ids;
  for (const char* name : {"insert", "modify", "remove", "ttl_remove"}) {
    json::value answer =
        PostBatch("dynamodb", "items", ReadTestData(std::string("dynamodb/") + name + ".json"));
    EXPECT_TRUE(answer.at("batchItemFailures").as_array().empty()) << json::serialize(answer);
    ids.emplace_back(answer.at("records").at(0).at("id").as_string());
  }
  json::value item = Get("/v1/items/item/itm_0001?organization_id=t_42");
  EXPECT_EQ(item.at("version_count").as_int64(), 3);
  EXPECT_EQ(item.at("created_at").as_string(), "2024-11-29T01:52:03.000000Z");
  EXPECT_EQ(item.at("deleted_at").as_string(), "2024-11-29T01:55:01.000000Z");

  json::value history = Get("/v1/items/item/itm_0001/history?organization_id=t_42");
  const auto& data = history.at("data").as_array();
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[1].at("op").as_string(), "update");
  bool price_patched = false;
  for (const auto& op : data[1].at("patch").as_array()) {
    if (op.at("path").as_string() == "/price") {
      price_patched = op.at("op").as_string() == "replace" && op.at("value").as_double() == 12.5;
    }
  }
  EXPECT_TRUE(price_patched) << json::serialize(data[1].at("patch"));
  EXPECT_EQ(data[2].at("event").at("action").as_string(), "item.deleted");

  json::value event = Get("/v1/events/" + ids[0]);
  EXPECT_EQ(json::serialize(event.at("source")),
            R"({"event_id":"7de3041dd709b024af6f29e4fa13d34c","kind":"dynamodb","name":"items",)"
            R"("sequence_number":"4421584500000000017450439091","table":"Items"})");
  EXPECT_EQ(json::serialize(event.at("actor")), R"({"id":"items","type":"database"})");
  EXPECT_EQ(event.at("changes").at("after").at("price").as_double(), 9.99);

  json::value ttl = Get("/v1/events/" + ids[3]);
  EXPECT_EQ(json::serialize(ttl.at("actor")), R"({"id":"dynamodb-ttl","type":"system"})");
  EXPECT_EQ(ttl.at("action").as_string(), "item.deleted");

  json::value status = SourceStatus("dynamodb", "items");
  EXPECT_EQ(status.at("state").as_string(), "ready");
  EXPECT_EQ(status.at("events_stored").as_int64(), 4);
  EXPECT_EQ(status.at("records_failed").as_int64(), 0);
  EXPECT_TRUE(status.at("last_error").is_null() || status.at("last_error").as_string().empty());
  EXPECT_FALSE(status.at("last_success_at").is_null());
}

TEST_F(LambdaSourcesTest, RedeliveryStoresNothingTwice) {
  Start();
  const std::string body = Batch({
      Record("INSERT", "a", "1001", R"("NewImage":{"tenantId":{"S":"org_r"},"v":{"N":"1"}})"),
      Record("MODIFY", "a", "1002",
             R"("OldImage":{"tenantId":{"S":"org_r"},"v":{"N":"1"}},"NewImage":{"tenantId":{"S":"org_r"},"v":{"N":"2"}})"),
      Record("INSERT", "b", "1003", R"("NewImage":{"tenantId":{"S":"org_r"}})"),
  });
  json::value first = PostBatch("dynamodb", "items", body);
  json::value second = PostBatch("dynamodb", "items", body);
  EXPECT_TRUE(Failures(first).empty()) << json::serialize(first);
  EXPECT_EQ(json::serialize(first), json::serialize(second));  // same ids, same seqs
  EXPECT_EQ(CountEvents("org_r"), 3u);
  EXPECT_EQ(SourceStatus("dynamodb", "items").at("events_stored").as_int64(), 3);

  // SQS: the same message delivered again.
  const std::string event = EventJson("org_r", "job.finished", "2026-11-29T02:03:04Z", "u1",
                                      {{"job", "J-1"}});
  json::value s1 = PostBatch("sqs", "backend", SqsEvent({event}));
  json::value s2 = PostBatch("sqs", "backend", SqsEvent({event}));
  EXPECT_EQ(json::serialize(s1), json::serialize(s2));
  EXPECT_EQ(CountEvents("org_r"), 4u);
}

TEST_F(LambdaSourcesTest, BadRecordsFailAloneAndLaterChangesOfTheirItemWait) {
  Start();
  const std::string body = Batch({
      Record("INSERT", "ok1", "2001", R"("NewImage":{"tenantId":{"S":"org_p"}})"),
      // MODIFY without OldImage (a NEW_IMAGE stream): fails...
      Record("MODIFY", "b", "2002", R"("NewImage":{"tenantId":{"S":"org_p"}})"),
      // ...so the next change of the same item is not attempted.
      Record("REMOVE", "b", "2003", R"("OldImage":{"tenantId":{"S":"org_p"}})"),
      Record("INSERT", "ok2", "2004", R"("NewImage":{"tenantId":{"S":"org_p"}})"),
      Record("INSERT", "c", "2005", R"("NewImage":{"tenantId":{"S":"org_p"},"x":{"N":"1e"}})"),
      Record("INSERT", "d", "2006", R"("NewImage":{"tenantId":{"S":"org_p"},"x":{"Q":"1"}})"),
      Record("INSERT", "e", "2007", R"("NewImage":{"tenant":{"S":"org_p"}})"),
      Record("INSERT", "f", "2008", R"("NewImage":{"tenantId":{"S":"org_p"},"x":{"N":"9E+999999"}})"),
  });
  json::value answer = PostBatch("dynamodb", "items", body);
  EXPECT_EQ(Failures(answer),
            (std::vector<std::string>{"2002", "2003", "2005", "2006", "2007", "2008"}));
  const auto& records = answer.at("records").as_array();
  EXPECT_TRUE(records[0].as_object().contains("id"));
  EXPECT_TRUE(records[3].as_object().contains("id"));
  EXPECT_EQ(records[1].at("error").at("details").at(0).at("path").as_string(),
            "/Records/1/dynamodb/OldImage");
  EXPECT_EQ(records[2].at("error").at("code").as_string(), "not_attempted");
  EXPECT_EQ(records[4].at("error").at("details").at(0).at("path").as_string(),
            "/Records/4/dynamodb/NewImage/x/N");
  EXPECT_EQ(records[5].at("error").at("details").at(0).at("path").as_string(),
            "/Records/5/dynamodb/NewImage/x/Q");
  EXPECT_EQ(records[6].at("error").at("details").at(0).at("path").as_string(),
            "/Records/6/dynamodb/NewImage");
  EXPECT_EQ(records[7].at("error").at("details").at(0).at("path").as_string(),
            "/Records/7/dynamodb/NewImage/x/N");
  EXPECT_EQ(CountEvents("org_p"), 2u);

  json::value status = SourceStatus("dynamodb", "items");
  EXPECT_EQ(status.at("records_failed").as_int64(), 6);
  EXPECT_EQ(status.at("events_stored").as_int64(), 2);
  const std::string last_error(status.at("last_error").as_string());
  EXPECT_NE(last_error.find("2002"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("/Records/1/dynamodb/OldImage"), std::string::npos) << last_error;
  EXPECT_NE(server_.StderrText().find("/Records/4/dynamodb/NewImage/x/N"), std::string::npos);
}

TEST_F(LambdaSourcesTest, BodiesThatAreNotLambdaEventsStoreNothing) {
  Start();
  struct Case {
    std::string kind;
    std::string body;
    int status;
    std::string code;
  } cases[] = {
      {"dynamodb", "not json", 400, "invalid_json"},
      {"dynamodb", "{}", 400, "invalid_request"},
      {"dynamodb", R"({"Records":{"a":1}})", 400, "invalid_request"},
      {"dynamodb", R"({"Records":"x"})", 400, "invalid_request"},
      {"dynamodb", ReadTestData("sqs/messages.json"), 400, "invalid_request"},
      {"sqs", ReadTestData("dynamodb/insert.json"), 400, "invalid_request"},
      {"sqs", "[]", 400, "invalid_request"},
      {"sqs", R"({"Records":[{"eventSource":"aws:sqs","body":"{}"}]})", 400, "invalid_request"},
  };
  for (const Case& c : cases) {
    ClientResponse r = Send("POST", "/v1/sources/" + c.kind + "/" +
                                        (c.kind == "sqs" ? "backend" : "items"), c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " " << r.body;
    EXPECT_EQ(r.ErrorCode(), c.code) << r.body;
  }
  // The message says what to do.
  ClientResponse r = Send("POST", "/v1/sources/dynamodb/items", ReadTestData("sqs/messages.json"));
  EXPECT_NE(r.body.find("/v1/sources/sqs/{name}"), std::string::npos) << r.body;
  r = Send("POST", "/v1/sources/sqs/backend", ReadTestData("dynamodb/insert.json"));
  EXPECT_NE(r.body.find("/v1/sources/dynamodb/{name}"), std::string::npos) << r.body;

  // Unknown source names, and a name of the other kind.
  for (const std::string path : {"/v1/sources/dynamodb/nope", "/v1/sources/sqs/nope",
                                 "/v1/sources/dynamodb/backend", "/v1/sources/sqs/items"}) {
    r = Send("POST", path, ReadTestData("dynamodb/insert.json"));
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.ErrorCode(), "unknown_source") << r.body;
  }
  r = Send("POST", "/v1/sources/dynamodb/items", ReadTestData("dynamodb/insert.json"), kAdminKey,
           "text/plain");
  EXPECT_EQ(r.status, 415);
  // Nothing was stored anywhere.
  json::value orgs = Get("/v1/orgs");
  for (const auto& o : orgs.at("data").as_array()) {
    if (o.at("id").as_string() == "annals") continue;
    EXPECT_EQ(CountEvents(std::string(o.at("id").as_string())), 0u) << o.at("id").as_string();
  }
  EXPECT_EQ(SourceStatus("dynamodb", "items").at("events_stored").as_int64(), 0);

  // Scope events:write.
  const std::string reader = CreateKey(R"({"name":"r","kind":"platform","scopes":["events:read"]})");
  r = Send("POST", "/v1/sources/dynamodb/items", ReadTestData("dynamodb/insert.json"), reader);
  EXPECT_EQ(r.status, 403);
  r = Send("POST", "/v1/sources/dynamodb/items", ReadTestData("dynamodb/insert.json"), "wrong");
  EXPECT_EQ(r.status, 401);
}

TEST_F(LambdaSourcesTest, ItemIdsWithAnyCharactersAreRetrievable) {
  Start();
  const std::string key = "a/b %c é:d";
  json::value answer = PostBatch(
      "dynamodb", "items",
      Batch({Record("INSERT", key, "3001", R"("NewImage":{"tenantId":{"S":"org_i"}})")}));
  ASSERT_TRUE(Failures(answer).empty()) << json::serialize(answer);
  HttpClient c(server_.url(), kAdminKey);
  const std::string id = "a/b %25c é%3Ad";  // ':' and '%' escaped inside key values
  json::value item = Get("/v1/items/item/" + c.Escape(id) + "?organization_id=org_i");
  EXPECT_EQ(item.at("id").as_string(), id);
  EXPECT_EQ(item.at("version_count").as_int64(), 1);

  // Single-table design: the type from the key, the id from another key.
  const std::string body = R"({"Records":[{"eventID":"st1","eventName":"INSERT","eventSource":"aws:dynamodb",)"
      R"("dynamodb":{"ApproximateCreationDateTime":1732845123.25,"Keys":{"pk":{"S":"Finding#org_i"},"sk":{"S":"F 1/ü"}},)"
      R"("NewImage":{"pk":{"S":"Finding#org_i"},"sk":{"S":"F 1/ü"},"orgId":{"S":"org_i"}},"SequenceNumber":"3002"},)"
      R"("eventSourceARN":"arn:aws:dynamodb:us-east-1:1:table/App/stream/x"}]})";
  answer = PostBatch("dynamodb", "app", body);
  ASSERT_TRUE(Failures(answer).empty()) << json::serialize(answer);
  item = Get("/v1/items/Finding/" + c.Escape("F 1/ü") + "?organization_id=org_i");
  EXPECT_EQ(item.at("created_at").as_string(), "2024-11-29T01:52:03.250000Z");
  json::value event = Get("/v1/events/" + std::string(answer.at("records").at(0).at("id").as_string()));
  EXPECT_EQ(event.at("action").as_string(), "finding.created");
}

TEST_F(LambdaSourcesTest, NumbersKeepFullPrecision) {
  Start();
  json::value answer = PostBatch(
      "dynamodb", "items",
      Batch({Record("INSERT", "n", "4001",
                    R"("NewImage":{"tenantId":{"S":"org_n"},"big":{"N":"12345678901234567890"},)"
                    R"("sixteen":{"N":"9007199254740993"},"exact":{"N":"9007199254740992"},)"
                    R"("money":{"N":"1234567890123456.78"},"small":{"N":"0.1"},)"
                    R"("set":{"NS":["3","12345678901234567","1.5"]}})")}));
  ASSERT_TRUE(Failures(answer).empty()) << json::serialize(answer);
  ClientResponse r =
      Send("GET", "/v1/events/" + std::string(answer.at("records").at(0).at("id").as_string()));
  ASSERT_EQ(r.status, 200);
  // The stored canonical bytes.
  EXPECT_NE(r.body.find(R"("big":"12345678901234567890")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("sixteen":"9007199254740993")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("exact":9007199254740992)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("money":"1234567890123456.78")"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("small":0.1)"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find(R"("set":[1.5,3,"12345678901234567"])"), std::string::npos) << r.body;
}

TEST_F(LambdaSourcesTest, OrganizationsFollowTheRulesOfEvents) {
  Start({{"ANNALS_ADMIN_KEY", kAdminKey}});  // no auto-create
  // Organization trails also hold meta-audit events (the key created below).
  const std::string kItems = "&action=item.*";
  const std::string kJobs = "&action=job.*";
  ASSERT_EQ(Send("POST", "/v1/orgs", R"({"id":"org_a"})").status, 201);
  ASSERT_EQ(Send("POST", "/v1/orgs", R"({"id":"org_b"})").status, 201);
  const std::string body = Batch({
      Record("INSERT", "1", "5001", R"("NewImage":{"tenantId":{"S":"org_a"}})"),
      Record("INSERT", "2", "5002", R"("NewImage":{"tenantId":{"S":"org_b"}})"),
      Record("INSERT", "3", "5003", R"("NewImage":{"tenantId":{"S":"org_new"}})"),
      Record("INSERT", "4", "5004", R"("NewImage":{"tenantId":{"S":"annals"}})"),
  });
  // An organization key stores only its own organization's records.
  const std::string key_a = CreateKey(R"({"name":"w","organization_id":"org_a","scopes":["events:write"]})");
  json::value answer = PostBatch("dynamodb", "items", body, key_a);
  EXPECT_EQ(Failures(answer), (std::vector<std::string>{"5002", "5003", "5004"}));
  EXPECT_EQ(CountEvents("org_a", kItems), 1u);
  EXPECT_EQ(CountEvents("org_b", kItems), 0u);

  // A platform key: an unknown organization fails as a record (as in a batch of events).
  answer = PostBatch("dynamodb", "items", body);
  EXPECT_EQ(Failures(answer), (std::vector<std::string>{"5003", "5004"}));
  EXPECT_EQ(answer.at("records").at(2).at("error").at("code").as_string(), "unknown_organization");
  EXPECT_EQ(answer.at("records").at(3).at("error").at("code").as_string(), "invalid_event");
  EXPECT_EQ(CountEvents("org_b", kItems), 1u);
  // Once the organization exists, Lambda's retry stores the record.
  ASSERT_EQ(Send("POST", "/v1/orgs", R"({"id":"org_new"})").status, 201);
  answer = PostBatch("dynamodb", "items", body);
  EXPECT_EQ(Failures(answer), (std::vector<std::string>{"5004"}));
  EXPECT_EQ(CountEvents("org_a", kItems), 1u);
  EXPECT_EQ(CountEvents("org_new", kItems), 1u);

  // SQS: a body without organization_id belongs to the source's default, else the key's.
  ASSERT_EQ(Send("POST", "/v1/orgs", R"({"id":"org_jobs"})").status, 201);
  const std::string no_org = EventJson("", "job.started", "2026-11-29T02:03:04Z", "u", {{"job", "1"}});
  answer = PostBatch("sqs", "jobs", SqsEvent({no_org}));
  EXPECT_TRUE(Failures(answer).empty()) << json::serialize(answer);
  EXPECT_EQ(CountEvents("org_jobs", kJobs), 1u);
  answer = PostBatch("sqs", "backend", SqsEvent({no_org}, 10), key_a);
  EXPECT_TRUE(Failures(answer).empty()) << json::serialize(answer);
  EXPECT_EQ(CountEvents("org_a", kJobs), 1u);
  answer = PostBatch("sqs", "backend", SqsEvent({no_org}, 20));  // platform key, no default
  EXPECT_EQ(Failures(answer), (std::vector<std::string>{"m20"}));
}

TEST_F(LambdaSourcesTest, SqsMessagesInBothShapesAndBadBodies) {
  Start();
  json::value answer = PostBatch("sqs", "backend", ReadTestData("sqs/messages.json"));
  EXPECT_TRUE(Failures(answer).empty()) << json::serialize(answer);
  EXPECT_EQ(CountEvents("org_acme"), 2u);
  json::value workos =
      Get("/v1/events/" + std::string(answer.at("records").at(1).at("id").as_string()));
  EXPECT_EQ(json::serialize(workos.at("source")),
            R"({"kind":"sqs","message_id":"2e1424d4-f796-459a-8184-9c92662be6da","name":"backend"})");
  EXPECT_EQ(workos.at("context").at("location").as_string(), "203.0.113.7");

  const std::string good =
      EventJson("org_s", "doc.updated", "2026-11-29T02:03:04Z", "u", {{"doc", "D-1"}});
  const std::string invalid =
      EventJson("org_s", "doc.updated", "2026-11-29T02:03:04Z", "u", {{"doc", ""}});
  answer = PostBatch("sqs", "backend", SqsEvent({good, "this is not json", invalid, good}, 100));
  EXPECT_EQ(Failures(answer), (std::vector<std::string>{"m101", "m102"}));
  EXPECT_EQ(answer.at("records").at(1).at("error").at("code").as_string(), "invalid_json");
  EXPECT_EQ(answer.at("records").at(2).at("error").at("details").at(0).at("path").as_string(),
            "/Records/2/body/targets/0/id");
  EXPECT_EQ(CountEvents("org_s"), 2u);  // the two good ones (different messages)
  json::value status = SourceStatus("sqs", "backend");
  const std::string last_error(status.at("last_error").as_string());
  EXPECT_NE(last_error.find("m101"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("/Records/1/body"), std::string::npos) << last_error;
  EXPECT_NE(server_.StderrText().find("/Records/2/body/targets/0/id"), std::string::npos);
}

TEST_F(LambdaSourcesTest, WholeLambdaBatchesBeyondTheEventsLimits) {
  // /v1/events takes at most 1 MiB here; the source routes still take a 6 MB Lambda batch.
  Start({{"ANNALS_ADMIN_KEY", kAdminKey},
         {"ANNALS_ORGS_AUTO_CREATE", "true"},
         {"ANNALS_LIMITS_MAX_REQUEST_BYTES", "1048576"}});
  const std::string filler(3000, 'x');
  std::vector<std::string> records;
  for (int i = 0; i < 2000; ++i) {
    records.push_back(Record("INSERT", "k" + std::to_string(i), std::to_string(100000 + i),
                             R"("NewImage":{"tenantId":{"S":"org_big"},"blob":{"S":")" + filler +
                                 R"("}})"));
  }
  const std::string body = Batch(records);
  ASSERT_GT(body.size(), size_t{6} << 20);
  ASSERT_LT(body.size(), size_t{7} << 20);
  json::value answer = PostBatch("dynamodb", "items", body);
  EXPECT_TRUE(Failures(answer).empty());
  EXPECT_EQ(SourceStatus("dynamodb", "items").at("events_stored").as_int64(), 2000);

  std::string events = "[";
  for (int i = 0; i < 400; ++i) {
    events += (i ? "," : "") + EventJson("org_big", "a.b", "2026-11-29T02:03:04Z", "u",
                                         {{"t", filler}});
  }
  events += "]";
  ClientResponse r = Send("POST", "/v1/events", events);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 200);
  // And the source routes have a limit too.
  r = Send("POST", "/v1/sources/dynamodb/items", std::string(9 << 20, ' '));
  EXPECT_EQ(r.status, 413);
}

TEST_F(LambdaSourcesTest, OverloadFailsTheRestOfTheBatchInOrder) {
  // A tiny ingest queue: the first record of a request always fits, later ones may find it
  // full.
  Start({{"ANNALS_ADMIN_KEY", kAdminKey},
         {"ANNALS_ORGS_AUTO_CREATE", "true"},
         {"ANNALS_INGEST_MAX_QUEUED_EVENTS", "2"}});
  std::vector<std::string> remaining;
  for (int i = 0; i < 300; ++i) {
    remaining.push_back(Record("INSERT", "k" + std::to_string(i), std::to_string(600000 + i),
                               R"("NewImage":{"tenantId":{"S":"org_o"}})"));
  }
  std::set<std::string> stored_ids;
  int partial_answers = 0;
  // What Lambda does: retry from the first failed record until none fails.
  for (int attempt = 0; attempt < 400 && !remaining.empty(); ++attempt) {
    ClientResponse r = Send("POST", "/v1/sources/dynamodb/items", Batch(remaining));
    if (r.status == 503) {
      EXPECT_FALSE(r.Header("retry-after").empty());
      continue;
    }
    ASSERT_EQ(r.status, 200) << r.body;
    json::value answer = json::parse(r.body);
    const auto& out = answer.at("records").as_array();
    size_t first_failed = out.size();
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].as_object().contains("error")) {
        if (first_failed == out.size()) first_failed = i;
        EXPECT_EQ(out[i].at("error").at("code").as_string(), "overloaded")
            << json::serialize(out[i]);
      } else {
        // Once the queue refused a record, no later one overtook it.
        EXPECT_EQ(first_failed, out.size()) << "record " << i << " stored after a refusal";
        stored_ids.insert(std::string(out[i].at("id").as_string()));
      }
    }
    if (first_failed < out.size()) ++partial_answers;
    remaining.erase(remaining.begin(), remaining.begin() + static_cast<long>(first_failed));
  }
  EXPECT_TRUE(remaining.empty());
  EXPECT_EQ(stored_ids.size(), 300u);  // every record once, whatever the number of retries
  EXPECT_EQ(CountEvents("org_o"), 300u);
  EXPECT_EQ(SourceStatus("dynamodb", "items").at("events_stored").as_int64(), 300);
  RecordProperty("partial_answers", partial_answers);
}

}  // namespace
}  // namespace annals::testing
