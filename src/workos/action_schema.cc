#include "workos/action_schema.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <utility>

#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals::workos {
namespace {

namespace json = boost::json;

// A schema body nests 6 levels (body, targets, target, metadata, properties, property);
// anything much deeper is not a schema.
constexpr size_t kMaxSchemaDepth = 16;
constexpr int kEncodingVersion = 1;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

bool IsValidPropertyName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxPropertyNameLength &&
         std::all_of(name.begin(), name.end(), IsNameChar);
}

std::optional<MetadataType> TypeFromName(std::string_view name) {
  if (name == "string") return MetadataType::kString;
  if (name == "number") return MetadataType::kNumber;
  if (name == "boolean") return MetadataType::kBoolean;
  return std::nullopt;
}

// One-letter type codes of the stored form.
char TypeCode(MetadataType type) {
  switch (type) {
    case MetadataType::kString:
      return 's';
    case MetadataType::kNumber:
      return 'n';
    case MetadataType::kBoolean:
      return 'b';
  }
  return 's';
}

std::optional<MetadataType> TypeFromCode(std::string_view code) {
  if (code == "s") return MetadataType::kString;
  if (code == "n") return MetadataType::kNumber;
  if (code == "b") return MetadataType::kBoolean;
  return std::nullopt;
}

bool HasType(const json::value& value, MetadataType type) {
  switch (type) {
    case MetadataType::kString:
      return value.is_string();
    case MetadataType::kNumber:
      return value.is_number();
    case MetadataType::kBoolean:
      return value.is_bool();
  }
  return false;
}

std::string Member(std::string path, std::string_view token) {
  AppendJsonPointerToken(token, &path);
  return path;
}

std::string Index(std::string path, size_t index) {
  AppendJsonPointerIndex(index, &path);
  return path;
}

std::string Quoted(std::string_view text) {
  std::string out;
  AppendJsonString(text, &out);
  return out;
}

void SortByName(std::vector<MetadataProperty>* properties) {
  std::sort(properties->begin(), properties->end(),
            [](const MetadataProperty& a, const MetadataProperty& b) { return a.name < b.name; });
}

// ---- Parsing the request body -------------------------------------------------------------

// Collects every problem of one schema body. `path` arguments are JSON Pointers into the
// body; `what` arguments name the same place for messages ("targets.1.metadata"). Messages
// never repeat keys that failed a check, since the path already carries them.
class SchemaParser {
 public:
  std::optional<ActionSchema> Parse(const json::value& body) {
    if (!body.is_object()) {
      Add("", "the schema must be a JSON object");
      return std::nullopt;
    }
    const json::object& root = body.get_object();
    ActionSchema schema;
    const json::value* actor = nullptr;
    const json::value* targets = nullptr;
    const json::value* metadata = nullptr;
    for (const auto& [key, value] : root) {
      if (key == "actor") {
        actor = &value;
      } else if (key == "targets") {
        targets = &value;
      } else if (key == "metadata") {
        metadata = &value;
      } else {
        Add(Member("", key), "unknown field in the schema (allowed: actor, targets, metadata)");
      }
    }
    if (actor != nullptr && !actor->is_null()) ParseActor(*actor, &schema.actor_metadata);
    ParseTargets(targets, &schema.targets);
    if (metadata != nullptr && !metadata->is_null()) {
      schema.metadata = ParseMetadata(*metadata, "/metadata", "metadata");
    }
    if (!details_.empty()) return std::nullopt;
    return schema;
  }

  std::vector<ErrorDetail> TakeDetails() { return std::move(details_); }

 private:
  void Add(std::string path, std::string message) {
    details_.push_back({std::move(path), std::move(message)});
  }

  void ParseActor(const json::value& value, MetadataSchema* out) {
    if (!value.is_object()) return Add("/actor", "actor must be an object");
    const json::value* metadata = nullptr;
    for (const auto& [key, member] : value.get_object()) {
      if (key == "metadata") {
        metadata = &member;
      } else {
        Add(Member("/actor", key), "unknown field in actor (allowed: metadata)");
      }
    }
    if (metadata == nullptr || metadata->is_null()) {
      return Add("/actor/metadata", "actor.metadata is required when actor is given");
    }
    *out = ParseMetadata(*metadata, "/actor/metadata", "actor.metadata");
  }

