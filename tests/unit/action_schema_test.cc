#include "workos/action_schema.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "domain/time.h"

namespace annals::workos {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The body the official Node SDK (7.82) sends for its own createSchema test fixture.
constexpr std::string_view kSdkBody = R"({
  "actor": {"metadata": {"type": "object", "properties": {"actor_id": {"type": "string"}}}},
  "targets": [{"type": "user",
               "metadata": {"type": "object", "properties": {"user_id": {"type": "string"}}}}],
  "metadata": {"type": "object",
               "properties": {"foo": {"type": "number"}, "baz": {"type": "boolean"}}}
})";

ActionSchema ParseOk(std::string_view body) {
  Result<ActionSchema> r = ParseActionSchema(body);
  EXPECT_TRUE(r.ok()) << body << ": " << r.status().ToString();
  return r.ok() ? *r : ActionSchema();
}

std::vector<std::string> Paths(const Status& status) {
  std::vector<std::string> paths;
  for (const ErrorDetail& d : status.details()) paths.push_back(d.path);
  return paths;
}

// The detail paths of a body that ParseActionSchema must reject as "invalid_schema".
std::vector<std::string> ParseFail(std::string_view body) {
  Result<ActionSchema> r = ParseActionSchema(body);
  EXPECT_FALSE(r.ok()) << body << " was accepted";
  if (r.ok()) return {};
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().error_code(), "invalid_schema") << r.status().ToString();
  return Paths(r.status());
}

// The first detail message of a rejected body.
std::string ParseFailMessage(std::string_view body) {
  Result<ActionSchema> r = ParseActionSchema(body);
  if (r.ok() || r.status().details().empty()) return "";
  return r.status().details()[0].message;
}

TimestampUs Time(std::string_view text) {
  Result<TimestampUs> t = ParseRfc3339(text);
  EXPECT_TRUE(t.ok()) << text;
  return t.ok() ? *t : 0;
}

// ---- ParseActionSchema ----------------------------------------------------------------------

TEST(ActionSchemaParse, AcceptsTheNodeSdkBody) {
  const ActionSchema s = ParseOk(kSdkBody);
  EXPECT_THAT(s.actor_metadata.properties,
              ElementsAre(MetadataProperty{"actor_id", MetadataType::kString, false}));
  EXPECT_TRUE(s.actor_metadata.additional_properties);
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_EQ(s.targets[0].type, "user");
  ASSERT_TRUE(s.targets[0].metadata.has_value());
  EXPECT_THAT(s.targets[0].metadata->properties,
              ElementsAre(MetadataProperty{"user_id", MetadataType::kString, false}));
  ASSERT_TRUE(s.metadata.has_value());
  // Sorted by name, whatever the body order.
  EXPECT_THAT(s.metadata->properties,
              ElementsAre(MetadataProperty{"baz", MetadataType::kBoolean, false},
                          MetadataProperty{"foo", MetadataType::kNumber, false}));
}

TEST(ActionSchemaParse, AcceptsTheSdkBodyForASchemaWithoutActorOrMetadata) {
  // The Node SDK always sends an actor schema, with no properties when the caller gave none.
  const ActionSchema s = ParseOk(
      R"({"actor":{"metadata":{"type":"object","properties":{}}},"targets":[{"type":"user"}]})");
  EXPECT_EQ(s.actor_metadata, MetadataSchema());
  ASSERT_EQ(s.targets.size(), 1u);
  EXPECT_FALSE(s.targets[0].metadata.has_value());
  EXPECT_FALSE(s.metadata.has_value());
}

TEST(ActionSchemaParse, AcceptsTargetsAloneAndNullsAsAbsent) {
  EXPECT_EQ(
      ParseOk(R"({"targets":[{"type":"user"}]})"),
      ParseOk(R"({"actor":null,"targets":[{"type":"user","metadata":null}],"metadata":null})"));
  const ActionSchema s = ParseOk(R"({"targets":[{"type":"user"},{"type":"team"}]})");
  ASSERT_EQ(s.targets.size(), 2u);
  EXPECT_EQ(s.targets[0].type, "user");  // request order is kept
  EXPECT_EQ(s.targets[1].type, "team");
}

