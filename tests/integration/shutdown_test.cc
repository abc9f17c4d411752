// Graceful shutdown: SIGTERM while clients ingest stops accepting, answers in-flight work,
// makes every acknowledged event durable and exits 0. Client variables never disturb serve.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <set>
#include <thread>

#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

TEST(ShutdownTest, SigtermAnswersInFlightWorkAndKeepsEveryAcknowledgedEvent) {
  TempDir dir;
  ServerProcess server;
  // Four clients as fast as they can: the per-key rate limit would answer 429s, which this
  // test is not about.
  ASSERT_TRUE(server.Start(dir.path(), {},
                           {{"ANNALS_ADMIN_KEY", kAdminKey},
                            {"ANNALS_ORGS_AUTO_CREATE", "true"},
                            {"ANNALS_RATE_LIMIT_REQUESTS_PER_SECOND", "0"}}))
      << server.StderrText();
  std::set<std::string> acked;
  std::mutex mu;
  std::atomic<bool> stop{false};
  std::atomic<int> refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      HttpClient http(server.url(), kAdminKey);
      int i = 0;
      while (!stop.load()) {
        std::string body = "[";
        for (int k = 0; k < 20; ++k) {
          if (k) body += ",";
          body += EventJson("org_term", "term.write", "2026-01-01T00:00:00Z",
                            "client" + std::to_string(c), {{"t", std::to_string(i++)}});
        }
        body += "]";
        auto r = http.Send("POST", "/v1/events", body, "application/json");
        if (!r.ok()) return;  // connection closed by the stopping server
        if (r->status == 503) {
          refused.fetch_add(1);  // shutting_down: a clear refusal, never a silent drop
          EXPECT_NE(r->body.find("shutting_down"), std::string::npos) << r->body;
          return;
        }
        if (r->status != 201) {
          other.fetch_add(1);
          continue;
        }
        json::value v = json::parse(r->body);
        std::lock_guard lock(mu);
        for (const auto& a : v.at("data").as_array()) acked.emplace(a.at("id").as_string());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  EXPECT_EQ(server.Stop(), 0) << server.StderrText();  // SIGTERM
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(other.load(), 0);
  ASSERT_GT(acked.size(), 0u);
  EXPECT_NE(server.StderrText().find("shutting down"), std::string::npos) << server.StderrText();

  ASSERT_TRUE(server.Start(dir.path())) << server.StderrText();
  HttpClient http(server.url(), kAdminKey);
  std::set<std::string> stored;
  std::string after;
  for (;;) {
    auto r = http.Send("GET", "/v1/events?organization_id=org_term&limit=1000" +
                                  (after.empty() ? "" : "&after=" + after));
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 200) << r->body;
    json::value v = json::parse(r->body);
    for (const auto& e : v.at("data").as_array()) stored.emplace(e.at("id").as_string());
    const auto& a = v.at("list_metadata").at("after");
    if (!a.is_string()) break;
    after = std::string(a.as_string());
  }
  for (const std::string& id : acked) EXPECT_TRUE(stored.count(id)) << id;
}

TEST(ShutdownTest, ClientVariablesDoNotDisturbServe) {
  TempDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path(), {},
                           {{"ANNALS_ADMIN_KEY", kAdminKey},
                            {"ANNALS_KEY", "annals_key_whatever_0000"},
                            {"ANNALS_SERVER", "http://example.invalid:1"}}))
      << server.StderrText();
  EXPECT_EQ(server.Client().Send("GET", "/v1/orgs")->status, 200);
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace annals::testing
