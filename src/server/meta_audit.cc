#include "server/meta_audit.h"

#include <boost/json.hpp>

#include "domain/event_decoder.h"
#include "domain/time.h"

namespace annals {

std::string RemoteHost(const std::string& remote_address) {
  if (!remote_address.empty() && remote_address.front() == '[') {
    const size_t end = remote_address.find(']');
    return end == std::string::npos ? remote_address : remote_address.substr(1, end - 1);
  }
  const size_t colon = remote_address.rfind(':');
  if (colon != std::string::npos && remote_address.find(':') == colon) {
    return remote_address.substr(0, colon);
  }
  return remote_address;
}

MetaAudit::MetaAudit(Ingestor* ingestor, const Clock* clock, EventLimits limits)
    : ingestor_(ingestor), clock_(clock), limits_(limits) {}

void MetaAudit::Record(const MetaAuditEntry& entry, std::function<void(Status)> done) {
  const TimestampUs now = clock_->NowMicros();
  boost::json::object event;
  event["organization_id"] = entry.organization_id;
  event["action"] = entry.action;
  event["occurred_at"] = FormatRfc3339Micros(now);
  boost::json::object actor;
  if (entry.actor.key_id.empty()) {
    // annals itself (a background job): the job's name is the actor's id.
    actor["id"] = entry.actor.key_name;
    actor["type"] = "system";
  } else {
    actor["id"] = entry.actor.key_id;
    actor["type"] = "api_key";
    if (!entry.actor.key_name.empty()) actor["name"] = entry.actor.key_name;
  }
  event["actor"] = std::move(actor);
  boost::json::array targets;
  for (const MetaAuditTarget& t : entry.targets) {
    boost::json::object target;
    target["type"] = t.type;
    target["id"] = t.id;
    if (!t.name.empty()) target["name"] = t.name;
    targets.push_back(std::move(target));
  }
  event["targets"] = std::move(targets);
  boost::json::object context;
  context["location"] = RemoteHost(entry.remote_address);
  if (!entry.user_agent.empty()) context["user_agent"] = entry.user_agent;
  event["context"] = std::move(context);
  if (!entry.metadata.empty()) event["metadata"] = entry.metadata;

  DecodeContext ctx;
  ctx.now = now;
  ctx.allow_reserved_actions = true;
  ctx.source_json = "{\"kind\":\"annals\"}";
  std::vector<ErrorDetail> errors;
  std::optional<EventDraft> draft = DecodeEvent(boost::json::value(std::move(event)), limits_, ctx, "", &errors);
  if (!draft) {
    std::string why = errors.empty() ? "" : errors[0].path + ": " + errors[0].message;
    return done(Status::Internal("cannot build the meta-audit event " + entry.action + ": " + why));
  }
  std::vector<EventDraft> drafts;
  drafts.push_back(std::move(*draft));
  ingestor_->Submit(std::move(drafts), [done = std::move(done)](Result<std::vector<Ack>> acks) {
    done(acks.ok() ? Status::Ok() : acks.status());
  }, SubmitPriority::kInternal);
}

}  // namespace annals