TEST(ActionSchemaParse, AcceptsRequiredAdditionalPropertiesAndOmittedProperties) {
  const ActionSchema s = ParseOk(R"({
    "targets": [{"type": "invoice", "metadata": {"type": "object"}}],
    "metadata": {"type": "object", "additionalProperties": false, "required": ["cost"],
                 "properties": {"cost": {"type": "number"}, "note": {"type": "string"}}}})");
  ASSERT_TRUE(s.targets[0].metadata.has_value());
  EXPECT_EQ(*s.targets[0].metadata, MetadataSchema());
  ASSERT_TRUE(s.metadata.has_value());
  EXPECT_FALSE(s.metadata->additional_properties);
  EXPECT_THAT(s.metadata->properties,
              ElementsAre(MetadataProperty{"cost", MetadataType::kNumber, true},
                          MetadataProperty{"note", MetadataType::kString, false}));
  EXPECT_EQ(s.metadata->Find("cost"), &s.metadata->properties[0]);
  EXPECT_EQ(s.metadata->Find("note"), &s.metadata->properties[1]);
  EXPECT_EQ(s.metadata->Find("nope"), nullptr);
}

TEST(ActionSchemaParse, AcceptsFiftyPropertiesOfFortyCharacterNames) {
  std::string properties;
  for (int i = 0; i < 50; ++i) {
    if (i > 0) properties += ',';
    std::string name = "p" + std::to_string(100 + i);
    name.resize(40, 'x');
    properties += "\"" + name + "\":{\"type\":\"string\"}";
  }
  const ActionSchema s = ParseOk(R"({"targets":[{"type":"t"}],"metadata":{"type":"object",)"
                                 R"("properties":{)" +
                                 properties + "}}}");
  EXPECT_EQ(s.metadata->properties.size(), 50u);
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"t"}],"metadata":{"type":"object","properties":{)" +
                      properties + R"(,"x51":{"type":"string"}}}})"),
            std::vector<std::string>{"/metadata/properties"});
}

TEST(ActionSchemaParse, RejectsMissingOrEmptyTargets) {
  EXPECT_EQ(ParseFail(R"({})"), std::vector<std::string>{"/targets"});
  EXPECT_EQ(ParseFail(R"({"targets":null})"), std::vector<std::string>{"/targets"});
  EXPECT_EQ(ParseFail(R"({"targets":{"type":"user"}})"), std::vector<std::string>{"/targets"});
  EXPECT_EQ(ParseFail(R"({"targets":[]})"), std::vector<std::string>{"/targets"});
  EXPECT_THAT(ParseFailMessage(R"({"targets":[]})"), HasSubstr("at least one"));
}

TEST(ActionSchemaParse, RejectsBadTargetEntries) {
  EXPECT_EQ(ParseFail(R"({"targets":["user"]})"), std::vector<std::string>{"/targets/0"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"},{}]})"),
            std::vector<std::string>{"/targets/1/type"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":""}]})"), std::vector<std::string>{"/targets/0/type"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":7}]})"), std::vector<std::string>{"/targets/0/type"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a","metadata":"string"}]})"),
            std::vector<std::string>{"/targets/0/metadata"});
}

TEST(ActionSchemaParse, RejectsDuplicateTargetTypes) {
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"user"},{"type":"team"},{"type":"user"}]})"),
            std::vector<std::string>{"/targets/2/type"});
  EXPECT_THAT(ParseFailMessage(R"({"targets":[{"type":"user"},{"type":"team"},{"type":"user"}]})"),
              HasSubstr("targets.0"));
  // Types compare exactly: case matters.
  ParseOk(R"({"targets":[{"type":"user"},{"type":"User"}]})");
}

TEST(ActionSchemaParse, RejectsUnsupportedPropertyTypes) {
  for (const char* type : {R"("integer")", R"("object")", R"("array")", R"("null")", R"("String")",
                           R"(["string","null"])", "1", "null"}) {
    const std::string body =
        std::string(R"({"targets":[{"type":"a"},{"type":"b","metadata":{"type":"object",)"
                    R"("properties":{"x":{"type":)") +
        type + "}}}}]}";
    EXPECT_EQ(ParseFail(body), std::vector<std::string>{"/targets/1/metadata/properties/x/type"})
        << body;
  }
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"type":"object",)"
                      R"("properties":{"x":{}}}})"),
            std::vector<std::string>{"/metadata/properties/x/type"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"type":"object",)"
                      R"("properties":{"x":"string"}}})"),
            std::vector<std::string>{"/metadata/properties/x"});
}

