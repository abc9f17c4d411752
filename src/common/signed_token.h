// Signed, expiring tokens for the links annals hands out (portal links now, export downloads
// later): HMAC-SHA256 under a server-side key, so that a link can be checked without storing
// it, and can neither be altered nor forged by whoever holds it.
//
// A token reads "<payload>.<mac>", both unpadded base64url (URL-safe as they are):
//   payload = the JSON object {"c": {<claim>: <string>, ...}, "e": <expires_at, µs>,
//                              "p": "<purpose>", "v": 1}
//   mac     = HMAC-SHA256(key, "annals-signed-token." + <payload as base64url>)
// The purpose separates the kinds of token issued under one key: a portal token is never
// accepted where an export token is expected, and the other way round.
//
// All functions are thread-safe; LoadOrCreateTokenKey serializes its callers.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

#include "annals/event.h"
#include "annals/status.h"

namespace annals {

class Store;

// Keys are random 32-byte strings (see LoadOrCreateTokenKey).
inline constexpr size_t kTokenKeyBytes = 32;
// Tokens longer than this are refused without further work.
inline constexpr size_t kMaxTokenLength = 4096;

// HMAC-SHA256(key, data) as 32 raw bytes (OpenSSL).
std::string HmacSha256(std::string_view key, std::string_view data);

// True when `a` and `b` hold the same bytes. The time taken depends on the lengths only,
// never on where the first difference is (OpenSSL CRYPTO_memcmp).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

struct TokenClaims {
  // What the token grants, e.g. "portal"; 1-64 characters of [a-z0-9_.-].
  std::string purpose;
  // What it is about, e.g. {"organization_id": "org_1", "intent": "audit_logs"}. Names and
  // values are UTF-8 strings.
  std::map<std::string, std::string> claims;
  // The token is valid while now < expires_at.
  TimestampUs expires_at = 0;
  bool operator==(const TokenClaims&) const = default;
};

// Signs `claims` under `key` (which should be kTokenKeyBytes random bytes).
std::string IssueSignedToken(std::string_view key, const TokenClaims& claims);

// Checks a token issued by IssueSignedToken under `key` for `purpose` at time `now`, and
// returns its claims. Errors, all Code::kPermissionDenied:
//  * "invalid_token": not a token (shape, encoding, length over kMaxTokenLength), a MAC that
//    does not match (altered, or signed under another key), or another purpose;
//  * "token_expired": a genuine token of this purpose whose expires_at <= now.
// The MAC is checked before anything in the payload is read or trusted.
Result<TokenClaims> VerifySignedToken(std::string_view key, std::string_view purpose,
                                      std::string_view token, TimestampUs now);

// Returns the signing key kept in the store's metadata under `meta_name`, creating it (32
// bytes from OpenSSL RAND_bytes, stored synced) on first use. Keys live only there, never
// in configuration. Callers in one process are serialized, so concurrent first uses agree
// on one key. Store errors are returned as they are.
Result<std::string> LoadOrCreateTokenKey(Store* store, const std::string& meta_name);

}  // namespace annals
