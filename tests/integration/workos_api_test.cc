// The WorkOS-compatible API end to end against the real binary: events, action schemas
// (and their enforcement on both ingest paths), organization retention, portal links, and
// WorkOS' response shapes on every answer of those paths.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <thread>

#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

// No [orgs] auto_create: unknown organizations are refused.
const std::map<std::string, std::string> kStrictEnv = {{"ANNALS_ADMIN_KEY", kAdminKey}};

json::value Parse(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  EXPECT_FALSE(ec) << body;
  return ec ? json::value() : v;
}

std::string Str(const json::value& v, const char* key) {
  const json::object* o = v.if_object();
  const json::value* x = o != nullptr ? o->if_contains(key) : nullptr;
  return x != nullptr && x->is_string() ? std::string(x->as_string()) : "";
}

// A WorkOS event as the official Node SDK 7.82 sends it.
std::string WorkosEvent(const std::string& action = "doc.viewed", const std::string& extra = "",
                        const std::string& targets = R"([{"id":"d1","type":"doc"}])") {
  std::string e = R"({"action":")" + action +
                  R"(","occurred_at":"2026-01-02T03:04:05.678Z","actor":{"id":"u1","type":"user","name":"Ada","metadata":{"role":"admin"}},"targets":)" +
                  targets + R"(,"context":{"location":"203.0.113.7","user_agent":"Firefox"})";
  if (!extra.empty()) e += "," + extra;
  return e + "}";
}

std::string Body(const std::string& org, const std::string& event) {
  return R"({"organization_id":")" + org + R"(","event":)" + event + "}";
}

class WorkosApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(); }

  void Start(std::map<std::string, std::string> extra_env = {}) {
    std::map<std::string, std::string> env = kStrictEnv;
    env.insert(extra_env.begin(), extra_env.end());
    ASSERT_TRUE(server_.Start(dir_.path(), {}, env)) << server_.StderrText();
  }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& key = kAdminKey,
                      const HttpClient::Headers& headers = {},
                      const std::string& content_type = "application/json") {
    HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : content_type, headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClientResponse{};
  }

  // Every answer on a WorkOS path: JSON, and errors in WorkOS' shape (never {"error": ...}).
  json::value Workos(const ClientResponse& r) {
    EXPECT_EQ(r.Header("content-type"), "application/json") << r.status << " " << r.body;
    json::value v = Parse(r.body);
    EXPECT_TRUE(v.is_object()) << r.body;
    if (!v.is_object()) return v;
    EXPECT_FALSE(v.as_object().contains("error")) << r.body;
    if (r.status >= 400) {
      EXPECT_FALSE(Str(v, "message").empty()) << r.body;
      EXPECT_FALSE(Str(v, "code").empty()) << r.body;
    }
    return v;
  }

  // The first entry of "errors" of a WorkOS error answer.
  json::object FirstError(const ClientResponse& r) {
    json::value v = Workos(r);
    const json::value* errors = v.is_object() ? v.as_object().if_contains("errors") : nullptr;
    if (errors == nullptr || !errors->is_array() || errors->as_array().empty()) {
      ADD_FAILURE() << "no errors in " << r.body;
      return {};
    }
    return errors->as_array().front().as_object();
  }

  void CreateOrg(const std::string& id) {
    auto r = Call("POST", "/v1/orgs", R"({"id":")" + id + R"(","name":"Org )" + id + R"("})");
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::string CreateKey(const std::string& body) {
    auto r = Call("POST", "/v1/api-keys", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return Str(Parse(r.body), "key");
  }

  std::vector<json::value> Events(const std::string& org, const std::string& query = "") {
    auto r = Call("GET", "/v1/events?limit=1000&order=asc&organization_id=" + org + query);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json::value> out;
    if (r.status != 200) return out;
    const json::value page = Parse(r.body);
    for (const auto& e : page.at("data").as_array()) out.push_back(e);
    return out;
  }

  ClientResponse PostEvent(const std::string& body, const std::string& key = kAdminKey,
                           const HttpClient::Headers& headers = {}) {
    return Call("POST", "/audit_logs/events", body, key, headers);
  }

  // A schema for "doc.updated": targets of type doc (metadata cost: number), root metadata
  // reason (string, required).
  static constexpr const char* kDocSchema =
      R"({"actor":{"metadata":{"type":"object","properties":{}}},)"
      R"("targets":[{"type":"doc","metadata":{"type":"object","properties":{"cost":{"type":"number"}}}}],)"
      R"("metadata":{"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]}})";

  TempDir dir_;
  ServerProcess server_;
};

