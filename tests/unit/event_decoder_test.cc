#include "domain/event_decoder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr TimestampUs kNow = 1764381784000000;  // 2025-11-29T02:03:04Z

MATCHER_P2(Detail, path, message_matcher, "") {
  return ::testing::ExplainMatchResult(path, arg.path, result_listener) &&
         ::testing::ExplainMatchResult(message_matcher, arg.message, result_listener);
}

boost::json::object ValidEvent() {
  return boost::json::parse(R"({
    "organization_id": "org_acme",
    "action": "finding.updated",
    "occurred_at": "2025-11-29T03:03:04.5+01:00",
    "version": 1,
    "actor": {"id": "user_7", "type": "user", "name": "Ada", "metadata": {"role": "admin"}},
    "targets": [{"id": "F-123", "type": "finding", "name": "SQLi in /login"}],
    "context": {"location": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    "metadata": {"reason": "retest", "score": 7.5, "urgent": true},
    "changes": {"op": "update", "before": {"state": "open"}, "after": {"state": "closed"}}
  })")
      .as_object();
}

// A minimal valid event.
boost::json::object MinimalEvent() {
  return boost::json::parse(R"({
    "organization_id": "org_acme", "action": "a", "occurred_at": "2025-11-29T02:03:04Z",
    "actor": {"id": "u", "type": "user"}, "targets": [{"id": "t", "type": "item"}]
  })")
      .as_object();
}

DecodeContext Ctx() {
  DecodeContext ctx;
  ctx.now = kNow;
  return ctx;
}

std::string Json(const boost::json::value& v) { return boost::json::serialize(v); }

struct Decoder {
  EventLimits limits;
  RequestLimits request_limits;
  DecodeContext ctx = Ctx();

  Result<DecodedBatch> Decode(std::string_view body, BodyFormat format = BodyFormat::kJson) const {
    return DecodeEventsBody(body, format, limits, request_limits, ctx);
  }
  Result<DecodedBatch> Decode(const boost::json::value& v) const { return Decode(Json(v)); }

  // Decodes a single event that must be valid.
  EventDraft One(const boost::json::value& v) const {
    Result<DecodedBatch> r = Decode(v);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->drafts.size() != 1) return EventDraft();
    EXPECT_TRUE(r->single);
    return r->drafts[0];
  }

  // Decodes a single event that must be invalid and returns its details.
  std::vector<ErrorDetail> Problems(const boost::json::value& v) const {
    Result<DecodedBatch> r = Decode(v);
    EXPECT_FALSE(r.ok()) << Json(v);
    if (r.ok()) return {};
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << r.status().ToString();
    EXPECT_EQ(r.status().error_code(), "invalid_event") << r.status().ToString();
    return r.status().details();
  }
};

// The canonical client content (members without "source"), as hashed.
std::string ClientCanonical(const EventDraft& draft) {
  std::string out = "{";
  for (const auto& [name, value] : draft.members) {
    if (name == "source") continue;
    if (out.size() > 1) out += ',';
    AppendJsonString(name, &out);
    out += ':';
    out += value;
  }
  return out + "}";
}

std::vector<std::string> MemberNames(const EventDraft& draft) {
  std::vector<std::string> names;
  for (const auto& m : draft.members) names.push_back(m.first);
  return names;
}

std::string MemberValue(const EventDraft& draft, std::string_view name) {
  for (const auto& m : draft.members) {
    if (m.first == name) return m.second;
  }
  return "<absent>";
}

// ---- Valid events ----------------------------------------------------------------------

TEST(DecodeEvent, ValidEventFillsTheDraft) {
  Decoder d;
  const EventDraft draft = d.One(ValidEvent());
  EXPECT_EQ(draft.fields.organization_id, "org_acme");
  EXPECT_EQ(draft.fields.action, "finding.updated");
  EXPECT_EQ(draft.fields.occurred_at, kNow + 500000);
  EXPECT_EQ(draft.fields.actor_id, "user_7");
  EXPECT_EQ(draft.fields.actor_type, "user");
  EXPECT_THAT(draft.fields.targets, ElementsAre(TargetRef{"finding", "F-123"}));
  EXPECT_EQ(draft.fields.change_op, ChangeOp::kUpdate);
  EXPECT_EQ(draft.idempotency_key, "");
  EXPECT_THAT(MemberNames(draft),
              ElementsAre("action", "actor", "changes", "context", "metadata", "occurred_at",
                          "organization_id", "source", "targets", "version"));
  EXPECT_EQ(MemberValue(draft, "occurred_at"), "\"2025-11-29T02:03:04.500000Z\"");
  EXPECT_EQ(MemberValue(draft, "actor"),
            R"({"id":"user_7","metadata":{"role":"admin"},"name":"Ada","type":"user"})");
  EXPECT_EQ(MemberValue(draft, "metadata"), R"({"reason":"retest","score":7.5,"urgent":true})");
  EXPECT_EQ(MemberValue(draft, "source"), R"({"kind":"api"})");
  EXPECT_EQ(MemberValue(draft, "version"), "1");
  EXPECT_EQ(draft.content_hash, Sha256(ClientCanonical(draft)));
  EXPECT_GT(draft.approx_size, ClientCanonical(draft).size());
}

TEST(DecodeEvent, MinimalEvent) {
  Decoder d;
  const EventDraft draft = d.One(MinimalEvent());
  EXPECT_THAT(MemberNames(draft), ElementsAre("action", "actor", "occurred_at", "organization_id",
                                              "source", "targets"));
  EXPECT_EQ(draft.fields.change_op, ChangeOp::kNone);
}

TEST(DecodeEvent, ContentHashIgnoresFormattingAndSourceButNotContent) {
  Decoder d;
  const EventDraft a = d.One(ValidEvent());
  // Same content, different member order, whitespace, number spelling and time zone.
  const std::string reordered =
      R"({ "targets": [{"name": "SQLi in /login", "type": "finding", "id": "F-123"}],
    "changes": {"after": {"state": "closed"}, "before": {"state": "open"}, "op": "update"},
    "metadata": {"urgent": true, "score": 75e-1, "reason": "retest"},
    "context": {"user_agent": "Mozilla/5.0", "location": "203.0.113.7"},
    "actor": {"metadata": {"role": "admin"}, "name": "Ada", "type": "user", "id": "user_7"},
    "version": 1.0, "occurred_at": "2025-11-29t02:03:04.500000z",
    "action": "finding.updated", "organization_id": "org_acme" })";
  Result<DecodedBatch> b = d.Decode(reordered);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(b->drafts[0].content_hash, a.content_hash);
  EXPECT_EQ(b->drafts[0].members, a.members);

  Decoder other_source = d;
  other_source.ctx.source_json = R"({"kind":"sqs","queue":"q"})";
  const EventDraft c = other_source.One(ValidEvent());
  EXPECT_EQ(c.content_hash, a.content_hash);
  EXPECT_EQ(MemberValue(c, "source"), R"({"kind":"sqs","queue":"q"})");

  boost::json::object changed = ValidEvent();
  changed["metadata"].as_object()["reason"] = "retest2";
  EXPECT_NE(d.One(changed).content_hash, a.content_hash);
}