TEST(ActionSchemaParse, RejectsUnknownMembersEverywhere) {
  EXPECT_EQ(ParseFail(R"({"action":"user.signed_in","targets":[{"type":"a"}]})"),
            std::vector<std::string>{"/action"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a","name":"A"}]})"),
            std::vector<std::string>{"/targets/0/name"});
  EXPECT_EQ(ParseFail(R"({"actor":{"metadata":{"type":"object"},"type":"user"},)"
                      R"("targets":[{"type":"a"}]})"),
            std::vector<std::string>{"/actor/type"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"type":"object",)"
                      R"("description":"d","properties":{}}})"),
            std::vector<std::string>{"/metadata/description"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"type":"object","properties":)"
                      R"({"at":{"type":"string","format":"date-time"}}}})"),
            std::vector<std::string>{"/metadata/properties/at/format"});
  // Unknown member names are escaped in the path (RFC 6901).
  EXPECT_EQ(ParseFail(R"({"a/b~c":1,"targets":[{"type":"a"}]})"),
            std::vector<std::string>{"/a~1b~0c"});
}

TEST(ActionSchemaParse, RejectsBadPropertyNames) {
  const auto fail = [](std::string_view name) {
    return ParseFail(std::string(R"({"targets":[{"type":"a"}],"actor":{"metadata":)"
                                 R"({"type":"object","properties":{")") +
                     std::string(name) + R"(":{"type":"string"}}}}})");
  };
  EXPECT_EQ(fail("b/d"), std::vector<std::string>{"/actor/metadata/properties/b~1d"});
  EXPECT_EQ(fail(""), std::vector<std::string>{"/actor/metadata/properties/"});
  EXPECT_EQ(fail("has space"), std::vector<std::string>{"/actor/metadata/properties/has space"});
  EXPECT_EQ(fail("caf\u00e9"), std::vector<std::string>{"/actor/metadata/properties/caf\u00e9"});
  EXPECT_EQ(fail("a.b"), std::vector<std::string>{"/actor/metadata/properties/a.b"});
  EXPECT_EQ(fail(std::string(41, 'n')),
            std::vector<std::string>{"/actor/metadata/properties/" + std::string(41, 'n')});
  ParseOk(R"({"targets":[{"type":"a"}],"actor":{"metadata":{"type":"object","properties":)"
          R"({"A-z_09":{"type":"string"}}}}})");
}

TEST(ActionSchemaParse, RejectsBadMetadataSchemas) {
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"properties":{}}})"),
            std::vector<std::string>{"/metadata/type"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"type":"array"}})"),
            std::vector<std::string>{"/metadata/type"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"role":"string"}})"),
            (std::vector<std::string>{"/metadata/role", "/metadata/type"}));
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":[]})"),
            std::vector<std::string>{"/metadata"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"type":"object","properties":[]}})"),
            std::vector<std::string>{"/metadata/properties"});
  EXPECT_EQ(ParseFail(R"({"targets":[{"type":"a"}],"metadata":{"type":"object",)"
                      R"("additionalProperties":{}}})"),
            std::vector<std::string>{"/metadata/additionalProperties"});
}

TEST(ActionSchemaParse, RejectsActorWithoutMetadata) {
  EXPECT_EQ(ParseFail(R"({"actor":{},"targets":[{"type":"a"}]})"),
            std::vector<std::string>{"/actor/metadata"});
  EXPECT_EQ(ParseFail(R"({"actor":{"metadata":null},"targets":[{"type":"a"}]})"),
            std::vector<std::string>{"/actor/metadata"});
  EXPECT_EQ(ParseFail(R"({"actor":"user","targets":[{"type":"a"}]})"),
            std::vector<std::string>{"/actor"});
}

TEST(ActionSchemaParse, RejectsBadRequiredLists) {
  const auto fail = [](std::string_view required) {
    return ParseFail(std::string(R"({"targets":[{"type":"a","metadata":{"type":"object",)"
                                 R"("properties":{"x":{"type":"string"},"y":{"type":"number"}},)"
                                 R"("required":)") +
                     std::string(required) + "}}]}");
  };
  EXPECT_EQ(fail(R"("x")"), std::vector<std::string>{"/targets/0/metadata/required"});
  EXPECT_EQ(fail(R"(["x",1])"), std::vector<std::string>{"/targets/0/metadata/required/1"});
  EXPECT_EQ(fail(R"(["z"])"), std::vector<std::string>{"/targets/0/metadata/required/0"});
  EXPECT_EQ(fail(R"(["y","x","y"])"), std::vector<std::string>{"/targets/0/metadata/required/2"});
}

