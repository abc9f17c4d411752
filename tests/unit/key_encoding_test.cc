#include "storage/key_encoding.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace annals::storage {
namespace {

using namespace std::string_literals;

// Sign of a three-way comparison, -1/0/1.
template <typename T>
int Cmp(const T& a, const T& b) {
  return a < b ? -1 : (b < a ? 1 : 0);
}

int CmpBytes(const std::string& a, const std::string& b) {
  return Cmp(std::string_view(a), std::string_view(b));  // bytewise, like memcmp
}

TEST(KeyEncodingTest, U64IsBigEndian) {
  EXPECT_EQ(EncodeU64(0), std::string(8, '\0'));
  EXPECT_EQ(EncodeU64(1), "\0\0\0\0\0\0\0\x01"s);
  EXPECT_EQ(EncodeU64(0x0102030405060708ULL), "\x01\x02\x03\x04\x05\x06\x07\x08"s);
  EXPECT_EQ(EncodeU64(std::numeric_limits<uint64_t>::max()), std::string(8, '\xFF'));
}

TEST(KeyEncodingTest, U64RoundTripAndOrder) {
  const std::vector<uint64_t> values = {0,          1,
                                        2,          255,
                                        256,        65535,
                                        1ULL << 32, (1ULL << 63) - 1,
                                        1ULL << 63, std::numeric_limits<uint64_t>::max()};
  for (uint64_t a : values) {
    std::string ea = EncodeU64(a);
    std::string_view in = ea;
    uint64_t back = 0;
    ASSERT_TRUE(ConsumeU64(&in, &back));
    EXPECT_EQ(back, a);
    EXPECT_TRUE(in.empty());
    for (uint64_t b : values) EXPECT_EQ(CmpBytes(ea, EncodeU64(b)), Cmp(a, b)) << a << " " << b;
  }
}

TEST(KeyEncodingTest, TimestampFlipsSignBit) {
  std::string s;
  AppendTimestamp(&s, 0);
  EXPECT_EQ(s, "\x80\0\0\0\0\0\0\0"s);
  s.clear();
  AppendTimestamp(&s, -1);
  EXPECT_EQ(s, "\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF"s);
  s.clear();
  AppendTimestamp(&s, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(s, std::string(8, '\0'));
}

TEST(KeyEncodingTest, TimestampRoundTripAndOrderIncludingNegatives) {
  const std::vector<int64_t> values = {std::numeric_limits<int64_t>::min(),
                                       std::numeric_limits<int64_t>::min() + 1,
                                       -62135596800000000LL,  // 0001-01-01
                                       -1000000,
                                       -1,
                                       0,
                                       1,
                                       1700000000000000LL,
                                       std::numeric_limits<int64_t>::max() - 1,
                                       std::numeric_limits<int64_t>::max()};
  for (int64_t a : values) {
    std::string ea;
    AppendTimestamp(&ea, a);
    std::string_view in = ea;
    int64_t back = 0;
    ASSERT_TRUE(ConsumeTimestamp(&in, &back));
    EXPECT_EQ(back, a);
    for (int64_t b : values) {
      std::string eb;
      AppendTimestamp(&eb, b);
      EXPECT_EQ(CmpBytes(ea, eb), Cmp(a, b)) << a << " " << b;
    }
  }
}

TEST(KeyEncodingTest, StringEscapesZeroAndTerminates) {
  EXPECT_EQ(EncodeString(""), "\x00\x01"s);
  EXPECT_EQ(EncodeString("ab"), "ab\x00\x01"s);
  EXPECT_EQ(EncodeString("a\0b"s),
            "a\x00\xFF"
            "b\x00\x01"s);
  EXPECT_EQ(EncodeString("\xFF"s), "\xFF\x00\x01"s);
  EXPECT_EQ(EncodeString("\0"s), "\x00\xFF\x00\x01"s);
}

// Strings chosen to stress the escaping: prefixes of each other, 0x00, 0x01, 0xFF bytes.
std::vector<std::string> TrickyStrings() {
  return {""s,      "\0"s,     "\0\0"s,     "\0\x01"s,   "\0\xFF"s, "\x01"s,  "\x01\0"s,
          "\xFE"s,  "\xFF"s,   "\xFF\0"s,   "\xFF\xFF"s, "a"s,      "a\0"s,   "a\0\0"s,
          "a\0b"s,  "a\x01"s,  "a\xFF"s,    "ab"s,       "abc"s,    "abc\0"s, "b"s,
          "org_1"s, "org_10"s, "org_1\0x"s, "org_2"s};
}

TEST(KeyEncodingTest, StringRoundTripAndOrder) {
  const auto values = TrickyStrings();
  for (const auto& a : values) {
    const std::string ea = EncodeString(a);
    std::string_view in = ea;
    std::string back;
    ASSERT_TRUE(ConsumeString(&in, &back));
    EXPECT_EQ(back, a);
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(EncodedStringLength(ea), ea.size());
    for (const auto& b : values) {
      EXPECT_EQ(CmpBytes(ea, EncodeString(b)), CmpBytes(a, b));
    }
  }
}

TEST(KeyEncodingTest, StringEncodingIsPrefixFree) {
  const auto values = TrickyStrings();
  for (const auto& a : values) {
    for (const auto& b : values) {
      if (a == b) continue;
      const std::string ea = EncodeString(a);
      const std::string eb = EncodeString(b);
      EXPECT_FALSE(eb.compare(0, ea.size(), ea) == 0)
          << "encoding of a string is a prefix of another's";
    }
  }
}

// A key of several components orders like the tuple of its components, even when a string
// component is a prefix of the other key's string component.
TEST(KeyEncodingTest, CompositeKeysOrderLikeTuples) {
  using Tuple = std::tuple<std::string, std::string, int64_t, uint64_t>;
  std::vector<Tuple> tuples;
  for (const auto& org : {"o"s, "o\0"s, "oa"s}) {
    for (const auto& s : {""s, "a"s, "a\0"s, "ab"s, "\xFF"s}) {
      for (int64_t ts :
           {std::numeric_limits<int64_t>::min(), int64_t{-5}, int64_t{0}, int64_t{7}}) {
        for (uint64_t seq : {uint64_t{0}, uint64_t{1}, ~uint64_t{0}})
          tuples.emplace_back(org, s, ts, seq);
      }
    }
  }
  auto encode = [](const Tuple& t) {
    std::string k;
    AppendString(&k, std::get<0>(t));
    AppendString(&k, std::get<1>(t));
    AppendTimestamp(&k, std::get<2>(t));
    AppendU64(&k, std::get<3>(t));
    return k;
  };
  for (const auto& a : tuples) {
    const std::string ka = encode(a);
    std::string_view in = ka;
    Tuple back;
    ASSERT_TRUE(ConsumeString(&in, &std::get<0>(back)));
    ASSERT_TRUE(ConsumeString(&in, &std::get<1>(back)));
    ASSERT_TRUE(ConsumeTimestamp(&in, &std::get<2>(back)));
    ASSERT_TRUE(ConsumeU64(&in, &std::get<3>(back)));
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(back, a);
    for (const auto& b : tuples) ASSERT_EQ(CmpBytes(ka, encode(b)), Cmp(a, b));
  }
}

TEST(KeyEncodingTest, StringPrefixCoversExactlyTheStringsStartingWithIt) {
  const auto values = TrickyStrings();
  for (const auto& p : values) {
    std::string ep;
    AppendStringPrefix(&ep, p);
    for (const auto& s : values) {
      const std::string es = EncodeString(s);
      const bool starts = s.compare(0, p.size(), p) == 0 && s.size() >= p.size();
      EXPECT_EQ(es.compare(0, ep.size(), ep) == 0, starts);
    }
  }
}

TEST(KeyEncodingTest, MalformedInputIsRejectedAndInputUnchanged) {
  const std::vector<std::string> bad = {
      ""s,            // nothing
      "abc"s,         // no terminator
      "abc\0"s,       // escape byte at the end
      "ab\0\x02"s,    // escape followed by an invalid byte
      "a\0\xFF"s,     // escaped zero then nothing
      "\0\x00\x01"s,  // 0x00 0x00 is not a valid escape
  };
  for (const auto& b : bad) {
    std::string_view in = b;
    std::string out;
    EXPECT_FALSE(ConsumeString(&in, &out)) << "accepted malformed string of size " << b.size();
    EXPECT_EQ(in.size(), b.size());
    EXPECT_FALSE(SkipString(&in));
    EXPECT_EQ(EncodedStringLength(b), 0u);
  }
  std::string_view short_input("\x01\x02\x03", 3);
  uint64_t u = 0;
  int64_t t = 0;
  EXPECT_FALSE(ConsumeU64(&short_input, &u));
  EXPECT_FALSE(ConsumeTimestamp(&short_input, &t));
  EXPECT_EQ(short_input.size(), 3u);
  EXPECT_FALSE(DecodeU64("1234567", &u));
  EXPECT_FALSE(DecodeU64("123456789", &u));
  EXPECT_TRUE(DecodeU64(EncodeU64(42), &u));
  EXPECT_EQ(u, 42u);
}

TEST(KeyEncodingTest, StringDecodingStopsAtItsTerminator) {
  const std::string k = EncodeString("a\0"s) + EncodeString("") + "tail";
  std::string_view in = k;
  std::string a;
  ASSERT_TRUE(ConsumeString(&in, &a));
  EXPECT_EQ(a, "a\0"s);
  ASSERT_TRUE(SkipString(&in));
  EXPECT_EQ(in, "tail");
}

TEST(KeyEncodingTest, PrefixSuccessor) {
  EXPECT_EQ(PrefixSuccessor("abc"), "abd");
  EXPECT_EQ(PrefixSuccessor("ab\xFF"s), "ac");
  EXPECT_EQ(PrefixSuccessor("\xFF\xFF"s), "");
  EXPECT_EQ(PrefixSuccessor(""), "");
  EXPECT_EQ(PrefixSuccessor("a\0\x01"s), "a\0\x02"s);
  // Every string starting with the prefix is below the successor.
  for (const auto& s : {"abc"s, "abc\xFF\xFF"s, "abc\0"s}) EXPECT_LT(s, PrefixSuccessor("abc"));
}

// Randomized property: for random tuples over a small alphabet rich in 0x00, 0x01 and 0xFF,
// encoded keys sort exactly like the tuples.
TEST(KeyEncodingTest, RandomizedOrderPreservation) {
  std::mt19937_64 rng(20240601);
  const char alphabet[] = {'\x00', '\x01', '\x02', 'a', 'b', '\xFE', '\xFF'};
  auto random_string = [&]() {
    std::string s(rng() % 5, '\0');
    for (char& c : s) c = alphabet[rng() % sizeof(alphabet)];
    return s;
  };
  auto random_ts = [&]() -> int64_t {
    switch (rng() % 4) {
      case 0:
        return static_cast<int64_t>(rng());  // anywhere, often negative
      case 1:
        return static_cast<int64_t>(rng() % 7) - 3;  // around zero
      case 2:
        return std::numeric_limits<int64_t>::min() + static_cast<int64_t>(rng() % 3);
      default:
        return std::numeric_limits<int64_t>::max() - static_cast<int64_t>(rng() % 3);
    }
  };
  using Tuple = std::tuple<std::string, std::string, int64_t, uint64_t>;
  std::vector<std::pair<Tuple, std::string>> items;
  for (int i = 0; i < 5000; ++i) {
    Tuple t(random_string(), random_string(), random_ts(), rng() % 4);
    std::string k;
    AppendString(&k, std::get<0>(t));
    AppendString(&k, std::get<1>(t));
    AppendTimestamp(&k, std::get<2>(t));
    AppendU64(&k, std::get<3>(t));
    items.emplace_back(std::move(t), std::move(k));
  }
  auto by_tuple = items;
  std::stable_sort(by_tuple.begin(), by_tuple.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  auto by_key = items;
  std::stable_sort(by_key.begin(), by_key.end(),
                   [](const auto& x, const auto& y) { return x.second < y.second; });
  ASSERT_EQ(by_tuple.size(), by_key.size());
  for (size_t i = 0; i < by_tuple.size(); ++i) {
    ASSERT_EQ(by_tuple[i].first, by_key[i].first) << "at " << i;
  }
  // Equal tuples and only equal tuples have equal keys.
  for (size_t i = 1; i < by_key.size(); ++i) {
    EXPECT_EQ(by_key[i - 1].first == by_key[i].first, by_key[i - 1].second == by_key[i].second);
  }
}

}  // namespace
}  // namespace annals::storage
