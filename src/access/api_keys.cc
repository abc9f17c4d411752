#include "access/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/ids.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals {

namespace {

constexpr std::string_view kPrefix = "key/";
constexpr std::string_view kTokenPrefix = "annals_";
constexpr size_t kSecretBytes = 24;

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    std::fputs("annals: OpenSSL RAND_bytes failed; refusing to issue a predictable key\n", stderr);
    std::abort();
  }
  return HexEncode(raw);
}

bool IsKeyId(std::string_view id) {
  return id.size() == 30 && id.substr(0, 4) == "key_" && IsEventId("evt_" + std::string(id.substr(4)));
}

std::string RecordJson(const ApiKey& key) {
  std::string out = ApiKeyJson(key);
  out.pop_back();
  out += ",\"secret_sha256\":";
  AppendJsonString(HexEncode(key.secret_sha256), &out);
  out += '}';
  return out;
}

Result<ApiKey> ParseRecord(std::string_view name, const std::string& text) {
  auto corrupt = [&](const std::string& why) {
    return Status::Internal("the stored API key '" + std::string(name) + "' is malformed: " + why);
  };
  Result<boost::json::value> v = ParseStrictJson(text, 16);
  if (!v.ok() || !v->is_object()) return corrupt("not a JSON object");
  const boost::json::object& o = v->as_object();
  auto str = [&](const char* k) -> std::optional<std::string> {
    const auto* x = o.if_contains(k);
    if (x == nullptr || !x->is_string()) return std::nullopt;
    return std::string(x->as_string());
  };
  auto time = [&](const char* k, TimestampUs* out) -> bool {
    const auto* x = o.if_contains(k);
    if (x == nullptr) return false;
    if (x->is_null()) {
      *out = 0;
      return true;
    }
    if (!x->is_string()) return false;
    Result<TimestampUs> t = ParseRfc3339(std::string_view(x->as_string()));
    if (!t.ok()) return false;
    *out = *t;
    return true;
  };
  ApiKey k;
  std::optional<std::string> id = str("id"), nm = str("name"), by = str("created_by"),
                             digest = str("secret_sha256");
  const auto* org = o.if_contains("organization_id");
  const auto* scopes = o.if_contains("scopes");
  if (!id || !nm || !by || !digest || digest->size() != 64 || org == nullptr ||
      !(org->is_null() || org->is_string()) || scopes == nullptr || !scopes->is_array()) {
    return corrupt("missing or mistyped fields");
  }
  k.id = *id;
  k.name = *nm;
  k.created_by = *by;
  if (org->is_string()) k.organization_id = std::string(org->as_string());
  for (const auto& s : scopes->as_array()) {
    if (!s.is_string()) return corrupt("bad scope");
    const uint8_t bit = ScopeFromName(std::string_view(s.as_string()));
    if (bit == 0) return corrupt("unknown scope");
    k.scopes |= bit;
  }
  if (!time("created_at", &k.created_at) || !time("expires_at", &k.expires_at) ||
      !time("revoked_at", &k.revoked_at) || !time("last_used_at", &k.last_used_at)) {
    return corrupt("bad timestamps");
  }
  for (size_t i = 0; i < 32; ++i) {
    unsigned int byte = 0;
    if (std::sscanf(digest->c_str() + 2 * i, "%2x", &byte) != 1) return corrupt("bad digest");
    k.secret_sha256.push_back(static_cast<char>(byte));
  }
  return k;
}

