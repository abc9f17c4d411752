#include "common/signed_token.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <mutex>

#include "annals/store.h"
#include "common/sha256.h"

namespace annals {

namespace {

namespace json = boost::json;

constexpr std::string_view kMacContext = "annals-signed-token.";
constexpr int64_t kFormatVersion = 1;

Status Invalid() {
  return Status(Code::kPermissionDenied, "invalid_token",
                "the token is not valid: it is malformed, was altered, or was not issued for "
                "this use");
}

bool ValidPurpose(std::string_view purpose) {
  if (purpose.empty() || purpose.size() > 64) return false;
  for (char c : purpose) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                    c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string Mac(std::string_view key, std::string_view payload_b64) {
  std::string data;
  data.reserve(kMacContext.size() + payload_b64.size());
  data.append(kMacContext);
  data.append(payload_b64);
  return HmacSha256(key, data);
}

}  // namespace

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  // HMAC() with a non-null output buffer cannot fail for SHA-256 short of memory exhaustion.
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<const char*>(out), len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string IssueSignedToken(std::string_view key, const TokenClaims& claims) {
  json::object c;
  for (const auto& [name, value] : claims.claims) c[name] = value;
  // Members in byte order of name; claims come from a std::map, so equal claims encode to
  // equal payloads.
  json::object payload;
  payload["c"] = std::move(c);
  payload["e"] = claims.expires_at;
  payload["p"] = claims.purpose;
  payload["v"] = kFormatVersion;
  const std::string payload_b64 = Base64UrlEncode(json::serialize(payload));
  return payload_b64 + "." + Base64UrlEncode(Mac(key, payload_b64));
}

Result<TokenClaims> VerifySignedToken(std::string_view key, std::string_view purpose,
                                      std::string_view token, TimestampUs now) {
  if (token.empty() || token.size() > kMaxTokenLength) return Invalid();
  const size_t dot = token.find('.');
  if (dot == std::string_view::npos || token.find('.', dot + 1) != std::string_view::npos) {
    return Invalid();
  }
  const std::string_view payload_b64 = token.substr(0, dot);
  std::optional<std::string> mac = Base64UrlDecode(token.substr(dot + 1));
  if (!mac || !ConstantTimeEquals(*mac, Mac(key, payload_b64))) return Invalid();

  // Signed by this server: the payload is its own, but it is still read defensively.
  std::optional<std::string> payload_text = Base64UrlDecode(payload_b64);
  if (!payload_text) return Invalid();
  boost::system::error_code ec;
  json::value payload = json::parse(*payload_text, ec);
  if (ec || !payload.is_object()) return Invalid();
  const json::object& p = payload.get_object();
  const json::value* version = p.if_contains("v");
  const json::value* p_purpose = p.if_contains("p");
  const json::value* expires = p.if_contains("e");
  const json::value* c = p.if_contains("c");
  if (version == nullptr || !version->is_int64() || version->get_int64() != kFormatVersion ||
      p_purpose == nullptr || !p_purpose->is_string() || expires == nullptr ||
      !expires->is_int64() || c == nullptr || !c->is_object()) {
    return Invalid();
  }
  if (!ValidPurpose(purpose) || p_purpose->get_string() != purpose) return Invalid();
  TokenClaims out;
  out.purpose = std::string(purpose);
  out.expires_at = expires->get_int64();
  for (const auto& [name, value] : c->get_object()) {
    if (!value.is_string()) return Invalid();
    out.claims.emplace(std::string(name), std::string(value.get_string()));
  }
  if (now >= out.expires_at) {
    return Status(Code::kPermissionDenied, "token_expired", "the token has expired");
  }
  return out;
}

Result<std::string> LoadOrCreateTokenKey(Store* store, const std::string& meta_name) {
  static std::mutex mu;  // one creator at a time in this process
  std::lock_guard lock(mu);
  Result<std::optional<std::string>> existing = store->GetMeta(meta_name);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    if ((*existing)->size() != kTokenKeyBytes) {
      return Status::Internal("the signing key '" + meta_name + "' in the store is damaged");
    }
    return **existing;
  }
  std::string key(kTokenKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), static_cast<int>(key.size())) !=
      1) {
    return Status::Internal("cannot draw random bytes for a signing key");
  }
  ANNALS_RETURN_IF_ERROR(store->PutMeta(meta_name, key));
  return key;
}

}  // namespace annals
