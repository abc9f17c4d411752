// Exports end to end: POST /v1/exports, polling to ready, signed downloads (and their
// refusal when tampered with or expired), formats, gzip, filters, tenancy, restarts and the
// meta-audit trail.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <thread>

#include "../gunzip.h"
#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

class ExportsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText(); }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& key = kAdminKey) {
    HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : "application/json");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ClientResponse{};
  }

  void Ingest(const std::string& org, int n, const std::string& extra = "") {
    std::string batch = "{\"events\":[";
    for (int i = 0; i < n; ++i) {
      if (i) batch += ',';
      char at[64];
      std::snprintf(at, sizeof at, "2026-03-01T00:%02d:%02dZ", (i / 60) % 60, i % 60);
      batch += EventJson(org, i % 2 ? "doc.updated" : "doc.created", at,
                         "user_" + std::to_string(i % 3), {{"doc", "d" + std::to_string(i)}},
                         extra);
    }
    batch += "]}";
    auto r = Call("POST", "/v1/events", batch);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  // Polls until the export leaves pending/running.
  json::object WaitReady(const std::string& org, const std::string& id) {
    for (int i = 0; i < 500; ++i) {
      auto r = Call("GET", "/v1/exports/" + id + "?organization_id=" + org);
      EXPECT_EQ(r.status, 200) << r.body;
      json::object o = json::parse(r.body).as_object();
      const std::string state(o.at("state").as_string());
      if (state != "pending" && state != "running") return o;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ADD_FAILURE() << "export " << id << " never finished";
    return {};
  }

  // GET of an absolute URL the server handed out, without credentials.
  ClientResponse Fetch(const std::string& url) {
    EXPECT_EQ(url.rfind(server_.url(), 0), 0u) << url;
    HttpClient anonymous(server_.url(), "");
    auto r = anonymous.Send("GET", url.substr(server_.url().size()), "", "");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ClientResponse{};
  }

  std::string Create(const std::string& body, int expect = 201) {
    auto r = Call("POST", "/v1/exports", body);
    EXPECT_EQ(r.status, expect) << r.body;
    if (r.status != 201) return "";
    return std::string(json::parse(r.body).at("id").as_string());
  }

  TempDir dir_;
  ServerProcess server_;
};

std::vector<std::string> Lines(const std::string& text, const std::string& sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(sep, start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + sep.size();
  }
  return out;
}

using ::annals::testing::Gunzip;

TEST_F(ExportsTest, CsvExportIsDownloadedThroughItsSignedUrl) {
  Ingest("org_x", 50);
  Ingest("org_other", 5);
  const std::string id = Create(R"({"organization_id":"org_x","format":"csv"})");
  json::object done = WaitReady("org_x", id);
  ASSERT_EQ(done.at("state").as_string(), "ready") << json::serialize(done);
  EXPECT_EQ(done.at("rows_written").as_int64(), 50);
  EXPECT_EQ(done.at("total_estimate").as_int64(), 50);
  EXPECT_EQ(done.at("format").as_string(), "csv");
  EXPECT_FALSE(done.at("gzip").as_bool());
  EXPECT_GT(done.at("bytes").as_int64(), 0);
  const std::string url(done.at("url").as_string());
  auto file = Fetch(url);
  ASSERT_EQ(file.status, 200) << file.body;
  EXPECT_EQ(static_cast<int64_t>(file.body.size()), done.at("bytes").as_int64());
  std::vector<std::string> rows = Lines(file.body, "\r\n");
  ASSERT_EQ(rows.size(), 51u);
  EXPECT_EQ(rows[0].rfind("id,seq,organization_id,occurred_at,received_at,action,", 0), 0u);
  // Oldest first; only org_x.
  EXPECT_NE(rows[1].find(",1,org_x,2026-03-01T00:00:00.000000Z,"), std::string::npos) << rows[1];
  EXPECT_NE(rows[50].find(",50,org_x,2026-03-01T00:00:49.000000Z,"), std::string::npos);
  for (const auto& row : rows) EXPECT_EQ(row.find("org_other"), std::string::npos);

  // Every fetch of the export hands out a fresh URL; old ones keep working until expiry.
  auto again = Call("GET", "/v1/exports/" + id + "?organization_id=org_x");
  EXPECT_EQ(Fetch(std::string(json::parse(again.body).at("url").as_string())).status, 200);

  // Tampered links are refused with 403 and change nothing.
  std::string tampered = url;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_EQ(Fetch(tampered).status, 403);
  std::string other_org = url;
  other_org.replace(other_org.find("organization_id=org_x"), 21, "organization_id=org_other");
  EXPECT_EQ(Fetch(other_org).status, 403);
  std::string later = url;
  const size_t e = later.find("expires=") + 8;
  later.replace(e, later.find('&', e) - e, "99999999999");
  EXPECT_EQ(Fetch(later).status, 403);
  std::string expired = url;
  expired.replace(e, expired.find('&', e) - e, "1000");
  EXPECT_EQ(Fetch(expired).status, 403);
  EXPECT_EQ(Fetch(url + "&x=1").status, 403);

  // Creation and downloads are in the organization's trail.
  auto trail = Call("GET", "/v1/events?organization_id=org_x&action=annals.export.*&limit=100");
  ASSERT_EQ(trail.status, 200) << trail.body;
  int created = 0, downloaded = 0;
  const json::value trail_json = json::parse(trail.body);
  for (const auto& ev : trail_json.at("data").as_array()) {
    if (ev.at("action") == "annals.export.created") ++created;
    if (ev.at("action") == "annals.export.downloaded") ++downloaded;
  }
  EXPECT_EQ(created, 1);
  EXPECT_EQ(downloaded, 2);
}

// Large exports are read, encoded and compressed in batches on several threads: the file
// is still one gzip member that the system's gzip reads back as the plain export, row for row.
TEST_F(ExportsTest, LargeGzipExportIsOneMemberThatGzipReads) {
  for (int i = 0; i < 3; ++i) Ingest("org_big", 1000);
  // The action filter leaves out the trail of the exports themselves.
  const std::string plain_id =
      Create(R"({"organization_id":"org_big","format":"csv","action":"doc.*"})");
  const std::string gzip_id =
      Create(R"({"organization_id":"org_big","format":"csv","gzip":true,"action":"doc.*"})");
  json::object plain = WaitReady("org_big", plain_id);
  json::object gz = WaitReady("org_big", gzip_id);
  ASSERT_EQ(plain.at("state").as_string(), "ready") << json::serialize(plain);
  ASSERT_EQ(gz.at("state").as_string(), "ready") << json::serialize(gz);
  EXPECT_EQ(gz.at("rows_written").as_int64(), 3000);
  auto plain_file = Fetch(std::string(plain.at("url").as_string()));
  auto gzip_file = Fetch(std::string(gz.at("url").as_string()));
  ASSERT_EQ(plain_file.status, 200);
  ASSERT_EQ(gzip_file.status, 200);
  EXPECT_EQ(Lines(plain_file.body, "\r\n").size(), 3001u);
  EXPECT_LT(gzip_file.body.size(), plain_file.body.size() / 3);

  const std::string path = (dir_.path() / "export.csv.gz").string();
  std::ofstream(path, std::ios::binary) << gzip_file.body;
  CommandResult test = RunCommand({"/usr/bin/gzip", "-t", path});
  EXPECT_EQ(test.exit_code, 0) << test.err;
  CommandResult unzipped = RunCommand({"/usr/bin/gzip", "-dc", path});
  ASSERT_EQ(unzipped.exit_code, 0) << unzipped.err;
  // (Compared as booleans: a difference would print megabytes.)
  EXPECT_EQ(unzipped.out.size(), plain_file.body.size());
  EXPECT_TRUE(unzipped.out == plain_file.body);
  EXPECT_TRUE(Gunzip(gzip_file.body) == plain_file.body);
}

TEST_F(ExportsTest, FormatsGzipAndFilters) {
  Ingest("org_f", 30);
  // NDJSON with an action filter: exactly the matching stored events, byte for byte.
  std::string id = Create(R"({"organization_id":"org_f","format":"ndjson","action":"doc.created"})");
  json::object done = WaitReady("org_f", id);
  ASSERT_EQ(done.at("state").as_string(), "ready");
  EXPECT_EQ(done.at("rows_written").as_int64(), 15);
  auto file = Fetch(std::string(done.at("url").as_string()));
  std::vector<std::string> lines = Lines(file.body, "\n");
  ASSERT_EQ(lines.size(), 15u);
  for (const auto& line : lines) {
    json::value ev = json::parse(line);
    EXPECT_EQ(ev.at("action"), "doc.created");
    auto stored = Call("GET", "/v1/events/" + std::string(ev.at("id").as_string()));
    EXPECT_EQ(stored.body, line);
  }

  // JSON + gzip with a time range and an actor list.
  id = Create(R"({"organization_id":"org_f","format":"json","gzip":true,
                  "from":"2026-03-01T00:00:10Z","to":"2026-03-01T00:00:20Z",
                  "actor_id":["user_0","user_1"]})");
  done = WaitReady("org_f", id);
  ASSERT_EQ(done.at("state").as_string(), "ready");
  file = Fetch(std::string(done.at("url").as_string()));
  ASSERT_EQ(file.status, 200);
  json::array all = json::parse(Gunzip(file.body)).as_array();
  EXPECT_EQ(static_cast<int64_t>(all.size()), done.at("rows_written").as_int64());
  EXPECT_EQ(all.size(), 7u);  // seconds 10..19 whose i % 3 != 2
  for (const auto& ev : all) EXPECT_NE(ev.at("actor").at("id"), "user_2");

  // A target type the organization never had is refused (a typo, not an empty file).
  auto typo = Call("POST", "/v1/exports", R"({"organization_id":"org_f","target_type":["doc","dco"]})");
  EXPECT_EQ(typo.status, 400) << typo.body;
  EXPECT_NE(typo.body.find(R"("path":"/target_type/1")"), std::string::npos) << typo.body;
  EXPECT_NE(typo.body.find("unknown_target_type"), std::string::npos) << typo.body;

  // Nothing matches: still a valid, empty file.
  id = Create(R"({"organization_id":"org_f","format":"json","target_id":"nothing"})");
  done = WaitReady("org_f", id);
  EXPECT_EQ(done.at("rows_written").as_int64(), 0);
  EXPECT_EQ(json::parse(Fetch(std::string(done.at("url").as_string())).body).as_array().size(),
            0u);

  // The list shows them newest first.
  auto list = Call("GET", "/v1/exports?organization_id=org_f&limit=2");
  ASSERT_EQ(list.status, 200) << list.body;
  json::value l = json::parse(list.body);
  ASSERT_EQ(l.at("data").as_array().size(), 2u);
  EXPECT_EQ(l.at("data").at(0).at("id").as_string(), id);
  ASSERT_TRUE(l.at("list_metadata").at("after").is_string());
  auto next = Call("GET", "/v1/exports?organization_id=org_f&limit=2&after=" +
                              std::string(l.at("list_metadata").at("after").as_string()));
  EXPECT_EQ(json::parse(next.body).at("data").as_array().size(), 1u);
}

