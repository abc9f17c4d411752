// Item lifecycle and history end to end: GET /v1/items/{type}/{id} and .../history with
// per-change JSON Patches, paging, ids with any characters, tenants.
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>

#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

class ItemsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText(); }
  void Post(const std::string& event) {
    auto r = server_.Client().Send("POST", "/v1/events", event, "application/json");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
  }
  std::string Event(const std::string& id, const std::string& action, const std::string& at,
                    const std::string& changes) {
    return EventJson("org_a", action, at, "user_7", {{"finding", id}},
                     changes.empty() ? "" : "\"changes\":" + changes);
  }
  ClientResponse Get(const std::string& path, const std::string& key = kAdminKey) {
    HttpClient c(server_.url(), key);
    auto r = c.Send("GET", path);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ClientResponse{};
  }
  std::string Path(const std::string& id, const std::string& suffix = "") {
    HttpClient c(server_.url(), kAdminKey);
    return "/v1/items/finding/" + c.Escape(id) + suffix;
  }
  TempDir dir_;
  ServerProcess server_;
};

TEST_F(ItemsTest, LifecycleAndHistoryWithPatches) {
  const std::string id = "F-1/a %b ü";  // any characters, URL-encoded in the path
  Post(Event(id, "finding.created", "2026-11-01T10:00:00Z",
             R"({"op":"create","after":{"state":"open","severity":"high"}})"));
  Post(Event(id, "finding.commented", "2026-11-01T11:00:00Z", ""));
  Post(Event(id, "finding.updated", "2026-11-01T12:00:00Z",
             R"({"op":"update","before":{"state":"open","severity":"high"},"after":{"state":"closed","severity":"high"}})"));
  Post(Event(id, "finding.deleted", "2026-11-01T13:00:00Z",
             R"({"op":"delete","before":{"state":"closed","severity":"high"}})"));
  Post(Event("F-2", "finding.created", "2026-11-01T10:30:00Z", R"({"op":"create","after":{"x":1}})"));

  auto r = Get(Path(id) + "?organization_id=org_a");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value item = json::parse(r.body);
  EXPECT_EQ(item.at("id").as_string(), id);
  EXPECT_EQ(item.at("type").as_string(), "finding");
  EXPECT_EQ(item.at("created_at").as_string(), "2026-11-01T10:00:00.000000Z");
  EXPECT_EQ(item.at("updated_at").as_string(), "2026-11-01T13:00:00.000000Z");
  EXPECT_EQ(item.at("deleted_at").as_string(), "2026-11-01T13:00:00.000000Z");
  EXPECT_EQ(item.at("version_count").as_int64(), 4);
  EXPECT_EQ(item.at("legal_hold").as_bool(), false);

  r = Get(Path(id, "/history") + "?organization_id=org_a");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value page = json::parse(r.body);
  const auto& data = page.at("data").as_array();
  ASSERT_EQ(data.size(), 4u);
  EXPECT_EQ(data[0].at("op").as_string(), "create");
  EXPECT_EQ(json::serialize(data[0].at("patch")),
            R"([{"op":"add","path":"/severity","value":"high"},{"op":"add","path":"/state","value":"open"}])");
  EXPECT_TRUE(data[1].at("op").is_null());
  EXPECT_TRUE(data[1].at("patch").is_null());
  EXPECT_EQ(data[1].at("event").at("action").as_string(), "finding.commented");
  EXPECT_EQ(json::serialize(data[2].at("patch")), R"([{"op":"replace","path":"/state","value":"closed"}])");
  EXPECT_EQ(json::serialize(data[3].at("patch")),
            R"([{"op":"remove","path":"/severity"},{"op":"remove","path":"/state"}])");
  // The event is the stored event, byte for byte.
  const std::string first_id(data[0].at("event").at("id").as_string());
  EXPECT_EQ(json::serialize(data[0].at("event")),
            json::serialize(json::parse(Get("/v1/events/" + first_id).body)));

  // Paging: a page that starts mid-history still patches from the state before it.
  r = Get(Path(id, "/history") + "?organization_id=org_a&limit=2");
  json::value p1 = json::parse(r.body);
  ASSERT_EQ(p1.at("data").as_array().size(), 2u);
  const std::string after(p1.at("list_metadata").at("after").as_string());
  r = Get(Path(id, "/history") + "?organization_id=org_a&limit=2&after=" + after);
  json::value p2 = json::parse(r.body);
  ASSERT_EQ(p2.at("data").as_array().size(), 2u);
  EXPECT_EQ(json::serialize(p2.at("data").at(0).at("patch")),
            R"([{"op":"replace","path":"/state","value":"closed"}])");
  EXPECT_TRUE(p2.at("list_metadata").at("after").is_null());
  const std::string before(p2.at("list_metadata").at("before").as_string());
  r = Get(Path(id, "/history") + "?organization_id=org_a&limit=2&before=" + before);
  EXPECT_EQ(json::serialize(json::parse(r.body).at("data")), json::serialize(p1.at("data")));
}

