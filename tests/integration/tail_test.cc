// GET /v1/events/stream end to end: filters, tenant isolation, Last-Event-ID resume (also
// across a restart) without gaps or duplicates, and slow subscribers disconnected.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/json.hpp>
#include <mutex>
#include <thread>

#include "harness.h"
#include "query/sse_parser.h"
#include "server/tail.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

// One SSE subscription read on its own thread.
class Subscription {
 public:
  Subscription(const std::string& url, const std::string& key, const std::string& query,
               const std::string& last_event_id = "")
      : client_(url, key) {
    thread_ = std::thread([this, query, last_event_id] {
      HttpClient::Headers headers;
      if (!last_event_id.empty()) headers.emplace_back("Last-Event-ID", last_event_id);
      SseParser parser;
      auto r = client_.Stream(
          "/v1/events/stream?" + query, headers, "text/event-stream",
          [&](std::string_view data) {
            std::vector<SseEvent> events;
            if (!parser.Feed(data, &events).ok()) return false;
            std::lock_guard lock(mu_);
            for (SseEvent& e : events) events_.push_back(std::move(e));
            return true;
          },
          [this] { return stop_.load(); }, std::chrono::seconds(120));
      std::lock_guard lock(mu_);
      done_ = true;
      if (r.ok()) status_ = r->status, body_ = r->body;
    });
  }
  ~Subscription() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // Waits until `n` events arrived or the stream ended (60 s at most).
  std::vector<SseEvent> WaitFor(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (events_.size() >= n || done_ || std::chrono::steady_clock::now() > deadline) {
          return events_;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  bool done() {
    std::lock_guard lock(mu_);
    return done_;
  }
  long status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  std::string body() {
    std::lock_guard lock(mu_);
    return body_;
  }

 private:
  HttpClient client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::vector<SseEvent> events_;
  bool done_ = false;
  long status_ = 0;
  std::string body_;
};

class TailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  }
  void Post(const std::string& org, int from, int to, const std::string& key = kAdminKey) {
    std::string body = "[";
    for (int i = from; i < to; ++i) {
      if (i > from) body += ",";
      body += EventJson(org, i % 2 ? "doc.updated" : "user.login", "2026-03-01T00:00:01Z",
                        "u" + std::to_string(i), {{"doc", std::to_string(i)}});
    }
    body += "]";
    auto r = HttpClient(server_.url(), key).Send("POST", "/v1/events", body, "application/json");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
  }
  void WaitForSubscribers(int n) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    const std::string want = "annals_tail_subscribers " + std::to_string(n) + "\n";
    for (;;) {
      auto m = server_.Client().Send("GET", "/metrics");
      if (m.ok() && m->body.find(want) != std::string::npos) return;
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "subscribers never reached " << n;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  static std::vector<std::string> Actors(const std::vector<SseEvent>& events) {
    std::vector<std::string> out;
    for (const SseEvent& e : events) {
      out.emplace_back(json::parse(e.data).at("actor").at("id").as_string());
    }
    return out;
  }

  std::map<std::string, std::string> env_ = {{"ANNALS_ADMIN_KEY", kAdminKey},
                                             {"ANNALS_ORGS_AUTO_CREATE", "true"}};
  TempDir dir_;
  ServerProcess server_;
};

TEST_F(TailTest, DeliversMatchingEventsInOrderAndResumesWithoutGapsOrDuplicates) {
  Post("org_a", 0, 1);
  Post("org_b", 0, 1);
  Subscription all(server_.url(), kAdminKey, "organization_id=org_a");
  Subscription docs(server_.url(), kAdminKey, "organization_id=org_a&action=doc.*");
  WaitForSubscribers(2);
  Post("org_a", 1, 21);
  Post("org_b", 1, 21);  // another tenant: never delivered
  std::vector<SseEvent> got = all.WaitFor(20);
  ASSERT_EQ(got.size(), 20u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].type, "event");
    json::value e = json::parse(got[i].data);
    EXPECT_EQ(e.at("organization_id").as_string(), "org_a");
    EXPECT_EQ(e.at("actor").at("id").as_string(), "u" + std::to_string(i + 1));
    // The data is the stored event, byte for byte.
    auto stored = server_.Client().Send("GET", "/v1/events/" + std::string(e.at("id").as_string()));
    EXPECT_EQ(stored->body, got[i].data);
  }
  EXPECT_EQ(docs.WaitFor(10).size(), 10u);
  for (const SseEvent& e : docs.WaitFor(10)) {
    EXPECT_EQ(json::parse(e.data).at("action").as_string(), "doc.updated");
  }
  const std::string fifth = got[4].id;
  all.Stop();
  docs.Stop();

  // Events while nobody listens, then a restart: resuming after the 5th event delivers the
  // 6th to the 30th exactly once each.
  Post("org_a", 21, 26);
  ASSERT_EQ(server_.Stop(), 0);
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  Post("org_a", 26, 31);
  Subscription resumed(server_.url(), kAdminKey, "organization_id=org_a", fifth);
  std::vector<SseEvent> rest = resumed.WaitFor(25);
  std::vector<std::string> expected;
  for (int i = 6; i <= 30; ++i) expected.push_back("u" + std::to_string(i));
  EXPECT_EQ(Actors(rest), expected);
  // ...and goes on live.
  Post("org_a", 31, 33);
  EXPECT_EQ(resumed.WaitFor(27).size(), 27u);
  // The query-parameter form works too.
  Subscription by_query(server_.url(), kAdminKey, "organization_id=org_a&last_event_id=" + rest.back().id);
  std::vector<SseEvent> tail = by_query.WaitFor(2);
  EXPECT_EQ(Actors(tail), (std::vector<std::string>{"u31", "u32"}));
}