TEST(ActionSchemaParse, ReportsEveryProblemWithItsPath) {
  const Result<ActionSchema> r = ParseActionSchema(R"({
    "version": 2,
    "actor": {"metadata": {"type": "object", "properties": {"role": {"type": "enum"}}}},
    "targets": [{"type": "user"}, {"type": "user"},
                {"type": "doc", "metadata": {"type": "object",
                                             "properties": {"b/d": {"type": "string"}}}}],
    "metadata": {"type": "object", "properties": {"n": {"type": "number"}},
                 "required": ["m"]}})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_schema");
  EXPECT_EQ(r.status().message(), "the action schema is invalid");
  EXPECT_THAT(Paths(r.status()),
              ElementsAre("/version", "/actor/metadata/properties/role/type", "/targets/1/type",
                          "/targets/2/metadata/properties/b~1d", "/metadata/required/0"));
  for (const ErrorDetail& d : r.status().details()) EXPECT_FALSE(d.message.empty()) << d.path;
}

TEST(ActionSchemaParse, LeavesMalformedJsonToTheStrictParser) {
  // Duplicate keys are rejected with their path, like everywhere in the API.
  Result<ActionSchema> r = ParseActionSchema(R"({"targets":[{"type":"a","type":"b"}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_THAT(Paths(r.status()), ElementsAre("/targets/0/type"));

  r = ParseActionSchema(R"({"targets":[{"type":"a","metadata":{"type":"object","properties":)"
                        R"({"x":{"type":"string"},"x":{"type":"number"}}}}]})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_THAT(Paths(r.status()), ElementsAre("/targets/0/metadata/properties/x"));

  for (std::string_view body : {"", "{", R"({"targets":[{"type":"a"}]} x)"}) {
    r = ParseActionSchema(body);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().error_code(), "invalid_json") << body;
  }
  EXPECT_EQ(ParseFail("[]"), std::vector<std::string>{""});
  EXPECT_EQ(ParseFail("null"), std::vector<std::string>{""});
}

// ---- ActionSchemaJson -----------------------------------------------------------------------

TEST(ActionSchemaJsonTest, MatchesTheWorkOsResponseObject) {
  EXPECT_EQ(
      ActionSchemaJson(ParseOk(kSdkBody), 1, Time("2024-10-14T15:09:44.537Z")),
      R"({"object":"audit_log_schema","version":1,)"
      R"("targets":[{"type":"user","metadata":{"type":"object","properties":{"user_id":{"type":"string"}}}}],)"
      R"("actor":{"metadata":{"type":"object","properties":{"actor_id":{"type":"string"}}}},)"
      R"("metadata":{"type":"object","properties":{"baz":{"type":"boolean"},"foo":{"type":"number"}}},)"
      R"("created_at":"2024-10-14T15:09:44.537Z"})");
}

TEST(ActionSchemaJsonTest, AlwaysShowsAnActorAndOmitsAbsentMetadata) {
  EXPECT_EQ(ActionSchemaJson(ParseOk(R"({"targets":[{"type":"user"},{"type":"t\"eam"}]})"), 12,
                             Time("2026-11-29T02:03:04.123999Z")),
            R"({"object":"audit_log_schema","version":12,)"
            R"("targets":[{"type":"user"},{"type":"t\"eam"}],)"
            R"("actor":{"metadata":{"type":"object","properties":{}}},)"
            R"("created_at":"2026-11-29T02:03:04.123Z"})");
}

TEST(ActionSchemaJsonTest, ShowsRequiredAndClosedSchemas) {
  const ActionSchema s = ParseOk(R"({"targets":[{"type":"i","metadata":{"type":"object",)"
                                 R"("additionalProperties":true,"properties":{}}}],)"
                                 R"("metadata":{"type":"object","additionalProperties":false,)"
                                 R"("required":["b","a"],"properties":{"b":{"type":"string"},)"
                                 R"("a":{"type":"number"},"c":{"type":"boolean"}}}})");
  EXPECT_EQ(
      ActionSchemaJson(s, 2, Time("2025-01-01T00:00:00Z")),
      R"({"object":"audit_log_schema","version":2,)"
      R"("targets":[{"type":"i","metadata":{"type":"object","properties":{}}}],)"
      R"("actor":{"metadata":{"type":"object","properties":{}}},)"
      R"("metadata":{"type":"object","properties":{"a":{"type":"number"},"b":{"type":"string"},)"
      R"("c":{"type":"boolean"}},"required":["a","b"],"additionalProperties":false},)"
      R"("created_at":"2025-01-01T00:00:00.000Z"})");
}

