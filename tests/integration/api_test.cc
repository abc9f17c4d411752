// The HTTP API end to end: the real binary, a temp data dir, real HTTP.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <fstream>
#include <atomic>
#include <set>
#include <thread>

#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;

json::value Parse(const std::string& body) {
  boost::system::error_code ec;
  json::value v = json::parse(body, ec);
  EXPECT_FALSE(ec) << body;
  return v;
}

std::string ErrorCode(const ClientResponse& r) {
  json::value v = Parse(r.body);
  if (!v.is_object() || !v.as_object().contains("error")) return "";
  return std::string(v.at("error").at("code").as_string());
}

std::vector<std::string> DetailPaths(const ClientResponse& r) {
  std::vector<std::string> out;
  json::value v = Parse(r.body);
  const auto* d = v.at("error").as_object().if_contains("details");
  if (d == nullptr) return out;
  for (const auto& x : d->as_array()) out.emplace_back(x.at("path").as_string());
  return out;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText(); }

  ClientResponse Post(const std::string& body, const std::string& ct = "application/json",
                      const std::string& key = kAdminKey) {
    HttpClient c(server_.url(), key);
    auto r = c.Send("POST", "/v1/events", body, ct);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClientResponse{};
  }
  ClientResponse Get(const std::string& path, const std::string& key = kAdminKey) {
    HttpClient c(server_.url(), key);
    auto r = c.Send("GET", path);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : ClientResponse{};
  }
  // Total events visible for an organization.
  size_t Count(const std::string& org) {
    size_t n = 0;
    std::string after;
    for (;;) {
      auto r = Get("/v1/events?organization_id=" + org + "&limit=1000" +
                   (after.empty() ? "" : "&after=" + after));
      // An organization nothing was ever stored for was not even created.
      if (r.status == 404 && ErrorCode(r) == "organization_not_found") return n;
      EXPECT_EQ(r.status, 200) << r.body;
      json::value v = Parse(r.body);
      n += v.at("data").as_array().size();
      const auto& a = v.at("list_metadata").at("after");
      if (!a.is_string()) return n;
      after = std::string(a.as_string());
    }
  }

  TempDir dir_;
  ServerProcess server_;
};

TEST_F(ApiTest, HealthAndReadinessNeedNoKey) {
  HttpClient anon(server_.url(), "");
  auto h = anon.Send("GET", "/healthz");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->status, 200);
  auto r = anon.Send("GET", "/readyz");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
}

TEST_F(ApiTest, PostThenGetRoundTripsTheCanonicalEvent) {
  auto r = Post(EventJson("org_acme", "finding.updated", "2026-11-29T02:03:04.123Z", "user_7",
                          {{"finding", "F-123"}},
                          R"("metadata":{"reason":"retest","n":1.50},"changes":{"op":"update",)"
                          R"("before":{"state":"open"},"after":{"state":"closed"}},)"
                          R"("context":{"location":"203.0.113.7","user_agent":"Mozilla/5.0"})"));
  ASSERT_EQ(r.status, 201) << r.body;
  json::value ack = Parse(r.body);
  const auto& data = ack.at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  std::string id(data[0].at("id").as_string());
  EXPECT_EQ(id.rfind("evt_", 0), 0u);
  EXPECT_EQ(id.size(), 30u);
  EXPECT_EQ(data[0].at("seq").as_int64(), 1);

  auto g = Get("/v1/events/" + id);
  ASSERT_EQ(g.status, 200) << g.body;
  json::value ev = Parse(g.body);
  EXPECT_EQ(ev.at("id").as_string(), id);
  EXPECT_EQ(ev.at("organization_id").as_string(), "org_acme");
  EXPECT_EQ(ev.at("occurred_at").as_string(), "2026-11-29T02:03:04.123000Z");
  EXPECT_EQ(ev.at("source").at("kind").as_string(), "api");
  EXPECT_EQ(ev.at("changes").at("after").at("state").as_string(), "closed");
  // Canonical form: sorted keys, no insignificant whitespace, ECMAScript numbers.
  EXPECT_EQ(g.body.rfind("{\"action\":\"finding.updated\",\"actor\":", 0), 0u) << g.body;
  EXPECT_NE(g.body.find("\"n\":1.5,"), std::string::npos);
  EXPECT_EQ(g.body.find("\": "), std::string::npos);
  std::vector<std::string> keys;
  for (const auto& kv : ev.as_object()) keys.emplace_back(kv.key());  // in document order
  EXPECT_EQ(keys, (std::vector<std::string>{"action", "actor", "changes", "context", "id",
                                            "metadata", "occurred_at", "organization_id",
                                            "received_at", "seq", "source", "targets"}));
  EXPECT_EQ(g.Header("content-type"), "application/json");

  // The same bytes every time.
  EXPECT_EQ(Get("/v1/events/" + id).body, g.body);
}