TEST_F(WorkosApiTest, CreateEventStoresTheEventAndAnswersSuccess) {
  CreateOrg("org_a");
  auto r = PostEvent(Body("org_a", WorkosEvent("doc.viewed", R"("version":1,"metadata":{"x":true})")),
                     kAdminKey, {{"Idempotency-Key", "workos-node-1"}});
  ASSERT_EQ(r.status, 201) << r.body;
  json::value ok = Workos(r);
  EXPECT_EQ(ok, json::parse(R"({"success":true})"));

  auto events = Events("org_a");
  ASSERT_EQ(events.size(), 1u);
  const json::value& e = events[0];
  EXPECT_EQ(Str(e, "action"), "doc.viewed");
  EXPECT_EQ(Str(e, "organization_id"), "org_a");
  EXPECT_EQ(Str(e, "occurred_at"), "2026-01-02T03:04:05.678000Z");
  EXPECT_EQ(e.at("version").as_int64(), 1);
  EXPECT_EQ(Str(e.at("context"), "location"), "203.0.113.7");
  EXPECT_EQ(e.at("actor").at("metadata").at("role").as_string(), "admin");
  EXPECT_EQ(e.at("source"), json::parse(R"({"interface":"workos","kind":"api"})"));
  EXPECT_EQ(e.at("seq").as_int64(), 1);
  // The idempotency key is not part of the stored event.
  EXPECT_EQ(Call("GET", "/v1/events/" + Str(e, "id")).body.find("workos-node-1"),
            std::string::npos);

  // An organization key writes to its own organization.
  const std::string writer =
      CreateKey(R"({"name":"w","organization_id":"org_a","scopes":["events:write"]})");
  r = PostEvent(Body("org_a", WorkosEvent()), writer);
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Events("org_a", "&action=doc.viewed").size(), 2u);
}

TEST_F(WorkosApiTest, InvalidEventsNameTheirPathRelativeToTheEvent) {
  CreateOrg("org_a");
  struct Case {
    std::string event;
    std::string instance_path;
  };
  std::string big_metadata = R"("metadata":{)";
  for (int i = 0; i < 51; ++i) big_metadata += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":1";
  big_metadata += "}";
  const std::vector<Case> cases = {
      {R"({"action":"doc.viewed","occurred_at":"2026-01-02T03:04:05.678Z","actor":{"id":"u1","type":"user"},"targets":[{"id":"d1","type":"doc"}]})",
       "/context/location"},
      {R"({"action":"doc.viewed","occurred_at":"2026-01-02T03:04:05.678Z","actor":{"id":"u1","type":"user"},"targets":[{"id":"d1","type":"doc"}],"context":{"user_agent":"x"}})",
       "/context/location"},
      {WorkosEvent("doc.viewed", "", R"([{"type":"doc"}])"), "/targets/0/id"},
      {WorkosEvent("doc.viewed", "", "[]"), "/targets"},
      {WorkosEvent("Doc Viewed"), "/action"},
      {WorkosEvent("annals.schema.created"), "/action"},
      {WorkosEvent("doc.viewed", big_metadata), "/metadata"},
      {WorkosEvent("doc.viewed", R"("metadata":{"note":")" + std::string(501, 'x') + R"("})"),
       "/metadata/note"},
      {WorkosEvent("doc.viewed", R"("metadata":{"nested":{"a":1}})"), "/metadata/nested"},
      {WorkosEvent("doc.viewed", R"("version":0)"), "/version"},
      {WorkosEvent("doc.viewed", R"("colour":"red")"), "/colour"},
      {WorkosEvent("doc.viewed", R"("organization_id":"org_a")"), "/organization_id"},
      {WorkosEvent("doc.viewed", R"("idempotency_key":"k1")"), "/idempotency_key"},
      {R"({"action":"doc.viewed","occurred_at":"2026-01-02 03:04","actor":{"id":"u1","type":"user"},"targets":[{"id":"d1","type":"doc"}],"context":{"location":"1.2.3.4"}})",
       "/occurred_at"},
      {R"({"action":"doc.viewed","occurred_at":"2099-01-02T03:04:05.678Z","actor":{"id":"u1","type":"user"},"targets":[{"id":"d1","type":"doc"}],"context":{"location":"1.2.3.4"}})",
       "/occurred_at"},
  };
  for (const Case& c : cases) {
    auto r = PostEvent(Body("org_a", c.event));
    EXPECT_EQ(r.status, 400) << c.event << " -> " << r.body;
    json::value v = Workos(r);
    EXPECT_EQ(Str(v, "code"), "invalid_audit_log_event") << r.body;
    EXPECT_EQ(Str(v, "message").rfind("Invalid Audit Log event: ", 0), 0u) << r.body;
    json::object first = FirstError(r);
    EXPECT_EQ(first["instancePath"], json::value(c.instance_path)) << r.body;
    EXPECT_TRUE(first["code"].is_string()) << r.body;
    EXPECT_TRUE(first["field"].is_string()) << r.body;
  }
  // Request-level problems are WorkOS' 422 (field names, sentences as codes), malformed JSON
  // a 400.
  const std::vector<std::pair<std::string, std::string>> requests = {
      {R"({"event":)" + WorkosEvent() + "}", "organization_id"},
      {R"({"organization_id":"org_a"})", "event"},
      {R"({"organization_id":"org_a","event":[]})", "event"},
      {R"({"organization_id":7,"event":{}})", "organization_id"},
      {Body("org_a", WorkosEvent()).insert(1, R"("extra":1,)"), "extra"},
      {"[]", ""},
  };
  for (const auto& [body, field] : requests) {
    auto r = PostEvent(body);
    EXPECT_EQ(r.status, 422) << body << " -> " << r.body;
    json::value v = Workos(r);
    EXPECT_EQ(Str(v, "code"), "invalid_request") << r.body;
    EXPECT_EQ(FirstError(r)["field"], json::value(field)) << r.body;
  }
  for (const char* bad : {"{", R"({"organization_id":"a","organization_id":"b","event":{}})"}) {
    auto r = PostEvent(bad);
    EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
    EXPECT_EQ(Str(Workos(r), "code"), "invalid_json") << r.body;
  }
  auto r = Call("POST", "/audit_logs/events", Body("org_a", WorkosEvent()), kAdminKey, {},
                "text/plain");
  EXPECT_EQ(r.status, 415) << r.body;
  Workos(r);
  EXPECT_TRUE(Events("org_a").empty());
}