TEST_F(TailTest, BadRequestsAndOtherTenants) {
  Post("org_a", 0, 3);
  Post("org_b", 0, 3);
  auto key_b = server_.Client().Send("POST", "/v1/api-keys",
                                     R"({"name":"b","organization_id":"org_b","scopes":["events:read"]})",
                                     "application/json");
  ASSERT_EQ(key_b->status, 201);
  const std::string token_b(json::parse(key_b->body).at("key").as_string());
  auto write_only = server_.Client().Send("POST", "/v1/api-keys",
                                          R"({"name":"w","organization_id":"org_b","scopes":["events:write"]})",
                                          "application/json");
  const std::string token_w(json::parse(write_only->body).at("key").as_string());

  struct Case {
    std::string key, query, last_event_id;
    long status;
  };
  for (const Case& c : std::vector<Case>{
           {token_b, "organization_id=org_a", "", 404},       // another tenant
           {token_w, "", "", 403},                            // no events:read
           {kAdminKey, "", "", 400},                          // platform key without organization
           {kAdminKey, "organization_id=org_zzz", "", 404},   // unknown organization
           {kAdminKey, "organization_id=org_a&limit=5", "", 400},  // not a stream parameter
           {kAdminKey, "organization_id=org_a", "garbage", 400},
           {kAdminKey, "organization_id=org_a", "c2VxOjk5OTk", 400},  // seq 9999: no such event
           {"annals_nope", "organization_id=org_a", "", 401},
       }) {
    Subscription s(server_.url(), c.key, c.query, c.last_event_id);
    s.WaitFor(1);
    EXPECT_TRUE(s.done());
    EXPECT_EQ(s.status(), c.status) << c.query << " " << c.last_event_id << " -> " << s.body();
  }
  // An organization key needs no organization_id, and sees its own events only.
  Subscription own(server_.url(), token_b, "");
  WaitForSubscribers(1);
  Post("org_a", 3, 5);
  Post("org_b", 3, 5);
  std::vector<SseEvent> got = own.WaitFor(2);
  ASSERT_EQ(got.size(), 2u);
  for (const SseEvent& e : got) {
    EXPECT_EQ(json::parse(e.data).at("organization_id").as_string(), "org_b");
  }
}

TEST_F(TailTest, ASubscriberThatDoesNotReadIsDisconnectedAndOthersKeepUp) {
  ASSERT_EQ(server_.Stop(), 0);
  env_["ANNALS_TAIL_STALL_TIMEOUT"] = "1s";
  ASSERT_TRUE(server_.Start(dir_.path(), {}, env_)) << server_.StderrText();
  Post("org_a", 0, 1);
  // A raw connection that subscribes and then never reads.
  int fd = -1;
  {
    // A plain socket with a small receive buffer that nothing drains.
    const uint16_t port = server_.port();
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    const std::string req = "GET /v1/events/stream?organization_id=org_a HTTP/1.1\r\nHost: x\r\n"
                            "Authorization: Bearer " + std::string(kAdminKey) + "\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), 0), static_cast<ssize_t>(req.size()));
  }
  Subscription reader(server_.url(), kAdminKey, "organization_id=org_a");
  WaitForSubscribers(2);
  // Several MiB of events: far more than the silent connection can hold.
  for (int round = 0; round < 40; ++round) Post("org_a", 1 + round * 250, 1 + (round + 1) * 250);
  EXPECT_EQ(reader.WaitFor(10000).size(), 10000u);
  WaitForSubscribers(1);  // the silent one was cut off
  auto m = server_.Client().Send("GET", "/metrics");
  EXPECT_NE(m->body.find("annals_tail_subscribers 1\n"), std::string::npos);
  ::close(fd);
}


TEST_F(TailTest, ResumingAfterAPurgeSkipsThePurgedEvents) {
  Post("org_a", 0, 1);  // seq 1: its cursor is where the resume starts
  Subscription live(server_.url(), kAdminKey, "organization_id=org_a");  // keeps the ring filled
  WaitForSubscribers(1);
  auto post = [&](const std::string& body) {
    auto r = server_.Client().Send("POST", "/v1/events", body, "application/json");
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(r->status, 201) << r->body;
  };
  // An item deleted long ago (backdated), so retention purges it at once; and one that stays.
  post(EventJson("org_a", "doc.created", "2024-01-01T00:00:00Z", "gone",
                 {{"doc", "old"}}, "\"changes\":{\"op\":\"create\",\"after\":{\"a\":1}}"));
  post(EventJson("org_a", "doc.deleted", "2024-01-02T00:00:00Z", "gone",
                 {{"doc", "old"}}, "\"changes\":{\"op\":\"delete\",\"before\":{\"a\":1}}"));
  post(EventJson("org_a", "doc.updated", "2026-03-01T00:00:00Z", "kept", {{"doc", "new"}}));
  ASSERT_EQ(live.WaitFor(3).size(), 3u);  // the three events in the ring
  auto r = server_.Client().Send("POST", "/v1/retention/purge?organization_id=org_a");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(json::parse(r->body).at("events_purged").as_int64(), 2);

  // A subscriber that resumes after seq 1 gets only what was not purged.
  Subscription resumed(server_.url(), kAdminKey, "organization_id=org_a", EncodeTailCursor(1));
  std::vector<SseEvent> rest = resumed.WaitFor(2);  // the kept event and the purge record
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(Actors(rest)[0], "kept");
  EXPECT_EQ(json::parse(rest[1].data).at("action").as_string(), "annals.retention.purged");
}

}  // namespace
}  // namespace annals::testing
