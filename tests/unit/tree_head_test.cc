// Signed tree heads (integrity/tree_head.h): the exact signed bytes, the JSON forms and their
// strict parsing, Ed25519 signing and verification with a negative corpus, and the chain rules.
#include "integrity/tree_head.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <boost/json.hpp>
#include <functional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "domain/time.h"

namespace annals::integrity {
namespace {

merkle::Hash HashOf(const std::string& hex) { return *merkle::HashFromHex(hex); }

constexpr char kRootHex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
constexpr char kPrevHex[] = "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff";

TimestampUs Time(const char* rfc3339) { return *ParseRfc3339(rfc3339); }

std::string Bytes0To63() {
  std::string s;
  for (int i = 0; i < 64; ++i) s += static_cast<char>(i);
  return s;
}

TreeHead FixedHead() {
  TreeHead h;
  h.organization_id = "org_acme";
  h.tree_size = 42;
  h.root_hash = HashOf(kRootHex);
  h.timestamp = Time("2026-11-29T16:29:22.123Z");
  h.previous_head_hash = HashOf(kPrevHex);
  h.key_id = "0123456789abcdef";
  h.signature = Bytes0To63();
  return h;
}

TEST(TreeHeadTest, SignedMessageIsExact) {
  EXPECT_EQ(SignedMessage(FixedHead()),
            "annals-tree-head/v1\n"
            "org_acme\n"
            "42\n"
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
            "2026-11-29T16:29:22.123Z\n"
            "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff\n");

  // The first head: an empty previous line; an empty tree; the epoch; whole seconds keep
  // their three digits.
  TreeHead first;
  first.organization_id = "o";
  first.root_hash = merkle::EmptyRoot();
  EXPECT_EQ(SignedMessage(first),
            "annals-tree-head/v1\no\n0\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
            "1970-01-01T00:00:00.000Z\n\n");

  // Neither the key id nor the signature is signed.
  TreeHead other_key = FixedHead();
  other_key.key_id = "fedcba9876543210";
  other_key.signature = std::string(64, 'x');
  EXPECT_EQ(SignedMessage(other_key), SignedMessage(FixedHead()));
}

TEST(TreeHeadTest, HeadHashIsSha256OfTheMessage) {
  const merkle::Hash h = HeadHash(FixedHead());
  EXPECT_EQ(std::string(h.begin(), h.end()), Sha256(SignedMessage(FixedHead())));
  TreeHead bigger = FixedHead();
  bigger.tree_size = 43;
  EXPECT_NE(HeadHash(bigger), h);
}

TEST(TreeHeadTest, JsonIsCanonicalAndRoundTrips) {
  EXPECT_EQ(TreeHeadToJson(FixedHead()),
            R"({"key_id":"0123456789abcdef","organization_id":"org_acme",)"
            R"("previous_head_hash":"f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff",)"
            R"("root_hash":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",)"
            R"("signature":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==",)"
            R"("timestamp":"2026-11-29T16:29:22.123Z","tree_size":42})");

  Result<TreeHead> parsed = TreeHeadFromJson(TreeHeadToJson(FixedHead()));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, FixedHead());

  TreeHead first = FixedHead();
  first.previous_head_hash.reset();
  first.organization_id = "org \"quoted\"\n";
  const std::string json = TreeHeadToJson(first);
  EXPECT_NE(json.find(R"("previous_head_hash":"")"), std::string::npos) << json;
  parsed = TreeHeadFromJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, first);

  // Unknown members are ignored; member order does not matter.
  boost::json::object o = boost::json::parse(TreeHeadToJson(FixedHead())).as_object();
  o["served_by"] = "node-3";
  parsed = TreeHeadFromJson(boost::json::serialize(o));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, FixedHead());
}

