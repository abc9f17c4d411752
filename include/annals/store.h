// The Store: annals' durable state, spoken in domain terms only (events, indexes, items,
// idempotency keys, metadata) so that the embedded RocksDB implementation and a PostgreSQL
// implementation can sit behind one conformance suite.
//
// Thread-safety: every method may be called concurrently from any thread, except that
// Append must be called by one writer at a time (the ingestor's writer thread); readers
// never block the writer and see either all or none of an appended batch.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"

namespace annals {

// An idempotency record: (organization_id, key) -> the event it produced.
struct IdempotencyRecord {
  std::string organization_id;
  std::string key;
  std::string content_hash;  // raw SHA-256 of the client content (EventDraft::content_hash)
  std::string event_id;
  uint64_t seq = 0;
  TimestampUs created_at = 0;  // when first stored
  TimestampUs expires_at = 0;  // honoured while now < expires_at; removed after
};

// An item's lifecycle as derived from the events that name it.
struct ItemRecord {
  std::string organization_id;
  std::string type;
  std::string id;
  TimestampUs first_seen = 0;   // occurred_at of the earliest event naming the item
  TimestampUs last_seen = 0;    // occurred_at of the latest event naming the item
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t event_count = 0;
  // occurred_at of the latest `changes.op = delete` event, when no create/update/snapshot
  // came after it (by (occurred_at, seq)); 0 while the item is alive.
  TimestampUs deleted_at = 0;
};

// What a purge removed.
struct PurgeCounts {
  uint64_t items = 0;   // items whose history was removed
  uint64_t events = 0;  // events replaced by tombstones
};

// One retention pass over one organization (docs/storage.md "Purges"). An item is purged when
// it is deleted (its latest change is a delete) with deleted_at < deleted_before; an event
// when it occurred before occurred_before. Either way an event becomes a tombstone only once
// no item it names still holds it in its timeline, and nothing that names a held item is
// touched.
struct PurgeRequest {
  std::string organization_id;
  TimestampUs purged_at = 0;                   // recorded in tombstones and purge marks
  std::optional<TimestampUs> deleted_before;   // unset: no deleted-item purge
  std::optional<TimestampUs> occurred_before;  // unset: no event-age purge
  // Items under legal hold; called with the store's writer lock held: must be quick and
  // must not call the store.
  std::function<bool(const std::string& type, const std::string& id)> held;
};

// One atomic, durable append: the events of a group commit and their idempotency records.
// Events are in position order; positions and per-organization seqs continue the store's
// sequences without gaps.
struct AppendBatch {
  std::vector<EventRecord> events;
  std::vector<IdempotencyRecord> idempotency;
};

// A filter in the common vocabulary (PRODUCT.md "HTTP API conventions"). Empty vectors mean
// "any". Within one field values are OR-ed; fields are AND-ed. A target matches when one of
// the event's targets satisfies both target_types and target_ids.
struct EventFilter {
  std::string organization_id;          // required
  std::vector<std::string> actions;     // exact actions
  std::vector<std::string> action_prefixes;  // "finding." for "finding.*"
  std::vector<std::string> actor_ids;
  std::vector<std::string> target_types;
  std::vector<std::string> target_ids;
  std::optional<TimestampUs> from;      // occurred_at >= from
  std::optional<TimestampUs> to;        // occurred_at < to
};

// A position in the (occurred_at, seq) order of one organization's events.
struct ListKey {
  TimestampUs occurred_at = 0;
  uint64_t seq = 0;
  bool operator==(const ListKey&) const = default;
};

// Scan events matching `filter` in (occurred_at, seq) order, ascending or descending,
// starting strictly after `start` (in scan direction) when set, returning at most `limit`.
struct ScanRequest {
  EventFilter filter;
  bool descending = true;
  std::optional<ListKey> start_after;
  size_t limit = 100;
  // false for bulk reads (exports): the blocks read are not kept in the block cache, so a
  // long scan neither grows memory nor evicts what interactive queries use.
  bool fill_cache = true;
};

// An index entry of a scan: the event's list key and its position (Store::ScanCandidates).
struct ScanCandidate {
  ListKey key;
  uint64_t position = 0;
};

// Called by Store::VisitEvents with an event's position, its seq and its stored JSON.
using EventVisitor =
    std::function<void(uint64_t position, uint64_t seq, std::string_view event_json)>;

// A SHA-256 digest: a Merkle leaf, node or root hash, or an event commitment. The same type
// as merkle::Hash (src/domain/merkle.h).
using Digest = std::array<uint8_t, 32>;

// An organization's Merkle tree as of one instant: its size (leaves = events, tombstones
// included) and its root (RFC 9162; the empty tree's root for size 0).
struct TreeState {
  uint64_t tree_size = 0;
  Digest root{};
};

// One stored event value as the log holds it, for verification: an event or a tombstone.
// The views point into the store's buffers and are valid during the visitor call only.
struct LogEntryView {
  uint64_t position = 0;
  bool malformed = false;  // the value does not decode; nothing else is set
  bool tombstone = false;
  std::string_view organization_id;
  uint64_t seq = 0;
  std::string_view json;        // events: the canonical JSON as stored
  std::string_view commitment;  // tombstones: the 32-byte commitment they keep
};

// The Merkle log stores every kMerkleTileHeight-th level of each tree; a run of
// 2^kMerkleTileHeight nodes of one stored level is a tile (docs/storage.md "merkle").
inline constexpr int kMerkleTileHeight = 4;

class Store {
 public:
  virtual ~Store() = default;

