#include "exports/export_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdint>
#include <initializer_list>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "../gunzip.h"
#include "domain/canonical_json.h"

namespace annals::exports {
namespace {

using ::testing::HasSubstr;

constexpr std::string_view kHeader =
    "id,seq,organization_id,occurred_at,received_at,action,version,actor_id,actor_type,"
    "actor_name,target_types,target_ids,location,user_agent,metadata,changes,source_kind\r\n";

// The event of PRODUCT.md "Event model".
boost::json::object BaseEvent() {
  return boost::json::parse(R"({
    "id": "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2",
    "organization_id": "org_acme",
    "seq": 1042,
    "action": "finding.updated",
    "occurred_at": "2026-11-29T02:03:04.123000Z",
    "received_at": "2026-11-29T02:03:04.130412Z",
    "version": 1,
    "actor": {"id": "user_7", "type": "user", "name": "Ada", "metadata": {"role": "admin"}},
    "targets": [{"id": "F-123", "type": "finding", "name": "SQLi in /login"}],
    "context": {"location": "203.0.113.7", "user_agent": "Mozilla/5.0"},
    "metadata": {"reason": "retest"},
    "changes": {"op": "update", "before": {"state": "open"}, "after": {"state": "closed"}},
    "source": {"kind": "api"}
  })")
      .as_object();
}

// The stored (canonical) form of an event.
std::string Stored(const boost::json::object& event) { return Canonical(event); }

// The CSV cells of BaseEvent(), as encoded.
std::vector<std::string> BaseCells() {
  return {
      "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2",
      "1042",
      "org_acme",
      "2026-11-29T02:03:04.123000Z",
      "2026-11-29T02:03:04.130412Z",
      "finding.updated",
      "1",
      "user_7",
      "user",
      "Ada",
      R"("[""finding""]")",
      R"("[""F-123""]")",
      "203.0.113.7",
      "Mozilla/5.0",
      R"("{""reason"":""retest""}")",
      R"("{""after"":{""state"":""closed""},""before"":{""state"":""open""},""op"":""update""}")",
      "api"};
}

enum Column : size_t {
  kId,
  kSeq,
  kOrganizationId,
  kOccurredAt,
  kReceivedAt,
  kAction,
  kVersion,
  kActorId,
  kActorType,
  kActorName,
  kTargetTypes,
  kTargetIds,
  kLocation,
  kUserAgent,
  kMetadata,
  kChanges,
  kSourceKind,
};

std::string Record(const std::vector<std::string>& cells) {
  std::string out;
  for (size_t i = 0; i < cells.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.append(cells[i]);
  }
  return out + "\r\n";
}

// `s` as a quoted RFC 4180 field.
std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    out.push_back(c);
    if (c == '"') out.push_back('"');
  }
  return out + "\"";
}

ExportEncoder NewEncoder(ExportFormat format, bool gzip = false) {
  Result<ExportEncoder> encoder = ExportEncoder::Create(format, gzip);
  EXPECT_TRUE(encoder.ok()) << encoder.status().ToString();
  return std::move(encoder).value();
}

// The whole file for `events`, which must all be accepted.
std::string Encode(ExportFormat format, const std::vector<std::string>& events, bool gzip = false) {
  ExportEncoder encoder = NewEncoder(format, gzip);
  std::string out;
  encoder.Begin(&out);
  for (const std::string& event : events) {
    const Status st = encoder.Add(event, &out);
    EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << event;
  }
  const Status st = encoder.Finish(&out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(encoder.rows(), events.size());
  EXPECT_EQ(encoder.bytes_out(), out.size());
  return out;
}

// The CSV record of one event (the file without its header).
std::string CsvRecordOf(const boost::json::object& event) {
  const std::string file = Encode(ExportFormat::kCsv, {Stored(event)});
  EXPECT_EQ(file.substr(0, kHeader.size()), kHeader);
  return file.substr(std::min(file.size(), kHeader.size()));
}

// Parses strict RFC 4180 text (every record ends with CRLF); fails the test on anything
// else.
std::vector<std::vector<std::string>> ParseCsv(std::string_view text) {
  std::vector<std::vector<std::string>> records;
  std::vector<std::string> record;
  size_t i = 0;
  while (i < text.size()) {
    std::string field;
    if (text[i] == '"') {
      for (++i;; ++i) {
        if (i >= text.size()) {
          ADD_FAILURE() << "unterminated quoted field";
          return records;
        }
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field.push_back('"');
            ++i;
          } else {
            ++i;
            break;
          }
        } else {
          field.push_back(text[i]);
        }
      }
    } else {
      while (i < text.size() && text[i] != ',' && text[i] != '\r') {
        if (text[i] == '"' || text[i] == '\n') {
          ADD_FAILURE() << "unquoted field with a quote or LF at byte " << i;
          return records;
        }
        field.push_back(text[i++]);
      }
    }
    record.push_back(std::move(field));
    if (i < text.size() && text[i] == ',') {
      ++i;
      continue;
    }
    if (text.substr(i, 2) != "\r\n") {
      ADD_FAILURE() << "a field is not followed by ',' or CRLF at byte " << i;
      return records;
    }
    i += 2;
    records.push_back(std::move(record));
    record.clear();
  }
  return records;
}

using ::annals::testing::Gunzip;

