// Log streams end to end: the real server delivers to a real local HTTP receiver through the
// webhook destination. Signatures, order, an outage with every event arriving afterwards, a
// gone endpoint (error, cursor held, caught up once fixed), dead letters and their re-drive,
// the test delivery, replay, pause, write-only secrets, the address policy, tenancy, bad
// input and the meta-audit trail.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <boost/json.hpp>
#include <chrono>
#include <set>
#include <thread>

#include "../sinks/http_receiver.h"
#include "common/sha256.h"
#include "harness.h"

namespace annals::testing {
namespace {

namespace json = boost::json;
using sinks::testing::Answer;
using sinks::testing::HttpReceiver;
using sinks::testing::ReceivedRequest;
using namespace std::chrono_literals;

// "whsec_" + base64 of 24 bytes.
constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

std::map<std::string, std::string> ServerEnv(bool allow_private) {
  return {{"ANNALS_ADMIN_KEY", kAdminKey},
          {"ANNALS_ORGS_AUTO_CREATE", "true"},
          {"ANNALS_STREAMS_ALLOW_PRIVATE_DESTINATIONS", allow_private ? "true" : "false"},
          {"ANNALS_STREAMS_INITIAL_BACKOFF", "50ms"},
          {"ANNALS_STREAMS_MAX_BACKOFF", "300ms"}};
}

// Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.body)), computed here
// independently of annals.
std::string ExpectedSignature(const std::string& id, const std::string& ts,
                              const std::string& body) {
  const std::string key = Base64Decode(std::string_view(kSecret).substr(6)).value_or("");
  const std::string signed_content = id + "." + ts + "." + body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(signed_content.data()), signed_content.size(), mac,
       &len);
  return "v1," + Base64Encode(std::string_view(reinterpret_cast<char*>(mac), len));
}

class StreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(receiver_.Start().ok());
    ASSERT_TRUE(server_.Start(dir_.path(), {}, ServerEnv(true))) << server_.StderrText();
    for (const char* org : {"org_acme", "org_other"}) {
      auto r = Call("POST", "/v1/orgs", std::string(R"({"id":")") + org + R"(","name":"x"})");
      ASSERT_EQ(r.status, 201) << r.body;
    }
  }

  ClientResponse Call(const std::string& method, const std::string& path,
                      const std::string& body = "", const std::string& key = kAdminKey) {
    annals::HttpClient c(server_.url(), key);
    auto r = c.Send(method, path, body, body.empty() ? "" : "application/json");
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : ClientResponse{};
  }

  void Ingest(const std::string& org, int n, const std::string& action = "doc.created") {
    std::string batch = "{\"events\":[";
    for (int i = 0; i < n; ++i) {
      if (i) batch += ',';
      batch += EventJson(org, action, "2026-03-01T00:00:00Z", "user_1",
                         {{"doc", "d" + std::to_string(i)}});
    }
    batch += "]}";
    auto r = Call("POST", "/v1/events", batch);
    ASSERT_EQ(r.status, 201) << r.body;
  }

  std::string CreateWebhook(const std::string& org, const std::string& extra = "") {
    auto r = Call("POST", "/v1/streams",
                  R"({"organization_id":")" + org +
                      R"(","name":"siem","type":"webhook","config":{"url":")" + receiver_.url() +
                      R"(/hook","secret":")" + kSecret +
                      R"("},"filter":{"action":"doc.*"},"batch":{"max_events":10,"max_delay_ms":0})" +
                      extra + "}");
    EXPECT_EQ(r.status, 201) << r.body;
    return r.status == 201 ? std::string(json::parse(r.body).at("id").as_string()) : "";
  }

  json::object Stream(const std::string& id) {
    auto r = Call("GET", "/v1/streams/" + id);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.status == 200 ? json::parse(r.body).as_object() : json::object{};
  }

  template <typename Pred>
  bool WaitStream(const std::string& id, Pred pred) {
    for (int i = 0; i < 1000; ++i) {
      if (pred(Stream(id))) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }

  // The events of every webhook request the receiver got, in arrival order (a retried batch
  // appears once per attempt).
  std::vector<json::object> Received() {
    std::vector<json::object> out;
    for (const ReceivedRequest& r : receiver_.Requests()) {
      if (r.target != "/hook") continue;
      json::value v = json::parse(r.body);
      for (const json::value& e : v.as_array()) out.push_back(e.as_object());
    }
    return out;
  }

  // Checks that the events with seqs `first`..`last` all arrived, at least once, and that
  // their first arrivals are in seq order.
  void ExpectAllInOrder(int64_t first, int64_t last) {
    std::vector<int64_t> firsts;
    std::set<int64_t> seen;
    for (const json::object& e : Received()) {
      const int64_t seq = e.at("seq").to_number<int64_t>();
      if (seen.insert(seq).second) firsts.push_back(seq);
    }
    std::vector<int64_t> want;
    for (int64_t s = first; s <= last; ++s) want.push_back(s);
    EXPECT_EQ(firsts, want);
  }

  HttpReceiver receiver_;
  TempDir dir_;
  ServerProcess server_;
};

