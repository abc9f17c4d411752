#include "domain/json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "domain/canonical_json.h"

namespace annals {
namespace {

using ::testing::HasSubstr;

boost::json::value ParseOk(std::string_view text, size_t max_depth = 64) {
  Result<boost::json::value> r = ParseStrictJson(text, max_depth);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().ToString();
  return r.ok() ? *r : boost::json::value();
}

// Returns the single detail of a rejected document, checking the status shape.
ErrorDetail ParseFail(std::string_view text, size_t max_depth = 64) {
  Result<boost::json::value> r = ParseStrictJson(text, max_depth);
  EXPECT_FALSE(r.ok()) << text << " was accepted";
  if (r.ok()) return {};
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().error_code(), "invalid_json");
  EXPECT_EQ(r.status().details().size(), 1u);
  if (r.status().details().empty()) return {};
  EXPECT_EQ(r.status().details()[0].message, r.status().message());
  return r.status().details()[0];
}

TEST(ParseStrictJson, AcceptsEveryKindOfValue) {
  const boost::json::value v = ParseOk(
      R"( {"s": "x", "n": 1, "d": 0.5, "t": true, "f": false, "z": null, "a": [], "o": {}} )");
  ASSERT_TRUE(v.is_object());
  const auto& o = v.get_object();
  EXPECT_EQ(o.at("s").get_string(), "x");
  EXPECT_EQ(o.at("n").get_int64(), 1);
  EXPECT_EQ(o.at("d").get_double(), 0.5);
  EXPECT_TRUE(o.at("t").get_bool());
  EXPECT_FALSE(o.at("f").get_bool());
  EXPECT_TRUE(o.at("z").is_null());
  EXPECT_TRUE(o.at("a").get_array().empty());
  EXPECT_TRUE(o.at("o").get_object().empty());
}

TEST(ParseStrictJson, ScalarDocuments) {
  EXPECT_EQ(ParseOk("42").get_int64(), 42);
  EXPECT_EQ(ParseOk(" \"x\" \n").get_string(), "x");
  EXPECT_TRUE(ParseOk("true").get_bool());
  EXPECT_TRUE(ParseOk("null").is_null());
  EXPECT_EQ(ParseOk("-0.25").get_double(), -0.25);
}

TEST(ParseStrictJson, NumbersThatSurviveADoubleRoundTrip) {
  const std::pair<const char*, const char*> accepted[] = {
      {"0", "0"},
      {"-0", "0"},
      {"0.0", "0"},
      {"-0.0e10", "0"},
      {"0.1", "0.1"},
      {"1.5e300", "1.5e+300"},
      {"9007199254740992", "9007199254740992"},
      {"-9007199254740992", "-9007199254740992"},
      {"1E2", "100"},
      {"1e+2", "100"},
      {"100.0e-2", "1"},
      {"4.50", "4.5"},
      {"2e-3", "0.002"},
      {"0.000001", "0.000001"},
      {"1e-7", "1e-7"},
      {"1e21", "1e+21"},
      {"5e-324", "5e-324"},
      {"1.7976931348623157e308", "1.7976931348623157e+308"},
      {"9223372036854776000", "9223372036854776000"},
      {"333333333.3333333", "333333333.3333333"},
      {"123456789", "123456789"},
      {"0.30000000000000004", "0.30000000000000004"},
  };
  for (const auto& [text, canonical] : accepted) {
    EXPECT_EQ(Canonical(ParseOk(text)), canonical) << text;
  }
}

TEST(ParseStrictJson, NumbersThatDoNotSurviveARoundTrip) {
  for (const char* text :
       {"9007199254740993", "-9007199254740993", "0.10000000000000000001",
        "123456789012345678901234", "333333333.33333329", "4e-324", "9223372036854775807",
        "18446744073709551615", "0.3000000000000000444"}) {
    EXPECT_THAT(ParseFail(text).message, HasSubstr("cannot be represented exactly")) << text;
  }
  for (const char* text :
       {"1e400", "-1e400", "1e-400", "1.7976931348623159e308", "1e99999999999"}) {
    EXPECT_THAT(ParseFail(text).message, HasSubstr("out of the range")) << text;
  }
  // Zero stays zero however it is written.
  EXPECT_EQ(ParseOk("0e99999999999").get_int64(), 0);
}

TEST(ParseStrictJson, MalformedNumbers) {
  for (const char* text : {"01", "-01", "1.", ".5", "-", "+1", "1e", "1e+", "0x10", "1.5e3.2",
                           "NaN", "Infinity", "-Infinity", "1_000", "--1", "1ee2"}) {
    const std::string doc = std::string("[") + text + "]";
    const ErrorDetail d = ParseFail(doc);
    EXPECT_EQ(d.path, "/0") << doc;
  }
}

TEST(ParseStrictJson, NumberStorage) {
  const boost::json::value doc =
      ParseOk("[1E2, 0.1, -0, 1e21, 9223372036854776000, -9223372036854776000, 2.0]");
  const boost::json::array& a = doc.get_array();
  EXPECT_TRUE(a[0].is_int64());
  EXPECT_EQ(a[0].get_int64(), 100);
  EXPECT_TRUE(a[1].is_double());
  EXPECT_TRUE(a[2].is_int64());
  EXPECT_EQ(a[2].get_int64(), 0);
  EXPECT_TRUE(a[3].is_double());
  EXPECT_TRUE(a[4].is_double());  // 2^63 does not fit int64
  EXPECT_TRUE(a[5].is_int64());
  EXPECT_EQ(a[5].get_int64(), INT64_MIN);
  EXPECT_TRUE(a[6].is_int64());
  EXPECT_EQ(a[6].get_int64(), 2);
}

TEST(ParseStrictJson, NumberErrorPaths) {
  const ErrorDetail d = ParseFail(R"({"a": {"b": [1, 2, 9007199254740993]}})");
  EXPECT_EQ(d.path, "/a/b/2");
  EXPECT_THAT(d.message, HasSubstr("line 1, column 20"));
}

TEST(ParseStrictJson, StringsAndEscapes) {
  EXPECT_EQ(ParseOk(R"("\u00e9\n\t\"\\\/")").get_string(), "\u00e9\n\t\"\\/");
  EXPECT_EQ(ParseOk(R"("\ud83d\ude00")").get_string(), "\U0001F600");
  EXPECT_EQ(ParseOk(R"("\u0000")").get_string(), std::string("\0", 1));
  EXPECT_EQ(ParseOk("\"\u20ac\"").get_string(), "\u20ac");
}

TEST(ParseStrictJson, InvalidEscapesAndSurrogates) {
  for (const char* text : {R"({"k": ["\ud800"]})", R"({"k": ["\udc00"]})",
                           R"({"k": ["\ud800\u0041"]})", R"({"k": ["\ud800x"]})",
                           R"({"k": ["\x"]})", R"({"k": ["\u12"]})", R"({"k": ["\u12g4"]})"}) {
    const ErrorDetail d = ParseFail(text);
    EXPECT_EQ(d.path, "/k/0") << text;
  }
  // A key that cannot be unescaped is reported at its object.
  EXPECT_EQ(ParseFail(R"({"o": {"ok": 1, "\udc00": 2}})").path, "/o");
}

TEST(ParseStrictJson, InvalidUtf8WithPaths) {
  struct Case {
    std::string text;
    std::string path;
  };
  const Case cases[] = {
      {"{\"a\": \"x\xff\"}", "/a"},
      {"{\"a\": [1, \"\xc0\x80\"]}", "/a/1"},          // overlong
      {"{\"a\": {\"b\": \"\xed\xa0\x80\"}}", "/a/b"},  // encoded surrogate
      {"{\"a\": \"\xf4\x90\x80\x80\"}", "/a"},         // above U+10FFFF
      {"{\"a\": \"\xe2\x82\"}", "/a"},                 // truncated
      {"{\"k\xfe\": 1}", "/k?"},                       // in a key (shown sanitized)
      {"[\"ok\", \"\x80\"]", "/1"},
      {"\"\xff\"", ""},
  };
  for (const Case& c : cases) {
    const ErrorDetail d = ParseFail(c.text);
    EXPECT_EQ(d.path, c.path) << c.text;
    EXPECT_THAT(d.message, HasSubstr("invalid UTF-8")) << c.text;
  }
  EXPECT_THAT(ParseFail("{\"a\":\n  \"\xff\"}").message, HasSubstr("line 2, column 4"));
}

TEST(ParseStrictJson, ControlCharactersInStrings) {
  const ErrorDetail d = ParseFail("{\"a\": [\"ok\", \"bad\x01\"]}");
  EXPECT_EQ(d.path, "/a/1");
  EXPECT_THAT(d.message, HasSubstr("control character"));
  EXPECT_EQ(ParseFail("{\"a\": \"tab\there\"}").path, "/a");
  EXPECT_EQ(ParseFail("{\"a\": \"new\nline\"}").path, "/a");
}

TEST(ParseStrictJson, DuplicateKeys) {
  ErrorDetail d = ParseFail(R"({"a": 1, "b": 2, "a": 3})");
  EXPECT_EQ(d.path, "/a");
  EXPECT_THAT(d.message, HasSubstr("duplicate key"));
  EXPECT_THAT(d.message, HasSubstr("column 18"));
  EXPECT_EQ(ParseFail(R"({"x": [{}, {"y": {"k": 1, "k": 1}}]})").path, "/x/1/y/k");
  EXPECT_EQ(ParseFail(R"({"a/b~c": 1, "a/b~c": 2})").path, "/a~1b~0c");
  // The same key written with different escapes is still a duplicate.
  EXPECT_EQ(ParseFail(R"({"a": 1, "\u0061": 2})").path, "/a");
  // Same key in different objects is fine.
  ParseOk(R"({"a": {"a": 1}, "b": {"a": 2}})");
}

TEST(ParseStrictJson, Depth) {
  ParseOk("[[[1]]]", 3);
  EXPECT_EQ(ParseFail("[[[[1]]]]", 3).path, "/0/0/0");
  ParseOk(R"({"a": {"b": {"c": 1}}})", 3);
  const ErrorDetail d = ParseFail(R"({"a": {"b": {"c": {}}}})", 3);
  EXPECT_EQ(d.path, "/a/b/c");
  EXPECT_THAT(d.message, HasSubstr("deeper than 3 levels"));
  ParseOk("1", 0);
  EXPECT_EQ(ParseFail("[]", 0).path, "");
  // Very deep input within the cap is reported, not overflowed.
  const std::string deep = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_FALSE(ParseStrictJson(deep, 100000).ok());
}

TEST(ParseStrictJson, TrailingContent) {
  for (const char* text : {"{} x", "{}{}", "[1] [2]", "1 2", "[1]]", "{\"a\":1}}", "\"a\" \"b\"",
                           "true false", "null,"}) {
    EXPECT_THAT(ParseFail(text).message,
                ::testing::AnyOf(HasSubstr("after the JSON value"), HasSubstr("malformed")))
        << text;
  }
  EXPECT_THAT(ParseFail("{\"a\":1}\n{\"b\":2}").message, HasSubstr("line 2, column 1"));
  ParseOk("{}  \n\t\r ");
}

TEST(ParseStrictJson, MalformedDocuments) {
  for (const char* text : {"",
                           "   ",
                           "{",
                           "[",
                           "[1,2",
                           "{\"a\":1,}",
                           "[1,]",
                           "{\"a\" 1}",
                           "{1:2}",
                           "[1 2]",
                           "{\"a\":1 \"b\":2}",
                           "[\"abc]",
                           "\"abc",
                           "tru",
                           "nul",
                           "[truex]",
                           "{\"a\":nope}",
                           "[1}",
                           "{\"a\":1]",
                           "{,}",
                           "[,1]",
                           "'a'",
                           "{a:1}",
                           "/* c */ 1",
                           "[\"a\",]"}) {
    ParseFail(text);
  }
  EXPECT_THAT(ParseFail("").message, HasSubstr("empty"));
  const ErrorDetail d = ParseFail("{\n  \"a\": [1,\n  2,]\n}");
  EXPECT_THAT(d.message, HasSubstr("line 3"));
  EXPECT_EQ(ParseFail(R"({"a": {"b": tru}})").path, "/a/b");
}

TEST(ParseStrictJson, LargeDocumentsUseTheirOwnBuffers) {
  std::string big = "[";
  for (int i = 0; i < 200000; ++i) {
    if (i > 0) big += ',';
    big += "\"abcdefgh\"";
  }
  big += "]";
  ASSERT_GT(big.size(), size_t{1} << 20);
  EXPECT_EQ(ParseOk(big).get_array().size(), 200000u);
  // And a small one afterwards still works with the per-thread buffer.
  EXPECT_EQ(ParseOk("[1]").get_array().size(), 1u);
  big[5] = '\xff';
  EXPECT_EQ(ParseFail(big).path, "/0");
}

TEST(ParseStrictJson, StorageOverload) {
  boost::json::monotonic_resource arena;
  Result<boost::json::value> r = ParseStrictJson(R"({"a": [1, "x"]})", 8, &arena);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->storage().get(), &arena);
  EXPECT_EQ(Canonical(*r), R"({"a":[1,"x"]})");
}

