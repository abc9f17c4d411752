#include "server/config_sources.h"

#include <functional>
#include <map>
#include <set>

#include "server/config.h"

namespace annals {

namespace {

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument(where + ": " + what, "invalid_config");
}

// Applies a table's keys through one setter per known key; anything else is an error.
using Setter = std::function<Status(const toml::node&, const std::string& where)>;

Status ApplyTable(const toml::table& t, const std::string& where,
                  const std::map<std::string, Setter>& setters) {
  for (const auto& [k, v] : t) {
    std::string name(k.str());
    auto it = setters.find(name);
    if (it == setters.end()) {
      std::string known;
      for (const auto& [n, _] : setters) known += (known.empty() ? "" : ", ") + n;
      return Bad(where + "." + name, "unknown key (known: " + known + ")");
    }
    ANNALS_RETURN_IF_ERROR(it->second(v, where + "." + name));
  }
  return Status::Ok();
}

Setter String(std::string* out) {
  return [out](const toml::node& n, const std::string& where) -> Status {
    const auto* s = n.as_string();
    if (s == nullptr) return Bad(where, "must be a string");
    *out = s->get();
    return Status::Ok();
  };
}

Setter StringList(std::vector<std::string>* out) {
  return [out](const toml::node& n, const std::string& where) -> Status {
    const auto* a = n.as_array();
    if (a == nullptr) return Bad(where, "must be an array of strings");
    out->clear();
    for (size_t i = 0; i < a->size(); ++i) {
      const auto* s = a->get(i)->as_string();
      if (s == nullptr || s->get().empty()) {
        return Bad(where + "[" + std::to_string(i) + "]", "must be a non-empty string");
      }
      out->push_back(s->get());
    }
    return Status::Ok();
  };
}

// Calls `each` for every table of an array of tables.
Status EachTable(const toml::node& n, const std::string& where,
                 const std::function<Status(const toml::table&, const std::string&)>& each) {
  const auto* a = n.as_array();
  if (a == nullptr || !a->is_array_of_tables()) {
    return Bad(where, "must be an array of tables ([[" + where + "]])");
  }
  for (size_t i = 0; i < a->size(); ++i) {
    ANNALS_RETURN_IF_ERROR(each(*a->get(i)->as_table(), where + "[" + std::to_string(i) + "]"));
  }
  return Status::Ok();
}

// A target type that can begin an action (`<type>.created`): [a-z0-9_-], at most 100.
Status CheckTargetType(const std::string& type, const std::string& where) {
  bool ok = !type.empty() && type.size() <= 100;
  for (char c : type) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
  }
  if (!ok) {
    return Bad(where, "'" + type + "' cannot begin an action (<type>.created): use 1 to 100 "
                      "characters of a-z, 0-9, '_' and '-'");
  }
  return Status::Ok();
}

bool ValidSourceName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Status CheckName(const std::string& name, const std::string& where, std::set<std::string>* seen) {
  if (!ValidSourceName(name)) {
    return Bad(where + ".name",
               "required: 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-', got '" + name + "'");
  }
  if (!seen->insert(name).second) return Bad(where + ".name", "'" + name + "' is used twice");
  return Status::Ok();
}

Status CheckOneOf(const std::string& a, const std::string& a_name, const std::string& b,
                  const std::string& b_name, const std::string& where) {
  if (a.empty() == b.empty()) {
    return Bad(where, "set exactly one of " + a_name + " and " + b_name);
  }
  return Status::Ok();
}

Status ValidatePostgres(const PostgresSourceConfig& s, const std::string& where) {
  if (s.dsn.empty()) return Bad(where + ".dsn", "required (a libpq connection string)");
  if (s.publication.empty()) return Bad(where + ".publication", "required");
  if (s.slot.empty()) return Bad(where + ".slot", "required");
  for (char c : s.slot) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return Bad(where + ".slot",
                 "replication slot names may only contain lower-case letters, digits and '_', "
                 "got '" + s.slot + "'");
    }
  }
  if (s.slot.size() > 63) return Bad(where + ".slot", "at most 63 characters");
  ANNALS_RETURN_IF_ERROR(CheckOneOf(s.organization_column, "organization_column", s.organization,
                                    "organization", where));
  if (s.snapshot != "initial" && s.snapshot != "never") {
    return Bad(where + ".snapshot", "must be \"initial\" or \"never\", got '" + s.snapshot + "'");
  }
  if (s.tables.empty()) {
    return Bad(where + ".tables", "at least one [[sources.postgres.tables]] is required");
  }
  std::set<std::string> tables;
  for (size_t i = 0; i < s.tables.size(); ++i) {
    const PostgresTableConfig& t = s.tables[i];
    std::string tw = where + ".tables[" + std::to_string(i) + "]";
    if (t.name.empty()) return Bad(tw + ".name", "required (\"schema.table\")");
    std::string qualified = t.name.find('.') == std::string::npos ? "public." + t.name : t.name;
    if (!tables.insert(qualified).second) {
      return Bad(tw + ".name", "table '" + t.name + "' is listed twice");
    }
    std::set<std::string> excluded(t.exclude_columns.begin(), t.exclude_columns.end());
    for (const std::string& m : t.mask_columns) {
      if (excluded.count(m) != 0) {
        return Bad(tw + ".mask_columns",
                   "column '" + m + "' is both excluded and masked; choose one");
      }
    }
    ANNALS_RETURN_IF_ERROR(CheckTargetType(t.target_type, tw + ".target_type"));
    if (!s.organization_column.empty() && excluded.count(s.organization_column) != 0) {
      return Bad(tw + ".exclude_columns",
                 "the organization column '" + s.organization_column + "' cannot be excluded");
    }
  }
  return Status::Ok();
}

