#include "domain/event_decoder.h"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <charconv>
#include <utility>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals {
namespace {

constexpr size_t kMaxIdempotencyKeyLength = 256;
// Room in approx_size for ,"id":"evt_...",  ,"received_at":"...Z"  and  ,"seq":N.
constexpr size_t kServerFieldsBytes = 112;

std::string_view View(const boost::json::string& s) { return std::string_view(s.data(), s.size()); }
std::string_view View(boost::json::string_view s) { return std::string_view(s.data(), s.size()); }

// Number of Unicode code points in valid UTF-8.
size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
  return n;
}

std::string Num(size_t n) { return std::to_string(n); }

bool IsActionChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

bool IsMetadataKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// "3600 seconds" or "1500 microseconds".
std::string DescribeDuration(int64_t us) {
  if (us % 1000000 == 0) return std::to_string(us / 1000000) + " seconds";
  return std::to_string(us) + " microseconds";
}

bool IsServerField(std::string_view key) {
  return key == "id" || key == "seq" || key == "received_at" || key == "source";
}

bool IsClientField(std::string_view key) {
  static constexpr std::string_view kFields[] = {
      "organization_id", "action",  "occurred_at", "version", "actor",
      "targets",         "context", "metadata",    "changes", "idempotency_key"};
  return std::find(std::begin(kFields), std::end(kFields), key) != std::end(kFields);
}

// Nesting depth of `value` counting containers only (a scalar is 0, "{}" is 1).
size_t Depth(const boost::json::value& value, size_t limit) {
  size_t deepest = 0;
  if (value.is_object()) {
    for (const auto& kv : value.get_object()) {
      deepest = std::max(deepest, Depth(kv.value(), limit));
      if (deepest >= limit) break;
    }
  } else if (value.is_array()) {
    for (const auto& element : value.get_array()) {
      deepest = std::max(deepest, Depth(element, limit));
      if (deepest >= limit) break;
    }
  } else {
    return 0;
  }
  return deepest + 1;
}

// Appends to *path the pointer (relative to `value`) of the first container nested deeper
// than max_depth, with `value` at depth `depth`; false if there is none.
bool FindTooDeep(const boost::json::value& value, size_t depth, size_t max_depth,
                 std::string* path) {
  if (!value.is_object() && !value.is_array()) return false;
  if (depth > max_depth) return true;
  if (value.is_object()) {
    for (const auto& kv : value.get_object()) {
      const size_t saved = path->size();
      AppendJsonPointerToken(View(kv.key()), path);
      if (FindTooDeep(kv.value(), depth + 1, max_depth, path)) return true;
      path->resize(saved);
    }
  } else {
    size_t i = 0;
    for (const auto& element : value.get_array()) {
      const size_t saved = path->size();
      AppendJsonPointerIndex(i++, path);
      if (FindTooDeep(element, depth + 1, max_depth, path)) return true;
      path->resize(saved);
    }
  }
  return false;
}

// Validates one event; see DecodeEvent.
class EventChecker {
 public:
  EventChecker(const EventLimits& limits, const DecodeContext& ctx, const std::string& prefix,
               std::vector<ErrorDetail>* errors)
      : limits_(limits), ctx_(ctx), prefix_(prefix), errors_(errors) {}