TEST(JsonPointer, Escaping) {
  EXPECT_EQ(EscapeJsonPointerToken("a~/b"), "a~0~1b");
  EXPECT_EQ(EscapeJsonPointerToken(""), "");
  std::string p;
  AppendJsonPointerToken("x/y", &p);
  AppendJsonPointerIndex(3, &p);
  AppendJsonPointerToken("~", &p);
  EXPECT_EQ(p, "/x~1y/3/~0");
}

// The decoder's tape reader takes the common documents in one pass and leaves everything
// else to the On-Demand walk; both must agree. These cover the reader's own code paths.
TEST(ParseStrictJson, StringsOfEveryLengthAndContent) {
  // Lengths around the 16-byte blocks, with the special byte at every position.
  for (size_t length = 0; length < 40; ++length) {
    for (size_t at = 0; at <= length; ++at) {
      std::string plain(length, 'x');
      EXPECT_EQ(ParseOk("[\"" + plain + "\"]").get_array()[0].get_string(), plain);
      if (at == length) continue;
      std::string escaped = plain;
      escaped.replace(at, 1, "\\n");
      std::string expected = plain;
      expected[at] = '\n';
      EXPECT_EQ(ParseOk("{\"k\": \"" + escaped + "\"}").get_object().at("k").get_string(),
                expected);
      std::string utf8 = plain;
      utf8.replace(at, 1, "\xE2\x82\xAC");  // a 3-byte character, possibly across a block
      EXPECT_EQ(ParseOk("[\"" + utf8 + "\"]").get_array()[0].get_string(), utf8);
      std::string control = plain;
      control[at] = '\x01';
      EXPECT_EQ(ParseFail("{\"k\": \"" + control + "\"}").path, "/k");
      std::string bad = plain;
      bad[at] = '\xC0';
      EXPECT_EQ(ParseFail("[\"" + bad + "\"]").path, "/0");
    }
  }
}