TEST_F(StreamsTest, DeliversSignedBatchesInOrderAndReportsProgress) {
  Ingest("org_acme", 3);  // before the stream: not delivered
  const std::string id = CreateWebhook("org_acme");
  ASSERT_FALSE(id.empty());
  json::object s = Stream(id);
  EXPECT_EQ(s.at("state"), "active");
  EXPECT_EQ(s.at("type"), "webhook");
  EXPECT_EQ(s.at("object"), "stream");
  EXPECT_EQ(s.at("filter").at("action"), json::array({"doc.*"}));
  EXPECT_EQ(s.at("batch").at("max_events"), 10);
  // The secret is write-only.
  EXPECT_FALSE(s.at("config").as_object().contains("secret"));
  EXPECT_EQ(s.at("config").at("url").as_string(), receiver_.url() + "/hook");
  const int64_t start = s.at("delivered_seq").to_number<int64_t>();

  Ingest("org_acme", 25);
  Ingest("org_other", 5);  // another organization's events never reach this stream
  ASSERT_TRUE(WaitStream(id, [&](const json::object& o) {
    return o.at("delivered_events").to_number<int64_t>() == 25;
  })) << json::serialize(Stream(id));
  std::vector<json::object> got = Received();
  ASSERT_EQ(got.size(), 25u);
  for (size_t i = 1; i < got.size(); ++i) {
    EXPECT_LT(got[i - 1].at("seq").to_number<int64_t>(), got[i].at("seq").to_number<int64_t>());
    EXPECT_EQ(got[i].at("organization_id"), "org_acme");
  }
  for (const ReceivedRequest& r : receiver_.Requests()) {
    const std::string wid = r.Header("webhook-id").value_or("");
    EXPECT_EQ(wid.rfind(id + ":", 0), 0u) << wid;
    const std::string ts = r.Header("webhook-timestamp").value_or("");
    EXPECT_EQ(r.Header("webhook-signature").value_or(""), ExpectedSignature(wid, ts, r.body));
    EXPECT_EQ(r.Header("content-type").value_or(""), "application/json");
    EXPECT_LE(json::parse(r.body).as_array().size(), 10u);
  }
  s = Stream(id);
  EXPECT_EQ(s.at("lag").at("events"), 0);
  EXPECT_TRUE(s.at("last_error").is_null());
  EXPECT_FALSE(s.at("last_success_at").is_null());
  EXPECT_GE(s.at("delivered_seq").to_number<int64_t>(), start + 25);

  // The secret never shows in the server's log either.
  EXPECT_EQ(server_.StderrText().find("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string::npos);
  // Creating the stream is in the organization's trail.
  auto trail = Call("GET", "/v1/events?organization_id=org_acme&action=annals.stream.created");
  ASSERT_EQ(trail.status, 200) << trail.body;
  EXPECT_EQ(json::parse(trail.body).at("data").as_array().size(), 1u);
  EXPECT_EQ(trail.body.find("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), std::string::npos);
}

TEST_F(StreamsTest, AnOutageLosesNothingAndEveryEventArrivesInOrderAfterwards) {
  const std::string id = CreateWebhook("org_acme");
  Ingest("org_acme", 5);
  ASSERT_TRUE(receiver_.WaitForRequests(1, 10s));
  receiver_.Stop();  // connections are refused from now on
  for (int i = 0; i < 6; ++i) Ingest("org_acme", 5);
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("consecutive_failures").to_number<int64_t>() >= 2;
  }));
  json::object s = Stream(id);
  EXPECT_EQ(s.at("state"), "active");  // transient: retried, not an error
  EXPECT_FALSE(s.at("last_error").is_null());
  EXPECT_GE(s.at("lag").at("events").to_number<int64_t>(), 30);
  Status restarted = receiver_.Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("delivered_events").to_number<int64_t>() == 35;
  })) << json::serialize(Stream(id));
  const int64_t first = Received().front().at("seq").to_number<int64_t>();
  ExpectAllInOrder(first, first + 34);
  EXPECT_EQ(Stream(id).at("lag").at("events"), 0);
}