TEST(ActionSchemaJsonTest, ParsesBackToTheSameSchema) {
  for (std::string_view body :
       {kSdkBody, std::string_view(R"({"targets":[{"type":"user"}]})"),
        std::string_view(
            R"({"targets":[{"type":"x","metadata":{"type":"object","required":["k"],)"
            R"("properties":{"k":{"type":"boolean"}},"additionalProperties":false}}]})")}) {
    const ActionSchema s = ParseOk(body);
    boost::json::object response =
        boost::json::parse(ActionSchemaJson(s, 1, Time("2024-01-01T00:00:00Z"))).as_object();
    EXPECT_EQ(response.erase("object"), 1u);
    EXPECT_EQ(response.erase("version"), 1u);
    EXPECT_EQ(response.erase("created_at"), 1u);
    EXPECT_EQ(ParseOk(boost::json::serialize(response)), s) << body;
  }
}

// ---- EncodeActionSchema / DecodeActionSchema ------------------------------------------------

TEST(ActionSchemaEncoding, IsCompactAndCanonical) {
  EXPECT_EQ(EncodeActionSchema(ParseOk(R"({"targets":[{"type":"user"}]})")),
            R"({"t":[{"n":"user"}],"v":1})");
  // An actor schema without properties is the default and is left out.
  EXPECT_EQ(
      EncodeActionSchema(ParseOk(
          R"({"actor":{"metadata":{"type":"object","properties":{}}},"targets":[{"type":"u"}]})")),
      R"({"t":[{"n":"u"}],"v":1})");
  EXPECT_EQ(EncodeActionSchema(ParseOk(kSdkBody)),
            R"({"a":{"p":{"actor_id":"s"}},"m":{"p":{"baz":"b","foo":"n"}},)"
            R"("t":[{"m":{"p":{"user_id":"s"}},"n":"user"}],"v":1})");
  EXPECT_EQ(EncodeActionSchema(ParseOk(
                R"({"targets":[{"type":"b","metadata":{"type":"object"}},{"type":"a"}],)"
                R"("metadata":{"type":"object","additionalProperties":false,"required":["x"],)"
                R"("properties":{"x":{"type":"number"}}}})")),
            R"({"m":{"c":true,"p":{"x":"n"},"r":["x"]},"t":[{"m":{},"n":"b"},{"n":"a"}],"v":1})");
}

TEST(ActionSchemaEncoding, RoundTrips) {
  for (std::string_view body :
       {kSdkBody, std::string_view(R"({"targets":[{"type":"user"}]})"),
        std::string_view(
            R"({"targets":[{"type":"\u00e9\"/"},{"type":"b","metadata":null}],)"
            R"("actor":{"metadata":{"type":"object","additionalProperties":false}},)"
            R"("metadata":{"type":"object","required":["z","a"],"properties":)"
            R"({"z":{"type":"string"},"a":{"type":"boolean"},"m":{"type":"number"}}}})")}) {
    const ActionSchema s = ParseOk(body);
    const std::string encoded = EncodeActionSchema(s);
    Result<ActionSchema> decoded = DecodeActionSchema(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded << ": " << decoded.status().ToString();
    EXPECT_EQ(*decoded, s) << encoded;
    EXPECT_EQ(EncodeActionSchema(*decoded), encoded);
  }
}

