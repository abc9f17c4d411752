// Configuration precedence and validation: file < environment < flags.
#include "server/config.h"

#include <gtest/gtest.h>

#include <fstream>

#include "harness.h"

namespace annals {
namespace {

std::vector<char*> Env(std::vector<std::string>& storage) {
  std::vector<char*> out;
  for (auto& s : storage) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

TEST(ConfigTest, DefaultsAreTheDocumentedOnes) {
  auto c = LoadConfig({}, nullptr);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->server.listen, "127.0.0.1:8080");
  EXPECT_EQ(c->server.public_url, "http://127.0.0.1:8080");
  EXPECT_EQ(c->server.data_dir, "./data");
  EXPECT_EQ(c->request_limits.max_batch_events, 1000u);
  EXPECT_EQ(c->request_limits.max_request_bytes, 16u << 20);
  EXPECT_EQ(c->event_limits.max_event_bytes, 1u << 20);
  EXPECT_EQ(c->event_limits.max_metadata_keys, 50u);
  EXPECT_EQ(c->event_limits.max_future_us, 3600LL * 1000000);
  EXPECT_EQ(c->ingest.idempotency_window_us, 24LL * 3600 * 1000000);
  EXPECT_TRUE(c->store.sync);
  EXPECT_EQ(c->store.event_compression, EventCompression::kLz4);
  EXPECT_EQ(c->server.ops_listen, "");
  EXPECT_EQ(c->server.tls_cert, "");
  EXPECT_FALSE(c->orgs.auto_create);
  EXPECT_EQ(c->rate_limit.requests_per_second, 1000);
  EXPECT_EQ(c->rate_limit.burst, 2000);
  EXPECT_EQ(c->tail.max_subscribers, 1000u);
  EXPECT_EQ(c->tail.stall_timeout, std::chrono::milliseconds(10000));
  EXPECT_EQ(c->tail.heartbeat, std::chrono::milliseconds(15000));
  EXPECT_EQ(c->exports.exact_count_max, 250000u);
}

TEST(ConfigTest, AccessTailAndOperationsKeys) {
  testing::TempDir dir;
  auto file = dir.path() / "b.toml";
  std::ofstream(file) << "[orgs]\nauto_create = true\n[rate_limit]\nrequests_per_second = 2.5\n"
                         "burst = 10\n[tail]\nmax_subscribers = 7\nstall_timeout = \"3s\"\n"
                         "[server]\nops_listen = \"127.0.0.1:9090\"\n"
                         "[store]\nevent_compression = \"zstd\"\n";
  std::vector<std::string> env_s = {"ANNALS_RATE_LIMIT_BURST=20", "ANNALS_TAIL_HEARTBEAT=5s"};
  auto env = Env(env_s);
  ConfigOverrides o;
  o.config_file = file.string();
  auto c = LoadConfig(o, env.data());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->orgs.auto_create);
  EXPECT_EQ(c->store.event_compression, EventCompression::kZstd);
  EXPECT_EQ(c->rate_limit.requests_per_second, 2.5);
  EXPECT_EQ(c->rate_limit.burst, 20);
  EXPECT_EQ(c->tail.max_subscribers, 7u);
  EXPECT_EQ(c->tail.stall_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(c->tail.heartbeat, std::chrono::milliseconds(5000));
  EXPECT_EQ(c->server.ops_listen, "127.0.0.1:9090");
  for (const auto& [toml, needle] : std::vector<std::pair<std::string, std::string>>{
           {"[orgs]\nauto_create = \"yes\"\n", "orgs.auto_create"},
           {"[rate_limit]\nrequests_per_second = -1\n", "rate_limit.requests_per_second"},
           {"[rate_limit]\nburst = 0.5\n", "rate_limit.burst"},
           {"[tail]\nstall_timeout = \"soon\"\n", "tail.stall_timeout"},
           {"[tail]\nwhatever = 1\n", "tail.whatever"},
           {"[server]\nops_listen = \"nope\"\n", "listen"},
       }) {
    auto bad = dir.path() / "bad.toml";
    std::ofstream(bad) << toml;
    ConfigOverrides ob;
    ob.config_file = bad.string();
    auto r = LoadConfig(ob, nullptr);
    ASSERT_FALSE(r.ok()) << toml;
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  }
}

TEST(ConfigTest, FileThenEnvironmentThenFlags) {
  testing::TempDir dir;
  auto file = dir.path() / "a.toml";
  std::ofstream(file) << "[server]\nlisten = \"127.0.0.1:1111\"\ndata = \"/from/file\"\n"
                         "[limits]\nmax_targets = 5\nmax_future = \"5m\"\n"
                         "[ingest]\nidempotency_window = \"2d\"\n"
                         "[exports]\nexact_count_max = 0\n";
  std::vector<std::string> env_s = {"ANNALS_SERVER_LISTEN=127.0.0.1:2222", "ANNALS_LIMITS_MAX_TARGETS=7",
                                    "ANNALS_KEY=ignored", "ANNALS_SERVER=http://x", "PATH=/bin"};
  auto env = Env(env_s);
  ConfigOverrides o;
  o.config_file = file.string();
  o.values["server.listen"] = "127.0.0.1:3333";
  auto c = LoadConfig(o, env.data());
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.listen, "127.0.0.1:3333");
  EXPECT_EQ(c->server.data_dir, "/from/file");
  EXPECT_EQ(c->event_limits.max_targets, 7u);
  EXPECT_EQ(c->event_limits.max_future_us, 300LL * 1000000);
  EXPECT_EQ(c->ingest.idempotency_window_us, 2LL * 86400 * 1000000);
  EXPECT_EQ(c->exports.exact_count_max, 0u);
}

TEST(ConfigTest, BadValuesNameTheirKey) {
  testing::TempDir dir;
  struct Case {
    std::string toml, needle;
  };
  std::vector<Case> cases = {
      {"[server]\nlisten = 8080\n", "server.listen"},
      {"[server]\nlisten = \"localhost\"\n", "server.listen"},
      {"[limits]\nmax_targets = -1\n", "limits.max_targets"},
      {"[limits]\nmax_targets = 0\n", "limits.max_targets"},
      {"[limits]\nmax_future = \"soon\"\n", "limits.max_future"},
      {"[store]\nsync = \"yes\"\n", "store.sync"},
      {"[store]\nevent_compression = \"brotli\"\n", "store.event_compression"},
      {"[store]\nevent_compression = 1\n", "store.event_compression"},
      {"[exports]\nexact_count_max = -1\n", "exports.exact_count_max"},
      {"[exports]\nexact_count_max = \"many\"\n", "exports.exact_count_max"},
      {"[nope]\nx = 1\n", "nope.x"},
      {"listen = \"x\"\n", "listen"},
      {"[server\n", "line 1"},
  };
  for (const Case& c : cases) {
    auto file = dir.path() / "bad.toml";
    std::ofstream(file) << c.toml;
    ConfigOverrides o;
    o.config_file = file.string();
    auto r = LoadConfig(o, nullptr);
    ASSERT_FALSE(r.ok()) << c.toml;
    EXPECT_NE(r.status().message().find(c.needle), std::string::npos)
        << c.toml << " -> " << r.status().message();
  }
  std::vector<std::string> env_s = {"ANNALS_SERVER_LISTN=127.0.0.1:1"};
  auto env = Env(env_s);
  auto r = LoadConfig({}, env.data());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("ANNALS_SERVER_LISTN"), std::string::npos);
}

TEST(ConfigTest, Durations) {
  int64_t us = 0;
  EXPECT_TRUE(ParseDurationUs("500ms", &us));
  EXPECT_EQ(us, 500000);
  EXPECT_TRUE(ParseDurationUs("180d", &us));
  EXPECT_EQ(us, 180LL * 86400 * 1000000);
  EXPECT_FALSE(ParseDurationUs("", &us));
  EXPECT_FALSE(ParseDurationUs("5", &us));
  EXPECT_FALSE(ParseDurationUs("-5s", &us));
  EXPECT_FALSE(ParseDurationUs("5 s", &us));
  EXPECT_FALSE(ParseDurationUs("99999999999999999d", &us));
}

}  // namespace
}  // namespace annals