  void ParseTargets(const json::value* value, std::vector<TargetSchema>* out) {
    if (value == nullptr) return Add("/targets", "targets is required");
    if (!value->is_array()) return Add("/targets", "targets must be an array");
    const json::array& targets = value->get_array();
    if (targets.empty()) return Add("/targets", "targets must list at least one target type");
    for (size_t i = 0; i < targets.size(); ++i) {
      const std::string path = Index("/targets", i);
      const std::string what = "targets." + std::to_string(i);
      if (!targets[i].is_object()) {
        Add(path, what + " must be an object");
        continue;
      }
      TargetSchema target;
      const json::value* type = nullptr;
      for (const auto& [key, member] : targets[i].get_object()) {
        if (key == "type") {
          type = &member;
        } else if (key == "metadata") {
          if (!member.is_null()) {
            target.metadata = ParseMetadata(member, path + "/metadata", what + ".metadata");
          }
        } else {
          Add(Member(path, key), "unknown field in " + what + " (allowed: type, metadata)");
        }
      }
      if (type == nullptr) {
        Add(path + "/type", what + ".type is required");
        continue;
      }
      if (!type->is_string() || type->get_string().empty()) {
        Add(path + "/type", what + ".type must be a non-empty string");
        continue;
      }
      target.type = std::string(type->get_string());
      const auto same = std::find_if(out->begin(), out->end(),
                                     [&](const TargetSchema& t) { return t.type == target.type; });
      if (same != out->end()) {
        Add(path + "/type", what + ".type repeats the type of targets." +
                                std::to_string(target_body_index_.at(same - out->begin())) +
                                "; each target type may be listed once");
        continue;
      }
      out->push_back(std::move(target));
      target_body_index_.push_back(i);
    }
  }

  // A metadata schema; on problems, records them and returns what it could read.
  MetadataSchema ParseMetadata(const json::value& value, const std::string& path,
                               const std::string& what) {
    MetadataSchema out;
    if (!value.is_object()) {
      Add(path, what + " must be an object (a JSON Schema of type object)");
      return out;
    }
    const json::value* type = nullptr;
    const json::value* properties = nullptr;
    const json::value* required = nullptr;
    for (const auto& [key, member] : value.get_object()) {
      if (key == "type") {
        type = &member;
      } else if (key == "properties") {
        properties = &member;
      } else if (key == "required") {
        required = &member;
      } else if (key == "additionalProperties") {
        if (member.is_bool()) {
          out.additional_properties = member.get_bool();
        } else {
          Add(path + "/additionalProperties", what + ".additionalProperties must be true or false");
        }
      } else {
        Add(Member(path, key), "unknown field in " + what +
                                   " (allowed: type, properties, required, additionalProperties)");
      }
    }
    if (type == nullptr) {
      Add(path + "/type", what + ".type is required and must be \"object\"");
    } else if (!type->is_string() || type->get_string() != "object") {
      Add(path + "/type", what + ".type must be \"object\"");
    }
    if (properties != nullptr) ParseProperties(*properties, path, what, &out.properties);
    if (required != nullptr) ParseRequired(*required, path, what, &out.properties);
    return out;
  }

