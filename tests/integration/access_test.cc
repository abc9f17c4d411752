// Organizations, API keys, scopes, tenant isolation, meta-audit, rate limits and the
// operations endpoints, end to end against the real binary.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <ctime>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

const std::map<std::string, std::string> kStrictEnv = {{"ANNALS_ADMIN_KEY", kAdminKey}};

json::value Parse(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  EXPECT_FALSE(ec) << body;
  return ec ? json::value() : v;
}

std::string Code(const ClientResponse& r) {
  json::value v = Parse(r.body);
  if (!v.is_object() || !v.as_object().contains("error")) return "";
  return std::string(v.at("error").at("code").as_string());
}

std::string Str(const json::value& v, const char* key) {
  const auto* x = v.as_object().if_contains(key);
  return x != nullptr && x->is_string() ? std::string(x->as_string()) : "";
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& key = kAdminKey, const std::string& body = "",
                      const std::vector<std::pair<std::string, std::string>>& headers = {}) {
    HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : "application/json", headers);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClientResponse{};
  }

  void CreateOrg(const std::string& id) {
    auto r = Call("POST", "/v1/orgs", kAdminKey, "{\"id\":\"" + id + "\",\"name\":\"Org " + id + "\"}");
    ASSERT_EQ(r.status, 201) << r.body;
  }

  // Creates a key and returns {id, token}.
  std::pair<std::string, std::string> CreateKey(const std::string& body,
                                                const std::string& as = kAdminKey) {
    auto r = Call("POST", "/v1/api-keys", as, body);
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return {};
    json::value v = Parse(r.body);
    return {Str(v, "id"), Str(v, "key")};
  }

  std::string PostEvent(const std::string& org, const std::string& key = kAdminKey,
                        const std::string& action = "doc.updated") {
    auto r = Call("POST", "/v1/events", key,
                  EventJson(org, action, "2026-11-01T10:00:00Z", "u1", {{"doc", "d1"}}));
    EXPECT_EQ(r.status, 201) << r.body;
    if (r.status != 201) return "";
    return Str(Parse(r.body).at("data").as_array()[0], "id");
  }

  std::vector<json::value> Events(const std::string& org, const std::string& query = "") {
    auto r = Call("GET", "/v1/events?organization_id=" + org + "&limit=1000" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<json::value> out;
    if (r.status != 200) return out;
    const json::value page = Parse(r.body);
    for (const auto& e : page.at("data").as_array()) out.push_back(e);
    return out;
  }

  std::map<std::string, std::string> env_ = kStrictEnv;
  TempDir dir_;
  ServerProcess server_;
};