  std::optional<EventDraft> Run(const boost::json::value& event, bool* too_large) {
    *too_large = false;
    const size_t errors_before = errors_->size();
    if (!event.is_object()) {
      Add("", "an event must be a JSON object");
      return std::nullopt;
    }
    const boost::json::object& obj = event.get_object();
    EventDraft draft;

    // Cheap depth pass first; the path is only worked out for a failing event.
    if (Depth(event, limits_.max_depth + 1) > limits_.max_depth) {
      std::string deep_path;
      FindTooDeep(event, 1, limits_.max_depth, &deep_path);
      Add(deep_path, "nesting is deeper than " + Num(limits_.max_depth) + " levels");
    }
    for (const auto& kv : obj) {
      const std::string_view key = View(kv.key());
      if (IsClientField(key)) continue;
      Add(Member("", key),
          IsServerField(key)
              ? "unknown field: id, seq, received_at and source are set by the server"
              : "unknown field");
    }

    CheckOrganization(obj, &draft.fields.organization_id);
    CheckAction(obj, &draft.fields.action);
    std::string occurred_text;
    CheckOccurredAt(obj, &draft.fields.occurred_at, &occurred_text);
    if (const auto* v = obj.if_contains("version")) {
      if (!v->is_int64() || v->get_int64() < 1)
        Add("/version", "version must be an integer of at least 1");
    }
    CheckActor(obj, &draft.fields);
    CheckTargets(obj, &draft.fields.targets);
    CheckContext(obj);
    if (const auto* v = obj.if_contains("metadata")) CheckMetadata(*v, "/metadata", "metadata");
    CheckChanges(obj, &draft.fields.change_op);
    CheckIdempotencyKey(obj, &draft.idempotency_key);

    // Canonical members (all known members present, even invalid ones, so that the size
    // check below sees what was sent).
    std::vector<std::pair<std::string, std::string>> members;
    members.reserve(obj.size() + 2);
    for (const auto& kv : obj) {
      const std::string_view key = View(kv.key());
      if (!IsClientField(key) || key == "idempotency_key") continue;
      std::string text;
      if (key == "occurred_at" && !occurred_text.empty()) {
        text = occurred_text;
      } else if (key == "organization_id" && !draft.fields.organization_id.empty()) {
        AppendJsonString(draft.fields.organization_id, &text);
      } else {
        AppendCanonical(kv.value(), &text);
      }
      members.emplace_back(std::string(key), std::move(text));
    }
    if (obj.if_contains("organization_id") == nullptr && !draft.fields.organization_id.empty()) {
      std::string text;
      AppendJsonString(draft.fields.organization_id, &text);
      members.emplace_back("organization_id", std::move(text));
    }
    std::sort(members.begin(), members.end(),
              [](const auto& a, const auto& b) { return JcsKeyLess(a.first, b.first); });

    std::string client;
    size_t reserve = 2;
    for (const auto& m : members) reserve += m.first.size() + m.second.size() + 4;
    client.reserve(reserve);
    client.push_back('{');
    for (size_t i = 0; i < members.size(); ++i) {
      if (i > 0) client.push_back(',');
      AppendJsonString(members[i].first, &client);
      client.push_back(':');
      client.append(members[i].second);
    }
    client.push_back('}');
    if (client.size() > limits_.max_event_bytes) {
      *too_large = true;
      Add("", "event is " + Num(client.size()) + " bytes; the limit is " +
                  Num(limits_.max_event_bytes));
    }

    if (errors_->size() != errors_before) return std::nullopt;

    draft.content_hash = Sha256(client);
    draft.approx_size = client.size() + ctx_.source_json.size() + 10 + kServerFieldsBytes;
    const auto source_at = std::lower_bound(
        members.begin(), members.end(), std::string_view("source"),
        [](const auto& m, std::string_view key) { return JcsKeyLess(m.first, key); });
    members.emplace(source_at, "source", ctx_.source_json);
    draft.members = std::move(members);
    return draft;
  }

 private:
  void Add(std::string_view suffix, std::string message) {
    std::string path = prefix_;
    path.append(suffix);
    errors_->push_back(ErrorDetail{std::move(path), std::move(message)});
  }

  static std::string Member(std::string_view base, std::string_view key) {
    std::string path(base);
    AppendJsonPointerToken(key, &path);
    return path;
  }

