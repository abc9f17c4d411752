// Listing events: the filter vocabulary of GET /v1/events, opaque cursors and pagination in
// both directions over the (occurred_at, seq) order. Stateless functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/status.h"
#include "annals/store.h"

namespace annals {

struct ListRequest {
  EventFilter filter;
  bool descending = true;          // order=desc (default) or asc
  std::optional<ListKey> after;    // next page in listing order
  std::optional<ListKey> before;   // previous page in listing order
  size_t limit = 100;
};

struct ListPage {
  std::vector<EventRecord> data;       // in listing order
  std::optional<std::string> before;   // cursor for the previous page, if any may exist
  std::optional<std::string> after;    // cursor for the next page, if any exists
};

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// Opaque, URL-safe cursor for a position in an organization's (occurred_at, seq) order.
std::string EncodeCursor(const ListKey& key);
// kInvalidArgument "invalid_cursor" when malformed.
Result<ListKey> DecodeCursor(std::string_view cursor);

// Parses one filter vocabulary value set into `filter` (shared with exports and streams).
// `name` is one of action, actor_id, target_type, target_id, from, to. Returns false when
// `name` is not a filter name. Problems are appended to *errors with path `path`.
bool ApplyFilterParam(const std::string& name, const std::string& value, const std::string& path,
                      EventFilter* filter, std::vector<ErrorDetail>* errors);

// Parses the query parameters of GET /v1/events. `implied_organization_id` comes from an
// organization-scoped key ("" for platform keys, which must name organization_id). Unknown
// parameters are errors, as are limit outside 1..1000, both after and before, bad cursors,
// bad times, and from > to.
Result<ListRequest> ParseListQuery(const QueryParams& params,
                                   const std::string& implied_organization_id,
                                   size_t max_limit = 1000, size_t default_limit = 100);

// Runs the listing against the store.
Result<ListPage> ListEvents(Store* store, const ListRequest& request);

}  // namespace annals