// Applies `change` to the JSON of FixedHead and expects a refusal naming `member`.
void ExpectRejected(const std::string& member,
                    const std::function<void(boost::json::object&)>& change) {
  boost::json::object o = boost::json::parse(TreeHeadToJson(FixedHead())).as_object();
  change(o);
  const std::string json = boost::json::serialize(o);
  Result<TreeHead> parsed = TreeHeadFromJson(json);
  ASSERT_FALSE(parsed.ok()) << json;
  EXPECT_EQ(parsed.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(parsed.status().error_code(), "invalid_tree_head");
  EXPECT_NE(parsed.status().message().find("\"" + member + "\""), std::string::npos)
      << parsed.status().message();
  ASSERT_EQ(parsed.status().details().size(), 1u);
  EXPECT_EQ(parsed.status().details()[0].path, "/" + member);
}

TEST(TreeHeadTest, StrictParsingNamesTheMember) {
  for (const char* member : {"key_id", "organization_id", "previous_head_hash", "root_hash",
                             "signature", "timestamp", "tree_size"}) {
    SCOPED_TRACE(member);
    ExpectRejected(member, [&](boost::json::object& o) { o.erase(member); });
    ExpectRejected(member, [&](boost::json::object& o) { o[member] = nullptr; });
    ExpectRejected(member, [&](boost::json::object& o) { o[member] = boost::json::array{}; });
  }
  auto set = [](const char* member, boost::json::value v) {
    return [member, v](boost::json::object& o) { o[member] = v; };
  };
  auto str = [](const std::string& s) { return boost::json::value(boost::json::string(s)); };
  // Strings where numbers belong and the other way round.
  ExpectRejected("tree_size", set("tree_size", "42"));
  ExpectRejected("tree_size", set("tree_size", -1));
  ExpectRejected("tree_size", set("tree_size", 4.5));
  ExpectRejected("key_id", set("key_id", 1234567890123456));
  // Keys ids: 16 lowercase hex characters.
  ExpectRejected("key_id", set("key_id", "0123456789ABCDEF"));
  ExpectRejected("key_id", set("key_id", "0123456789abcde"));
  ExpectRejected("key_id", set("key_id", ""));
  ExpectRejected("organization_id", set("organization_id", ""));
  // Hashes: exactly 64 lowercase hex characters.
  const std::string upper = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
  ExpectRejected("root_hash", set("root_hash", str(upper)));
  ExpectRejected("root_hash", set("root_hash", str(std::string(kRootHex).substr(2))));
  ExpectRejected("root_hash", set("root_hash", str(std::string(kRootHex) + "00")));
  ExpectRejected("previous_head_hash", set("previous_head_hash", str(upper)));
  ExpectRejected("previous_head_hash", set("previous_head_hash", "00"));
  // Signature: base64 of exactly 64 bytes.
  ExpectRejected("signature", set("signature", str(Base64Encode(std::string(63, 'a')))));
  ExpectRejected("signature", set("signature", str(Base64Encode(std::string(65, 'a')))));
  ExpectRejected("signature", set("signature", str(Base64UrlEncode(Bytes0To63()))));
  ExpectRejected("signature", set("signature", "not base64!"));
  // Timestamp: exactly the millisecond form, UTC, Z.
  for (const char* t : {"2026-11-29T16:29:22Z", "2026-11-29T16:29:22.1Z",
                        "2026-11-29T16:29:22.123456Z", "2026-11-29T16:29:22.123+00:00",
                        "2026-11-29t16:29:22.123Z", "2026-11-29T16:29:22.123z",
                        "2026-02-30T16:29:22.123Z", "yesterday"}) {
    SCOPED_TRACE(t);
    ExpectRejected("timestamp", set("timestamp", t));
  }

  EXPECT_FALSE(TreeHeadFromJson("[]").ok());
  EXPECT_FALSE(TreeHeadFromJson("").ok());
  EXPECT_FALSE(TreeHeadFromJson("{").ok());
  // A duplicate member is malformed JSON, not a choice between two values.
  std::string dup = TreeHeadToJson(FixedHead());
  dup.insert(1, R"("tree_size":1,)");
  EXPECT_FALSE(TreeHeadFromJson(dup).ok());
}

// A key pair from a fixed seed, signing as the server does.
struct TestKey {
  explicit TestKey(unsigned char fill, TimestampUs valid_from = 0,
                   std::optional<TimestampUs> valid_until = std::nullopt) {
    EXPECT_GE(sodium_init(), 0);
    unsigned char seed[crypto_sign_SEEDBYTES];
    for (size_t i = 0; i < sizeof seed; ++i) seed[i] = static_cast<unsigned char>(fill + i);
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    crypto_sign_seed_keypair(pk, sk, seed);
    key.raw.assign(reinterpret_cast<const char*>(pk), sizeof pk);
    key.key_id = KeyIdFor(key.raw);
    key.valid_from = valid_from;
    key.valid_until = valid_until;
  }
  TreeHead Sign(TreeHead head) const {
    head.key_id = key.key_id;
    const std::string m = SignedMessage(head);
    unsigned char sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(m.data()),
                         m.size(), sk);
    head.signature.assign(reinterpret_cast<const char*>(sig), sizeof sig);
    return head;
  }
  PublicKey key;
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
};