bool DigestEquals(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string ApiKeyJson(const ApiKey& key, const std::string* token) {
  std::string out = "{\"created_at\":";
  AppendJsonString(FormatRfc3339Micros(key.created_at), &out);
  out += ",\"created_by\":";
  AppendJsonString(key.created_by, &out);
  out += ",\"expires_at\":";
  AppendJsonTimeOrNull(key.expires_at, &out);
  out += ",\"id\":";
  AppendJsonString(key.id, &out);
  if (token != nullptr) {
    out += ",\"key\":";
    AppendJsonString(*token, &out);
  }
  out += ",\"kind\":";
  out += key.platform() ? "\"platform\"" : "\"organization\"";
  out += ",\"last_used_at\":";
  AppendJsonTimeOrNull(key.last_used_at, &out);
  out += ",\"name\":";
  AppendJsonString(key.name, &out);
  out += ",\"organization_id\":";
  if (key.platform()) {
    out += "null";
  } else {
    AppendJsonString(key.organization_id, &out);
  }
  out += ",\"revoked_at\":";
  AppendJsonTimeOrNull(key.revoked_at, &out);
  out += ",\"scopes\":[";
  bool first = true;
  for (const std::string& s : ScopeNames(key.scopes)) {
    if (!first) out += ',';
    first = false;
    AppendJsonString(s, &out);
  }
  out += "]}";
  return out;
}

Result<std::unique_ptr<KeyRegistry>> KeyRegistry::Load(Store* store, const Clock* clock,
                                                       std::vector<std::string> admin_digests) {
  std::unique_ptr<KeyRegistry> r(new KeyRegistry(store, clock, std::move(admin_digests)));
  Result<std::vector<std::pair<std::string, std::string>>> all =
      store->ListMeta(std::string(kPrefix), "", 0);
  if (!all.ok()) return all.status();
  for (const auto& [name, value] : *all) {
    Result<ApiKey> key = ParseRecord(name, value);
    if (!key.ok()) return key.status();
    std::string id = key->id;
    r->keys_.emplace(std::move(id), std::move(key).value());
  }
  return r;
}

Status KeyRegistry::Persist(const ApiKey& key) {
  return store_->PutMeta(std::string(kPrefix) + key.id, RecordJson(key));
}

Result<Principal> KeyRegistry::Authenticate(std::string_view token) {
  const std::string digest = Sha256(token);
  for (const std::string& d : admin_digests_) {
    if (DigestEquals(d, digest)) return Principal{"admin", "bootstrap admin key", "", kAllScopes};
  }
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix) {
    return Status::Unauthenticated("the API key is not valid");
  }
  const std::string_view rest = token.substr(kTokenPrefix.size());
  const size_t sep = rest.rfind('_');
  if (sep == std::string_view::npos || !IsKeyId(rest.substr(0, sep))) {
    return Status::Unauthenticated("the API key is malformed");
  }
  const std::string_view id = rest.substr(0, sep);
  const std::string secret_digest = Sha256(rest.substr(sep + 1));
  Principal who;
  {
    std::shared_lock lock(mu_);
    auto it = keys_.find(id);
    if (it == keys_.end() || !DigestEquals(it->second.secret_sha256, secret_digest)) {
      return Status::Unauthenticated("the API key is not valid");
    }
    const ApiKey& k = it->second;
    const TimestampUs now = clock_->NowMicros();
    if (k.revoked_at != 0) {
      return Status::Unauthenticated("the API key " + k.id + " was revoked at " +
                                     FormatRfc3339Micros(k.revoked_at));
    }
    if (k.expires_at != 0 && now >= k.expires_at) {
      return Status::Unauthenticated("the API key " + k.id + " expired at " +
                                     FormatRfc3339Micros(k.expires_at));
    }
    who = Principal{k.id, k.name, k.organization_id, k.scopes};
  }
  std::lock_guard used(used_mu_);
  used_[who.key_id] = clock_->NowMicros();
  return who;
}

