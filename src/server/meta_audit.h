// Meta-audit (PRODUCT.md capability 13): annals records its own administrative actions
// (keys created or revoked, organizations created or changed, and later exports, streams,
// retention) as events with actions under "annals." in the affected organization's trail,
// or in the reserved "annals" organization for platform-level actions. The acting key is
// the actor; the request's remote address and user agent are the context.
//
// Events go through the ingestor like any other, so they get ids, seqs and durability;
// they are built here and never come from client input.
//
// Thread-safety: Record may be called concurrently.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "access/principal.h"
#include "annals/clock.h"
#include "annals/options.h"
#include "ingest/ingestor.h"

namespace annals {

struct MetaAuditTarget {
  std::string type;
  std::string id;
  std::string name;  // optional
};

struct MetaAuditEntry {
  std::string organization_id;  // the affected organization, or "annals"
  std::string action;           // e.g. "annals.api_key.created"
  Principal actor;  // a key; with an empty key_id, annals' job named key_name (type "system")
  std::string remote_address;   // "203.0.113.7:51234" or "203.0.113.7"
  std::string user_agent;
  std::vector<MetaAuditTarget> targets;
  boost::json::object metadata;  // small: string (<= 500 chars), number or bool values
};

class MetaAudit {
 public:
  // `ingestor` and `clock` must outlive this object.
  MetaAudit(Ingestor* ingestor, const Clock* clock, EventLimits limits);

  // Submits the event; `done` gets OK once it is durable (or the ingestor's error).
  void Record(const MetaAuditEntry& entry, std::function<void(Status)> done);

 private:
  Ingestor* const ingestor_;
  const Clock* const clock_;
  const EventLimits limits_;
};

// The host part of "host:port", "[v6]:port" or a bare address.
std::string RemoteHost(const std::string& remote_address);

}  // namespace annals