TEST_F(ExportsTest, BadRequestsChangeNothing) {
  Ingest("org_b", 2);
  struct Case {
    std::string body;
    std::string path;
  } cases[] = {
      {R"({"organization_id":"org_b","format":"xml"})", "/format"},
      {R"({"organization_id":"org_b","from":"2026-03-02T00:00:00Z","to":"2026-03-01T00:00:00Z"})",
       "/to"},
      {R"({"organization_id":"org_b","from":"yesterday"})", "/from"},
      {R"({"organization_id":"org_b","action":"Bad Action"})", "/action"},
      {R"({"organization_id":"org_b","action":[]})", "/action"},
      {R"({"organization_id":"org_b","actor_id":[1]})", "/actor_id/0"},
      {R"({"organization_id":"org_b","gzip":"yes"})", "/gzip"},
      {R"({"organization_id":"org_b","colour":"red"})", "/colour"},
  };
  for (const Case& c : cases) {
    auto r = Call("POST", "/v1/exports", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find("\"path\":\"" + c.path + "\""), std::string::npos) << r.body;
  }
  EXPECT_EQ(Call("POST", "/v1/exports", "not json").status, 400);
  EXPECT_EQ(Call("POST", "/v1/exports", R"({"organization_id":"org_nope"})").status, 404);
  auto list = Call("GET", "/v1/exports?organization_id=org_b");
  EXPECT_EQ(json::parse(list.body).at("data").as_array().size(), 0u);
  EXPECT_EQ(Call("GET", "/v1/exports/exp_nope?organization_id=org_b").status, 404);
}