  void ParseProperties(const json::value& value, const std::string& schema_path,
                       const std::string& schema_what, std::vector<MetadataProperty>* out) {
    const std::string path = schema_path + "/properties";
    const std::string what = schema_what + ".properties";
    if (!value.is_object()) return Add(path, what + " must be an object");
    const json::object& properties = value.get_object();
    if (properties.size() > kMaxSchemaProperties) {
      Add(path, what + " has " + std::to_string(properties.size()) + " properties; the limit is " +
                    std::to_string(kMaxSchemaProperties));
    }
    for (const auto& [name, property] : properties) {
      const std::string property_path = Member(path, name);
      if (!IsValidPropertyName(name)) {
        Add(property_path, what + " has a property name that is not 1 to " +
                               std::to_string(kMaxPropertyNameLength) +
                               " characters of A-Z, a-z, 0-9, _ and -");
        continue;
      }
      const std::string property_what = what + "." + std::string(name);
      if (!property.is_object()) {
        Add(property_path, property_what + " must be an object such as {\"type\": \"string\"}");
        continue;
      }
      const json::value* type = nullptr;
      for (const auto& [key, member] : property.get_object()) {
        if (key == "type") {
          type = &member;
        } else {
          Add(Member(property_path, key), "unknown field in " + property_what + " (allowed: type)");
        }
      }
      std::optional<MetadataType> parsed;
      if (type == nullptr) {
        Add(property_path + "/type", property_what + ".type is required");
      } else if (type->is_string()) {
        parsed = TypeFromName(type->get_string());
      }
      if (type != nullptr && !parsed) {
        Add(property_path + "/type",
            property_what + ".type must be \"string\", \"number\" or \"boolean\"");
      }
      if (parsed) out->push_back({std::string(name), *parsed, false});
    }
    SortByName(out);
  }

  // Marks the properties that `value` lists as required.
  void ParseRequired(const json::value& value, const std::string& schema_path,
                     const std::string& schema_what, std::vector<MetadataProperty>* properties) {
    const std::string path = schema_path + "/required";
    const std::string what = schema_what + ".required";
    if (!value.is_array()) return Add(path, what + " must be an array of property names");
    const json::array& names = value.get_array();
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string item_what = what + "." + std::to_string(i);
      if (!names[i].is_string()) {
        Add(Index(path, i), item_what + " must be a string");
        continue;
      }
      const std::string_view name = names[i].get_string();
      const auto it = std::find_if(properties->begin(), properties->end(),
                                   [&](const MetadataProperty& p) { return p.name == name; });
      if (it == properties->end()) {
        Add(Index(path, i),
            item_what + " names no property declared in " + schema_what + ".properties");
      } else if (it->required) {
        Add(Index(path, i), item_what + " lists a property a second time");
      } else {
        it->required = true;
      }
    }
  }

  std::vector<ErrorDetail> details_;
  // For each accepted target, its index in the body (for messages about repeated types).
  std::vector<size_t> target_body_index_;
};

// ---- Writing ------------------------------------------------------------------------------

void AppendMetadataSchemaJson(const MetadataSchema& schema, std::string* out) {
  *out += R"({"type":"object","properties":{)";
  bool first = true;
  for (const MetadataProperty& p : schema.properties) {
    if (!first) *out += ',';
    first = false;
    AppendJsonString(p.name, out);
    *out += R"(:{"type":)";
    AppendJsonString(MetadataTypeName(p.type), out);
    *out += '}';
  }
  *out += '}';
  first = true;
  for (const MetadataProperty& p : schema.properties) {
    if (!p.required) continue;
    *out += first ? R"(,"required":[)" : ",";
    first = false;
    AppendJsonString(p.name, out);
  }
  if (!first) *out += ']';
  if (!schema.additional_properties) *out += R"(,"additionalProperties":false)";
  *out += '}';
}

bool IsDefault(const MetadataSchema& schema) {
  return schema.properties.empty() && schema.additional_properties;
}

// The stored form S of a metadata schema (members in JCS order: c, p, r).
void AppendEncodedMetadata(const MetadataSchema& schema, std::string* out) {
  *out += '{';
  bool need_comma = false;
  if (!schema.additional_properties) {
    *out += R"("c":true)";
    need_comma = true;
  }
  if (!schema.properties.empty()) {
    if (need_comma) *out += ',';
    *out += R"("p":{)";
    bool first = true;
    for (const MetadataProperty& p : schema.properties) {
      if (!first) *out += ',';
      first = false;
      AppendJsonString(p.name, out);
      *out += ":\"";
      *out += TypeCode(p.type);
      *out += '"';
    }
    *out += '}';
    need_comma = true;
  }
  bool first = true;
  for (const MetadataProperty& p : schema.properties) {
    if (!p.required) continue;
    if (first) {
      if (need_comma) *out += ',';
      *out += R"("r":[)";
    } else {
      *out += ',';
    }
    first = false;
    AppendJsonString(p.name, out);
  }
  if (!first) *out += ']';
  *out += '}';
}