TEST_F(StreamsTest, AGoneEndpointHoldsTheCursorInErrorUntilItIsFixed) {
  const std::string id = CreateWebhook("org_acme");
  receiver_.Script({Answer{.status = 410, .body = "gone"}, Answer{.status = 410},
                    Answer{.status = 410}});
  Ingest("org_acme", 4);
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) { return o.at("state") == "error"; }));
  json::object s = Stream(id);
  EXPECT_EQ(s.at("last_http_status"), 410);
  EXPECT_NE(std::string(s.at("last_error").as_string()).find("410"), std::string::npos);
  EXPECT_GE(s.at("lag").at("events").to_number<int64_t>(), 4);
  // Once the endpoint answers again, the stream catches up by itself.
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("state") == "active" && o.at("delivered_events").to_number<int64_t>() == 4;
  })) << json::serialize(Stream(id));
  // Every attempt carried the same batch and delivery id.
  std::set<std::string> ids;
  for (const ReceivedRequest& r : receiver_.Requests()) ids.insert(*r.Header("webhook-id"));
  EXPECT_EQ(ids.size(), 1u);
}

TEST_F(StreamsTest, MalformedBatchesAreDeadLetteredAndCanBeRedriven) {
  const std::string id = CreateWebhook("org_acme");
  receiver_.Script({Answer{.status = 422, .body = R"({"error":"bad"})"},
                    Answer{.status = 422}, Answer{.status = 422}});
  Ingest("org_acme", 3);
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("dead_letters").to_number<int64_t>() == 1;
  })) << json::serialize(Stream(id));
  auto list = Call("GET", "/v1/streams/" + id + "/dead-letters");
  ASSERT_EQ(list.status, 200) << list.body;
  json::array dead = json::parse(list.body).at("data").as_array();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].at("reason"), "rejected");
  EXPECT_EQ(dead[0].at("http_status"), 422);
  EXPECT_EQ(dead[0].at("events"), 3);
  const std::string dl(dead[0].at("id").as_string());
  // The cursor moved past it: later events flow.
  Ingest("org_acme", 2);
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("delivered_events").to_number<int64_t>() == 2;
  }));
  EXPECT_EQ(Call("POST", "/v1/streams/" + id + "/dead-letters/99-99/redrive").status, 404);
  auto redrive = Call("POST", "/v1/streams/" + id + "/dead-letters/" + dl + "/redrive");
  ASSERT_EQ(redrive.status, 202) << redrive.body;
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("dead_letters").to_number<int64_t>() == 0;
  }));
  EXPECT_EQ(json::parse(Call("GET", "/v1/streams/" + id + "/dead-letters").body)
                .at("data")
                .as_array()
                .size(),
            0u);
}

TEST_F(StreamsTest, TestDeliveryReplayPauseAndResume) {
  const std::string id = CreateWebhook("org_acme");
  auto t = Call("POST", "/v1/streams/" + id + "/test");
  ASSERT_EQ(t.status, 200) << t.body;
  json::object answer = json::parse(t.body).as_object();
  EXPECT_EQ(answer.at("delivered"), true);
  EXPECT_EQ(answer.at("http_status"), 200);
  ASSERT_TRUE(receiver_.WaitForRequests(1, 10s));
  json::value test_event = json::parse(receiver_.Requests().back().body).as_array().at(0);
  EXPECT_EQ(test_event.at("action"), "annals.stream.test");
  receiver_.Script({Answer{.status = 401, .body = "no"}});
  t = Call("POST", "/v1/streams/" + id + "/test");
  ASSERT_EQ(t.status, 200) << t.body;
  EXPECT_EQ(json::parse(t.body).at("delivered"), false);
  EXPECT_EQ(json::parse(t.body).at("outcome"), "failed");
  EXPECT_EQ(json::parse(t.body).at("http_status"), 401);
  receiver_.ClearRequests();

  auto paused = Call("POST", "/v1/streams/" + id + "/pause");
  ASSERT_EQ(paused.status, 200) << paused.body;
  EXPECT_EQ(json::parse(paused.body).at("state"), "paused");
  Ingest("org_acme", 4);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(receiver_.request_count(), 0u);
  EXPECT_GE(Stream(id).at("lag").at("events").to_number<int64_t>(), 4);
  ASSERT_EQ(Call("POST", "/v1/streams/" + id + "/resume").status, 200);
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("delivered_events").to_number<int64_t>() == 4;
  }));
  const int64_t first = Received().front().at("seq").to_number<int64_t>();
  receiver_.ClearRequests();
  auto replay = Call("POST", "/v1/streams/" + id + "/replay",
                     R"({"from_seq":)" + std::to_string(first) + "}");
  ASSERT_EQ(replay.status, 200) << replay.body;
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("delivered_events").to_number<int64_t>() == 8;
  }));
  ExpectAllInOrder(first, first + 3);
  EXPECT_EQ(Call("POST", "/v1/streams/" + id + "/replay", R"({"from_seq":0})").status, 400);
  EXPECT_EQ(Call("POST", "/v1/streams/" + id + "/replay", "{}").status, 400);
  EXPECT_EQ(Call("POST", "/v1/streams/" + id + "/replay",
                 R"({"from_seq":1,"from_time":"2026-01-01T00:00:00Z"})")
                .status,
            400);
}

