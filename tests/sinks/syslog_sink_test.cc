// The syslog destination against a real rsyslogd (plain TCP and TLS listeners) that the tests
// start on free loopback ports with a generated config.
#include "sinks/syslog/syslog_sink.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <memory>
#include <thread>

#include "domain/time.h"
#include "syslog_test_support.h"

namespace annals::sinks {
namespace {

using syslog_testing::MakeTestPki;
using syslog_testing::ParsedSyslog;
using syslog_testing::ParseRfc5424;
using syslog_testing::RsyslogServer;
using syslog_testing::TempDir;
using syslog_testing::TestPki;

constexpr auto kReceiveTimeout = std::chrono::seconds(20);
const std::string kBom = "\xEF\xBB\xBF";
const TimestampUs kBaseTime = 1795917784123000;  // 2026-11-29T02:03:04.123Z

// Events seq first..first+n-1 of org_acme. Every event's JSON has non-ASCII text and
// characters that need escaping; event seq 3 also has '"', ']' and '\' in its action and id.
std::vector<SinkEvent> MakeEvents(uint64_t first, size_t n, size_t json_padding = 0) {
  std::vector<SinkEvent> events;
  for (size_t i = 0; i < n; ++i) {
    SinkEvent e;
    e.seq = first + i;
    char id[64];
    std::snprintf(id, sizeof id, "evt_01JDQ8Z3W9K5Y6T7R8S9A%05llu",
                  static_cast<unsigned long long>(e.seq));
    e.id = id;
    e.action = "finding.updated";
    if (e.seq == 3) {
      e.id = R"(evt_"quoted"]\x)";
      e.action = R"(odd"action]\name)";
    }
    e.occurred_at = kBaseTime + static_cast<TimestampUs>(e.seq) * 1001;
    e.received_at = e.occurred_at + 7412;
    boost::json::object json;
    json["action"] = e.action;
    json["actor"] = boost::json::object{
        {"id", "user_7"}, {"name", "Zo\xC3\xAB \xE6\x97\xA5\xE6\x9C\xAC \xF0\x9F\x94\x92"}};
    json["id"] = e.id;
    json["metadata"] = boost::json::object{{"note", "a \"quote\", a ] and a \\ backslash"}};
    if (json_padding > 0) json["padding"] = std::string(json_padding, 'p');
    json["seq"] = e.seq;
    e.json = boost::json::serialize(json);
    events.push_back(std::move(e));
  }
  return events;
}

SinkBatch MakeBatch(std::vector<SinkEvent> events) {
  SinkBatch b;
  b.stream_id = "str_syslog_test";
  b.organization_id = "org_acme";
  b.events = std::move(events);
  b.delivery_id =
      b.stream_id + ":" + std::to_string(b.first_seq()) + "-" + std::to_string(b.last_seq());
  return b;
}

std::string OutcomeName(DeliveryOutcome o) {
  switch (o) {
    case DeliveryOutcome::kDelivered:
      return "delivered";
    case DeliveryOutcome::kRetry:
      return "retry";
    case DeliveryOutcome::kFailed:
      return "failed";
    case DeliveryOutcome::kRejected:
      return "rejected";
  }
  return "?";
}

::testing::AssertionResult Outcome(const DeliveryResult& r, DeliveryOutcome want) {
  if (r.outcome == want) return ::testing::AssertionSuccess() << r.detail;
  return ::testing::AssertionFailure() << "outcome " << OutcomeName(r.outcome) << ", want "
                                       << OutcomeName(want) << ": " << r.detail;
}

class SyslogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RsyslogServer::Binary().empty()) {
      GTEST_SKIP() << "rsyslogd is not installed (scripts/install-deps.sh installs rsyslog and "
                      "rsyslog-openssl); skipping the syslog tests against a real receiver";
    }
    pki_ = MakeTestPki();
    server_ = std::make_unique<RsyslogServer>(dir_.path(), pki_);
    ASSERT_TRUE(server_->Start());
  }

  void TearDown() override {
    if (HasFailure() && server_) std::cerr << server_->Diagnostics();
    sink_.reset();
    server_.reset();  // stops rsyslogd even when an assertion failed
  }

  SyslogConfig PlainConfig() const {
    SyslogConfig c;
    c.host = "127.0.0.1";
    c.port = server_->tcp_port();
    c.tls = false;
    c.hostname = "annals-test-host";
    return c;
  }

  SyslogConfig TlsConfig() const {
    SyslogConfig c;
    c.host = "localhost";
    c.port = server_->tls_port();
    c.tls = true;
    c.ca_file = server_->ca_file();
    c.app_name = "annals-test";
    c.facility = 13;
    return c;
  }

  static SyslogSinkOptions Options() {
    SyslogSinkOptions o;
    o.connect_timeout = std::chrono::seconds(5);
    o.write_timeout = std::chrono::seconds(15);
    return o;
  }

  SyslogSink& MakeSink(SyslogConfig config, const AddressPolicy* policy = nullptr,
                       SyslogSinkOptions options = Options()) {
    config_ = config;
    sink_ = std::make_unique<SyslogSink>(
        std::move(config), policy != nullptr ? policy : &allow_private_, &clock_, options);
    return *sink_;
  }

  SyslogHeader ExpectedHeader() const {
    SyslogHeader h;
    h.facility = config_.facility;
    h.app_name = config_.app_name;
    h.hostname = config_.hostname.empty() ? LocalSyslogHostname() : config_.hostname;
    return h;
  }

  // Waits for exactly `events` (in order, each once) at the receiver and checks each message:
  // its exact bytes, an independent parse of them, and rsyslog's own parse.
  void ExpectReceived(const std::vector<SinkEvent>& events) {
    ASSERT_TRUE(server_->WaitForLines(events.size(), kReceiveTimeout))
        << "received " << server_->RawLines().size() << " of " << events.size();
    // Give a duplicate, if any, time to show up.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const std::vector<std::string> raw = server_->RawLines();
    const std::vector<std::string> parsed = server_->ParsedLines();
    ASSERT_EQ(raw.size(), events.size());
    ASSERT_EQ(parsed.size(), events.size());
    const SyslogHeader header = ExpectedHeader();
    for (size_t i = 0; i < events.size(); ++i) {
      SCOPED_TRACE("event seq " + std::to_string(events[i].seq));
      const SinkEvent& e = events[i];
      EXPECT_EQ(raw[i], FormatSyslogMessage(header, "org_acme", e));

      std::optional<ParsedSyslog> p = ParseRfc5424(raw[i]);
      ASSERT_TRUE(p.has_value()) << raw[i];
      EXPECT_EQ(p->pri, header.facility * 8 + 5);
      EXPECT_EQ(p->version, 1);
      EXPECT_EQ(p->timestamp, FormatRfc3339Micros(e.occurred_at));
      EXPECT_EQ(p->hostname, header.hostname);
      EXPECT_EQ(p->app_name, header.app_name);
      EXPECT_EQ(p->procid, "-");
      EXPECT_EQ(p->msgid, e.seq == 3 ? R"(odd"action]\name)" : "finding.updated");
      EXPECT_EQ(p->sd_id, "annals@32473");
      const std::vector<std::pair<std::string, std::string>> want_params = {
          {"id", e.id},
          {"seq", std::to_string(e.seq)},
          {"organization_id", "org_acme"},
          {"action", e.action},
          {"occurred_at", FormatRfc3339Micros(e.occurred_at)},
          {"received_at", FormatRfc3339Micros(e.received_at)}};
      EXPECT_EQ(p->params, want_params);
      EXPECT_TRUE(p->bom);
      EXPECT_EQ(p->msg, e.json);

      // What rsyslog itself understood.
      boost::system::error_code ec;
      const boost::json::value v = boost::json::parse(parsed[i], ec);
      ASSERT_FALSE(ec) << parsed[i];
      const boost::json::object& o = v.as_object();
      EXPECT_EQ(o.at("pri").as_string(), std::to_string(header.facility * 8 + 5));
      EXPECT_EQ(o.at("version").as_string(), "1");
      EXPECT_EQ(o.at("hostname").as_string(), header.hostname);
      EXPECT_EQ(o.at("app_name").as_string(), header.app_name);
      EXPECT_EQ(o.at("procid").as_string(), "-");
      EXPECT_EQ(o.at("msgid").as_string(), p->msgid);
      const std::string& r = raw[i];
      const size_t sd_begin = r.find(" [annals@32473 ") + 1;
      const size_t sd_end = r.find("] " + kBom) + 1;
      EXPECT_EQ(o.at("structured_data").as_string(), r.substr(sd_begin, sd_end - sd_begin));
      std::string msg(o.at("msg").as_string());
      if (msg.compare(0, kBom.size(), kBom) == 0) msg.erase(0, kBom.size());
      EXPECT_EQ(msg, e.json);
      const boost::json::value event_json = boost::json::parse(msg, ec);
      ASSERT_FALSE(ec);
      EXPECT_EQ(event_json.at("seq").to_number<uint64_t>(), e.seq);
    }
  }

  TempDir dir_;
  TestPki pki_;
  std::unique_ptr<RsyslogServer> server_;
  AddressPolicy allow_private_{AddressPolicyOptions{.allow_private_destinations = true}};
  ManualClock clock_{kBaseTime};
  SyslogConfig config_;
  std::unique_ptr<SyslogSink> sink_;
};