TEST(TreeHeadTest, KeyIdIsTheStartOfTheSha256) {
  const std::string raw(32, '\0');
  EXPECT_EQ(KeyIdFor(raw), HexEncode(Sha256(raw)).substr(0, 16));
  EXPECT_EQ(KeyIdFor(raw).size(), 16u);
}

TEST(TreeHeadTest, SignAndVerifyWithAFixedSeed) {
  const TestKey k(1);
  const TreeHead head = k.Sign(FixedHead());
  EXPECT_EQ(head.signature.size(), 64u);
  EXPECT_TRUE(VerifyHeadSignature(head, k.key));
  // Ed25519 is deterministic: the same seed and head give the same signature.
  EXPECT_EQ(k.Sign(FixedHead()).signature, head.signature);
  // Through JSON and back.
  Result<TreeHead> parsed = TreeHeadFromJson(TreeHeadToJson(head));
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(VerifyHeadSignature(*parsed, k.key));
  // A first head signs too.
  TreeHead first = FixedHead();
  first.previous_head_hash.reset();
  EXPECT_TRUE(VerifyHeadSignature(k.Sign(first), k.key));
}

TEST(TreeHeadTest, NegativeCorpusFailsVerification) {
  const TimestampUs from = Time("2026-01-01T00:00:00.000Z");
  const TimestampUs until = Time("2026-12-01T00:00:00.000Z");
  const TestKey k(1, from, until);
  const TreeHead good = k.Sign(FixedHead());
  ASSERT_TRUE(VerifyHeadSignature(good, k.key));

  std::vector<std::pair<std::string, TreeHead>> corpus;
  for (size_t bit = 0; bit < 64 * 8; bit += 37) {
    TreeHead h = good;
    h.signature[bit / 8] = static_cast<char>(h.signature[bit / 8] ^ (1 << (bit % 8)));
    corpus.emplace_back("signature bit " + std::to_string(bit), h);
  }
  for (size_t bit : {0, 7, 100, 255}) {
    TreeHead h = good;
    h.root_hash[bit / 8] ^= static_cast<uint8_t>(1 << (bit % 8));
    corpus.emplace_back("root bit " + std::to_string(bit), h);
  }
  {
    TreeHead h = good;
    h.tree_size = 43;
    corpus.emplace_back("tree size", h);
    h = good;
    h.organization_id = "org_acmf";
    corpus.emplace_back("organization", h);
    h = good;
    h.timestamp += 1000;
    corpus.emplace_back("timestamp", h);
    h = good;
    (*h.previous_head_hash)[0] ^= 1;
    corpus.emplace_back("previous head hash", h);
    h = good;
    h.previous_head_hash.reset();
    corpus.emplace_back("previous head hash removed", h);
    h = good;
    h.signature.pop_back();
    corpus.emplace_back("short signature", h);
    h = good;
    h.signature.clear();
    corpus.emplace_back("no signature", h);
  }
  for (const auto& [what, head] : corpus) {
    EXPECT_FALSE(VerifyHeadSignature(head, k.key)) << what;
  }

  // The wrong key, under its own id or under the signer's.
  const TestKey other(2, from, until);
  EXPECT_FALSE(VerifyHeadSignature(good, other.key));
  PublicKey impostor = other.key;
  impostor.key_id = k.key.key_id;
  EXPECT_FALSE(VerifyHeadSignature(good, impostor));
  // The right key, but the head names another key id.
  TreeHead renamed = good;
  renamed.key_id = other.key.key_id;
  EXPECT_FALSE(VerifyHeadSignature(renamed, k.key));
  PublicKey short_key = k.key;
  short_key.raw.pop_back();
  EXPECT_FALSE(VerifyHeadSignature(good, short_key));

  // Validity: the bounds are inclusive; outside them the head fails.
  TreeHead at_start = FixedHead();
  at_start.timestamp = from;
  EXPECT_TRUE(VerifyHeadSignature(k.Sign(at_start), k.key));
  TreeHead at_end = FixedHead();
  at_end.timestamp = until;
  EXPECT_TRUE(VerifyHeadSignature(k.Sign(at_end), k.key));
  TreeHead before = FixedHead();
  before.timestamp = from - 1000;
  EXPECT_FALSE(VerifyHeadSignature(k.Sign(before), k.key));
  TreeHead after = FixedHead();
  after.timestamp = until + 1000;
  EXPECT_FALSE(VerifyHeadSignature(k.Sign(after), k.key));
  // The current key has no end.
  PublicKey current = k.key;
  current.valid_until.reset();
  EXPECT_TRUE(VerifyHeadSignature(k.Sign(after), current));
  EXPECT_FALSE(VerifyHeadSignature(k.Sign(before), current));
}

