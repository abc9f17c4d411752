// Known-answer tests of the syslog destination's message bytes, framing and config parsing.
#include "sinks/syslog/syslog_format.h"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "domain/time.h"
#include "sinks/syslog/syslog_sink.h"
#include "syslog_test_support.h"

namespace annals::sinks {
namespace {

TimestampUs At(const char* rfc3339) {
  Result<TimestampUs> t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.ok()) << rfc3339;
  return t.ok() ? *t : 0;
}

SinkEvent SampleEvent() {
  SinkEvent e;
  e.seq = 1042;
  e.id = "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2";
  e.occurred_at = At("2026-11-29T02:03:04.123000Z");
  e.received_at = At("2026-11-29T02:03:04.130412Z");
  e.action = "finding.updated";
  e.json = R"({"action":"finding.updated","id":"evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2"})";
  return e;
}

SyslogHeader SampleHeader() {
  SyslogHeader h;
  h.facility = 16;
  h.hostname = "audit-1.example.com";
  h.app_name = "annals";
  return h;
}

const std::string kBom = "\xEF\xBB\xBF";

TEST(SyslogFormat, FormatsTheWholeMessageExactly) {
  EXPECT_EQ(FormatSyslogMessage(SampleHeader(), "org_acme", SampleEvent()),
            "<133>1 2026-11-29T02:03:04.123000Z audit-1.example.com annals - finding.updated "
            "[annals@32473 id=\"evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2\" seq=\"1042\" "
            "organization_id=\"org_acme\" action=\"finding.updated\" "
            "occurred_at=\"2026-11-29T02:03:04.123000Z\" "
            "received_at=\"2026-11-29T02:03:04.130412Z\"] " +
                kBom + R"({"action":"finding.updated","id":"evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2"})");
}

TEST(SyslogFormat, PriIsFacilityTimesEightPlusNotice) {
  SyslogHeader h = SampleHeader();
  for (const auto& [facility, pri] : std::vector<std::pair<int, std::string>>{
           {0, "<5>1 "}, {4, "<37>1 "}, {13, "<109>1 "}, {16, "<133>1 "}, {23, "<189>1 "}}) {
    h.facility = facility;
    EXPECT_EQ(FormatSyslogMessage(h, "o", SampleEvent()).substr(0, pri.size()), pri);
  }
}

TEST(SyslogFormat, EscapesQuoteBackslashAndBracketInParamValues) {
  SinkEvent e = SampleEvent();
  e.id = R"(evt_"x"\y]z)";
  e.action = R"(a"b\c]d)";
  const std::string m = FormatSyslogMessage(SampleHeader(), R"(org\]")", e);
  // MSGID keeps printable ASCII as is: '"', '\' and ']' are PRINTUSASCII.
  EXPECT_NE(m.find(R"( annals - a"b\c]d [annals@32473 )"), std::string::npos) << m;
  EXPECT_NE(m.find(R"( id="evt_\"x\"\\y\]z" seq="1042" organization_id="org\\\]\"" )"
                   R"(action="a\"b\\c\]d" )"),
            std::string::npos)
      << m;
}

TEST(SyslogFormat, ParamValuesKeepUtf8AndReplaceInvalidBytes) {
  std::string out;
  AppendSyslogParamValue("caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80", &out);
  EXPECT_EQ(out, "caf\xC3\xA9 \xE6\x97\xA5 \xF0\x9F\x98\x80");
  out.clear();
  // A lone continuation byte, an overlong '/', a UTF-16 surrogate and a truncated sequence.
  AppendSyslogParamValue(
      "a\x80"
      "b\xC0\xAF"
      "c\xED\xA0\x80"
      "d\xE6\x97",
      &out);
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(out, "a" + r + "b" + r + r + "c" + r + r + r + "d" + r + r);
}

