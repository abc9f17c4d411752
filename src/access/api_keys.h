// API keys (PRODUCT.md capability 13): creation with the secret shown once, SHA-256 hashes
// at rest, authentication, expiry, revocation and last-use tracking.
//
// A key reads `annals_<id>_<secret>`: the prefix makes a leaked key recognizable (secret
// scanners), the id finds its record in O(1), and only SHA-256(secret) is stored (the
// secret is 192 random bits, so a plain hash is as strong as a slow one). Records live in
// the store's metadata under "key/<id>" and are all held in memory.
//
// The bootstrap admin key (ANNALS_ADMIN_KEY or DATA/admin.key) is not a record: it is
// accepted by digest, as the platform key "admin" with every scope.
//
// Thread-safety: every method may be called concurrently.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "access/principal.h"
#include "annals/clock.h"
#include "annals/event.h"
#include "annals/status.h"
#include "annals/store.h"

namespace annals {

struct ApiKey {
  std::string id;                // "key_" + 26 Crockford base32 characters (ULID)
  std::string name;
  std::string organization_id;   // "" for a platform key
  uint8_t scopes = 0;
  TimestampUs created_at = 0;
  std::string created_by;        // id of the key that created it
  TimestampUs expires_at = 0;    // 0: never
  TimestampUs revoked_at = 0;    // 0: active
  TimestampUs last_used_at = 0;  // 0: never used (kept to within a flush interval)
  std::string secret_sha256;     // raw digest

  bool platform() const { return organization_id.empty(); }
};

// The API representation (canonical JSON, never the secret or its digest): {"created_at",
// "created_by", "expires_at", "id", "kind", "last_used_at", "name", "organization_id",
// "revoked_at", "scopes"}. With `token`, a "key" member carries it (creation only).
std::string ApiKeyJson(const ApiKey& key, const std::string* token = nullptr);

struct ApiKeyCreate {
  std::string name;
  std::string organization_id;  // "" for a platform key
  uint8_t scopes = 0;
  TimestampUs expires_at = 0;
  std::string created_by;
};

class KeyRegistry {
 public:
  // `admin_key_digests`: raw SHA-256 digests of the bootstrap admin key(s).
  static Result<std::unique_ptr<KeyRegistry>> Load(Store* store, const Clock* clock,
                                                   std::vector<std::string> admin_key_digests);

  // The caller of a request with this bearer token. kUnauthenticated with a message that
  // says what is wrong (malformed, unknown, revoked, expired); never says more about other
  // keys. Records the use for last_used_at.
  Result<Principal> Authenticate(std::string_view token);

  // Creates a key; returns the record and the full key (shown once).
  Result<std::pair<ApiKey, std::string>> Create(const ApiKeyCreate& create);
  // Revokes a key (idempotent: a revoked key keeps its first revoked_at).
  // kNotFound "api_key_not_found".
  Result<ApiKey> Revoke(const std::string& id);
  std::optional<ApiKey> Get(std::string_view id) const;

  // Keys in id (creation) order; `organization_id` "" lists every key, else only that
  // organization's; paging as OrgRegistry::List.
  struct Page {
    std::vector<ApiKey> data;
    bool more_before = false;
    bool more_after = false;
  };
  Page List(const std::string& organization_id, const std::string& after_id,
            const std::string& before_id, size_t limit) const;

  // Persists last_used_at of keys used since the previous flush. Called periodically and at
  // shutdown.
  Status FlushLastUsed();

 private:
  KeyRegistry(Store* store, const Clock* clock, std::vector<std::string> admin_digests)
      : store_(store), clock_(clock), admin_digests_(std::move(admin_digests)) {}
  Status Persist(const ApiKey& key);
  // Applies a use not yet persisted to key->last_used_at.
  void Overlay(ApiKey* key) const;

  Store* const store_;
  const Clock* const clock_;
  const std::vector<std::string> admin_digests_;
  std::mutex write_mu_;  // serializes writers
  mutable std::shared_mutex mu_;
  std::map<std::string, ApiKey, std::less<>> keys_;  // guarded by mu_
  mutable std::mutex used_mu_;
  std::map<std::string, TimestampUs> used_;  // key id -> last use not yet persisted
};

}  // namespace annals