TEST(DecodeEvent, IdempotencyKeyIsTakenOutOfTheMembers) {
  Decoder d;
  boost::json::object e = ValidEvent();
  e["idempotency_key"] = "key-1";
  const EventDraft draft = d.One(e);
  EXPECT_EQ(draft.idempotency_key, "key-1");
  EXPECT_EQ(MemberValue(draft, "idempotency_key"), "<absent>");
  // Hash covers the content only, so a retry with the same key and content matches.
  EXPECT_EQ(draft.content_hash, d.One(ValidEvent()).content_hash);
}

TEST(DecodeEvent, NumbersAreStoredCanonically) {
  Decoder d;
  const std::string body =
      R"({"organization_id": "o", "action": "a", "occurred_at": "2025-11-29T02:03:04Z",
    "actor": {"id": "u", "type": "user"}, "targets": [{"id": "t", "type": "item"}],
    "metadata": {"a": 1E2, "b": 4.50, "c": -0, "d": 2e-3},
    "changes": {"op": "create", "after": {"n": [1e21, 0.000001, 1e-7]}}})";
  Result<DecodedBatch> r = d.Decode(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(MemberValue(r->drafts[0], "metadata"), R"({"a":100,"b":4.5,"c":0,"d":0.002})");
  EXPECT_EQ(MemberValue(r->drafts[0], "changes"),
            R"({"after":{"n":[1e+21,0.000001,1e-7]},"op":"create"})");
}

// ---- RenderCanonicalEvent --------------------------------------------------------------

TEST(RenderCanonicalEvent, MatchesCanonicalOfTheEquivalentObject) {
  Decoder d;
  d.ctx.implied_organization_id = "org_acme";
  for (const uint64_t seq : {uint64_t{1}, uint64_t{1042}, (uint64_t{1} << 53) + 1}) {
    for (bool with_org : {true, false}) {
      boost::json::object e = ValidEvent();
      e["idempotency_key"] = "k";
      if (!with_org) e.erase("organization_id");
      const EventDraft draft = d.One(e);
      const std::string id = "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2";
      const TimestampUs received = kNow + 130412;
      const std::string rendered = RenderCanonicalEvent(draft, id, seq, received);

      boost::json::object expected = ValidEvent();
      expected["organization_id"] = "org_acme";
      expected["occurred_at"] = "2025-11-29T02:03:04.500000Z";
      expected["id"] = id;
      expected["seq"] = seq;
      expected["received_at"] = "2025-11-29T02:03:04.130412Z";
      expected["source"] = boost::json::object{{"kind", "api"}};
      EXPECT_EQ(rendered, Canonical(expected));
      auto reparsed = ParseStrictJson(rendered, 64);
      ASSERT_TRUE(reparsed.ok());
      EXPECT_EQ(Canonical(*reparsed), rendered);
    }
  }
}

TEST(RenderCanonicalEvent, MinimalEventOrder) {
  Decoder d;
  const EventDraft draft = d.One(MinimalEvent());
  EXPECT_EQ(RenderCanonicalEvent(draft, "evt_X", 7, 0),
            R"({"action":"a","actor":{"id":"u","type":"user"},"id":"evt_X",)"
            R"("occurred_at":"2025-11-29T02:03:04.000000Z","organization_id":"org_acme",)"
            R"("received_at":"1970-01-01T00:00:00.000000Z","seq":7,"source":{"kind":"api"},)"
            R"("targets":[{"id":"t","type":"item"}]})");
}

TEST(ChangeOpName, Names) {
  EXPECT_STREQ(ChangeOpName(ChangeOp::kNone), "");
  EXPECT_STREQ(ChangeOpName(ChangeOp::kCreate), "create");
  EXPECT_STREQ(ChangeOpName(ChangeOp::kUpdate), "update");
  EXPECT_STREQ(ChangeOpName(ChangeOp::kDelete), "delete");
  EXPECT_STREQ(ChangeOpName(ChangeOp::kSnapshot), "snapshot");
}

// ---- Organization ----------------------------------------------------------------------

TEST(DecodeEvent, ImpliedOrganization) {
  Decoder d;
  d.ctx.implied_organization_id = "org_key";
  boost::json::object e = MinimalEvent();
  e.erase("organization_id");
  EventDraft draft = d.One(e);
  EXPECT_EQ(draft.fields.organization_id, "org_key");
  EXPECT_EQ(MemberValue(draft, "organization_id"), "\"org_key\"");

  e["organization_id"] = "org_key";
  EXPECT_EQ(d.One(e).fields.organization_id, "org_key");
  EXPECT_EQ(d.One(e).content_hash, draft.content_hash);

  e["organization_id"] = "org_other";
  EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/organization_id", HasSubstr("does not match"))));
}

TEST(DecodeEvent, OrganizationRequiredWithoutImpliedOne) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e.erase("organization_id");
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/organization_id", "organization_id is required")));
  e["organization_id"] = "";
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/organization_id", HasSubstr("non-empty string"))));
  e["organization_id"] = 5;
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/organization_id", HasSubstr("non-empty string"))));
}

// ---- Unknown and required fields -------------------------------------------------------

TEST(DecodeEvent, UnknownTopLevelFields) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["extra"] = 1;
  e["a/b~c"] = true;
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/extra", "unknown field"), Detail("/a~1b~0c", "unknown field")));
  for (const char* server_field : {"id", "seq", "received_at", "source"}) {
    boost::json::object s = MinimalEvent();
    s[server_field] = "x";
    EXPECT_THAT(d.Problems(s), ElementsAre(Detail(std::string("/") + server_field,
                                                  HasSubstr("set by the server"))));
  }
}

TEST(DecodeEvent, RequiredFieldsAreAllReported) {
  Decoder d;
  Result<DecodedBatch> r = d.Decode(std::string_view(R"({"organization_id": "o"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_event");
  EXPECT_THAT(r.status().details(), ElementsAre(Detail("/action", "action is required"),
                                                Detail("/occurred_at", "occurred_at is required"),
                                                Detail("/actor", "actor is required"),
                                                Detail("/targets", "targets is required")));
  EXPECT_EQ(r.status().message(), "the event is invalid: action is required (and 3 more problems)");
}

TEST(DecodeEvent, SingleProblemMessage) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["actor"].as_object().erase("id");
  Result<DecodedBatch> r = d.Decode(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "the event is invalid: actor.id is required");
  EXPECT_THAT(r.status().details(), ElementsAre(Detail("/actor/id", "actor.id is required")));
}

