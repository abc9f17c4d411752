#include "domain/event_decoder.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <memory>
#include <tuple>
#include <utility>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/json_tape.h"
#include "domain/time.h"

namespace annals {
namespace {

constexpr size_t kMaxIdempotencyKeyLength = 256;
// Room in approx_size for ,"id":"evt_...",  ,"received_at":"...Z"  and  ,"seq":N.
constexpr size_t kServerFieldsBytes = 112;

// Number of Unicode code points in valid UTF-8.
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

std::string Num(size_t n) { return std::to_string(n); }

// Byte classes: bit 1 = allowed in actions, bit 2 = allowed in metadata keys.
constexpr std::array<uint8_t, 256> MakeCharClasses() {
  std::array<uint8_t, 256> table{};
  for (int c = 0; c < 256; ++c) {
    const bool lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z';
    const bool digit = c >= '0' && c <= '9';
    if (lower || digit || c == '_' || c == '.' || c == '-') table[c] |= 1;
    if (lower || upper || digit || c == '_' || c == '-') table[c] |= 2;
  }
  return table;
}
constexpr std::array<uint8_t, 256> kCharClasses = MakeCharClasses();

bool IsActionChar(char c) { return kCharClasses[static_cast<uint8_t>(c)] & 1; }
bool IsMetadataKeyChar(char c) { return kCharClasses[static_cast<uint8_t>(c)] & 2; }

template <typename Predicate>
bool AllOf(std::string_view s, Predicate predicate) {
  for (char c : s) {
    if (!predicate(c)) return false;
  }
  return true;
}

// "3600 seconds" or "1500 microseconds".
std::string DescribeDuration(int64_t us) {
  if (us % 1000000 == 0) return std::to_string(us / 1000000) + " seconds";
  return std::to_string(us) + " microseconds";
}

bool IsServerField(std::string_view key) {
  return key == "id" || key == "seq" || key == "received_at" || key == "source";
}

// The client-supplied top-level members. The first ten are the stored members, in JCS
// order with "source" (which the server supplies) at kSourceRank.
enum Field : int {
  kAction,
  kActor,
  kChanges,
  kContext,
  kMetadata,
  kOccurredAt,
  kOrganizationId,
  kSource,  // never client-supplied; only a rank
  kTargets,
  kVersion,
  kIdempotencyKey,
  kFieldCount,
  kUnknownField = -1,
};
constexpr std::string_view kFieldNames[kFieldCount] = {
    "action",          "actor",  "changes",  "context", "metadata",       "occurred_at",
    "organization_id", "source", "targets",  "version", "idempotency_key"};

Field ClientField(std::string_view key) {
  if (key.empty()) return kUnknownField;
  Field f;
  switch (key[0]) {
    case 'a':
      f = key.size() == 6 && key[3] == 'i' ? kAction : kActor;
      break;
    case 'c':
      f = key.size() > 2 && key[2] == 'a' ? kChanges : kContext;
      break;
    case 'm':
      f = kMetadata;
      break;
    case 'o':
      f = key.size() > 1 && key[1] == 'c' ? kOccurredAt : kOrganizationId;
      break;
    case 't':
      f = kTargets;
      break;
    case 'v':
      f = kVersion;
      break;
    case 'i':
      f = kIdempotencyKey;
      break;
    default:
      return kUnknownField;
  }
  return key == kFieldNames[f] ? f : kUnknownField;
}

bool Equals(const JsonNode& key, std::string_view name) {
  return key.len == name.size() && std::memcmp(key.str, name.data(), name.size()) == 0;
}

// Appends to *path the pointer (relative to `value`) of the first container nested deeper
// than max_depth, with `value` at depth `depth`; false if there is none.
bool FindTooDeep(const JsonNode& value, size_t depth, size_t max_depth, std::string* path) {
  if (!value.is_object() && !value.is_array()) return false;
  if (depth > max_depth) return true;
  if (value.is_object()) {
    const JsonNode* k = value.first();
    for (uint32_t i = 0; i < value.len; ++i, k = NextKey(k)) {
      const size_t saved = path->size();
      AppendJsonPointerToken(k->string(), path);
      if (FindTooDeep(*(k + 1), depth + 1, max_depth, path)) return true;
      path->resize(saved);
    }
  } else {
    const JsonNode* e = value.first();
    for (uint32_t i = 0; i < value.len; ++i, e = e->next()) {
      const size_t saved = path->size();
      AppendJsonPointerIndex(i, path);
      if (FindTooDeep(*e, depth + 1, max_depth, path)) return true;
      path->resize(saved);
    }
  }
  return false;
}

// Where an event sits in the body; its JSON Pointer is only rendered for error details.
struct EventPath {
  std::string_view base;  // "" for a lone event, "/events" or "" for batch elements
  bool indexed = false;
  size_t index = 0;