TEST_F(AccessTest, OrganizationsAreResources) {
  auto r = Call("POST", "/v1/orgs", kAdminKey,
                R"({"id":"org_01EHZNVPK3SFK441A1RGBFSHRT","name":"Acme","external_id":"crm-7","settings":{"tier":"gold"}})");
  ASSERT_EQ(r.status, 201) << r.body;
  json::value org = Parse(r.body);
  EXPECT_EQ(Str(org, "id"), "org_01EHZNVPK3SFK441A1RGBFSHRT");
  EXPECT_EQ(Str(org, "name"), "Acme");
  EXPECT_EQ(Str(org, "external_id"), "crm-7");
  EXPECT_EQ(org.at("settings").at("tier").as_string(), "gold");
  EXPECT_FALSE(Str(org, "created_at").empty());

  // Generated ids, duplicates, bad ids, unknown fields.
  r = Call("POST", "/v1/orgs", kAdminKey, R"({"name":"No id"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_TRUE(std::regex_match(Str(Parse(r.body), "id"), std::regex("org_[0-9A-Z]{26}")));
  r = Call("POST", "/v1/orgs", kAdminKey, R"({"id":"org_01EHZNVPK3SFK441A1RGBFSHRT"})");
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(Code(r), "organization_exists");
  for (const char* bad : {R"({"id":"../etc"})", R"({"id":"a/b"})", R"({"id":""})",
                          R"({"id":7})", R"({"colour":"red"})", R"({"settings":[]})",
                          R"({"id":"annals"})", R"([1])", "{"}) {
    r = Call("POST", "/v1/orgs", kAdminKey, bad);
    EXPECT_TRUE(r.status == 400 || r.status == 409) << bad << " -> " << r.status << r.body;
  }

  // Read, list, patch.
  r = Call("GET", "/v1/orgs/org_01EHZNVPK3SFK441A1RGBFSHRT");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Str(Parse(r.body), "name"), "Acme");
  r = Call("PATCH", "/v1/orgs/org_01EHZNVPK3SFK441A1RGBFSHRT", kAdminKey,
           R"({"name":"Acme Corp","external_id":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Str(Parse(r.body), "name"), "Acme Corp");
  EXPECT_TRUE(Parse(r.body).at("external_id").is_null());
  EXPECT_EQ(Call("PATCH", "/v1/orgs/org_01EHZNVPK3SFK441A1RGBFSHRT", kAdminKey, "{}").status, 400);
  EXPECT_EQ(Call("PATCH", "/v1/orgs/nope", kAdminKey, R"({"name":"x"})").status, 404);
  EXPECT_EQ(Call("GET", "/v1/orgs/nope").status, 404);

  // Paging through every organization (the reserved one included) exactly once each way.
  for (int i = 0; i < 5; ++i) CreateOrg("org_page_" + std::to_string(i));
  std::vector<std::string> forward;
  std::string after, last_before;
  for (;;) {
    r = Call("GET", "/v1/orgs?limit=3" + (after.empty() ? "" : "&after=" + after));
    ASSERT_EQ(r.status, 200) << r.body;
    json::value page = Parse(r.body);
    for (const auto& o : page.at("data").as_array()) forward.push_back(Str(o, "id"));
    const auto& a = page.at("list_metadata").at("after");
    if (!a.is_string()) break;
    after = std::string(a.as_string());
  }
  EXPECT_EQ(forward.size(), 8u);  // annals, 2 created above, 5 here
  EXPECT_TRUE(std::is_sorted(forward.begin(), forward.end()));
  std::vector<std::string> backward;
  std::string before = after;
  r = Call("GET", "/v1/orgs?limit=3&before=" + before);
  ASSERT_EQ(r.status, 200);
  const json::value back_page = Parse(r.body);
  for (const auto& o : back_page.at("data").as_array()) backward.push_back(Str(o, "id"));
  EXPECT_EQ(backward, std::vector<std::string>(forward.begin() + 2, forward.begin() + 5));
  EXPECT_EQ(Call("GET", "/v1/orgs?after=garbage").status, 400);
  EXPECT_EQ(Call("GET", "/v1/orgs?limit=0").status, 400);
  EXPECT_EQ(Call("GET", "/v1/orgs?color=red").status, 400);

  // Organizations survive a restart.
  ASSERT_EQ(server_.Stop(), 0);
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  r = Call("GET", "/v1/orgs/org_01EHZNVPK3SFK441A1RGBFSHRT");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(Str(Parse(r.body), "name"), "Acme Corp");
}

TEST_F(AccessTest, EventsForUnknownOrganizationsAreRefused) {
  CreateOrg("org_a");
  auto r = Call("POST", "/v1/events", kAdminKey,
                EventJson("org_missing", "doc.updated", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}}));
  EXPECT_EQ(r.status, 404) << r.body;
  EXPECT_EQ(Code(r), "unknown_organization");
  const std::string batch =
      "{\"events\":[" + EventJson("org_a", "doc.updated", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}}) +
      "," + EventJson("org_missing", "doc.updated", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}}) + "]}";
  r = Call("POST", "/v1/events", kAdminKey, batch);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Code(r), "unknown_organization");
  EXPECT_NE(r.body.find("/events/1/organization_id"), std::string::npos) << r.body;
  EXPECT_TRUE(Events("org_a").empty());  // the batch is atomic
  // The reserved organization and reserved actions are not for clients.
  r = Call("POST", "/v1/events", kAdminKey,
           EventJson("annals", "doc.updated", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}}));
  EXPECT_EQ(r.status, 400) << r.body;
  r = Call("POST", "/v1/events", kAdminKey,
           EventJson("org_a", "annals.api_key.created", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}}));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(Call("GET", "/v1/events?organization_id=org_missing").status, 404);
}