TEST(ActionSchemaEncoding, DecodeRejectsDamagedInput) {
  for (std::string_view bad : {"",
                               "[]",
                               R"({"t":[{"n":"u"}]})",
                               R"({"t":[{"n":"u"}],"v":2})",
                               R"({"t":[{"n":"u"}],"v":"1"})",
                               R"({"t":[],"v":1})",
                               R"({"v":1})",
                               R"({"t":[{"n":""}],"v":1})",
                               R"({"t":[{"n":"u"},{"n":"u"}],"v":1})",
                               R"({"t":[{"n":"u","x":1}],"v":1})",
                               R"({"t":[{"m":{}}],"v":1})",
                               R"({"t":[{"n":"u"}],"v":1,"z":0})",
                               R"({"m":{"p":{"a":"x"}},"t":[{"n":"u"}],"v":1})",
                               R"({"m":{"p":{"a b":"s"}},"t":[{"n":"u"}],"v":1})",
                               R"({"m":{"p":{}},"t":[{"n":"u"}],"v":1})",
                               R"({"m":{"c":false},"t":[{"n":"u"}],"v":1})",
                               R"({"m":{"r":["a"]},"t":[{"n":"u"}],"v":1})",
                               R"({"m":{"p":{"a":"s"},"r":["a","a"]},"t":[{"n":"u"}],"v":1})",
                               R"({"m":{"p":{"a":"s"},"r":[]},"t":[{"n":"u"}],"v":1})",
                               R"({"a":[],"t":[{"n":"u"}],"v":1})",
                               R"({"m":{"q":1},"t":[{"n":"u"}],"v":1})",
                               R"({"t":[{"n":"u"}],"v":1,"v":1})"}) {
    Result<ActionSchema> r = DecodeActionSchema(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), Code::kInternal) << bad;
    EXPECT_EQ(r.status().error_code(), "corrupt_schema") << bad;
  }
}

// ---- ValidateAgainstSchema ------------------------------------------------------------------

// user and invoice targets; invoice.cost is required; the root metadata is closed.
constexpr std::string_view kInvoiceSchema = R"({
  "actor": {"metadata": {"type": "object", "properties": {"role": {"type": "string"}}}},
  "targets": [
    {"type": "user", "metadata": {"type": "object", "properties": {"user_id": {"type": "string"}}}},
    {"type": "invoice", "metadata": {"type": "object", "required": ["cost"],
      "properties": {"cost": {"type": "number"}, "paid": {"type": "boolean"}}}}],
  "metadata": {"type": "object", "additionalProperties": false,
               "properties": {"reason": {"type": "string"}}}
})";

// An event in the annals model with the given actor metadata, targets and root metadata.
std::string Event(std::string_view actor_metadata, std::string_view targets,
                  std::string_view metadata) {
  std::string e = R"({"action":"invoice.paid","occurred_at":"2026-11-29T02:03:04.123000Z",)"
                  R"("actor":{"id":"user_7","type":"user","name":"Ada")";
  if (!actor_metadata.empty()) e += ",\"metadata\":" + std::string(actor_metadata);
  e += "},\"targets\":" + std::string(targets) + R"(,"context":{"location":"203.0.113.7"})";
  if (!metadata.empty()) e += ",\"metadata\":" + std::string(metadata);
  return e + "}";
}

constexpr std::string_view kUserAndInvoice =
    R"([{"id":"u1","type":"user","metadata":{"user_id":"u1"}},)"
    R"({"id":"I-1","type":"invoice","metadata":{"cost":12.5,"paid":true}}])";

std::vector<std::string> ValidateFail(std::string_view schema_body, const std::string& event) {
  const Status st = ValidateAgainstSchema(ParseOk(schema_body), event);
  EXPECT_FALSE(st.ok()) << event << " was accepted";
  if (st.ok()) return {};
  EXPECT_EQ(st.code(), Code::kInvalidArgument);
  EXPECT_EQ(st.error_code(), "invalid_event");
  for (const ErrorDetail& d : st.details()) EXPECT_FALSE(d.message.empty()) << d.path;
  return Paths(st);
}

void ValidateOk(std::string_view schema_body, const std::string& event) {
  const Status st = ValidateAgainstSchema(ParseOk(schema_body), event);
  EXPECT_TRUE(st.ok()) << event << ": " << st.ToString();
}

TEST(ActionSchemaValidate, AcceptsAMatchingEvent) {
  ValidateOk(kInvoiceSchema,
             Event(R"({"role":"admin"})", kUserAndInvoice, R"({"reason":"retest"})"));
  // Declared keys are optional unless required; metadata objects may be absent.
  ValidateOk(kInvoiceSchema, Event("",
                                   R"([{"id":"u1","type":"user"},{"id":"I-1","type":"invoice",)"
                                   R"("metadata":{"cost":3}}])",
                                   ""));
}

