#include "domain/ids.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "common/sha256.h"

namespace annals {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

// Decodes the 10 timestamp characters of an event id to milliseconds.
int64_t IdMillis(const std::string& id) {
  int64_t ms = 0;
  for (size_t i = 4; i < 14; ++i) {
    ms = ms * 32 + static_cast<int64_t>(std::string_view(kCrockford).find(id[i]));
  }
  return ms;
}

TEST(IdGenerator, ShapeAndTimestamp) {
  IdGenerator gen(1);
  const std::string id = gen.NextEventId(1469918176385000);
  EXPECT_EQ(id.size(), 30u);
  EXPECT_EQ(id.substr(0, 4), "evt_");
  EXPECT_TRUE(IsEventId(id)) << id;
  // The ULID specification's example timestamp.
  EXPECT_EQ(id.substr(4, 10), "01ARYZ6S41");
  EXPECT_EQ(IdMillis(id), 1469918176385);
}

TEST(IdGenerator, StrictlyIncreasingWithinOneMillisecond) {
  IdGenerator gen;
  std::string previous = gen.NextEventId(1764381784000000);
  for (int i = 0; i < 100000; ++i) {
    const std::string id = gen.NextEventId(1764381784000000 + (i % 1000));  // same ms
    ASSERT_LT(previous, id);
    ASSERT_TRUE(IsEventId(id)) << id;
    ASSERT_EQ(IdMillis(id), 1764381784000);
    previous = id;
  }
}

TEST(IdGenerator, StrictlyIncreasingAcrossMillisecondsAndBackwardClocks) {
  IdGenerator gen(42);
  std::string previous;
  TimestampUs now = 1764381784000000;
  for (int i = 0; i < 10000; ++i) {
    // Mostly forward, sometimes backwards by up to 5 ms.
    now += (i % 7 == 0) ? -5000 : 1700;
    const std::string id = gen.NextEventId(now);
    ASSERT_LT(previous, id) << i;
    previous = id;
  }
}

TEST(IdGenerator, SameMillisecondIdsDifferOnlyInTheRandomPartByOne) {
  IdGenerator gen(3);
  const std::string a = gen.NextEventId(5000);
  const std::string b = gen.NextEventId(5999);
  EXPECT_EQ(a.substr(0, 14), b.substr(0, 14));
  EXPECT_NE(a, b);
}

TEST(IdGenerator, SeededGeneratorsAreDeterministicAndUnseededOnesDiffer) {
  IdGenerator a(9), b(9);
  EXPECT_EQ(a.NextEventId(1000), b.NextEventId(1000));
  IdGenerator c, d;
  EXPECT_NE(c.NextEventId(1000), d.NextEventId(1000));
}

TEST(IdGenerator, ClampsTheTimestamp) {
  IdGenerator gen(5);
  const std::string low = gen.NextEventId(-123456789);
  EXPECT_EQ(low.substr(4, 10), "0000000000");
  EXPECT_TRUE(IsEventId(low));
  IdGenerator gen2(5);
  const std::string high = gen2.NextEventId(INT64_MAX);
  EXPECT_EQ(high.substr(4, 10), "7ZZZZZZZZZ");
  EXPECT_TRUE(IsEventId(high));
}

TEST(IsEventId, RejectsOtherShapes) {
  IdGenerator gen(11);
  const std::string good = gen.NextEventId(1764381784000000);
  ASSERT_TRUE(IsEventId(good));
  EXPECT_FALSE(IsEventId(""));
  EXPECT_FALSE(IsEventId(good.substr(4)));
  EXPECT_FALSE(IsEventId(good + "0"));
  EXPECT_FALSE(IsEventId(good.substr(0, 29)));
  EXPECT_FALSE(IsEventId("ev_" + good.substr(3)));
  EXPECT_FALSE(IsEventId("EVT_" + good.substr(4)));
  for (char bad : {'I', 'L', 'O', 'U', 'a', 'z', '-', '_'}) {
    std::string id = good;
    id[20] = bad;
    EXPECT_FALSE(IsEventId(id)) << id;
  }
  std::string overflow = good;
  overflow[4] = '8';  // more than 128 bits
  EXPECT_FALSE(IsEventId(overflow));
  EXPECT_TRUE(IsEventId("evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2"));
}

TEST(RandomToken, LengthAlphabetAndUniqueness) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string token = RandomToken(32);
    ASSERT_EQ(token.size(), 43u);
    for (char c : token) {
      ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') << token;
    }
    auto raw = Base64UrlDecode(token);
    ASSERT_TRUE(raw.has_value());
    ASSERT_EQ(raw->size(), 32u);
    ASSERT_TRUE(seen.insert(token).second);
  }
  EXPECT_EQ(RandomToken(0), "");
  EXPECT_EQ(RandomToken(1).size(), 2u);
  EXPECT_EQ(RandomToken(16).size(), 22u);
}

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(HexEncode(Sha256("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(HexEncode(Sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256("abc").size(), 32u);
  const std::string million(1000000, 'a');
  EXPECT_EQ(HexEncode(Sha256(million)),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(HexEncode, AllBytes) {
  EXPECT_EQ(HexEncode(std::string("\x00\x01\x7f\x80\xff", 5)), "00017f80ff");
  EXPECT_EQ(HexEncode(""), "");
}

TEST(Base64Url, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},         {"foo", "Zm9v"},
      {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64UrlEncode(plain), encoded);
    auto decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64Url, UsesTheUrlAlphabet) {
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff\xbf", 3)), "-_-_");
  EXPECT_EQ(Base64UrlEncode(std::string("\xfb\xff", 2)), "-_8");
  EXPECT_EQ(Base64UrlDecode("-_-_"), std::string("\xfb\xff\xbf", 3));
}

TEST(Base64Url, DecodeIsStrict) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").has_value());  // padding
  EXPECT_FALSE(Base64UrlDecode("+/8").has_value());   // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm9 v").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zm9v\n").has_value());
  EXPECT_FALSE(Base64UrlDecode("Z").has_value());  // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zm9vY").has_value());
  EXPECT_FALSE(Base64UrlDecode("Zh").has_value());  // non-zero unused bits
  EXPECT_FALSE(Base64UrlDecode("Zm9").has_value());
  EXPECT_TRUE(Base64UrlDecode("Zm8").has_value());
  EXPECT_FALSE(Base64UrlDecode(std::string("Zm\0v", 4)).has_value());
}

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""},             {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : vectors) {
    EXPECT_EQ(Base64Encode(plain), encoded);
    auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.has_value()) << encoded;
    EXPECT_EQ(*decoded, plain);
  }
}

