// GET /v1/events/stream: live tail over server-sent events.
#include "query/event_query.h"
#include "server/api_internal.h"
#include "server/tail.h"

namespace annals {

void Api::StreamEvents(Call& c) {
  if (deps_.tail == nullptr) {
    return c.respond(ErrorResponse(Status::NotFound("live tail is not enabled on this server")));
  }
  EventFilter filter;
  std::vector<ErrorDetail> errors;
  std::string org;
  bool seen_org = false;
  std::optional<std::string> cursor = c.req.Header("last-event-id");
  if (cursor && cursor->empty()) cursor.reset();
  for (const auto& [name, value] : c.req.query) {
    const std::string path = "/query/" + name;
    if (name == "organization_id") {
      if (seen_org) errors.push_back({path, "organization_id may be given only once"});
      seen_org = true;
      org = value;
    } else if (name == "last_event_id") {
      if (!cursor && !value.empty()) cursor = value;  // the header wins on reconnects
    } else if (!ApplyFilterParam(name, value, path, &filter, &errors)) {
      errors.push_back({path, "unknown query parameter '" + name + "'"});
    }
  }
  if (!errors.empty()) {
    std::string msg = errors.size() == 1 ? errors.front().message
                                         : std::to_string(errors.size()) +
                                               " query parameters are invalid";
    return c.respond(ErrorResponse(Status::InvalidArgument(msg, "invalid_request", errors)));
  }
  Result<std::string> resolved = ResolveOrganization(c.who, org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  filter.organization_id = *resolved;

  std::optional<uint64_t> after;
  if (cursor) {
    std::optional<uint64_t> seq = DecodeTailCursor(*cursor);
    Result<std::optional<EventRecord>> ev =
        seq ? deps_.store->GetEventBySeq(filter.organization_id, *seq)
            : Result<std::optional<EventRecord>>(std::optional<EventRecord>());
    if (!ev.ok()) return c.respond(ErrorResponse(ev.status()));
    if (!ev->has_value()) {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "Last-Event-ID is not an event id of this stream", "invalid_cursor",
          {{"/headers/last-event-id", "unknown or malformed event id"}})));
    }
    after = (*ev)->position;
  }
  if (deps_.tail->Full()) {
    return c.respond(ErrorResponse(
        Status::Unavailable("too many live-tail subscribers; retry later", "overloaded", 5)));
  }
  HttpResponse r;
  r.status = 200;
  r.content_type = "text/event-stream; charset=utf-8";
  r.headers.emplace_back("Cache-Control", "no-store");
  r.headers.emplace_back("X-Accel-Buffering", "no");
  TailHub* tail = deps_.tail;
  r.start_stream = [tail, filter = std::move(filter), after](std::shared_ptr<ResponseStream> s) {
    Status st = tail->Subscribe(filter, after, s);
    if (!st.ok()) {
      s->Write(": " + st.message() + "\n\n");
      s->Close();
    }
  };
  c.respond(std::move(r));
}

}  // namespace annals