TEST_F(WorkosApiTest, IdempotencyKeysReplayAndConflict) {
  CreateOrg("org_a");
  const std::string body = Body("org_a", WorkosEvent());
  const HttpClient::Headers key = {{"Idempotency-Key", "workos-node-0b5e"}};
  ASSERT_EQ(PostEvent(body, kAdminKey, key).status, 201);
  auto again = PostEvent(body, kAdminKey, key);
  EXPECT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(Workos(again), json::parse(R"({"success":true})"));
  EXPECT_EQ(Events("org_a").size(), 1u);
  // The same content with its members in another order is the same content.
  std::string reordered = R"({"event":)" + WorkosEvent() + R"(,"organization_id":"org_a"})";
  EXPECT_EQ(PostEvent(reordered, kAdminKey, key).status, 201);
  EXPECT_EQ(Events("org_a").size(), 1u);

  auto conflict = PostEvent(Body("org_a", WorkosEvent("doc.deleted")), kAdminKey, key);
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  EXPECT_EQ(Str(Workos(conflict), "code"), "idempotency_conflict");
  EXPECT_EQ(Events("org_a").size(), 1u);

  // The native API shares the keys of the organization.
  auto native = Call("POST", "/v1/events",
                     EventJson("org_a", "doc.deleted", "2026-01-02T03:04:05Z", "u1", {{"doc", "d1"}}),
                     kAdminKey, key);
  EXPECT_EQ(native.status, 409) << native.body;

  // Without a key every request stores an event.
  EXPECT_EQ(PostEvent(body).status, 201);
  EXPECT_EQ(PostEvent(body).status, 201);
  EXPECT_EQ(Events("org_a").size(), 3u);

  auto bad = PostEvent(body, kAdminKey, {{"Idempotency-Key", std::string(257, 'k')}});
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(FirstError(bad)["field"], json::value("idempotency-key"));
}

TEST_F(WorkosApiTest, OrganizationsKeysAndScopes) {
  CreateOrg("org_a");
  CreateOrg("org_b");
  auto r = PostEvent(Body("org_nope", WorkosEvent()));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Str(Workos(r), "message"), "Organization not found: 'org_nope'.");

  // Another organization's key: exactly what a missing organization looks like.
  const std::string b_key = CreateKey(
      R"({"name":"b","organization_id":"org_b","scopes":["events:write","events:read","admin"]})");
  r = PostEvent(Body("org_a", WorkosEvent()), b_key);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Str(Workos(r), "message"), "Organization not found: 'org_a'.");
  EXPECT_TRUE(Events("org_a").empty());

  // The reserved organization takes no client events.
  r = PostEvent(Body("annals", WorkosEvent()));
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(FirstError(r)["field"], json::value("organization_id"));

  // Keys and scopes, in WorkOS' shapes.
  const std::string reader =
      CreateKey(R"({"name":"r","organization_id":"org_a","scopes":["events:read"]})");
  r = PostEvent(Body("org_a", WorkosEvent()), reader);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Str(Workos(r), "code"), "insufficient_scope");
  for (const std::string& key : {std::string(""), std::string("annals_nope")}) {
    r = PostEvent(Body("org_a", WorkosEvent()), key);
    EXPECT_EQ(r.status, 401) << r.body;
    EXPECT_EQ(Str(Workos(r), "code"), "unauthorized");
  }
  r = Call("GET", "/audit_logs/nothing-here");
  EXPECT_EQ(r.status, 404) << r.body;
  Workos(r);
  r = Call("DELETE", "/audit_logs/events");
  EXPECT_EQ(r.status, 405) << r.body;
  EXPECT_EQ(r.Header("allow"), "POST");
  Workos(r);
  // The native API keeps its own shape.
  r = Call("GET", "/v1/nothing-here");
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(Parse(r.body).as_object().contains("error")) << r.body;
}

TEST_F(WorkosApiTest, AutoCreatedOrganizationsFollowTheServerSetting) {
  server_.Stop();
  Start({{"ANNALS_ORGS_AUTO_CREATE", "true"}});
  auto r = PostEvent(Body("org_new", WorkosEvent()));
  EXPECT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Events("org_new").size(), 1u);
  r = PostEvent(Body("bad org id!", WorkosEvent()));
  EXPECT_EQ(r.status, 422) << r.body;
}