TEST_F(AccessTest, AutoCreateMakesOrganizationsOnFirstUse) {
  ASSERT_EQ(server_.Stop(), 0);
  env_["ANNALS_ORGS_AUTO_CREATE"] = "true";
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  PostEvent("org_new");
  EXPECT_EQ(Call("GET", "/v1/orgs/org_new").status, 200);
  EXPECT_EQ(Events("org_new").size(), 1u);
  auto created = Events("annals", "&action=annals.organization.created");
  ASSERT_EQ(created.size(), 1u);
  EXPECT_EQ(created[0].at("targets").at(0).at("id").as_string(), "org_new");
  EXPECT_EQ(created[0].at("metadata").at("auto_created").as_bool(), true);
  // Auto-creation still refuses ids that could not be created by hand.
  auto r = Call("POST", "/v1/events", kAdminKey,
                EventJson("bad/org", "doc.updated", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}}));
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(AccessTest, KeysAreShownOnceStoredHashedAndRevocable) {
  CreateOrg("org_a");
  auto r = Call("POST", "/v1/api-keys", kAdminKey,
                R"({"name":"ci writer","organization_id":"org_a","scopes":["events:write","events:read"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  json::value k = Parse(r.body);
  const std::string id = Str(k, "id"), token = Str(k, "key");
  EXPECT_TRUE(std::regex_match(id, std::regex("key_[0-9A-Z]{26}")));
  EXPECT_TRUE(std::regex_match(token, std::regex("annals_" + id + "_[0-9a-f]{48}"))) << token;
  EXPECT_EQ(Str(k, "kind"), "organization");
  EXPECT_EQ(Str(k, "created_by"), "admin");
  EXPECT_TRUE(k.at("last_used_at").is_null());

  // The secret is never shown again, and never stored in the clear.
  r = Call("GET", "/v1/api-keys/" + id);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("\"key\""), std::string::npos);
  EXPECT_EQ(r.body.find(token.substr(token.size() - 48)), std::string::npos);
  ASSERT_EQ(server_.Stop(), 0);
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir_.path())) {
    if (!entry.is_regular_file()) continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    EXPECT_EQ(content.find(token.substr(token.size() - 48)), std::string::npos) << entry.path();
  }
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();

  // It works (and is remembered as used), until revoked.
  PostEvent("org_a", token);
  r = Call("GET", "/v1/api-keys/" + id);
  EXPECT_FALSE(Parse(r.body).at("last_used_at").is_null()) << r.body;
  r = Call("DELETE", "/v1/api-keys/" + id);
  ASSERT_EQ(r.status, 200) << r.body;
  const std::string revoked_at = Str(Parse(r.body), "revoked_at");
  EXPECT_FALSE(revoked_at.empty());
  r = Call("GET", "/v1/events?organization_id=org_a", token);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("revoked"), std::string::npos) << r.body;
  r = Call("DELETE", "/v1/api-keys/" + id);  // idempotent
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Str(Parse(r.body), "revoked_at"), revoked_at);

  // last_used_at and the revocation survive a restart.
  ASSERT_EQ(server_.Stop(), 0);
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  r = Call("GET", "/v1/api-keys/" + id);
  EXPECT_FALSE(Parse(r.body).at("last_used_at").is_null()) << r.body;
  EXPECT_EQ(Call("GET", "/v1/events?organization_id=org_a", token).status, 401);

  // Malformed, unknown and tampered keys.
  for (const std::string& bad : std::vector<std::string>{"annals_", "annals_key_x_y", "annals_" + id + "_" + std::string(48, '0'),
                                token + "0", std::string("Bearer"), std::string(5000, 'a')}) {
    EXPECT_EQ(Call("GET", "/v1/orgs", bad).status, 401) << bad;
  }
  HttpClient anonymous(server_.url(), "");
  EXPECT_EQ(anonymous.Send("GET", "/v1/orgs")->status, 401);
}

