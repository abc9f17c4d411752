// DynamoDB stream records (Lambda event format) -> annals events.
#include "sources/dynamodb/dynamodb_stream.h"
#include "sources/source_event.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "domain/canonical_json.h"
#include "source_test_util.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

constexpr TimestampUs kNow = 1893456000LL * 1000000;  // 2030-01-01

DynamoDbSourceConfig ItemsConfig() {
  DynamoDbSourceConfig c;
  c.name = "items";
  c.organization_attribute = "tenantId";
  c.target_type = "item";
  return c;
}

SourceBatchContext Context() {
  SourceBatchContext ctx;
  ctx.idempotency_ttl_us = 14LL * 24 * 3600 * 1000000;
  ctx.now = kNow;
  return ctx;
}

LambdaBatch Decode(const std::string& body, const DynamoDbSourceConfig& config = ItemsConfig()) {
  Result<LambdaBatch> batch = DecodeDynamoDbEvent(body, config, EventLimits{}, Context());
  EXPECT_TRUE(batch.ok()) << batch.status().ToString();
  return batch.ok() ? std::move(batch).value() : LambdaBatch{};
}

std::string Canon(const json::value& v) { return Canonical(v); }

std::string NumberText(std::string_view n) {
  Result<json::value> v = DynamoDbNumberToJson(n);
  if (!v.ok()) return "error: " + v.status().message();
  return Canonical(*v);
}

// One record around the given "dynamodb" members and event name.
std::string Record(const std::string& event_name, const std::string& dynamodb,
                   const std::string& extra = "", const std::string& seq = "100",
                   const std::string& event_id = "e1") {
  return R"({"eventID":")" + event_id + R"(","eventName":")" + event_name +
         R"(","eventVersion":"1.1","eventSource":"aws:dynamodb","awsRegion":"us-east-1",)" +
         extra + R"("dynamodb":{"ApproximateCreationDateTime":1732845123,"SequenceNumber":")" + seq +
         R"(","SizeBytes":10,"StreamViewType":"NEW_AND_OLD_IMAGES",)" + dynamodb +
         R"(},"eventSourceARN":"arn:aws:dynamodb:us-east-1:123456789012:table/Items/stream/2024-11-01T00:00:00.000"})";
}

std::string Batch(const std::vector<std::string>& records) {
  std::string out = R"({"Records":[)";
  for (size_t i = 0; i < records.size(); ++i) out += (i ? "," : "") + records[i];
  return out + "]}";
}

// ---- numbers -----------------------------------------------------------------------

TEST(DynamoDbNumberTest, DoubleExactNumbersBecomeJsonNumbers) {
  EXPECT_EQ(NumberText("35"), "35");
  EXPECT_EQ(NumberText("12.50"), "12.5");
  EXPECT_EQ(NumberText("9.99"), "9.99");
  EXPECT_EQ(NumberText("0.1"), "0.1");
  EXPECT_EQ(NumberText("-19"), "-19");
  EXPECT_EQ(NumberText("-0"), "0");
  EXPECT_EQ(NumberText("1E+2"), "100");
  EXPECT_EQ(NumberText("+7.5"), "7.5");
  EXPECT_EQ(NumberText("9007199254740992"), "9007199254740992");
  EXPECT_EQ(NumberText("1.5E+100"), "1.5e+100");
  EXPECT_EQ(NumberText("1E-130"), "1e-130");
}

TEST(DynamoDbNumberTest, OtherNumbersAreKeptExactlyAsStrings) {
  EXPECT_EQ(NumberText("12345678901234567"), "\"12345678901234567\"");
  EXPECT_EQ(NumberText("9007199254740993"), "\"9007199254740993\"");
  EXPECT_EQ(NumberText("0.10000000000000000001"), "\"0.10000000000000000001\"");
  EXPECT_EQ(NumberText("12345678901234567890123456789012345678"),
            "\"12345678901234567890123456789012345678\"");  // 38 digits
  EXPECT_EQ(NumberText("-98765432109876543.21"), "\"-98765432109876543.21\"");
}