TEST_F(SyslogSinkTest, PlainTcpDeliversEveryEventOnceInOrder) {
  SyslogSink& sink = MakeSink(PlainConfig());
  const std::vector<SinkEvent> events = MakeEvents(1, 25);
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch({events.begin(), events.begin() + 20})),
                      DeliveryOutcome::kDelivered));
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch({events.begin() + 20, events.end()})),
                      DeliveryOutcome::kDelivered));
  ExpectReceived(events);
  EXPECT_EQ(sink.connections_opened(), 1u);  // one persistent connection
}

TEST_F(SyslogSinkTest, TlsDeliversEveryEventOnceInOrder) {
  SyslogSink& sink = MakeSink(TlsConfig());
  const std::vector<SinkEvent> events = MakeEvents(1, 25);
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch({events.begin(), events.begin() + 10})),
                      DeliveryOutcome::kDelivered));
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch({events.begin() + 10, events.end()})),
                      DeliveryOutcome::kDelivered));
  ExpectReceived(events);
  EXPECT_EQ(sink.connections_opened(), 1u);
}

TEST_F(SyslogSinkTest, TlsVerifiesAnIpAddressAgainstTheCertificateAndTakesCaPem) {
  SyslogConfig config = TlsConfig();
  config.host = "127.0.0.1";
  config.ca_file.clear();
  config.ca_pem = pki_.ca.cert;
  config.hostname = "annals-test-host";
  SyslogSink& sink = MakeSink(config);
  const std::vector<SinkEvent> events = MakeEvents(1, 4);
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch(events)), DeliveryOutcome::kDelivered));
  ExpectReceived(events);
}

TEST_F(SyslogSinkTest, LargeEventsArriveWhole) {
  // Each message is close to max_event_bytes, so writes are partial and rsyslog needs its
  // raised maxMessageSize.
  const std::vector<SinkEvent> events = MakeEvents(1, 6, 60 * 1024);
  ASSERT_LE(events[0].json.size(), SyslogSinkOptions().max_event_bytes);
  SyslogSink& tls = MakeSink(TlsConfig());
  EXPECT_TRUE(Outcome(tls.Deliver(MakeBatch({events.begin(), events.begin() + 3})),
                      DeliveryOutcome::kDelivered));
  // The same receiver over plain TCP, from a sink with the same header fields.
  SyslogConfig plain = PlainConfig();
  plain.hostname = "";
  plain.app_name = "annals-test";
  plain.facility = 13;
  SyslogSink plain_sink(plain, &allow_private_, &clock_, Options());
  EXPECT_TRUE(Outcome(plain_sink.Deliver(MakeBatch({events.begin() + 3, events.end()})),
                      DeliveryOutcome::kDelivered));
  ExpectReceived(events);
}

