#include "workos/schema_registry.h"

#include <boost/json.hpp>
#include <charconv>
#include <cstdio>

#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals::workos {

namespace {

namespace json = boost::json;

constexpr std::string_view kPrefix = "workos/schemas/";

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