  void CheckOrganization(const boost::json::object& obj, std::string* out) {
    const auto* v = obj.if_contains("organization_id");
    if (v == nullptr) {
      if (ctx_.implied_organization_id.empty()) {
        Add("/organization_id", "organization_id is required");
      } else {
        *out = ctx_.implied_organization_id;
      }
      return;
    }
    if (!v->is_string() || v->get_string().empty()) {
      Add("/organization_id", "organization_id must be a non-empty string");
      return;
    }
    const std::string_view org = View(v->get_string());
    if (!ctx_.implied_organization_id.empty() && org != ctx_.implied_organization_id) {
      Add("/organization_id", "organization_id does not match the organization of the API key");
      return;
    }
    *out = std::string(org);
  }

  void CheckAction(const boost::json::object& obj, std::string* out) {
    const auto* v = obj.if_contains("action");
    if (v == nullptr) return Add("/action", "action is required");
    if (!v->is_string()) return Add("/action", "action must be a string");
    const std::string_view action = View(v->get_string());
    if (action.empty()) return Add("/action", "action must not be empty");
    const size_t length = CodePoints(action);
    if (length > limits_.max_action_length) {
      return Add("/action", "action is " + Num(length) + " characters; the limit is " +
                                Num(limits_.max_action_length));
    }
    if (!std::all_of(action.begin(), action.end(), IsActionChar)) {
      return Add("/action", "action may only contain a-z, 0-9, '_', '.' and '-'");
    }
    if (action.substr(0, 7) == "annals." && !ctx_.allow_reserved_actions) {
      return Add("/action", "actions starting with \"annals.\" are reserved for annals itself");
    }
    *out = std::string(action);
  }

  void CheckOccurredAt(const boost::json::object& obj, TimestampUs* out, std::string* text) {
    const auto* v = obj.if_contains("occurred_at");
    if (v == nullptr) return Add("/occurred_at", "occurred_at is required");
    if (!v->is_string())
      return Add("/occurred_at", "occurred_at must be a string (an RFC 3339 timestamp)");
    Result<TimestampUs> parsed = ParseRfc3339(View(v->get_string()));
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
    text->push_back('"');
    text->append(FormatRfc3339Micros(at));
    text->push_back('"');
  }

  // A non-empty string member `key` of `obj` at `base`; `name` is used in messages.
  bool RequireNonEmptyString(const boost::json::object& obj, std::string_view key,
                             const std::string& base, const std::string& name, std::string* out) {
    const auto* v = obj.if_contains(key);
    if (v == nullptr) {
      Add(Member(base, key), name + " is required");
      return false;
    }
    if (!v->is_string() || v->get_string().empty()) {
      Add(Member(base, key), name + " must be a non-empty string");
      return false;
    }
    *out = std::string(View(v->get_string()));
    return true;
  }

  // An actor or a target: {id, type, name?, metadata?}. `base` is its path, `name` its
  // display name ("actor", "targets[2]").
  bool CheckEntity(const boost::json::value& value, const std::string& base,
                   const std::string& name, std::string* id, std::string* type) {
    if (!value.is_object()) {
      Add(base, name + " must be an object");
      return false;
    }
    const boost::json::object& obj = value.get_object();
    for (const auto& kv : obj) {
      const std::string_view key = View(kv.key());
      if (key != "id" && key != "type" && key != "name" && key != "metadata") {
        Add(Member(base, key), "unknown field in " + name + " (allowed: id, type, name, metadata)");
      }
    }
    bool ok = RequireNonEmptyString(obj, "id", base, name + ".id", id);
    ok = RequireNonEmptyString(obj, "type", base, name + ".type", type) && ok;
    if (const auto* v = obj.if_contains("name"); v != nullptr && !v->is_string()) {
      Add(base + "/name", name + ".name must be a string");
      ok = false;
    }
    if (const auto* v = obj.if_contains("metadata")) {
      ok = CheckMetadata(*v, base + "/metadata", name + ".metadata") && ok;
    }
    return ok;
  }

