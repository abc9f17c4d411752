// The unified event model (PRODUCT.md "Event model").
//
// An event travels through annals in two shapes:
//  * EventDraft: validated client content plus the fields the pipeline needs for indexing,
//    produced by the decoder (src/domain/event_decoder.h) on a request thread. Each client
//    top-level member is already rendered in canonical form (RFC 8785 JCS).
//  * EventRecord: a stored event: the draft's index fields plus the server-assigned id, seq,
//    position and received_at, and the full canonical JSON that GET /v1/events/{id} returns
//    and that tamper evidence hashes.
// All types here are plain values; not synchronized.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace annals {

// Microseconds since the Unix epoch, UTC.
using TimestampUs = int64_t;

// An item is (organization_id, type, id). A target names one item.
struct TargetRef {
  std::string type;
  std::string id;
  bool operator==(const TargetRef&) const = default;
};

// changes.op; kNone when the event carries no `changes`.
enum class ChangeOp : uint8_t { kNone = 0, kCreate = 1, kUpdate = 2, kDelete = 3, kSnapshot = 4 };

const char* ChangeOpName(ChangeOp op);  // "create", ...; "" for kNone.

// Fields of an event that indexes and filters need, common to drafts and records.
struct EventIndexFields {
  std::string organization_id;
  std::string action;
  TimestampUs occurred_at = 0;
  std::string actor_id;
  std::string actor_type;
  std::vector<TargetRef> targets;  // >= 1
  ChangeOp change_op = ChangeOp::kNone;
};

// A validated event before the server assigns id, seq, position and received_at.
struct EventDraft {
  EventIndexFields fields;
  // Canonical JSON of every top-level member except id, seq and received_at (which the
  // ingestor assigns), sorted by member name in JCS order. Includes "source".
  std::vector<std::pair<std::string, std::string>> members;
  // Idempotency key supplied by the client or derived by a source; empty when none.
  std::string idempotency_key;
  // How long the idempotency record is kept; 0: the ingestor's window (API keys, 24 h by
  // default). Change-capture sources keep theirs as long as they may redeliver.
  int64_t idempotency_ttl_us = 0;
  // SHA-256 (raw 32 bytes) over the canonical client content (members, without "source"),
  // used to tell a retry (same content) from a conflicting reuse of an idempotency key.
  std::string content_hash;
  // Approximate size in bytes of the canonical JSON; used for batching and limits.
  size_t approx_size = 0;
};

// A stored event.
struct EventRecord {
  EventIndexFields fields;
  std::string id;           // "evt_" + 26 Crockford base32 characters (ULID).
  uint64_t seq = 0;         // per organization, 1, 2, 3, ... without gaps.
  uint64_t position = 0;    // internal global write position, 1, 2, 3, ...
  TimestampUs received_at = 0;
  std::string json;         // canonical JSON (JCS) of the whole event.
  // Non-zero for a purged event's tombstone: then only id, seq, position, received_at,
  // fields.organization_id, fields.occurred_at and commitment are set, and json is empty.
  TimestampUs purged_at = 0;
  // Tombstones only: SHA-256 (raw 32 bytes) of the purged event's canonical JSON, so that
  // proofs over the organization's log stay verifiable after the purge.
  std::string commitment;
};

// Renders the canonical JSON of an event from its draft members and server fields.
std::string RenderCanonicalEvent(const EventDraft& draft, const std::string& id, uint64_t seq,
                                 TimestampUs received_at);

}  // namespace annals