  std::string Render() const {
    std::string path(base);
    if (indexed) AppendJsonPointerIndex(index, &path);
    return path;
  }
};

// An actor, a target or a metadata object, named in paths and messages only on errors:
// "/actor" and "actor", "/targets/2" and "targets[2]", "/targets/2/metadata" and
// "targets[2].metadata", "/metadata" and "metadata".
struct Place {
  std::string_view field;  // "actor", "targets" or "metadata"
  bool indexed = false;
  size_t index = 0;
  bool metadata = false;  // the entity's metadata member

  std::string Base() const {
    std::string s = "/";
    s.append(field);
    if (indexed) AppendJsonPointerIndex(index, &s);
    if (metadata) s.append("/metadata");
    return s;
  }
  std::string Name() const {
    std::string s(field);
    if (indexed) s += "[" + Num(index) + "]";
    if (metadata) s.append(".metadata");
    return s;
  }
};

// A reusable output buffer.
class ScratchBuffer {
 public:
  // Returns room for `size` bytes (the previous content is not kept).
  char* Reserve(size_t size) {
    if (size > capacity_) {
      capacity_ = std::max(size, capacity_ * 2);
      data_ = std::make_unique<char[]>(capacity_);
    }
    return data_.get();
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

// Validates one event and builds its draft; see DecodeEvent.
class EventChecker {
 public:
  EventChecker(const EventLimits& limits, const DecodeContext& ctx, const EventPath& prefix,
               std::vector<ErrorDetail>* errors, ScratchBuffer* client)
      : limits_(limits), ctx_(ctx), prefix_(prefix), errors_(errors), client_(client) {}

  // Fills *out (a default-constructed draft) and returns true if the event is valid.
  // `hash`: compute the content hash even when the event has no idempotency key.
  bool Run(const JsonNode& event, bool hash, bool* too_large, EventDraft* out) {
    *too_large = false;
    const size_t errors_before = errors_->size();
    if (!event.is_object()) {
      Add("", "an event must be a JSON object");
      return false;
    }
    EventDraft& draft = *out;

    if (event.height > limits_.max_depth) {
      std::string deep_path;
      FindTooDeep(event, 1, limits_.max_depth, &deep_path);
      Add(deep_path, "nesting is deeper than " + Num(limits_.max_depth) + " levels");
    }
    const JsonNode* fields[kFieldCount] = {};
    {
      const JsonNode* k = event.first();
      for (uint32_t i = 0; i < event.len; ++i, k = NextKey(k)) {
        const std::string_view key = k->string();
        const Field f = ClientField(key);
        if (f != kUnknownField) {
          fields[f] = k + 1;
          continue;
        }
        Add(Member("", key),
            IsServerField(key)
                ? "unknown field: id, seq, received_at and source are set by the server"
                : "unknown field");
      }
    }

    CheckOrganization(fields[kOrganizationId], &draft.fields.organization_id);
    CheckAction(fields[kAction], &draft.fields.action);
    char occurred_text[kMaxRfc3339Bytes + 2];
    size_t occurred_len = 0;
    CheckOccurredAt(fields[kOccurredAt], &draft.fields.occurred_at, occurred_text, &occurred_len);
    if (const JsonNode* v = fields[kVersion]) {
      if (!v->is_int64() || v->i < 1) Add("/version", "version must be an integer of at least 1");
    }
    CheckActor(fields[kActor], &draft.fields);
    CheckTargets(fields[kTargets], &draft.fields.targets);
    CheckContext(fields[kContext]);
    if (const JsonNode* v = fields[kMetadata]) CheckMetadata(*v, Place{"metadata"});
    CheckChanges(fields[kChanges], &draft.fields.change_op);
    CheckIdempotencyKey(fields[kIdempotencyKey], &draft.idempotency_key);

    // The canonical client object: every known member present (even invalid ones, so that
    // the size check sees what was sent) in JCS order, the idempotency key left out.
    size_t bound = 2;
    for (int f = 0; f < kIdempotencyKey; ++f) {
      if (fields[f] != nullptr) bound += kFieldNames[f].size() + 4 + CanonicalSizeBound(*fields[f]);
    }
    bound += kFieldNames[kOrganizationId].size() + 4 + 6 * draft.fields.organization_id.size() +
             2 + sizeof occurred_text;
    char* const begin = client_->Reserve(bound);
    char* p = begin;
    *p++ = '{';
    size_t value_at[kFieldCount] = {};
    size_t value_end[kFieldCount] = {};
    bool present[kFieldCount] = {};
    for (int f = 0; f < kIdempotencyKey; ++f) {
      if (f == kSource) continue;
      const JsonNode* v = fields[f];
      const bool implied_org = f == kOrganizationId && !draft.fields.organization_id.empty();
      if (v == nullptr && !implied_org) continue;
      present[f] = true;
      if (p - begin > 1) *p++ = ',';
      *p++ = '"';
      std::memcpy(p, kFieldNames[f].data(), kFieldNames[f].size());
      p += kFieldNames[f].size();
      *p++ = '"';
      *p++ = ':';
      value_at[f] = static_cast<size_t>(p - begin);
      if (f == kOccurredAt && occurred_len > 0) {
        std::memcpy(p, occurred_text, occurred_len);
        p += occurred_len;
      } else if (implied_org) {
        p = WriteJsonString(draft.fields.organization_id, p);
      } else {
        p = WriteCanonical(*v, p);
      }
      value_end[f] = static_cast<size_t>(p - begin);
    }
    *p++ = '}';
    const std::string_view client(begin, static_cast<size_t>(p - begin));
    if (client.size() > limits_.max_event_bytes) {
      *too_large = true;
      Add("", "event is " + Num(client.size()) + " bytes; the limit is " +
                  Num(limits_.max_event_bytes));
    }

    if (errors_->size() != errors_before) return false;

    if (hash || !draft.idempotency_key.empty()) draft.content_hash = Sha256(client);
    draft.approx_size = client.size() + ctx_.source_json.size() + 10 + kServerFieldsBytes;
    draft.members.reserve(kIdempotencyKey);
    for (int f = 0; f < kIdempotencyKey; ++f) {
      if (f == kSource) {
        draft.members.emplace_back(
            std::piecewise_construct,
            std::forward_as_tuple(kFieldNames[f].data(), kFieldNames[f].size()),
            std::forward_as_tuple(ctx_.source_json));
      } else if (present[f]) {
        draft.members.emplace_back(
            std::piecewise_construct,
            std::forward_as_tuple(kFieldNames[f].data(), kFieldNames[f].size()),
            std::forward_as_tuple(begin + value_at[f], value_end[f] - value_at[f]));
      }
    }
    return true;
  }

 private:
  void Add(std::string_view suffix, std::string message) {
    std::string path = prefix_.Render();
    path.append(suffix);
    errors_->push_back(ErrorDetail{std::move(path), std::move(message)});
  }

  static std::string Member(std::string_view base, std::string_view key) {
    std::string path(base);
    AppendJsonPointerToken(key, &path);
    return path;
  }

  void CheckOrganization(const JsonNode* v, std::string* out) {
    if (v == nullptr) {
      if (ctx_.implied_organization_id.empty()) {
        Add("/organization_id", "organization_id is required");
      } else {
        *out = ctx_.implied_organization_id;
      }
      return;
    }
    if (!v->is_string() || v->len == 0) {
      Add("/organization_id", "organization_id must be a non-empty string");
      return;
    }
    const std::string_view org = v->string();
    if (!ctx_.implied_organization_id.empty() && org != ctx_.implied_organization_id) {
      Add("/organization_id", "organization_id does not match the organization of the API key");
      return;
    }
    out->assign(org);
  }

  void CheckAction(const JsonNode* v, std::string* out) {
    if (v == nullptr) return Add("/action", "action is required");
    if (!v->is_string()) return Add("/action", "action must be a string");
    const std::string_view action = v->string();
    if (action.empty()) return Add("/action", "action must not be empty");
    const size_t length = CodePoints(action);
    if (length > limits_.max_action_length) {
      return Add("/action", "action is " + Num(length) + " characters; the limit is " +
                                Num(limits_.max_action_length));
    }
    if (!AllOf(action, IsActionChar)) {
      return Add("/action", "action may only contain a-z, 0-9, '_', '.' and '-'");
    }
    if (action.substr(0, 7) == "annals." && !ctx_.allow_reserved_actions) {
      return Add("/action", "actions starting with \"annals.\" are reserved for annals itself");
    }
    out->assign(action);
  }

  // On success stores the timestamp and its canonical JSON (a quoted 6-digit UTC
  // timestamp) in text[0..*text_len).
  void CheckOccurredAt(const JsonNode* v, TimestampUs* out, char* text, size_t* text_len) {
    if (v == nullptr) return Add("/occurred_at", "occurred_at is required");
    if (!v->is_string())
      return Add("/occurred_at", "occurred_at must be a string (an RFC 3339 timestamp)");
    Result<TimestampUs> parsed = ParseRfc3339(v->string());
    if (!parsed.ok()) return Add("/occurred_at", "occurred_at " + parsed.status().message());
    const TimestampUs at = *parsed;
    // Unsigned subtraction: exact whenever at > now, whatever the values.
    if (at > ctx_.now && limits_.max_future_us >= 0 &&
        static_cast<uint64_t>(at) - static_cast<uint64_t>(ctx_.now) >
            static_cast<uint64_t>(limits_.max_future_us)) {
      return Add("/occurred_at",
                 "occurred_at is more than " + DescribeDuration(limits_.max_future_us) +
                     " ahead of the server's clock (" + FormatRfc3339Micros(ctx_.now) + ")");
    }
    *out = at;
    text[0] = '"';
    char* end = WriteRfc3339Micros(at, text + 1);
    *end++ = '"';
    *text_len = static_cast<size_t>(end - text);
  }

  // The member `key` of the entity at `place`, which must be a non-empty string.
  bool RequireNonEmptyString(const JsonNode* v, std::string_view key, const Place& place,
                             std::string* out) {
    if (v == nullptr) {
      Add(Member(place.Base(), key), place.Name() + "." + std::string(key) + " is required");
      return false;
    }
    if (!v->is_string() || v->len == 0) {
      Add(Member(place.Base(), key),
          place.Name() + "." + std::string(key) + " must be a non-empty string");
      return false;
    }
    out->assign(v->string());
    return true;
  }

  // An actor or a target: {id, type, name?, metadata?}.
  bool CheckEntity(const JsonNode& value, const Place& place, std::string* id,
                   std::string* type) {
    if (!value.is_object()) {
      Add(place.Base(), place.Name() + " must be an object");
      return false;
    }
    const JsonNode* id_value = nullptr;
    const JsonNode* type_value = nullptr;
    const JsonNode* name_value = nullptr;
    const JsonNode* metadata_value = nullptr;
    const JsonNode* k = value.first();
    for (uint32_t i = 0; i < value.len; ++i, k = NextKey(k)) {
      if (Equals(*k, "id")) {
        id_value = k + 1;
      } else if (Equals(*k, "type")) {
        type_value = k + 1;
      } else if (Equals(*k, "name")) {
        name_value = k + 1;
      } else if (Equals(*k, "metadata")) {
        metadata_value = k + 1;
      } else {
        Add(Member(place.Base(), k->string()),
            "unknown field in " + place.Name() + " (allowed: id, type, name, metadata)");
      }
    }
    bool ok = RequireNonEmptyString(id_value, "id", place, id);
    ok = RequireNonEmptyString(type_value, "type", place, type) && ok;
    if (name_value != nullptr && !name_value->is_string()) {
      Add(place.Base() + "/name", place.Name() + ".name must be a string");
      ok = false;
    }
    if (metadata_value != nullptr) {
      Place metadata = place;
      metadata.metadata = true;
      ok = CheckMetadata(*metadata_value, metadata) && ok;
    }
    return ok;
  }

  void CheckActor(const JsonNode* v, EventIndexFields* fields) {
    if (v == nullptr) return Add("/actor", "actor is required");
    CheckEntity(*v, Place{"actor"}, &fields->actor_id, &fields->actor_type);
  }

  void CheckTargets(const JsonNode* v, std::vector<TargetRef>* out) {
    if (v == nullptr) return Add("/targets", "targets is required");
    if (!v->is_array()) return Add("/targets", "targets must be an array");
    if (v->len == 0) return Add("/targets", "targets must contain at least one target");
    if (v->len > limits_.max_targets) {
      Add("/targets", "targets has " + Num(v->len) + " entries; the limit is " +
                          Num(limits_.max_targets));
    }
    out->reserve(v->len);
    const JsonNode* e = v->first();
    for (uint32_t i = 0; i < v->len; ++i, e = e->next()) {
      TargetRef ref;
      if (CheckEntity(*e, Place{"targets", true, i}, &ref.id, &ref.type)) {
        out->push_back(std::move(ref));
      }
    }
  }

  void CheckContext(const JsonNode* v) {
    bool has_location = false;
    if (v != nullptr) {
      if (!v->is_object()) return Add("/context", "context must be an object");
      bool location_not_string = false;
      const JsonNode* k = v->first();
      for (uint32_t i = 0; i < v->len; ++i, k = NextKey(k)) {
        const std::string_view key = k->string();
        const JsonNode& value = *(k + 1);
        if (key == "location" || key == "user_agent") {
          if (!value.is_string()) {
            Add(Member("/context", key), "context." + std::string(key) + " must be a string");
            if (key == "location") location_not_string = true;
          } else if (key == "location") {
            has_location = value.len != 0;
          }
        } else {
          Add(Member("/context", key), "unknown field in context (allowed: location, user_agent)");
        }
      }
      if (location_not_string) return;  // already reported
    }
    if (ctx_.require_context_location && !has_location) {
      Add("/context/location", "context.location is required");
    }
  }

  bool CheckMetadata(const JsonNode& value, const Place& place) {
    if (!value.is_object()) {
      Add(place.Base(), place.Name() + " must be an object");
      return false;
    }
    const size_t before = errors_->size();
    if (value.len > limits_.max_metadata_keys) {
      Add(place.Base(), place.Name() + " has " + Num(value.len) + " keys; the limit is " +
                            Num(limits_.max_metadata_keys));
    }
    const JsonNode* k = value.first();
    for (uint32_t i = 0; i < value.len; ++i, k = NextKey(k)) {
      const std::string_view key = k->string();
      const auto path = [&] { return Member(place.Base(), key); };
      if (key.empty()) {
        Add(path(), place.Name() + " keys must not be empty");
      } else if (!AllOf(key, IsMetadataKeyChar)) {
        Add(path(), place.Name() + " keys may only contain A-Z, a-z, 0-9, '_' and '-'");
      } else if (key.size() > limits_.max_metadata_key_length) {
        // Only ASCII here, so bytes are code points.
        Add(path(), place.Name() + " key is " + Num(key.size()) + " characters; the limit is " +
                        Num(limits_.max_metadata_key_length));
      }
      const JsonNode& v = *(k + 1);
      if (v.is_string()) {
        // A string has at least as many bytes as code points.
        if (v.len > limits_.max_metadata_value_length) {
          const size_t length = CodePoints(v.string());
          if (length > limits_.max_metadata_value_length) {
            Add(path(), place.Name() + " value is " + Num(length) +
                            " characters; the limit is " +
                            Num(limits_.max_metadata_value_length));
          }
        }
      } else if (!v.is_number() && !v.is_bool()) {
        Add(path(), place.Name() + " values must be strings, numbers or booleans");
      }
    }
    return errors_->size() == before;
  }

  void CheckChanges(const JsonNode* v, ChangeOp* op_out) {
    if (v == nullptr) return;
    if (!v->is_object()) return Add("/changes", "changes must be an object");
    const JsonNode* op_value = nullptr;
    const JsonNode* before = nullptr;
    const JsonNode* after = nullptr;
    const JsonNode* k = v->first();
    for (uint32_t i = 0; i < v->len; ++i, k = NextKey(k)) {
      if (Equals(*k, "op")) {
        op_value = k + 1;
      } else if (Equals(*k, "before")) {
        before = k + 1;
      } else if (Equals(*k, "after")) {
        after = k + 1;
      } else {
        Add(Member("/changes", k->string()),
            "unknown field in changes (allowed: op, before, after)");
      }
    }
    // An image: absent, null or an object. Returns true when it is an object.
    const auto image = [&](const JsonNode* img, std::string_view key, bool* bad) {
      *bad = img != nullptr && !img->is_null() && !img->is_object();
      if (*bad) {
        Add(Member("/changes", key), "changes." + std::string(key) + " must be an object or null");
      }
      return img != nullptr && img->is_object();
    };
    bool before_bad = false, after_bad = false;
    const bool has_before = image(before, "before", &before_bad);
    const bool has_after = image(after, "after", &after_bad);

    if (op_value == nullptr) return Add("/changes/op", "changes.op is required");
    const std::string_view op = op_value->is_string() ? op_value->string() : "";
    ChangeOp parsed;
    if (op == "create") {
      parsed = ChangeOp::kCreate;
    } else if (op == "update") {
      parsed = ChangeOp::kUpdate;
    } else if (op == "delete") {
      parsed = ChangeOp::kDelete;
    } else if (op == "snapshot") {
      parsed = ChangeOp::kSnapshot;
    } else {
      return Add("/changes/op",
                 "changes.op must be one of \"create\", \"update\", \"delete\", \"snapshot\"");
    }
    if (parsed != ChangeOp::kDelete && !has_after && !after_bad) {
      Add("/changes/after",
          "changes.after must be an object when op is \"" + std::string(op) + "\"");
    }
    if (parsed == ChangeOp::kCreate && has_before) {
      Add("/changes/before", "changes.before must be null or absent when op is \"create\"");
    }
    if (parsed == ChangeOp::kDelete && has_after) {
      Add("/changes/after", "changes.after must be null or absent when op is \"delete\"");
    }
    *op_out = parsed;
  }

  void CheckIdempotencyKey(const JsonNode* v, std::string* out) {
    if (v == nullptr) return;
    if (!v->is_string() || v->len == 0) {
      return Add("/idempotency_key", "idempotency_key must be a non-empty string");
    }
    const std::string_view key = v->string();
    const size_t length = CodePoints(key);
    if (length > kMaxIdempotencyKeyLength) {
      return Add("/idempotency_key", "idempotency_key is " + Num(length) +
                                         " characters; the limit is " +
                                         Num(kMaxIdempotencyKeyLength));
    }
    if (!std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7E; })) {
      return Add("/idempotency_key",
                 "idempotency_key may only contain printable ASCII characters (no spaces)");
    }
    out->assign(key);
  }

