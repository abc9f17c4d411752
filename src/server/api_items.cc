// GET /v1/items/{type}/{id} and GET /v1/items/{type}/{id}/history: an item's lifecycle and
// its timeline with per-change JSON Patches.
#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <optional>
#include <utility>

#include "domain/canonical_json.h"
#include "domain/json_patch.h"
#include "domain/time.h"
#include "query/event_query.h"
#include "server/api_internal.h"

namespace annals {

namespace {

// How far back (in events naming the item) the history looks for the state before a page.
constexpr size_t kLookbackPages = 10;
constexpr size_t kLookbackPageSize = 100;

// The `changes.<member>` image of an event ("after" or "before"), if it has one.
std::optional<boost::json::value> ChangesImage(const EventRecord& e, std::string_view member) {
  if (e.fields.change_op == ChangeOp::kNone) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value event = boost::json::parse(e.json, ec);
  if (ec || !event.is_object()) return std::nullopt;
  const auto* changes = event.as_object().if_contains("changes");
  if (changes == nullptr || !changes->is_object()) return std::nullopt;
  const auto* image = changes->as_object().if_contains(member);
  if (image == nullptr) return std::nullopt;
  return *image;
}

// Both images of an event's `changes`, from one parse of its JSON.
struct ChangeImages {
  std::optional<boost::json::value> before, after;
};

// The images live in `storage`.
ChangeImages ParseChangeImages(const EventRecord& e, const boost::json::storage_ptr& storage) {
  ChangeImages out;
  if (e.fields.change_op == ChangeOp::kNone) return out;
  boost::system::error_code ec;
  boost::json::value event = boost::json::parse(e.json, ec, storage);
  if (ec || !event.is_object()) return out;
  auto* changes = event.as_object().if_contains("changes");
  if (changes == nullptr || !changes->is_object()) return out;
  if (auto* b = changes->as_object().if_contains("before")) out.before = std::move(*b);
  if (auto* a = changes->as_object().if_contains("after")) out.after = std::move(*a);
  return out;
}

// The item state an event leaves behind when it sets one: {} after a delete, the
// after-image otherwise; nullopt for events without changes or without an after-image.
std::optional<boost::json::value> StateAfter(const EventRecord& e) {
  if (e.fields.change_op == ChangeOp::kDelete) return boost::json::value(boost::json::object());
  return ChangesImage(e, "after");
}

std::optional<boost::json::value> BeforeImage(const EventRecord& e) {
  return ChangesImage(e, "before");
}

// The last image an event leaves: StateAfter, except that a delete leaves its `before`
// image (the item as it was when deleted) when it has one.
std::optional<boost::json::value> LastImage(const EventRecord& e) {
  if (e.fields.change_op != ChangeOp::kDelete) return StateAfter(e);
  return BeforeImage(e);
}

// An item's state as of a point in its (occurred_at, seq) order.
struct StateAsOf {
  bool existed = false;          // some event named the item at or before the point
  bool has_state = false;        // some change set an image
  boost::json::value image;      // the latest image (before the deletion when deleted)
  EventRecord source_event;      // the event that set `image`
  TimestampUs deleted_at = 0;    // when the latest change was a delete
};

// Scans the item's timeline backwards from `upto` (inclusive) for its state.
Result<StateAsOf> ItemStateAsOf(Store* store, const EventFilter& item_filter, ListKey upto) {
  StateAsOf out;
  ScanRequest back;
  back.filter = item_filter;
  back.descending = true;
  // The latest change is usually among the latest few events: read a few, then more.
  back.limit = 8;
  back.start_after = upto.seq == UINT64_MAX ? ListKey{upto.occurred_at + 1, 0}
                                            : ListKey{upto.occurred_at, upto.seq + 1};
  bool first_change = true;
  for (;;) {
    Result<std::vector<EventRecord>> rows = store->Scan(back);
    if (!rows.ok()) return rows.status();
    for (EventRecord& e : *rows) {
      out.existed = true;
      if (e.fields.change_op == ChangeOp::kNone) continue;
      if (first_change) {
        first_change = false;
        if (e.fields.change_op == ChangeOp::kDelete) out.deleted_at = e.fields.occurred_at;
      }
      if (std::optional<boost::json::value> image =
              out.deleted_at != 0 ? LastImage(e) : StateAfter(e)) {
        out.has_state = true;
        out.image = std::move(*image);
        out.source_event = std::move(e);
        return out;
      }
    }
    if (rows->size() < back.limit) return out;
    back.start_after = ListKey{rows->back().fields.occurred_at, rows->back().seq};
    back.limit = std::min<size_t>(back.limit * 4, 256);
  }
}

}  // namespace

void Api::GetItem(Call& c) {
  const std::string& type = c.params[0];
  const std::string& id = c.params[1];
  std::string org;
  for (const auto& [name, value] : c.req.query) {
    if (name != "organization_id") {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "unknown query parameter '" + name + "'", "invalid_request",
          {{"/query/" + name, "unknown query parameter '" + name + "'"}})));
    }
    org = value;
  }
  Result<std::string> resolved = ResolveOrganization(c.who, org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  std::optional<ItemRecord> item = FindItem(c, *resolved, type, id);
  if (!item) return;
  Result<std::string> body = ItemJson(*item);
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  c.respond(JsonResponse(200, std::move(*body)));
}