TEST_F(AccessTest, KeyCreationRules) {
  CreateOrg("org_a");
  CreateOrg("org_b");
  struct Case {
    std::string body;
    long status;
    std::string path;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"organization_id":"org_a","scopes":["admin"]})", 400, "/name"},
           {R"({"name":"x","organization_id":"org_a"})", 400, "/scopes"},
           {R"({"name":"x","organization_id":"org_a","scopes":[]})", 400, "/scopes"},
           {R"({"name":"x","organization_id":"org_a","scopes":["root"]})", 400, "/scopes/0"},
           {R"({"name":"x","organization_id":"org_a","scopes":["admin","admin"]})", 400, "/scopes/1"},
           {R"({"name":"x","scopes":["admin"]})", 400, "/organization_id"},
           {R"({"name":"x","kind":"platform","organization_id":"org_a","scopes":["admin"]})", 400, "/organization_id"},
           {R"({"name":"x","kind":"galaxy","scopes":["admin"]})", 400, "/kind"},
           {R"({"name":"x","organization_id":"org_a","scopes":["admin"],"expires_at":"2001-01-01T00:00:00Z"})", 400, "/expires_at"},
           {R"({"name":"x","organization_id":"org_a","scopes":["admin"],"expires_at":"soon"})", 400, "/expires_at"},
           {R"({"name":"x","organization_id":"org_a","scopes":["admin"],"secret":"mine"})", 400, "/secret"},
           {R"({"name":"x","organization_id":"org_zzz","scopes":["admin"]})", 404, ""},
           {R"({"name":"x","organization_id":"annals","scopes":["admin"]})", 400, "/organization_id"},
       }) {
    auto r = Call("POST", "/v1/api-keys", kAdminKey, c.body);
    EXPECT_EQ(r.status, c.status) << c.body << " -> " << r.body;
    if (!c.path.empty()) {
      EXPECT_NE(r.body.find("\"" + c.path + "\""), std::string::npos) << r.body;
    }
  }
  // An organization admin key manages its own organization's keys only.
  auto [admin_a, admin_a_token] =
      CreateKey(R"({"name":"a admin","organization_id":"org_a","scopes":["admin"]})");
  auto [sub_id, sub_token] = CreateKey(R"({"name":"sub","scopes":["events:read"]})", admin_a_token);
  EXPECT_EQ(Parse(Call("GET", "/v1/api-keys/" + sub_id).body).at("organization_id").as_string(), "org_a");
  EXPECT_EQ(Call("POST", "/v1/api-keys", admin_a_token,
                 R"({"name":"x","organization_id":"org_b","scopes":["admin"]})").status, 404);
  EXPECT_EQ(Call("POST", "/v1/api-keys", admin_a_token,
                 R"({"name":"x","kind":"platform","scopes":["admin"]})").status, 403);

  // Expiry.
  const auto soon = std::chrono::system_clock::now() + std::chrono::seconds(2);
  const std::time_t t = std::chrono::system_clock::to_time_t(soon) + 1;
  char when[32];
  std::strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  auto [exp_id, exp_token] = CreateKey(std::string(R"({"name":"short","organization_id":"org_a","scopes":["events:read"],"expires_at":")") + when + "\"}");
  EXPECT_EQ(Call("GET", "/v1/events?organization_id=org_a", exp_token).status, 200);
  while (std::chrono::system_clock::now() < std::chrono::system_clock::from_time_t(t) + std::chrono::milliseconds(200)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto r = Call("GET", "/v1/events?organization_id=org_a", exp_token);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("expired"), std::string::npos) << r.body;
}