TEST(DynamoDbNumberTest, MalformedAndOutOfRangeNumbersAreRefused) {
  for (const char* bad : {"", "1e", "abc", "1.2.3", "--1", "1e+", ".", "NaN", "Infinity", " 1",
                          "1 ", "0x10", "1_000"}) {
    EXPECT_FALSE(DynamoDbNumberToJson(bad).ok()) << bad;
  }
  for (const char* huge : {"1e999999999999999999999", "1E+126", "1E-131", "-1e400",
                           "123456789012345678901234567890123456789"}) {
    Result<json::value> v = DynamoDbNumberToJson(huge);
    ASSERT_FALSE(v.ok()) << huge;
    EXPECT_NE(v.status().message().find("outside DynamoDB's range"), std::string::npos);
  }
}

// ---- attribute values -------------------------------------------------------------------

TEST(AttributeValueTest, EveryTypeConvertsToPlainJson) {
  json::value image = json::parse(R"({
    "s": {"S": "héllo"}, "n": {"N": "12.50"}, "b": {"B": "iVBORw0KGgo="},
    "t": {"BOOL": true}, "z": {"NULL": true},
    "m": {"M": {"a": {"N": "1"}, "b": {"L": [{"S": "x"}, {"NULL": true}]}}},
    "l": {"L": []},
    "ss": {"SS": ["red", "blue", "Green"]},
    "ns": {"NS": ["10", "9.5", "-1", "12345678901234567890"]},
    "bs": {"BS": ["UmFpbnk=", "U3Vubnk="]}})");
  Result<json::object> out = ImageToJson(image, "/img");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(Canon(*out),
            R"({"b":"iVBORw0KGgo=","bs":["U3Vubnk=","UmFpbnk="],"l":[],)"
            R"("m":{"a":1,"b":["x",null]},"n":12.5,"ns":[-1,9.5,10,"12345678901234567890"],)"
            R"("s":"héllo","ss":["Green","blue","red"],"t":true,"z":null})");
}

TEST(AttributeValueTest, BadValuesNameTheirPath) {
  struct Case {
    const char* value;
    const char* path;
  } cases[] = {
      {R"({"X": "1"})", "/a/X"},                       // unknown type
      {R"({"S": "a", "N": "1"})", "/a"},               // two type keys
      {R"({})", "/a"},                                 // no type key
      {R"("plain")", "/a"},                            // not typed at all
      {R"({"N": 12})", "/a/N"},                        // number not as text
      {R"({"N": "1e"})", "/a/N"},
      {R"({"N": "abc"})", "/a/N"},
      {R"({"N": "1e9999"})", "/a/N"},
      {R"({"B": "not base64!"})", "/a/B"},
      {R"({"NULL": false})", "/a/NULL"},
      {R"({"BOOL": "true"})", "/a/BOOL"},
      {R"({"M": {"x": {"Q": 1}}})", "/a/M/x/Q"},
      {R"({"L": [{"S": "ok"}, {"N": "x"}]})", "/a/L/1/N"},
      {R"({"SS": ["a", 1]})", "/a/SS/1"},
      {R"({"NS": ["1", "1e"]})", "/a/NS/1"},
      {R"({"BS": ["%%%%"]})", "/a/BS/0"},
      {R"({"SS": "a"})", "/a/SS"},
  };
  for (const Case& c : cases) {
    Result<json::value> v = AttributeValueToJson(json::parse(c.value), "/a");
    ASSERT_FALSE(v.ok()) << c.value;
    EXPECT_EQ(v.status().error_code(), "invalid_record");
    ASSERT_EQ(v.status().details().size(), 1u);
    EXPECT_EQ(v.status().details()[0].path, c.path) << c.value;
  }
}

// ---- the four record kinds, from fixtures in AWS's shape -------------------------------