void Api::ItemHistory(Call& c) {
  const std::string& type = c.params[0];
  const std::string& id = c.params[1];
  QueryParams params;
  for (const auto& [name, value] : c.req.query) {
    if (name != "organization_id" && name != "limit" && name != "after" && name != "before") {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "unknown query parameter '" + name + "' (history takes organization_id, limit, "
          "after, before)",
          "invalid_request", {{"/query/" + name, "unknown query parameter '" + name + "'"}})));
    }
    params.emplace_back(name, value);
  }
  Result<ListRequest> list = ParseListQuery(params, c.who.organization_id);
  if (!list.ok()) return c.respond(ErrorResponse(list.status()));
  Result<std::string> resolved = ResolveOrganization(c.who, list->filter.organization_id, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  std::optional<ItemRecord> item = FindItem(c, *resolved, type, id);
  if (!item) return;

  list->filter.target_types = {type};
  list->filter.target_ids = {id};
  list->descending = false;  // oldest first
  Result<ListPage> page = annals::ListEvents(deps_.store, *list);
  if (!page.ok()) return c.respond(ErrorResponse(page.status()));

  // Every image of the page lives in one arena, freed with the call: a page parses up to
  // `limit` events, and per-node allocations were a large share of its cost.
  boost::json::monotonic_resource arena(64 << 10);
  const boost::json::storage_ptr storage(&arena);
  // The state before the page: what the latest earlier change that set one left behind.
  boost::json::value state = boost::json::object(storage);
  bool state_known = false;  // else the first change's own `before` stands for it
  if (!page->data.empty() && page->data.front().seq != item->first_seq) {
    ScanRequest back;
    back.filter = list->filter;
    back.descending = true;
    back.limit = kLookbackPageSize;
    back.start_after = ListKey{page->data.front().fields.occurred_at, page->data.front().seq};
    bool found = false;
    for (size_t round = 0; round < kLookbackPages && !found; ++round) {
      Result<std::vector<EventRecord>> earlier = deps_.store->Scan(back);
      if (!earlier.ok()) return c.respond(ErrorResponse(earlier.status()));
      for (const EventRecord& e : *earlier) {
        if (std::optional<boost::json::value> s = StateAfter(e)) {
          state = std::move(*s);
          found = state_known = true;
          break;
        }
      }
      if (found || earlier->size() < back.limit) break;
      back.start_after = ListKey{earlier->back().fields.occurred_at, earlier->back().seq};
    }
  }

  size_t json_bytes = 0;
  for (const EventRecord& e : page->data) json_bytes += e.json.size();
  std::string body;
  body.reserve(json_bytes + 256 * page->data.size() + 256);
  body += "{\"data\":[";
  for (size_t i = 0; i < page->data.size(); ++i) {
    const EventRecord& e = page->data[i];
    if (i) body += ',';
    body += "{\"event\":";
    body += e.json;
    if (e.fields.change_op != ChangeOp::kNone) {
      // A change without an after-image (other than a delete) leaves the state as it was.
      boost::json::array patch;
      // One parse of the event for both images.
      ChangeImages images = ParseChangeImages(e, storage);
      if (!state_known && images.before) state = std::move(*images.before);
      std::optional<boost::json::value> next =
          e.fields.change_op == ChangeOp::kDelete ? boost::json::value(boost::json::object())
                                                  : std::move(images.after);
      if (next) {
        patch = JsonPatch(state, *next);
        state = std::move(*next);
        state_known = true;
      }
      body += ",\"op\":";
      AppendJsonString(ChangeOpName(e.fields.change_op), &body);
      body += ",\"patch\":";
      AppendCanonical(boost::json::value(std::move(patch)), &body);
    } else {
      body += ",\"op\":null,\"patch\":null";
    }
    body += '}';
  }
  body += ']';
  AppendListMetadata(page->before, page->after, &body);
  c.respond(JsonResponse(200, std::move(body)));
}

}  // namespace annals

