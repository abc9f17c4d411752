// Retention end to end: policies, purges of deleted items (backdated events stand in for
// the passing of time), tombstones answering 410, legal holds, resurrection, meta-audit.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText(); }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& key = kAdminKey) {
    HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : "application/json");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ClientResponse{};
  }
  std::string PostChange(const std::string& id, const std::string& op, const std::string& at,
                         const std::string& org = "org_r") {
    std::string changes = op == "create"   ? R"({"op":"create","after":{"v":1}})"
                          : op == "update" ? R"({"op":"update","before":{"v":1},"after":{"v":2}})"
                                           : R"({"op":"delete","before":{"v":2}})";
    auto r = Call("POST", "/v1/events",
                  EventJson(org, "doc." + op + "d", at, "user_1", {{"doc", id}},
                            "\"changes\":" + changes));
    EXPECT_EQ(r.status, 201) << r.body;
    return std::string(json::parse(r.body).at("data").at(0).at("id").as_string());
  }
  std::string Item(const std::string& id) {
    HttpClient c(server_.url(), kAdminKey);
    return "/v1/items/doc/" + c.Escape(id);
  }
  json::value Purge(const std::string& org = "org_r") {
    auto r = Call("POST", "/v1/retention/purge?organization_id=" + org);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  }

  TempDir dir_;
  ServerProcess server_;
};

TEST_F(RetentionTest, PolicyDefaultsUpdatesAndRefusals) {
  PostChange("d1", "create", "2026-01-01T00:00:00Z");
  auto r = Call("GET", "/v1/retention?organization_id=org_r");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value p = json::parse(r.body);
  EXPECT_EQ(p.at("deleted_items_keep_for").as_string(), "180d");
  EXPECT_TRUE(p.at("max_event_age").is_null());
  EXPECT_FALSE(p.at("legal_hold").as_bool());
  EXPECT_TRUE(p.at("updated_at").is_null());

  r = Call("PUT", "/v1/retention?organization_id=org_r",
           R"({"deleted_items_keep_for":"30d","max_event_age":"365d"})");
  ASSERT_EQ(r.status, 200) << r.body;
  p = json::parse(r.body);
  EXPECT_EQ(p.at("deleted_items_keep_for").as_string(), "30d");
  EXPECT_EQ(p.at("max_event_age").as_string(), "365d");
  EXPECT_FALSE(p.at("updated_at").is_null());
  r = Call("PUT", "/v1/retention?organization_id=org_r", R"({"max_event_age":null})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(json::parse(r.body).at("max_event_age").is_null());
  EXPECT_EQ(json::parse(r.body).at("deleted_items_keep_for").as_string(), "30d");

  for (const char* bad : {R"({"deleted_items_keep_for":"30 days"})",
                          R"({"deleted_items_keep_for":"30ms"})",
                          R"({"deleted_items_keep_for":30})", R"({"max_event_age":"0d"})",
                          R"({"max_event_age":"-1d"})", R"({"legal_hold":"yes"})",
                          R"({"colour":"red"})", R"({"organization_id":"org_other"})", "[1]",
                          "{"}) {
    r = Call("PUT", "/v1/retention?organization_id=org_r", bad);
    EXPECT_EQ(r.status, 400) << bad << " -> " << r.body;
  }
  r = Call("GET", "/v1/retention?organization_id=org_r");
  EXPECT_EQ(json::parse(r.body).at("deleted_items_keep_for").as_string(), "30d");  // unchanged
  EXPECT_EQ(Call("GET", "/v1/retention").status, 400);                 // platform key, no org
  EXPECT_EQ(Call("GET", "/v1/retention?organization_id=org_none").status, 404);
  EXPECT_EQ(Call("GET", "/v1/retention?organization_id=org_r&x=1").status, 400);

  // The change is in the organization's own trail.
  r = Call("GET", "/v1/events?organization_id=org_r&action=annals.retention.updated");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body).at("data").as_array().size(), 2u);
}