TEST_F(ItemsTest, AHistoryThatStartsMidLifeUsesTheFirstChangesBeforeImage) {
  Post(Event("F-5", "finding.updated", "2026-11-01T10:00:00Z",
             R"({"op":"update","before":{"state":"open","n":1},"after":{"state":"closed","n":1}})"));
  auto r = Get(Path("F-5", "/history") + "?organization_id=org_a");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::serialize(json::parse(r.body).at("data").at(0).at("patch")),
            R"([{"op":"replace","path":"/state","value":"closed"}])");
}

TEST_F(ItemsTest, UnknownItemsBadQueriesAndOtherTenants) {
  Post(Event("F-1", "finding.created", "2026-11-01T10:00:00Z", R"({"op":"create","after":{"a":1}})"));
  auto r = Get(Path("F-404") + "?organization_id=org_a");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("item_not_found"), std::string::npos);
  EXPECT_EQ(Get(Path("F-404", "/history") + "?organization_id=org_a").status, 404);
  EXPECT_EQ(Get(Path("F-1")).status, 400);  // a platform key must name the organization
  EXPECT_EQ(Get(Path("F-1") + "?organization_id=org_zzz").status, 404);
  EXPECT_EQ(Get(Path("F-1", "/history") + "?organization_id=org_a&action=x").status, 400);
  EXPECT_EQ(Get(Path("F-1", "/history") + "?organization_id=org_a&after=bad").status, 400);
  auto org_b = server_.Client().Send("POST", "/v1/orgs", R"({"id":"org_b"})", "application/json");
  ASSERT_EQ(org_b->status, 201);
  auto key = server_.Client().Send("POST", "/v1/api-keys",
                                   R"({"name":"b","organization_id":"org_b","scopes":["events:read"]})",
                                   "application/json");
  const std::string token(json::parse(key->body).at("key").as_string());
  EXPECT_EQ(Get(Path("F-1") + "?organization_id=org_a", token).status, 404);
  EXPECT_EQ(Get(Path("F-1"), token).status, 404);  // org_b has no such item
  EXPECT_EQ(Get(Path("F-1", "/history"), token).status, 404);
}

