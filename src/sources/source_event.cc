#include "sources/source_event.h"

#include "domain/event_decoder.h"

namespace annals {

std::string EscapeItemIdPart(std::string_view part) {
  std::string out;
  out.reserve(part.size());
  for (char c : part) {
    if (c == '%') {
      out += "%25";
    } else if (c == ':') {
      out += "%3A";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

Result<EventDraft> MakeSourceDraft(const boost::json::value& event, const EventLimits& limits,
                                   const SourceDraftSpec& spec) {
  if (spec.idempotency_key.empty()) {
    return Status::Internal("a source event needs an idempotency key");
  }
  DecodeContext ctx;
  ctx.now = spec.now;
  ctx.source_json = spec.source_json;
  std::vector<ErrorDetail> errors;
  std::optional<EventDraft> draft = DecodeEvent(event, limits, ctx, "", &errors);
  if (!draft) {
    std::string message = errors.empty() ? "the event is invalid" : errors.front().message;
    return Status::InvalidArgument(std::move(message), "invalid_event", std::move(errors));
  }
  draft->idempotency_key = spec.idempotency_key;
  draft->idempotency_ttl_us = spec.idempotency_ttl_us;
  ComputeContentHash(&*draft);
  return std::move(*draft);
}

}  // namespace annals