namespace annals {

namespace {

// Parses organization_id plus the named parameters of an item call; refuses anything else.
Status ItemQuery(const HttpRequest& req, const std::vector<std::string>& names,
                 std::string* org, std::vector<std::optional<std::string>>* values) {
  values->assign(names.size(), std::nullopt);
  std::vector<ErrorDetail> errors;
  for (const auto& [name, value] : req.query) {
    if (name == "organization_id") {
      *org = value;
      continue;
    }
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) {
      errors.push_back({"/query/" + name, "unknown query parameter '" + name + "'"});
    } else {
      (*values)[it - names.begin()] = value;
    }
  }
  if (!errors.empty()) {
    std::string message = errors.front().message;
    return Status::InvalidArgument(std::move(message), "invalid_request", std::move(errors));
  }
  return Status::Ok();
}

void AppendStateBody(const StateAsOf& s, std::string* body) {
  *body += "\"deleted_at\":";
  AppendJsonTimeOrNull(s.deleted_at, body);
  *body += ",\"event_id\":";
  AppendJsonString(s.source_event.id, body);
  *body += ",\"occurred_at\":";
  AppendJsonString(FormatRfc3339Micros(s.source_event.fields.occurred_at), body);
  *body += ",\"seq\":" + std::to_string(s.source_event.seq);
  *body += ",\"state\":";
  AppendCanonical(s.image, body);
}

}  // namespace

void Api::ItemState(Call& c) {
  const std::string& type = c.params[0];
  const std::string& id = c.params[1];
  std::string org;
  std::vector<std::optional<std::string>> v;
  Status q = ItemQuery(c.req, {"at"}, &org, &v);
  if (!q.ok()) return c.respond(ErrorResponse(q));
  TimestampUs at = deps_.clock->NowMicros();
  if (v[0]) {
    Result<TimestampUs> parsed = ParseRfc3339(*v[0]);
    if (!parsed.ok()) {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "at must be an RFC 3339 timestamp: " + parsed.status().message(), "invalid_request",
          {{"/query/at", "not an RFC 3339 timestamp"}})));
    }
    at = *parsed;
  }
  Result<std::string> resolved = ResolveOrganization(c.who, org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  std::optional<ItemRecord> item = FindItem(c, *resolved, type, id);
  if (!item) return;
  EventFilter f;
  f.organization_id = *resolved;
  f.target_types = {type};
  f.target_ids = {id};
  Result<StateAsOf> s = ItemStateAsOf(deps_.store, f, ListKey{at, UINT64_MAX});
  if (!s.ok()) return c.respond(ErrorResponse(s.status()));
  if (!s->existed) {
    return c.respond(ErrorResponse(Status::NotFound(
        "the item " + type + "/" + id + " did not exist yet at " + FormatRfc3339Micros(at) +
            " (its first event is at " + FormatRfc3339Micros(item->first_seen) + ")",
        "item_not_found")));
  }
  if (!s->has_state) {
    return c.respond(ErrorResponse(Status::NotFound(
        "no event up to " + FormatRfc3339Micros(at) + " carried changes for " + type + "/" + id +
            ", so its state is unknown",
        "no_state")));
  }
  std::string body = "{\"at\":";
  AppendJsonString(FormatRfc3339Micros(at), &body);
  body += ',';
  AppendStateBody(*s, &body);
  body += '}';
  c.respond(JsonResponse(200, std::move(body)));
}