Status ValidateDynamoDb(const DynamoDbSourceConfig& s, const std::string& where) {
  ANNALS_RETURN_IF_ERROR(CheckOneOf(s.organization_attribute, "organization_attribute",
                                    s.organization, "organization", where));
  ANNALS_RETURN_IF_ERROR(
      CheckOneOf(s.target_type, "target_type", s.type_from_key, "type_from_key", where));
  if (!s.target_type.empty()) {
    ANNALS_RETURN_IF_ERROR(CheckTargetType(s.target_type, where + ".target_type"));
  }
  return Status::Ok();
}

}  // namespace

Status ValidateSourcesConfig(const SourcesConfig& sources) {
  std::set<std::string> names;
  for (size_t i = 0; i < sources.postgres.size(); ++i) {
    std::string where = "sources.postgres[" + std::to_string(i) + "]";
    ANNALS_RETURN_IF_ERROR(CheckName(sources.postgres[i].name, where, &names));
    ANNALS_RETURN_IF_ERROR(ValidatePostgres(sources.postgres[i], where));
  }
  std::set<std::string> slots;
  for (const PostgresSourceConfig& s : sources.postgres) {
    if (!slots.insert(s.dsn + "\n" + s.slot).second) {
      return Bad("sources.postgres", "two sources use slot '" + s.slot + "' of the same database");
    }
  }
  names.clear();
  for (size_t i = 0; i < sources.dynamodb.size(); ++i) {
    std::string where = "sources.dynamodb[" + std::to_string(i) + "]";
    ANNALS_RETURN_IF_ERROR(CheckName(sources.dynamodb[i].name, where, &names));
    ANNALS_RETURN_IF_ERROR(ValidateDynamoDb(sources.dynamodb[i], where));
  }
  names.clear();
  for (size_t i = 0; i < sources.sqs.size(); ++i) {
    std::string where = "sources.sqs[" + std::to_string(i) + "]";
    ANNALS_RETURN_IF_ERROR(CheckName(sources.sqs[i].name, where, &names));
  }
  if (sources.idempotency_window_us < 3600LL * 1000000) {
    return Bad("sources.idempotency_window", "must be at least 1h");
  }
  return Status::Ok();
}

Status ParseSourcesConfig(const toml::table& sources, const std::string& file, SourcesConfig* out) {
  (void)file;
  std::map<std::string, Setter> top;
  top["idempotency_window"] = [out](const toml::node& n, const std::string& where) -> Status {
    const auto* s = n.as_string();
    int64_t us = 0;
    if (s == nullptr || !ParseDurationUs(s->get(), &us)) {
      return Bad(where, "must be a duration string like \"14d\"");
    }
    out->idempotency_window_us = us;
    return Status::Ok();
  };
  top["postgres"] = [out](const toml::node& n, const std::string& where) -> Status {
    return EachTable(n, where, [out](const toml::table& t, const std::string& w) -> Status {
      PostgresSourceConfig s;
      std::map<std::string, Setter> keys{
          {"name", String(&s.name)},
          {"dsn", String(&s.dsn)},
          {"publication", String(&s.publication)},
          {"slot", String(&s.slot)},
          {"organization_column", String(&s.organization_column)},
          {"organization", String(&s.organization)},
          {"snapshot", String(&s.snapshot)},
      };
      keys["tables"] = [&s](const toml::node& tn, const std::string& tw) -> Status {
        return EachTable(tn, tw, [&s](const toml::table& tt, const std::string& ttw) -> Status {
          PostgresTableConfig table;
          ANNALS_RETURN_IF_ERROR(ApplyTable(tt, ttw,
                                            {{"name", String(&table.name)},
                                             {"target_type", String(&table.target_type)},
                                             {"exclude_columns", StringList(&table.exclude_columns)},
                                             {"mask_columns", StringList(&table.mask_columns)}}));
          if (table.target_type.empty()) {
            // The table name, lower-cased: it begins the events' actions.
            size_t dot = table.name.rfind('.');
            table.target_type = dot == std::string::npos ? table.name : table.name.substr(dot + 1);
            for (char& c : table.target_type) {
              if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            }
          }
          s.tables.push_back(std::move(table));
          return Status::Ok();
        });
      };
      ANNALS_RETURN_IF_ERROR(ApplyTable(t, w, keys));
      out->postgres.push_back(std::move(s));
      return Status::Ok();
    });
  };
  top["dynamodb"] = [out](const toml::node& n, const std::string& where) -> Status {
    return EachTable(n, where, [out](const toml::table& t, const std::string& w) -> Status {
      DynamoDbSourceConfig s;
      ANNALS_RETURN_IF_ERROR(ApplyTable(
          t, w,
          {{"name", String(&s.name)},
           {"organization_attribute", String(&s.organization_attribute)},
           {"organization", String(&s.organization)},
           {"actor_attribute", String(&s.actor_attribute)},
           {"target_type", String(&s.target_type)},
           {"type_from_key", String(&s.type_from_key)},
           {"id_from_keys", StringList(&s.id_from_keys)}}));
      out->dynamodb.push_back(std::move(s));
      return Status::Ok();
    });
  };
  top["sqs"] = [out](const toml::node& n, const std::string& where) -> Status {
    return EachTable(n, where, [out](const toml::table& t, const std::string& w) -> Status {
      SqsSourceConfig s;
      ANNALS_RETURN_IF_ERROR(
          ApplyTable(t, w, {{"name", String(&s.name)}, {"organization", String(&s.organization)}}));
      out->sqs.push_back(std::move(s));
      return Status::Ok();
    });
  };
  ANNALS_RETURN_IF_ERROR(ApplyTable(sources, "sources", top));
  return ValidateSourcesConfig(*out);
}

}  // namespace annals