TEST_F(ApiTest, AcceptsAllBodyFormsWithAcksInRequestOrder) {
  std::string a = EventJson("o1", "a.one", "2026-01-01T00:00:00Z", "u", {{"t", "1"}});
  std::string b = EventJson("o1", "a.two", "2026-01-01T00:00:01Z", "u", {{"t", "2"}});
  auto wrapped = Post("{\"events\":[" + a + "," + b + "]}");
  ASSERT_EQ(wrapped.status, 201) << wrapped.body;
  auto bare = Post("[" + a + "," + b + "]");
  ASSERT_EQ(bare.status, 201) << bare.body;
  auto nd = Post(a + "\n" + b + "\n", "application/x-ndjson");
  ASSERT_EQ(nd.status, 201) << nd.body;
  std::vector<int64_t> seqs;
  for (const auto* r : {&wrapped, &bare, &nd}) {
    json::value v = Parse(r->body);
    for (const auto& x : v.at("data").as_array()) seqs.push_back(x.at("seq").as_int64());
  }
  EXPECT_EQ(seqs, (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
}

TEST_F(ApiTest, QueriesByEveryFilter) {
  std::string batch = "[";
  // 4 actions x 3 actors x 5 times, targets alternate.
  int n = 0;
  for (int t = 0; t < 5; ++t) {
    for (const char* action : {"finding.created", "finding.updated", "scan.started", "user.login"}) {
      for (const char* actor : {"alice", "bob", "carol"}) {
        if (n++) batch += ",";
        std::string ts = "2026-03-0" + std::to_string(t + 1) + "T10:00:00Z";
        batch += EventJson("org_q", action, ts, actor,
                           {{"finding", "F-" + std::to_string(n % 3)}, {"project", "P-1"}});
      }
    }
  }
  batch += "]";
  ASSERT_EQ(Post(batch).status, 201);
  ASSERT_EQ(Post("[" + EventJson("org_other", "finding.created", "2026-03-01T10:00:00Z", "alice",
                                  {{"finding", "F-1"}}) + "]").status, 201);

  auto count = [&](const std::string& q) {
    auto r = Get("/v1/events?organization_id=org_q&limit=1000" + q);
    EXPECT_EQ(r.status, 200) << q << " " << r.body;
    return Parse(r.body).at("data").as_array().size();
  };
  EXPECT_EQ(count(""), 60u);
  EXPECT_EQ(count("&action=finding.created"), 15u);
  EXPECT_EQ(count("&action=finding.*"), 30u);
  EXPECT_EQ(count("&action=finding.created&action=user.login"), 30u);
  EXPECT_EQ(count("&actor_id=bob"), 20u);
  EXPECT_EQ(count("&actor_id=bob&action=scan.started"), 5u);
  EXPECT_EQ(count("&target_type=project"), 60u);
  EXPECT_EQ(count("&target_type=finding&target_id=F-1"), 20u);
  EXPECT_EQ(count("&target_id=F-2"), 20u);
  EXPECT_EQ(count("&from=2026-03-02T10:00:00Z"), 48u);  // inclusive
  EXPECT_EQ(count("&to=2026-03-02T10:00:00Z"), 12u);    // exclusive
  EXPECT_EQ(count("&from=2026-03-02T10:00:00Z&to=2026-03-04T10:00:00Z"), 24u);
  EXPECT_EQ(count("&action=nothing.here"), 0u);

  // Ordering: newest first by default, oldest first with order=asc, by (occurred_at, seq).
  auto desc = Parse(Get("/v1/events?organization_id=org_q&limit=1000").body).at("data").as_array();
  auto asc = Parse(Get("/v1/events?organization_id=org_q&limit=1000&order=asc").body)
                 .at("data")
                 .as_array();
  ASSERT_EQ(desc.size(), asc.size());
  for (size_t i = 1; i < asc.size(); ++i) {
    auto key = [](const json::value& e) {
      return std::make_pair(std::string(e.at("occurred_at").as_string()), e.at("seq").as_int64());
    };
    EXPECT_LT(key(asc[i - 1]), key(asc[i]));
    EXPECT_GT(key(desc[i - 1]), key(desc[i]));
  }
}

TEST_F(ApiTest, PagingBothWaysVisitsEveryEventExactlyOnce) {
  std::string batch = "[";
  for (int i = 0; i < 95; ++i) {
    if (i) batch += ",";
    // Several events share a timestamp, so seq breaks the ties.
    batch += EventJson("org_p", "x.y", "2026-05-01T00:00:0" + std::to_string(i % 7) + "Z", "u",
                       {{"t", std::to_string(i)}});
  }
  batch += "]";
  ASSERT_EQ(Post(batch).status, 201);

  for (const std::string order : {"desc", "asc"}) {
    std::vector<std::string> forward;
    std::vector<std::string> cursors;  // "before" cursor of each page
    std::string after;
    for (;;) {
      auto r = Get("/v1/events?organization_id=org_p&limit=10&order=" + order +
                   (after.empty() ? "" : "&after=" + after));
      ASSERT_EQ(r.status, 200) << r.body;
      json::value v = Parse(r.body);
      for (const auto& e : v.at("data").as_array()) forward.emplace_back(e.at("id").as_string());
      const auto& a = v.at("list_metadata").at("after");
      if (!a.is_string()) break;
      after = std::string(a.as_string());
    }
    std::set<std::string> unique(forward.begin(), forward.end());
    EXPECT_EQ(forward.size(), 95u);
    EXPECT_EQ(unique.size(), 95u);

    // Walk back from the last page with `before` cursors.
    std::vector<std::string> backward;
    auto last = Get("/v1/events?organization_id=org_p&limit=10&order=" + order +
                    "&after=" + after);
    ASSERT_EQ(last.status, 200);
    json::value lv = Parse(last.body);
    for (const auto& e : lv.at("data").as_array()) backward.emplace_back(e.at("id").as_string());
    json::value before = lv.at("list_metadata").at("before");
    std::vector<std::string> pages_rev;
    while (before.is_string()) {
      auto r = Get("/v1/events?organization_id=org_p&limit=10&order=" + order +
                   "&before=" + std::string(before.as_string()));
      ASSERT_EQ(r.status, 200) << r.body;
      json::value v = Parse(r.body);
      std::vector<std::string> page;
      for (const auto& e : v.at("data").as_array()) page.emplace_back(e.at("id").as_string());
      backward.insert(backward.begin(), page.begin(), page.end());
      before = v.at("list_metadata").at("before");
    }
    EXPECT_EQ(backward, forward) << "order=" << order;
  }
}

TEST_F(ApiTest, IdempotencyReturnsTheOriginalAndConflictsOnOtherContent) {
  // The Idempotency-Key header on a single event.
  std::string ev = EventJson("org_i", "a.c", "2026-01-01T00:00:00Z", "u", {{"t", "9"}});
  HttpClient c(server_.url(), kAdminKey);
  auto h1 = c.Send("POST", "/v1/events", ev, "application/json", {{"Idempotency-Key", "hdr-1"}});
  auto h2 = c.Send("POST", "/v1/events", ev, "application/json", {{"Idempotency-Key", "hdr-1"}});
  ASSERT_TRUE(h1.ok() && h2.ok());
  EXPECT_EQ(h1->status, 201);
  EXPECT_EQ(h2->status, 201);
  EXPECT_EQ(h1->body, h2->body);
  std::string ev2 = EventJson("org_i", "a.c", "2026-01-01T00:00:00Z", "u", {{"t", "10"}});
  auto h3 = c.Send("POST", "/v1/events", ev2, "application/json", {{"Idempotency-Key", "hdr-1"}});
  EXPECT_EQ(h3->status, 409);
  EXPECT_EQ(Count("org_i"), 1u);

  // Per-event keys.
  std::string keyed = EventJson("org_i", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "1"}},
                                R"("idempotency_key":"k-1")");
  auto first = Post(keyed);
  ASSERT_EQ(first.status, 201);
  auto again = Post(keyed);
  ASSERT_EQ(again.status, 201);
  EXPECT_EQ(Parse(first.body).at("data"), Parse(again.body).at("data"));
  std::string changed = EventJson("org_i", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "2"}},
                                  R"("idempotency_key":"k-1")");
  auto conflict = Post(changed);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(ErrorCode(conflict), "idempotency_conflict");
  EXPECT_EQ(Count("org_i"), 2u);
  // The idempotency key is not part of the stored event.
  auto stored = Get("/v1/events/" + std::string(Parse(first.body).at("data").at(0).at("id").as_string()));
  EXPECT_EQ(stored.body.find("idempotency"), std::string::npos);
}