// Every endpoint, with a matrix of callers: the answer each must get.
TEST_F(AccessTest, TenantIsolationMatrix) {
  CreateOrg("org_a");
  CreateOrg("org_b");
  const auto platform = CreateKey(R"({"name":"platform","kind":"platform","scopes":["events:write","events:read","admin"]})").second;
  const auto own = CreateKey(R"({"name":"own","organization_id":"org_a","scopes":["events:write","events:read","admin"]})").second;
  const auto other = CreateKey(R"({"name":"other","organization_id":"org_b","scopes":["events:write","events:read","admin"]})").second;
  const auto writer = CreateKey(R"({"name":"w","organization_id":"org_a","scopes":["events:write"]})").second;
  const auto reader = CreateKey(R"({"name":"r","organization_id":"org_a","scopes":["events:read"]})").second;
  const auto admin_only = CreateKey(R"({"name":"adm","organization_id":"org_a","scopes":["admin"]})").second;
  auto [revoked_id, revoked] = CreateKey(R"({"name":"gone","organization_id":"org_a","scopes":["events:write","events:read","admin"]})");
  ASSERT_EQ(Call("DELETE", "/v1/api-keys/" + revoked_id).status, 200);
  const std::string event_a = PostEvent("org_a");
  const std::string key_a = CreateKey(R"({"name":"target","organization_id":"org_a","scopes":["events:read"]})").first;

  enum Need { kWrite, kRead, kAdmin, kAny, kPlatformAdmin };
  struct Endpoint {
    std::string method, path, body;
    Need need;
    long ok;  // status on success
  };
  const std::string ev = EventJson("org_a", "doc.updated", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}});
  const std::vector<Endpoint> endpoints = {
      {"POST", "/v1/events", ev, kWrite, 201},
      {"GET", "/v1/events?organization_id=org_a", "", kRead, 200},
      {"GET", "/v1/events/" + event_a, "", kRead, 200},
      {"GET", "/v1/orgs/org_a", "", kAdmin, 200},
      {"PATCH", "/v1/orgs/org_a", R"({"name":"A"})", kAdmin, 200},
      {"POST", "/v1/api-keys", R"({"name":"n","organization_id":"org_a","scopes":["events:read"]})", kAdmin, 201},
      {"GET", "/v1/api-keys?organization_id=org_a", "", kAdmin, 200},
      {"GET", "/v1/api-keys/" + key_a, "", kAdmin, 200},
      {"GET", "/v1/orgs", "", kAdmin, 200},
      {"POST", "/v1/orgs", R"({"name":"new"})", kPlatformAdmin, 201},
      {"GET", "/v1/openapi.json", "", kAny, 200},
  };
  struct Caller {
    std::string name, key;
  };
  const std::vector<Caller> callers = {{"platform", platform}, {"own", own},       {"other", other},
                                       {"writer", writer},     {"reader", reader}, {"admin_only", admin_only},
                                       {"revoked", revoked},   {"none", ""},       {"garbage", "annals_nope"}};
  for (const Endpoint& e : endpoints) {
    for (const Caller& c : callers) {
      long want = e.ok;
      if (c.name == "revoked" || c.name == "none" || c.name == "garbage") {
        want = 401;
      } else if (c.name == "other") {
        // Another tenant's resources do not exist for this key. Its own listing is fine,
        // and an event body naming another organization is invalid for this key.
        want = e.need == kPlatformAdmin ? 403 : e.method == "POST" && e.path == "/v1/events" ? 400
               : e.path == "/v1/orgs" || e.need == kAny ? 200 : 404;
        if (e.method == "POST" && e.path == "/v1/api-keys") want = 404;
      } else if (c.name != "platform") {
        const bool has = c.name == "own" || (c.name == "writer" && e.need == kWrite) ||
                         (c.name == "reader" && e.need == kRead) ||
                         (c.name == "admin_only" && (e.need == kAdmin || e.need == kPlatformAdmin)) ||
                         e.need == kAny;
        want = !has ? 403 : e.need == kPlatformAdmin ? 403 : e.ok;
      }
      auto r = Call(e.method, e.path, c.key, e.body);
      EXPECT_EQ(r.status, want) << c.name << " " << e.method << " " << e.path << " -> " << r.body;
      if (c.name == "other" && want == 404) {
        EXPECT_EQ(r.body.find("org_a\" belongs"), std::string::npos);
        EXPECT_TRUE(Code(r) == "organization_not_found" || Code(r) == "event_not_found" ||
                    Code(r) == "api_key_not_found")
            << r.body;
      }
    }
  }
  // What another tenant sees is exactly what a nonexistent resource looks like.
  auto foreign = Call("GET", "/v1/orgs/org_a", other);
  auto missing = Call("GET", "/v1/orgs/org_q", other);
  EXPECT_EQ(foreign.status, missing.status);
  EXPECT_EQ(Code(foreign), Code(missing));
  // Lists never show another tenant's items.
  auto orgs = Call("GET", "/v1/orgs", other);
  EXPECT_EQ(orgs.body.find("org_a"), std::string::npos) << orgs.body;
  auto keys = Call("GET", "/v1/api-keys", other);
  ASSERT_EQ(keys.status, 200);
  const json::value key_page = Parse(keys.body);
  for (const auto& k : key_page.at("data").as_array()) {
    EXPECT_EQ(k.at("organization_id").as_string(), "org_b");
  }
  EXPECT_EQ(Call("DELETE", "/v1/api-keys/" + key_a, other).status, 404);
  EXPECT_EQ(Call("GET", "/v1/api-keys/" + key_a).status, 200);  // untouched
  EXPECT_EQ(Call("GET", "/v1/events?organization_id=org_a", other).status, 404);
}