TEST_F(StreamsTest, PatchKeepsSecretsAndDeleteStopsDelivery) {
  const std::string id = CreateWebhook("org_acme");
  auto patched = Call("PATCH", "/v1/streams/" + id,
                      R"({"name":"renamed","config":{"format":"ndjson"}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(json::parse(patched.body).at("name"), "renamed");
  EXPECT_EQ(json::parse(patched.body).at("config").at("format"), "ndjson");
  EXPECT_FALSE(json::parse(patched.body).at("config").as_object().contains("secret"));
  Ingest("org_acme", 2);
  ASSERT_TRUE(receiver_.WaitForRequests(1, 10s));
  const ReceivedRequest r = receiver_.Requests().front();
  EXPECT_EQ(r.Header("content-type").value_or(""), "application/x-ndjson");
  // Still signed with the kept secret.
  EXPECT_EQ(r.Header("webhook-signature").value_or(""),
            ExpectedSignature(*r.Header("webhook-id"), *r.Header("webhook-timestamp"), r.body));
  EXPECT_EQ(Call("PATCH", "/v1/streams/" + id, R"({"type":"s3"})").status, 400);
  EXPECT_EQ(Call("PATCH", "/v1/streams/" + id, R"({"config":{"url":"ftp://x"}})").status, 400);
  EXPECT_EQ(Stream(id).at("config").at("url").as_string(), receiver_.url() + "/hook");

  ASSERT_EQ(Call("DELETE", "/v1/streams/" + id).status, 204);
  EXPECT_EQ(Call("GET", "/v1/streams/" + id).status, 404);
  receiver_.ClearRequests();
  Ingest("org_acme", 2);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(receiver_.request_count(), 0u);
  auto trail = Call("GET", "/v1/events?organization_id=org_acme&action=annals.stream.*");
  ASSERT_EQ(trail.status, 200);
  EXPECT_EQ(json::parse(trail.body).at("data").as_array().size(), 3u);  // created, updated, deleted
}

TEST_F(StreamsTest, StreamsSurviveARestartAndGoOnFromTheirCursor) {
  const std::string id = CreateWebhook("org_acme");
  Ingest("org_acme", 5);
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("delivered_events").to_number<int64_t>() == 5;
  }));
  ASSERT_EQ(server_.Stop(), 0);
  ASSERT_TRUE(server_.Start(dir_.path(), {}, ServerEnv(true))) << server_.StderrText();
  Ingest("org_acme", 5);
  ASSERT_TRUE(WaitStream(id, [](const json::object& o) {
    return o.at("delivered_events").to_number<int64_t>() == 10;
  }));
  const int64_t first = Received().front().at("seq").to_number<int64_t>();
  ExpectAllInOrder(first, first + 9);
  EXPECT_EQ(Received().size(), 10u);  // nothing twice
}