// ---- Decoding the stored form -------------------------------------------------------------

Status Corrupt(std::string_view what) {
  return Status(Code::kInternal, "corrupt_schema",
                "a stored action schema is corrupt: " + std::string(what));
}

Result<MetadataSchema> DecodeMetadata(const json::value& value) {
  if (!value.is_object()) return Corrupt("a metadata schema is not an object");
  MetadataSchema out;
  const json::value* required = nullptr;
  for (const auto& [key, member] : value.get_object()) {
    if (key == "c") {
      if (!member.is_bool() || !member.get_bool()) return Corrupt("\"c\" is not true");
      out.additional_properties = false;
    } else if (key == "p") {
      if (!member.is_object() || member.get_object().empty() ||
          member.get_object().size() > kMaxSchemaProperties) {
        return Corrupt("\"p\" is not an object of 1 to 50 properties");
      }
      for (const auto& [name, code] : member.get_object()) {
        if (!IsValidPropertyName(name)) return Corrupt("a property name is invalid");
        const std::optional<MetadataType> type =
            code.is_string() ? TypeFromCode(code.get_string()) : std::nullopt;
        if (!type) return Corrupt("a property type is invalid");
        out.properties.push_back({std::string(name), *type, false});
      }
    } else if (key == "r") {
      required = &member;
    } else {
      return Corrupt("a metadata schema has an unknown member");
    }
  }
  SortByName(&out.properties);
  if (required != nullptr) {
    if (!required->is_array() || required->get_array().empty()) {
      return Corrupt("\"r\" is not a non-empty array");
    }
    for (const json::value& name : required->get_array()) {
      if (!name.is_string()) return Corrupt("\"r\" holds a non-string");
      const auto it =
          std::find_if(out.properties.begin(), out.properties.end(),
                       [&](const MetadataProperty& p) { return p.name == name.get_string(); });
      if (it == out.properties.end() || it->required) {
        return Corrupt("\"r\" names an undeclared or repeated property");
      }
      it->required = true;
    }
  }
  return out;
}

// ---- Validating events --------------------------------------------------------------------

class EventChecker {
 public:
  explicit EventChecker(const ActionSchema& schema) : schema_(schema) {}

  void Check(const json::value& event) {
    if (!event.is_object()) return Add("/event", "the event must be an object");
    const json::object& e = event.get_object();

    const json::value* actor = e.if_contains("actor");
    if (actor == nullptr) {
      Add("/event/actor", "event.actor is required");
    } else if (!actor->is_object()) {
      Add("/event/actor", "event.actor must be an object");
    } else {
      CheckMetadata(schema_.actor_metadata, actor->get_object().if_contains("metadata"),
                    "/event/actor/metadata", "event.actor.metadata");
    }

    CheckTargets(e.if_contains("targets"));

    if (schema_.metadata) {
      CheckMetadata(*schema_.metadata, e.if_contains("metadata"), "/event/metadata",
                    "event.metadata");
    }
  }

  std::vector<ErrorDetail> TakeDetails() { return std::move(details_); }

 private:
  void Add(std::string path, std::string message) {
    details_.push_back({std::move(path), std::move(message)});
  }