  // Appends the batch atomically and durably (synced to stable storage before returning OK).
  // On any error nothing of the batch is visible, and the caller must treat the store as failed.
  virtual Status Append(const AppendBatch& batch) = 0;

  // The last assigned global position (0 when empty).
  virtual Result<uint64_t> LastPosition() = 0;
  // The last assigned seq of an organization (0 when it has no events).
  virtual Result<uint64_t> LastSeq(const std::string& organization_id) = 0;

  // Every organization that has at least one event, in byte order.
  virtual Result<std::vector<std::string>> OrganizationsWithEvents() = 0;

  // The event with this id, or nullopt. A purged event comes back as its tombstone
  // (EventRecord::purged_at != 0); ReadFrom and Scan never return tombstones.
  virtual Result<std::optional<EventRecord>> GetEvent(const std::string& id) = 0;
  // The event of an organization with this seq, or nullopt.
  virtual Result<std::optional<EventRecord>> GetEventBySeq(const std::string& organization_id,
                                                            uint64_t seq) = 0;
  // Events in global position order with position > after_position, at most `limit`.
  virtual Result<std::vector<EventRecord>> ReadFrom(uint64_t after_position, size_t limit) = 0;
  // The events of an organization with seq > after_seq, in seq order, at most `limit`,
  // tombstones included (purged_at != 0), so a reader's cursor can pass purged events.
  // `fill_cache` as in ScanRequest.
  virtual Result<std::vector<EventRecord>> ReadOrganization(const std::string& organization_id,
                                                            uint64_t after_seq, size_t limit,
                                                            bool fill_cache) = 0;
  // Matching events in scan order, at most request.limit.
  virtual Result<std::vector<EventRecord>> Scan(const ScanRequest& request) = 0;
  // A scan in two steps, so that bulk readers (exports) can read and process the events on
  // several threads. ScanCandidates returns the index entries that Scan would walk, in scan
  // order, at most request.limit: every event Scan would return is among them, but some may
  // not match (the index decides only part of the filter) and some may be purged by the time
  // they are read. VisitEvents reads the events at `positions`, in that order, and calls
  // `visit` for each one that is stored (not purged) and matches `filter`; the json view is
  // valid during the call only. Both are thread-safe.
  virtual Result<std::vector<ScanCandidate>> ScanCandidates(const ScanRequest& request) = 0;
  virtual Status VisitEvents(const std::vector<uint64_t>& positions, const EventFilter& filter,
                             bool fill_cache, const EventVisitor& visit) = 0;
  // How many events Scan would return for `filter` with no limit, among those stored at
  // positions up to `max_position` (0: all): exact when *exact is set, otherwise an upper
  // bound (the entries of the index the scan would walk). Reads index entries only.
  virtual Result<uint64_t> CountEvents(const EventFilter& filter, uint64_t max_position,
                                       bool* exact) = 0;
  // About how many index entries CountEvents would walk for `filter` (all stored
  // positions), from the store's size statistics instead of the entries: a progress total
  // for large bulk reads, where an exact count costs a pass over the index. Ranges smaller
  // than a block or two may be estimated at 0.
  virtual Result<uint64_t> EstimateEvents(const EventFilter& filter) = 0;