  void CheckActor(const boost::json::object& obj, EventIndexFields* fields) {
    const auto* v = obj.if_contains("actor");
    if (v == nullptr) return Add("/actor", "actor is required");
    CheckEntity(*v, "/actor", "actor", &fields->actor_id, &fields->actor_type);
  }

  void CheckTargets(const boost::json::object& obj, std::vector<TargetRef>* out) {
    const auto* v = obj.if_contains("targets");
    if (v == nullptr) return Add("/targets", "targets is required");
    if (!v->is_array()) return Add("/targets", "targets must be an array");
    const boost::json::array& targets = v->get_array();
    if (targets.empty()) return Add("/targets", "targets must contain at least one target");
    if (targets.size() > limits_.max_targets) {
      Add("/targets", "targets has " + Num(targets.size()) + " entries; the limit is " +
                          Num(limits_.max_targets));
    }
    out->reserve(targets.size());
    for (size_t i = 0; i < targets.size(); ++i) {
      TargetRef ref;
      if (CheckEntity(targets[i], "/targets/" + Num(i), "targets[" + Num(i) + "]", &ref.id,
                      &ref.type)) {
        out->push_back(std::move(ref));
      }
    }
  }

  void CheckContext(const boost::json::object& obj) {
    const auto* v = obj.if_contains("context");
    bool has_location = false;
    if (v != nullptr) {
      if (!v->is_object()) return Add("/context", "context must be an object");
      const boost::json::object& context = v->get_object();
      for (const auto& kv : context) {
        const std::string_view key = View(kv.key());
        if (key == "location" || key == "user_agent") {
          if (!kv.value().is_string()) {
            Add(Member("/context", key), "context." + std::string(key) + " must be a string");
          } else if (key == "location") {
            has_location = !kv.value().get_string().empty();
          }
        } else {
          Add(Member("/context", key), "unknown field in context (allowed: location, user_agent)");
        }
      }
      if (const auto* loc = context.if_contains("location"); loc != nullptr && !loc->is_string()) {
        return;  // already reported
      }
    }
    if (ctx_.require_context_location && !has_location) {
      Add("/context/location", "context.location is required");
    }
  }

  bool CheckMetadata(const boost::json::value& value, const std::string& base,
                     const std::string& name) {
    if (!value.is_object()) {
      Add(base, name + " must be an object");
      return false;
    }
    const size_t before = errors_->size();
    const boost::json::object& metadata = value.get_object();
    if (metadata.size() > limits_.max_metadata_keys) {
      Add(base, name + " has " + Num(metadata.size()) + " keys; the limit is " +
                    Num(limits_.max_metadata_keys));
    }
    for (const auto& kv : metadata) {
      const std::string_view key = View(kv.key());
      const auto path = [&] { return Member(base, key); };
      const size_t key_length = CodePoints(key);
      if (key.empty()) {
        Add(path(), name + " keys must not be empty");
      } else if (!std::all_of(key.begin(), key.end(), IsMetadataKeyChar)) {
        Add(path(), name + " keys may only contain A-Z, a-z, 0-9, '_' and '-'");
      } else if (key_length > limits_.max_metadata_key_length) {
        Add(path(), name + " key is " + Num(key_length) + " characters; the limit is " +
                        Num(limits_.max_metadata_key_length));
      }
      const boost::json::value& v = kv.value();
      if (v.is_string()) {
        const size_t length = CodePoints(View(v.get_string()));
        if (length > limits_.max_metadata_value_length) {
          Add(path(), name + " value is " + Num(length) + " characters; the limit is " +
                          Num(limits_.max_metadata_value_length));
        }
      } else if (!v.is_number() && !v.is_bool()) {
        Add(path(), name + " values must be strings, numbers or booleans");
      }
    }
    return errors_->size() == before;
  }