  const EventLimits& limits_;
  const DecodeContext& ctx_;
  const EventPath& prefix_;
  std::vector<ErrorDetail>* errors_;
  ScratchBuffer* client_;
};

Status TooManyEvents(size_t count, size_t limit) {
  return Status::InvalidArgument(
      "the batch has " + Num(count) + " events; the limit is " + Num(limit) + " per request",
      "too_many_events");
}

Status EmptyBatch(const char* message) { return Status::InvalidArgument(message, "empty_batch"); }

// Rewrites ParseStrictJson's "at line 1, column C" for an NDJSON line that is line `line`
// of the body.
std::string WithBodyLine(const std::string& message, size_t line) {
  static constexpr std::string_view kMarker = " at line 1, column ";
  const size_t at = message.find(kMarker);
  if (at == std::string::npos) return message + " (line " + Num(line) + ")";
  return message.substr(0, at) + " at line " + Num(line) + ", column " +
         message.substr(at + kMarker.size());
}

// Decodes the events of one body in order and assembles the outcome.
class BatchDecoder {
 public:
  BatchDecoder(const EventLimits& limits, const DecodeContext& ctx, bool single)
      : limits_(limits), ctx_(ctx), single_(single) {
    batch_.single = single;
  }

  void Reserve(size_t events) { batch_.drafts.reserve(events); }