TEST(DecodeEvent, WrongTypesAreNeverCoerced) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["action"] = 1;
  e["occurred_at"] = 1764381784;
  e["version"] = "1";
  e["actor"] = "user_7";
  e["targets"] = boost::json::object{{"id", "t"}, {"type", "item"}};
  e["context"] = boost::json::array();
  e["metadata"] = "x";
  e["changes"] = nullptr;
  e["idempotency_key"] = 7;
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/action", "action must be a string"),
                          Detail("/occurred_at", HasSubstr("must be a string")),
                          Detail("/version", HasSubstr("must be an integer")),
                          Detail("/actor", "actor must be an object"),
                          Detail("/targets", "targets must be an array"),
                          Detail("/context", "context must be an object"),
                          Detail("/metadata", "metadata must be an object"),
                          Detail("/changes", "changes must be an object"),
                          Detail("/idempotency_key", HasSubstr("non-empty string"))));
}

TEST(DecodeEvent, NotAnObject) {
  Decoder d;
  std::vector<ErrorDetail> errors;
  EXPECT_FALSE(DecodeEvent(boost::json::value(3), d.limits, d.ctx, "/events/2", &errors));
  EXPECT_THAT(errors, ElementsAre(Detail("/events/2", HasSubstr("must be a JSON object"))));
}

TEST(DecodeEvent, DirectCallPrefixesPaths) {
  Decoder d;
  std::vector<ErrorDetail> errors;
  boost::json::object e = MinimalEvent();
  e["targets"].as_array()[0].as_object()["id"] = "";
  EXPECT_FALSE(DecodeEvent(e, d.limits, d.ctx, "/events/3", &errors));
  EXPECT_THAT(errors, ElementsAre(Detail("/events/3/targets/0/id", HasSubstr("non-empty"))));
  errors.clear();
  auto draft = DecodeEvent(MinimalEvent(), d.limits, d.ctx, "", &errors);
  ASSERT_TRUE(draft.has_value());
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(draft->fields.action, "a");
}

// ---- action ----------------------------------------------------------------------------

TEST(DecodeEvent, ActionLengthLimit) {
  for (const size_t limit : {size_t{10}, size_t{128}}) {
    Decoder d;
    d.limits.max_action_length = limit;
    boost::json::object e = MinimalEvent();
    e["action"] = std::string(limit - 1, 'a');
    d.One(e);
    e["action"] = std::string(limit, 'a');
    EXPECT_EQ(d.One(e).fields.action, std::string(limit, 'a'));
    e["action"] = std::string(limit + 1, 'a');
    EXPECT_THAT(
        d.Problems(e),
        ElementsAre(Detail("/action", "action is " + std::to_string(limit + 1) +
                                          " characters; the limit is " + std::to_string(limit))));
  }
}

TEST(DecodeEvent, ActionCharacters) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["action"] = "a-z_0.9";
  d.One(e);
  for (const char* bad :
       {"Finding.updated", "finding updated", "finding/updated", "\u00e9t\u00e9", "a\n"}) {
    e["action"] = bad;
    EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/action", HasSubstr("may only contain"))))
        << bad;
  }
  e["action"] = "";
  EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/action", "action must not be empty")));
}

TEST(DecodeEvent, ReservedActions) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["action"] = "annals.export.created";
  EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/action", HasSubstr("reserved"))));
  e["action"] = "annals";
  d.One(e);
  e["action"] = "annalsx.y";
  d.One(e);
  d.ctx.allow_reserved_actions = true;
  e["action"] = "annals.export.created";
  EXPECT_EQ(d.One(e).fields.action, "annals.export.created");
}

// ---- occurred_at -----------------------------------------------------------------------

TEST(DecodeEvent, OccurredAtFutureLimit) {
  for (const int64_t limit : {int64_t{3600} * 1000000, int64_t{1500}}) {
    Decoder d;
    d.limits.max_future_us = limit;
    boost::json::object e = MinimalEvent();
    e["occurred_at"] = FormatRfc3339Micros(kNow + limit - 1);
    d.One(e);
    e["occurred_at"] = FormatRfc3339Micros(kNow + limit);
    EXPECT_EQ(d.One(e).fields.occurred_at, kNow + limit);
    e["occurred_at"] = FormatRfc3339Micros(kNow + limit + 1);
    EXPECT_THAT(d.Problems(e),
                ElementsAre(Detail("/occurred_at", HasSubstr("ahead of the server's clock"))));
  }
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["occurred_at"] = "2025-11-29T03:03:04.000001Z";
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/occurred_at", HasSubstr("more than 3600 seconds"))));
}

TEST(DecodeEvent, OccurredAtHasNoPastLimit) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["occurred_at"] = "0001-01-01T00:00:00Z";
  EXPECT_EQ(d.One(e).fields.occurred_at, -62135596800LL * 1000000);
  EXPECT_EQ(MemberValue(d.One(e), "occurred_at"), "\"0001-01-01T00:00:00.000000Z\"");
}

TEST(DecodeEvent, OccurredAtFormat) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["occurred_at"] = "2025-11-29T02:03:04.1234567Z";
  EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/occurred_at", HasSubstr("microseconds"))));
  for (const char* bad : {"2025-11-29", "2025-11-29 02:03:04Z", "2025-02-29T00:00:00Z",
                          "2025-11-29T02:03:04", "yesterday", ""}) {
    e["occurred_at"] = bad;
    EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/occurred_at", HasSubstr("occurred_at "))))
        << bad;
  }
}

// ---- version ---------------------------------------------------------------------------

TEST(DecodeEvent, Version) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["version"] = 3;
  EXPECT_EQ(MemberValue(d.One(e), "version"), "3");
  for (const boost::json::value& bad :
       {boost::json::value(0), boost::json::value(-1), boost::json::value(1.5),
        boost::json::value(nullptr), boost::json::value(true)}) {
    e["version"] = bad;
    EXPECT_THAT(d.Problems(e),
                ElementsAre(Detail("/version", "version must be an integer of at least 1")));
  }
}

// ---- actor and targets -----------------------------------------------------------------

TEST(DecodeEvent, ActorFields) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["actor"] = boost::json::object{{"id", ""}, {"type", 3}, {"name", 5}, {"email", "x"}};
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/actor/email", HasSubstr("unknown field in actor")),
                          Detail("/actor/id", "actor.id must be a non-empty string"),
                          Detail("/actor/type", "actor.type must be a non-empty string"),
                          Detail("/actor/name", "actor.name must be a string")));
  e["actor"] = boost::json::object{{"id", "u"}, {"type", "user"}, {"name", ""}};
  EXPECT_EQ(d.One(e).fields.actor_id, "u");
}