TEST_F(ExportsTest, OrganizationKeysSeeOnlyTheirOwnExports) {
  Ingest("org_a", 3);
  Ingest("org_c", 3);
  auto key = Call("POST", "/v1/api-keys",
                  R"({"name":"a reader","organization_id":"org_a","scopes":["events:read"]})");
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string a_key(json::parse(key.body).at("key").as_string());
  const std::string theirs = Create(R"({"organization_id":"org_c"})");
  // An organization key implies its organization and cannot name another.
  auto mine = Call("POST", "/v1/exports", R"({"format":"ndjson"})", a_key);
  ASSERT_EQ(mine.status, 201) << mine.body;
  EXPECT_EQ(json::parse(mine.body).at("organization_id"), "org_a");
  EXPECT_EQ(Call("POST", "/v1/exports", R"({"organization_id":"org_c"})", a_key).status, 404);
  EXPECT_EQ(Call("GET", "/v1/exports/" + theirs, "", a_key).status, 404);
  EXPECT_EQ(Call("GET", "/v1/exports/" + theirs + "?organization_id=org_c", "", a_key).status,
            404);
  auto list = Call("GET", "/v1/exports", "", a_key);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body).at("data").as_array().size(), 1u);
}

TEST_F(ExportsTest, FinishedExportsSurviveARestart) {
  Ingest("org_r", 20);
  const std::string id = Create(R"({"organization_id":"org_r","format":"csv"})");
  ASSERT_EQ(WaitReady("org_r", id).at("state").as_string(), "ready");
  ASSERT_EQ(server_.Stop(), 0);
  ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText();
  json::object done = WaitReady("org_r", id);
  EXPECT_EQ(done.at("state").as_string(), "ready");
  auto file = Fetch(std::string(done.at("url").as_string()));
  EXPECT_EQ(file.status, 200);
  EXPECT_EQ(Lines(file.body, "\r\n").size(), 21u);
}

