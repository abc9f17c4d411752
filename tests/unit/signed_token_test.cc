// Signed tokens (common/signed_token.h): HMAC-SHA256 against RFC 4231 vectors, constant-time
// comparison, and issue/verify with tampering, wrong keys, wrong purposes and expiry.
#include "common/signed_token.h"

#include <gtest/gtest.h>

#include "common/sha256.h"

namespace annals {
namespace {

constexpr TimestampUs kNow = 1764381784123000;

std::string Key(char fill = 'k') { return std::string(kTokenKeyBytes, fill); }

TEST(HmacSha256Test, Rfc4231Vectors) {
  // Test case 1.
  EXPECT_EQ(HexEncode(HmacSha256(std::string(20, '\x0b'), "Hi There")),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the block.
  EXPECT_EQ(HexEncode(HmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block is hashed first.
  EXPECT_EQ(HexEncode(HmacSha256(std::string(131, '\xaa'),
                                 "Test Using Larger Than Block-Size Key - Hash Key First")),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  EXPECT_EQ(HmacSha256("", "").size(), 32u);
}

TEST(ConstantTimeEqualsTest, ComparesBytes) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_TRUE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0b", 3)));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "ab"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_FALSE(ConstantTimeEquals(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TokenClaims PortalClaims() {
  TokenClaims c;
  c.purpose = "portal";
  c.claims = {{"organization_id", "org_1"}, {"intent", "audit_logs"}};
  c.expires_at = kNow + 300 * 1000000LL;
  return c;
}

TEST(SignedTokenTest, RoundTrip) {
  const std::string token = IssueSignedToken(Key(), PortalClaims());
  // URL-safe as it is: base64url and one dot.
  EXPECT_EQ(token.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
            std::string::npos);
  Result<TokenClaims> claims = VerifySignedToken(Key(), "portal", token, kNow);
  ASSERT_TRUE(claims.ok()) << claims.status().ToString();
  EXPECT_EQ(*claims, PortalClaims());
  // Deterministic: equal claims sign to equal tokens.
  EXPECT_EQ(IssueSignedToken(Key(), PortalClaims()), token);
  // Claims with characters JSON must escape survive.
  TokenClaims odd = PortalClaims();
  odd.claims["organization_id"] = "org \"q\" \\ é / \n";
  Result<TokenClaims> back = VerifySignedToken(Key(), "portal", IssueSignedToken(Key(), odd), kNow);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, odd);
}

TEST(SignedTokenTest, ExpiresAtTheInstant) {
  const TokenClaims c = PortalClaims();
  const std::string token = IssueSignedToken(Key(), c);
  EXPECT_TRUE(VerifySignedToken(Key(), "portal", token, c.expires_at - 1).ok());
  Result<TokenClaims> at = VerifySignedToken(Key(), "portal", token, c.expires_at);
  ASSERT_FALSE(at.ok());
  EXPECT_EQ(at.status().code(), Code::kPermissionDenied);
  EXPECT_EQ(at.status().error_code(), "token_expired");
}

TEST(SignedTokenTest, RefusesAlteredForeignAndMalformedTokens) {
  const std::string token = IssueSignedToken(Key(), PortalClaims());
  const auto code = [](const Result<TokenClaims>& r) {
    return r.ok() ? std::string("ok") : r.status().error_code();
  };
  // Another key, another purpose.
  EXPECT_EQ(code(VerifySignedToken(Key('x'), "portal", token, kNow)), "invalid_token");
  EXPECT_EQ(code(VerifySignedToken(Key(), "export_download", token, kNow)), "invalid_token");
  EXPECT_EQ(code(VerifySignedToken(Key(), "", token, kNow)), "invalid_token");
  // Every single-character change is caught (the MAC covers the encoded payload).
  const std::string alphabet = "Aa0-_";
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '.') continue;
    for (char c : alphabet) {
      if (c == token[i]) continue;
      std::string altered = token;
      altered[i] = c;
      Result<TokenClaims> r = VerifySignedToken(Key(), "portal", altered, kNow);
      ASSERT_FALSE(r.ok()) << "position " << i;
      EXPECT_EQ(r.status().error_code(), "invalid_token");
    }
  }
  // A re-signed payload with other claims under another key does not pass either.
  TokenClaims other = PortalClaims();
  other.claims["organization_id"] = "org_2";
  const std::string forged = IssueSignedToken(Key('x'), other);
  const std::string spliced =
      forged.substr(0, forged.find('.')) + token.substr(token.find('.'));
  EXPECT_EQ(code(VerifySignedToken(Key(), "portal", spliced, kNow)), "invalid_token");
  // An expired token that was altered is invalid, not expired.
  TokenClaims old = PortalClaims();
  old.expires_at = kNow - 1;
  std::string stale = IssueSignedToken(Key(), old);
  stale.back() = stale.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(code(VerifySignedToken(Key(), "portal", stale, kNow)), "invalid_token");
  for (const std::string& bad : {std::string(), std::string("."), std::string("abc"),
                                std::string("a.b.c"), token + ".", "." + token,
                                token.substr(0, token.find('.')),
                                token + "=", std::string(kMaxTokenLength + 1, 'A')}) {
    EXPECT_EQ(code(VerifySignedToken(Key(), "portal", bad, kNow)), "invalid_token") << bad;
  }
}

TEST(SignedTokenTest, SignedPayloadsThatAreNotTokensAreRefused) {
  // Payloads signed with the right key but without the token's structure.
  const auto sign = [](const std::string& payload_json) {
    const std::string p = Base64UrlEncode(payload_json);
    return p + "." + Base64UrlEncode(HmacSha256(Key(), "annals-signed-token." + p));
  };
  EXPECT_TRUE(VerifySignedToken(Key(), "portal",
                                sign(R"({"c":{},"e":9000000000000000,"p":"portal","v":1})"), kNow)
                  .ok());
  for (const char* payload : {R"([])", R"(not json)", R"({"c":{},"e":9000000000000000,"p":"portal","v":2})",
                              R"({"c":{},"e":"soon","p":"portal","v":1})",
                              R"({"c":{"a":1},"e":9000000000000000,"p":"portal","v":1})",
                              R"({"c":[],"e":9000000000000000,"p":"portal","v":1})",
                              R"({"e":9000000000000000,"p":"portal","v":1})"}) {
    Result<TokenClaims> r = VerifySignedToken(Key(), "portal", sign(payload), kNow);
    ASSERT_FALSE(r.ok()) << payload;
    EXPECT_EQ(r.status().error_code(), "invalid_token") << payload;
  }
}

}  // namespace
}  // namespace annals