  virtual Result<std::optional<IdempotencyRecord>> GetIdempotency(
      const std::string& organization_id, const std::string& key) = 0;
  // Removes idempotency records with expires_at <= now; returns how many.
  virtual Result<uint64_t> ExpireIdempotency(TimestampUs now) = 0;

  virtual Result<std::optional<ItemRecord>> GetItem(const std::string& organization_id,
                                                     const std::string& type,
                                                     const std::string& id) = 0;
  // Items of one type of an organization in byte order of id, starting strictly after
  // `start_after_id` when it is not empty, at most `limit`. Purged items are not listed.
  virtual Result<std::vector<ItemRecord>> ListItems(const std::string& organization_id,
                                                    const std::string& type,
                                                    const std::string& start_after_id,
                                                    size_t limit) = 0;
  // When the item's history was purged (the last time, if it lived again since), or nullopt
  // if it never was.
  virtual Result<std::optional<TimestampUs>> GetItemPurgedAt(const std::string& organization_id,
                                                             const std::string& type,
                                                             const std::string& id) = 0;
  // Runs one retention pass (PurgeRequest). Serialized with Append; works in rounds, each
  // one durable write, so a crash leaves a consistent state that the next pass finishes.
  virtual Result<PurgeCounts> Purge(const PurgeRequest& request) = 0;

  // Small durable metadata (organizations, keys, settings), by name. Writes are synced.
  virtual Result<std::optional<std::string>> GetMeta(const std::string& name) = 0;
  virtual Status PutMeta(const std::string& name, const std::string& value) = 0;
  // Removes the entry `name`; OK when there is none.
  virtual Status DeleteMeta(const std::string& name) = 0;
  // Metadata entries whose names start with `prefix`, in byte order of name, starting
  // strictly after `start_after` when it is not empty, at most `limit` (0: no limit).
  virtual Result<std::vector<std::pair<std::string, std::string>>> ListMeta(
      const std::string& prefix, const std::string& start_after, size_t limit) = 0;

  // The entry with the greatest name that starts with `prefix`, or nullopt.
  virtual Result<std::optional<std::pair<std::string, std::string>>> LastMeta(
      const std::string& prefix) = 0;

  // --- Tamper evidence (docs/integrity.md). Each organization's log is an RFC 9162 Merkle
  // tree whose leaf i is the event with seq i + 1; the leaf input is the event's commitment,
  // SHA-256 of its canonical JSON, kept after a purge. Append maintains it in the same write.
  // Every method below answers kFailedPrecondition ("merkle_log_disabled") when the store
  // was opened without a Merkle log.

  // The organization's tree as of the last append (size == LastSeq).
  virtual Result<TreeState> CurrentTree(const std::string& organization_id) = 0;
  // Stored nodes of the organization's tree at `level`, which is a multiple of
  // kMerkleTileHeight: at level 0 the leaves' commitments (not leaf hashes), at level h·t
  // (h = kMerkleTileHeight) the hashes of the complete aligned subtrees of 2^(ht) leaves, by
  // index (node j covers leaves [j·2^level, (j+1)·2^level)). Returns the run of stored nodes from index `first` on, at most `count`;
  // it ends early where the stored nodes end (the tree's right edge).
  virtual Result<std::vector<Digest>> TreeNodes(const std::string& organization_id, int level,
                                                uint64_t first, size_t count) = 0;
  // Calls `visit` for every stored event value with after_position < position <=
  // last_position (0: no upper bound), in position order, tombstones and undecodable values
  // included, until it returns false. Reads a consistent snapshot and does not fill the block
  // cache. May be called from several threads at once (e.g. over disjoint ranges).
  virtual Status VisitLog(uint64_t after_position, uint64_t last_position,
                          const std::function<bool(const LogEntryView&)>& visit) = 0;

  // Approximate bytes the store occupies on disk.
  virtual Result<uint64_t> ApproximateSizeBytes() = 0;

  // Writes a consistent, openable copy of the store to `dir`, which must not exist: the
  // copy holds the store's whole state at one instant between the call and its return
  // (every append is in it entirely or not at all). Appends may continue meanwhile.
  // kInvalidArgument when `dir` exists or its parent does not; kUnavailable/kInternal on
  // I/O failure.
  virtual Status Checkpoint(const std::string& dir) = 0;
};

}  // namespace annals