  void CheckChanges(const boost::json::object& obj, ChangeOp* op_out) {
    const auto* v = obj.if_contains("changes");
    if (v == nullptr) return;
    if (!v->is_object()) return Add("/changes", "changes must be an object");
    const boost::json::object& changes = v->get_object();
    for (const auto& kv : changes) {
      const std::string_view key = View(kv.key());
      if (key != "op" && key != "before" && key != "after") {
        Add(Member("/changes", key), "unknown field in changes (allowed: op, before, after)");
      }
    }
    // An image: absent, null or an object. Returns true when it is an object.
    const auto image = [&](std::string_view key, bool* bad) {
      const auto* img = changes.if_contains(key);
      *bad = img != nullptr && !img->is_null() && !img->is_object();
      if (*bad) {
        Add(Member("/changes", key), "changes." + std::string(key) + " must be an object or null");
      }
      return img != nullptr && img->is_object();
    };
    bool before_bad = false, after_bad = false;
    const bool has_before = image("before", &before_bad);
    const bool has_after = image("after", &after_bad);

    const auto* op_value = changes.if_contains("op");
    if (op_value == nullptr) return Add("/changes/op", "changes.op is required");
    const std::string_view op = op_value->is_string() ? View(op_value->get_string()) : "";
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
    const std::string quoted_op = "\"" + std::string(op) + "\"";
    if (parsed != ChangeOp::kDelete && !has_after && !after_bad) {
      Add("/changes/after", "changes.after must be an object when op is " + quoted_op);
    }
    if (parsed == ChangeOp::kCreate && has_before) {
      Add("/changes/before", "changes.before must be null or absent when op is \"create\"");
    }
    if (parsed == ChangeOp::kDelete && has_after) {
      Add("/changes/after", "changes.after must be null or absent when op is \"delete\"");
    }
    *op_out = parsed;
  }

  void CheckIdempotencyKey(const boost::json::object& obj, std::string* out) {
    const auto* v = obj.if_contains("idempotency_key");
    if (v == nullptr) return;
    if (!v->is_string() || v->get_string().empty()) {
      return Add("/idempotency_key", "idempotency_key must be a non-empty string");
    }
    const std::string_view key = View(v->get_string());
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
    *out = std::string(key);
  }

  const EventLimits& limits_;
  const DecodeContext& ctx_;
  const std::string& prefix_;
  std::vector<ErrorDetail>* errors_;
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

// Decodes events already split out of a batch and wraps the outcome.
Result<DecodedBatch> DecodeAll(const std::vector<const boost::json::value*>& events,
                               const std::vector<std::string>& prefixes, bool single,
                               const EventLimits& limits, const DecodeContext& ctx,
                               std::vector<ErrorDetail> errors, size_t json_errors) {
  DecodedBatch batch;
  batch.single = single;
  batch.drafts.reserve(events.size());
  size_t invalid = json_errors;
  bool too_large = false;
  for (size_t i = 0; i < events.size(); ++i) {
    if (events[i] == nullptr) continue;  // a line that was not valid JSON
    EventChecker checker(limits, ctx, prefixes[i], &errors);
    bool event_too_large = false;
    std::optional<EventDraft> draft = checker.Run(*events[i], &event_too_large);
    too_large = too_large || event_too_large;
    if (draft.has_value()) {
      batch.drafts.push_back(std::move(*draft));
    } else {
      ++invalid;
    }
  }
  if (invalid == 0) return batch;
  const size_t total = events.size();
  if (single) {
    std::string message = "the event is invalid: " + errors.front().message;
    if (errors.size() > 1) message += " (and " + Num(errors.size() - 1) + " more problems)";
    if (too_large) return Status(Code::kTooLarge, "event_too_large", message, std::move(errors));
    return Status(Code::kInvalidArgument, "invalid_event", message, std::move(errors));
  }
  if (json_errors > 0) {
    return Status(Code::kInvalidArgument, "invalid_json",
                  Num(json_errors) + " of " + Num(total) + " lines are not valid JSON",
                  std::move(errors));
  }
  return Status(
      Code::kInvalidArgument, "invalid_event",
      Num(invalid) + " of " + Num(total) + (total == 1 ? " event is" : " events are") + " invalid",
      std::move(errors));
}

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
  // The tree only lives for this call: allocate it from one arena.
  // Events sit up to two levels down ({"events": [...]}); their own depth is checked per
  // event. Anything deeper than that fails the parse, and then the message names the
  // event limit rather than the parser's.
  const size_t parse_depth = std::min(limits.max_depth + 2, kMaxSupportedJsonDepth);
  boost::json::monotonic_resource arena(body.size() * 2);
  Result<boost::json::value> parsed = ParseStrictJson(body, parse_depth, &arena);
  if (!parsed.ok()) return RewordDepthError(parsed.status(), parse_depth, limits.max_depth);
  const boost::json::value& root = *parsed;