  void Decode(const JsonNode& event, const EventPath& path) {
    ++total_;
    EventChecker checker(limits_, ctx_, path, &errors_, &client_);
    bool event_too_large = false;
    // A single event may still get its idempotency key from a header, so it is hashed
    // eagerly; batch events are hashed when they carry a key (see ComputeContentHash).
    EventDraft& draft = batch_.drafts.emplace_back();
    const bool valid = checker.Run(event, single_, &event_too_large, &draft);
    too_large_ = too_large_ || event_too_large;
    if (!valid) {
      batch_.drafts.pop_back();
      ++invalid_;
    }
  }

  // An NDJSON line that is not valid JSON.
  void JsonError(ErrorDetail detail) {
    ++total_;
    ++json_errors_;
    json_error_details_.push_back(std::move(detail));
  }

  Result<DecodedBatch> Finish() {
    if (invalid_ == 0 && json_errors_ == 0) return std::move(batch_);
    std::vector<ErrorDetail> errors = std::move(json_error_details_);
    errors.insert(errors.end(), std::make_move_iterator(errors_.begin()),
                  std::make_move_iterator(errors_.end()));
    if (single_) {
      std::string message = "the event is invalid: " + errors.front().message;
      if (errors.size() > 1) message += " (and " + Num(errors.size() - 1) + " more problems)";
      if (too_large_) return Status(Code::kTooLarge, "event_too_large", message, std::move(errors));
      return Status(Code::kInvalidArgument, "invalid_event", message, std::move(errors));
    }
    if (json_errors_ > 0) {
      return Status(Code::kInvalidArgument, "invalid_json",
                    Num(json_errors_) + " of " + Num(total_) + " lines are not valid JSON",
                    std::move(errors));
    }
    const size_t invalid = invalid_;
    return Status(Code::kInvalidArgument, "invalid_event",
                  Num(invalid) + " of " + Num(total_) +
                      (total_ == 1 ? " event is" : " events are") + " invalid",
                  std::move(errors));
  }

