// Shared by the Api's handler files (api*.cc); not part of any public surface.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "access/principal.h"
#include "http/error_mapping.h"
#include "http/http_types.h"
#include "domain/event_decoder.h"
#include "server/api.h"

namespace annals {

struct Api::Call {
  HttpRequest req;
  Responder respond;
  Principal who;
  std::vector<std::string> params;  // the {placeholders} of the route, in order
};

struct Api::Route {
  std::string method;
  std::string pattern;
  std::vector<std::string> segments;  // "{x}" matches any one segment
  uint8_t scope = 0;                  // required scope; 0: any valid key
  bool authenticated = true;
  void (Api::*handler)(Call&) = nullptr;
};

HttpResponse JsonResponse(int status, std::string body);

// 410 for something retention purged: the usual error body plus "purged_at" and
// `extra_members` (JSON members without braces, e.g. "\"seq\":7"; may be empty) in "error".
HttpResponse PurgedResponse(const std::string& code, const std::string& message,
                            TimestampUs purged_at, const std::string& extra_members);

// Paging parameters of resource lists (organizations, keys): limit 1..1000 (default 100),
// opaque after/before cursors over ids. Unknown parameters are refused unless listed in
// `extra`, whose values are returned in order of `extra`.
struct IdPageQuery {
  size_t limit = 100;
  std::string after_id;
  std::string before_id;
  std::vector<std::optional<std::string>> extra;
};
Result<IdPageQuery> ParseIdPageQuery(const HttpRequest& req,
                                     const std::vector<std::string>& extra = {});
std::string EncodeIdCursor(const std::string& id);
// Closes a list body that began with `{"data":[...]`: appends
// `,"list_metadata":{"before":…,"after":…}}` (null for an absent cursor).
void AppendListMetadata(const std::optional<std::string>& before,
                        const std::optional<std::string>& after, std::string* body);
// {"data": [items...], "list_metadata": {"before", "after"}}.
std::string IdPageJson(const std::vector<std::string>& items_json,
                       const std::vector<std::string>& ids, bool more_before, bool more_after);

// The media type of the request's Content-Type, lower-cased, without parameters ("" when
// there is none).
std::string MediaType(const HttpRequest& req);
// An Idempotency-Key header value: 1 to 256 printable ASCII characters.
bool ValidIdempotencyKey(const std::string& key);

// --- The common filter vocabulary in request bodies (exports, streams) ---

// The filter members a body may carry: "action" (exact, or "prefix.*"), "actor_id",
// "target_type", "target_id"; each a string or a non-empty array of strings.
inline constexpr std::string_view kFilterMemberNames[] = {"action", "actor_id", "target_type",
                                                          "target_id"};
// Reads those members of `body` into `filter`, recording a detail per problem at
// `base` + "/<member>[/<index>]". Other members are ignored.
void ReadFilterMembers(const boost::json::object& body, const std::string& base,
                       EventFilter* filter, std::vector<ErrorDetail>* errors);
// {"action":[…],"actor_id":[…],"target_id":[…],"target_type":[…]}, action prefixes shown
// as "<prefix>*".
void AppendFilterMembersJson(const EventFilter& filter, std::string* out);
// A JSON array of strings.
void AppendJsonStringArray(const std::vector<std::string>& values, std::string* out);

// --- WorkOS-compatible API (api_workos.cc) ---

// Checks each event of `batch` whose action has a schema against the schema version its
// "version" names (default: the latest). OK when all conform (or `registry` is null);
// otherwise InvalidArgument "invalid_event" with a detail per problem at the paths the event
// decoder uses for the batch (e.g. "/targets/0/metadata/cost" for a single event,
// "/events/3/version" for a version without a schema). Costs nothing for actions without a
// schema.
Status CheckEventSchemas(const workos::SchemaRegistry* registry, const DecodedBatch& batch);

}  // namespace annals