TEST(DecodeEvent, TargetsCountLimit) {
  for (const size_t limit : {size_t{3}, size_t{32}}) {
    Decoder d;
    d.limits.max_targets = limit;
    const auto with_targets = [](size_t n) {
      boost::json::object e = MinimalEvent();
      boost::json::array targets;
      for (size_t i = 0; i < n; ++i) {
        targets.push_back(boost::json::object{{"id", "t" + std::to_string(i)}, {"type", "item"}});
      }
      e["targets"] = std::move(targets);
      return e;
    };
    EXPECT_THAT(d.One(with_targets(limit - 1)).fields.targets, SizeIs(limit - 1));
    EXPECT_THAT(d.One(with_targets(limit)).fields.targets, SizeIs(limit));
    EXPECT_THAT(
        d.Problems(with_targets(limit + 1)),
        ElementsAre(Detail("/targets", "targets has " + std::to_string(limit + 1) +
                                           " entries; the limit is " + std::to_string(limit))));
  }
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["targets"] = boost::json::array();
  EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/targets", HasSubstr("at least one"))));
}

TEST(DecodeEvent, TargetEntries) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["targets"] = boost::json::parse(R"([
    {"id": "a", "type": "item"},
    "nope",
    {"id": "c"},
    {"id": "d", "type": "item", "metadata": {"bad key": 1}, "extra": 1}
  ])");
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/targets/1", "targets[1] must be an object"),
                          Detail("/targets/2/type", "targets[2].type is required"),
                          Detail("/targets/3/extra", HasSubstr("unknown field in targets[3]")),
                          Detail("/targets/3/metadata/bad key", HasSubstr("may only contain"))));
  e["targets"] = boost::json::parse(
      R"([{"id": "a", "type": "item"}, {"id": "b", "type": "doc", "name": "B"}])");
  EXPECT_THAT(d.One(e).fields.targets, ElementsAre(TargetRef{"item", "a"}, TargetRef{"doc", "b"}));
}

// ---- context ---------------------------------------------------------------------------

TEST(DecodeEvent, Context) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["context"] = boost::json::object{{"location", 1}, {"user_agent", "x"}, {"ip", "1.2.3.4"}};
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/context/location", "context.location must be a string"),
                          Detail("/context/ip", HasSubstr("unknown field in context"))));
  e["context"] = boost::json::object();
  d.One(e);
}

TEST(DecodeEvent, ContextLocationRequiredOnTheWorkosPath) {
  Decoder d;
  d.ctx.require_context_location = true;
  boost::json::object e = MinimalEvent();
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/context/location", "context.location is required")));
  e["context"] = boost::json::object{{"user_agent", "x"}};
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/context/location", "context.location is required")));
  e["context"] = boost::json::object{{"location", ""}};
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/context/location", "context.location is required")));
  e["context"] = boost::json::object{{"location", "203.0.113.7"}};
  d.One(e);
}

// ---- metadata --------------------------------------------------------------------------

boost::json::object WithMetadata(boost::json::object metadata, const char* where = "root") {
  boost::json::object e = MinimalEvent();
  if (std::string_view(where) == "root") {
    e["metadata"] = std::move(metadata);
  } else if (std::string_view(where) == "actor") {
    e["actor"].as_object()["metadata"] = std::move(metadata);
  } else {
    e["targets"].as_array()[0].as_object()["metadata"] = std::move(metadata);
  }
  return e;
}

boost::json::object Keys(size_t n) {
  boost::json::object m;
  for (size_t i = 0; i < n; ++i) m["k" + std::to_string(i)] = "v";
  return m;
}

TEST(DecodeEvent, MetadataKeyCountLimit) {
  const std::pair<const char*, const char*> places[] = {
      {"root", "/metadata"}, {"actor", "/actor/metadata"}, {"target", "/targets/0/metadata"}};
  for (const size_t limit : {size_t{3}, size_t{50}}) {
    for (const auto& [where, path] : places) {
      Decoder d;
      d.limits.max_metadata_keys = limit;
      d.One(WithMetadata(Keys(limit - 1), where));
      d.One(WithMetadata(Keys(limit), where));
      EXPECT_THAT(
          d.Problems(WithMetadata(Keys(limit + 1), where)),
          ElementsAre(Detail(path, HasSubstr("has " + std::to_string(limit + 1) +
                                             " keys; the limit is " + std::to_string(limit)))));
    }
  }
}

TEST(DecodeEvent, MetadataKeyLengthLimit) {
  for (const size_t limit : {size_t{5}, size_t{40}}) {
    Decoder d;
    d.limits.max_metadata_key_length = limit;
    d.One(WithMetadata({{std::string(limit - 1, 'k'), 1}}));
    d.One(WithMetadata({{std::string(limit, 'k'), 1}}));
    const std::string long_key(limit + 1, 'k');
    EXPECT_THAT(d.Problems(WithMetadata({{long_key, 1}})),
                ElementsAre(Detail("/metadata/" + long_key,
                                   "metadata key is " + std::to_string(limit + 1) +
                                       " characters; the limit is " + std::to_string(limit))));
  }
}

TEST(DecodeEvent, MetadataKeyCharacters) {
  Decoder d;
  d.One(WithMetadata({{"Az09_-", 1}}));
  EXPECT_THAT(d.Problems(WithMetadata({{"a.b", 1}, {"a/b", 1}, {"\u00e9", 1}, {"", 1}})),
              ElementsAre(Detail("/metadata/a.b", HasSubstr("may only contain")),
                          Detail("/metadata/a~1b", HasSubstr("may only contain")),
                          Detail("/metadata/\u00e9", HasSubstr("may only contain")),
                          Detail("/metadata/", "metadata keys must not be empty")));
}

TEST(DecodeEvent, MetadataValueLengthLimitCountsCodePoints) {
  for (const size_t limit : {size_t{4}, size_t{500}}) {
    Decoder d;
    d.limits.max_metadata_value_length = limit;
    std::string value;
    for (size_t i = 0; i < limit; ++i) value += "\u00e9";  // 2 bytes, 1 code point
    d.One(WithMetadata({{"k", value.substr(2)}}));
    const EventDraft draft = d.One(WithMetadata({{"k", value}}));
    EXPECT_EQ(MemberValue(draft, "metadata"), "{\"k\":\"" + value + "\"}");  // not truncated
    EXPECT_THAT(d.Problems(WithMetadata({{"k", value + "x"}})),
                ElementsAre(Detail("/metadata/k", "metadata value is " + std::to_string(limit + 1) +
                                                      " characters; the limit is " +
                                                      std::to_string(limit))));
  }
}

TEST(DecodeEvent, MetadataValueTypes) {
  Decoder d;
  d.One(WithMetadata({{"s", "x"}, {"i", 1}, {"f", 1.5}, {"t", true}, {"f2", false}}));
  EXPECT_THAT(
      d.Problems(WithMetadata(
          {{"n", nullptr}, {"o", boost::json::object()}, {"a", boost::json::array{1}}}, "actor")),
      ElementsAre(Detail("/actor/metadata/n", HasSubstr("strings, numbers or booleans")),
                  Detail("/actor/metadata/o", HasSubstr("strings, numbers or booleans")),
                  Detail("/actor/metadata/a", HasSubstr("strings, numbers or booleans"))));
}

// ---- changes ---------------------------------------------------------------------------

boost::json::object WithChanges(std::string_view changes_json) {
  boost::json::object e = MinimalEvent();
  e["changes"] = boost::json::parse(changes_json);
  return e;
}