TEST_F(ApiTest, BatchIsAtomicAndReportsEveryInvalidEvent) {
  std::string good = EventJson("org_b", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "1"}});
  std::string bad1 = EventJson("org_b", "Bad Action", "2026-01-01T00:00:00Z", "u", {{"t", "1"}});
  std::string bad2 = EventJson("org_b", "a.b", "2026-01-01T00:00:00Z", "u", {});
  auto r = Post("{\"events\":[" + good + "," + bad1 + "," + good + "," + bad2 + "]}");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(ErrorCode(r), "invalid_event");
  auto paths = DetailPaths(r);
  ASSERT_EQ(paths.size(), 2u) << r.body;
  EXPECT_EQ(paths[0], "/events/1/action");
  EXPECT_EQ(paths[1], "/events/3/targets");
  EXPECT_EQ(Count("org_b"), 0u);
}

TEST_F(ApiTest, BadInputGetsAClearErrorAndStoresNothing) {
  struct Case {
    std::string name, body, content_type;
    int status;
    std::string code;
  };
  const std::string ok = EventJson("org_x", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "1"}});
  std::string many = "[";
  for (int i = 0; i < 1001; ++i) many += (i ? "," : "") + ok;
  many += "]";
  std::vector<Case> cases = {
      {"malformed json", "{\"action\":", "application/json", 400, "invalid_json"},
      {"wrong type", EventJson("org_x", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "1"}},
                               R"("version":"one")"),
       "application/json", 400, "invalid_event"},
      {"missing action", R"({"organization_id":"org_x","occurred_at":"2026-01-01T00:00:00Z",)"
                         R"("actor":{"id":"u","type":"user"},"targets":[{"id":"1","type":"t"}]})",
       "application/json", 400, "invalid_event"},
      {"unknown field", EventJson("org_x", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "1"}},
                                  R"("colour":"red")"),
       "application/json", 400, "invalid_event"},
      {"invalid utf-8", EventJson("org_x", "a.b", "2026-01-01T00:00:00Z", "u\xff", {{"t", "1"}}),
       "application/json", 400, "invalid_json"},
      {"not rfc3339", EventJson("org_x", "a.b", "yesterday", "u", {{"t", "1"}}),
       "application/json", 400, "invalid_event"},
      {"far future", EventJson("org_x", "a.b", "2999-01-01T00:00:00Z", "u", {{"t", "1"}}),
       "application/json", 400, "invalid_event"},
      {"empty batch", "[]", "application/json", 400, ""},
      {"empty events", "{\"events\":[]}", "application/json", 400, ""},
      {"too many events", many, "application/json", 400, "too_many_events"},
      {"wrong content type", ok, "text/plain", 415, "unsupported_media_type"},
      {"reserved action", EventJson("org_x", "annals.api_key.created", "2026-01-01T00:00:00Z",
                                    "u", {{"t", "1"}}),
       "application/json", 400, "invalid_event"},
      {"duplicate key", R"({"action":"a.b","action":"a.c"})", "application/json", 400,
       "invalid_json"},
      {"unsafe number", EventJson("org_x", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "1"}},
                                  R"("metadata":{"n":9007199254740993})"),
       "application/json", 400, "invalid_json"},
  };
  for (const Case& c : cases) {
    auto r = Post(c.body, c.content_type);
    EXPECT_EQ(r.status, c.status) << c.name << ": " << r.body;
    if (!c.code.empty()) {
      EXPECT_EQ(ErrorCode(r), c.code) << c.name << ": " << r.body;
    }
    json::value v = Parse(r.body);
    EXPECT_FALSE(v.at("error").at("message").as_string().empty()) << c.name;
  }
  EXPECT_EQ(Count("org_x"), 0u);
}