TEST(ParseStrictJson, UnicodeEscapes) {
  EXPECT_EQ(ParseOk(R"(["\u00e9\u20AC\ud83d\ude00\/\b\f\r\t\"\\"])").get_array()[0].get_string(),
            "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80/\b\f\r\t\"\\");
  EXPECT_EQ(ParseOk(R"(["a\u0000b"])").get_array()[0].get_string(), std::string("a\0b", 3));
  for (const char* text : {R"(["\udc00"])", R"(["\ud800"])", R"(["\ud800x"])",
                           R"(["\ud800\u0041"])", R"(["\ud800\ud800"])", R"(["\u12"])",
                           R"(["\u12g4"])", R"(["\x"])", R"(["\)", R"(["\u)"}) {
    ParseFail(text);
  }
  // Escaped keys are compared unescaped, also in large objects.
  EXPECT_EQ(ParseFail(R"({"ab": 1, "a\u0062": 2})").path, "/ab");
}

TEST(ParseStrictJson, DuplicateKeysInLargeObjects) {
  std::string text = "{";
  for (int i = 0; i < 40; ++i) text += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ",";
  std::string ok = text;
  ok.back() = '}';
  EXPECT_EQ(ParseOk(ok).get_object().size(), 40u);
  for (const char* dup : {"k0", "k15", "k16", "k39"}) {
    const ErrorDetail d = ParseFail(text + "\"" + dup + "\": 0}");
    EXPECT_EQ(d.path, std::string("/") + dup);
    EXPECT_THAT(d.message, HasSubstr("duplicate key"));
  }
}

TEST(ParseStrictJson, WhitespaceAndLayout) {
  const boost::json::value v =
      ParseOk(" \t\r\n{ \"a\" :\n[ 1 ,2, { } , [ ] ,\"x\" ] ,\"b\":{\"c\" : null } }\n ");
  EXPECT_EQ(Canonical(v), R"({"a":[1,2,{},[],"x"],"b":{"c":null}})");
  EXPECT_EQ(ParseOk("  -12.5e1 ").get_int64(), -125);
  EXPECT_TRUE(ParseOk("\n\"\"\n").get_string().empty());
  for (const char* text : {"\xEF\xBB\xBF{}", "{\"a\":1,\"b\"}", "[1,,2]", "{\"a\" 1}", "[01]",
                           "[1.]", "[.5]", "[+1]", "[1e]", "[-]", "[truee]", "[nul]", "{\"a\":1 ,}",
                           "[\"a\" \"b\"]", "[1 2]", "\f[]"}) {
    ParseFail(text);
  }
}

}  // namespace
}  // namespace annals