TEST(DecodeEvent, ChangesValid) {
  Decoder d;
  const std::pair<const char*, ChangeOp> valid[] = {
      {R"({"op": "create", "after": {"a": 1}})", ChangeOp::kCreate},
      {R"({"op": "create", "before": null, "after": {"a": 1}})", ChangeOp::kCreate},
      {R"({"op": "update", "after": {"a": 2}})", ChangeOp::kUpdate},
      {R"({"op": "update", "before": {"a": 1}, "after": {"a": 2}})", ChangeOp::kUpdate},
      {R"({"op": "delete"})", ChangeOp::kDelete},
      {R"({"op": "delete", "before": {"a": 1}})", ChangeOp::kDelete},
      {R"({"op": "delete", "before": {"a": 1}, "after": null})", ChangeOp::kDelete},
      {R"({"op": "snapshot", "after": {"deep": {"x": [1, {"y": null}]}}})", ChangeOp::kSnapshot},
  };
  for (const auto& [json, op] : valid) {
    const EventDraft draft = d.One(WithChanges(json));
    EXPECT_EQ(draft.fields.change_op, op) << json;
    EXPECT_EQ(MemberValue(draft, "changes"), Canonical(boost::json::parse(json)));
  }
}

TEST(DecodeEvent, ChangesInvalid) {
  Decoder d;
  const std::pair<const char*, std::vector<std::pair<std::string, std::string>>> invalid[] = {
      {R"({})", {{"/changes/op", "changes.op is required"}}},
      {R"({"op": "upsert", "after": {}})", {{"/changes/op", "must be one of"}}},
      {R"({"op": 1, "after": {}})", {{"/changes/op", "must be one of"}}},
      {R"({"op": "create"})", {{"/changes/after", "must be an object when op is \"create\""}}},
      {R"({"op": "create", "after": null})", {{"/changes/after", "must be an object"}}},
      {R"({"op": "update"})", {{"/changes/after", "must be an object when op is \"update\""}}},
      {R"({"op": "snapshot", "before": {}})", {{"/changes/after", "when op is \"snapshot\""}}},
      {R"({"op": "create", "before": {"a": 1}, "after": {}})",
       {{"/changes/before", "must be null or absent when op is \"create\""}}},
      {R"({"op": "delete", "after": {"a": 1}})",
       {{"/changes/after", "must be null or absent when op is \"delete\""}}},
      {R"({"op": "update", "before": [1], "after": "x"})",
       {{"/changes/before", "changes.before must be an object or null"},
        {"/changes/after", "changes.after must be an object or null"}}},
      {R"({"op": "update", "after": {}, "diff": {}})",
       {{"/changes/diff", "unknown field in changes"}}},
  };
  for (const auto& [json, expected] : invalid) {
    const std::vector<ErrorDetail> problems = d.Problems(WithChanges(json));
    ASSERT_EQ(problems.size(), expected.size()) << json;
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(problems[i].path, expected[i].first) << json;
      EXPECT_THAT(problems[i].message, HasSubstr(expected[i].second)) << json;
    }
  }
}

// ---- idempotency_key -------------------------------------------------------------------

TEST(DecodeEvent, IdempotencyKeyRules) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["idempotency_key"] = std::string(255, 'k');
  d.One(e);
  e["idempotency_key"] = std::string(256, 'k');
  EXPECT_EQ(d.One(e).idempotency_key, std::string(256, 'k'));
  e["idempotency_key"] = std::string(257, 'k');
  EXPECT_THAT(d.Problems(e),
              ElementsAre(Detail("/idempotency_key",
                                 "idempotency_key is 257 characters; the limit is 256")));
  e["idempotency_key"] = "!~";
  d.One(e);
  for (const char* bad : {"has space", "tab\t", "\u00e9", "\x7f"}) {
    e["idempotency_key"] = bad;
    EXPECT_THAT(d.Problems(e),
                ElementsAre(Detail("/idempotency_key", HasSubstr("printable ASCII"))))
        << bad;
  }
  e["idempotency_key"] = "";
  EXPECT_THAT(d.Problems(e), ElementsAre(Detail("/idempotency_key", HasSubstr("non-empty"))));
}

// ---- event size ------------------------------------------------------------------------

TEST(DecodeEvent, EventSizeLimit) {
  Decoder probe;
  boost::json::object e = ValidEvent();
  e["changes"].as_object()["after"].as_object()["blob"] = std::string(5000, 'x');
  const size_t size = ClientCanonical(probe.One(e)).size();

  Decoder d;
  d.limits.max_event_bytes = size + 1;
  d.One(e);
  d.limits.max_event_bytes = size;
  d.One(e);
  d.limits.max_event_bytes = size - 1;
  Result<DecodedBatch> single = d.Decode(e);
  ASSERT_FALSE(single.ok());
  EXPECT_EQ(single.status().code(), Code::kTooLarge);
  EXPECT_EQ(single.status().error_code(), "event_too_large");
  const std::string message =
      "event is " + std::to_string(size) + " bytes; the limit is " + std::to_string(size - 1);
  EXPECT_THAT(single.status().details(), ElementsAre(Detail("", message)));

  // In a batch it is one invalid event among others.
  boost::json::object batch{{"events", boost::json::array{MinimalEvent(), e}}};
  Result<DecodedBatch> r = d.Decode(batch);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().error_code(), "invalid_event");
  EXPECT_EQ(r.status().message(), "1 of 2 events are invalid");
  EXPECT_THAT(r.status().details(), ElementsAre(Detail("/events/1", message)));
}

TEST(DecodeEvent, DefaultEventSizeLimitIsOneMebibyte) {
  Decoder d;
  boost::json::object e = MinimalEvent();
  e["changes"] =
      boost::json::object{{"op", "create"}, {"after", boost::json::object{{"blob", ""}}}};
  const size_t base = ClientCanonical(d.One(e)).size();
  const size_t limit = size_t{1} << 20;
  e["changes"].as_object()["after"].as_object()["blob"] = std::string(limit - base, 'x');
  EXPECT_EQ(ClientCanonical(d.One(e)).size(), limit);
  e["changes"].as_object()["after"].as_object()["blob"] = std::string(limit - base + 1, 'x');
  Result<DecodedBatch> r = d.Decode(e);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kTooLarge);
}

// ---- depth -----------------------------------------------------------------------------