// --- Formats -------------------------------------------------------------------------------

TEST(ExportFormatTest, ParsesTheThreeNames) {
  const std::pair<std::string_view, ExportFormat> formats[] = {{"csv", ExportFormat::kCsv},
                                                               {"ndjson", ExportFormat::kNdjson},
                                                               {"json", ExportFormat::kJson}};
  for (const auto& [name, format] : formats) {
    const Result<ExportFormat> parsed = ParseExportFormat(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, format);
    EXPECT_EQ(ExportFormatName(format), name);
  }
}

TEST(ExportFormatTest, RejectsAnyOtherName) {
  const std::string_view names[] = {"",      "CSV",   "Json",     "xml",
                                    "csv ",  " json", "ndjson\n", "jsonl",
                                    "json5", "tsv",   "csv.gz",   std::string_view("csv\0", 4)};
  for (std::string_view name : names) {
    const Result<ExportFormat> parsed = ParseExportFormat(name);
    ASSERT_FALSE(parsed.ok()) << name;
    EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(parsed.status().error_code(), "invalid_request");
    EXPECT_THAT(parsed.status().message(), HasSubstr("csv, ndjson, json"));
  }
  EXPECT_EQ(ParseExportFormat("xml").status().message(),
            "unknown export format \"xml\"; the format must be one of csv, ndjson, json");
}

TEST(ExportFormatTest, ContentTypesAndExtensions) {
  EXPECT_EQ(ContentType(ExportFormat::kCsv), "text/csv; charset=utf-8");
  EXPECT_EQ(ContentType(ExportFormat::kNdjson), "application/x-ndjson");
  EXPECT_EQ(ContentType(ExportFormat::kJson), "application/json");
  EXPECT_EQ(FileExtension(ExportFormat::kCsv, false), "csv");
  EXPECT_EQ(FileExtension(ExportFormat::kNdjson, false), "ndjson");
  EXPECT_EQ(FileExtension(ExportFormat::kJson, false), "json");
  EXPECT_EQ(FileExtension(ExportFormat::kCsv, true), "csv.gz");
  EXPECT_EQ(FileExtension(ExportFormat::kNdjson, true), "ndjson.gz");
  EXPECT_EQ(FileExtension(ExportFormat::kJson, true), "json.gz");
}

// --- CSV -----------------------------------------------------------------------------------

TEST(ExportCsvTest, HeaderAloneForNoRows) { EXPECT_EQ(Encode(ExportFormat::kCsv, {}), kHeader); }

TEST(ExportCsvTest, HeaderAndColumnOrder) {
  const std::string file = Encode(ExportFormat::kCsv, {Stored(BaseEvent())});
  EXPECT_EQ(file, std::string(kHeader) +
                      "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2,1042,org_acme,2026-11-29T02:03:04.123000Z,"
                      "2026-11-29T02:03:04.130412Z,finding.updated,1,user_7,user,Ada,"
                      "\"[\"\"finding\"\"]\",\"[\"\"F-123\"\"]\",203.0.113.7,Mozilla/5.0,"
                      "\"{\"\"reason\"\":\"\"retest\"\"}\","
                      "\"{\"\"after\"\":{\"\"state\"\":\"\"closed\"\"},\"\"before\"\":"
                      "{\"\"state\"\":\"\"open\"\"},\"\"op\"\":\"\"update\"\"}\",api\r\n");
  const auto records = ParseCsv(file);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_THAT(records[0],
              ::testing::ElementsAre("id", "seq", "organization_id", "occurred_at", "received_at",
                                     "action", "version", "actor_id", "actor_type", "actor_name",
                                     "target_types", "target_ids", "location", "user_agent",
                                     "metadata", "changes", "source_kind"));
  EXPECT_EQ(records[1][kMetadata], R"({"reason":"retest"})");
  EXPECT_EQ(records[1][kChanges],
            R"({"after":{"state":"closed"},"before":{"state":"open"},"op":"update"})");
}

TEST(ExportCsvTest, QuotesFieldsWithQuotesCommasAndLineBreaks) {
  const std::pair<std::string_view, std::string_view> cases[] = {
      {"plain text", "plain text"},
      {"", ""},
      {"say \"hi\"", "\"say \"\"hi\"\"\""},
      {"\"", "\"\"\"\""},
      {"a,b", "\"a,b\""},
      {"a\rb", "\"a\rb\""},
      {"a\nb", "\"a\nb\""},
      {"a\r\nb", "\"a\r\nb\""},
      {"end\n", "\"end\n\""},
      {"tab\tinside", "tab\tinside"},
      {"it's", "it's"},
      {"x;y|z", "x;y|z"},
  };
  for (const auto& [name, cell] : cases) {
    boost::json::object event = BaseEvent();
    event["actor"].as_object()["name"] = name;
    std::vector<std::string> cells = BaseCells();
    cells[kActorName] = cell;
    EXPECT_EQ(CsvRecordOf(event), Record(cells)) << name;
  }
}