TEST(DynamoDbRecordTest, InsertFixture) {
  LambdaBatch batch = Decode(ReadTestData("dynamodb/insert.json"));
  ASSERT_EQ(batch.records.size(), 1u);
  const LambdaRecord& r = batch.records[0];
  EXPECT_EQ(r.item_identifier, "4421584500000000017450439091");
  ASSERT_TRUE(r.draft.ok()) << r.draft.status().ToString();
  EXPECT_EQ(r.draft->idempotency_key, "dynamodb items 7de3041dd709b024af6f29e4fa13d34c");
  EXPECT_EQ(r.draft->idempotency_ttl_us, 14LL * 24 * 3600 * 1000000);
  json::value e = DraftJson(*r.draft);
  EXPECT_EQ(e.at("organization_id").as_string(), "t_42");
  EXPECT_EQ(e.at("action").as_string(), "item.created");
  EXPECT_EQ(e.at("occurred_at").as_string(), "2024-11-29T01:52:03.000000Z");
  EXPECT_EQ(Canon(e.at("actor")), R"({"id":"items","type":"database"})");
  EXPECT_EQ(Canon(e.at("targets")), R"([{"id":"itm_0001","type":"item"}])");
  EXPECT_EQ(Canon(e.at("changes")),
            R"({"after":{"active":true,"attrs":{"color":"blue","weightKg":0.4},)"
            R"("discontinuedAt":null,"history":["created"],"itemId":"itm_0001","name":"widget",)"
            R"("price":9.99,"sizes":[10,12],"tags":["blue","sale"],"tenantId":"t_42",)"
            R"("thumb":"iVBORw0KGgo="},"op":"create"})");
  EXPECT_EQ(Canon(e.at("source")),
            R"({"event_id":"7de3041dd709b024af6f29e4fa13d34c","kind":"dynamodb","name":"items",)"
            R"("sequence_number":"4421584500000000017450439091","table":"Items"})");
  EXPECT_EQ(r.draft->fields.change_op, ChangeOp::kCreate);
}

TEST(DynamoDbRecordTest, ModifyFixture) {
  LambdaBatch batch = Decode(ReadTestData("dynamodb/modify.json"));
  ASSERT_EQ(batch.records.size(), 1u);
  ASSERT_TRUE(batch.records[0].draft.ok()) << batch.records[0].draft.status().ToString();
  json::value e = DraftJson(*batch.records[0].draft);
  EXPECT_EQ(e.at("action").as_string(), "item.updated");
  EXPECT_EQ(Canon(e.at("changes")),
            R"({"after":{"active":true,"itemId":"itm_0001","name":"widget","price":12.5,)"
            R"("tags":["blue"],"tenantId":"t_42"},"before":{"active":true,"itemId":"itm_0001",)"
            R"("name":"widget","price":9.99,"tags":["blue","sale"],"tenantId":"t_42"},"op":"update"})");
}

TEST(DynamoDbRecordTest, RemoveFixture) {
  LambdaBatch batch = Decode(ReadTestData("dynamodb/remove.json"));
  ASSERT_TRUE(batch.records[0].draft.ok()) << batch.records[0].draft.status().ToString();
  json::value e = DraftJson(*batch.records[0].draft);
  EXPECT_EQ(e.at("action").as_string(), "item.deleted");
  EXPECT_EQ(Canon(e.at("actor")), R"({"id":"items","type":"database"})");
  EXPECT_EQ(e.at("changes").at("op").as_string(), "delete");
  EXPECT_FALSE(e.at("changes").as_object().contains("after"));
  EXPECT_EQ(e.at("changes").at("before").at("price").as_double(), 12.5);
  EXPECT_EQ(batch.records[0].draft->fields.change_op, ChangeOp::kDelete);
}

TEST(DynamoDbRecordTest, TtlRemoveFixtureIsASystemDelete) {
  DynamoDbSourceConfig config = ItemsConfig();
  config.actor_attribute = "updatedBy";
  LambdaBatch batch = Decode(ReadTestData("dynamodb/ttl_remove.json"), config);
  ASSERT_TRUE(batch.records[0].draft.ok()) << batch.records[0].draft.status().ToString();
  json::value e = DraftJson(*batch.records[0].draft);
  EXPECT_EQ(Canon(e.at("actor")), R"({"id":"dynamodb-ttl","type":"system"})");
  EXPECT_EQ(e.at("action").as_string(), "item.deleted");
  EXPECT_EQ(e.at("occurred_at").as_string(), "2024-11-30T01:55:01.000000Z");
  EXPECT_EQ(Canon(e.at("targets")), R"([{"id":"itm_0099","type":"item"}])");
}