TEST_F(SyslogSinkTest, TlsWithAnotherCaFailsNamingVerification) {
  SyslogConfig config = TlsConfig();
  config.ca_file = server_->other_ca_file();
  SyslogSink& sink = MakeSink(config);
  const DeliveryResult r = sink.Deliver(MakeBatch(MakeEvents(1, 3)));
  EXPECT_TRUE(Outcome(r, DeliveryOutcome::kFailed));
  EXPECT_NE(r.detail.find("certificate verification"), std::string::npos) << r.detail;
  EXPECT_FALSE(sink.connected());

  // The system trust store does not know the test CA either.
  config.ca_file.clear();
  SyslogSink system_store(config, &allow_private_, &clock_, Options());
  const DeliveryResult s = system_store.Deliver(MakeBatch(MakeEvents(1, 3)));
  EXPECT_TRUE(Outcome(s, DeliveryOutcome::kFailed));
  EXPECT_NE(s.detail.find("certificate verification"), std::string::npos) << s.detail;

  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(server_->RawLines().empty());
}

TEST_F(SyslogSinkTest, TlsRefusesACertificateForAnotherName) {
  SyslogConfig config = TlsConfig();
  config.port = server_->wrong_name_port();  // certificate for wrong.example.com, same CA
  SyslogSink& sink = MakeSink(config);
  const DeliveryResult r = sink.Deliver(MakeBatch(MakeEvents(1, 3)));
  EXPECT_TRUE(Outcome(r, DeliveryOutcome::kFailed));
  EXPECT_NE(r.detail.find("hostname mismatch"), std::string::npos) << r.detail;
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(server_->RawLines().empty());
}

TEST_F(SyslogSinkTest, UnreadableCaFileFails) {
  SyslogConfig config = TlsConfig();
  config.ca_file = dir_.path() + "/missing-ca.pem";
  SyslogSink& sink = MakeSink(config);
  const DeliveryResult r = sink.Deliver(MakeBatch(MakeEvents(1, 1)));
  EXPECT_TRUE(Outcome(r, DeliveryOutcome::kFailed));
  EXPECT_NE(r.detail.find("ca_file"), std::string::npos) << r.detail;
}

TEST_F(SyslogSinkTest, DefaultPolicyRefusesLoopbackAndSendsNothing) {
  const AddressPolicy strict;
  for (const SyslogConfig& config : {PlainConfig(), TlsConfig()}) {
    SyslogSink& sink = MakeSink(config, &strict);
    const DeliveryResult r = sink.Deliver(MakeBatch(MakeEvents(1, 3)));
    EXPECT_TRUE(Outcome(r, DeliveryOutcome::kFailed));
    EXPECT_EQ(r.detail.rfind("destination_not_allowed", 0), 0u) << r.detail;
    EXPECT_EQ(sink.connections_opened(), 0u);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(server_->RawLines().empty());
}

TEST_F(SyslogSinkTest, OversizedEventIsRejectedUnsent) {
  SyslogSink& sink = MakeSink(PlainConfig());
  std::vector<SinkEvent> events = MakeEvents(1, 3);
  events[1].json = std::string(sink.max_event_bytes() + 1, 'x');
  const DeliveryResult r = sink.Deliver(MakeBatch(events));
  EXPECT_TRUE(Outcome(r, DeliveryOutcome::kRejected));
  EXPECT_NE(r.detail.find("event seq 2"), std::string::npos) << r.detail;
  EXPECT_EQ(sink.connections_opened(), 0u);
}

TEST_F(SyslogSinkTest, UnreachableReceiverIsRetried) {
  SyslogConfig config = PlainConfig();
  config.port = syslog_testing::PickFreePort();  // nothing listens there
  SyslogSink& sink = MakeSink(config);
  const DeliveryResult r = sink.Deliver(MakeBatch(MakeEvents(1, 1)));
  EXPECT_TRUE(Outcome(r, DeliveryOutcome::kRetry));
  EXPECT_NE(r.detail.find("destination_unreachable"), std::string::npos) << r.detail;
}

TEST_F(SyslogSinkTest, IdleConnectionIsReplacedBeforeUse) {
  SyslogSinkOptions options = Options();
  options.max_idle = std::chrono::seconds(30);
  SyslogSink& sink = MakeSink(TlsConfig(), nullptr, options);
  const std::vector<SinkEvent> events = MakeEvents(1, 6);
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch({events.begin(), events.begin() + 2})),
                      DeliveryOutcome::kDelivered));
  clock_.Advance(29'000'000);
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch({events.begin() + 2, events.begin() + 4})),
                      DeliveryOutcome::kDelivered));
  EXPECT_EQ(sink.connections_opened(), 1u);
  clock_.Advance(31'000'000);
  EXPECT_TRUE(Outcome(sink.Deliver(MakeBatch({events.begin() + 4, events.end()})),
                      DeliveryOutcome::kDelivered));
  EXPECT_EQ(sink.connections_opened(), 2u);
  ExpectReceived(events);
}