  std::vector<const boost::json::value*> events;
  std::vector<std::string> prefixes;
  const boost::json::array* list = nullptr;
  std::string list_prefix;
  if (root.is_object()) {
    const boost::json::object& obj = root.get_object();
    const auto* wrapped = obj.if_contains("events");
    if (wrapped == nullptr) {
      events.push_back(&root);
      prefixes.emplace_back();
      return DecodeAll(events, prefixes, /*single=*/true, limits, ctx, {}, 0);
    }
    std::vector<ErrorDetail> extra;
    for (const auto& kv : obj) {
      if (View(kv.key()) != "events") {
        std::string path;
        AppendJsonPointerToken(View(kv.key()), &path);
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
    list = &wrapped->get_array();
    list_prefix = "/events";
  } else if (root.is_array()) {
    list = &root.get_array();
  } else {
    return Status::InvalidArgument(
        "the body must be an event object, {\"events\": [...]} or an array of events",
        "invalid_request", {ErrorDetail{"", "must be an object or an array"}});
  }
  if (list->empty()) return EmptyBatch("the batch contains no events");
  if (list->size() > request_limits.max_batch_events) {
    return TooManyEvents(list->size(), request_limits.max_batch_events);
  }
  events.reserve(list->size());
  prefixes.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    events.push_back(&(*list)[i]);
    prefixes.push_back(list_prefix + "/" + Num(i));
  }
  return DecodeAll(events, prefixes, /*single=*/false, limits, ctx, {}, 0);
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
  for (size_t start = 0; start <= body.size();) {
    size_t end = body.find('\n', start);
    if (end == std::string_view::npos) end = body.size();
    ++number;
    std::string_view text = body.substr(start, end - start);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t\r") != std::string_view::npos) {
      lines.push_back(Line{number, text});
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

  boost::json::monotonic_resource arena(body.size() * 2);
  std::vector<boost::json::value> values(lines.size());
  std::vector<const boost::json::value*> events(lines.size(), nullptr);
  std::vector<std::string> prefixes(lines.size());
  std::vector<ErrorDetail> errors;
  size_t json_errors = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    prefixes[i] = "/" + Num(i);
    Result<boost::json::value> parsed = ParseStrictJson(lines[i].text, limits.max_depth, &arena);
    if (!parsed.ok()) {
      if (parsed.status().code() != Code::kInvalidArgument) return parsed.status();
      ++json_errors;
      const auto& details = parsed.status().details();
      const std::string inner = details.empty() ? std::string() : details.front().path;
      errors.push_back(ErrorDetail{prefixes[i] + inner,
                                   WithBodyLine(parsed.status().message(), lines[i].number)});
      continue;
    }
    values[i] = std::move(*parsed);
    events[i] = &values[i];
  }
  return DecodeAll(events, prefixes, /*single=*/false, limits, ctx, std::move(errors), json_errors);
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
  EventChecker checker(limits, ctx, path_prefix, errors);
  bool too_large = false;
  return checker.Run(event, &too_large);
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
    // boost::json only throws on allocation failure or absurd sizes.
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