Result<std::pair<ApiKey, std::string>> KeyRegistry::Create(const ApiKeyCreate& create) {
  std::lock_guard write(write_mu_);
  ApiKey k;
  IdGenerator ids;
  k.created_at = clock_->NowMicros();
  k.id = "key_" + ids.NextEventId(k.created_at).substr(4);
  k.name = create.name;
  k.organization_id = create.organization_id;
  k.scopes = create.scopes;
  k.expires_at = create.expires_at;
  k.created_by = create.created_by;
  const std::string secret = RandomHex(kSecretBytes);
  k.secret_sha256 = Sha256(secret);
  ANNALS_RETURN_IF_ERROR(Persist(k));
  {
    std::unique_lock lock(mu_);
    keys_.emplace(k.id, k);
  }
  std::string token = std::string(kTokenPrefix) + k.id + "_" + secret;
  return std::pair(std::move(k), std::move(token));
}

Result<ApiKey> KeyRegistry::Revoke(const std::string& id) {
  std::lock_guard write(write_mu_);
  std::optional<ApiKey> k = Get(id);
  if (!k) return Status::NotFound("no API key with id '" + id + "'", "api_key_not_found");
  if (k->revoked_at != 0) return *k;
  k->revoked_at = clock_->NowMicros();
  ANNALS_RETURN_IF_ERROR(Persist(*k));
  std::unique_lock lock(mu_);
  keys_[k->id].revoked_at = k->revoked_at;
  return std::move(*k);
}

void KeyRegistry::Overlay(ApiKey* key) const {
  std::lock_guard lock(used_mu_);
  auto it = used_.find(key->id);
  if (it != used_.end() && it->second > key->last_used_at) key->last_used_at = it->second;
}

std::optional<ApiKey> KeyRegistry::Get(std::string_view id) const {
  std::optional<ApiKey> k;
  {
    std::shared_lock lock(mu_);
    auto it = keys_.find(id);
    if (it == keys_.end()) return std::nullopt;
    k = it->second;
  }
  Overlay(&*k);
  return k;
}

KeyRegistry::Page KeyRegistry::List(const std::string& organization_id,
                                    const std::string& after_id, const std::string& before_id,
                                    size_t limit) const {
  std::shared_lock lock(mu_);
  auto matches = [&](const ApiKey& k) {
    return organization_id.empty() || k.organization_id == organization_id;
  };
  Page page;
  if (!before_id.empty()) {
    std::vector<ApiKey> reversed;
    auto it = keys_.lower_bound(before_id);
    page.more_after = false;
    for (auto j = it; j != keys_.end(); ++j) {
      if (matches(j->second)) {
        page.more_after = true;
        break;
      }
    }
    while (it != keys_.begin()) {
      --it;
      if (!matches(it->second)) continue;
      if (reversed.size() == limit) {
        page.more_before = true;
        break;
      }
      reversed.push_back(it->second);
    }
    page.data.assign(reversed.rbegin(), reversed.rend());
    for (ApiKey& k : page.data) Overlay(&k);
    return page;
  }
  auto it = after_id.empty() ? keys_.begin() : keys_.upper_bound(after_id);
  for (auto j = keys_.begin(); j != it; ++j) {
    if (matches(j->second)) {
      page.more_before = true;
      break;
    }
  }
  for (; it != keys_.end(); ++it) {
    if (!matches(it->second)) continue;
    if (page.data.size() == limit) {
      page.more_after = true;
      break;
    }
    page.data.push_back(it->second);
  }
  for (ApiKey& k : page.data) Overlay(&k);
  return page;
}

Status KeyRegistry::FlushLastUsed() {
  std::map<std::string, TimestampUs> used;
  {
    std::lock_guard lock(used_mu_);
    used.swap(used_);
  }
  std::lock_guard write(write_mu_);
  for (const auto& [id, at] : used) {
    std::optional<ApiKey> k = Get(id);
    if (!k || at <= k->last_used_at) continue;
    k->last_used_at = at;
    Status s = Persist(*k);
    if (!s.ok()) {
      std::lock_guard lock(used_mu_);
      for (const auto& [i, t] : used) used_.try_emplace(i, t);
      return s;
    }
    std::unique_lock lock(mu_);
    keys_[id].last_used_at = at;
  }
  return Status::Ok();
}

}  // namespace annals