// ---- mapping options ---------------------------------------------------------------------

TEST(DynamoDbRecordTest, SingleTableTypeAndEscapedCompositeId) {
  DynamoDbSourceConfig config;
  config.name = "app";
  config.organization = "org_fixed";
  config.type_from_key = "pk";
  const std::string body = Batch({Record(
      "INSERT",
      R"("Keys":{"pk":{"S":"Finding#F-1"},"sk":{"S":"v:1 %/é"}},)"
      R"("NewImage":{"pk":{"S":"Finding#F-1"},"sk":{"S":"v:1 %/é"},"n":{"N":"1"}})")});
  LambdaBatch batch = Decode(body, config);
  ASSERT_TRUE(batch.records[0].draft.ok()) << batch.records[0].draft.status().ToString();
  json::value e = DraftJson(*batch.records[0].draft);
  EXPECT_EQ(e.at("organization_id").as_string(), "org_fixed");
  EXPECT_EQ(e.at("action").as_string(), "finding.created");  // the action is lower case
  EXPECT_EQ(e.at("targets").at(0).at("type").as_string(), "Finding");
  EXPECT_EQ(e.at("targets").at(0).at("id").as_string(), "Finding#F-1:v%3A1 %25/é");

  config.id_from_keys = {"sk"};
  batch = Decode(body, config);
  ASSERT_TRUE(batch.records[0].draft.ok());
  EXPECT_EQ(DraftJson(*batch.records[0].draft).at("targets").at(0).at("id").as_string(),
            "v%3A1 %25/é");

  config.id_from_keys = {"nope"};
  batch = Decode(body, config);
  ASSERT_FALSE(batch.records[0].draft.ok());
  EXPECT_EQ(batch.records[0].draft.status().details()[0].path, "/Records/0/dynamodb/Keys");
}

TEST(DynamoDbRecordTest, NumberKeysKeepTheirExactText) {
  const std::string body = Batch({Record(
      "INSERT", R"("Keys":{"id":{"N":"12345678901234567890"}},)"
                R"("NewImage":{"id":{"N":"12345678901234567890"},"tenantId":{"S":"t"}})")});
  LambdaBatch batch = Decode(body);
  ASSERT_TRUE(batch.records[0].draft.ok());
  json::value e = DraftJson(*batch.records[0].draft);
  EXPECT_EQ(e.at("targets").at(0).at("id").as_string(), "12345678901234567890");
  EXPECT_EQ(e.at("changes").at("after").at("id").as_string(), "12345678901234567890");
}

TEST(DynamoDbRecordTest, ActorAttribute) {
  DynamoDbSourceConfig config = ItemsConfig();
  config.actor_attribute = "by";
  auto actor_of = [&](const std::string& event, const std::string& images) {
    LambdaBatch batch = Decode(Batch({Record(event, R"("Keys":{"id":{"S":"1"}},)" + images)}), config);
    if (!batch.records[0].draft.ok()) return "error at " + batch.records[0].draft.status().details()[0].path;
    return Canon(DraftJson(*batch.records[0].draft).at("actor"));
  };
  EXPECT_EQ(actor_of("INSERT", R"("NewImage":{"tenantId":{"S":"t"},"by":{"S":"user_7"}})"),
            R"({"id":"user_7","type":"user"})");
  EXPECT_EQ(actor_of("INSERT", R"("NewImage":{"tenantId":{"S":"t"},"by":{"N":"42"}})"),
            R"({"id":"42","type":"user"})");
  EXPECT_EQ(actor_of("INSERT", R"("NewImage":{"tenantId":{"S":"t"},"by":{"M":{"id":{"S":"svc_1"},"type":{"S":"service"},"name":{"S":"Importer"}}}})"),
            R"({"id":"svc_1","name":"Importer","type":"service"})");
  EXPECT_EQ(actor_of("INSERT", R"("NewImage":{"tenantId":{"S":"t"}})"),
            R"({"id":"items","type":"database"})");
  // MODIFY reads the new image, REMOVE the old one.
  EXPECT_EQ(actor_of("MODIFY", R"("OldImage":{"tenantId":{"S":"t"},"by":{"S":"old"}},"NewImage":{"tenantId":{"S":"t"},"by":{"S":"new"}})"),
            R"({"id":"new","type":"user"})");
  EXPECT_EQ(actor_of("REMOVE", R"("OldImage":{"tenantId":{"S":"t"},"by":{"S":"old"}})"),
            R"({"id":"old","type":"user"})");
  EXPECT_EQ(actor_of("INSERT", R"("NewImage":{"tenantId":{"S":"t"},"by":{"BOOL":true}})"),
            "error at /Records/0/dynamodb/NewImage/by");
}

TEST(DynamoDbRecordTest, FractionalCreationTime) {
  std::string body = Batch({Record(
      "INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"}})")});
  const std::string from = "\"ApproximateCreationDateTime\":1732845123,";
  body.replace(body.find(from), from.size(), "\"ApproximateCreationDateTime\":1.7328451235E9,");
  LambdaBatch batch = Decode(body);
  ASSERT_TRUE(batch.records[0].draft.ok()) << batch.records[0].draft.status().ToString();
  EXPECT_EQ(DraftJson(*batch.records[0].draft).at("occurred_at").as_string(),
            "2024-11-29T01:52:03.500000Z");
}

// ---- bad records: each fails alone, with its path ---------------------------------------

TEST(DynamoDbRecordTest, BadRecordsFailAloneWithTheirPath) {
  const std::string good = Record("INSERT", R"("Keys":{"id":{"S":"ok"}},"NewImage":{"tenantId":{"S":"t"}})", "", "1");
  struct Case {
    std::string record;
    std::string path;
    std::string message_part;
  } cases[] = {
      {Record("MODIFY", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"}})"),
       "/Records/1/dynamodb/OldImage", "NEW_AND_OLD_IMAGES"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}})"), "/Records/1/dynamodb/NewImage",
       "NEW_AND_OLD_IMAGES"},
      {Record("REMOVE", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"}})"),
       "/Records/1/dynamodb/OldImage", "OldImage"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"other":{"S":"t"}})"),
       "/Records/1/dynamodb/NewImage", "tenantId"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"N":"5"}})"),
       "/Records/1/dynamodb/NewImage/tenantId", "string (S)"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"},"x":{"Z":"1"}})"),
       "/Records/1/dynamodb/NewImage/x/Z", "unknown attribute type 'Z'"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"},"x":{"N":"1e"}})"),
       "/Records/1/dynamodb/NewImage/x/N", "not a decimal number"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"},"x":{"N":"abc"}})"),
       "/Records/1/dynamodb/NewImage/x/N", "not a decimal number"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"},"x":{"N":"9e99999"}})"),
       "/Records/1/dynamodb/NewImage/x/N", "outside DynamoDB's range"},
      {Record("UPSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"}})"),
       "/Records/1/eventName", "INSERT, MODIFY or REMOVE"},
      {Record("INSERT", R"("NewImage":{"tenantId":{"S":"t"}})"), "/Records/1/dynamodb/Keys",
       "Keys"},
      {Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"}})", "", "100", ""),
       "/Records/1/eventID", "eventID"},
  };
  for (const Case& c : cases) {
    LambdaBatch batch = Decode(Batch({good, c.record, good}));
    ASSERT_EQ(batch.records.size(), 3u);
    EXPECT_TRUE(batch.records[0].draft.ok());
    EXPECT_TRUE(batch.records[2].draft.ok());
    ASSERT_FALSE(batch.records[1].draft.ok()) << c.record;
    const Status& s = batch.records[1].draft.status();
    EXPECT_EQ(s.error_code(), "invalid_record") << s.ToString();
    ASSERT_EQ(s.details().size(), 1u);
    EXPECT_EQ(s.details()[0].path, c.path) << s.ToString();
    EXPECT_NE(s.message().find(c.message_part), std::string::npos) << s.ToString();
  }
}