TEST_F(AccessTest, AdministrativeActsAreMetaAudited) {
  CreateOrg("org_a");
  auto [admin_id, admin_token] =
      CreateKey(R"({"name":"a admin","organization_id":"org_a","scopes":["admin","events:read"]})");
  auto [key_id, key_token] = CreateKey(R"({"name":"reader","scopes":["events:read"]})", admin_token);
  ASSERT_EQ(Call("PATCH", "/v1/orgs/org_a", admin_token, R"({"name":"A2"})").status, 200);
  ASSERT_EQ(Call("DELETE", "/v1/api-keys/" + key_id, admin_token).status, 200);
  auto trail = Events("org_a", "&order=asc");
  std::vector<std::string> actions;
  for (const auto& e : trail) actions.emplace_back(e.at("action").as_string());
  EXPECT_EQ(actions, (std::vector<std::string>{"annals.api_key.created", "annals.api_key.created",
                                               "annals.organization.updated",
                                               "annals.api_key.revoked"}));
  ASSERT_EQ(trail.size(), 4u);
  EXPECT_EQ(trail[0].at("actor").at("id").as_string(), "admin");
  EXPECT_EQ(trail[1].at("actor").at("id").as_string(), admin_id);
  EXPECT_EQ(trail[1].at("actor").at("type").as_string(), "api_key");
  EXPECT_EQ(trail[1].at("targets").at(0).at("id").as_string(), key_id);
  EXPECT_EQ(trail[1].at("context").at("location").as_string(), "127.0.0.1");
  EXPECT_EQ(trail[1].at("source").at("kind").as_string(), "annals");
  EXPECT_EQ(trail[3].at("targets").at(0).at("id").as_string(), key_id);
  // Platform-level acts go to the reserved organization.
  auto platform_trail = Events("annals", "&action=annals.organization.created");
  ASSERT_EQ(platform_trail.size(), 1u);
  EXPECT_EQ(platform_trail[0].at("targets").at(0).at("id").as_string(), "org_a");
  // An organization key reads its own trail, never the platform's.
  EXPECT_EQ(Call("GET", "/v1/events?organization_id=annals", admin_token).status, 404);
}

TEST_F(AccessTest, RateLimitPerKey) {
  ASSERT_EQ(server_.Stop(), 0);
  env_["ANNALS_RATE_LIMIT_REQUESTS_PER_SECOND"] = "0.5";
  env_["ANNALS_RATE_LIMIT_BURST"] = "3";
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  CreateOrg("org_a");  // 1 token of the admin key
  auto [id, token] = CreateKey(R"({"name":"r","organization_id":"org_a","scopes":["events:read"]})");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Call("GET", "/v1/events", token).status, 200);
  auto r = Call("GET", "/v1/events", token);
  EXPECT_EQ(r.status, 429) << r.body;
  EXPECT_EQ(Code(r), "rate_limited");
  EXPECT_EQ(r.Header("retry-after"), "2");
  // Another key has its own bucket; health checks are never limited.
  EXPECT_EQ(Call("GET", "/v1/orgs/org_a").status, 200);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Call("GET", "/healthz", "").status, 200);
}

TEST_F(AccessTest, MetricsAndOperationsListener) {
  ASSERT_EQ(server_.Stop(), 0);
  env_["ANNALS_SERVER_OPS_LISTEN"] = "127.0.0.1:0";
  env_["ANNALS_ORGS_AUTO_CREATE"] = "true";
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  PostEvent("org_a");
  // Commit statistics are recorded just after the acknowledgements (and the auto-created
  // organization's audit event is asynchronous), so poll briefly.
  ClientResponse r;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    r = Call("GET", "/metrics", "");
    ASSERT_EQ(r.status, 200) << r.body;
    if (r.body.find("annals_ingest_events_total 2\n") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (std::chrono::steady_clock::now() < deadline);
  EXPECT_NE(r.Header("content-type").find("text/plain"), std::string::npos);
  EXPECT_NE(r.body.find("annals_ingest_events_total 2\n"), std::string::npos) << r.body;  // + audit
  EXPECT_NE(r.body.find("annals_ingest_sync_seconds_bucket"), std::string::npos);
  EXPECT_NE(r.body.find("annals_ingest_queue_events"), std::string::npos);
  EXPECT_NE(r.body.find(R"(annals_http_requests_total{method="POST",route="/v1/events",status="201"} 1)"),
            std::string::npos)
      << r.body;
  // The operations listener serves health and metrics only.
  std::smatch m;
  const std::string log = server_.StderrText();
  ASSERT_TRUE(std::regex_search(log, m, std::regex("operations endpoints on http://127.0.0.1:([0-9]+)")))
      << log;
  HttpClient ops("http://127.0.0.1:" + m[1].str(), "");
  EXPECT_EQ(ops.Send("GET", "/healthz")->status, 200);
  EXPECT_EQ(ops.Send("GET", "/readyz")->status, 200);
  EXPECT_EQ(ops.Send("GET", "/metrics")->status, 200);
  EXPECT_EQ(ops.Send("GET", "/v1/events?organization_id=org_a")->status, 404);
  HttpClient ops_admin("http://127.0.0.1:" + m[1].str(), kAdminKey);
  EXPECT_EQ(ops_admin.Send("GET", "/v1/orgs")->status, 404);
}

}  // namespace
}  // namespace annals::testing

