// Unit tests of the PostgreSQL source's pure parts: the pgoutput decoder and copy-both
// framing (from hand-built byte buffers laid out as PostgreSQL 15 sends them), the mapping of
// column values to JSON, item ids, masking and row images.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <deque>
#include <string>

#include "domain/canonical_json.h"
#include "sources/postgres_cdc/pgoutput.h"
#include "sources/postgres_cdc/row_values.h"
#include "sources/postgres_cdc/table_shape.h"

namespace annals {
namespace {

namespace json = boost::json;
using namespace pgoutput;

// Builds big-endian byte buffers.
class Bytes {
 public:
  Bytes& U8(uint8_t v) {
    s_.push_back(static_cast<char>(v));
    return *this;
  }
  Bytes& Ch(char c) {
    s_.push_back(c);
    return *this;
  }
  Bytes& U16(uint16_t v) { return Fixed(v, 2); }
  Bytes& U32(uint32_t v) { return Fixed(v, 4); }
  Bytes& U64(uint64_t v) { return Fixed(v, 8); }
  Bytes& Str(const std::string& v) {
    s_ += v;
    s_.push_back('\0');
    return *this;
  }
  Bytes& Text(const std::string& v) {
    Ch('t');
    U32(static_cast<uint32_t>(v.size()));
    s_ += v;
    return *this;
  }
  Bytes& Raw(const std::string& v) {
    s_ += v;
    return *this;
  }
  const std::string& str() const { return s_; }