TEST(ActionSchemaValidate, AcceptsUndeclaredKeysWhereTheSchemaIsOpen) {
  ValidateOk(kInvoiceSchema,
             Event(R"({"role":"admin","team":"red","level":3})",
                   R"([{"id":"u1","type":"user","metadata":{"email":"a@b.c"}},)"
                   R"({"id":"I-1","type":"invoice","metadata":{"cost":1,"currency":"EUR"}}])",
                   ""));
  // The Node SDK's body for a schema without actor metadata leaves actor metadata free.
  ValidateOk(
      R"({"actor":{"metadata":{"type":"object","properties":{}}},"targets":[{"type":"user"}]})",
      Event(R"({"role":"admin"})", R"([{"id":"u1","type":"user","metadata":{"a":1}}])",
            R"({"anything":true})"));
}

TEST(ActionSchemaValidate, AcceptsSeveralTargetsOfAListedTypeInAnyOrder) {
  ValidateOk(kInvoiceSchema,
             Event("",
                   R"([{"id":"I-1","type":"invoice","metadata":{"cost":1}},)"
                   R"({"id":"u1","type":"user"},{"id":"u2","type":"user"},)"
                   R"({"id":"I-2","type":"invoice","metadata":{"cost":-2,"paid":false}}])",
                   ""));
}

TEST(ActionSchemaValidate, AcceptsEveryJsonNumberForNumber) {
  for (std::string_view cost : {"0", "-7", "12.5", "1e300", "-0.000001", "9007199254740992"}) {
    ValidateOk(kInvoiceSchema,
               Event("",
                     R"([{"id":"u","type":"user"},{"id":"i","type":"invoice","metadata":{"cost":)" +
                         std::string(cost) + "}}]",
                     ""));
  }
}

TEST(ActionSchemaValidate, RejectsAMissingTargetType) {
  const std::string event = Event("", R"([{"id":"u1","type":"user"}])", "");
  EXPECT_EQ(ValidateFail(kInvoiceSchema, event), std::vector<std::string>{"/event/targets"});
  const Status st = ValidateAgainstSchema(ParseOk(kInvoiceSchema), event);
  ASSERT_EQ(st.details().size(), 1u);
  EXPECT_THAT(st.details()[0].message, HasSubstr("\"invoice\""));
}

TEST(ActionSchemaValidate, RejectsATargetTypeTheSchemaDoesNotList) {
  const std::string event =
      Event("",
            R"([{"id":"u1","type":"user"},{"id":"I-1","type":"invoice","metadata":{"cost":1}},)"
            R"({"id":"t","type":"team"}])",
            "");
  EXPECT_EQ(ValidateFail(kInvoiceSchema, event), std::vector<std::string>{"/event/targets/2/type"});
  const Status st = ValidateAgainstSchema(ParseOk(kInvoiceSchema), event);
  EXPECT_THAT(st.details()[0].message, HasSubstr("\"user\", \"invoice\""));
  // A wrong type is both unlisted and leaves a listed type missing.
  EXPECT_THAT(
      ValidateFail(kInvoiceSchema, Event("",
                                         R"([{"id":"u1","type":"User"},{"id":"i","type":"invoice",)"
                                         R"("metadata":{"cost":1}}])",
                                         "")),
      ElementsAre("/event/targets/0/type", "/event/targets"));
}

TEST(ActionSchemaValidate, RejectsValuesOfTheWrongType) {
  EXPECT_EQ(ValidateFail(kInvoiceSchema,
                         Event("",
                               R"([{"id":"u1","type":"user"},{"id":"I-1","type":"invoice",)"
                               R"("metadata":{"cost":"12.50"}}])",
                               "")),
            std::vector<std::string>{"/event/targets/1/metadata/cost"});
  EXPECT_EQ(ValidateFail(kInvoiceSchema,
                         Event("",
                               R"([{"id":"u1","type":"user"},{"id":"I-1","type":"invoice",)"
                               R"("metadata":{"cost":1,"paid":1}}])",
                               "")),
            std::vector<std::string>{"/event/targets/1/metadata/paid"});
  EXPECT_EQ(ValidateFail(kInvoiceSchema,
                         Event("",
                               R"([{"id":"u1","type":"user"},{"id":"I-1","type":"invoice",)"
                               R"("metadata":{"cost":true}}])",
                               "")),
            std::vector<std::string>{"/event/targets/1/metadata/cost"});
  EXPECT_EQ(ValidateFail(kInvoiceSchema, Event(R"({"role":5})", kUserAndInvoice, "")),
            std::vector<std::string>{"/event/actor/metadata/role"});
  EXPECT_EQ(ValidateFail(kInvoiceSchema, Event("", kUserAndInvoice, R"({"reason":false})")),
            std::vector<std::string>{"/event/metadata/reason"});
  const Status st =
      ValidateAgainstSchema(ParseOk(kInvoiceSchema), Event(R"({"role":5})", kUserAndInvoice, ""));
  EXPECT_EQ(st.details()[0].message,
            "event.actor.metadata.role must be a string, as the action's schema declares");
}

