#include "domain/canonical_json.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <boost/json.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "domain/json.h"
#include "domain/json_tape.h"

namespace annals {
namespace {

std::string Number(double d) {
  std::string out;
  AppendJsonNumber(d, &out);
  return out;
}

std::string Str(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

// RFC 8785 Appendix B: IEEE-754 bit patterns and their canonical text.
TEST(AppendJsonNumber, Rfc8785AppendixB) {
  const std::pair<uint64_t, const char*> vectors[] = {
      {0x0000000000000000, "0"},
      {0x8000000000000000, "0"},
      {0x0000000000000001, "5e-324"},
      {0x8000000000000001, "-5e-324"},
      {0x7fefffffffffffff, "1.7976931348623157e+308"},
      {0xffefffffffffffff, "-1.7976931348623157e+308"},
      {0x4340000000000000, "9007199254740992"},
      {0xc340000000000000, "-9007199254740992"},
      {0x4430000000000000, "295147905179352830000"},
      {0x44b52d02c7e14af5, "9.999999999999997e+22"},
      {0x44b52d02c7e14af6, "1e+23"},
      {0x44b52d02c7e14af7, "1.0000000000000001e+23"},
      {0x444b1ae4d6e2ef4e, "999999999999999700000"},
      {0x444b1ae4d6e2ef4f, "999999999999999900000"},
      {0x444b1ae4d6e2ef50, "1e+21"},
      {0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"},
      {0x3eb0c6f7a0b5ed8d, "0.000001"},
      {0x41b3de4355555553, "333333333.3333332"},
      {0x41b3de4355555554, "333333333.33333325"},
      {0x41b3de4355555555, "333333333.3333333"},
      {0x41b3de4355555556, "333333333.3333334"},
      {0x41b3de4355555557, "333333333.33333343"},
      {0xbecbf647612f3696, "-0.0000033333333333333333"},
      {0x43143ff3c1cb0959, "1424953923781206.2"},
  };
  for (const auto& [bits, expected] : vectors) {
    EXPECT_EQ(Number(std::bit_cast<double>(bits)), expected) << std::hex << bits;
  }
}

TEST(AppendJsonNumber, EcmaScriptRules) {
  EXPECT_EQ(Number(333333333.33333329), "333333333.3333333");
  EXPECT_EQ(Number(1E30), "1e+30");
  EXPECT_EQ(Number(4.50), "4.5");
  EXPECT_EQ(Number(2e-3), "0.002");
  EXPECT_EQ(Number(0.000001), "0.000001");
  EXPECT_EQ(Number(1e-7), "1e-7");
  EXPECT_EQ(Number(1.5e-7), "1.5e-7");
  EXPECT_EQ(Number(0.0000012345), "0.0000012345");
  EXPECT_EQ(Number(1e21), "1e+21");
  EXPECT_EQ(Number(1.5e21), "1.5e+21");
  EXPECT_EQ(Number(1e20), "100000000000000000000");
  EXPECT_EQ(Number(123456789012345680000.0), "123456789012345680000");
  EXPECT_EQ(Number(9223372036854775808.0), "9223372036854776000");
  EXPECT_EQ(Number(-0.0), "0");
  EXPECT_EQ(Number(1), "1");
  EXPECT_EQ(Number(-1), "-1");
  EXPECT_EQ(Number(100), "100");
  EXPECT_EQ(Number(0.1), "0.1");
  EXPECT_EQ(Number(-0.5), "-0.5");
  EXPECT_EQ(Number(123.456), "123.456");
  EXPECT_EQ(Number(1.5e300), "1.5e+300");
  EXPECT_EQ(Number(-1.5e-300), "-1.5e-300");
  EXPECT_EQ(Number(2251799813685248.5), "2251799813685248.5");
  EXPECT_EQ(Number(4503599627370497.0), "4503599627370497");
  EXPECT_EQ(Number(9007199254740991), "9007199254740991");
}

TEST(AppendJsonNumber, NonFiniteWritesNothing) {
  EXPECT_EQ(Number(std::numeric_limits<double>::quiet_NaN()), "");
  EXPECT_EQ(Number(std::numeric_limits<double>::infinity()), "");
  EXPECT_EQ(Number(-std::numeric_limits<double>::infinity()), "");
}

TEST(AppendJsonNumber, OutputParsesBackToTheSameDouble) {
  std::mt19937_64 rng(1);
  for (int i = 0; i < 200000; ++i) {
    const double d = std::bit_cast<double>(rng());
    if (!std::isfinite(d)) continue;
    const std::string text = Number(d);
    const double back = std::strtod(text.c_str(), nullptr);
    ASSERT_EQ(back, d) << text;
    // And the strict parser accepts exactly what the writer produces.
    auto parsed = ParseStrictJson(text, 1);
    ASSERT_TRUE(parsed.ok()) << text << " " << parsed.status().ToString();
    ASSERT_EQ(Canonical(*parsed), text);
  }
}

TEST(AppendJsonString, JcsEscaping) {
  EXPECT_EQ(Str(""), "\"\"");
  EXPECT_EQ(Str("plain"), "\"plain\"");
  EXPECT_EQ(Str("\"\\"), "\"\\\"\\\\\"");
  EXPECT_EQ(Str("\b\f\n\r\t"), "\"\\b\\f\\n\\r\\t\"");
  EXPECT_EQ(Str(std::string("\x00\x01\x0b\x0f\x1f", 5)), "\"\\u0000\\u0001\\u000b\\u000f\\u001f\"");
  EXPECT_EQ(Str("/"), "\"/\"");
  EXPECT_EQ(Str("\x7f"), "\"\x7f\"");
  EXPECT_EQ(Str("\u20ac\U0001F600\u2028\u2029"), "\"\u20ac\U0001F600\u2028\u2029\"");
  EXPECT_EQ(Str("a\"b\nc"), "\"a\\\"b\\nc\"");
}

TEST(Canonical, Rfc8785Section322Example) {
  boost::json::object obj;
  obj["numbers"] = boost::json::array{333333333.33333329, 1E30, 4.50, 2e-3, 0.000001};
  obj["string"] = "\u20ac$\x0f\nA'B\"\\\\\"/";
  obj["literals"] = boost::json::array{nullptr, true, false};
  EXPECT_EQ(Canonical(obj),
            "{\"literals\":[null,true,false],\"numbers\":[333333333.3333333,1e+30,4.5,0.002,"
            "0.000001],\"string\":\"\u20ac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

TEST(Canonical, Rfc8785Section323KeySorting) {
  auto parsed = ParseStrictJson(
      R"({"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",)"
      R"( "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control",)"
      R"( "\u00f6": "Latin Small Letter O With Diaeresis"})",
      8);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  const std::string canonical = Canonical(*parsed);
  EXPECT_EQ(
      canonical,
      "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\",\"\u00f6\":\"Latin "
      "Small Letter O With Diaeresis\",\"\u20ac\":\"Euro Sign\",\"\U0001F600\":\"Emoji: Grinning "
      "Face\",\"\uFB33\":\"Hebrew Letter Dalet With Dagesh\"}");
}

TEST(Canonical, IntegersPrintAsTheDoubleTheyEqual) {
  EXPECT_EQ(Canonical(boost::json::value(int64_t{42})), "42");
  EXPECT_EQ(Canonical(boost::json::value(int64_t{-9007199254740991})), "-9007199254740991");
  EXPECT_EQ(Canonical(boost::json::value(int64_t{9007199254740993})), "9007199254740992");
  EXPECT_EQ(Canonical(boost::json::value(std::numeric_limits<int64_t>::min())),
            "-9223372036854776000");
  EXPECT_EQ(Canonical(boost::json::value(std::numeric_limits<uint64_t>::max())),
            "18446744073709552000");
  EXPECT_EQ(Canonical(boost::json::value(uint64_t{7})), "7");
}

TEST(Canonical, StructureAndLiterals) {
  EXPECT_EQ(Canonical(boost::json::value(nullptr)), "null");
  EXPECT_EQ(Canonical(boost::json::value(true)), "true");
  EXPECT_EQ(Canonical(boost::json::object()), "{}");
  EXPECT_EQ(Canonical(boost::json::array()), "[]");
  boost::json::object nested;
  nested["b"] = boost::json::array{1, "x", boost::json::object{{"z", 1}, {"a", 2}}};
  nested["a"] = boost::json::object();
  EXPECT_EQ(Canonical(nested), R"({"a":{},"b":[1,"x",{"a":2,"z":1}]})");
}

TEST(Canonical, IsAFixedPoint) {
  const char* docs[] = {
      R"({"b": [1, 2.5, -0, 1E2, {"y": null, "x": "\u00e9\n"}], "a": true, "": 0.1})",
      R"([[], {}, "", 1e-7, 123456789, "\ud83d\ude00", "\u001f"])",
      R"({"ab": 1, "a": 2, "aa": 3, "b": 4, "\ue000": 5, "\ud800\udc00": 6})",
  };
  for (const char* doc : docs) {
    auto parsed = ParseStrictJson(doc, 8);
    ASSERT_TRUE(parsed.ok()) << doc;
    const std::string once = Canonical(*parsed);
    auto again = ParseStrictJson(once, 8);
    ASSERT_TRUE(again.ok()) << once;
    EXPECT_EQ(Canonical(*again), once);
  }
}

TEST(JcsKeyLess, Utf16Order) {
  EXPECT_TRUE(JcsKeyLess("a", "b"));
  EXPECT_FALSE(JcsKeyLess("b", "a"));
  EXPECT_FALSE(JcsKeyLess("a", "a"));
  EXPECT_TRUE(JcsKeyLess("", "a"));
  EXPECT_TRUE(JcsKeyLess("a", "aa"));
  EXPECT_TRUE(JcsKeyLess("Z", "a"));
  EXPECT_TRUE(JcsKeyLess("\x7f", "\xc2\x80"));
  EXPECT_TRUE(JcsKeyLess("\u00ff", "\u0100"));
  EXPECT_TRUE(JcsKeyLess("\ud7ff", "\U0001F600"));  // U+D7FF < D83D
  EXPECT_TRUE(JcsKeyLess("\U0001F600", "\ue000"));  // D83D < E000, unlike code point order
  EXPECT_TRUE(JcsKeyLess("\U0001F600", "\uffff"));
  EXPECT_TRUE(JcsKeyLess("\U00010000", "\U0001F600"));
  EXPECT_TRUE(JcsKeyLess("x\U0001F600", "x\ufb33"));
  EXPECT_FALSE(JcsKeyLess("x\ufb33", "x\U0001F600"));
  EXPECT_TRUE(JcsKeyLess("\u20ac", "\U0001F600"));
  // Malformed UTF-8 still gives a strict weak order (no crash).
  EXPECT_TRUE(JcsKeyLess("\x80", "\x81") != JcsKeyLess("\x81", "\x80"));
}

TEST(JcsKeyLess, AgreesWithUtf16Comparison) {
  // Random strings over a mix of 1-4 byte characters, compared through real UTF-16.
  const char32_t alphabet[] = {U'a',          U'z',          U'\u0080',    U'\u07ff',
                               U'\u0800',     U'\ud7ff',     U'\ue000',    U'\uffff',
                               U'\U00010000', U'\U0001f600', U'\U0010ffff'};
  std::mt19937 rng(5);
  auto make = [&](std::u16string* u16) {
    std::string utf8;
    const int len = static_cast<int>(rng() % 4);
    for (int i = 0; i < len; ++i) {
      const char32_t c = alphabet[rng() % std::size(alphabet)];
      if (c < 0x80) {
        utf8 += static_cast<char>(c);
      } else if (c < 0x800) {
        utf8 += static_cast<char>(0xC0 | (c >> 6));
        utf8 += static_cast<char>(0x80 | (c & 0x3F));
      } else if (c < 0x10000) {
        utf8 += static_cast<char>(0xE0 | (c >> 12));
        utf8 += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        utf8 += static_cast<char>(0x80 | (c & 0x3F));
      } else {
        utf8 += static_cast<char>(0xF0 | (c >> 18));
        utf8 += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
        utf8 += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
        utf8 += static_cast<char>(0x80 | (c & 0x3F));
      }
      if (c < 0x10000) {
        *u16 += static_cast<char16_t>(c);
      } else {
        *u16 += static_cast<char16_t>(0xD800 + ((c - 0x10000) >> 10));
        *u16 += static_cast<char16_t>(0xDC00 + ((c - 0x10000) & 0x3FF));
      }
    }
    return utf8;
  };
  for (int i = 0; i < 20000; ++i) {
    std::u16string ua, ub;
    const std::string a = make(&ua);
    const std::string b = make(&ub);
    ASSERT_EQ(JcsKeyLess(a, b), ua < ub) << a << " vs " << b;
  }
}

// The tape writer (used by the event decoder) and the boost::json writer agree.
TEST(Canonical, TapeWriterMatchesTreeWriter) {
  std::string many = "{";
  for (int i = 40; i > 0; --i) many += "\"m" + std::to_string(i * 7 % 41) + "\":" + std::to_string(i) + ",";
  many.back() = '}';
  for (const std::string& text : std::vector<std::string>{
           R"({"b":[1,2.5,-0,1e21,1E-7,true,false,null],"a":{"z":"","y":"q\"\\\n\u0001"}})",
           "{\"\xEE\x80\x80\":1,\"\xF0\x9F\x98\x80\":2,\"a\":3,\"\xC3\xA9\":4}",
           R"(["\u00e9\ud83d\ude00", {}, [], [[{"k":{"j":[0]}}]], 9007199254740992])",
           "\"plain\"", "123", many}) {
    Result<boost::json::value> tree = ParseStrictJson(text, 64);
    ASSERT_TRUE(tree.ok()) << text << ": " << tree.status().ToString();
    JsonDocument parsed;
    ASSERT_TRUE(parsed.Parse(text, 64).ok()) << text;
    std::string from_parse;
    AppendCanonical(parsed.root(), &from_parse);
    EXPECT_EQ(from_parse, Canonical(*tree)) << text;
    JsonDocument assigned;
    assigned.Assign(*tree);
    std::string from_tree;
    AppendCanonical(assigned.root(), &from_tree);
    EXPECT_EQ(from_tree, Canonical(*tree)) << text;
    EXPECT_LE(from_tree.size(), CanonicalSizeBound(assigned.root()));
  }
  // Trees can hold what parsed JSON cannot: uint64 values and bytes that are not UTF-8.
  boost::json::value odd = boost::json::object{
      {"u", std::numeric_limits<uint64_t>::max()}, {"s", "\xFF\x01"}, {"i", int64_t{1} << 60}};
  JsonDocument doc;
  doc.Assign(odd);
  std::string out;
  AppendCanonical(doc.root(), &out);
  EXPECT_EQ(out, Canonical(odd));
}

}  // namespace
}  // namespace annals