 private:
  Bytes& Fixed(uint64_t v, int n) {
    for (int i = n - 1; i >= 0; --i) s_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  std::string s_;
};

// Decodes a message; the buffer is kept for the whole test program, since decoded messages
// view into it.
template <typename T>
T DecodeAs(const std::string& built) {
  static std::deque<std::string> kept;
  const std::string& bytes = kept.emplace_back(built);
  Result<PgOutputMessage> m = Decode(bytes);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return T();
  const T* t = std::get_if<T>(&*m);
  EXPECT_NE(t, nullptr);
  return t == nullptr ? T() : *t;
}

TEST(PgOutputTest, LsnFormatsLikePostgres) {
  EXPECT_EQ(FormatLsn(0x1529750), "0/1529750");
  EXPECT_EQ(FormatLsn((uint64_t{0x16} << 32) | 0xB374D848), "16/B374D848");
  Lsn v = 0;
  ASSERT_TRUE(ParseLsn("16/B374D848", &v));
  EXPECT_EQ(v, (uint64_t{0x16} << 32) | 0xB374D848);
  ASSERT_TRUE(ParseLsn("0/0", &v));
  EXPECT_EQ(v, 0u);
  for (const char* bad : {"", "0", "/1", "1/", "G/1", "123456789/0", "1/2/3"}) {
    EXPECT_FALSE(ParseLsn(bad, &v)) << bad;
  }
}

TEST(PgOutputTest, BeginAndCommit) {
  // The bytes of the verified PostgreSQL 15.18 run: final_lsn 0/1529750, xid 727.
  const Begin b = DecodeAs<Begin>(
      Bytes().Ch('B').U64(0x1529750).U64(0x0003045f85c594dcULL).U32(727).str());
  EXPECT_EQ(b.final_lsn, 0x1529750u);
  EXPECT_EQ(b.commit_ts, 0x0003045f85c594dcLL);
  EXPECT_EQ(b.xid, 727u);
  const Commit c = DecodeAs<Commit>(
      Bytes().Ch('C').U8(0).U64(0x1529750).U64(0x1529780).U64(0x0003045f85c594dcULL).str());
  EXPECT_EQ(c.commit_lsn, 0x1529750u);
  EXPECT_EQ(c.end_lsn, 0x1529780u);
  EXPECT_EQ(c.commit_ts, 0x0003045f85c594dcLL);
  // 2000-01-01 plus those microseconds is in 2026.
  EXPECT_EQ(PostgresToUnixMicros(0), 946684800LL * 1000000);
}

TEST(PgOutputTest, RelationWithColumns) {
  const Relation r = DecodeAs<Relation>(Bytes()
                                            .Ch('R')
                                            .U32(0x4000)
                                            .Str("public")
                                            .Str("items")
                                            .Ch('f')
                                            .U16(3)
                                            .U8(1).Str("id").U32(23).U32(0xffffffff)
                                            .U8(1).Str("price").U32(1700).U32(0x000a0006)
                                            .U8(1).Str("doc").U32(25).U32(0xffffffff)
                                            .str());
  EXPECT_EQ(r.relid, 0x4000u);
  EXPECT_EQ(r.nspname, "public");
  EXPECT_EQ(r.relname, "items");
  EXPECT_EQ(r.replica_identity, 'f');
  ASSERT_EQ(r.columns.size(), 3u);
  EXPECT_TRUE(r.columns[0].part_of_identity);
  EXPECT_EQ(r.columns[1].name, "price");
  EXPECT_EQ(r.columns[1].type_oid, 1700u);
  EXPECT_EQ(r.columns[1].type_modifier, (10 << 16 | 2) + 4);
  EXPECT_EQ(r.columns[2].type_modifier, -1);
}

TEST(PgOutputTest, InsertWithTextAndNullColumns) {
  const Insert i = DecodeAs<Insert>(
      Bytes().Ch('I').U32(0x4000).Ch('N').U16(3).Text("1").Ch('n').Text("widget").str());
  EXPECT_EQ(i.relid, 0x4000u);
  ASSERT_EQ(i.new_tuple.size(), 3u);
  EXPECT_EQ(i.new_tuple[0].kind, ColumnKind::kText);
  EXPECT_EQ(i.new_tuple[0].data, "1");
  EXPECT_EQ(i.new_tuple[1].kind, ColumnKind::kNull);
  EXPECT_EQ(i.new_tuple[2].data, "widget");
}

TEST(PgOutputTest, UpdateWithOldTupleAndUnchangedToast) {
  const Update u = DecodeAs<Update>(Bytes()
                                        .Ch('U')
                                        .U32(0x4000)
                                        .Ch('O')
                                        .U16(3).Text("3").Text("1.00").Text(std::string(6400, 'x'))
                                        .Ch('N')
                                        .U16(3).Text("3").Text("2.00").Ch('u')
                                        .str());
  EXPECT_EQ(u.old_kind, 'O');
  ASSERT_EQ(u.old_tuple.size(), 3u);
  EXPECT_EQ(u.old_tuple[2].data.size(), 6400u);
  ASSERT_EQ(u.new_tuple.size(), 3u);
  EXPECT_EQ(u.new_tuple[1].data, "2.00");
  EXPECT_EQ(u.new_tuple[2].kind, ColumnKind::kUnchanged);
  EXPECT_TRUE(u.new_tuple[2].data.empty());
}

TEST(PgOutputTest, UpdateWithoutOldTupleAndWithKey) {
  const Update plain =
      DecodeAs<Update>(Bytes().Ch('U').U32(7).Ch('N').U16(1).Text("a").str());
  EXPECT_EQ(plain.old_kind, 0);
  EXPECT_TRUE(plain.old_tuple.empty());
  const Update keyed = DecodeAs<Update>(
      Bytes().Ch('U').U32(7).Ch('K').U16(2).Text("2").Ch('n').Ch('N').U16(2).Text("3").Text("b").str());
  EXPECT_EQ(keyed.old_kind, 'K');
  EXPECT_EQ(keyed.old_tuple[1].kind, ColumnKind::kNull);
  EXPECT_EQ(keyed.new_tuple[0].data, "3");
}

TEST(PgOutputTest, DeleteWithFullOldRow) {
  const Delete d =
      DecodeAs<Delete>(Bytes().Ch('D').U32(0x4000).Ch('O').U16(2).Text("3").Text("gadget").str());
  EXPECT_EQ(d.relid, 0x4000u);
  EXPECT_EQ(d.old_kind, 'O');
  ASSERT_EQ(d.old_tuple.size(), 2u);
  EXPECT_EQ(d.old_tuple[1].data, "gadget");
}

TEST(PgOutputTest, TruncateOfSeveralRelations) {
  const Truncate t = DecodeAs<Truncate>(Bytes().Ch('T').U32(2).U8(1).U32(0x4000).U32(0x4001).str());
  EXPECT_EQ(t.options, 1);
  ASSERT_EQ(t.relids.size(), 2u);
  EXPECT_EQ(t.relids[1], 0x4001u);
}

TEST(PgOutputTest, LogicalMessage) {
  const std::string content = R"({"actor":{"id":"u1","type":"user"}})";
  const Message m = DecodeAs<Message>(Bytes()
                                          .Ch('M')
                                          .U8(1)
                                          .U64(0x15297A0)
                                          .Str("annals")
                                          .U32(static_cast<uint32_t>(content.size()))
                                          .Raw(content)
                                          .str());
  EXPECT_TRUE(m.transactional);
  EXPECT_EQ(m.lsn, 0x15297A0u);
  EXPECT_EQ(m.prefix, "annals");
  EXPECT_EQ(m.content, content);
}

TEST(PgOutputTest, TypeAndOrigin) {
  const Type y = DecodeAs<Type>(Bytes().Ch('Y').U32(0x400f).Str("public").Str("status").str());
  EXPECT_EQ(y.oid, 0x400fu);
  EXPECT_EQ(y.typname, "status");
  const Origin o = DecodeAs<Origin>(Bytes().Ch('O').U64(99).Str("node_a").str());
  EXPECT_EQ(o.commit_lsn, 99u);
  EXPECT_EQ(o.name, "node_a");
}

TEST(PgOutputTest, MalformedMessagesAreErrorsNeverCrashes) {
  const std::string insert =
      Bytes().Ch('I').U32(0x4000).Ch('N').U16(2).Text("1").Text("widget").str();
  // Every truncation of a valid message is refused.
  for (size_t n = 0; n < insert.size(); ++n) {
    EXPECT_FALSE(Decode(insert.substr(0, n)).ok()) << n;
  }
  EXPECT_FALSE(Decode(insert + "x").ok());  // trailing bytes
  EXPECT_FALSE(Decode(Bytes().Ch('I').U32(1).Ch('X').U16(0).str()).ok());
  EXPECT_FALSE(Decode(Bytes().Ch('I').U32(1).Ch('N').U16(1).Ch('z').str()).ok());
  EXPECT_FALSE(Decode(Bytes().Ch('I').U32(1).Ch('N').U16(1).Ch('t').U32(0xffffffff).str()).ok());
  EXPECT_FALSE(Decode(Bytes().Ch('R').U32(1).Str("public").Raw("items").str()).ok());  // no NUL
  EXPECT_FALSE(Decode(Bytes().Ch('T').U32(1000000).U8(0).str()).ok());
  EXPECT_FALSE(Decode("Z").ok());
  Result<PgOutputMessage> streaming = Decode(Bytes().Ch('S').U32(5).U8(1).str());
  ASSERT_FALSE(streaming.ok());
  EXPECT_EQ(streaming.status().error_code(), "pgoutput_unsupported");
}

TEST(PgOutputTest, CopyBothFraming) {
  const std::string payload = Bytes().Ch('B').U64(1).U64(2).U32(3).str();
  Result<CopyData> w = DecodeCopyData(Bytes().Ch('w').U64(0x10).U64(0x20).U64(5).Raw(payload).str());
  ASSERT_TRUE(w.ok());
  const XLogData& x = std::get<XLogData>(*w);
  EXPECT_EQ(x.data_start, 0x10u);
  EXPECT_EQ(x.wal_end, 0x20u);
  EXPECT_EQ(x.payload, payload);
  Result<CopyData> k = DecodeCopyData(Bytes().Ch('k').U64(0x30).U64(6).U8(1).str());
  ASSERT_TRUE(k.ok());
  EXPECT_EQ(std::get<Keepalive>(*k).wal_end, 0x30u);
  EXPECT_TRUE(std::get<Keepalive>(*k).reply_requested);
  EXPECT_FALSE(DecodeCopyData(Bytes().Ch('k').U64(0x30).str()).ok());
  EXPECT_FALSE(DecodeCopyData("q").ok());
  EXPECT_FALSE(DecodeCopyData("").ok());

  const std::string r = EncodeStandbyStatus(0x50, 0x40, 0x40, 7, false);
  EXPECT_EQ(r, Bytes().Ch('r').U64(0x50).U64(0x40).U64(0x40).U64(7).U8(0).str());
  EXPECT_EQ(r.size(), 34u);
}

// ---- values -----------------------------------------------------------------------------

std::string J(const json::value& v) { return Canonical(v); }

TEST(RowValuesTest, TypedValues) {
  using namespace pgcdc;
  EXPECT_EQ(J(ColumnValue(kBoolOid, "t")), "true");
  EXPECT_EQ(J(ColumnValue(kBoolOid, "f")), "false");
  EXPECT_EQ(J(ColumnValue(kInt4Oid, "-42")), "-42");
  EXPECT_EQ(J(ColumnValue(kInt8Oid, "9007199254740992")), "9007199254740992");
  // Beyond 2^53 a double cannot hold the value: kept exactly as a string.
  EXPECT_EQ(J(ColumnValue(kInt8Oid, "9007199254740993")), "\"9007199254740993\"");
  EXPECT_EQ(J(ColumnValue(kInt8Oid, "-9223372036854775808")), "\"-9223372036854775808\"");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "9.99")), "9.99");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "12.50")), "12.5");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "0.10000000000000000001")), "\"0.10000000000000000001\"");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "123456789012345678901234")), "\"123456789012345678901234\"");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "0.000")), "0");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "-0.50")), "-0.5");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "100.00")), "100");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "123456789012.345")), "123456789012.345");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "0.000000000000000000000000000001")), "1e-30");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "12345678901234567.8")), "\"12345678901234567.8\"");
  EXPECT_EQ(J(ColumnValue(kNumericOid, "NaN")), "\"NaN\"");
  EXPECT_EQ(J(ColumnValue(kFloat8Oid, "Infinity")), "\"Infinity\"");
  EXPECT_EQ(J(ColumnValue(kFloat8Oid, "1e+300")), "1e+300");
  EXPECT_EQ(J(ColumnValue(kFloat4Oid, "1.1")), "1.1");
  EXPECT_EQ(J(ColumnValue(25, "12")), "\"12\"");  // text stays text
  EXPECT_EQ(J(ColumnValue(1184, "2026-11-29 02:03:04.5+00")), "\"2026-11-29 02:03:04.5+00\"");
  EXPECT_EQ(J(ColumnValue(1007, "{1,2,3}")), "\"{1,2,3}\"");  // int4[]
}