TEST(DecodeEvent, NestingDepth) {
  Decoder d;
  d.limits.max_depth = 5;
  // event(1) > changes(2) > after(3) > a(4) > b(5) > c(6); scalars do not count.
  d.One(WithChanges(R"({"op": "create", "after": {"a": {"b": {"c": 1}}}})"));
  const char* too_deep = R"({"op": "create", "after": {"a": {"b": {"c": {}}}}})";
  EXPECT_THAT(d.Problems(WithChanges(too_deep)),
              ElementsAre(Detail("/changes/after/a/b/c", "nesting is deeper than 5 levels")));
  // In a batch the event's own depth counts, not the wrapper's.
  const char* ok_depth = R"({"op": "create", "after": {"a": {"b": {}}}})";
  EXPECT_TRUE(
      d.Decode(boost::json::object{{"events", boost::json::array{WithChanges(ok_depth)}}}).ok());
  EXPECT_TRUE(d.Decode(boost::json::array{WithChanges(ok_depth)}).ok());
  Result<DecodedBatch> bare = d.Decode(boost::json::array{WithChanges(too_deep)});
  ASSERT_FALSE(bare.ok());
  EXPECT_THAT(bare.status().details(),
              ElementsAre(Detail("/0/changes/after/a/b/c", "nesting is deeper than 5 levels")));
  Result<DecodedBatch> wrapped =
      d.Decode(boost::json::object{{"events", boost::json::array{WithChanges(too_deep)}}});
  ASSERT_FALSE(wrapped.ok());
  EXPECT_EQ(wrapped.status().error_code(), "invalid_json");
  EXPECT_THAT(wrapped.status().details(), ElementsAre(Detail("/events/0/changes/after/a/b/c",
                                                             HasSubstr("deeper than 5 levels"))));
  // Far deeper than the limit: still named by the event limit.
  std::string very_deep = Json(MinimalEvent());
  very_deep.pop_back();
  very_deep += ",\"metadata\":" + std::string(20, '[') + std::string(20, ']') + "}";
  Result<DecodedBatch> deep = d.Decode(very_deep);
  ASSERT_FALSE(deep.ok());
  EXPECT_THAT(deep.status().message(), HasSubstr("deeper than 5 levels"));
  // In NDJSON the line parser enforces it, with the same path.
  Result<DecodedBatch> r = d.Decode(Json(WithChanges(too_deep)) + "\n", BodyFormat::kNdjson);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_THAT(r.status().details(),
              ElementsAre(Detail("/0/changes/after/a/b/c", HasSubstr("deeper than 5"))));
}

// ---- body forms ------------------------------------------------------------------------

boost::json::object BadActorEvent() {
  boost::json::object e = MinimalEvent();
  e["actor"].as_object()["id"] = 7;
  return e;
}

TEST(DecodeEventsBody, BatchForms) {
  Decoder d;
  const boost::json::array events{MinimalEvent(), ValidEvent(), MinimalEvent()};
  Result<DecodedBatch> wrapped = d.Decode(boost::json::object{{"events", events}});
  ASSERT_TRUE(wrapped.ok()) << wrapped.status().ToString();
  EXPECT_FALSE(wrapped->single);
  ASSERT_THAT(wrapped->drafts, SizeIs(3));
  EXPECT_EQ(wrapped->drafts[1].fields.action, "finding.updated");

  Result<DecodedBatch> bare = d.Decode(events);
  ASSERT_TRUE(bare.ok());
  EXPECT_FALSE(bare->single);
  EXPECT_THAT(bare->drafts, SizeIs(3));

  std::string ndjson;
  for (const auto& e : events) ndjson += Json(e) + "\n";
  Result<DecodedBatch> lines = d.Decode(ndjson, BodyFormat::kNdjson);
  ASSERT_TRUE(lines.ok());
  EXPECT_FALSE(lines->single);
  ASSERT_THAT(lines->drafts, SizeIs(3));
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(lines->drafts[i].members, wrapped->drafts[i].members);
    EXPECT_EQ(bare->drafts[i].content_hash, wrapped->drafts[i].content_hash);
  }
}

TEST(DecodeEventsBody, BatchErrorPaths) {
  Decoder d;
  const boost::json::array events{MinimalEvent(), BadActorEvent(), MinimalEvent(), BadActorEvent()};
  Result<DecodedBatch> wrapped = d.Decode(boost::json::object{{"events", events}});
  ASSERT_FALSE(wrapped.ok());
  EXPECT_EQ(wrapped.status().error_code(), "invalid_event");
  EXPECT_EQ(wrapped.status().message(), "2 of 4 events are invalid");
  EXPECT_THAT(wrapped.status().details(),
              ElementsAre(Detail("/events/1/actor/id", HasSubstr("non-empty string")),
                          Detail("/events/3/actor/id", HasSubstr("non-empty string"))));

  Result<DecodedBatch> bare = d.Decode(events);
  ASSERT_FALSE(bare.ok());
  EXPECT_THAT(bare.status().details(), ElementsAre(Detail("/1/actor/id", HasSubstr("non-empty")),
                                                   Detail("/3/actor/id", HasSubstr("non-empty"))));

  std::string ndjson;
  for (const auto& e : events) ndjson += Json(e) + "\r\n\r\n";  // blank lines do not count
  Result<DecodedBatch> lines = d.Decode(ndjson, BodyFormat::kNdjson);
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.status().error_code(), "invalid_event");
  EXPECT_THAT(lines.status().details(), ElementsAre(Detail("/1/actor/id", HasSubstr("non-empty")),
                                                    Detail("/3/actor/id", HasSubstr("non-empty"))));
}

