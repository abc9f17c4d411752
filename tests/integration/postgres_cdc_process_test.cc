// The PostgreSQL source in the real server process, configured with [[sources.postgres]]:
// annals is killed with SIGKILL while a workload commits to PostgreSQL, three times over;
// after a restart every change is stored exactly once and in commit order per item, and
// the initial snapshot (taken while the workload runs) meets the stream without a gap.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <fstream>
#include <map>
#include <random>
#include <thread>

#include "harness.h"
#include "pg_server.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

constexpr int kItems = 20;

std::string ConfigFile(const std::filesystem::path& dir, const std::string& dsn,
                       const std::string& slot) {
  const auto path = dir / "annals.toml";
  std::ofstream(path) << "[[sources.postgres]]\n"
                         "name = \"app\"\n"
                         "dsn = \"" << dsn << "\"\n"
                         "publication = \"pub\"\n"
                         "slot = \"" << slot << "\"\n"
                         "organization_column = \"org\"\n"
                         "snapshot = \"initial\"\n"
                         "[[sources.postgres.tables]]\n"
                         "name = \"public.counters\"\n"
                         "target_type = \"counter\"\n";
  return path.string();
}

// The source's entry of GET /v1/sources ({} when unavailable).
json::object SourceEntry(HttpClient& http) {
  auto r = http.Send("GET", "/v1/sources");
  if (!r.ok() || r->status != 200) return {};
  const json::value body = json::parse(r->body);
  for (const auto& s : body.at("data").as_array()) {
    if (s.at("name") == "app") return s.as_object();
  }
  return {};
}

bool WaitForStreaming(HttpClient& http) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  while (std::chrono::steady_clock::now() < deadline) {
    json::object s = SourceEntry(http);
    if (s.contains("state") && s.at("state") == "streaming") return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// Every event of one item, oldest first.
std::vector<json::object> History(HttpClient& http, const std::string& org, int id) {
  std::vector<json::object> out;
  std::string after;
  for (;;) {
    auto r = http.Send("GET", "/v1/events?order=asc&limit=1000&organization_id=" + org +
                                  "&target_type=counter&target_id=" + std::to_string(id) +
                                  (after.empty() ? "" : "&after=" + after));
    if (!r.ok() || r->status != 200) {
      ADD_FAILURE() << "GET /v1/events failed: " << (r.ok() ? r->body : r.status().message());
      return out;
    }
    const json::value v = json::parse(r->body);
    for (const auto& e : v.at("data").as_array()) out.push_back(e.as_object());
    const auto& a = v.at("list_metadata").at("after");
    if (!a.is_string()) break;
    after = std::string(a.as_string());
  }
  return out;
}

std::string OrgOf(int id) { return id % 2 == 0 ? "org_even" : "org_odd"; }

TEST(PostgresCdcProcessTest, KilledMidStreamEveryChangeIsStoredOnceInCommitOrder) {
  std::string why;
  PgServer* pg = PgServer::Get(&why);
  if (pg == nullptr) GTEST_SKIP() << why;
  const std::string database = pg->CreateDatabase();
  PgClient db(pg->Dsn(database));
  db.Query("CREATE TABLE counters (id int PRIMARY KEY, org text NOT NULL, n int NOT NULL);"
           "ALTER TABLE counters REPLICA IDENTITY FULL;"
           "CREATE PUBLICATION pub FOR TABLE counters;");
  for (int id = 1; id <= kItems; ++id) {
    db.Query("INSERT INTO counters VALUES (" + std::to_string(id) + ", '" + OrgOf(id) + "', 0)");
  }
  TempDir dir;
  const std::string config = ConfigFile(dir.path(), pg->Dsn(database), "slot_" + database);

  // The workload: transactions of one to three increments, until told to stop.
  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    PgClient w(pg->Dsn(database));
    std::mt19937 rng(7);
    std::uniform_int_distribution<int> item(1, kItems), count(1, 3);
    while (!stop.load()) {
      std::string sql = "BEGIN;";
      for (int k = count(rng); k > 0; --k) {
        sql += "UPDATE counters SET n = n + 1 WHERE id = " + std::to_string(item(rng)) + ";";
      }
      w.Query(sql + "COMMIT;");
      commits.fetch_add(1);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });

  std::random_device rd;
  const unsigned seed = rd();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);
  for (int round = 0; round < 3; ++round) {
    ServerProcess server;
    ASSERT_TRUE(server.Start(dir.path(), {"--config", config})) << server.StderrText();
    HttpClient http(server.url(), kAdminKey);
    if (round == 0) {
      // Let the first start finish its snapshot (a start killed during the snapshot takes
      // it again, which records rows changed in between twice).
      ASSERT_TRUE(WaitForStreaming(http)) << server.StderrText();
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(300, 1500)(rng)));
    server.Kill();
  }
  stop = true;
  writer.join();
  ASSERT_GT(commits.load(), 0);

  std::map<int, int64_t> final_n;
  for (const auto& row : db.Query("SELECT id, n FROM counters")) {
    final_n[std::stoi(row[0])] = std::stoll(row[1]);
  }
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path(), {"--config", config})) << server.StderrText();
  HttpClient http(server.url(), kAdminKey);
  ASSERT_TRUE(WaitForStreaming(http)) << server.StderrText();
  // Wait until the last change of every item is stored.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  for (int id = 1; id <= kItems; ++id) {
    for (;;) {
      std::vector<json::object> h = History(http, OrgOf(id), id);
      if (!h.empty() && h.back().at("changes").at("after").at("n").as_int64() == final_n[id]) break;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "item " << id << " did not reach n = " << final_n[id] << "\n" << server.StderrText();
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  for (int id = 1; id <= kItems; ++id) {
    SCOPED_TRACE("item " + std::to_string(id));
    std::vector<json::object> h = History(http, OrgOf(id), id);
    ASSERT_FALSE(h.empty());
    // The workload ran while the snapshot was taken: the snapshot holds the row as of the
    // slot's starting point, and the stream continues exactly from there.
    EXPECT_EQ(h[0].at("action"), "counter.snapshotted");
    const int64_t first = h[0].at("changes").at("after").at("n").as_int64();
    ASSERT_EQ(h.size(), static_cast<size_t>(final_n[id] - first) + 1);
    for (size_t i = 1; i < h.size(); ++i) {
      const json::object& e = h[i];
      const int64_t n = first + static_cast<int64_t>(i);
      ASSERT_EQ(e.at("action"), "counter.updated") << i;
      ASSERT_EQ(e.at("changes").at("before").at("n").as_int64(), n - 1);
      ASSERT_EQ(e.at("changes").at("after").at("n").as_int64(), n);
    }
  }
  json::object s = SourceEntry(http);
  ASSERT_FALSE(s.empty());
  EXPECT_EQ(s.at("kind"), "postgres");
  EXPECT_EQ(s.at("state"), "streaming");
  EXPECT_TRUE(s.at("position").is_string());
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace annals::testing