 private:
  const EventLimits& limits_;
  const DecodeContext& ctx_;
  const bool single_;
  DecodedBatch batch_;
  std::vector<ErrorDetail> errors_;              // event problems, in body order
  std::vector<ErrorDetail> json_error_details_;  // NDJSON lines that are not JSON
  ScratchBuffer client_;                         // scratch for the canonical client object
  size_t total_ = 0;
  size_t invalid_ = 0;
  size_t json_errors_ = 0;
  bool too_large_ = false;
};

// Replaces "deeper than <parse_depth> levels" by "deeper than <max_depth> levels".
Status RewordDepthError(const Status& status, size_t parse_depth, size_t max_depth) {
  const std::string from = "nesting is deeper than " + Num(parse_depth) + " levels";
  const std::string to = "nesting is deeper than " + Num(max_depth) + " levels";
  const auto reword = [&](std::string text) {
    if (text.compare(0, from.size(), from) == 0) text.replace(0, from.size(), to);
    return text;
  };
  std::vector<ErrorDetail> details = status.details();
  for (ErrorDetail& d : details) d.message = reword(std::move(d.message));
  return Status(status.code(), status.error_code(), reword(status.message()), std::move(details));
}

Result<DecodedBatch> DecodeJsonBody(std::string_view body, const EventLimits& limits,
                                    const RequestLimits& request_limits, const DecodeContext& ctx) {
  // Events sit up to two levels down ({"events": [...]}); their own depth is checked per
  // event. Anything deeper than that fails the parse, and then the message names the
  // event limit rather than the parser's.
  const size_t parse_depth = std::min(limits.max_depth + 2, kMaxSupportedJsonDepth);
  JsonDocumentLease doc(body.size());

  // The usual batch shapes are read and checked one event at a time, which keeps the work
  // in cache; anything else (or anything the fast reader does not take) is parsed whole.
  const size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && (body[first] == '[' || body[first] == '{')) {
    const bool wrapped = body[first] == '{';
    struct Sink {
      BatchDecoder decoder;
      std::string_view prefix;
      size_t max_events;
      size_t count = 0;
    } sink{BatchDecoder(limits, ctx, /*single=*/false), wrapped ? "/events" : "",
           request_limits.max_batch_events};
    sink.decoder.Reserve(std::min(request_limits.max_batch_events, body.size() / 256 + 1));
    const auto on_event = [](void* context, const JsonNode& event, size_t index) {
      Sink& s = *static_cast<Sink*>(context);
      if (index >= s.max_events) return false;  // reported by the whole-body path
      s.decoder.Decode(event, EventPath{s.prefix, true, index});
      s.count = index + 1;
      return true;
    };
    if (doc->ReadElements(body, parse_depth, wrapped, on_event, &sink)) {
      if (sink.count == 0) return EmptyBatch("the batch contains no events");
      Result<DecodedBatch> out = sink.decoder.Finish();
      if (out.ok()) out->path_base = std::string(sink.prefix);
      return out;
    }
  }