TEST(Base64, UsesTheStandardAlphabetAndOptionalPadding) {
  EXPECT_EQ(Base64Encode(std::string("\xfb\xff\xbf", 3)), "+/+/");
  EXPECT_EQ(Base64Decode("+/+/"), std::string("\xfb\xff\xbf", 3));
  EXPECT_EQ(Base64Decode("Zg"), std::string("f"));
  EXPECT_EQ(Base64Decode("Zm8"), std::string("fo"));
  EXPECT_FALSE(Base64Decode("-_-_").has_value());  // url alphabet
  EXPECT_FALSE(Base64Decode("Zg=").has_value());   // incomplete padding
  EXPECT_FALSE(Base64Decode("Zm8==").has_value());
  EXPECT_FALSE(Base64Decode("Zm9v=").has_value());
  EXPECT_FALSE(Base64Decode("Zg==Zg==").has_value());  // padding inside
  EXPECT_FALSE(Base64Decode("=").has_value());
  EXPECT_FALSE(Base64Decode("====").has_value());
  EXPECT_FALSE(Base64Decode("Zh==").has_value());  // non-zero unused bits
  EXPECT_FALSE(Base64Decode("Zm9v\n").has_value());
}

TEST(Base64Url, RoundTripsAllLengths) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    const std::string encoded = Base64UrlEncode(data);
    auto decoded = Base64UrlDecode(encoded);
    ASSERT_TRUE(decoded.has_value()) << i;
    ASSERT_EQ(*decoded, data);
    data.push_back(static_cast<char>(i * 37 + 11));
  }
}

}  // namespace
}  // namespace annals