TEST_F(WorkosApiTest, ActionSchemasAreVersionedListedAndAudited) {
  auto r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema);
  ASSERT_EQ(r.status, 201) << r.body;
  json::value s1 = Workos(r);
  EXPECT_EQ(Str(s1, "object"), "audit_log_schema");
  EXPECT_EQ(s1.at("version").as_int64(), 1);
  EXPECT_EQ(s1.at("targets"),
            json::parse(R"([{"type":"doc","metadata":{"type":"object","properties":{"cost":{"type":"number"}}}}])"));
  EXPECT_EQ(s1.at("actor"), json::parse(R"({"metadata":{"type":"object","properties":{}}})"));
  EXPECT_EQ(s1.at("metadata"),
            json::parse(R"({"type":"object","properties":{"reason":{"type":"string"}},"required":["reason"]})"));
  EXPECT_EQ(Str(s1, "created_at").size(), 24u);  // 2026-11-29T02:03:04.123Z

  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", R"({"targets":[{"type":"file"}]})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Workos(r).at("version").as_int64(), 2);
  ASSERT_EQ(Call("POST", "/audit_logs/actions/user.signed_in/schemas",
                 R"({"targets":[{"type":"user"}]})").status, 201);

  // Lists: newest first by default, WorkOS' list shape.
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value list = Workos(r);
  EXPECT_EQ(Str(list, "object"), "list");
  ASSERT_EQ(list.at("data").as_array().size(), 2u);
  EXPECT_EQ(list.at("data").at(0).at("version").as_int64(), 2);
  EXPECT_EQ(list.at("data").at(1).at("version").as_int64(), 1);
  EXPECT_EQ(list.at("list_metadata"), json::parse(R"({"before":null,"after":null})"));
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas?order=asc");
  EXPECT_EQ(Workos(r).at("data").at(0).at("version").as_int64(), 1);
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas?order=normal");
  EXPECT_EQ(Workos(r).at("data").at(0).at("version").as_int64(), 2);
  // Paging one at a time, forward with after and back with before.
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas?limit=1");
  json::value page1 = Workos(r);
  ASSERT_EQ(page1.at("data").as_array().size(), 1u);
  EXPECT_EQ(page1.at("data").at(0).at("version").as_int64(), 2);
  EXPECT_TRUE(page1.at("list_metadata").at("before").is_null());
  const std::string after = Str(page1.at("list_metadata"), "after");
  ASSERT_FALSE(after.empty());
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas?limit=1&after=" + after);
  json::value page2 = Workos(r);
  ASSERT_EQ(page2.at("data").as_array().size(), 1u);
  EXPECT_EQ(page2.at("data").at(0).at("version").as_int64(), 1);
  EXPECT_TRUE(page2.at("list_metadata").at("after").is_null());
  const std::string before = Str(page2.at("list_metadata"), "before");
  ASSERT_FALSE(before.empty());
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas?limit=1&before=" + before);
  EXPECT_EQ(Workos(r).at("data").at(0).at("version").as_int64(), 2);
  for (const char* q : {"limit=0", "limit=101", "limit=x", "order=up", "after=als_nope",
                        "after=a&before=b", "colour=red", "limit=1&limit=2"}) {
    r = Call("GET", std::string("/audit_logs/actions/doc.updated/schemas?") + q);
    EXPECT_EQ(r.status, 422) << q << " -> " << r.body;
    Workos(r);
  }
  EXPECT_EQ(Call("GET", "/audit_logs/actions/doc.updated/schemas?limit=100").status, 200);
  r = Call("GET", "/audit_logs/actions/nobody.did/schemas");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Str(Workos(r), "message"), "Audit Log Action not found: 'nobody.did'.");

  // Actions, each with its latest schema.
  r = Call("GET", "/audit_logs/actions?order=asc");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value actions = Workos(r);
  ASSERT_EQ(actions.at("data").as_array().size(), 2u);
  const json::value& doc = actions.at("data").at(0);
  EXPECT_EQ(Str(doc, "object"), "audit_log_action");
  EXPECT_EQ(Str(doc, "name"), "doc.updated");
  EXPECT_EQ(doc.at("schema").at("version").as_int64(), 2);
  EXPECT_EQ(Str(doc, "created_at"), Str(s1, "created_at"));
  EXPECT_EQ(Str(actions.at("data").at(1), "name"), "user.signed_in");
  r = Call("GET", "/audit_logs/actions?limit=1");
  EXPECT_EQ(Workos(r).at("data").as_array().size(), 1u);

  // Readers with events:read, organization keys included; creating needs a platform admin.
  CreateOrg("org_a");
  const std::string reader =
      CreateKey(R"({"name":"r","organization_id":"org_a","scopes":["events:read"]})");
  EXPECT_EQ(Call("GET", "/audit_logs/actions", "", reader).status, 200);
  EXPECT_EQ(Call("GET", "/audit_logs/actions/doc.updated/schemas", "", reader).status, 200);
  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema, reader);
  EXPECT_EQ(r.status, 403) << r.body;
  Workos(r);
  const std::string org_admin =
      CreateKey(R"({"name":"a","organization_id":"org_a","scopes":["admin","events:read"]})");
  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema, org_admin);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Str(Workos(r), "code"), "platform_key_required");
  const std::string platform_writer =
      CreateKey(R"({"name":"p","kind":"platform","scopes":["events:write"]})");
  EXPECT_EQ(Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema, platform_writer).status,
            403);

  // Bad schema bodies: 422 with the offending place.
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"targets":[{"type":"doc","metadata":{"type":"object","properties":{"n":{"type":"integer"}}}}]})",
       "targets.0.metadata.properties.n.type"},
      {R"({"targets":[{"type":"doc","metadata":{"type":"object","properties":{"n":{"type":"array"}}}}]})",
       "targets.0.metadata.properties.n.type"},
      {R"({"actor":{"metadata":{"type":"object","properties":{"o":{"type":"object"}}}},"targets":[{"type":"doc"}]})",
       "actor.metadata.properties.o.type"},
      {R"({"targets":[]})", "targets"},
      {R"({})", "targets"},
      {R"({"targets":[{"type":"doc"},{"type":"doc"}]})", "targets.1.type"},
      {R"({"targets":[{"type":"doc"}],"colour":"red"})", "colour"},
      {R"({"targets":[{"type":"doc"}],"metadata":{"type":"object","properties":{},"required":["x"]}})",
       "metadata.required.0"},
  };
  for (const auto& [body, field] : bad) {
    r = Call("POST", "/audit_logs/actions/doc.updated/schemas", body);
    EXPECT_EQ(r.status, 422) << body << " -> " << r.body;
    EXPECT_EQ(Str(Workos(r), "code"), "invalid_schema") << r.body;
    EXPECT_EQ(FirstError(r)["field"], json::value(field)) << r.body;
  }
  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", "{");
  EXPECT_EQ(r.status, 400) << r.body;
  for (const char* action : {"Doc.Updated", "annals.schema.created", "doc%20updated"}) {
    r = Call("POST", std::string("/audit_logs/actions/") + action + "/schemas", kDocSchema);
    EXPECT_EQ(r.status, 422) << action << " -> " << r.body;
    EXPECT_EQ(FirstError(r)["field"], json::value("action"));
  }
  // Nothing of the refused requests was stored.
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas");
  EXPECT_EQ(Workos(r).at("data").as_array().size(), 2u);

  // Each creation is in the platform's trail.
  auto trail = Events("annals", "&action=annals.schema.created");
  ASSERT_EQ(trail.size(), 3u);
  EXPECT_EQ(Str(trail[0].at("targets").at(0), "id"), "doc.updated");
  EXPECT_EQ(trail[1].at("metadata").at("version").as_int64(), 2);
  EXPECT_EQ(Str(trail[0].at("actor"), "id"), "admin");
}