TEST_F(ApiTest, OversizeBodyIsRefusedBeforeItIsRead) {
  std::string huge(17 << 20, ' ');
  auto r = Post(huge);
  EXPECT_EQ(r.status, 413) << r.body.substr(0, 200);
  EXPECT_EQ(ErrorCode(r), "request_too_large");
}

TEST_F(ApiTest, AuthenticationIsRequired) {
  HttpClient anon(server_.url(), "");
  auto r = anon.Send("GET", "/v1/events?organization_id=o");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(ErrorCode(*r), "unauthorized");
  HttpClient wrong(server_.url(), "not-the-key-not-the-key-not-the-key");
  auto w = wrong.Send("POST", "/v1/events", "{}", "application/json");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->status, 401);
}

TEST_F(ApiTest, NotFoundAndMalformedCursor) {
  auto nf = Get("/v1/events/evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(Get("/v1/nothing").status, 404);
  auto bad = Get("/v1/events?organization_id=o&after=%%%garbage");
  EXPECT_EQ(bad.status, 400);
  auto bad2 = Get("/v1/events?organization_id=o&after=AAAA");
  EXPECT_EQ(bad2.status, 400);
  EXPECT_EQ(ErrorCode(bad2), "invalid_cursor");
  auto bad_limit = Get("/v1/events?organization_id=o&limit=1001");
  EXPECT_EQ(bad_limit.status, 400);
  auto unknown = Get("/v1/events?organization_id=o&colour=red");
  EXPECT_EQ(unknown.status, 400);
  auto no_org = Get("/v1/events");
  EXPECT_EQ(no_org.status, 400);
}

TEST_F(ApiTest, DataSurvivesARestart) {
  auto r = Post(EventJson("org_r", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "1"}}));
  ASSERT_EQ(r.status, 201);
  std::string id(Parse(r.body).at("data").at(0).at("id").as_string());
  std::string before = Get("/v1/events/" + id).body;
  EXPECT_EQ(server_.Stop(), 0);
  ASSERT_TRUE(server_.Start(dir_.path())) << server_.StderrText();
  EXPECT_EQ(Get("/v1/events/" + id).body, before);
  auto next = Post(EventJson("org_r", "a.b", "2026-01-01T00:00:00Z", "u", {{"t", "2"}}));
  EXPECT_EQ(Parse(next.body).at("data").at(0).at("seq").as_int64(), 2);
}