TEST(PublicKeyTest, JsonRoundTripAndShortForm) {
  TestKey k(7, Time("2026-01-01T00:00:00.000Z"), Time("2026-06-01T12:00:00.500Z"));
  const std::string json = PublicKeyToJson(k.key);
  EXPECT_EQ(json, R"({"algorithm":"ed25519","key_id":")" + k.key.key_id +
                      R"(","public_key":")" + Base64Encode(k.key.raw) +
                      R"(","valid_from":"2026-01-01T00:00:00.000Z","valid_until":"2026-06-01T12:00:00.500Z"})");
  Result<PublicKey> parsed = PublicKeyFromJson(json);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(*parsed, k.key);

  k.key.valid_until.reset();
  EXPECT_NE(PublicKeyToJson(k.key).find(R"("valid_until":null)"), std::string::npos);
  parsed = PublicKeyFromJson(PublicKeyToJson(k.key));
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, k.key);

  // GET /v1/tree/key's short form.
  parsed = PublicKeyFromJson(R"({"key_id":")" + k.key.key_id +
                             R"(","algorithm":"ed25519","public_key":")" +
                             Base64Encode(k.key.raw) + R"("})");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->raw, k.key.raw);
  EXPECT_EQ(parsed->valid_from, 0);
  EXPECT_FALSE(parsed->valid_until);
}

