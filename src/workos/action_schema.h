// WorkOS Audit Logs action schemas: the model of one schema version, the parser of the body
// of POST /audit_logs/actions/{action}/schemas, the audit_log_schema response object, a
// compact stored form, and the check of an event against a schema.
//
// A schema names the target types an event of the action carries and constrains three
// metadata objects (actor.metadata, each target's metadata, the event's root metadata) with
// the JSON Schema subset WorkOS uses:
//   {"type": "object",
//    "properties": {"<name>": {"type": "string" | "number" | "boolean"}, ...},
//    "required": ["<name>", ...],          // optional
//    "additionalProperties": false}         // optional, default true
// With JSON Schema semantics: a declared key, when present, must hold a value of its type;
// it may be absent unless listed in "required"; undeclared keys are allowed unless
// "additionalProperties" is false. The official Node SDK always sends
// {"type": "object", "properties": {...}} and nothing else.
//
// All functions are pure and thread-safe. The types are plain values; not synchronized.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"

namespace annals::workos {

// Limits of one metadata schema; they match the limits of an event's metadata objects
// (at most 50 keys of 1-40 characters of [A-Za-z0-9_-]).
inline constexpr size_t kMaxSchemaProperties = 50;
inline constexpr size_t kMaxPropertyNameLength = 40;

enum class MetadataType : uint8_t { kString, kNumber, kBoolean };

// "string", "number" or "boolean".
const char* MetadataTypeName(MetadataType type);

struct MetadataProperty {
  std::string name;  // 1-40 characters of [A-Za-z0-9_-]
  MetadataType type = MetadataType::kString;
  bool required = false;
  bool operator==(const MetadataProperty&) const = default;
};

// The schema of one metadata object.
struct MetadataSchema {
  // Sorted by name (byte order; names are ASCII), names distinct, at most
  // kMaxSchemaProperties entries.
  std::vector<MetadataProperty> properties;
  // false: keys not in `properties` are rejected.
  bool additional_properties = true;

  // The property named `name`, or nullptr.
  const MetadataProperty* Find(std::string_view name) const;
  bool operator==(const MetadataSchema&) const = default;
};

struct TargetSchema {
  std::string type;  // non-empty; distinct among a schema's targets
  // Absent: the target's metadata is not constrained (and the response shows no
  // "metadata" for this target).
  std::optional<MetadataSchema> metadata;
  bool operator==(const TargetSchema&) const = default;
};

// One version of an action's schema. The action name, version number and creation time
// are kept by whoever stores the schema.
struct ActionSchema {
  // WorkOS always answers with an actor metadata schema; an absent "actor" in the request
  // is the same as one with no properties.
  MetadataSchema actor_metadata;
  std::vector<TargetSchema> targets;  // at least one, in request order
  // Absent: the event's root metadata is not constrained (and the response has no
  // "metadata").
  std::optional<MetadataSchema> metadata;
  bool operator==(const ActionSchema&) const = default;
};

// Parses the JSON body of POST /audit_logs/actions/{action}/schemas:
//   {"actor": {"metadata": M}?, "targets": [{"type": "<type>", "metadata": M?}, ...],
//    "metadata": M?}
// where M is a metadata schema as described at the top of this file. "actor", "metadata"
// and a target's "metadata" may also be null, meaning absent. When "actor" is given it must
// have "metadata". In M, "properties" may be omitted (no properties) and "required" must
// name distinct declared properties.
//
// Errors:
//  * whatever ParseStrictJson returns for text that is not strict JSON ("invalid_json";
//    duplicate keys in one object are reported there, with their path);
//  * InvalidArgument "invalid_schema" with one ErrorDetail per problem, each at the JSON
//    Pointer of the offending place in the body, e.g. "/targets" (missing, not an array,
//    empty), "/targets/1/type" (missing, not a non-empty string, a duplicate type),
//    "/targets/1/metadata/properties/x/type" (not "string", "number" or "boolean"),
//    "/targets/1/metadata/properties/b~1d" (a bad property name), "/metadata/required/0"
//    (names no declared property), "/actor/extra" (an unknown member). Nothing is coerced:
//    every unknown member anywhere is a problem.
Result<ActionSchema> ParseActionSchema(std::string_view body_json);

// The audit_log_schema object WorkOS returns for one version of an action's schema:
//   {"object":"audit_log_schema","version":V,"targets":[{"type":..,"metadata":M}..],
//    "actor":{"metadata":M},"metadata":M,"created_at":"2024-10-14T15:09:44.537Z"}
// in that member order, with M = {"type":"object","properties":{..}} plus "required" (when
// any property is required) and "additionalProperties":false (when set). Properties appear
// sorted by name. Targets without a metadata schema have no "metadata" member; the root
// "metadata" is omitted when the schema has none. created_at is printed like JavaScript's
// Date.toISOString(), with milliseconds (floored), as WorkOS does.
std::string ActionSchemaJson(const ActionSchema& schema, int version, TimestampUs created_at);

// A compact, versioned, canonical (RFC 8785) JSON form for the store:
//   {"a":S,"m":S,"t":[{"m":S,"n":"<type>"},..],"v":1}
// with S = {"c":true,"p":{"<name>":"b"|"n"|"s"},"r":["<name>",..]} ("c": additional
// properties closed), members at their defaults left out ("a" when the actor schema is empty
// and open, "m" when absent, "c" when false, "p" and "r" when empty). Equal schemas encode to
// equal bytes.
std::string EncodeActionSchema(const ActionSchema& schema);

// The inverse of EncodeActionSchema. Input that breaks the format (not strict JSON, another
// format version, unknown members, a bad name or type code, a repeated target type, "r"
// naming an undeclared property) is Status::Internal with error code "corrupt_schema": it
// can only come from a damaged store. The result satisfies every invariant of the types
// above.
Result<ActionSchema> DecodeActionSchema(std::string_view encoded);

// Checks an event in the annals event model (PRODUCT.md "Event model"; typically already
// accepted by the event decoder) against `schema`:
//  * each target type the schema lists appears among event.targets (several targets of one
//    listed type are fine), and no target has a type the schema does not list;
//  * actor.metadata, the metadata of each target (by the schema entry of its type) and the
//    root metadata follow their metadata schemas: declared keys hold values of the declared
//    type (a JSON number for "number", true/false for "boolean", a string for "string"),
//    required keys are present (a missing metadata object counts as {}), and undeclared keys
//    appear only where additional properties are allowed.
// OK, or InvalidArgument with error code "invalid_event" (the event decoder's code, so that
// the API maps every event problem to one error in one place) and one ErrorDetail per
// problem, at JSON Pointers under "/event" (where the event sits in the WorkOS request body),
// e.g. "/event/targets" (a listed type is missing), "/event/targets/2/type" (an unlisted
// type), "/event/targets/0/metadata/cost", "/event/actor/metadata/role",
// "/event/metadata/reason". Text that is not strict JSON is returned as ParseStrictJson
// reports it; an event that lacks the model's shape (e.g. targets not an array) is reported
// at the offending path rather than trusted.
Status ValidateAgainstSchema(const ActionSchema& schema, std::string_view event_json);

}  // namespace annals::workos