// The SDK sends an Idempotency-Key with each create and reuses it on retries: a retry makes
// no second version.
TEST_F(WorkosApiTest, SchemaCreatesHonourIdempotencyKeys) {
  const HttpClient::Headers key = {{"Idempotency-Key", "workos-node-5c1d"}};
  auto r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema, kAdminKey, key);
  ASSERT_EQ(r.status, 201) << r.body;
  const json::value first = Workos(r);
  EXPECT_EQ(first.at("version").as_int64(), 1);
  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema, kAdminKey, key);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Workos(r), first);  // the same version, created_at included
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Workos(r).at("data").as_array().size(), 1u);

  // The key with another schema, or another action: a conflict that creates nothing.
  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", R"({"targets":[{"type":"file"}]})",
           kAdminKey, key);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Str(Workos(r), "code"), "idempotency_conflict");
  r = Call("POST", "/audit_logs/actions/doc.deleted/schemas", kDocSchema, kAdminKey, key);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(Call("GET", "/audit_logs/actions/doc.deleted/schemas").status, 404);

  // Another key, or none, makes a new version each time.
  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema, kAdminKey,
           {{"Idempotency-Key", "workos-node-77aa"}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Workos(r).at("version").as_int64(), 2);
  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(Workos(r).at("version").as_int64(), 3);

  r = Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema, kAdminKey,
           {{"Idempotency-Key", std::string(257, 'k')}});
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(FirstError(r)["field"], json::value("idempotency-key"));
  r = Call("GET", "/audit_logs/actions/doc.updated/schemas");
  EXPECT_EQ(Workos(r).at("data").as_array().size(), 3u);
}