TEST_F(RetentionTest, DeletedItemsArePurgedAfterTheWindow) {
  const std::string id = "old/one %ü";
  const std::string created = PostChange(id, "create", "2025-01-01T00:00:00Z");
  PostChange(id, "update", "2025-01-02T00:00:00Z");
  const std::string deleted = PostChange(id, "delete", "2025-01-03T00:00:00Z");
  PostChange("recent", "create", "2025-01-01T00:00:00Z");
  PostChange("recent", "delete", "2026-11-28T00:00:00Z");
  PostChange("alive", "create", "2025-01-01T00:00:00Z");

  auto r = Call("GET", Item(id) + "?organization_id=org_r");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("purge_after").as_string(), "2025-07-02T00:00:00.000000Z");

  json::value run = Purge();
  EXPECT_EQ(run.at("items_purged").as_int64(), 1);
  EXPECT_EQ(run.at("events_purged").as_int64(), 3);

  // The item and each of its events answer 410 with the purge time; others are intact.
  r = Call("GET", Item(id) + "?organization_id=org_r");
  EXPECT_EQ(r.status, 410) << r.body;
  json::value err = json::parse(r.body).at("error");
  EXPECT_EQ(err.at("code").as_string(), "item_purged");
  EXPECT_EQ(err.at("purged_at").as_string(), run.at("purged_at").as_string());
  for (const char* suffix : {"/history", "/state?at=2025-01-02T12:00:00Z"}) {
    std::string path = Item(id) + suffix;
    path += path.find('?') == std::string::npos ? "?" : "&";
    EXPECT_EQ(Call("GET", path + "organization_id=org_r").status, 410) << suffix;
  }
  r = Call("GET", "/v1/events/" + created);
  EXPECT_EQ(r.status, 410) << r.body;
  err = json::parse(r.body).at("error");
  EXPECT_EQ(err.at("code").as_string(), "event_purged");
  EXPECT_EQ(err.at("seq").as_int64(), 1);
  EXPECT_EQ(err.at("id").as_string(), created);
  EXPECT_EQ(err.at("commitment").as_string().size(), 64u);  // hex SHA-256 of the purged JSON
  EXPECT_EQ(Call("GET", "/v1/events/" + deleted).status, 410);
  EXPECT_EQ(Call("GET", Item("never") + "?organization_id=org_r").status, 404);
  EXPECT_EQ(Call("GET", Item("recent") + "?organization_id=org_r").status, 200);
  EXPECT_EQ(Call("GET", Item("alive") + "?organization_id=org_r").status, 200);
  r = Call("GET", "/v1/events?organization_id=org_r&action=doc.*&limit=100");
  EXPECT_EQ(json::parse(r.body).at("data").as_array().size(), 3u);

  // The pass is in the organization's trail with its counts.
  r = Call("GET", "/v1/events?organization_id=org_r&action=annals.retention.purged");
  json::array purges = json::parse(r.body).at("data").as_array();
  ASSERT_EQ(purges.size(), 1u);
  EXPECT_EQ(purges[0].at("metadata").at("items_purged").as_int64(), 1);
  EXPECT_EQ(purges[0].at("metadata").at("events_purged").as_int64(), 3);
  EXPECT_EQ(purges[0].at("metadata").at("trigger").as_string(), "request");

  // A purged item that is named again starts a new life.
  PostChange(id, "create", "2026-11-01T00:00:00Z");
  r = Call("GET", Item(id) + "?organization_id=org_r");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("version_count").as_int64(), 1);

  // A second pass finds nothing more.
  run = Purge();
  EXPECT_EQ(run.at("items_purged").as_int64(), 0);
  EXPECT_EQ(run.at("events_purged").as_int64(), 0);
}

TEST_F(RetentionTest, LegalHoldsStopPurges) {
  PostChange("held", "create", "2025-01-01T00:00:00Z");
  PostChange("held", "delete", "2025-01-02T00:00:00Z");
  PostChange("free", "create", "2025-01-01T00:00:00Z");
  PostChange("free", "delete", "2025-01-02T00:00:00Z");

  auto r = Call("PUT", Item("held") + "/hold?organization_id=org_r",
                R"({"legal_hold":true,"reason":"case 42"})");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value view = json::parse(r.body);
  EXPECT_TRUE(view.at("legal_hold").as_bool());
  EXPECT_TRUE(view.at("purge_after").is_null());
  EXPECT_EQ(Call("PUT", Item("nope") + "/hold?organization_id=org_r", R"({"legal_hold":true})")
                .status,
            404);
  for (const char* bad : {R"({})", R"({"legal_hold":1})", R"({"legal_hold":true,"x":1})"}) {
    EXPECT_EQ(Call("PUT", Item("held") + "/hold?organization_id=org_r", bad).status, 400) << bad;
  }

  // An organization-wide hold stops everything.
  ASSERT_EQ(Call("PUT", "/v1/retention?organization_id=org_r", R"({"legal_hold":true})").status,
            200);
  json::value run = Purge();
  EXPECT_TRUE(run.at("skipped_for_legal_hold").as_bool());
  EXPECT_EQ(run.at("items_purged").as_int64(), 0);
  EXPECT_EQ(Call("GET", Item("free") + "?organization_id=org_r").status, 200);

  // Lifted: the free item goes, the held one stays until its own hold is lifted.
  ASSERT_EQ(Call("PUT", "/v1/retention?organization_id=org_r", R"({"legal_hold":false})").status,
            200);
  run = Purge();
  EXPECT_EQ(run.at("items_purged").as_int64(), 1);
  EXPECT_EQ(Call("GET", Item("free") + "?organization_id=org_r").status, 410);
  EXPECT_EQ(Call("GET", Item("held") + "?organization_id=org_r").status, 200);
  ASSERT_EQ(Call("PUT", Item("held") + "/hold?organization_id=org_r", R"({"legal_hold":false})")
                .status,
            200);
  run = Purge();
  EXPECT_EQ(run.at("items_purged").as_int64(), 1);
  EXPECT_EQ(Call("GET", Item("held") + "?organization_id=org_r").status, 410);
}