TEST(SyslogFormat, MsgIdIsTheActionMadeIntoAToken) {
  SinkEvent e = SampleEvent();
  const auto msgid = [&](std::string action) {
    e.action = std::move(action);
    std::optional<syslog_testing::ParsedSyslog> p =
        syslog_testing::ParseRfc5424(FormatSyslogMessage(SampleHeader(), "o", e));
    EXPECT_TRUE(p.has_value());
    return p ? p->msgid : std::string();
  };
  EXPECT_EQ(msgid("user.signed_in"), "user.signed_in");
  // Each non-ASCII code point becomes one '_'; so does a space, a control or an invalid byte.
  EXPECT_EQ(msgid("caf\xC3\xA9.cr\xC3\xA9\xC3\xA9"), "caf_.cr__");
  EXPECT_EQ(msgid("a b\tc\xFF"
                  "d"),
            "a_b_c_d");
  EXPECT_EQ(msgid("\xE6\x97\xA5\xE6\x9C\xAC"), "__");
  // Cut to 32 octets.
  EXPECT_EQ(msgid("abcdefghijklmnopqrstuvwxyz.0123456789"), "abcdefghijklmnopqrstuvwxyz.01234");
  EXPECT_EQ(msgid(""), "-");
  // The structured data keeps the action whole.
  e.action = "caf\xC3\xA9 abcdefghijklmnopqrstuvwxyz.0123456789";
  const std::string m = FormatSyslogMessage(SampleHeader(), "o", e);
  EXPECT_NE(m.find(" action=\"caf\xC3\xA9 abcdefghijklmnopqrstuvwxyz.0123456789\" "),
            std::string::npos);
}

TEST(SyslogFormat, EmptyFieldsAndNoJson) {
  SinkEvent e;
  e.seq = 0;
  e.occurred_at = At("1970-01-01T00:00:00Z");
  e.received_at = At("1999-12-31T23:59:59.999999Z");
  SyslogHeader h;
  h.hostname = "-";
  h.app_name = "-";
  EXPECT_EQ(FormatSyslogMessage(h, "", e),
            "<133>1 1970-01-01T00:00:00.000000Z - - - - [annals@32473 id=\"\" seq=\"0\" "
            "organization_id=\"\" action=\"\" occurred_at=\"1970-01-01T00:00:00.000000Z\" "
            "received_at=\"1999-12-31T23:59:59.999999Z\"]");
}

TEST(SyslogFormat, PreEpochTimesAndUnrepresentableYears) {
  SinkEvent e = SampleEvent();
  e.occurred_at = At("1969-07-20T20:17:40.5Z");
  std::string m = FormatSyslogMessage(SampleHeader(), "o", e);
  EXPECT_EQ(m.substr(0, 35), "<133>1 1969-07-20T20:17:40.500000Z ");
  // Years beyond 9999 cannot be a FULL-DATE: the header gets the NILVALUE.
  e.occurred_at = DaysFromCivil(10000, 1, 1) * 86400LL * 1000000LL;
  m = FormatSyslogMessage(SampleHeader(), "o", e);
  EXPECT_EQ(m.substr(0, 33), "<133>1 - audit-1.example.com anna");
}

TEST(SyslogFormat, JsonIsSentVerbatimAfterTheBom) {
  SinkEvent e = SampleEvent();
  e.json = "{\"name\":\"Zo\xC3\xAB \xE6\x97\xA5\\\"]\\\\\"}";
  const std::string m = FormatSyslogMessage(SampleHeader(), "o", e);
  EXPECT_EQ(m.substr(m.size() - e.json.size() - 5), "] " + kBom + e.json);
}

TEST(SyslogFormat, SanitizesTokens) {
  EXPECT_EQ(SanitizeSyslogToken("host.example", 255), "host.example");
  EXPECT_EQ(SanitizeSyslogToken("my host", 255), "my_host");
  EXPECT_EQ(SanitizeSyslogToken("", 255), "-");
  EXPECT_EQ(SanitizeSyslogToken(std::string(300, 'h'), 255), std::string(255, 'h'));
  EXPECT_TRUE(IsSyslogToken("annals", 48));
  EXPECT_FALSE(IsSyslogToken("", 48));
  EXPECT_FALSE(IsSyslogToken("an nals", 48));
  EXPECT_FALSE(IsSyslogToken(std::string(49, 'a'), 48));
  EXPECT_FALSE(IsSyslogToken("caf\xC3\xA9", 48));
  const std::string local = LocalSyslogHostname();
  EXPECT_TRUE(local == "-" || IsSyslogToken(local, 255)) << local;
}