  Status parsed = doc->Parse(body, parse_depth);
  if (!parsed.ok()) return RewordDepthError(parsed, parse_depth, limits.max_depth);
  const JsonNode& root = doc->root();

  const JsonNode* list = nullptr;
  std::string_view list_prefix;
  if (root.is_object()) {
    const JsonNode* wrapped = FindMember(root, "events");
    if (wrapped == nullptr) {
      BatchDecoder decoder(limits, ctx, /*single=*/true);
      decoder.Decode(root, EventPath{});
      return decoder.Finish();
    }
    std::vector<ErrorDetail> extra;
    const JsonNode* k = root.first();
    for (uint32_t i = 0; i < root.len; ++i, k = NextKey(k)) {
      if (k->string() != "events") {
        std::string path;
        AppendJsonPointerToken(k->string(), &path);
        extra.push_back(
            ErrorDetail{std::move(path), "unknown field: a batch object holds only \"events\""});
      }
    }
    if (!extra.empty()) {
      return Status::InvalidArgument("a batch object may only contain \"events\"",
                                     "invalid_request", std::move(extra));
    }
    if (!wrapped->is_array()) {
      return Status::InvalidArgument("events must be an array of event objects", "invalid_request",
                                     {ErrorDetail{"/events", "events must be an array"}});
    }
    list = wrapped;
    list_prefix = "/events";
  } else if (root.is_array()) {
    list = &root;
  } else {
    return Status::InvalidArgument(
        "the body must be an event object, {\"events\": [...]} or an array of events",
        "invalid_request", {ErrorDetail{"", "must be an object or an array"}});
  }
  if (list->len == 0) return EmptyBatch("the batch contains no events");
  if (list->len > request_limits.max_batch_events) {
    return TooManyEvents(list->len, request_limits.max_batch_events);
  }
  BatchDecoder decoder(limits, ctx, /*single=*/false);
  decoder.Reserve(list->len);
  const JsonNode* e = list->first();
  for (uint32_t i = 0; i < list->len; ++i, e = e->next()) {
    decoder.Decode(*e, EventPath{list_prefix, true, i});
  }
  Result<DecodedBatch> out = decoder.Finish();
  if (out.ok()) out->path_base = std::string(list_prefix);
  return out;
}

Result<DecodedBatch> DecodeNdjsonBody(std::string_view body, const EventLimits& limits,
                                      const RequestLimits& request_limits,
                                      const DecodeContext& ctx) {
  struct Line {
    size_t number;  // 1-based line number in the body
    std::string_view text;
  };
  std::vector<Line> lines;
  size_t number = 0;
  size_t longest = 0;
  for (size_t start = 0; start <= body.size();) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    ++number;
    std::string_view text = body.substr(start, end - start);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t\r") != std::string_view::npos) {
      lines.push_back(Line{number, text});
      longest = std::max(longest, text.size());
      if (lines.size() > request_limits.max_batch_events) {
        // Count the rest cheaply for the message.
        size_t count = lines.size();
        for (size_t s = end + 1; s < body.size();) {
          size_t e = body.find('\n', s);
          if (e == std::string_view::npos) e = body.size();
          if (body.substr(s, e - s).find_first_not_of(" \t\r") != std::string_view::npos) ++count;
          s = e + 1;
        }
        return TooManyEvents(count, request_limits.max_batch_events);
      }
    }
    start = end + 1;
  }
  if (lines.empty()) return EmptyBatch("the request body contains no events");

  // Each line is checked right after it is parsed: the document is reused for the next.
  JsonDocumentLease doc(longest);
  BatchDecoder decoder(limits, ctx, /*single=*/false);
  decoder.Reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    const EventPath path{"", true, i};
    Status parsed = doc->Parse(lines[i].text, limits.max_depth);
    if (!parsed.ok()) {
      if (parsed.code() != Code::kInvalidArgument) return parsed;
      const auto& details = parsed.details();
      std::string inner = path.Render();
      if (!details.empty()) inner += details.front().path;
      decoder.JsonError(ErrorDetail{std::move(inner), WithBodyLine(parsed.message(), lines[i].number)});
      continue;
    }
    decoder.Decode(doc->root(), path);
  }
  return decoder.Finish();
}

}  // namespace