TEST(ExportCsvTest, NeutralisesEveryFormulaLead) {
  for (char lead : {'=', '+', '-', '@', '\t', '\r', '\n', '\0'}) {
    const std::string name = std::string(1, lead) + "HYPERLINK(\"http://x\")";
    boost::json::object event = BaseEvent();
    event["actor"].as_object()["name"] = name;
    std::vector<std::string> cells = BaseCells();
    cells[kActorName] = Quoted("'" + name);  // quoted: the value holds '"'
    EXPECT_EQ(CsvRecordOf(event), Record(cells)) << static_cast<int>(lead);
  }
  // Without characters that need quoting, the prefix alone.
  const std::pair<std::string_view, std::string_view> unquoted[] = {
      {"=1+1", "'=1+1"},       {"+1", "'+1"},
      {"-2", "'-2"},           {"@SUM(A1)", "'@SUM(A1)"},
      {"\tcmd", "'\tcmd"},     {std::string_view("\0x", 2), std::string_view("'\0x", 3)},
      {"\rcmd", "\"'\rcmd\""}, {"\ncmd", "\"'\ncmd\""},
      {"-x,y", "\"'-x,y\""},   {"a=b", "a=b"},
      {" =1", " =1"},          {"'=1", "'=1"},
  };
  for (const auto& [name, cell] : unquoted) {
    boost::json::object event = BaseEvent();
    event["actor"].as_object()["name"] = name;
    std::vector<std::string> cells = BaseCells();
    cells[kActorName] = cell;
    EXPECT_EQ(CsvRecordOf(event), Record(cells)) << name;
  }
}

TEST(ExportCsvTest, NeutralisesEveryTextColumn) {
  boost::json::object event = BaseEvent();
  event["id"] = "=id";
  event["organization_id"] = "+org";
  event["occurred_at"] = "-1";
  event["received_at"] = "@2";
  event["action"] = "=a";
  event["version"] = -3;
  event["actor"] = {{"id", "=HYPERLINK(1)"}, {"type", "@user"}, {"name", "-Ada"}};
  event["targets"] = boost::json::array{{{"id", "=1+1"}, {"type", "-t"}}};
  event["context"] = {{"location", "=loc"}, {"user_agent", "+ua"}};
  event["source"] = {{"kind", "@kind"}};
  const std::string record = CsvRecordOf(event);
  EXPECT_EQ(record,
            "'=id,1042,'+org,'-1,'@2,'=a,'-3,'=HYPERLINK(1),'@user,'-Ada,"
            "\"[\"\"-t\"\"]\",\"[\"\"=1+1\"\"]\",'=loc,'+ua,"
            "\"{\"\"reason\"\":\"\"retest\"\"}\","
            "\"{\"\"after\"\":{\"\"state\"\":\"\"closed\"\"},\"\"before\"\":"
            "{\"\"state\"\":\"\"open\"\"},\"\"op\"\":\"\"update\"\"}\",'@kind\r\n");
}

// Property: whatever the text, the record parses back to the neutralised text, and no
// cell starts with a formula lead.
TEST(ExportCsvTest, RandomTextRoundTripsAndNeverStartsAFormula) {
  const std::string alphabet[] = {"=",  "+",  "-", "@", "\t", "\r", "\n", std::string(1, '\0'),
                                  "\"", ",",  "'", " ", "a",  "1",  "é",  "中",
                                  "😀",  "\\", ";"};
  std::mt19937 rng(20261129);
  for (int round = 0; round < 2000; ++round) {
    std::string name;
    const size_t length = rng() % 8;
    for (size_t i = 0; i < length; ++i) name += alphabet[rng() % std::size(alphabet)];
    boost::json::object event = BaseEvent();
    event["actor"].as_object()["name"] = name;
    event["context"].as_object()["user_agent"] = name;
    const auto records = ParseCsv(CsvRecordOf(event));
    ASSERT_EQ(records.size(), 1u);
    ASSERT_EQ(records[0].size(), 17u);
    const bool lead = !name.empty() &&
                      std::string_view("=+-@\t\r\n\0", 8).find(name[0]) != std::string_view::npos;
    const std::string expected = lead ? "'" + name : name;
    EXPECT_EQ(records[0][kActorName], expected);
    EXPECT_EQ(records[0][kUserAgent], expected);
    for (const std::string& cell : records[0]) {
      ASSERT_FALSE(!cell.empty() &&
                   std::string_view("=+-@\t\r\n\0", 8).find(cell[0]) != std::string_view::npos)
          << cell;
    }
  }
}

TEST(ExportCsvTest, KeepsNonAsciiTextByteForByte) {
  const std::string text = "Zoë é 中文 😀 \xe2\x80\xae";  // ends with U+202E
  boost::json::object event = BaseEvent();
  event["actor"].as_object()["name"] = text;
  event["context"].as_object()["location"] = "São Paulo";
  event["targets"] = boost::json::array{{{"id", "中文"}, {"type", "😀"}}};
  event["metadata"] = {{"note", text}};
  std::vector<std::string> cells = BaseCells();
  cells[kActorName] = text;
  cells[kLocation] = "São Paulo";
  cells[kTargetTypes] = "\"[\"\"😀\"\"]\"";
  cells[kTargetIds] = "\"[\"\"中文\"\"]\"";
  cells[kMetadata] = "\"{\"\"note\"\":\"\"" + text + "\"\"}\"";
  EXPECT_EQ(CsvRecordOf(event), Record(cells));
}

