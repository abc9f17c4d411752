#include "workos/schema_registry.h"

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals::workos {

namespace {

namespace json = boost::json;

constexpr std::string_view kPrefix = "workos/schemas/";
constexpr std::string_view kIdempotencyPrefix = "workos/schema_idempotency/";

Status Corrupt(const std::string& name, const std::string& why) {
  return Status(Code::kInternal, "corrupt_schema",
                "the stored action schema '" + name + "' is damaged: " + why);
}

// {"created_at":"<RFC 3339, µs>","schema":<EncodeActionSchema>}
std::string EncodeEntry(const SchemaVersion& v) {
  std::string out = "{\"created_at\":";
  AppendJsonString(FormatRfc3339Micros(v.created_at), &out);
  out += ",\"schema\":";
  out += EncodeActionSchema(v.schema);
  out += '}';
  return out;
}

Result<SchemaVersion> DecodeEntry(const std::string& name, const std::string& value,
                                  int version) {
  Result<json::value> parsed = ParseStrictJson(value, 64);
  if (!parsed.ok() || !parsed->is_object()) return Corrupt(name, "not a JSON object");
  const json::object& o = parsed->get_object();
  const json::value* created = o.if_contains("created_at");
  const json::value* schema = o.if_contains("schema");
  if (o.size() != 2 || created == nullptr || !created->is_string() || schema == nullptr) {
    return Corrupt(name, "unexpected members");
  }
  Result<TimestampUs> at = ParseRfc3339(created->get_string());
  if (!at.ok()) return Corrupt(name, "bad created_at");
  Result<ActionSchema> decoded = DecodeActionSchema(Canonical(*schema));
  if (!decoded.ok()) return Corrupt(name, decoded.status().message());
  SchemaVersion v;
  v.version = version;
  v.created_at = *at;
  v.schema = *std::move(decoded);
  return v;
}

}  // namespace

std::string SchemaMetaName(std::string_view action, int version) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%010d", version);
  std::string name(kPrefix);
  name.append(action);
  name += '/';
  name += digits;
  return name;
}

Result<std::unique_ptr<SchemaRegistry>> SchemaRegistry::Load(Store* store, const Clock* clock) {
  std::unique_ptr<SchemaRegistry> registry(new SchemaRegistry(store, clock));
  Result<std::vector<std::pair<std::string, std::string>>> entries =
      store->ListMeta(std::string(kPrefix), "", 0);
  if (!entries.ok()) return entries.status();
  std::map<std::string, std::shared_ptr<ActionSchemas>, std::less<>> loaded;
  for (const auto& [name, value] : *entries) {
    const std::string_view rest = std::string_view(name).substr(kPrefix.size());
    const size_t slash = rest.rfind('/');
    if (slash == std::string_view::npos || slash == 0 || rest.size() - slash - 1 != 10) {
      return Corrupt(name, "unexpected name");
    }
    const std::string action(rest.substr(0, slash));
    int version = 0;
    const std::string_view digits = rest.substr(slash + 1);
    auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), version);
    if (ec != std::errc() || p != digits.data() + digits.size() || version < 1) {
      return Corrupt(name, "unexpected version");
    }
    Result<SchemaVersion> v = DecodeEntry(name, value, version);
    if (!v.ok()) return v.status();
    std::shared_ptr<ActionSchemas>& a = loaded[action];
    if (!a) {
      a = std::make_shared<ActionSchemas>();
      a->action = action;
    }
    // Entries list in byte order of name, so an action's versions arrive 1, 2, 3, ...
    if (static_cast<size_t>(version) != a->versions.size() + 1) {
      return Corrupt(name, "version " + std::to_string(a->versions.size() + 1) + " is missing");
    }
    a->versions.push_back(std::make_shared<const SchemaVersion>(*std::move(v)));
  }
  for (auto& [action, schemas] : loaded) registry->actions_.emplace(action, std::move(schemas));
  registry->count_.store(registry->actions_.size(), std::memory_order_release);
  return registry;
}

Result<std::shared_ptr<const SchemaVersion>> SchemaRegistry::Create(const std::string& action,
                                                                   ActionSchema schema) {
  std::lock_guard create_lock(create_mu_);
  return CreateLocked(action, std::move(schema));
}