TEST(PublicKeyTest, StrictParsing) {
  const TestKey k(7);
  auto json = [&](const std::string& algorithm, const std::string& key_id,
                  const std::string& public_key) {
    return R"({"algorithm":")" + algorithm + R"(","key_id":")" + key_id +
           R"(","public_key":")" + public_key + R"("})";
  };
  const std::string b64 = Base64Encode(k.key.raw);
  ASSERT_TRUE(PublicKeyFromJson(json("ed25519", k.key.key_id, b64)).ok());
  struct Case {
    std::string json, member;
  };
  const TestKey other(8);
  for (const Case& c : std::vector<Case>{
           {json("Ed25519", k.key.key_id, b64), "algorithm"},
           {json("rsa", k.key.key_id, b64), "algorithm"},
           {json("ed25519", other.key.key_id, b64), "key_id"},
           {json("ed25519", k.key.key_id, Base64Encode(k.key.raw + "x")), "public_key"},
           {json("ed25519", k.key.key_id, Base64Encode(k.key.raw.substr(1))), "public_key"},
           {json("ed25519", k.key.key_id, "%%%"), "public_key"},
           {R"({"algorithm":"ed25519","public_key":")" + b64 + R"("})", "key_id"},
           {R"({"key_id":")" + k.key.key_id + R"(","public_key":")" + b64 + R"("})",
            "algorithm"},
           {R"({"algorithm":"ed25519","key_id":")" + k.key.key_id + R"(","public_key":")" +
                b64 + R"(","valid_from":"2026-01-01T00:00:00Z"})",
            "valid_from"},
           {R"({"algorithm":"ed25519","key_id":")" + k.key.key_id + R"(","public_key":")" +
                b64 +
                R"(","valid_from":"2026-01-02T00:00:00.000Z","valid_until":"2026-01-01T00:00:00.000Z"})",
            "valid_until"},
       }) {
    Result<PublicKey> parsed = PublicKeyFromJson(c.json);
    ASSERT_FALSE(parsed.ok()) << c.json;
    EXPECT_EQ(parsed.status().error_code(), "invalid_public_key");
    EXPECT_NE(parsed.status().message().find("\"" + c.member + "\""), std::string::npos)
        << parsed.status().message();
  }
}

class ChainTest : public ::testing::Test {
 protected:
  ChainTest() {
    prev_ = FixedHead();
    next_ = FixedHead();
    next_.tree_size = 50;
    next_.timestamp += 60'000'000;
    next_.previous_head_hash = HeadHash(prev_);
  }
  static void ExpectBroken(const TreeHead& prev, const TreeHead& next, const std::string& words) {
    Status s = CheckChain(prev, next);
    ASSERT_FALSE(s.ok()) << words;
    EXPECT_EQ(s.code(), Code::kInvalidArgument);
    EXPECT_EQ(s.error_code(), "broken_head_chain");
    EXPECT_NE(s.message().find(words), std::string::npos) << s.message();
  }
  TreeHead prev_, next_;
};

TEST_F(ChainTest, AcceptsAGoodChain) {
  EXPECT_TRUE(CheckChain(prev_, next_).ok());
  // No new events and the same millisecond still chain (a head re-signed after a rotation).
  TreeHead same = prev_;
  same.previous_head_hash = HeadHash(prev_);
  EXPECT_TRUE(CheckChain(prev_, same).ok());
  // Heads signed by different keys chain: the key is not part of the head's hash.
  TreeHead resigned = prev_;
  resigned.key_id = "fedcba9876543210";
  resigned.signature = std::string(64, 'z');
  EXPECT_TRUE(CheckChain(resigned, next_).ok());
  // A chain of three from an organization's first head.
  TreeHead first = prev_;
  first.previous_head_hash.reset();
  first.tree_size = 1;
  TreeHead second = prev_;
  second.previous_head_hash = HeadHash(first);
  EXPECT_TRUE(CheckChain(first, second).ok());
  TreeHead third = next_;
  third.previous_head_hash = HeadHash(second);
  EXPECT_TRUE(CheckChain(second, third).ok());
}

TEST_F(ChainTest, RejectsEachBrokenRule) {
  TreeHead wrong_hash = next_;
  (*wrong_hash.previous_head_hash)[31] ^= 0x80;
  ExpectBroken(prev_, wrong_hash, "previous_head_hash");

  TreeHead missing = next_;
  missing.previous_head_hash.reset();
  ExpectBroken(prev_, missing, "names no previous head");

  TreeHead smaller = next_;
  smaller.tree_size = prev_.tree_size - 1;
  ExpectBroken(prev_, smaller, "tree_size 41 is smaller");

  TreeHead earlier = next_;
  earlier.timestamp = prev_.timestamp - 1000;
  ExpectBroken(prev_, earlier, "timestamp is earlier");

  TreeHead other_org = next_;
  other_org.organization_id = "org_other";
  ExpectBroken(prev_, other_org, "different organizations");

  // The order matters: the earlier head does not follow the later one.
  ExpectBroken(next_, prev_, "previous_head_hash");
}

}  // namespace
}  // namespace annals::integrity