TEST(DynamoDbRecordTest, AMappedEventThatBreaksAnEventRuleFails) {
  DynamoDbSourceConfig config = ItemsConfig();
  config.target_type = "my type";  // the action "my type.created" is not an action
  LambdaBatch batch = Decode(
      Batch({Record("INSERT", R"("Keys":{"id":{"S":"1"}},"NewImage":{"tenantId":{"S":"t"}})")}),
      config);
  ASSERT_FALSE(batch.records[0].draft.ok());
  const Status& s = batch.records[0].draft.status();
  EXPECT_EQ(s.error_code(), "invalid_event");
  EXPECT_EQ(s.details()[0].path, "/Records/0");
  EXPECT_NE(s.message().find("/action"), std::string::npos) << s.ToString();
}

TEST(DynamoDbRecordTest, OrderingKeyIsTheItem) {
  LambdaBatch batch = Decode(Batch({
      Record("INSERT", R"("Keys":{"a":{"S":"1"},"b":{"S":"2"}},"NewImage":{"tenantId":{"S":"t"}})"),
      Record("MODIFY", R"("Keys":{"b":{"S":"2"},"a":{"S":"1"}},"OldImage":{},"NewImage":{"tenantId":{"S":"t"}})"),
      Record("INSERT", R"("Keys":{"a":{"S":"1"},"b":{"S":"3"}},"NewImage":{"tenantId":{"S":"t"}})"),
  }));
  ASSERT_EQ(batch.records.size(), 3u);
  EXPECT_EQ(batch.records[0].ordering_key, batch.records[1].ordering_key);
  EXPECT_NE(batch.records[0].ordering_key, batch.records[2].ordering_key);
}