TEST(RowValuesTest, JsonColumns) {
  using namespace pgcdc;
  EXPECT_EQ(J(ColumnValue(kJsonbOid, R"({"b": [1, 2.5, null], "a": {"x": true}})")),
            R"({"a":{"x":true},"b":[1,2.5,null]})");
  // A number a double cannot hold stays exact, as a string.
  EXPECT_EQ(J(ColumnValue(kJsonbOid, R"({"n": 12345678901234567890, "s": "\u00e9\ud83d\ude00"})")),
            "{\"n\":\"12345678901234567890\",\"s\":\"\xC3\xA9\xF0\x9F\x98\x80\"}");
  // json keeps duplicate keys; the last one wins, as jsonb would keep it.
  EXPECT_EQ(J(ColumnValue(kJsonOid, R"({"a": 1, "a": 2})")), R"({"a":2})");
  EXPECT_EQ(J(ColumnValue(kJsonOid, "\"just a string\"")), "\"just a string\"");
  EXPECT_EQ(J(ColumnValue(kJsonOid, "[]")), "[]");
}

TEST(RowValuesTest, ItemIdsEscapeSeparators) {
  using namespace pgcdc;
  EXPECT_EQ(ItemId({"42"}), "42");
  EXPECT_EQ(ItemId({"a:b", "c"}), "a%3Ab:c");
  EXPECT_EQ(ItemId({"a", "b:c"}), "a:b%3Ac");
  EXPECT_EQ(ItemId({"100%", "x"}), "100%25:x");
  EXPECT_EQ(ItemId({"%3A"}), "%253A");  // an escaped-looking value is not confused
  EXPECT_EQ(ItemId({"path/to/item", "with space"}), "path/to/item:with space");
  EXPECT_EQ(ItemId({"\xC3\xA9t\xC3\xA9", "\xE6\x97\xA5\xE6\x9C\xAC"}),
            "\xC3\xA9t\xC3\xA9:\xE6\x97\xA5\xE6\x9C\xAC");
  EXPECT_EQ(ItemId({""}), "");
}