TEST(ExportCsvTest, AbsentOptionalMembersGiveEmptyCells) {
  boost::json::object event = BaseEvent();
  event.erase("version");
  event["actor"].as_object().erase("name");
  event.erase("context");
  event.erase("metadata");
  event.erase("changes");
  std::vector<std::string> cells = BaseCells();
  for (Column c : {kVersion, kActorName, kLocation, kUserAgent, kMetadata, kChanges}) {
    cells[c] = "";
  }
  EXPECT_EQ(CsvRecordOf(event), Record(cells));

  // null counts as absent; so does a context without the member.
  boost::json::object nulls = BaseEvent();
  nulls["version"] = nullptr;
  nulls["actor"].as_object()["name"] = nullptr;
  nulls["context"] = {{"user_agent", nullptr}};
  nulls["metadata"] = nullptr;
  nulls["changes"] = nullptr;
  EXPECT_EQ(CsvRecordOf(nulls), Record(cells));

  boost::json::object location_only = BaseEvent();
  location_only["context"] = {{"location", "10.0.0.1"}};
  cells = BaseCells();
  cells[kLocation] = "10.0.0.1";
  cells[kUserAgent] = "";
  EXPECT_EQ(CsvRecordOf(location_only), Record(cells));
}

TEST(ExportCsvTest, EmptyObjectsAreNotQuoted) {
  boost::json::object event = BaseEvent();
  event["metadata"] = boost::json::object();
  event["changes"] = {{"op", "snapshot"}, {"after", boost::json::object()}};
  std::vector<std::string> cells = BaseCells();
  cells[kMetadata] = "{}";
  cells[kChanges] = R"("{""after"":{},""op"":""snapshot""}")";
  EXPECT_EQ(CsvRecordOf(event), Record(cells));
}