TEST_F(ApiTest, GeneratedAdminKeyIsWrittenOnce) {
  TempDir dir;
  ServerProcess s;
  ASSERT_TRUE(s.Start(dir.path(), {}, {})) << s.StderrText();
  auto key_file = dir.path() / "admin.key";
  ASSERT_TRUE(std::filesystem::exists(key_file));
  EXPECT_EQ(std::filesystem::status(key_file).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  std::string key;
  {
    std::ifstream f(key_file);
    std::getline(f, key);
  }
  EXPECT_NE(s.StderrText().find(key), std::string::npos);
  HttpClient c(s.url(), key);
  auto r = c.Send("GET", "/v1/events?organization_id=annals");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(s.Stop(), 0);
  // A restart keeps the same key and does not print it again.
  ASSERT_TRUE(s.Start(dir.path(), {}, {})) << s.StderrText();
  EXPECT_EQ(s.StderrText().find(key), std::string::npos);
  HttpClient c2(s.url(), key);
  EXPECT_EQ(c2.Send("GET", "/v1/events?organization_id=annals")->status, 200);
}

}  // namespace
}  // namespace annals::testing

namespace annals::testing {
namespace {

TEST(OverloadTest, FullQueueAnswers503WithRetryAfterAndLosesNothingAcknowledged) {
  TempDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path(), {},
                           {{"ANNALS_ADMIN_KEY", kAdminKey}, {"ANNALS_ORGS_AUTO_CREATE", "true"}, {"ANNALS_INGEST_MAX_QUEUED_EVENTS", "1"}}))
      << server.StderrText();
  std::atomic<int> acked{0}, refused{0}, retry_after{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c) {
    clients.emplace_back([&, c] {
      HttpClient http(server.url(), kAdminKey);
      for (int i = 0; i < 40; ++i) {
        std::string body = "[";
        for (int k = 0; k < 20; ++k) {
          body += (k ? "," : "") + EventJson("org_o", "a.b", "2026-01-01T00:00:00Z", "u",
                                             {{"t", std::to_string(c * 1000 + i * 20 + k)}});
        }
        body += "]";
        auto r = http.Send("POST", "/v1/events", body, "application/json");
        ASSERT_TRUE(r.ok());
        if (r->status == 201) {
          acked += 20;
        } else {
          EXPECT_EQ(r->status, 503) << r->body;
          ++refused;
          if (!r->Header("retry-after").empty()) ++retry_after;
        }
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(retry_after.load(), refused.load());
  HttpClient http(server.url(), kAdminKey);
  size_t stored = 0;
  std::string after;
  for (;;) {
    auto r = http.Send("GET", "/v1/events?organization_id=org_o&limit=1000" +
                                  (after.empty() ? "" : "&after=" + after));
    ASSERT_TRUE(r.ok());
    boost::json::value v = boost::json::parse(r->body);
    stored += v.at("data").as_array().size();
    if (!v.at("list_metadata").at("after").is_string()) break;
    after = std::string(v.at("list_metadata").at("after").as_string());
  }
  EXPECT_EQ(stored, static_cast<size_t>(acked.load()));
}

}  // namespace
}  // namespace annals::testing
