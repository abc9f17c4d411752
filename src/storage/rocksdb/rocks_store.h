// The embedded Store: one RocksDB database in one directory. The on-disk format (column
// families, key and value layouts, format version) is described in docs/storage.md; the
// constants here are the names used there.
//
// Thread-safety: as the Store interface states. Every method may be called concurrently,
// except Append, which must be called by one writer at a time. Writes (Append, PutMeta,
// ExpireIdempotency) are serialized internally; reads never take the writer's lock and see
// a consistent snapshot per call (a Scan sees all or none of any appended batch).
//
// Failure: after any failed write the store refuses all further writes with
// Status::Unavailable / error_code "store_failed" (reads keep working). Only reopening the
// store (after fixing the cause, e.g. freeing disk space) clears that state, because a
// failed RocksDB write may leave the in-memory state uncertain.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "annals/options.h"
#include "annals/store.h"
#include "domain/merkle.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Env;
class Status;
class WriteBatch;
}  // namespace rocksdb

namespace annals {

class RocksStore final : public Store {
 public:
  // The on-disk format this build reads and writes (meta key "format_version").
  static constexpr int kFormatVersion = 3;

  // Opens the store in options.path, creating it when the directory is missing or empty and
  // options.create_if_missing is set. Fails with a clear Status when the directory is not
  // empty and holds no annals store ("not_an_annals_store"), was written by another format
  // version ("unsupported_store_format"), or is held by another process or another open
  // RocksStore ("store_locked").
  static Result<std::unique_ptr<RocksStore>> Open(const RocksStoreOptions& options);

  // Like Open, but RocksDB does all its file I/O through `env` (tests inject faults with
  // it). `env` is not owned and must outlive the store.
  static Result<std::unique_ptr<RocksStore>> OpenWithEnv(const RocksStoreOptions& options,
                                                         rocksdb::Env* env);

  // Closes the database. With options.sync every acknowledged write is already on stable
  // storage; without it, recent writes are in the OS page cache (they survive a crash of
  // the process, not a power loss).
  ~RocksStore() override;

  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  Status Append(const AppendBatch& batch) override;
  Result<uint64_t> LastPosition() override;
  Result<uint64_t> LastSeq(const std::string& organization_id) override;
  Result<std::optional<EventRecord>> GetEvent(const std::string& id) override;
  Result<std::optional<EventRecord>> GetEventBySeq(const std::string& organization_id,
                                                   uint64_t seq) override;
  Result<std::vector<EventRecord>> ReadFrom(uint64_t after_position, size_t limit) override;
  Result<std::vector<EventRecord>> ReadOrganization(const std::string& organization_id,
                                                    uint64_t after_seq, size_t limit,
                                                    bool fill_cache) override;
  Result<std::vector<EventRecord>> Scan(const ScanRequest& request) override;
  Result<std::vector<ScanCandidate>> ScanCandidates(const ScanRequest& request) override;
  Status VisitEvents(const std::vector<uint64_t>& positions, const EventFilter& filter,
                     bool fill_cache, const EventVisitor& visit) override;
  Result<uint64_t> CountEvents(const EventFilter& filter, uint64_t max_position,
                               bool* exact) override;
  Result<uint64_t> EstimateEvents(const EventFilter& filter) override;
  Result<std::optional<IdempotencyRecord>> GetIdempotency(const std::string& organization_id,
                                                          const std::string& key) override;
  Result<uint64_t> ExpireIdempotency(TimestampUs now) override;
  Result<std::optional<ItemRecord>> GetItem(const std::string& organization_id,
                                            const std::string& type,
                                            const std::string& id) override;
  Result<std::vector<ItemRecord>> ListItems(const std::string& organization_id,
                                            const std::string& type,
                                            const std::string& start_after_id,
                                            size_t limit) override;
  Result<std::optional<TimestampUs>> GetItemPurgedAt(const std::string& organization_id,
                                                     const std::string& type,
                                                     const std::string& id) override;
  Result<PurgeCounts> Purge(const PurgeRequest& request) override;
  Result<std::optional<std::string>> GetMeta(const std::string& name) override;
  Status PutMeta(const std::string& name, const std::string& value) override;
  Status DeleteMeta(const std::string& name) override;
  Result<std::vector<std::string>> OrganizationsWithEvents() override;
  Result<std::vector<std::pair<std::string, std::string>>> ListMeta(
      const std::string& prefix, const std::string& start_after, size_t limit) override;
  Result<std::optional<std::pair<std::string, std::string>>> LastMeta(
      const std::string& prefix) override;
  Result<TreeState> CurrentTree(const std::string& organization_id) override;
  Result<std::vector<Digest>> TreeNodes(const std::string& organization_id, int level,
                                        uint64_t first, size_t count) override;
  Status VisitLog(uint64_t after_position, uint64_t last_position,
                  const std::function<bool(const LogEntryView&)>& visit) override;
  Result<uint64_t> ApproximateSizeBytes() override;
  // A RocksDB checkpoint: SST files are hard-linked when `dir` is on the store's file
  // system and copied otherwise; the rest is copied. The memtables are flushed first while
  // appends go on. On the same file system the checkpoint then flushes what came since and
  // links the files with the writers held off (briefly), so the copy depends on no
  // write-ahead log. On another file system appends are not held off for the copying: the
  // copy then also holds the log of the appends made meanwhile (RocksDB trims it to a
  // consistent end), which the first open of the copy replays.
  Status Checkpoint(const std::string& dir) override;

