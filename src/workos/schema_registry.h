// The action schemas of the WorkOS-compatible API: every version of every action's schema,
// kept in memory for ingest and persisted in the store's metadata (docs/storage.md, meta
// "kv/workos/schemas/...").
//
// Schemas are platform-wide (one set for all organizations, as in a WorkOS environment).
// Versions are immutable: creating a schema for an action makes version N+1 (1 for a new
// action), and nothing ever changes or removes a version.
//
// Thread-safety: every method may be called concurrently. Create calls are serialized (so
// version numbers never repeat or skip); readers never wait for a Create's store write and
// see a version once it is durable. Find is cheap enough for every ingested event: an
// atomic check when no schema exists, else one map lookup under a shared lock.
//
// Numbering is safe among the threads of one process. The embedded store admits one process
// per data directory; a store shared by several annals nodes would need a conditional write
// for the version entry.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "annals/store.h"
#include "workos/action_schema.h"

namespace annals::workos {

// One stored version of an action's schema.
struct SchemaVersion {
  int version = 0;  // 1, 2, 3, ...
  TimestampUs created_at = 0;
  ActionSchema schema;
};

// Every version of one action, oldest first: versions[i]->version == i + 1. Immutable once
// published (a Create publishes a new ActionSchemas).
struct ActionSchemas {
  std::string action;
  std::vector<std::shared_ptr<const SchemaVersion>> versions;  // at least one

  const SchemaVersion& latest() const { return *versions.back(); }
  // The version numbered `version`, or nullptr.
  const SchemaVersion* Find(int64_t version) const {
    return version >= 1 && static_cast<size_t>(version) <= versions.size()
               ? versions[static_cast<size_t>(version) - 1].get()
               : nullptr;
  }
};

// The metadata name of one version: "workos/schemas/<action>/<version, 10 digits>" (so
// that versions list in order; actions cannot contain '/').
std::string SchemaMetaName(std::string_view action, int version);

class SchemaRegistry {
 public:
  // Loads every stored schema. A stored entry that cannot be read, or versions of an action
  // that are not 1..N without gaps, is Status::Internal "corrupt_schema" (a damaged store).
  // `store` and `clock` must outlive the registry.
  static Result<std::unique_ptr<SchemaRegistry>> Load(Store* store, const Clock* clock);

  // Stores `schema` as the next version of `action` (created_at = now) and returns it.
  // `action` must already be a valid event action (the caller checks). Store errors are
  // returned as they are, and then nothing changed.
  Result<std::shared_ptr<const SchemaVersion>> Create(const std::string& action,
                                                      ActionSchema schema);

  // Create under an Idempotency-Key (WorkOS SDKs send one with each create and reuse it on
  // retries). The first call with `key` creates the version as Create does and records which
  // one, for `window_us`; a later call with the same key and the same `request_digest` (a
  // hash of the request) within that window creates nothing and returns that version with
  // `replayed` set. The same key with another action or request is Status::Conflict
  // "idempotency_conflict". Expired records are removed as new ones are made. Records live
  // in the store's metadata: "workos/schema_idempotency/<SHA-256 of the key, hex>".
  struct Created {
    std::shared_ptr<const SchemaVersion> version;
    bool replayed = false;
  };
  Result<Created> CreateIdempotent(const std::string& action, ActionSchema schema,
                                   const std::string& key, const std::string& request_digest,
                                   TimestampUs window_us);

  // The schemas of `action`, or nullptr when it has none.
  std::shared_ptr<const ActionSchemas> Find(std::string_view action) const;

  // Every action that has a schema, in byte order of name.
  std::vector<std::shared_ptr<const ActionSchemas>> List() const;

  // True when no action has a schema.
  bool empty() const { return count_.load(std::memory_order_acquire) == 0; }

 private:
  SchemaRegistry(Store* store, const Clock* clock) : store_(store), clock_(clock) {}
  // Create's work; create_mu_ held.
  Result<std::shared_ptr<const SchemaVersion>> CreateLocked(const std::string& action,
                                                            ActionSchema schema);

  Store* const store_;
  const Clock* const clock_;
  std::mutex create_mu_;             // serializes Create
  mutable std::shared_mutex map_mu_;  // guards actions_
  std::map<std::string, std::shared_ptr<const ActionSchemas>, std::less<>> actions_;
  std::atomic<size_t> count_{0};  // actions_.size()
};

}  // namespace annals::workos