TEST(ActionSchemaValidate, RejectsMissingRequiredKeys) {
  EXPECT_EQ(
      ValidateFail(kInvoiceSchema,
                   Event("", R"([{"id":"u1","type":"user"},{"id":"I-1","type":"invoice"}])", "")),
      std::vector<std::string>{"/event/targets/1/metadata/cost"});
  EXPECT_EQ(ValidateFail(kInvoiceSchema,
                         Event("",
                               R"([{"id":"u1","type":"user"},{"id":"I-1","type":"invoice",)"
                               R"("metadata":{"paid":true}}])",
                               "")),
            std::vector<std::string>{"/event/targets/1/metadata/cost"});
  // Every invoice target is checked.
  EXPECT_EQ(ValidateFail(kInvoiceSchema,
                         Event("",
                               R"([{"id":"I-1","type":"invoice","metadata":{"cost":1}},)"
                               R"({"id":"u1","type":"user"},{"id":"I-2","type":"invoice"}])",
                               "")),
            std::vector<std::string>{"/event/targets/2/metadata/cost"});
}

TEST(ActionSchemaValidate, RejectsUndeclaredKeysWhereTheSchemaIsClosed) {
  EXPECT_EQ(
      ValidateFail(kInvoiceSchema, Event("", kUserAndInvoice, R"({"reason":"x","ticket":"T-1"})")),
      std::vector<std::string>{"/event/metadata/ticket"});
}

TEST(ActionSchemaValidate, WithoutAMetadataSchemaMetadataIsFree) {
  ValidateOk(R"({"targets":[{"type":"user"}]})",
             Event(R"({"role":1})", R"([{"id":"u1","type":"user","metadata":{"x":"y"}}])",
                   R"({"cost":"free"})"));
}

TEST(ActionSchemaValidate, ReportsEveryProblemInOrder) {
  const std::string event = Event(R"({"role":["admin"]})",
                                  R"([{"id":"u1","type":"user","metadata":{"user_id":7}},)"
                                  R"({"id":"g","type":"group"},{"id":"u2","type":"user"}])",
                                  R"({"reason":1,"extra":"x"})");
  EXPECT_THAT(ValidateFail(kInvoiceSchema, event),
              ElementsAre("/event/actor/metadata/role", "/event/targets/0/metadata/user_id",
                          "/event/targets/1/type", "/event/targets", "/event/metadata/reason",
                          "/event/metadata/extra"));
  const Status st = ValidateAgainstSchema(ParseOk(kInvoiceSchema), event);
  EXPECT_EQ(st.message(), "the event does not match its action's schema");
}

TEST(ActionSchemaValidate, ReportsEventsWithoutTheModelsShape) {
  EXPECT_EQ(ValidateFail(kInvoiceSchema, "[]"), std::vector<std::string>{"/event"});
  EXPECT_THAT(ValidateFail(kInvoiceSchema, R"({"actor":"x","targets":{}})"),
              ElementsAre("/event/actor", "/event/targets"));
  EXPECT_THAT(ValidateFail(kInvoiceSchema, R"({})"), ElementsAre("/event/actor", "/event/targets"));
  EXPECT_THAT(ValidateFail(kInvoiceSchema, Event(R"("admin")", R"([3,{"id":"u"}])", "[]")),
              ElementsAre("/event/actor/metadata", "/event/targets/0", "/event/targets/1/type",
                          "/event/targets", "/event/targets", "/event/metadata"));
  const Status st = ValidateAgainstSchema(ParseOk(kInvoiceSchema), "{\"actor\":");
  EXPECT_EQ(st.error_code(), "invalid_json");
}

}  // namespace
}  // namespace annals::workos