TEST(DecodeEventsBody, BatchElementsMustBeObjects) {
  Decoder d;
  Result<DecodedBatch> r =
      d.Decode(boost::json::object{{"events", boost::json::array{MinimalEvent(), 1, "x"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().details(),
              ElementsAre(Detail("/events/1", HasSubstr("must be a JSON object")),
                          Detail("/events/2", HasSubstr("must be a JSON object"))));
  Result<DecodedBatch> lines =
      d.Decode(Json(MinimalEvent()) + "\n[1]\n\"x\"\n", BodyFormat::kNdjson);
  ASSERT_FALSE(lines.ok());
  EXPECT_EQ(lines.status().message(), "2 of 3 events are invalid");
  EXPECT_THAT(lines.status().details(),
              ElementsAre(Detail("/1", HasSubstr("must be a JSON object")),
                          Detail("/2", HasSubstr("must be a JSON object"))));
}

TEST(DecodeEventsBody, BatchObjectShape) {
  Decoder d;
  Result<DecodedBatch> extra =
      d.Decode(boost::json::object{{"events", boost::json::array{MinimalEvent()}}, {"meta", 1}});
  ASSERT_FALSE(extra.ok());
  EXPECT_EQ(extra.status().error_code(), "invalid_request");
  EXPECT_THAT(extra.status().details(), ElementsAre(Detail("/meta", HasSubstr("unknown field"))));

  Result<DecodedBatch> not_array = d.Decode(boost::json::object{{"events", MinimalEvent()}});
  ASSERT_FALSE(not_array.ok());
  EXPECT_EQ(not_array.status().error_code(), "invalid_request");
  EXPECT_THAT(not_array.status().details(), ElementsAre(Detail("/events", HasSubstr("array"))));

  for (const char* body : {"1", "\"event\"", "null", "true"}) {
    Result<DecodedBatch> r = d.Decode(std::string_view(body));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().error_code(), "invalid_request") << body;
  }
}

TEST(DecodeEventsBody, EmptyBodiesAndBatches) {
  Decoder d;
  for (const auto& [body, format] :
       std::vector<std::pair<std::string, BodyFormat>>{{"", BodyFormat::kJson},
                                                       {" \r\n\t", BodyFormat::kJson},
                                                       {"[]", BodyFormat::kJson},
                                                       {"{\"events\": []}", BodyFormat::kJson},
                                                       {"", BodyFormat::kNdjson},
                                                       {"\n\n \r\n", BodyFormat::kNdjson}}) {
    Result<DecodedBatch> r = d.Decode(body, format);
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(r.status().error_code(), "empty_batch") << body;
  }
}

TEST(DecodeEventsBody, BatchSizeLimit) {
  for (const size_t limit : {size_t{3}, size_t{1000}}) {
    Decoder d;
    d.request_limits.max_batch_events = limit;
    const auto events = [](size_t n) {
      boost::json::array a;
      for (size_t i = 0; i < n; ++i) a.push_back(MinimalEvent());
      return a;
    };
    const auto ndjson = [](size_t n) {
      std::string s;
      const std::string line = Json(MinimalEvent());
      for (size_t i = 0; i < n; ++i) s += line + "\n";
      return s;
    };
    for (const size_t n : {limit - 1, limit}) {
      Result<DecodedBatch> a = d.Decode(events(n));
      ASSERT_TRUE(a.ok()) << a.status().ToString();
      EXPECT_THAT(a->drafts, SizeIs(n));
      EXPECT_TRUE(d.Decode(boost::json::object{{"events", events(n)}}).ok());
      EXPECT_TRUE(d.Decode(ndjson(n), BodyFormat::kNdjson).ok());
    }
    const std::string message = "the batch has " + std::to_string(limit + 1) +
                                " events; the limit is " + std::to_string(limit) + " per request";
    for (const Result<DecodedBatch>& r :
         {d.Decode(events(limit + 1)), d.Decode(boost::json::object{{"events", events(limit + 1)}}),
          d.Decode(ndjson(limit + 1), BodyFormat::kNdjson)}) {
      ASSERT_FALSE(r.ok());
      EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
      EXPECT_EQ(r.status().error_code(), "too_many_events");
      EXPECT_EQ(r.status().message(), message);
    }
  }
}

TEST(DecodeEventsBody, RequestSizeLimit) {
  Decoder d;
  const std::string body = Json(MinimalEvent());
  d.request_limits.max_request_bytes = body.size();
  EXPECT_TRUE(d.Decode(body).ok());
  d.request_limits.max_request_bytes = body.size() - 1;
  for (const BodyFormat format : {BodyFormat::kJson, BodyFormat::kNdjson}) {
    Result<DecodedBatch> r = d.Decode(body, format);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kTooLarge);
    EXPECT_EQ(r.status().error_code(), "request_too_large");
  }
}

TEST(DecodeEventsBody, NdjsonLineEndingsAndSingleLine) {
  Decoder d;
  const std::string line = Json(MinimalEvent());
  for (const std::string& body :
       {line, line + "\n", line + "\r\n", "\n\n" + line + "\n\n", "  " + line + "  \r\n"}) {
    Result<DecodedBatch> r = d.Decode(body, BodyFormat::kNdjson);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->single);
    EXPECT_THAT(r->drafts, SizeIs(1));
  }
}

TEST(DecodeEventsBody, NdjsonInvalidJsonLines) {
  Decoder d;
  const std::string good = Json(MinimalEvent());
  const std::string body = good + "\n\n{\"action\": }\n" + good + "\n{\"a\": 1, \"a\": 2}\n";
  Result<DecodedBatch> r = d.Decode(body, BodyFormat::kNdjson);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_EQ(r.status().message(), "2 of 4 lines are not valid JSON");
  EXPECT_THAT(r.status().details(),
              ElementsAre(Detail("/1/action", HasSubstr("line 3, column 12")),
                          Detail("/3/a", AllOf(HasSubstr("duplicate key"), HasSubstr("line 5")))));
}