  void CheckTargets(const json::value* value) {
    if (value == nullptr) return Add("/event/targets", "event.targets is required");
    if (!value->is_array()) return Add("/event/targets", "event.targets must be an array");
    const json::array& targets = value->get_array();
    std::vector<bool> seen(schema_.targets.size(), false);
    for (size_t i = 0; i < targets.size(); ++i) {
      const std::string path = Index("/event/targets", i);
      const std::string what = "event.targets." + std::to_string(i);
      if (!targets[i].is_object()) {
        Add(path, what + " must be an object");
        continue;
      }
      const json::object& target = targets[i].get_object();
      const json::value* type = target.if_contains("type");
      if (type == nullptr || !type->is_string()) {
        Add(path + "/type", what + ".type must be a string");
        continue;
      }
      const auto it =
          std::find_if(schema_.targets.begin(), schema_.targets.end(),
                       [&](const TargetSchema& t) { return t.type == type->get_string(); });
      if (it == schema_.targets.end()) {
        Add(path + "/type",
            what + ".type is not a target type of the action's schema (" + ListedTypes() + ")");
        continue;
      }
      seen[static_cast<size_t>(it - schema_.targets.begin())] = true;
      if (it->metadata) {
        CheckMetadata(*it->metadata, target.if_contains("metadata"), path + "/metadata",
                      what + ".metadata");
      }
    }
    for (size_t j = 0; j < seen.size(); ++j) {
      if (seen[j]) continue;
      Add("/event/targets", "event.targets has no target of type " +
                                Quoted(schema_.targets[j].type) +
                                ", which the action's schema requires");
    }
  }

  std::string ListedTypes() const {
    std::string out = "it lists ";
    for (size_t j = 0; j < schema_.targets.size(); ++j) {
      if (j > 0) out += ", ";
      AppendJsonString(schema_.targets[j].type, &out);
    }
    return out;
  }

  // `value` is the event's metadata object, or nullptr when the event has none.
  void CheckMetadata(const MetadataSchema& schema, const json::value* value,
                     const std::string& path, const std::string& what) {
    static const json::object kEmpty;
    if (value != nullptr && !value->is_object()) return Add(path, what + " must be an object");
    const json::object& metadata = value != nullptr ? value->get_object() : kEmpty;
    for (const auto& [key, member] : metadata) {
      const MetadataProperty* property = schema.Find(key);
      if (property == nullptr) {
        if (!schema.additional_properties) {
          Add(Member(path, key), what + " has a key that the action's schema does not declare");
        }
        continue;
      }
      if (!HasType(member, property->type)) {
        Add(Member(path, key), what + "." + property->name + " must be a " +
                                   MetadataTypeName(property->type) +
                                   ", as the action's schema declares");
      }
    }
    for (const MetadataProperty& property : schema.properties) {
      if (property.required && !metadata.contains(property.name)) {
        Add(Member(path, property.name),
            what + "." + property.name + " is required by the action's schema");
      }
    }
  }

  const ActionSchema& schema_;
  std::vector<ErrorDetail> details_;
};

}  // namespace

const char* MetadataTypeName(MetadataType type) {
  switch (type) {
    case MetadataType::kString:
      return "string";
    case MetadataType::kNumber:
      return "number";
    case MetadataType::kBoolean:
      return "boolean";
  }
  return "string";
}

const MetadataProperty* MetadataSchema::Find(std::string_view name) const {
  const auto it =
      std::lower_bound(properties.begin(), properties.end(), name,
                       [](const MetadataProperty& p, std::string_view n) { return p.name < n; });
  return it != properties.end() && it->name == name ? &*it : nullptr;
}

Result<ActionSchema> ParseActionSchema(std::string_view body_json) {
  Result<json::value> body = ParseStrictJson(body_json, kMaxSchemaDepth);
  if (!body.ok()) return body.status();
  SchemaParser parser;
  std::optional<ActionSchema> schema = parser.Parse(*body);
  if (!schema) {
    return Status::InvalidArgument("the action schema is invalid", "invalid_schema",
                                   parser.TakeDetails());
  }
  return *std::move(schema);
}

std::string ActionSchemaJson(const ActionSchema& schema, int version, TimestampUs created_at) {
  std::string out = R"({"object":"audit_log_schema","version":)";
  out += std::to_string(version);
  out += R"(,"targets":[)";
  for (size_t i = 0; i < schema.targets.size(); ++i) {
    if (i > 0) out += ',';
    out += R"({"type":)";
    AppendJsonString(schema.targets[i].type, &out);
    if (schema.targets[i].metadata) {
      out += R"(,"metadata":)";
      AppendMetadataSchemaJson(*schema.targets[i].metadata, &out);
    }
    out += '}';
  }
  out += R"(],"actor":{"metadata":)";
  AppendMetadataSchemaJson(schema.actor_metadata, &out);
  out += '}';
  if (schema.metadata) {
    out += R"(,"metadata":)";
    AppendMetadataSchemaJson(*schema.metadata, &out);
  }
  out += R"(,"created_at":)";
  AppendJsonString(FormatRfc3339Millis(created_at), &out);
  out += '}';
  return out;
}