TEST(SyslogFormat, FacilityNames) {
  EXPECT_EQ(SyslogFacilityFromName("kern"), 0);
  EXPECT_EQ(SyslogFacilityFromName("auth"), 4);
  EXPECT_EQ(SyslogFacilityFromName("authpriv"), 10);
  EXPECT_EQ(SyslogFacilityFromName("audit"), 13);
  EXPECT_EQ(SyslogFacilityFromName("local0"), 16);
  EXPECT_EQ(SyslogFacilityFromName("local7"), 23);
  EXPECT_EQ(SyslogFacilityFromName("LOCAL0"), std::nullopt);
  EXPECT_EQ(SyslogFacilityFromName("local8"), std::nullopt);
  EXPECT_EQ(SyslogFacilityFromName(""), std::nullopt);
}

TEST(SyslogFraming, OctetCountingCountsBytesNotCharacters) {
  std::string out;
  AppendOctetCountedFrame("abc", &out);
  EXPECT_EQ(out, "3 abc");
  AppendOctetCountedFrame("\xC3\xA9", &out);
  EXPECT_EQ(out, "3 abc2 \xC3\xA9");
  const std::string m = FormatSyslogMessage(SampleHeader(), "org_acme", SampleEvent());
  out.clear();
  AppendOctetCountedFrame(m, &out);
  EXPECT_EQ(out, std::to_string(m.size()) + " " + m);
  EXPECT_EQ(m.size(), 347u);
}

// ---- config ---------------------------------------------------------------------------------

Result<SyslogConfig> Parse(const std::string& json) {
  return ParseSyslogConfig(boost::json::parse(json));
}

// The paths of the config's problems, in order, or {} when it is valid.
std::vector<std::string> ProblemPaths(const std::string& json) {
  Result<SyslogConfig> r = Parse(json);
  std::vector<std::string> paths;
  if (r.ok()) return paths;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().error_code(), "invalid_stream_config");
  for (const ErrorDetail& d : r.status().details()) paths.push_back(d.path);
  return paths;
}