TEST_F(RetentionTest, ResurrectionStartsANewClock) {
  PostChange("phoenix", "create", "2025-01-01T00:00:00Z");
  PostChange("phoenix", "delete", "2025-01-02T00:00:00Z");
  PostChange("phoenix", "create", "2025-01-03T00:00:00Z");  // alive again
  json::value run = Purge();
  EXPECT_EQ(run.at("items_purged").as_int64(), 0);
  auto r = Call("GET", Item("phoenix") + "?organization_id=org_r");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(json::parse(r.body).at("deleted_at").is_null());
  EXPECT_TRUE(json::parse(r.body).at("purge_after").is_null());
}

TEST_F(RetentionTest, MaxEventAgeAndTenantIsolation) {
  PostChange("a", "create", "2025-01-01T00:00:00Z");
  PostChange("a", "update", "2026-11-01T00:00:00Z");
  PostChange("a", "create", "2025-01-01T00:00:00Z", "org_s");
  ASSERT_EQ(Call("PUT", "/v1/retention?organization_id=org_r", R"({"max_event_age":"90d"})").status,
            200);
  json::value run = Purge();
  EXPECT_EQ(run.at("events_purged").as_int64(), 1);
  EXPECT_EQ(run.at("items_purged").as_int64(), 0);  // its newer event keeps the item
  auto r = Call("GET", Item("a") + "/history?organization_id=org_r");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body).at("data").as_array().size(), 1u);
  r = Call("GET", Item("a") + "/history?organization_id=org_s");
  EXPECT_EQ(json::parse(r.body).at("data").as_array().size(), 1u);

  // An organization key sees and purges only its own organization.
  r = Call("POST", "/v1/api-keys",
           R"({"name":"s admin","organization_id":"org_s","scopes":["admin","events:read"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string key(json::parse(r.body).at("key").as_string());
  EXPECT_EQ(Call("GET", "/v1/retention?organization_id=org_r", "", key).status, 404);
  EXPECT_EQ(Call("POST", "/v1/retention/purge?organization_id=org_r", "", key).status, 404);
  EXPECT_EQ(Call("GET", "/v1/retention", "", key).status, 200);
  r = Call("POST", "/v1/api-keys",
           R"({"name":"s reader","organization_id":"org_s","scopes":["events:read"]})");
  const std::string reader(json::parse(r.body).at("key").as_string());
  EXPECT_EQ(Call("PUT", "/v1/retention", R"({"legal_hold":true})", reader).status, 403);
}


TEST_F(RetentionTest, CommandLine) {
  PostChange("c/1", "create", "2025-01-01T00:00:00Z");
  PostChange("c/1", "delete", "2025-01-02T00:00:00Z");
  const std::map<std::string, std::string> env = {{"ANNALS_SERVER", server_.url()},
                                                  {"ANNALS_KEY", kAdminKey}};
  auto r = RunCommand({ANNALS_BINARY, "retention", "--org", "org_r"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("180d"), std::string::npos) << r.out;
  r = RunCommand({ANNALS_BINARY, "retention", "set", "--org", "org_r", "--deleted-items-keep-for",
                  "30d", "--max-event-age", "none", "--json"},
                 env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out).at("deleted_items_keep_for").as_string(), "30d");
  r = RunCommand({ANNALS_BINARY, "retention", "set", "--org", "org_r"}, env);
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({ANNALS_BINARY, "retention", "set", "--org", "org_r", "--deleted-items-keep-for",
                  "soon"},
                 env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("deleted_items_keep_for"), std::string::npos) << r.err;
  r = RunCommand({ANNALS_BINARY, "hold", "doc", "c/1", "--org", "org_r", "--reason", "audit"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("legal hold on"), std::string::npos) << r.out;
  r = RunCommand({ANNALS_BINARY, "retention", "purge", "--org", "org_r"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("purged 0 items"), std::string::npos) << r.out;
  r = RunCommand({ANNALS_BINARY, "hold", "doc", "c/1", "--org", "org_r", "--lift"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = RunCommand({ANNALS_BINARY, "retention", "purge", "--org", "org_r"}, env);
  // Its two changes and the two hold events, which name the item and so are in its history.
  EXPECT_NE(r.out.find("purged 1 items and 4 events"), std::string::npos) << r.out;
  r = RunCommand({ANNALS_BINARY, "history", "doc", "c/1", "--org", "org_r"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("purged"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace annals::testing