std::string EncodeActionSchema(const ActionSchema& schema) {
  std::string out = "{";
  if (!IsDefault(schema.actor_metadata)) {
    out += R"("a":)";
    AppendEncodedMetadata(schema.actor_metadata, &out);
    out += ',';
  }
  if (schema.metadata) {
    out += R"("m":)";
    AppendEncodedMetadata(*schema.metadata, &out);
    out += ',';
  }
  out += R"("t":[)";
  for (size_t i = 0; i < schema.targets.size(); ++i) {
    if (i > 0) out += ',';
    out += '{';
    if (schema.targets[i].metadata) {
      out += R"("m":)";
      AppendEncodedMetadata(*schema.targets[i].metadata, &out);
      out += ',';
    }
    out += R"("n":)";
    AppendJsonString(schema.targets[i].type, &out);
    out += '}';
  }
  out += R"(],"v":)";
  out += std::to_string(kEncodingVersion);
  out += '}';
  return out;
}

Result<ActionSchema> DecodeActionSchema(std::string_view encoded) {
  Result<json::value> parsed = ParseStrictJson(encoded, kMaxSchemaDepth);
  if (!parsed.ok()) return Corrupt("it is not strict JSON");
  if (!parsed->is_object()) return Corrupt("it is not an object");
  ActionSchema schema;
  bool has_version = false;
  bool has_targets = false;
  for (const auto& [key, member] : parsed->get_object()) {
    if (key == "v") {
      if (!member.is_int64() || member.get_int64() != kEncodingVersion) {
        return Corrupt("unsupported format version");
      }
      has_version = true;
    } else if (key == "a") {
      Result<MetadataSchema> actor = DecodeMetadata(member);
      if (!actor.ok()) return actor.status();
      schema.actor_metadata = *std::move(actor);
    } else if (key == "m") {
      Result<MetadataSchema> metadata = DecodeMetadata(member);
      if (!metadata.ok()) return metadata.status();
      schema.metadata = *std::move(metadata);
    } else if (key == "t") {
      if (!member.is_array() || member.get_array().empty()) {
        return Corrupt("\"t\" is not a non-empty array");
      }
      has_targets = true;
      for (const json::value& t : member.get_array()) {
        if (!t.is_object()) return Corrupt("a target is not an object");
        TargetSchema target;
        bool has_type = false;
        for (const auto& [tkey, tmember] : t.get_object()) {
          if (tkey == "n" && tmember.is_string() && !tmember.get_string().empty()) {
            target.type = std::string(tmember.get_string());
            has_type = true;
          } else if (tkey == "m") {
            Result<MetadataSchema> metadata = DecodeMetadata(tmember);
            if (!metadata.ok()) return metadata.status();
            target.metadata = *std::move(metadata);
          } else {
            return Corrupt("a target has an unknown or invalid member");
          }
        }
        if (!has_type) return Corrupt("a target has no type");
        for (const TargetSchema& other : schema.targets) {
          if (other.type == target.type) return Corrupt("a target type repeats");
        }
        schema.targets.push_back(std::move(target));
      }
    } else {
      return Corrupt("unknown member");
    }
  }
  if (!has_version) return Corrupt("no format version");
  if (!has_targets) return Corrupt("no targets");
  return schema;
}

Status ValidateAgainstSchema(const ActionSchema& schema, std::string_view event_json) {
  Result<json::value> event = ParseStrictJson(event_json, kMaxSupportedJsonDepth);
  if (!event.ok()) return event.status();
  EventChecker checker(schema);
  checker.Check(*event);
  std::vector<ErrorDetail> details = checker.TakeDetails();
  if (details.empty()) return Status::Ok();
  return Status::InvalidArgument("the event does not match its action's schema", "invalid_event",
                                 std::move(details));
}

}  // namespace annals::workos