TEST_F(WorkosApiTest, SchemasAreEnforcedOnBothIngestPaths) {
  CreateOrg("org_a");
  ASSERT_EQ(Call("POST", "/audit_logs/actions/doc.updated/schemas", kDocSchema).status, 201);
  // Version 2 lists a target of type "file" only.
  ASSERT_EQ(Call("POST", "/audit_logs/actions/doc.updated/schemas",
                 R"({"targets":[{"type":"file"}]})").status, 201);
  const std::string ok_v1 = WorkosEvent(
      "doc.updated", R"("version":1,"metadata":{"reason":"edit"})",
      R"([{"id":"d1","type":"doc","metadata":{"cost":3}}])");

  // WorkOS path.
  EXPECT_EQ(PostEvent(Body("org_a", ok_v1)).status, 201);
  EXPECT_EQ(PostEvent(Body("org_a", WorkosEvent("doc.updated", "", R"([{"id":"f","type":"file"}])"))).status,
            201);  // the latest version by default
  struct Case {
    std::string event;
    std::string instance_path;
  };
  const std::vector<Case> violations = {
      {WorkosEvent("doc.updated", R"("version":1,"metadata":{"reason":"edit"})",
                   R"([{"id":"d1","type":"doc","metadata":{"cost":"3"}}])"),
       "/targets/0/metadata/cost"},
      {WorkosEvent("doc.updated", R"("version":1)", R"([{"id":"d1","type":"doc"}])"),
       "/metadata/reason"},
      {WorkosEvent("doc.updated", R"("version":1,"metadata":{"reason":"e"})",
                   R"([{"id":"d1","type":"doc"},{"id":"u","type":"user"}])"),
       "/targets/1/type"},
      {WorkosEvent("doc.updated", R"("version":1,"metadata":{"reason":"e"})",
                   R"([])"),
       "/targets"},
      {WorkosEvent("doc.updated", R"("metadata":{"reason":"e"})", R"([{"id":"d1","type":"doc"},{"id":"f","type":"file"}])"),
       "/targets/0/type"},
      {WorkosEvent("doc.updated", R"("version":3)", R"([{"id":"d1","type":"doc"}])"),
       "/version"},
  };
  for (const Case& c : violations) {
    auto r = PostEvent(Body("org_a", c.event));
    EXPECT_EQ(r.status, 400) << c.event << " -> " << r.body;
    EXPECT_EQ(Str(Workos(r), "code"), "invalid_audit_log_event");
    EXPECT_EQ(FirstError(r)["instancePath"], json::value(c.instance_path)) << r.body;
  }

  // Native path: one event, then a batch (atomic: nothing of it is stored).
  const std::string native_bad =
      EventJson("org_a", "doc.updated", "2026-01-02T03:04:05Z", "u1", {{"doc", "d1"}},
                R"("version":1,"metadata":{"reason":7})");
  auto r = Call("POST", "/v1/events", native_bad);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.ErrorCode(), "invalid_event");
  EXPECT_EQ(Parse(r.body).at("error").at("details").at(0).at("path").as_string(), "/metadata/reason");
  r = Call("POST", "/v1/events",
           EventJson("org_a", "doc.updated", "2026-01-02T03:04:05Z", "u1", {{"doc", "d1"}},
                     R"("version":9)"));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Parse(r.body).at("error").at("details").at(0).at("path").as_string(), "/version");
  const std::string native_ok =
      EventJson("org_a", "doc.updated", "2026-01-02T03:04:05Z", "u1", {{"file", "f1"}});
  r = Call("POST", "/v1/events", R"({"events":[)" + native_ok + "," + native_bad + "]}");
  EXPECT_EQ(r.status, 400) << r.body;
  json::value err = Parse(r.body).at("error");
  EXPECT_EQ(err.at("message").as_string(), "1 of 2 events are invalid");
  EXPECT_EQ(err.at("details").at(0).at("path").as_string(), "/events/1/metadata/reason");
  r = Call("POST", "/v1/events", "[" + native_ok + "," + native_bad + "]");
  EXPECT_EQ(Parse(r.body).at("error").at("details").at(0).at("path").as_string(), "/1/metadata/reason");
  EXPECT_EQ(Events("org_a").size(), 2u);
  EXPECT_EQ(Call("POST", "/v1/events", native_ok).status, 201);
  // Actions without a schema are not affected.
  EXPECT_EQ(Call("POST", "/v1/events",
                 EventJson("org_a", "doc.viewed", "2026-01-02T03:04:05Z", "u1", {{"x", "y"}},
                           R"("version":5)")).status,
            201);

  // Schemas survive a restart, and are enforced at once.
  ASSERT_EQ(server_.Stop(), 0);
  Start();
  r = PostEvent(Body("org_a", violations[0].event));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Call("GET", "/audit_logs/actions/doc.updated/schemas").status, 200);
  EXPECT_EQ(PostEvent(Body("org_a", ok_v1)).status, 201);
}

TEST_F(WorkosApiTest, RetentionMapsOntoMaxEventAge) {
  CreateOrg("org_a");
  const std::string path = "/organizations/org_a/audit_logs_retention";
  auto r = Call("GET", path);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Workos(r), json::parse(R"({"retention_period_in_days":null})"));

  const std::vector<std::pair<std::string, int64_t>> puts = {
      {R"({"retention_period":"1_YEAR"})", 365},
      {R"({"retention_period":"3_MONTHS"})", 90},
      {R"({"retention_period":"11_MONTHS"})", 330},
      {R"({"retention_period":"10_YEARS"})", 3650},
      {R"({"retention_period_in_days":30})", 30},
  };
  for (const auto& [body, days] : puts) {
    r = Call("PUT", path, body);
    ASSERT_EQ(r.status, 200) << body << " -> " << r.body;
    EXPECT_EQ(Workos(r).at("retention_period_in_days").as_int64(), days);
    EXPECT_EQ(Workos(Call("GET", path)).at("retention_period_in_days").as_int64(), days);
  }
  // The native policy shows the same setting; the other members are untouched.
  r = Call("GET", "/v1/retention?organization_id=org_a");
  EXPECT_EQ(Parse(r.body).at("max_event_age").as_string(), "30d");
  EXPECT_EQ(Parse(r.body).at("deleted_items_keep_for").as_string(), "180d");
  ASSERT_EQ(Call("PUT", "/v1/retention?organization_id=org_a", R"({"max_event_age":"36h"})").status, 200);
  EXPECT_EQ(Workos(Call("GET", path)).at("retention_period_in_days").as_int64(), 2);  // rounded up

  for (const char* bad : {R"({"retention_period":"13_MONTHS"})", R"({"retention_period":"1_WEEK"})",
                          R"({"retention_period":"1_MONTHS"})", R"({"retention_period":365})",
                          R"({"retention_period_in_days":0})", R"({"retention_period_in_days":-1})",
                          R"({"retention_period_in_days":1.5})", R"({"retention_period_in_days":"30"})",
                          R"({"retention_period_in_days":36501})",
                          R"({"retention_period":"1_YEAR","retention_period_in_days":365})",
                          R"({})", R"({"colour":"red"})", "[1]"}) {
    r = Call("PUT", path, bad);
    EXPECT_EQ(r.status, 422) << bad << " -> " << r.body;
    EXPECT_FALSE(Str(json::value(FirstError(r)), "code").empty()) << r.body;
  }
  r = Call("PUT", path, "{");
  EXPECT_EQ(r.status, 400) << r.body;
  Workos(r);
  EXPECT_EQ(Workos(Call("GET", path)).at("retention_period_in_days").as_int64(), 2);  // unchanged

  r = Call("PUT", path, R"({"retention_period_in_days":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(Workos(r).at("retention_period_in_days").is_null());
  EXPECT_TRUE(Parse(Call("GET", "/v1/retention?organization_id=org_a").body).at("max_event_age").is_null());

  // Organizations: unknown and foreign ones are the same 404; scope admin.
  CreateOrg("org_b");
  const std::string b_admin =
      CreateKey(R"({"name":"b","organization_id":"org_b","scopes":["admin","events:read"]})");
  for (const auto& [p, key] : std::vector<std::pair<std::string, std::string>>{
           {"/organizations/org_nope/audit_logs_retention", kAdminKey},
           {path, b_admin}}) {
    r = Call("GET", p, "", key);
    EXPECT_EQ(r.status, 404) << p << " -> " << r.body;
    EXPECT_EQ(Str(Workos(r), "message").rfind("Organization not found: '", 0), 0u);
    r = Call("PUT", p, R"({"retention_period":"1_YEAR"})", key);
    EXPECT_EQ(r.status, 404) << r.body;
  }
  EXPECT_EQ(Call("PUT", "/organizations/org_b/audit_logs_retention",
                 R"({"retention_period":"2_YEARS"})", b_admin).status, 200);
  const std::string reader =
      CreateKey(R"({"name":"r","organization_id":"org_a","scopes":["events:read"]})");
  r = Call("GET", path, "", reader);
  EXPECT_EQ(r.status, 403) << r.body;
  Workos(r);
  EXPECT_EQ(Call("GET", path + "?x=1").status, 422);

  // Each change is in the organization's own trail.
  auto trail = Events("org_a", "&action=annals.retention.updated");
  ASSERT_EQ(trail.size(), 7u);  // 5 WorkOS puts, the native one, the WorkOS clear
  EXPECT_EQ(Str(trail[0].at("metadata"), "max_event_age"), "365d");
  EXPECT_EQ(Str(trail[0].at("metadata"), "interface"), "workos");
  EXPECT_EQ(Str(trail.back().at("metadata"), "max_event_age"), "none");
}