  // Flushes every memtable to SST files and waits. For backups and tests (so that reads go
  // through SST files, bloom filters and the merge operator's compaction path).
  Status Flush();
  // Compacts every column family fully and waits. For maintenance and tests.
  Status CompactAll();

  // True once a write failed; see "Failure" above.
  bool failed() const { return failed_.load(std::memory_order_acquire); }

  // Test hook: the next write fails as if RocksDB had returned an I/O error, without
  // touching the database, which exercises the sticky failure path.
  void FailNextWriteForTesting() { fail_next_write_.store(true); }

 private:
  struct OpenedDb;
  struct AppendScratch;

  RocksStore(const RocksStoreOptions& options, OpenedDb opened);

  Status LoadCounters();
  // Builds the Merkle leaves and nodes of events that lack them (RocksStoreOptions::
  // merkle_catch_up); called by Open before the store is shared.
  Status CatchUpMerkleLog();
  // The organization's tree frontier (trees_), loaded from the stored nodes when absent.
  // Called with write_mu_ held.
  Result<merkle::CompactRange> LoadTree(const std::string& organization_id, uint64_t size);
  // The number of leaves stored for the organization.
  Result<uint64_t> StoredLeafCount(const std::string& organization_id);
  Status CheckMerkleLog() const;
  Status UpgradeFromFormat1();
  // Every write goes through here: applies the test hook, writes, and on error marks the
  // store failed. `sync` selects WriteOptions.sync.
  Status WriteBatchOrFail(rocksdb::WriteBatch* batch, bool sync);
  Status CheckWritable() const;
  Result<std::optional<EventRecord>> GetEventByPosition(uint64_t position);
  // Purge helpers; called with write_mu_ held.
  struct PurgeRound;
  Status PurgeDeletedItems(const PurgeRequest& r, PurgeCounts* counts);
  Status PurgeOldEvents(const PurgeRequest& r, PurgeCounts* counts);
  Status TombstoneUnheldEvents(const PurgeRequest& r, std::vector<uint64_t> positions,
                               PurgeCounts* counts);
  Status RemoveItemsWithoutTimeline(const PurgeRequest& r,
                                    const std::vector<std::pair<std::string, std::string>>& items,
                                    PurgeCounts* counts);

  rocksdb::ColumnFamilyHandle* cf(int index) const { return handles_[index]; }

  const RocksStoreOptions options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // owned; indexed by the Cf enum

  // Serializes writers (Append, PutMeta, ExpireIdempotency's delete rounds).
  std::mutex write_mu_;
  std::unique_ptr<AppendScratch> scratch_;  // guarded by write_mu_

  // Counters cached from meta; changed only by Append after a successful write.
  std::atomic<uint64_t> last_position_{0};
  mutable std::shared_mutex seq_mu_;
  std::unordered_map<std::string, uint64_t> last_seq_;  // guarded by seq_mu_

  // Each organization's tree frontier, updated by Append after a successful write.
  mutable std::mutex tree_mu_;
  std::unordered_map<std::string, merkle::CompactRange> trees_;  // guarded by tree_mu_

  std::atomic<bool> failed_{false};
  std::atomic<bool> fail_next_write_{false};
  mutable std::mutex failure_mu_;
  std::string failure_message_;  // guarded by failure_mu_
};

}  // namespace annals