TEST(SyslogConfig, DefaultsWithOnlyAHost) {
  Result<SyslogConfig> r = Parse(R"({"host":"logs.example.com"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->host, "logs.example.com");
  EXPECT_EQ(r->port, 6514);
  EXPECT_TRUE(r->tls);
  EXPECT_EQ(r->ca_file, "");
  EXPECT_EQ(r->ca_pem, "");
  EXPECT_EQ(r->app_name, "annals");
  EXPECT_EQ(r->facility, 16);
  EXPECT_EQ(r->hostname, "");
  EXPECT_TRUE(SyslogSecretFields().empty());
}

TEST(SyslogConfig, EveryField) {
  Result<SyslogConfig> r =
      Parse(R"({"host":"10.1.2.3","port":1514,"tls":true,"ca_file":"/etc/annals/siem-ca.pem",)"
            R"("app_name":"annals-prod","facility":"audit","hostname":"audit-1"})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->port, 1514);
  EXPECT_EQ(r->ca_file, "/etc/annals/siem-ca.pem");
  EXPECT_EQ(r->app_name, "annals-prod");
  EXPECT_EQ(r->facility, 13);
  EXPECT_EQ(r->hostname, "audit-1");
  r = Parse(R"({"host":"[2001:db8::1]","tls":false,"port":514,"facility":23})");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_FALSE(r->tls);
  EXPECT_EQ(r->facility, 23);
  EXPECT_TRUE(Parse(R"({"host":"2001:db8::1"})").ok());
  EXPECT_TRUE(Parse(R"({"host":"siem.internal."})").ok());
  EXPECT_TRUE(Parse(R"({"host":"h","facility":0})").ok());
}

TEST(SyslogConfig, CaPemIsParsed) {
  const syslog_testing::TestPki pki = syslog_testing::MakeTestPki();
  boost::json::object config{{"host", "logs.example.com"}, {"ca_pem", pki.ca.cert}};
  Result<SyslogConfig> r = ParseSyslogConfig(config);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->ca_pem, pki.ca.cert);
  config["ca_pem"] = pki.ca.cert + pki.other_ca.cert;
  EXPECT_TRUE(ParseSyslogConfig(config).ok());
  config["ca_pem"] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_FALSE(ParseSyslogConfig(config).ok());
  config["ca_pem"] = pki.ca.cert + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_FALSE(ParseSyslogConfig(config).ok());
  config["ca_pem"] = pki.ca.key;  // a key is not a certificate
  EXPECT_FALSE(ParseSyslogConfig(config).ok());
}

TEST(SyslogConfig, RejectsEveryBadFieldWithItsPath) {
  using V = std::vector<std::string>;
  EXPECT_EQ(ProblemPaths(R"([])"), V{"/config"});
  EXPECT_EQ(ProblemPaths(R"({})"), V{"/config/host"});
  EXPECT_EQ(ProblemPaths(R"({"host":""})"), V{"/config/host"});
  for (const char* host :
       {"https://logs.example.com", "logs.example.com:6514", "a b", "logs.example.com/x",
        "[logs.example.com]", "-bad", "a..b", "caf\u00e9.example"}) {
    EXPECT_EQ(ProblemPaths(std::string(R"({"host":")") + host + "\"}"), V{"/config/host"}) << host;
  }
  EXPECT_EQ(ProblemPaths(R"({"host":7})"), V{"/config/host"});
  for (const char* port : {"0", "65536", "-1", "\"6514\"", "6514.0", "true"}) {
    EXPECT_EQ(ProblemPaths(std::string(R"({"host":"h","port":)") + port + "}"), V{"/config/port"})
        << port;
  }
  EXPECT_EQ(ProblemPaths(R"({"host":"h","tls":false})"), V{"/config/port"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","tls":"yes"})"), V{"/config/tls"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","ca_file":"ca.pem"})"), V{"/config/ca_file"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","ca_file":""})"), V{"/config/ca_file"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","tls":false,"port":514,"ca_file":"/ca.pem"})"),
            V{"/config/ca_file"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","ca_pem":"not pem"})"), V{"/config/ca_pem"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","app_name":""})"), V{"/config/app_name"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","app_name":"my app"})"), V{"/config/app_name"});
  EXPECT_EQ(ProblemPaths(std::string(R"({"host":"h","app_name":")") + std::string(49, 'a') + "\"}"),
            V{"/config/app_name"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","app_name":"caf\u00e9"})"), V{"/config/app_name"});
  for (const char* facility : {"24", "-1", "\"LOCAL0\"", "\"local8\"", "\"\"", "16.5", "null"}) {
    EXPECT_EQ(ProblemPaths(std::string(R"({"host":"h","facility":)") + facility + "}"),
              V{"/config/facility"})
        << facility;
  }
  EXPECT_EQ(ProblemPaths(R"({"host":"h","hostname":"a b"})"), V{"/config/hostname"});
  EXPECT_EQ(
      ProblemPaths(std::string(R"({"host":"h","hostname":")") + std::string(256, 'a') + "\"}"),
      V{"/config/hostname"});
  EXPECT_EQ(ProblemPaths(R"({"host":"h","url":"x","a/b~c":1})"),
            (V{"/config/url", "/config/a~1b~0c"}));
}

TEST(SyslogConfig, ReportsEveryProblemAndNamesTheFirst) {
  Result<SyslogConfig> r = Parse(R"({"port":0,"facility":"nope","extra":1})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().details().size(), 4u);
  EXPECT_EQ(r.status().message(),
            "invalid syslog stream config: port must be an integer from 1 to 65535 (and 3 more "
            "problems)");
}

}  // namespace
}  // namespace annals::sinks