TEST_F(WorkosApiTest, PortalLinksAreSignedShortLivedAndSingleOrganization) {
  CreateOrg("org_a");
  auto r = Call("POST", "/portal/generate_link", R"({"organization":"org_a","intent":"audit_logs"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string link = Str(Workos(r), "link");
  const std::string prefix = server_.url() + "/portal/audit_logs?token=";
  ASSERT_EQ(link.rfind(prefix, 0), 0u) << link;
  const std::string token = link.substr(prefix.size());
  const std::string local = "/portal/audit_logs?token=" + token;

  // The link needs no API key.
  r = Call("GET", local, "", "");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value grant = Workos(r);
  EXPECT_EQ(Str(grant, "organization_id"), "org_a");
  EXPECT_EQ(Str(grant, "intent"), "audit_logs");
  EXPECT_EQ(Str(grant, "expires_at").size(), 27u);
  EXPECT_EQ(r.Header("cache-control"), "no-store");

  // Altered, misplaced or missing tokens: 403 with a message.
  std::string tampered = token;
  tampered[tampered.size() / 3] = tampered[tampered.size() / 3] == 'A' ? 'B' : 'A';
  for (const std::string& p : {"/portal/audit_logs?token=" + tampered,
                               "/portal/log_streams?token=" + token, std::string("/portal/audit_logs"),
                               std::string("/portal/audit_logs?token="),
                               "/portal/audit_logs?token=" + token + "x"}) {
    r = Call("GET", p, "", "");
    EXPECT_EQ(r.status, 403) << p << " -> " << r.body;
    EXPECT_FALSE(Str(Workos(r), "message").empty());
  }
  r = Call("GET", "/portal/log_streams?token=" + token, "", "");
  EXPECT_EQ(Str(Workos(r), "code"), "wrong_intent");
  EXPECT_EQ(Call("GET", "/portal/sso?token=" + token, "", "").status, 404);

  // log_streams links work the same way.
  r = Call("POST", "/portal/generate_link", R"({"intent":"log_streams","organization":"org_a"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string streams = Str(Workos(r), "link");
  EXPECT_EQ(Call("GET", streams.substr(server_.url().size()), "", "").status, 200);

  // Bad requests.
  for (const char* bad : {R"({"organization":"org_a","intent":"sso"})",
                          R"({"organization":"org_a","intent":"dsync"})",
                          R"({"organization":"org_a","intent":"everything"})",
                          R"({"organization":"org_a"})", R"({"intent":"audit_logs"})",
                          R"({"organization":"org_a","intent":"audit_logs","return_url":"javascript:x"})",
                          R"({"organization":"org_a","intent":"audit_logs","colour":"red"})"}) {
    r = Call("POST", "/portal/generate_link", bad);
    EXPECT_EQ(r.status, 422) << bad << " -> " << r.body;
    Workos(r);
  }
  r = Call("POST", "/portal/generate_link", R"({"organization":"org_a","intent":"sso"})");
  EXPECT_NE(Str(Workos(r), "message").find("not supported"), std::string::npos) << r.body;
  EXPECT_EQ(Call("POST", "/portal/generate_link",
                 R"({"organization":"org_a","intent":"audit_logs","return_url":"https://app.example.com/settings"})")
                .status,
            201);
  r = Call("POST", "/portal/generate_link", R"({"organization":"org_nope","intent":"audit_logs"})");
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Str(Workos(r), "message"), "Organization not found: 'org_nope'.");

  // Organization keys: their own organization only; scope admin.
  CreateOrg("org_b");
  const std::string b_admin =
      CreateKey(R"({"name":"b","organization_id":"org_b","scopes":["admin"]})");
  EXPECT_EQ(Call("POST", "/portal/generate_link", R"({"organization":"org_a","intent":"audit_logs"})",
                 b_admin).status,
            404);
  r = Call("POST", "/portal/generate_link", R"({"organization":"org_b","intent":"audit_logs"})", b_admin);
  ASSERT_EQ(r.status, 201) << r.body;
  r = Call("GET", Str(Workos(r), "link").substr(server_.url().size()), "", "");
  EXPECT_EQ(Str(Workos(r), "organization_id"), "org_b");
  const std::string b_reader =
      CreateKey(R"({"name":"r","organization_id":"org_b","scopes":["events:read"]})");
  EXPECT_EQ(Call("POST", "/portal/generate_link", R"({"organization":"org_b","intent":"audit_logs"})",
                 b_reader).status,
            403);

  // Every link is in the organization's trail.
  auto trail = Events("org_a", "&action=annals.portal_link.created");
  ASSERT_EQ(trail.size(), 3u);
  EXPECT_EQ(Str(trail[0].at("metadata"), "intent"), "audit_logs");
  EXPECT_EQ(Str(trail[1].at("metadata"), "intent"), "log_streams");

  // The signing key is the store's: links outlive a restart.
  ASSERT_EQ(server_.Stop(), 0);
  Start();
  EXPECT_EQ(Call("GET", local, "", "").status, 200);
}

TEST_F(WorkosApiTest, PortalLinksExpire) {
  ASSERT_EQ(server_.Stop(), 0);
  Start({{"ANNALS_PORTAL_LINK_TTL", "1s"}});
  CreateOrg("org_a");
  auto r = Call("POST", "/portal/generate_link", R"({"organization":"org_a","intent":"audit_logs"})");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string path = Str(Workos(r), "link").substr(server_.url().size());
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));
  r = Call("GET", path, "", "");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Str(Workos(r), "code"), "token_expired");
  EXPECT_NE(Str(Workos(r), "message").find("expired"), std::string::npos);
}