TEST_F(ExportsTest, CliExportsToAFileWithASummary) {
  Ingest("org_cli", 40);
  const std::string out = (dir_.path() / "out.ndjson").string();
  CommandResult r = RunCommand({ANNALS_BINARY, "export", "--server", server_.url(), "--key",
                                kAdminKey, "--org", "org_cli", "--format", "ndjson",
                                "--action", "doc.updated", "-o", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("exported 20 events of org_cli to " + out), std::string::npos) << r.err;
  std::ifstream in(out);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(Lines(text, "\n").size(), 20u);
  EXPECT_FALSE(std::filesystem::exists(out + ".part"));

  // Gzip to stdout.
  r = RunCommand({ANNALS_BINARY, "export", "--server", server_.url(), "--key", kAdminKey,
                  "--org", "org_cli", "--gzip", "-q", "-o", "-"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  // The header, 40 events and the trail of the first export (created, downloaded).
  EXPECT_EQ(Lines(Gunzip(r.out), "\r\n").size(), 43u);

  // Usage errors exit 2; a server-side refusal exits 1 with one sentence.
  r = RunCommand({ANNALS_BINARY, "export", "--server", server_.url(), "--key", kAdminKey,
                  "--org", "org_cli", "--format", "xml", "-o", out});
  EXPECT_EQ(r.exit_code, 2);
  r = RunCommand({ANNALS_BINARY, "export", "--server", server_.url(), "--key", kAdminKey,
                  "--org", "org_cli", "--from", "not a time", "-o", out});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("from"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace annals::testing
