#include "query/sse_parser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace annals {
namespace {

struct Ev {
  std::string type, data, id;
  bool operator==(const Ev&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Ev& e) {
  return os << "{type=" << e.type << " data=" << ::testing::PrintToString(e.data)
            << " id=" << e.id << "}";
}

std::vector<Ev> Convert(const std::vector<SseEvent>& events) {
  std::vector<Ev> out;
  for (const SseEvent& e : events) out.push_back({e.type, e.data, e.id});
  return out;
}

// Feeds the chunks in order and returns every event dispatched.
std::vector<Ev> Parse(SseParser* p, const std::vector<std::string>& chunks) {
  std::vector<SseEvent> events;
  for (const std::string& c : chunks) {
    Status s = p->Feed(c, &events);
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return Convert(events);
}

std::vector<Ev> Parse(const std::string& stream) {
  SseParser p;
  return Parse(&p, {stream});
}

// What annals' /v1/events/stream sends: ids, typed events, one-line JSON, keepalives.
const std::string kServerStream =
    ": keepalive\n\n"
    "id: c1\nevent: event\ndata: {\"action\":\"doc.created\",\"seq\":1}\n\n"
    ": keepalive\n\n"
    "id: c2\nevent: event\ndata: {\"action\":\"doc.updated\",\"seq\":2}\n\n";

const std::vector<Ev> kServerEvents = {
    {"event", "{\"action\":\"doc.created\",\"seq\":1}", "c1"},
    {"event", "{\"action\":\"doc.updated\",\"seq\":2}", "c2"},
};

TEST(SseParser, ServerStream) {
  SseParser p;
  EXPECT_EQ(Parse(&p, {kServerStream}), kServerEvents);
  EXPECT_EQ(p.last_event_id(), "c2");
}

TEST(SseParser, EverySplitOfTheStreamGivesTheSameEvents) {
  for (const std::string& stream :
       {kServerStream, std::string("id: a\r\ndata: x\r\n\r\nid: b\rdata: y\r\rdata: z\n\n")}) {
    const std::vector<Ev> whole = Parse(stream);
    ASSERT_FALSE(whole.empty());
    for (size_t cut = 0; cut <= stream.size(); ++cut) {
      SseParser p;
      EXPECT_EQ(Parse(&p, {stream.substr(0, cut), stream.substr(cut)}), whole) << "cut at " << cut;
    }
    SseParser bytewise;
    std::vector<std::string> bytes;
    for (char c : stream) bytes.emplace_back(1, c);
    EXPECT_EQ(Parse(&bytewise, bytes), whole);
  }
}

TEST(SseParser, LineEndingsCrLfCrAndLf) {
  const std::vector<Ev> want = {{"message", "one", ""}, {"message", "two", ""},
                                {"message", "three", ""}};
  EXPECT_EQ(Parse("data: one\r\n\r\ndata: two\r\rdata: three\n\n"), want);
  EXPECT_EQ(Parse("data: one\n\ndata: two\r\n\ndata: three\r\r\n"), want);
}

TEST(SseParser, CrAtTheEndOfAChunkAndLfAtTheStartOfTheNextAreOneLineEnd) {
  SseParser p;
  // Were the LF taken as a second line end, it would be a blank line and dispatch early.
  EXPECT_EQ(Parse(&p, {"data: a\r", "\ndata: b\r", "\n\r", "\n"}),
            (std::vector<Ev>{{"message", "a\nb", ""}}));
}

TEST(SseParser, DataLinesAreJoinedWithLineFeeds) {
  EXPECT_EQ(Parse("data: first\ndata: second\ndata:\ndata: fourth\n\n"),
            (std::vector<Ev>{{"message", "first\nsecond\n\nfourth", ""}}));
}

TEST(SseParser, OneSpaceAfterTheColonIsDropped) {
  EXPECT_EQ(Parse("data:nospace\n\ndata:  two spaces\n\ndata: : colon\n\n"),
            (std::vector<Ev>{{"message", "nospace", ""},
                             {"message", " two spaces", ""},
                             {"message", ": colon", ""}}));
}

TEST(SseParser, AFieldWithoutColonHasAnEmptyValue) {
  // "data" alone appends an empty line: the event is dispatched with empty data.
  EXPECT_EQ(Parse("data\n\n"), (std::vector<Ev>{{"message", "", ""}}));
  // "event" alone resets the type to the default.
  EXPECT_EQ(Parse("event: x\nevent\ndata: d\n\n"), (std::vector<Ev>{{"message", "d", ""}}));
}

TEST(SseParser, EventsWithoutDataAreNotDispatchedAndResetTheType) {
  SseParser p;
  EXPECT_EQ(Parse(&p, {"event: ping\n\n", "id: 7\n\n", "data: after\n\n"}),
            (std::vector<Ev>{{"message", "after", "7"}}));
  // The id of an event without data still becomes the last event id.
  EXPECT_EQ(p.last_event_id(), "7");
}

TEST(SseParser, CommentsAndUnknownFieldsAreIgnored) {
  EXPECT_EQ(Parse(": keepalive\n:\n:data: no\nfoo: bar\nDATA: no\ndata: yes\n\n"),
            (std::vector<Ev>{{"message", "yes", ""}}));
  EXPECT_TRUE(Parse(": only a comment\n\n: another\n\n").empty());
}

TEST(SseParser, IdPersistsUntilChangedAndAnEmptyIdClearsIt) {
  SseParser p;
  EXPECT_EQ(Parse(&p, {"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 4\ndata: d\n\n"}),
            (std::vector<Ev>{{"message", "a", "1"},
                             {"message", "b", "1"},
                             {"message", "c", ""},
                             {"message", "d", "4"}}));
  EXPECT_EQ(p.last_event_id(), "4");
}

TEST(SseParser, AnIdWithANulIsIgnored) {
  static constexpr char kWithNul[] = "id: b\0d\ndata: b\n\n";
  SseParser p;
  EXPECT_EQ(Parse(&p, {"id: good\ndata: a\n\n", std::string(kWithNul, sizeof kWithNul - 1)}),
            (std::vector<Ev>{{"message", "a", "good"}, {"message", "b", "good"}}));
}

TEST(SseParser, APartialEventIsNeverDispatchedAndRestartKeepsTheLastId) {
  SseParser p;
  EXPECT_EQ(Parse(&p, {"id: c1\ndata: one\n\nid: c2\ndata: tw"}),
            (std::vector<Ev>{{"message", "one", "c1"}}));
  // The connection dropped: the id of the unfinished event does not count.
  EXPECT_EQ(p.last_event_id(), "c1");
  p.Restart();
  // The new stream resumes; an event without an id keeps the last one.
  EXPECT_EQ(Parse(&p, {"o\n\n", "data: x\n\n", "id: c3\ndata: three\n\n"}),
            (std::vector<Ev>{{"message", "x", "c1"}, {"message", "three", "c3"}}));
  EXPECT_EQ(p.last_event_id(), "c3");
}

TEST(SseParser, RestartDropsAPendingCrAndThePartialLine) {
  SseParser p;
  Parse(&p, {"data: a\r"});
  p.Restart();
  // The LF that follows is a line end of its own in the new stream (a blank line).
  EXPECT_TRUE(Parse(&p, {"\n"}).empty());
  EXPECT_EQ(Parse(&p, {"data: b\n\n"}), (std::vector<Ev>{{"message", "b", ""}}));
}

TEST(SseParser, ALeadingByteOrderMarkIsSkippedOnce) {
  EXPECT_EQ(Parse("\xEF\xBB\xBF" "data: a\n\n"), (std::vector<Ev>{{"message", "a", ""}}));
  // Split inside the mark.
  SseParser p;
  EXPECT_EQ(Parse(&p, {"\xEF", "\xBB", "\xBF" "data: a\n\n"}),
            (std::vector<Ev>{{"message", "a", ""}}));
  // Anywhere else it is part of a field name, which is then unknown.
  EXPECT_EQ(Parse("data: a\n\n\xEF\xBB\xBF" "data: b\n\n"), (std::vector<Ev>{{"message", "a", ""}}));
  // After a restart the new stream may start with one again.
  p.Restart();
  EXPECT_EQ(Parse(&p, {"\xEF\xBB\xBF" "data: c\n\n"}), (std::vector<Ev>{{"message", "c", ""}}));
}

TEST(SseParser, Retry) {
  SseParser p;
  EXPECT_FALSE(p.retry_ms().has_value());
  Parse(&p, {"retry: 2500\n\n"});
  EXPECT_EQ(p.retry_ms(), 2500u);
  Parse(&p, {"retry: 3s\nretry: -1\nretry:\nretry: 99999999999999999999999\n\n"});
  EXPECT_EQ(p.retry_ms(), 2500u);
}

TEST(SseParser, LinesAndEventsOverTheLimitAreRefused) {
  SseParser line_limit(16);
  std::vector<SseEvent> events;
  EXPECT_TRUE(line_limit.Feed("data: 0123456789\n\n", &events).ok());
  Status s = line_limit.Feed("data: 0123456789" "0", &events);
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.error_code(), "stream_too_large");
  EXPECT_FALSE(line_limit.Feed("\n\n", &events).ok());  // stays failed
  line_limit.Restart();
  EXPECT_TRUE(line_limit.Feed("data: ok\n\n", &events).ok());
  EXPECT_EQ(events.size(), 2u);

  // Many short data lines add up to one event too large.
  SseParser event_limit(16);
  events.clear();
  EXPECT_FALSE(event_limit.Feed("data: 12345\ndata: 12345\ndata: 12345\n", &events).ok());
  EXPECT_TRUE(events.empty());
}

}  // namespace
}  // namespace annals