TEST(ExportCsvTest, MultipleTargetsAsJsonArrays) {
  boost::json::object event = BaseEvent();
  event["targets"] = boost::json::array{
      {{"id", "F-1"}, {"type", "finding"}, {"name", "first"}},
      {{"id", "u,\"1\""}, {"type", "user"}},
      {{"id", "p\\1\n"}, {"type", "project"}},
  };
  std::vector<std::string> cells = BaseCells();
  cells[kTargetTypes] = R"("[""finding"",""user"",""project""]")";
  cells[kTargetIds] = R"("[""F-1"",""u,\""1\"""",""p\\1\n""]")";
  EXPECT_EQ(CsvRecordOf(event), Record(cells));

  const auto records = ParseCsv(CsvRecordOf(event));
  ASSERT_EQ(records.size(), 1u);
  const boost::json::value ids = boost::json::parse(records[0][kTargetIds]);
  EXPECT_EQ(ids, (boost::json::array{"F-1", "u,\"1\"", "p\\1\n"}));
}

// The JSON cells hold the members' canonical text, whatever their content.
TEST(ExportCsvTest, JsonCellsAreTheCanonicalText) {
  boost::json::object event = BaseEvent();
  event["metadata"] = boost::json::parse(R"({"b": 1.5, "a": "x\"y\\z\u0001\u001f", "c": true,
      "d": 1e21, "e": -7, "f": 0.000001, "g": 1e-7, "h": 9007199254740992, "i": -0.5,
      "j": "中文😀", "k": 100, "l": false})")
                          .as_object();
  event["changes"] = boost::json::parse(R"({"op": "update",
      "before": {"tags": ["a", 1, null, [], {}], "n": {"deep": [[1, 2], {"x": null}]}},
      "after": {"tags": [], "n": 123456789012, "€": 1, "\ud83d\ude00": 2, "\ue000": 3}})")
                         .as_object();
  std::vector<std::string> cells = BaseCells();
  cells[kMetadata] = Quoted(Canonical(event["metadata"]));
  cells[kChanges] = Quoted(Canonical(event["changes"]));
  EXPECT_EQ(CsvRecordOf(event), Record(cells));
  EXPECT_THAT(cells[kMetadata], HasSubstr(R"(""d"":1e+21,)"));
  EXPECT_THAT(cells[kMetadata], HasSubstr(R"(\u0001\u001f)"));
}

TEST(ExportCsvTest, IgnoresUnknownMembersAndReadsTheFirstOfDuplicates) {
  std::string stored = Stored(BaseEvent());
  ASSERT_EQ(stored.back(), '}');
  stored.insert(stored.size() - 1, R"(,"zz_extra":{"x":[1,2]},"action":"second.action")");
  std::vector<std::string> cells = BaseCells();
  EXPECT_EQ(Encode(ExportFormat::kCsv, {stored}), std::string(kHeader) + Record(cells));
}

TEST(ExportCsvTest, RowsInOrder) {
  std::vector<std::string> events;
  std::string expected(kHeader);
  for (int seq = 1; seq <= 3; ++seq) {
    boost::json::object event = BaseEvent();
    event["seq"] = seq;
    events.push_back(Stored(event));
    std::vector<std::string> cells = BaseCells();
    cells[kSeq] = std::to_string(seq);
    expected += Record(cells);
  }
  EXPECT_EQ(Encode(ExportFormat::kCsv, events), expected);
}

// --- NDJSON and JSON ---------------------------------------------------------------------------

std::vector<std::string> ThreeEvents() {
  std::vector<std::string> events;
  for (int seq = 1; seq <= 3; ++seq) {
    boost::json::object event = BaseEvent();
    event["seq"] = seq;
    event["actor"].as_object()["name"] = "line \"" + std::to_string(seq) + "\" é 😀";
    events.push_back(Stored(event));
  }
  return events;
}

TEST(ExportNdjsonTest, EventsVerbatimOnePerLine) {
  EXPECT_EQ(Encode(ExportFormat::kNdjson, {}), "");
  const std::vector<std::string> events = ThreeEvents();
  EXPECT_EQ(Encode(ExportFormat::kNdjson, {events[0]}), events[0] + "\n");
  EXPECT_EQ(Encode(ExportFormat::kNdjson, events),
            events[0] + "\n" + events[1] + "\n" + events[2] + "\n");
}

TEST(ExportNdjsonTest, KeepsTheBytesOfNonCanonicalEvents) {
  // Not canonical (spaces, member order, an escaped character), yet valid: kept as given.
  std::string event = Stored(BaseEvent());
  event.insert(1, R"( "zz" : [ 1 , "\u00e9" ] , )");
  EXPECT_EQ(Encode(ExportFormat::kNdjson, {event}), event + "\n");
}

TEST(ExportJsonTest, ValidArrayForZeroOneAndThreeRows) {
  const std::vector<std::string> events = ThreeEvents();
  EXPECT_EQ(Encode(ExportFormat::kJson, {}), "[\n]\n");
  EXPECT_EQ(Encode(ExportFormat::kJson, {events[0]}), "[\n" + events[0] + "\n]\n");
  EXPECT_EQ(Encode(ExportFormat::kJson, events),
            "[\n" + events[0] + ",\n" + events[1] + ",\n" + events[2] + "\n]\n");

  for (size_t n : {0, 1, 3}) {
    const std::vector<std::string> some(events.begin(), events.begin() + n);
    boost::system::error_code ec;
    const boost::json::value parsed = boost::json::parse(Encode(ExportFormat::kJson, some), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(parsed.is_array());
    ASSERT_EQ(parsed.as_array().size(), n);
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(Canonical(parsed.as_array()[i]), some[i]);
    }
  }
}

// --- gzip --------------------------------------------------------------------------------------

TEST(ExportGzipTest, RoundTripsEveryFormat) {
  const std::vector<std::string> events = ThreeEvents();
  for (ExportFormat format : {ExportFormat::kCsv, ExportFormat::kNdjson, ExportFormat::kJson}) {
    for (size_t n : {0, 1, 3}) {
      const std::vector<std::string> some(events.begin(), events.begin() + n);
      const std::string plain = Encode(format, some);
      const std::string gz = Encode(format, some, /*gzip=*/true);
      EXPECT_EQ(Gunzip(gz), plain) << ExportFormatName(format) << " " << n;
    }
  }
  // Even an empty NDJSON file is a complete gzip member.
  const std::string empty = Encode(ExportFormat::kNdjson, {}, /*gzip=*/true);
  EXPECT_EQ(Gunzip(empty), "");
}

// Rows encoded apart (EncodeRow, on other encoders, in batches of any size) and appended
// with AddEncoded make the same file as Add, in every format, with and without gzip.
TEST(ExportEncoderTest, RowsEncodedApartMakeTheSameFile) {
  const std::vector<std::string> events = ThreeEvents();
  for (ExportFormat format : {ExportFormat::kCsv, ExportFormat::kNdjson, ExportFormat::kJson}) {
    for (bool gzip : {false, true}) {
      for (size_t n : {0, 1, 3}) {
        for (size_t batch : {1, 2, 3}) {
          SCOPED_TRACE(std::string(ExportFormatName(format)) + (gzip ? " gzip" : "") + " rows " +
                       std::to_string(n) + " batch " + std::to_string(batch));
          const std::vector<std::string> some(events.begin(), events.begin() + n);
          ExportEncoder file = ExportEncoder::Create(format, gzip).value();
          ExportEncoder a = ExportEncoder::Create(format, false).value();
          ExportEncoder b = ExportEncoder::Create(format, false).value();
          std::string out;
          for (size_t i = 0; i < some.size(); i += batch) {
            std::string rows;
            uint64_t count = 0;
            for (size_t j = i; j < std::min(some.size(), i + batch); ++j, ++count) {
              ASSERT_TRUE(((j / batch) % 2 ? a : b).EncodeRow(some[j], &rows).ok());
            }
            ASSERT_TRUE(file.AddEncoded(rows, count, &out).ok());
          }
          ASSERT_TRUE(file.Finish(&out).ok());
          EXPECT_EQ(file.rows(), n);
          EXPECT_EQ(gzip ? Gunzip(out) : out, Encode(format, some));
          EXPECT_EQ(a.rows() + b.rows(), 0u);  // encoding rows leaves an encoder's file alone
        }
      }
    }
  }
}

TEST(ExportEncoderTest, RowsEncodedApartAreValidatedAndVerifiableOnlyInNdjson) {
  ExportEncoder csv = ExportEncoder::Create(ExportFormat::kCsv, false).value();
  std::string rows;
  Status s = csv.EncodeRow(R"({"id":"evt_1"})", &rows);
  EXPECT_EQ(s.error_code(), "invalid_event");
  EXPECT_EQ(rows, "");
  EXPECT_EQ(csv.EncodeVerifiableRow(ThreeEvents()[0], 0, &rows).code(), Code::kInvalidArgument);
  EXPECT_EQ(rows, "");

  ExportEncoder ndjson = ExportEncoder::Create(ExportFormat::kNdjson, false).value();
  ExportEncoder direct = ExportEncoder::Create(ExportFormat::kNdjson, false).value();
  std::string expected;
  ASSERT_TRUE(direct.AddVerifiable(ThreeEvents()[1], 41, &expected).ok());
  ASSERT_TRUE(ndjson.EncodeVerifiableRow(ThreeEvents()[1], 41, &rows).ok());
  EXPECT_EQ(rows, expected);
  std::string out;
  ASSERT_TRUE(ndjson.Finish(&out).ok());
  EXPECT_EQ(ndjson.AddEncoded(rows, 1, &out).code(), Code::kInternal);  // after Finish
}

// A realistic stored event with a given seq (built without Boost.JSON, for speed).
std::string NumberedEvent(uint64_t seq) {
  const std::string n = std::to_string(seq);
  return R"({"action":"finding.updated","actor":{"id":"user_)" + std::to_string(seq % 97) +
         R"(","name":"Ada","type":"user"},"changes":{"after":{"state":"closed","title":"T-)" + n +
         R"("},"before":{"state":"open","title":"T-)" + n +
         R"("},"op":"update"},"context":{"location":"203.0.113.7","user_agent":"Mozilla/5.0"},"id":"evt_)" +
         n +
         R"(","metadata":{"reason":"retest"},"occurred_at":"2026-11-29T02:03:04.123000Z","organization_id":"org_acme","received_at":"2026-11-29T02:03:04.130412Z","seq":)" +
         n + R"(,"source":{"kind":"api"},"targets":[{"id":"F-)" + n +
         R"(","type":"finding"}],"version":1})";
}

// gzip exports compressed in pieces (RowCompressor, one per thread) mixed with rows the
// encoder compresses itself: still one gzip member holding exactly the plain file.
TEST(ExportEncoderTest, RowsCompressedApartMakeOneGzipMemberOfTheSameFile) {
  std::vector<std::string> events;
  for (uint64_t seq = 1; seq <= 700; ++seq) events.push_back(NumberedEvent(seq));
  for (ExportFormat format : {ExportFormat::kCsv, ExportFormat::kNdjson, ExportFormat::kJson}) {
    for (size_t batch : {1, 7, 300, 700}) {
      SCOPED_TRACE(std::string(ExportFormatName(format)) + " batch " + std::to_string(batch));
      ExportEncoder file = ExportEncoder::Create(format, /*gzip=*/true).value();
      ExportEncoder rows_encoder = ExportEncoder::Create(format, false).value();
      RowCompressor a = RowCompressor::Create().value();
      RowCompressor b = RowCompressor::Create().value();
      std::string out;
      size_t k = 0;
      for (size_t i = 0; i < events.size(); i += batch, ++k) {
        const size_t end = std::min(events.size(), i + batch);
        if (k % 3 == 2) {  // every third batch through Add, compressed by the file's encoder
          for (size_t j = i; j < end; ++j) ASSERT_TRUE(file.Add(events[j], &out).ok());
          continue;
        }
        std::string rows;
        for (size_t j = i; j < end; ++j) ASSERT_TRUE(rows_encoder.EncodeRow(events[j], &rows).ok());
        CompressedRows piece;
        ASSERT_TRUE((k % 2 ? a : b).Compress(rows, &piece).ok());
        EXPECT_EQ(piece.size, rows.size());
        ASSERT_TRUE(file.AddCompressed(rows, piece, end - i, &out).ok());
      }
      ASSERT_TRUE(file.Finish(&out).ok());
      EXPECT_EQ(file.rows(), events.size());
      EXPECT_EQ(file.bytes_out(), out.size());
      const std::string plain = Encode(format, events);
      EXPECT_EQ(Gunzip(out), plain);
      if (batch >= 300) {  // pieces large enough to compress well
        EXPECT_LT(out.size(), plain.size() / 3);
      }
    }
  }
  // Without gzip there is nothing to put compressed rows in.
  ExportEncoder plain = ExportEncoder::Create(ExportFormat::kCsv, false).value();
  std::string out;
  EXPECT_EQ(plain.AddCompressed("", CompressedRows{}, 0, &out).code(), Code::kInvalidArgument);
}

// Output comes out while rows go in, in bounded pieces, and the pieces form one gzip member
// whose content is the plain file.
TEST(ExportGzipTest, StreamsManyRows) {
  constexpr uint64_t kRows = 100000;
  ExportEncoder gz = NewEncoder(ExportFormat::kCsv, /*gzip=*/true);
  ExportEncoder plain = NewEncoder(ExportFormat::kCsv);
  std::string out, plain_out, compressed;
  uLong plain_crc = crc32(0, nullptr, 0);
  uint64_t plain_bytes = 0;
  size_t largest_piece = 0;
  const auto take = [&] {
    largest_piece = std::max(largest_piece, out.size());
    compressed += out;
    out.clear();
    plain_crc = crc32(plain_crc, reinterpret_cast<const Bytef*>(plain_out.data()),
                      static_cast<uInt>(plain_out.size()));
    plain_bytes += plain_out.size();
    plain_out.clear();
  };
  gz.Begin(&out);
  plain.Begin(&plain_out);
  take();
  uint64_t bytes_at_half = 0;
  for (uint64_t seq = 1; seq <= kRows; ++seq) {
    const std::string event = NumberedEvent(seq);
    ASSERT_TRUE(gz.Add(event, &out).ok());
    ASSERT_TRUE(plain.Add(event, &plain_out).ok());
    take();
    if (seq == kRows / 2) bytes_at_half = compressed.size();
  }
  const size_t before_finish = compressed.size();
  ASSERT_TRUE(gz.Finish(&out).ok());
  ASSERT_TRUE(plain.Finish(&plain_out).ok());
  take();

  EXPECT_GT(bytes_at_half, 0u);
  EXPECT_GT(before_finish, compressed.size() / 2) << "most output must precede Finish";
  EXPECT_LE(largest_piece, 256u * 1024) << "one call appended " << largest_piece << " bytes";
  EXPECT_EQ(gz.rows(), kRows);
  EXPECT_EQ(gz.bytes_out(), compressed.size());
  EXPECT_LT(compressed.size(), plain_bytes / 4);

  const std::string inflated = Gunzip(compressed);
  EXPECT_EQ(inflated.size(), plain_bytes);
  EXPECT_EQ(crc32(crc32(0, nullptr, 0), reinterpret_cast<const Bytef*>(inflated.data()),
                  static_cast<uInt>(inflated.size())),
            plain_crc);
  EXPECT_EQ(inflated.substr(0, kHeader.size()), kHeader);
}

// --- Invalid events and the encoder's life cycle -----------------------------------------------

struct BadEvent {
  std::string json;
  std::string path;  // of the single detail
};

std::vector<BadEvent> BadEvents() {
  const std::string good = Stored(BaseEvent());
  const auto with = [](const char* member, boost::json::value value) {
    boost::json::object event = BaseEvent();
    event[member] = std::move(value);
    return Stored(event);
  };
  const auto without = [](const char* member) {
    boost::json::object event = BaseEvent();
    event.erase(member);
    return Stored(event);
  };
  const auto with_actor = [](const char* member, boost::json::value value) {
    boost::json::object event = BaseEvent();
    if (value.is_null()) {
      event["actor"].as_object().erase(member);
    } else {
      event["actor"].as_object()[member] = std::move(value);
    }
    return Stored(event);
  };
  std::string bad_utf8 = good;
  bad_utf8.replace(bad_utf8.find("Ada"), 3,
                   "A\xff"
                   "a");
  std::string deep_typo = good;
  deep_typo.replace(deep_typo.find("\"retest\""), 8, "tru");
  std::string spaced = good;
  spaced.insert(1, "\n");
  std::string carriage = good;
  carriage.insert(1, "\r");
  std::string late_break = good;
  late_break.insert(late_break.size() - 1, " \r\n ");
  boost::json::object second_target_bad = BaseEvent();
  second_target_bad["targets"].as_array().push_back(boost::json::value("x"));
  boost::json::object second_target_no_type = BaseEvent();
  second_target_no_type["targets"].as_array().push_back(boost::json::object{{"id", "u"}});

  return {
      {"", ""},
      {"{", ""},
      {"not json", ""},
      {"[" + good + "]", ""},
      {"\"event\"", ""},
      {"null", ""},
      {good + "}", ""},
      {good + good, ""},
      {bad_utf8, ""},
      {deep_typo, ""},
      {spaced, ""},
      {carriage, ""},
      {late_break, ""},
      {good + "\n", ""},
      {without("id"), "/id"},
      {with("id", 7), "/id"},
      {without("organization_id"), "/organization_id"},
      {with("occurred_at", nullptr), "/occurred_at"},
      {without("received_at"), "/received_at"},
      {with("action", boost::json::array()), "/action"},
      {without("seq"), "/seq"},
      {with("seq", 0), "/seq"},
      {with("seq", -1), "/seq"},
      {with("seq", 1.5), "/seq"},
      {with("seq", "1"), "/seq"},
      {with("version", "1"), "/version"},
      {with("version", 1.5), "/version"},
      {without("actor"), "/actor"},
      {with("actor", "user_7"), "/actor"},
      {with_actor("id", nullptr), "/actor/id"},
      {with_actor("type", 3), "/actor/type"},
      {with_actor("name", false), "/actor/name"},
      {without("targets"), "/targets"},
      {with("targets", boost::json::object()), "/targets"},
      {Stored(second_target_bad), "/targets/1"},
      {Stored(second_target_no_type), "/targets/1/type"},
      {with("context", "here"), "/context"},
      {with("context", {{"location", 1}}), "/context/location"},
      {with("context", {{"user_agent", boost::json::array()}}), "/context/user_agent"},
      {with("metadata", boost::json::array()), "/metadata"},
      {with("changes", "update"), "/changes"},
      {without("source"), "/source"},
      {with("source", "api"), "/source"},
      {with("source", boost::json::object()), "/source/kind"},
  };
}

TEST(ExportEncoderTest, RejectsMalformedEventsWritingNothing) {
  const std::vector<BadEvent> bad = BadEvents();
  for (ExportFormat format : {ExportFormat::kCsv, ExportFormat::kNdjson, ExportFormat::kJson}) {
    ExportEncoder encoder = NewEncoder(format);
    std::string out;
    encoder.Begin(&out);
    ASSERT_TRUE(encoder.Add(Stored(BaseEvent()), &out).ok());
    const std::string before = out;
    for (const BadEvent& event : bad) {
      const Status st = encoder.Add(event.json, &out);
      ASSERT_FALSE(st.ok()) << ExportFormatName(format) << ": " << event.json;
      EXPECT_EQ(st.code(), Code::kInvalidArgument);
      EXPECT_EQ(st.error_code(), "invalid_event");
      EXPECT_THAT(st.message(), HasSubstr("cannot export the event: "));
      ASSERT_EQ(st.details().size(), 1u);
      EXPECT_EQ(st.details()[0].path, event.path) << event.json;
      EXPECT_EQ(out, before) << event.json;
    }
    EXPECT_EQ(encoder.rows(), 1u);
    EXPECT_EQ(encoder.bytes_out(), out.size());
    // The encoder goes on after a rejected event.
    ASSERT_TRUE(encoder.Add(Stored(BaseEvent()), &out).ok());
    ASSERT_TRUE(encoder.Finish(&out).ok());
    EXPECT_EQ(out, Encode(format, {Stored(BaseEvent()), Stored(BaseEvent())}));
  }
}

TEST(ExportEncoderTest, MessagesNameTheMember) {
  ExportEncoder encoder = NewEncoder(ExportFormat::kCsv);
  std::string out;
  boost::json::object event = BaseEvent();
  event["targets"].as_array().push_back(boost::json::object{{"id", "u"}});
  Status st = encoder.Add(Stored(event), &out);
  EXPECT_EQ(st.message(), "cannot export the event: targets[1].type is missing");
  EXPECT_EQ(st.details()[0].message, "targets[1].type is missing");
  st = encoder.Add("{\"id\":", &out);
  EXPECT_THAT(st.message(), HasSubstr("cannot export the event: the event is not valid JSON"));
  event = BaseEvent();
  event["seq"] = 0;
  st = encoder.Add(Stored(event), &out);
  EXPECT_EQ(st.message(), "cannot export the event: seq must be an integer of at least 1");
}

TEST(ExportEncoderTest, GzipSkipsRejectedEvents) {
  ExportEncoder encoder = NewEncoder(ExportFormat::kJson, /*gzip=*/true);
  std::string out;
  encoder.Begin(&out);
  for (const BadEvent& event : BadEvents()) {
    ASSERT_FALSE(encoder.Add(event.json, &out).ok());
    ASSERT_TRUE(encoder.Add(Stored(BaseEvent()), &out).ok());
  }
  ASSERT_TRUE(encoder.Finish(&out).ok());
  const std::vector<std::string> good(BadEvents().size(), Stored(BaseEvent()));
  EXPECT_EQ(Gunzip(out), Encode(ExportFormat::kJson, good));
}

TEST(ExportEncoderTest, LifeCycle) {
  for (bool gzip : {false, true}) {
    // Add begins implicitly; Begin afterwards does nothing.
    ExportEncoder encoder = NewEncoder(ExportFormat::kJson, gzip);
    EXPECT_EQ(encoder.format(), ExportFormat::kJson);
    EXPECT_EQ(encoder.gzip(), gzip);
    std::string out;
    ASSERT_TRUE(encoder.Add(Stored(BaseEvent()), &out).ok());
    encoder.Begin(&out);
    encoder.Begin(&out);
    ASSERT_TRUE(encoder.Finish(&out).ok());
    const std::string finished = out;
    EXPECT_EQ(encoder.bytes_out(), out.size());

    // After Finish nothing more is written.
    const Status again = encoder.Finish(&out);
    EXPECT_EQ(again.code(), Code::kInternal);
    const Status late = encoder.Add(Stored(BaseEvent()), &out);
    EXPECT_EQ(late.code(), Code::kInternal);
    encoder.Begin(&out);
    EXPECT_EQ(out, finished);
    EXPECT_EQ(encoder.rows(), 1u);
    const std::string text = gzip ? Gunzip(out) : out;
    EXPECT_EQ(text, "[\n" + Stored(BaseEvent()) + "\n]\n");

    // Finish alone begins too.
    ExportEncoder empty = NewEncoder(ExportFormat::kCsv, gzip);
    std::string empty_out;
    ASSERT_TRUE(empty.Finish(&empty_out).ok());
    EXPECT_EQ(gzip ? Gunzip(empty_out) : empty_out, kHeader);
  }
}

TEST(ExportEncoderTest, MovedEncoderKeepsItsState) {
  ExportEncoder first = NewEncoder(ExportFormat::kNdjson, /*gzip=*/true);
  std::string out;
  ASSERT_TRUE(first.Add(Stored(BaseEvent()), &out).ok());
  ExportEncoder second = std::move(first);
  ASSERT_TRUE(second.Add(Stored(BaseEvent()), &out).ok());
  ASSERT_TRUE(second.Finish(&out).ok());
  EXPECT_EQ(second.rows(), 2u);
  EXPECT_EQ(Gunzip(out), Stored(BaseEvent()) + "\n" + Stored(BaseEvent()) + "\n");
}

}  // namespace
}  // namespace annals::exports