// ---- bodies that are not DynamoDB stream events: the whole request is refused ----------

TEST(DynamoDbEnvelopeTest, NotADynamoDbStreamEvent) {
  struct Case {
    std::string body;
    std::string code;
    std::string message_part;
  } cases[] = {
      {"not json", "invalid_json", ""},
      {"[]", "invalid_request", "Records"},
      {"{}", "invalid_request", "has no Records"},
      {R"({"records":[]})", "invalid_request", "has no Records"},
      {R"({"Records":{}})", "invalid_request", "array"},
      {R"({"Records":[1]})", "invalid_request", "object"},
      {ReadTestData("sqs/messages.json"), "invalid_request", "/v1/sources/sqs/{name}"},
      {R"({"Records":[{"eventSource":"aws:kinesis"}]})", "invalid_request", "aws:dynamodb"},
      {R"({"Records":[{"eventSource":"aws:dynamodb","dynamodb":{}}]})", "invalid_request",
       "SequenceNumber"},
      {R"({"Records":[{"eventSource":"aws:dynamodb"}]})", "invalid_request", "dynamodb object"},
  };
  for (const Case& c : cases) {
    Result<LambdaBatch> batch = DecodeDynamoDbEvent(c.body, ItemsConfig(), EventLimits{}, Context());
    ASSERT_FALSE(batch.ok()) << c.body;
    EXPECT_EQ(batch.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(batch.status().error_code(), c.code) << batch.status().ToString();
    EXPECT_NE(batch.status().message().find(c.message_part), std::string::npos)
        << batch.status().ToString();
  }
  Result<LambdaBatch> empty =
      DecodeDynamoDbEvent(R"({"Records":[]})", ItemsConfig(), EventLimits{}, Context());
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->records.empty());
}

TEST(DynamoDbRecordTest, EscapeKeyPart) {
  EXPECT_EQ(EscapeItemIdPart("a:b%c/d e"), "a%3Ab%25c/d e");
  EXPECT_EQ(EscapeItemIdPart(""), "");
}

}  // namespace
}  // namespace annals::testing