const char* ChangeOpName(ChangeOp op) {
  switch (op) {
    case ChangeOp::kNone:
      return "";
    case ChangeOp::kCreate:
      return "create";
    case ChangeOp::kUpdate:
      return "update";
    case ChangeOp::kDelete:
      return "delete";
    case ChangeOp::kSnapshot:
      return "snapshot";
  }
  return "";
}

std::optional<EventDraft> DecodeEvent(const boost::json::value& event, const EventLimits& limits,
                                      const DecodeContext& ctx, const std::string& path_prefix,
                                      std::vector<ErrorDetail>* errors) {
  JsonDocument doc;
  doc.Assign(event);
  ScratchBuffer client;
  const EventPath path{path_prefix};
  EventChecker checker(limits, ctx, path, errors, &client);
  bool too_large = false;
  EventDraft draft;
  if (!checker.Run(doc.root(), /*hash=*/true, &too_large, &draft)) return std::nullopt;
  return draft;
}

void ComputeContentHash(EventDraft* draft) {
  size_t size = 2;
  for (const auto& [name, value] : draft->members) size += name.size() + value.size() + 4;
  std::string client;
  client.reserve(size);
  client.push_back('{');
  for (const auto& [name, value] : draft->members) {
    if (name == "source") continue;
    if (client.size() > 1) client.push_back(',');
    AppendJsonString(name, &client);
    client.push_back(':');
    client.append(value);
  }
  client.push_back('}');
  draft->content_hash = Sha256(client);
}