class SyslogSinkConnectionTest : public SyslogSinkTest,
                                 public ::testing::WithParamInterface<bool> {};

TEST_P(SyslogSinkConnectionTest, RetriesWhileTheReceiverIsDownAndReconnects) {
  SyslogSink& sink = MakeSink(GetParam() ? TlsConfig() : PlainConfig());
  const std::vector<SinkEvent> events = MakeEvents(1, 9);
  const SinkBatch first = MakeBatch({events.begin(), events.begin() + 3});
  const SinkBatch second = MakeBatch({events.begin() + 3, events.begin() + 6});
  const SinkBatch third = MakeBatch({events.begin() + 6, events.end()});
  EXPECT_TRUE(Outcome(sink.Deliver(first), DeliveryOutcome::kDelivered));
  ASSERT_TRUE(server_->WaitForLines(3, kReceiveTimeout));

  server_->Stop();
  const DeliveryResult down = sink.Deliver(second);
  EXPECT_TRUE(Outcome(down, DeliveryOutcome::kRetry));
  EXPECT_FALSE(sink.connected());
  EXPECT_TRUE(Outcome(sink.Deliver(second), DeliveryOutcome::kRetry));  // still down

  ASSERT_TRUE(server_->Restart());
  // The engine retries the failed batch, then moves on.
  EXPECT_TRUE(Outcome(sink.Deliver(second), DeliveryOutcome::kDelivered));
  EXPECT_TRUE(Outcome(sink.Deliver(third), DeliveryOutcome::kDelivered));
  EXPECT_EQ(sink.connections_opened(), 2u);
  ExpectReceived(events);
}

// A receiver that drops the connection in the middle of a batch: kRetry, and no SIGPIPE
// (OpenSSL writes with write(2)) takes the process down.
TEST_P(SyslogSinkConnectionTest, ConnectionLostDuringWriteIsRetried) {
  syslog_testing::MisbehavingReceiver receiver(
      syslog_testing::MisbehavingReceiver::Mode::kCloseWithoutReading,
      GetParam() ? &pki_.server : nullptr);
  SyslogConfig config = GetParam() ? TlsConfig() : PlainConfig();
  config.port = receiver.port();
  SyslogSink& sink = MakeSink(config);
  // Far more than loopback socket buffers hold, so the writes meet the reset.
  const SinkBatch batch = MakeBatch(MakeEvents(1, 200, 60 * 1024));
  const DeliveryResult r = sink.Deliver(batch);
  EXPECT_TRUE(Outcome(r, DeliveryOutcome::kRetry));
  EXPECT_NE(r.detail.find("writing to"), std::string::npos) << r.detail;
  EXPECT_FALSE(sink.connected());
}

TEST_P(SyslogSinkConnectionTest, StalledReceiverTimesOut) {
  syslog_testing::MisbehavingReceiver receiver(
      syslog_testing::MisbehavingReceiver::Mode::kNeverRead, GetParam() ? &pki_.server : nullptr);
  SyslogConfig config = GetParam() ? TlsConfig() : PlainConfig();
  config.port = receiver.port();
  SyslogSinkOptions options = Options();
  options.write_timeout = std::chrono::seconds(1);
  SyslogSink& sink = MakeSink(config, nullptr, options);
  const auto start = std::chrono::steady_clock::now();
  const DeliveryResult r = sink.Deliver(MakeBatch(MakeEvents(1, 200, 60 * 1024)));
  EXPECT_TRUE(Outcome(r, DeliveryOutcome::kRetry));
  EXPECT_NE(r.detail.find("timed out"), std::string::npos) << r.detail;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_FALSE(sink.connected());
}

INSTANTIATE_TEST_SUITE_P(PlainAndTls, SyslogSinkConnectionTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tls" : "PlainTcp";
                         });

}  // namespace
}  // namespace annals::sinks