TEST_F(WorkosApiTest, TransportErrorsOnWorkosPathsTakeWorkosShape) {
  ASSERT_EQ(server_.Stop(), 0);
  Start({{"ANNALS_LIMITS_MAX_REQUEST_BYTES", "1024"}});
  CreateOrg("org_a");
  const std::string big = Body("org_a", WorkosEvent("doc.viewed", R"("metadata":{"n":")" +
                                                                      std::string(1200, 'x') + "\"}"));
  auto r = PostEvent(big);
  EXPECT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(Str(Workos(r), "code"), "request_too_large");
  r = Call("POST", "/v1/events", big);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(r.ErrorCode(), "request_too_large");
}

}  // namespace
}  // namespace annals::testing

namespace annals::testing {
namespace {

TEST_F(WorkosApiTest, ExportsAreTenantScopedAndValidated) {
  CreateOrg("org_a");
  CreateOrg("org_b");
  ASSERT_EQ(PostEvent(Body("org_a", WorkosEvent())).status, 201);
  const std::string range =
      R"("range_start":"2020-01-01T00:00:00.000Z","range_end":"2030-01-01T00:00:00.000Z")";
  auto r = Call("POST", "/audit_logs/exports", R"({"organization_id":"org_a",)" + range + "}");
  ASSERT_EQ(r.status, 201) << r.body;
  json::value created = Workos(r);
  EXPECT_EQ(Str(created, "object"), "audit_log_export");
  const std::string id = Str(created, "id");
  EXPECT_EQ(r.Header("content-type"), "application/json");

  // Another organization's key sees a missing export and a missing organization.
  const std::string b_key = CreateKey(
      R"({"name":"b","organization_id":"org_b","scopes":["events:read","events:write"]})");
  r = Call("GET", "/audit_logs/exports/" + id, "", b_key);
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Str(Workos(r), "message"), "Audit Log Export not found: '" + id + "'.");
  r = Call("POST", "/audit_logs/exports", R"({"organization_id":"org_a",)" + range + "}", b_key);
  EXPECT_EQ(r.status, 404) << r.body;
  Workos(r);

  // Bad input, in WorkOS' shapes.
  r = Call("POST", "/audit_logs/exports", R"({"organization_id":"org_a"})");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(FirstError(r)["field"], json::value("range_start"));
  r = Call("POST", "/audit_logs/exports",
           R"({"organization_id":"org_a","range_start":"2030-01-01T00:00:00Z","range_end":"2020-01-01T00:00:00Z"})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Str(Workos(r), "code"), "invalid_audit_log_export_range_date");
  r = Call("POST", "/audit_logs/exports",
           R"({"organization_id":"org_a",)" + range + R"(,"actions":"doc.updated"})");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(FirstError(r)["field"], json::value("actions"));
  r = Call("POST", "/audit_logs/exports",
           R"({"organization_id":"org_a",)" + range + R"(,"targets":["nope"]})");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(FirstError(r)["field"], json::value("targets.0"));
  r = Call("POST", "/audit_logs/exports", R"({"organization_id":"org_a",)" + range + R"(,"format":"xml"})");
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(FirstError(r)["field"], json::value("format"));
}

}  // namespace
}  // namespace annals::testing
