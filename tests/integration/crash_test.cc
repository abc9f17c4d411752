// Durability under SIGKILL: concurrent clients ingest while the server is killed at a random
// moment; after a restart every acknowledged event is present exactly once and each
// organization's seq is gap-free.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/json.hpp>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

TEST(CrashTest, EveryAcknowledgedEventSurvivesSigkill) {
  TempDir dir;
  std::random_device rd;
  const unsigned seed = rd();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);

  std::set<std::string> acked;  // ids the server acknowledged with 201
  std::mutex mu;
  for (int round = 0; round < 3; ++round) {
    ServerProcess server;
    ASSERT_TRUE(server.Start(dir.path())) << server.StderrText();
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int c = 0; c < 6; ++c) {
      clients.emplace_back([&, c] {
        HttpClient http(server.url(), kAdminKey);
        int i = 0;
        while (!stop.load()) {
          const bool batch = c % 2 == 0;
          std::string body;
          int n = batch ? 50 : 1;
          if (batch) body = "[";
          for (int k = 0; k < n; ++k) {
            if (k) body += ",";
            body += EventJson(c < 3 ? "org_crash_a" : "org_crash_b", "crash.write",
                              "2026-01-01T00:00:00Z", "client" + std::to_string(c),
                              {{"t", std::to_string(round) + "-" + std::to_string(c) + "-" +
                                         std::to_string(i++)}});
          }
          if (batch) body += "]";
          auto r = http.Send("POST", "/v1/events", body, "application/json");
          if (!r.ok()) break;  // the server died mid-request: not acknowledged
          if (r->status != 201) continue;
          boost::system::error_code ec;
          json::value v = json::parse(r->body, ec);
          if (ec) continue;
          std::lock_guard<std::mutex> lock(mu);
          for (const auto& a : v.at("data").as_array()) acked.emplace(a.at("id").as_string());
        }
      });
    }
    std::uniform_int_distribution<int> delay(300, 1500);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay(rng)));
    server.Kill();
    stop = true;
    for (auto& t : clients) t.join();
  }
  ASSERT_GT(acked.size(), 0u);

  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path())) << server.StderrText();
  HttpClient http(server.url(), kAdminKey);
  std::multiset<std::string> stored;
  for (const std::string org : {"org_crash_a", "org_crash_b"}) {
    std::vector<int64_t> seqs;
    std::string after;
    for (;;) {
      auto r = http.Send("GET", "/v1/events?order=asc&limit=1000&organization_id=" + org +
                                    (after.empty() ? "" : "&after=" + after));
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r->status, 200) << r->body;
      json::value v = json::parse(r->body);
      for (const auto& e : v.at("data").as_array()) {
        stored.emplace(e.at("id").as_string());
        seqs.push_back(e.at("seq").as_int64());
      }
      const auto& a = v.at("list_metadata").at("after");
      if (!a.is_string()) break;
      after = std::string(a.as_string());
    }
    std::sort(seqs.begin(), seqs.end());
    for (size_t i = 0; i < seqs.size(); ++i) {
      ASSERT_EQ(seqs[i], static_cast<int64_t>(i + 1)) << org << ": seq has a gap or duplicate";
    }
  }
  size_t missing = 0;
  for (const std::string& id : acked) {
    size_t n = stored.count(id);
    if (n == 0) ++missing;
    EXPECT_LE(n, 1u) << id;
  }
  EXPECT_EQ(missing, 0u) << "acknowledged events lost after SIGKILL";
  std::set<std::string> unique(stored.begin(), stored.end());
  EXPECT_EQ(unique.size(), stored.size()) << "an event was stored twice";
}

}  // namespace
}  // namespace annals::testing