namespace annals::testing {
namespace {

TEST(LogInjectionTest, ClientTextIsStoredVerbatimAndEscapedInOperatorLogs) {
  TempDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path(), {},
                           {{"ANNALS_ADMIN_KEY", kAdminKey},
                            {"ANNALS_ORGS_AUTO_CREATE", "true"},
                            {"ANNALS_LOG_LEVEL", "debug"},
                            {"ANNALS_LOG_FORMAT", "json"}}))
      << server.StderrText();
  const std::string payload = "x\n{\"level\":\"error\",\"msg\":\"forged\"}\r\x1b[2J\u2028end";
  json::object meta;
  meta["note"] = payload;
  const std::string event =
      EventJson("org_log", "doc.updated", "2026-11-01T10:00:00Z", "u1", {{"doc", "d"}},
                "\"metadata\":" + json::serialize(meta));
  HttpClient c(server.url(), kAdminKey);
  auto r = c.Send("POST", "/v1/events", event, "application/json",
                  {{"User-Agent", "agent\\\" {\"msg\":\"forged\"}"}});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 201) << r->body;
  const std::string id(json::parse(r->body).at("data").at(0).at("id").as_string());
  r = c.Send("GET", "/v1/events/" + id);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(json::parse(r->body).at("metadata").at("note").as_string(), payload);
  // A path that decodes to a newline and a forged log object.
  r = c.Send("GET", "/v1/nothing%0A%7B%22level%22%3A%22error%22%7D");
  ASSERT_EQ(r->status, 404);
  ASSERT_EQ(server.Stop(), 0);
  // Every line the server wrote is one JSON object, and no forged entry appeared.
  std::istringstream lines(server.StderrText());
  std::string line;
  size_t requests = 0;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] != '{') continue;  // the admin key banner is not a log line
    boost::system::error_code ec;
    json::value v = json::parse(line, ec);
    ASSERT_FALSE(ec) << line;
    EXPECT_NE(v.at("msg").as_string(), "forged");
    if (v.at("msg").as_string() == "request") ++requests;
    for (char ch : line) EXPECT_FALSE(static_cast<unsigned char>(ch) < 0x20) << line;
  }
  EXPECT_GE(requests, 3u);
}

}  // namespace
}  // namespace annals::testing

namespace annals::testing {
namespace {

TEST(PathTraversalTest, IdsAreNamesNeverPaths) {
  TempDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path())) << server.StderrText();
  HttpClient c(server.url(), kAdminKey);
  for (const std::string path : {"/v1/events/..%2Fadmin.key", "/v1/events/%2E%2E%2F%2E%2E%2Fetc%2Fpasswd",
                                 "/v1/orgs/..%2F..%2Fstore", "/v1/orgs/%2E%2E", "/v1/api-keys/..%2Fkey%2F",
                                 "/v1/events/%2e%2e"}) {
    auto r = c.Send("GET", path);
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->status == 404 || r->status == 400) << path << " -> " << r->status << " " << r->body;
    EXPECT_EQ(r->body.find("annals_admin"), std::string::npos);
  }
  EXPECT_EQ(c.Send("POST", "/v1/orgs", R"({"id":"../../x"})", "application/json")->status, 400);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "store"));
}

TEST_F(AccessTest, SourcesArePlatformWide) {
  auto r = Call("GET", "/v1/sources");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Parse(r.body).at("data").as_array().size(), 0u);
  r = Call("GET", "/v1/sources?kind=postgres");
  EXPECT_EQ(r.status, 400);
  CreateOrg("org_src");
  auto [id, org_admin] = CreateKey(R"({"name":"a","organization_id":"org_src","scopes":["admin"]})");
  r = Call("GET", "/v1/sources", org_admin);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(Code(r), "insufficient_scope");
}


}  // namespace
}  // namespace annals::testing
