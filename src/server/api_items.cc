// GET /v1/items/{type}/{id} and GET /v1/items/{type}/{id}/history: an item's lifecycle and
// its timeline with per-change JSON Patches.
#include <boost/json.hpp>
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

Status ItemNotFound(const std::string& type, const std::string& id) {
  return Status::NotFound("no item " + type + "/" + id + " in this organization", "item_not_found");
}

void AppendTimeOrNull(TimestampUs t, std::string* out) {
  if (t == 0) {
    *out += "null";
  } else {
    AppendJsonString(FormatRfc3339Micros(t), out);
  }
}

// The item state an event leaves behind when it sets one: {} after a delete, the
// after-image otherwise; nullopt for events without changes or without an after-image.
std::optional<boost::json::value> StateAfter(const EventRecord& e) {
  if (e.fields.change_op == ChangeOp::kNone) return std::nullopt;
  if (e.fields.change_op == ChangeOp::kDelete) return boost::json::value(boost::json::object());
  boost::system::error_code ec;
  boost::json::value event = boost::json::parse(e.json, ec);
  if (ec || !event.is_object()) return std::nullopt;
  const auto* changes = event.as_object().if_contains("changes");
  if (changes == nullptr || !changes->is_object()) return std::nullopt;
  const auto* after = changes->as_object().if_contains("after");
  if (after == nullptr) return std::nullopt;
  return *after;
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
  Result<std::optional<ItemRecord>> item = deps_.store->GetItem(*resolved, type, id);
  if (!item.ok()) return c.respond(ErrorResponse(item.status()));
  if (!item->has_value()) return c.respond(ErrorResponse(ItemNotFound(type, id)));
  const ItemRecord& r = **item;
  std::string body = "{\"created_at\":";
  AppendTimeOrNull(r.first_seen, &body);
  body += ",\"deleted_at\":";
  AppendTimeOrNull(r.deleted_at, &body);
  body += ",\"first_seq\":" + std::to_string(r.first_seq);
  body += ",\"id\":";
  AppendJsonString(r.id, &body);
  body += ",\"last_seq\":" + std::to_string(r.last_seq);
  body += ",\"legal_hold\":false,\"organization_id\":";
  AppendJsonString(r.organization_id, &body);
  body += ",\"purge_after\":null,\"type\":";
  AppendJsonString(r.type, &body);
  body += ",\"updated_at\":";
  AppendTimeOrNull(r.last_seen, &body);
  body += ",\"version_count\":" + std::to_string(r.event_count);
  body += '}';
  c.respond(JsonResponse(200, std::move(body)));
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
  Result<std::optional<ItemRecord>> item = deps_.store->GetItem(*resolved, type, id);
  if (!item.ok()) return c.respond(ErrorResponse(item.status()));
  if (!item->has_value()) return c.respond(ErrorResponse(ItemNotFound(type, id)));

  list->filter.target_types = {type};
  list->filter.target_ids = {id};
  list->descending = false;  // oldest first
  Result<ListPage> page = annals::ListEvents(deps_.store, *list);
  if (!page.ok()) return c.respond(ErrorResponse(page.status()));

  // The state before the page: what the latest earlier change that set one left behind.
  boost::json::value state = boost::json::object();
  if (!page->data.empty() && page->data.front().seq != (*item)->first_seq) {
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
          found = true;
          break;
        }
      }
      if (found || earlier->size() < back.limit) break;
      back.start_after = ListKey{earlier->back().fields.occurred_at, earlier->back().seq};
    }
  }

  std::string body = "{\"data\":[";
  for (size_t i = 0; i < page->data.size(); ++i) {
    const EventRecord& e = page->data[i];
    if (i) body += ',';
    body += "{\"event\":";
    body += e.json;
    if (e.fields.change_op != ChangeOp::kNone) {
      // A change without an after-image (other than a delete) leaves the state as it was.
      boost::json::array patch;
      if (std::optional<boost::json::value> next = StateAfter(e)) {
        patch = JsonPatch(state, *next);
        state = std::move(*next);
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
  body += "],\"list_metadata\":{\"before\":";
  if (page->before) {
    AppendJsonString(*page->before, &body);
  } else {
    body += "null";
  }
  body += ",\"after\":";
  if (page->after) {
    AppendJsonString(*page->after, &body);
  } else {
    body += "null";
  }
  body += "}}";
  c.respond(JsonResponse(200, std::move(body)));
}

}  // namespace annals