TEST(RowValuesTest, MaskIsKeyedHmacSha256) {
  using namespace pgcdc;
  // RFC 4231 test case 2.
  EXPECT_EQ(MaskValue("Jefe", "what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_NE(MaskValue("key-1", "a@example.com"), MaskValue("key-2", "a@example.com"));
}

// ---- row images -------------------------------------------------------------------------

pgcdc::TableShape Shape(const PostgresTableConfig& table) {
  Result<pgcdc::TableShape> s = pgcdc::MakeTableShape(
      table, {{"org", 25}, {"id", 23}, {"sub", 25}, {"email", 25}, {"secret", 25}, {"doc", 25}},
      {"id", "sub"}, "org");
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return *s;
}

TupleColumn T(std::string_view s) { return {ColumnKind::kText, s}; }

TEST(TableShapeTest, ImageIdOrganizationMaskAndExclusion) {
  PostgresTableConfig table{"public.items", "", {"secret"}, {"email"}};
  const pgcdc::TableShape shape = Shape(table);
  EXPECT_EQ(shape.target_type, "items");
  const Tuple row = {T("org_a"), T("7"), T("x:y"), T("a@example.com"), T("hunter2"),
                     {ColumnKind::kNull, {}}};
  Result<pgcdc::RowImage> img = pgcdc::MakeRowImage(shape, row, nullptr, "k");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->id, "7:x%3Ay");
  EXPECT_EQ(img->organization, "org_a");
  EXPECT_EQ(J(img->image), "{\"doc\":null,\"email\":\"" + pgcdc::MaskValue("k", "a@example.com") +
                               "\",\"id\":7,\"org\":\"org_a\",\"sub\":\"x:y\"}");
}

TEST(TableShapeTest, UnchangedToastComesFromTheOldRow) {
  const pgcdc::TableShape shape = Shape({"items", "item", {}, {}});
  const std::string big(5000, 'z');
  const Tuple old_row = {T("o"), T("1"), T("s"), T("e"), T("p"), T(big)};
  const Tuple new_row = {T("o"), T("1"), T("s"), T("e2"), T("p"), {ColumnKind::kUnchanged, {}}};
  Result<pgcdc::RowImage> img = pgcdc::MakeRowImage(shape, new_row, &old_row, "");
  ASSERT_TRUE(img.ok());
  EXPECT_EQ(img->image.at("doc").as_string(), big);
  EXPECT_EQ(img->image.at("email").as_string(), "e2");
  // Without an old row the value cannot be known: refused, never stored as null.
  EXPECT_FALSE(pgcdc::MakeRowImage(shape, new_row, nullptr, "").ok());
}

TEST(TableShapeTest, ShapeProblems) {
  PostgresTableConfig table{"s.t", "", {}, {}};
  EXPECT_FALSE(pgcdc::MakeTableShape(table, {{"id", 23}}, {}, "").ok());         // no key
  EXPECT_FALSE(pgcdc::MakeTableShape(table, {{"id", 23}}, {"pk"}, "").ok());     // key gone
  EXPECT_FALSE(pgcdc::MakeTableShape(table, {{"id", 23}}, {"id"}, "org").ok());  // no org col
  Result<pgcdc::TableShape> ok = pgcdc::MakeTableShape(table, {{"id", 23}}, {"id"}, "");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name.schema, "s");
  EXPECT_EQ(ok->target_type, "t");
  // A NULL key or a row of another width is refused.
  EXPECT_FALSE(pgcdc::MakeRowImage(*ok, {{ColumnKind::kNull, {}}}, nullptr, "").ok());
  EXPECT_FALSE(pgcdc::MakeRowImage(*ok, {T("1"), T("2")}, nullptr, "").ok());
}

}  // namespace
}  // namespace annals