Result<SchemaRegistry::Created> SchemaRegistry::CreateIdempotent(
    const std::string& action, ActionSchema schema, const std::string& key,
    const std::string& request_digest, TimestampUs window_us) {
  std::lock_guard create_lock(create_mu_);
  const TimestampUs now = clock_->NowMicros();
  const std::string name = std::string(kIdempotencyPrefix) + HexEncode(Sha256(key));
  Result<std::optional<std::string>> stored = store_->GetMeta(name);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    Result<json::value> parsed = ParseStrictJson(**stored, 8);
    const json::object* o = parsed.ok() ? parsed->if_object() : nullptr;
    const json::value* a = o ? o->if_contains("action") : nullptr;
    const json::value* d = o ? o->if_contains("request") : nullptr;
    const json::value* v = o ? o->if_contains("version") : nullptr;
    const json::value* e = o ? o->if_contains("expires_at") : nullptr;
    if (a == nullptr || !a->is_string() || d == nullptr || !d->is_string() || v == nullptr ||
        !v->is_int64() || e == nullptr || !e->is_int64()) {
      return Corrupt(name, "not an idempotency record");
    }
    if (e->get_int64() > now) {
      if (a->get_string() != action || d->get_string() != request_digest) {
        return Status::Conflict("the idempotency key '" + key +
                                    "' was already used to create another schema",
                                "idempotency_conflict");
      }
      std::shared_ptr<const ActionSchemas> current = Find(action);
      const SchemaVersion* made = current ? current->Find(v->get_int64()) : nullptr;
      if (made == nullptr) return Corrupt(name, "names a version that does not exist");
      return Created{current->versions[static_cast<size_t>(v->get_int64()) - 1], true};
    }
  }
  // Records are few (one per create with a key, kept for the window): sweep the expired.
  Result<std::vector<std::pair<std::string, std::string>>> records =
      store_->ListMeta(std::string(kIdempotencyPrefix), "", 0);
  if (records.ok()) {
    for (const auto& [record_name, value] : *records) {
      Result<json::value> parsed = ParseStrictJson(value, 8);
      const json::object* o = parsed.ok() ? parsed->if_object() : nullptr;
      const json::value* e = o ? o->if_contains("expires_at") : nullptr;
      if (e != nullptr && e->is_int64() && e->get_int64() <= now) {
        (void)store_->DeleteMeta(record_name);
      }
    }
  }
  Result<std::shared_ptr<const SchemaVersion>> made = CreateLocked(action, std::move(schema));
  if (!made.ok()) return made.status();
  json::object record;
  record["action"] = action;
  record["request"] = request_digest;
  record["version"] = (*made)->version;
  record["expires_at"] = now + window_us;
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(name, json::serialize(record)));
  return Created{*made, false};
}

Result<std::shared_ptr<const SchemaVersion>> SchemaRegistry::CreateLocked(const std::string& action,
                                                                         ActionSchema schema) {
  std::shared_ptr<const ActionSchemas> current = Find(action);
  auto v = std::make_shared<SchemaVersion>();
  v->version = current ? static_cast<int>(current->versions.size()) + 1 : 1;
  v->created_at = clock_->NowMicros();
  v->schema = std::move(schema);
  ANNALS_RETURN_IF_ERROR(store_->PutMeta(SchemaMetaName(action, v->version), EncodeEntry(*v)));

  auto next = std::make_shared<ActionSchemas>();
  next->action = action;
  if (current) next->versions = current->versions;
  next->versions.push_back(v);
  {
    std::unique_lock lock(map_mu_);
    actions_[action] = std::move(next);
    count_.store(actions_.size(), std::memory_order_release);
  }
  return std::shared_ptr<const SchemaVersion>(std::move(v));
}

std::shared_ptr<const ActionSchemas> SchemaRegistry::Find(std::string_view action) const {
  if (empty()) return nullptr;
  std::shared_lock lock(map_mu_);
  auto it = actions_.find(action);
  return it == actions_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const ActionSchemas>> SchemaRegistry::List() const {
  std::shared_lock lock(map_mu_);
  std::vector<std::shared_ptr<const ActionSchemas>> out;
  out.reserve(actions_.size());
  for (const auto& [name, schemas] : actions_) out.push_back(schemas);
  return out;
}

}  // namespace annals::workos