TEST(DecodeEventsBody, JsonSyntaxErrors) {
  Decoder d;
  Result<DecodedBatch> r =
      d.Decode(std::string_view("{\n  \"action\": \"a\",\n  \"actor\": {\"id\": 1,}\n}"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_THAT(r.status().message(), HasSubstr("line 3"));
  EXPECT_THAT(r.status().details(), ElementsAre(Field(&ErrorDetail::path, "/actor")));
}

TEST(DecodeEventsBody, StrictJsonProblemsHavePaths) {
  Decoder d;
  std::string body = Json(MinimalEvent());
  // Invalid UTF-8 inside the actor's id.
  const size_t at = body.find("\"u\"");
  ASSERT_NE(at, std::string::npos);
  std::string bad_utf8 = body;
  bad_utf8.replace(at, 3, "\"\xc3\x28\"");
  Result<DecodedBatch> r = d.Decode(bad_utf8);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_THAT(r.status().details(), ElementsAre(Detail("/actor/id", HasSubstr("invalid UTF-8"))));

  r = d.Decode(std::string_view(
      R"({"organization_id": "o", "action": "a", "action": "b", "occurred_at": "2025-11-29T02:03:04Z"})"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().details(), ElementsAre(Detail("/action", HasSubstr("duplicate key"))));

  r = d.Decode(std::string_view(R"({"events": [{"metadata": {"n": 9007199254740993}}]})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_THAT(
      r.status().details(),
      ElementsAre(Detail("/events/0/metadata/n", HasSubstr("cannot be represented exactly"))));
}

TEST(DecodeEventsBody, EveryProblemOfEveryEventIsReported) {
  Decoder d;
  boost::json::object a = MinimalEvent();
  a["action"] = "Bad";
  a["metadata"] = boost::json::object{{"k", nullptr}};
  boost::json::object b = MinimalEvent();
  b["targets"] = boost::json::array();
  b["seq"] = 1;
  Result<DecodedBatch> r = d.Decode(boost::json::array{a, MinimalEvent(), b});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "2 of 3 events are invalid");
  EXPECT_THAT(r.status().details(),
              ElementsAre(Detail("/0/action", HasSubstr("may only contain")),
                          Detail("/0/metadata/k", HasSubstr("strings, numbers or booleans")),
                          Detail("/2/seq", HasSubstr("unknown field")),
                          Detail("/2/targets", HasSubstr("at least one"))));
}

TEST(DecodeEventsBody, SingleEventOfABatchIsNotSingle) {
  Decoder d;
  Result<DecodedBatch> r = d.Decode(boost::json::array{BadActorEvent()});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "1 of 1 event is invalid");
}

// ---- content hash and ComputeContentHash -----------------------------------------------

TEST(DecodeEventsBody, BatchEventsAreHashedOnlyWithAnIdempotencyKey) {
  Decoder d;
  boost::json::object keyed = ValidEvent();
  keyed["idempotency_key"] = "key-7";
  const boost::json::array events{ValidEvent(), keyed};
  for (const std::string& body :
       {Json(boost::json::object{{"events", events}}), Json(events),
        Json(events[0]) + "\n" + Json(events[1]) + "\n"}) {
    Result<DecodedBatch> r =
        d.Decode(body, body.back() == '\n' ? BodyFormat::kNdjson : BodyFormat::kJson);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_THAT(r->drafts, SizeIs(2));
    EXPECT_EQ(r->drafts[0].content_hash, "");
    EXPECT_EQ(r->drafts[1].content_hash, Sha256(ClientCanonical(r->drafts[1])));

    // A draft given a key later gets the same hash a lone event or a keyed one has.
    EventDraft later = r->drafts[0];
    later.idempotency_key = "from-header";
    ComputeContentHash(&later);
    EXPECT_EQ(later.content_hash, d.One(ValidEvent()).content_hash);
    EXPECT_EQ(later.content_hash, r->drafts[1].content_hash);
  }
}

TEST(DecodeEvent, ComputeContentHashMatchesTheDecoder) {
  Decoder d;
  for (const boost::json::object& e : {ValidEvent(), MinimalEvent()}) {
    EventDraft draft = d.One(e);
    const std::string hash = draft.content_hash;
    ASSERT_EQ(hash.size(), 32u);
    draft.content_hash.clear();
    ComputeContentHash(&draft);
    EXPECT_EQ(draft.content_hash, hash);
  }
  // The direct call still hashes.
  std::vector<ErrorDetail> errors;
  auto direct = DecodeEvent(ValidEvent(), d.limits, d.ctx, "", &errors);
  ASSERT_TRUE(direct.has_value());
  EXPECT_EQ(direct->content_hash, d.One(ValidEvent()).content_hash);
}

// ---- batches read event by event, and what falls back to the whole-body path -----------

TEST(DecodeEventsBody, BatchShapesOutsideTheStreamingPath) {
  Decoder d;
  const std::string e = Json(MinimalEvent());
  // Pretty-printed and compact batches give the same drafts.
  Result<DecodedBatch> compact = d.Decode("{\"events\":[" + e + "," + e + "]}");
  Result<DecodedBatch> spaced = d.Decode(" \n{ \"events\" :\t[ " + e + " ,\r\n " + e + " ] }\n");
  ASSERT_TRUE(compact.ok()) << compact.status().ToString();
  ASSERT_TRUE(spaced.ok()) << spaced.status().ToString();
  ASSERT_THAT(spaced->drafts, SizeIs(2));
  EXPECT_EQ(spaced->drafts[1].members, compact->drafts[1].members);
  // "events" written with an escape is still the batch member.
  Result<DecodedBatch> escaped = d.Decode("{\"\\u0065vents\":[" + e + "]}");
  ASSERT_TRUE(escaped.ok()) << escaped.status().ToString();
  EXPECT_FALSE(escaped->single);
  // Other members, before or after "events", make it an invalid request.
  for (const std::string& body : {"{\"events\":[" + e + "],\"x\":1}", "{\"x\":1,\"events\":[" + e + "]}"}) {
    Result<DecodedBatch> r = d.Decode(body);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().error_code(), "invalid_request");
    EXPECT_THAT(r.status().details(), ElementsAre(Detail("/x", HasSubstr("unknown field"))));
  }
  // Bad JSON after good events wins over everything the events had to say.
  Result<DecodedBatch> late = d.Decode("[" + Json(BadActorEvent()) + "," + e + ",{\"a\":1,\"a\":2}]");
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().error_code(), "invalid_json");
  EXPECT_THAT(late.status().details(), ElementsAre(Detail("/2/a", HasSubstr("duplicate key"))));
  Result<DecodedBatch> trailing = d.Decode("{\"events\":[" + e + "]} x");
  ASSERT_FALSE(trailing.ok());
  EXPECT_EQ(trailing.status().error_code(), "invalid_json");
  // Too many events is only reported for a body that is JSON.
  Decoder small = d;
  small.request_limits.max_batch_events = 2;
  Result<DecodedBatch> many = small.Decode("[" + e + "," + e + "," + e + "]");
  ASSERT_FALSE(many.ok());
  EXPECT_EQ(many.status().error_code(), "too_many_events");
  Result<DecodedBatch> many_bad = small.Decode("[" + e + "," + e + "," + e + ",]");
  ASSERT_FALSE(many_bad.ok());
  EXPECT_EQ(many_bad.status().error_code(), "invalid_json");
  // Empty batches, with and without whitespace.
  for (const char* body : {"[]", "{\"events\":[]}", " [ ] ", "{ \"events\" : [\n] }"}) {
    Result<DecodedBatch> r = d.Decode(std::string_view(body));
    ASSERT_FALSE(r.ok()) << body;
    EXPECT_EQ(r.status().error_code(), "empty_batch") << body;
  }
  // Invalid events are reported in order with their batch paths.
  Result<DecodedBatch> mixed = d.Decode("[" + e + "," + Json(BadActorEvent()) + "," + e + "," +
                                        Json(BadActorEvent()) + "]");
  ASSERT_FALSE(mixed.ok());
  EXPECT_EQ(mixed.status().message(), "2 of 4 events are invalid");
  EXPECT_THAT(mixed.status().details(),
              ElementsAre(Detail("/1/actor/id", HasSubstr("non-empty string")),
                          Detail("/3/actor/id", HasSubstr("non-empty string"))));
}

TEST(DecodeEventsBody, StringsWithEscapesAcrossEvents) {
  Decoder d;
  // Escaped strings of one event must not be overwritten by the next event's.
  boost::json::object a = MinimalEvent();
  a["metadata"] = boost::json::object{{"note", "line\nbreak \"quoted\" \xC3\xA9"}};
  boost::json::object b = MinimalEvent();
  b["metadata"] = boost::json::object{{"note", "tab\there \\ back"}};
  const std::string body = "[" + Json(a) + "," + Json(b) + "]";
  Result<DecodedBatch> r = d.Decode(body);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_THAT(r->drafts, SizeIs(2));
  EXPECT_EQ(MemberValue(r->drafts[0], "metadata"),
            R"({"note":"line\nbreak \"quoted\" )" "\xC3\xA9" R"("})");
  EXPECT_EQ(MemberValue(r->drafts[1], "metadata"), R"({"note":"tab\there \\ back"})");
  // \u escapes, including a surrogate pair and an escaped slash, come out as UTF-8.
  std::string e = Json(MinimalEvent());
  e.pop_back();
  e += R"(,"metadata":{"u":"\u00e9\ud83d\ude00\/\u0001"}})";
  Result<DecodedBatch> u = d.Decode("[" + e + "]");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_EQ(MemberValue(u->drafts[0], "metadata"),
            "{\"u\":\"\xC3\xA9\xF0\x9F\x98\x80/\\u0001\"}");
}

}  // namespace
}  // namespace annals
