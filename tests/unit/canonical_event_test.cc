#include "exports/canonical_event.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "domain/canonical_json.h"
#include "exports/export_format.h"

namespace annals::exports {
namespace {

boost::json::object BaseEvent() {
  return boost::json::parse(R"json({
    "id": "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2",
    "organization_id": "org_acme",
    "seq": 1042,
    "action": "finding.updated",
    "occurred_at": "2026-11-29T02:03:04.123000Z",
    "received_at": "2026-11-29T02:03:04.130412Z",
    "version": 1,
    "actor": {"id": "user_7", "type": "user", "name": "Ada", "metadata": {"role": "admin"}},
    "targets": [{"id": "F-123", "type": "finding", "name": "SQLi in /login"},
                {"id": "u,1", "type": "user"}],
    "context": {"location": "203.0.113.7", "user_agent": "Mozilla/5.0 (KHTML, like Gecko)"},
    "metadata": {"reason": "retest", "cvss": 5.6, "pages": 45},
    "changes": {"op": "update", "before": {"state": "open"}, "after": {"state": "closed"}},
    "source": {"kind": "api"}
  })json")
      .as_object();
}

bool Read(std::string_view json, CanonicalEvent* e, std::vector<std::string_view>* types,
          std::vector<std::string_view>* ids) {
  return ReadCanonicalEvent(json, e, types, ids);
}

TEST(CanonicalEventTest, ReadsTheMembersOfAStoredEvent) {
  const std::string stored = Canonical(BaseEvent());
  CanonicalEvent e;
  std::vector<std::string_view> types, ids;
  ASSERT_TRUE(Read(stored, &e, &types, &ids)) << stored;
  EXPECT_EQ(e.id, "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2");
  EXPECT_EQ(e.organization_id, "org_acme");
  EXPECT_EQ(e.seq, 1042u);
  EXPECT_EQ(e.action, "finding.updated");
  EXPECT_EQ(e.occurred_at, "2026-11-29T02:03:04.123000Z");
  EXPECT_EQ(e.received_at, "2026-11-29T02:03:04.130412Z");
  EXPECT_TRUE(e.has_version);
  EXPECT_FALSE(e.version_negative);
  EXPECT_EQ(e.version_magnitude, 1u);
  EXPECT_EQ(e.actor_id, "user_7");
  EXPECT_EQ(e.actor_type, "user");
  EXPECT_EQ(e.actor_name, "Ada");
  EXPECT_EQ(e.location, "203.0.113.7");
  EXPECT_EQ(e.user_agent, "Mozilla/5.0 (KHTML, like Gecko)");
  EXPECT_EQ(e.metadata_json, R"({"cvss":5.6,"pages":45,"reason":"retest"})");
  EXPECT_EQ(e.changes_json,
            R"({"after":{"state":"closed"},"before":{"state":"open"},"op":"update"})");
  EXPECT_EQ(e.source_kind, "api");
  EXPECT_EQ(types, (std::vector<std::string_view>{"finding", "user"}));
  EXPECT_EQ(ids, (std::vector<std::string_view>{"F-123", "u,1"}));
  EXPECT_EQ(e.with_comma, CanonicalEvent::kUserAgentText);
}

TEST(CanonicalEventTest, OptionalMembersMayBeAbsentOrNull) {
  boost::json::object event = BaseEvent();
  for (const char* name : {"version", "context", "metadata", "changes"}) event.erase(name);
  event["actor"].as_object().erase("name");
  CanonicalEvent e;
  ASSERT_TRUE(Read(Canonical(event), &e, nullptr, nullptr));
  EXPECT_FALSE(e.has_version);
  EXPECT_EQ(e.actor_name, "");
  EXPECT_EQ(e.location, "");
  EXPECT_EQ(e.metadata_json, "");
  EXPECT_EQ(e.changes_json, "");

  for (const char* name : {"version", "context", "metadata", "changes"}) event[name] = nullptr;
  event["actor"].as_object()["name"] = nullptr;
  ASSERT_TRUE(Read(Canonical(event), &e, nullptr, nullptr));
  EXPECT_FALSE(e.has_version);
  EXPECT_EQ(e.actor_name, "");
  EXPECT_EQ(e.metadata_json, "");

  event["version"] = -3;
  ASSERT_TRUE(Read(Canonical(event), &e, nullptr, nullptr));
  EXPECT_TRUE(e.has_version);
  EXPECT_TRUE(e.version_negative);
  EXPECT_EQ(e.version_magnitude, 3u);
}

// Valid JSON that the canonical writer would not produce, or that needs the general path's
// checks, is declined.
TEST(CanonicalEventTest, DeclinesWhatIsNotCanonical) {
  const std::string stored = Canonical(BaseEvent());
  CanonicalEvent e;
  ASSERT_TRUE(Read(stored, &e, nullptr, nullptr));
  const auto with = [&](std::string_view from, std::string_view to) {
    std::string s = stored;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return s.replace(at, from.size(), to);
  };
  const std::vector<std::string> declined = {
      " " + stored,
      stored + " ",
      stored + "\n",
      with(R"("action":)", R"("action" :)"),
      with(R"("pages":45)", R"("pages":45.0)"),
      with(R"("pages":45)", R"("pages":4.5e1)"),
      with(R"("pages":45)", R"("pages":-0)"),
      with(R"("pages":45)", R"("pages":0.0000001)"),
      with(R"("pages":45)", R"("pages":1234567890123456)"),
      with(R"("pages":45)", R"("pages":0.1234567890123456)"),
      with(R"("reason":"retest")", R"("reason":"re\/test")"),
      with(R"("reason":"retest")", R"("reason":"re\u0041test")"),
      with(R"("reason":"retest")", R"("reason":"re\u000atest")"),
      with(R"("reason":"retest")", R"("reason":"re\u001Ftest")"),
      with(R"("name":"Ada")", R"("name":"A\"da")"),  // a text member with an escape
      with(R"("action":)", R"("\u0061ction":)"),     // an escaped member name
      with(R"("seq":1042)", R"("seq":0)"),
      with(R"("seq":1042)", R"("seq":"1042")"),
      with(R"("seq":1042)", R"("seq":12345678901234567890)"),
      with(R"("version":1)", R"("version":1.5)"),
      with(R"("version":1)", R"("version":"1")"),
      with(R"("metadata":{)", R"("metadata":[{)"),
      with(R"("source":{"kind":"api"})", R"("source":{"kind":1})"),
      with(R"("source":{"kind":"api"})", R"("source":{})"),
      with(R"("targets":[)", R"("targets":{"a":[)"),
      with(R"("id":"evt_)", R"("ix":"evt_)"),  // id missing
      with("retest", "re\ttest"),              // a raw control character
      with("retest", "re\xc3test"),            // not UTF-8
      stored.substr(0, stored.size() - 1),
  };
  for (const std::string& s : declined) {
    EXPECT_FALSE(Read(s, &e, nullptr, nullptr)) << s;
  }
  // Every proper prefix is declined (each in a buffer of its own size, so that a read past
  // its end is caught by the address sanitizer), with and without escapes in the text.
  for (const std::string& text : {stored, with(R"("name":"Ada")", R"("name":"A\"da")")}) {
    for (size_t n = 0; n < text.size(); ++n) {
      const std::string prefix = text.substr(0, n);
      EXPECT_FALSE(Read(prefix, &e, nullptr, nullptr)) << prefix;
    }
  }
  // Still canonical: decimals in the writer's spelling, and a repeated member (the first
  // counts).
  EXPECT_TRUE(Read(with(R"("pages":45)", R"("pages":0.000001)"), &e, nullptr, nullptr));
  EXPECT_TRUE(Read(with(R"("pages":45)", R"("pages":-123456789.012345)"), &e, nullptr, nullptr));
  const std::string repeated =
      with(R"("action":"finding.updated")", R"("action":"finding.updated","action":7)");
  ASSERT_TRUE(Read(repeated, &e, nullptr, nullptr));
  EXPECT_EQ(e.action, "finding.updated");
}

// --- The fast path agrees with the general path ----------------------------------------------

class RandomJson {
 public:
  explicit RandomJson(uint32_t seed) : rng_(seed) {}

  // Events drawn while `wild` is false hold no escapes and only plainly spelled numbers, so
  // that they are canonical as the reader defines it; wild ones hold anything.
  void set_wild(bool wild) { wild_ = wild; }

  std::string Text() {
    static const std::vector<std::string> plain = {
        "a", "Z", "0", " ", ",", "\x7f", "=", "+", "-", "@", "é", "中", "😀", "\xe2\x80\xa8",
        "{", "}", ":", "/", "'", "[", "]"};
    static const std::vector<std::string> escaped = {"\"", "\\", "\n", "\t", "\x01", "\x1f",
                                                     "\b"};
    std::string s;
    const int n = Uniform(0, 8);
    for (int i = 0; i < n; ++i) {
      if (wild_ && Uniform(0, 3) == 0) {
        s += escaped[Uniform(0, static_cast<int>(escaped.size()) - 1)];
      } else {
        s += plain[Uniform(0, static_cast<int>(plain.size()) - 1)];
      }
    }
    return s;
  }

  boost::json::value Number() {
    switch (Uniform(0, wild_ ? 7 : 1)) {
      case 0:
        return Uniform(-1000, 1000);
      case 1:
        return static_cast<double>(Uniform(-100000, 100000)) / 100.0;
      case 2:
        return (static_cast<int64_t>(rng_()) << 31) ^ static_cast<int64_t>(rng_());
      case 3:
        return static_cast<int64_t>(rng_());
      case 4:
        return std::ldexp(static_cast<double>(rng_()), Uniform(-80, 80));
      case 5:
        return 1.0 / static_cast<double>(Uniform(1, 1000000));
      case 6:
        return std::pow(10.0, Uniform(-9, 25));
      default:
        return -0.0;
    }
  }

  boost::json::value Value(int depth) {
    switch (Uniform(0, depth > 3 ? 3 : 5)) {
      case 0:
        return boost::json::value(Text());
      case 1:
        return Number();
      case 2:
        return Uniform(0, 1) == 0 ? boost::json::value(true) : boost::json::value(nullptr);
      case 3:
        return boost::json::value(false);
      case 4: {
        boost::json::array a;
        for (int i = Uniform(0, 3); i > 0; --i) a.push_back(Value(depth + 1));
        return a;
      }
      default:
        return Object(depth + 1);
    }
  }

  boost::json::object Object(int depth) {
    boost::json::object o;
    for (int i = Uniform(0, 4); i > 0; --i) o[Text()] = Value(depth);
    return o;
  }

  boost::json::object Event() {
    boost::json::object e = BaseEvent();
    for (const char* name : {"id", "action", "occurred_at", "organization_id"}) {
      if (Uniform(0, 3) == 0) e[name] = Text();
    }
    e["seq"] = Uniform(1, 1000000);
    if (Uniform(0, 2) == 0) e["version"] = Uniform(-5, 5);
    boost::json::object& actor = e["actor"].as_object();
    if (Uniform(0, 2) == 0) actor["name"] = Text();
    if (Uniform(0, 3) == 0) actor["metadata"] = Object(1);
    boost::json::array targets;
    for (int i = Uniform(0, 3); i > 0; --i) {
      boost::json::object t{{"id", Text()}, {"type", Text()}};
      if (Uniform(0, 1) == 0) t["name"] = Text();
      targets.push_back(t);
    }
    e["targets"] = targets;
    e["context"] = boost::json::object{{"location", Text()}, {"user_agent", Text()}};
    e["metadata"] = Object(1);
    if (Uniform(0, 1) == 0) e["changes"] = Object(1);
    if (Uniform(0, 4) == 0) e["extra_" + Text()] = Value(1);
    return e;
  }

  // A small change of `s`: a byte replaced, dropped or repeated, or the text cut short.
  std::string Mutate(std::string s) {
    static const std::string bytes = "\"\\,:{}[]0123456789.eE-+u nt \x80\xff";
    if (s.empty()) return s;
    const size_t at = static_cast<size_t>(Uniform(0, static_cast<int>(s.size()) - 1));
    switch (Uniform(0, 3)) {
      case 0:
        s[at] = bytes[Uniform(0, static_cast<int>(bytes.size()) - 1)];
        break;
      case 1:
        s.erase(at, 1);
        break;
      case 2:
        s.insert(at, 1, s[at]);
        break;
      default:
        s.resize(at);
        break;
    }
    return s;
  }

  int Uniform(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }

 private:
  std::mt19937 rng_;
  bool wild_ = false;
};

// Encodes `event` as one row, and the same event made non-canonical (a space after the
// opening brace) so that the general path reads it.
struct TwoPaths {
  Status fast_status, general_status;
  std::string fast_row, general_row;
};
TwoPaths EncodeBothWays(ExportFormat format, const std::string& event) {
  ExportEncoder encoder = ExportEncoder::Create(format, false).value();
  TwoPaths r;
  r.fast_status = encoder.EncodeRow(event, &r.fast_row);
  const std::string spaced = event.empty() || event[0] != '{' ? event : "{ " + event.substr(1);
  r.general_status = encoder.EncodeRow(spaced, &r.general_row);
  if (spaced != event && format != ExportFormat::kCsv) {
    // NDJSON and JSON rows are the event's text: compare them without the space.
    const size_t at = r.general_row.find("{ ");
    if (at != std::string::npos) r.general_row.erase(at + 1, 1);
  }
  return r;
}

TEST(CanonicalEventTest, RowsEqualTheGeneralPathsForRandomAndMutatedEvents) {
  RandomJson random(20261129);
  int accepted = 0, mutants_accepted = 0, mutants = 0;
  for (int i = 0; i < 3000; ++i) {
    random.set_wild(i % 2 == 1);
    const std::string stored = Canonical(random.Event());
    CanonicalEvent e;
    std::vector<std::string_view> types, ids;
    accepted += Read(stored, &e, &types, &ids) ? 1 : 0;
    std::vector<std::string> texts = {stored};
    for (int m = 0; m < 4; ++m) texts.push_back(random.Mutate(stored));
    for (size_t t = 0; t < texts.size(); ++t) {
      if (t > 0) {
        ++mutants;
        mutants_accepted += Read(texts[t], &e, &types, &ids) ? 1 : 0;
      }
      for (ExportFormat format : {ExportFormat::kCsv, ExportFormat::kNdjson}) {
        const TwoPaths r = EncodeBothWays(format, texts[t]);
        ASSERT_EQ(r.fast_status.ok(), r.general_status.ok())
            << texts[t] << "\n" << r.fast_status.ToString() << "\n"
            << r.general_status.ToString();
        if (r.fast_status.ok()) {
          ASSERT_EQ(r.fast_row, r.general_row) << texts[t];
        } else {
          EXPECT_EQ(r.fast_status.ToString(), r.general_status.ToString()) << texts[t];
        }
      }
    }
  }
  // The tame events are canonical as the reader defines it, and some mutants stay valid.
  EXPECT_GE(accepted, 1500) << accepted;
  std::printf("accepted %d, mutants accepted %d of %d\n", accepted, mutants_accepted, mutants);
  EXPECT_GT(mutants_accepted, 50);
  EXPECT_LT(mutants_accepted, mutants);
}

// Numbers are where canonical spelling is subtle: every literal the reader accepts must be
// the one the general path writes back.
TEST(CanonicalEventTest, NumbersTheReaderAcceptsAreSpelledAsTheGeneralPathWritesThem) {
  std::mt19937 rng(7);
  const auto pick = [&rng](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  const auto digits = [&](int n) {
    std::string d;
    for (int i = 0; i < n; ++i) d.push_back(static_cast<char>('0' + pick(0, 9)));
    return d;
  };
  const std::string stored = Canonical(BaseEvent());
  const std::string from = R"("pages":45)";
  const size_t at = stored.find(from);
  ASSERT_NE(at, std::string::npos);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string literal;
    if (pick(0, 3) == 0) literal += "-";
    literal += digits(pick(1, 17));
    if (pick(0, 2) != 0) literal += "." + digits(pick(1, 17));
    if (pick(0, 5) == 0) literal += (pick(0, 1) ? "e" : "E") + std::to_string(pick(-30, 30));
    std::string event = stored;
    event.replace(at, from.size(), "\"pages\":" + literal);
    CanonicalEvent e;
    accepted += ReadCanonicalEvent(event, &e, nullptr, nullptr) ? 1 : 0;
    const TwoPaths r = EncodeBothWays(ExportFormat::kCsv, event);
    ASSERT_EQ(r.fast_status.ok(), r.general_status.ok()) << literal;
    if (r.fast_status.ok()) {
      ASSERT_EQ(r.fast_row, r.general_row) << literal;
    }
  }
  EXPECT_GT(accepted, 2000);
}

}  // namespace
}  // namespace annals::exports