Result<DecodedBatch> DecodeEventsBody(std::string_view body, BodyFormat format,
                                      const EventLimits& event_limits,
                                      const RequestLimits& request_limits,
                                      const DecodeContext& ctx) {
  if (body.size() > request_limits.max_request_bytes) {
    return Status(Code::kTooLarge, "request_too_large",
                  "the request body is " + Num(body.size()) + " bytes; the limit is " +
                      Num(request_limits.max_request_bytes));
  }
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return EmptyBatch("the request body is empty");
  }
  try {
    return format == BodyFormat::kJson ? DecodeJsonBody(body, event_limits, request_limits, ctx)
                                       : DecodeNdjsonBody(body, event_limits, request_limits, ctx);
  } catch (const std::exception& e) {
    // Only allocation failures or absurd sizes throw.
    return Status::Internal(std::string("decoding the request body failed: ") + e.what());
  }
}

std::string RenderCanonicalEvent(const EventDraft& draft, const std::string& id, uint64_t seq,
                                 TimestampUs received_at) {
  // Server fields in JCS order; the draft's members never contain them.
  static constexpr std::string_view kServerKeys[] = {"id", "received_at", "seq"};
  const std::string received = FormatRfc3339Micros(received_at);

  size_t size = 2 + id.size() + received.size() + 64;
  for (const auto& m : draft.members) size += m.first.size() + m.second.size() + 4;
  std::string out;
  out.reserve(size);
  out.push_back('{');
  bool first = true;
  const auto key = [&](std::string_view name) {
    if (!first) out.push_back(',');
    first = false;
    out.push_back('"');
    out.append(name);  // member names are plain ASCII identifiers
    out.append("\":");
  };
  const auto server_field = [&](size_t which) {
    key(kServerKeys[which]);
    switch (which) {
      case 0:
        AppendJsonString(id, &out);
        break;
      case 1:
        out.push_back('"');
        out.append(received);
        out.push_back('"');
        break;
      default:
        if (seq < (uint64_t{1} << 53)) {
          char buf[24];
          const auto r = std::to_chars(buf, buf + sizeof buf, seq);
          out.append(buf, r.ptr);
        } else {
          AppendJsonNumber(static_cast<double>(seq), &out);
        }
    }
  };
  size_t next = 0;
  for (const auto& [name, value] : draft.members) {
    while (next < 3 && JcsKeyLess(kServerKeys[next], name)) server_field(next++);
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(name, &out);
    out.push_back(':');
    out.append(value);
  }
  while (next < 3) server_field(next++);
  out.push_back('}');
  return out;
}

}  // namespace annals