void Api::ItemDiff(Call& c) {
  const std::string& type = c.params[0];
  const std::string& id = c.params[1];
  std::string org;
  std::vector<std::optional<std::string>> v;
  Status q = ItemQuery(c.req, {"from_seq", "to_seq"}, &org, &v);
  if (!q.ok()) return c.respond(ErrorResponse(q));
  std::vector<ErrorDetail> errors;
  uint64_t seqs[2] = {0, 0};
  const char* names[2] = {"from_seq", "to_seq"};
  for (int i = 0; i < 2; ++i) {
    const std::string& text = v[i].value_or("");
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), seqs[i]);
    if (!v[i] || ec != std::errc() || p != text.data() + text.size() || seqs[i] == 0) {
      errors.push_back({std::string("/query/") + names[i],
                        std::string(names[i]) + " must be the seq of an event naming the item"});
    }
  }
  if (!errors.empty()) {
    std::string message = errors.front().message;
    return c.respond(ErrorResponse(
        Status::InvalidArgument(std::move(message), "invalid_request", std::move(errors))));
  }
  Result<std::string> resolved = ResolveOrganization(c.who, org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  std::optional<ItemRecord> item = FindItem(c, *resolved, type, id);
  if (!item) return;
  EventFilter f;
  f.organization_id = *resolved;
  f.target_types = {type};
  f.target_ids = {id};
  StateAsOf states[2];
  for (int i = 0; i < 2; ++i) {
    Result<std::optional<EventRecord>> e = deps_.store->GetEventBySeq(*resolved, seqs[i]);
    if (!e.ok()) return c.respond(ErrorResponse(e.status()));
    if (e->has_value() && (*e)->purged_at != 0) {
      return c.respond(PurgedResponse(
          "event_purged", "event seq " + std::to_string(seqs[i]) + " was purged",
          (*e)->purged_at, "\"seq\":" + std::to_string(seqs[i])));
    }
    bool names_item = false;
    if (e->has_value()) {
      for (const TargetRef& t : (*e)->fields.targets) names_item |= t.type == type && t.id == id;
    }
    if (!names_item) {
      return c.respond(ErrorResponse(Status::NotFound(
          "event seq " + std::to_string(seqs[i]) + " does not name the item " + type + "/" + id,
          "event_not_found")));
    }
    Result<StateAsOf> s =
        ItemStateAsOf(deps_.store, f, ListKey{(*e)->fields.occurred_at, (*e)->seq});
    if (!s.ok()) return c.respond(ErrorResponse(s.status()));
    states[i] = std::move(*s);
  }
  const boost::json::value empty = boost::json::object();
  const boost::json::value& from = states[0].has_state && states[0].deleted_at == 0 ? states[0].image : empty;
  const boost::json::value& to = states[1].has_state && states[1].deleted_at == 0 ? states[1].image : empty;
  std::string body = "{\"from\":";
  AppendCanonical(from, &body);
  body += ",\"from_seq\":" + std::to_string(seqs[0]);
  body += ",\"patch\":";
  AppendCanonical(boost::json::value(JsonPatch(from, to)), &body);
  body += ",\"to\":";
  AppendCanonical(to, &body);
  body += ",\"to_seq\":" + std::to_string(seqs[1]);
  body += '}';
  c.respond(JsonResponse(200, std::move(body)));
}

}  // namespace annals