TEST_F(ItemsTest, StateAtAnInstantAndDiffBetweenVersions) {
  auto post = [&](const std::string& event) -> int64_t {
    auto r = server_.Client().Send("POST", "/v1/events", event, "application/json");
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body).at("data").at(0).at("seq").as_int64();
  };
  const int64_t created = post(Event("F-1", "finding.created", "2026-11-01T10:00:00Z",
                                     R"({"op":"create","after":{"state":"open","severity":"high"}})"));
  const int64_t commented = post(Event("F-1", "finding.commented", "2026-11-01T11:00:00Z", ""));
  const int64_t updated = post(Event("F-1", "finding.updated", "2026-11-01T12:00:00Z",
                                     R"({"op":"update","after":{"state":"closed","severity":"high"}})"));
  const int64_t deleted = post(Event("F-1", "finding.deleted", "2026-11-01T13:00:00Z",
                                     R"({"op":"delete","before":{"state":"closed","severity":"high"}})"));
  const int64_t other = post(Event("F-9", "finding.created", "2026-11-01T10:00:00Z", R"({"op":"create","after":{}})"));
  post(Event("F-3", "finding.viewed", "2026-11-01T10:00:00Z", ""));

  auto state = [&](const std::string& id, const std::string& at) {
    return Get(Path(id, "/state") + "?organization_id=org_a&at=" + at);
  };
  auto r = state("F-1", "2026-11-01T09:00:00Z");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("did not exist yet"), std::string::npos) << r.body;
  r = state("F-1", "2026-11-01T10:30:00Z");
  ASSERT_EQ(r.status, 200) << r.body;
  json::value v = json::parse(r.body);
  EXPECT_EQ(json::serialize(v.at("state")), R"({"severity":"high","state":"open"})");
  EXPECT_EQ(v.at("seq").as_int64(), created);
  EXPECT_TRUE(v.at("deleted_at").is_null());
  EXPECT_EQ(json::serialize(json::parse(state("F-1", "2026-11-01T11:30:00Z").body).at("state")),
            R"({"severity":"high","state":"open"})");  // a comment changes nothing
  v = json::parse(state("F-1", "2026-11-01T12:00:00Z").body);  // the instant itself counts
  EXPECT_EQ(v.at("state").at("state").as_string(), "closed");
  EXPECT_EQ(v.at("seq").as_int64(), updated);
  r = state("F-1", "2026-11-02T00:00:00Z");
  v = json::parse(r.body);
  EXPECT_EQ(json::serialize(v.at("state")), R"({"severity":"high","state":"closed"})");
  EXPECT_EQ(v.at("deleted_at").as_string(), "2026-11-01T13:00:00.000000Z");
  EXPECT_EQ(Get(Path("F-1", "/state") + "?organization_id=org_a").status, 200);  // default: now
  r = state("F-3", "2026-11-02T00:00:00Z");
  EXPECT_EQ(r.status, 404);
  EXPECT_NE(r.body.find("no_state"), std::string::npos) << r.body;
  EXPECT_EQ(state("F-1", "yesterday").status, 400);
  EXPECT_EQ(Get(Path("F-1", "/state") + "?organization_id=org_a&when=now").status, 400);

  auto diff = [&](int64_t from, int64_t to) {
    return Get(Path("F-1", "/diff") + "?organization_id=org_a&from_seq=" + std::to_string(from) +
               "&to_seq=" + std::to_string(to));
  };
  r = diff(created, updated);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::serialize(json::parse(r.body).at("patch")),
            R"([{"op":"replace","path":"/state","value":"closed"}])");
  EXPECT_EQ(json::serialize(json::parse(diff(commented, updated).body).at("patch")),
            R"([{"op":"replace","path":"/state","value":"closed"}])");
  EXPECT_EQ(json::serialize(json::parse(diff(updated, created).body).at("patch")),
            R"([{"op":"replace","path":"/state","value":"open"}])");
  EXPECT_EQ(json::serialize(json::parse(diff(updated, deleted).body).at("patch")),
            R"([{"op":"remove","path":"/severity"},{"op":"remove","path":"/state"}])");
  EXPECT_EQ(diff(created, other).status, 404);  // that event does not name F-1
  EXPECT_EQ(diff(created, 999999).status, 404);
  EXPECT_EQ(Get(Path("F-1", "/diff") + "?organization_id=org_a&from_seq=1").status, 400);
  EXPECT_EQ(Get(Path("F-1", "/diff") + "?organization_id=org_a&from_seq=x&to_seq=2").status, 400);
}

TEST_F(ItemsTest, HistoryCommandPrintsAReadableTimeline) {
  Post(Event("F 1", "finding.created", "2026-11-01T10:00:00Z",
             R"({"op":"create","after":{"state":"open","severity":"high"}})"));
  Post(Event("F 1", "finding.commented", "2026-11-01T11:00:00Z", ""));
  Post(Event("F 1", "finding.updated", "2026-11-01T12:00:00Z",
             R"({"op":"update","after":{"state":"closed","severity":"high"}})"));
  const std::map<std::string, std::string> env = {{"ANNALS_SERVER", server_.url()},
                                                  {"ANNALS_KEY", kAdminKey}};
  CommandResult r = RunCommand({"annals", "history", "finding", "F 1", "--org", "org_a"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "2026-11-01T10:00:00Z  #1  finding.created  by user:user_7  [create]\n"
            "    + /severity = \"high\"\n"
            "    + /state = \"open\"\n"
            "2026-11-01T11:00:00Z  #2  finding.commented  by user:user_7\n"
            "2026-11-01T12:00:00Z  #3  finding.updated  by user:user_7  [update]\n"
            "    ~ /state = \"closed\"\n");
  r = RunCommand({"annals", "history", "finding", "F 1", "--org", "org_a", "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 3);
  r = RunCommand({"annals", "history", "finding", "nope", "--org", "org_a"}, env);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no item"), std::string::npos) << r.err;
  EXPECT_EQ(RunCommand({"annals", "history", "finding"}, env).exit_code, 2);
}

}  // namespace
}  // namespace annals::testing