TEST_F(StreamsTest, BadRequestsAreRefusedAndChangeNothing) {
  struct Case {
    std::string body;
    std::string error_path;
  };
  const std::string url = receiver_.url() + "/hook";
  const std::vector<Case> cases = {
      {R"({"organization_id":"org_acme","name":"x","type":"pigeon","config":{}})", "/type"},
      {R"({"organization_id":"org_acme","name":"x","type":"webhook","config":{"secret":")" +
           std::string(kSecret) + R"("}})",
       "/config/url"},
      {R"({"organization_id":"org_acme","name":"x","type":"webhook","config":{"url":"ftp://h/","secret":")" +
           std::string(kSecret) + R"("}})",
       "/config/url"},
      {R"({"organization_id":"org_acme","name":"x","type":"webhook","config":{"url":")" + url +
           R"(","secret":"nope"}})",
       "/config/secret"},
      {R"({"organization_id":"org_acme","name":"x","type":"webhook","config":{"url":")" + url +
           R"(","secret":")" + kSecret + R"("},"filter":{"colour":"red"}})",
       "/filter/colour"},
      {R"({"organization_id":"org_acme","name":"x","type":"webhook","config":{"url":")" + url +
           R"(","secret":")" + kSecret + R"("},"batch":{"max_events":0}})",
       "/batch/max_events"},
      {R"({"organization_id":"org_acme","type":"webhook","config":{}})", "/name"},
      {R"({"organization_id":"org_acme","name":"x","type":"webhook"})", "/config"},
  };
  for (const Case& c : cases) {
    auto r = Call("POST", "/v1/streams", c.body);
    EXPECT_EQ(r.status, 400) << c.body << " -> " << r.body;
    EXPECT_NE(r.body.find("\"" + c.error_path + "\""), std::string::npos)
        << c.error_path << " in " << r.body;
  }
  auto list = Call("GET", "/v1/streams?organization_id=org_acme");
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(json::parse(list.body).at("data").as_array().empty());
  EXPECT_EQ(Call("GET", "/v1/streams/str_nope").status, 404);
}

TEST_F(StreamsTest, OrganizationAdminsManageOnlyTheirOwnStreams) {
  const std::string theirs = CreateWebhook("org_other");
  auto key = Call("POST", "/v1/api-keys",
                  R"({"name":"acme admin","organization_id":"org_acme","scopes":["admin"]})");
  ASSERT_EQ(key.status, 201) << key.body;
  const std::string acme(json::parse(key.body).at("key").as_string());
  auto reader = Call("POST", "/v1/api-keys",
                     R"({"name":"acme reader","organization_id":"org_acme","scopes":["events:read"]})");
  const std::string read_key(json::parse(reader.body).at("key").as_string());

  auto mine = Call("POST", "/v1/streams",
                   R"({"name":"mine","type":"webhook","config":{"url":")" + receiver_.url() +
                       R"(/hook","secret":")" + kSecret + R"("}})",
                   acme);
  ASSERT_EQ(mine.status, 201) << mine.body;
  EXPECT_EQ(json::parse(mine.body).at("organization_id"), "org_acme");
  EXPECT_EQ(Call("GET", "/v1/streams/" + theirs, "", acme).status, 404);
  EXPECT_EQ(Call("DELETE", "/v1/streams/" + theirs, "", acme).status, 404);
  EXPECT_EQ(Call("POST", "/v1/streams/" + theirs + "/pause", "", acme).status, 404);
  auto list = Call("GET", "/v1/streams", "", acme);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(json::parse(list.body).at("data").as_array().size(), 1u);
  EXPECT_EQ(Call("GET", "/v1/streams", "", read_key).status, 403);
  // A file on the server is the operator's to name, not an organization's.
  auto probe = Call("POST", "/v1/streams",
                    R"({"name":"s","type":"syslog","config":{"host":"siem.example.com","ca_file":"/etc/shadow"}})",
                    acme);
  EXPECT_EQ(probe.status, 400) << probe.body;
  EXPECT_NE(probe.body.find("/config/ca_file"), std::string::npos) << probe.body;
  // The platform admin sees both.
  EXPECT_EQ(json::parse(Call("GET", "/v1/streams").body).at("data").as_array().size(), 2u);
}

TEST(StreamsPolicyTest, PrivateDestinationsAreRefusedByDefault) {
  TempDir dir;
  ServerProcess server;
  ASSERT_TRUE(server.Start(dir.path(), {}, ServerEnv(false))) << server.StderrText();
  annals::HttpClient c(server.url(), kAdminKey);
  ASSERT_EQ(c.Send("POST", "/v1/orgs", R"({"id":"org_acme","name":"x"})", "application/json")
                ->status,
            201);
  for (const std::string host : {"127.0.0.1", "2130706433", "[::1]", "169.254.169.254",
                                 "10.1.2.3", "localhost"}) {
    auto r = c.Send("POST", "/v1/streams",
                    R"({"organization_id":"org_acme","name":"x","type":"webhook","config":{"url":"http://)" +
                        host + R"(:9/hook","secret":")" + kSecret + R"("}})",
                    "application/json");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 400) << host << ": " << r->body;
    EXPECT_NE(r->body.find("destination_not_allowed"), std::string::npos) << r->body;
  }
}

}  // namespace
}  // namespace annals::testing
