#include "storage/rocksdb/rocks_store.h"

#include <sys/stat.h>

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table_properties.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <map>
#include <bit>
#include <charconv>
#include <deque>
#include <numeric>
#include <filesystem>
#include <limits>
#include <string_view>
#include <tuple>
#include <utility>

#include "common/sha256.h"
#include "domain/event_filter.h"
#include "storage/key_encoding.h"
#include "storage/tree_source.h"

namespace annals {
namespace {

namespace enc = storage;

// ---------------------------------------------------------------------------------------
// Column families. The order is the index into RocksStore::handles_; the names are the
// on-disk format (docs/storage.md). "default" is required by RocksDB and unused.
enum Cf : int {
  kDefault = 0,
  kEvents,       // u64 position -> event value
  kEventIds,     // event id (raw bytes) -> u64 position
  kOrgSeq,       // str org | u64 seq -> u64 position
  kIdxTime,      // str org | ts occurred_at | u64 seq -> u64 position
  kIdxAction,    // str org | str action | ts | u64 seq -> u64 position
  kIdxActor,     // str org | str actor_id | ts | u64 seq -> u64 position
  kItems,        // str org | str type | str id -> item record (merge operands), and
                 // str org | str type | str id | ts | u64 seq -> u64 position (the target index)
  kIdempotency,  // str org | str key -> idempotency record
  kDeletions,    // str org | ts deleted_at | str type | str id | u64 seq -> "" (purge queue)
  kPurged,       // str org | str type | str id -> purge mark
  kMerkle,       // str org | u8 level | u64 index -> 32 bytes (commitment at level 0)
  kMeta,         // raw name -> value
  kCfCount,
};

constexpr const char* kCfNames[kCfCount] = {
    "default",    "events",    "event_ids", "org_seq",     "idx_time",
    "idx_action", "idx_actor", "items",     "idempotency", "item_deletions",
    "purged_items", "merkle", "meta",
};

// Meta keys.
constexpr std::string_view kMetaFormatVersion = "format_version";
constexpr std::string_view kMetaLastPosition = "last_position";
constexpr std::string_view kMetaOrgSeqPrefix = "orgseq/";
constexpr std::string_view kMetaUserPrefix = "kv/";

// Leading byte of each value format, so that a later format can be told apart.
constexpr char kEventValueFormat = 1;
constexpr char kTombstoneValueFormat = 2;  // a purged event
constexpr char kItemValueFormat = 1;
constexpr char kIdempotencyValueFormat = 1;   // without expires_at (format-1 stores)
constexpr char kIdempotencyValueFormat2 = 2;  // with expires_at
constexpr char kPurgeMarkFormat = 1;
// Records written by format-1 stores had no expiry of their own: the API window then.
constexpr int64_t kFormat1IdempotencyWindowUs = 24LL * 3600 * 1000000;

// Size of the (occurred_at, seq) suffix that ends every time-ordered index key.
constexpr size_t kListKeySize = enc::kTimestampSize + enc::kU64Size;

// Scans use at most this many per-value index iterators; beyond it a less selective index
// with post-filtering is used instead.
constexpr size_t kMaxScanCursors = 256;

constexpr TimestampUs kMinTs = std::numeric_limits<TimestampUs>::min();
constexpr TimestampUs kMaxTs = std::numeric_limits<TimestampUs>::max();
constexpr uint64_t kMaxU64 = std::numeric_limits<uint64_t>::max();

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// ---------------------------------------------------------------------------------------
// Value encoding helpers: LEB128 varints, zigzag for signed values, length-prefixed bytes.

void PutVarint(std::string* dst, uint64_t v) {
  char buf[10];
  size_t n = 0;
  while (v >= 0x80) {
    buf[n++] = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  buf[n++] = static_cast<char>(v);
  dst->append(buf, n);
}

bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t result = 0;
  for (unsigned shift = 0, i = 0; shift <= 63 && i < in->size(); shift += 7, ++i) {
    const uint64_t byte = static_cast<unsigned char>((*in)[i]);
    result |= (byte & 0x7F) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      in->remove_prefix(i + 1);
      return true;
    }
  }
  return false;
}

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

void PutSigned(std::string* dst, int64_t v) { PutVarint(dst, ZigZag(v)); }
bool GetSigned(std::string_view* in, int64_t* v) {
  uint64_t raw = 0;
  if (!GetVarint(in, &raw)) return false;
  *v = UnZigZag(raw);
  return true;
}

void PutBytes(std::string* dst, std::string_view s) {
  PutVarint(dst, s.size());
  dst->append(s);
}
bool GetBytes(std::string_view* in, std::string_view* s) {
  uint64_t len = 0;
  if (!GetVarint(in, &len) || len > in->size()) return false;
  *s = in->substr(0, len);
  in->remove_prefix(len);
  return true;
}

// ---------------------------------------------------------------------------------------
// Event values (docs/storage.md "events"):
//   u8 format (1) | u8 change_op | varint seq | zigzag occurred_at | zigzag received_at |
//   bytes id | bytes organization_id | bytes action | bytes actor_id | bytes actor_type |
//   varint target_count | target_count x (bytes type | bytes id) | canonical JSON (the rest)
// "bytes" is a varint length followed by that many bytes.

void EncodeEventHeader(const EventRecord& e, std::string* dst) {
  const EventIndexFields& f = e.fields;
  dst->push_back(kEventValueFormat);
  dst->push_back(static_cast<char>(f.change_op));
  PutVarint(dst, e.seq);
  PutSigned(dst, f.occurred_at);
  PutSigned(dst, e.received_at);
  PutBytes(dst, e.id);
  PutBytes(dst, f.organization_id);
  PutBytes(dst, f.action);
  PutBytes(dst, f.actor_id);
  PutBytes(dst, f.actor_type);
  PutVarint(dst, f.targets.size());
  for (const TargetRef& t : f.targets) {
    PutBytes(dst, t.type);
    PutBytes(dst, t.id);
  }
}

// A decoded event value whose strings point into the value.
struct EventView {
  ChangeOp change_op = ChangeOp::kNone;
  uint64_t seq = 0;
  TimestampUs occurred_at = 0;
  TimestampUs received_at = 0;
  std::string_view id, organization_id, action, actor_id, actor_type;
  uint64_t target_count = 0;
  std::string_view targets;  // target_count x (bytes type | bytes id)
  std::string_view json;
};

bool ParseEventValue(std::string_view in, EventView* v) {
  if (in.size() < 2 || in[0] != kEventValueFormat) return false;
  const auto op = static_cast<uint8_t>(in[1]);
  if (op > static_cast<uint8_t>(ChangeOp::kSnapshot)) return false;
  v->change_op = static_cast<ChangeOp>(op);
  in.remove_prefix(2);
  if (!GetVarint(&in, &v->seq) || !GetSigned(&in, &v->occurred_at) ||
      !GetSigned(&in, &v->received_at) || !GetBytes(&in, &v->id) ||
      !GetBytes(&in, &v->organization_id) || !GetBytes(&in, &v->action) ||
      !GetBytes(&in, &v->actor_id) || !GetBytes(&in, &v->actor_type) ||
      !GetVarint(&in, &v->target_count)) {
    return false;
  }
  const std::string_view targets_start = in;
  for (uint64_t i = 0; i < v->target_count; ++i) {
    std::string_view type, id;
    if (!GetBytes(&in, &type) || !GetBytes(&in, &id)) return false;
  }
  v->targets = targets_start.substr(0, targets_start.size() - in.size());
  v->json = in;
  return true;
}

// Calls fn(type, id) for each target of a parsed event; stops early when fn returns true.
// Returns whether fn returned true.
template <typename Fn>
bool AnyTarget(const EventView& v, Fn fn) {
  std::string_view in = v.targets;
  for (uint64_t i = 0; i < v.target_count; ++i) {
    std::string_view type, id;
    GetBytes(&in, &type);  // validated by ParseEventValue
    GetBytes(&in, &id);
    if (fn(type, id)) return true;
  }
  return false;
}

EventRecord ToEventRecord(const EventView& v, uint64_t position) {
  EventRecord e;
  e.fields.organization_id.assign(v.organization_id);
  e.fields.action.assign(v.action);
  e.fields.occurred_at = v.occurred_at;
  e.fields.actor_id.assign(v.actor_id);
  e.fields.actor_type.assign(v.actor_type);
  e.fields.change_op = v.change_op;
  e.fields.targets.reserve(v.target_count);
  AnyTarget(v, [&](std::string_view type, std::string_view id) {
    e.fields.targets.push_back(TargetRef{std::string(type), std::string(id)});
    return false;
  });
  e.id.assign(v.id);
  e.seq = v.seq;
  e.position = position;
  e.received_at = v.received_at;
  e.json.assign(v.json);
  return e;
}

// A purged event's value (docs/storage.md "Tombstones"):
//   u8 format (2) | varint seq | zigzag occurred_at | zigzag received_at | zigzag purged_at |
//   bytes id | bytes organization_id | bytes commitment (SHA-256 of the canonical JSON)
void EncodeTombstone(const EventView& v, TimestampUs purged_at, std::string* dst) {
  dst->push_back(kTombstoneValueFormat);
  PutVarint(dst, v.seq);
  PutSigned(dst, v.occurred_at);
  PutSigned(dst, v.received_at);
  PutSigned(dst, purged_at);
  PutBytes(dst, v.id);
  PutBytes(dst, v.organization_id);
  PutBytes(dst, Sha256(v.json));
}

bool IsTombstone(std::string_view value) {
  return !value.empty() && value[0] == kTombstoneValueFormat;
}

// A decoded tombstone whose strings point into the value.
struct TombstoneView {
  uint64_t seq = 0;
  TimestampUs occurred_at = 0, received_at = 0, purged_at = 0;
  std::string_view id, organization_id, commitment;
};

bool ParseTombstone(std::string_view in, TombstoneView* t) {
  if (!IsTombstone(in)) return false;
  in.remove_prefix(1);
  return GetVarint(&in, &t->seq) && GetSigned(&in, &t->occurred_at) &&
         GetSigned(&in, &t->received_at) && GetSigned(&in, &t->purged_at) &&
         GetBytes(&in, &t->id) && GetBytes(&in, &t->organization_id) &&
         GetBytes(&in, &t->commitment) && in.empty();
}

bool DecodeTombstone(std::string_view in, uint64_t position, EventRecord* e) {
  TombstoneView t;
  if (!ParseTombstone(in, &t)) return false;
  e->seq = t.seq;
  e->fields.occurred_at = t.occurred_at;
  e->received_at = t.received_at;
  e->purged_at = t.purged_at;
  e->id.assign(t.id);
  e->fields.organization_id.assign(t.organization_id);
  e->commitment.assign(t.commitment);
  e->position = position;
  return true;
}

// ---------------------------------------------------------------------------------------
// Item records (docs/storage.md "items"). Every event appends one operand per distinct
// target; operands and merged values share one format, and merging is associative and
// commutative, so RocksDB may combine them in any grouping and appends never read:
//   u8 format (1) | zigzag first_ts | varint first_seq | zigzag last_ts | varint last_seq |
//   varint count | u8 change_op | [zigzag change_ts | varint change_seq when change_op != 0]

struct ItemState {
  TimestampUs first_ts = kMaxTs;
  uint64_t first_seq = kMaxU64;
  TimestampUs last_ts = kMinTs;
  uint64_t last_seq = 0;
  uint64_t count = 0;
  // The latest event with changes by (occurred_at, seq); op kNone when none seen.
  ChangeOp change_op = ChangeOp::kNone;
  TimestampUs change_ts = 0;
  uint64_t change_seq = 0;
};

void EncodeItemState(const ItemState& s, std::string* dst) {
  dst->push_back(kItemValueFormat);
  PutSigned(dst, s.first_ts);
  PutVarint(dst, s.first_seq);
  PutSigned(dst, s.last_ts);
  PutVarint(dst, s.last_seq);
  PutVarint(dst, s.count);
  dst->push_back(static_cast<char>(s.change_op));
  if (s.change_op != ChangeOp::kNone) {
    PutSigned(dst, s.change_ts);
    PutVarint(dst, s.change_seq);
  }
}

bool DecodeItemState(std::string_view in, ItemState* s) {
  if (in.empty() || in[0] != kItemValueFormat) return false;
  in.remove_prefix(1);
  if (!GetSigned(&in, &s->first_ts) || !GetVarint(&in, &s->first_seq) ||
      !GetSigned(&in, &s->last_ts) || !GetVarint(&in, &s->last_seq) || !GetVarint(&in, &s->count) ||
      in.empty()) {
    return false;
  }
  const auto op = static_cast<uint8_t>(in[0]);
  if (op > static_cast<uint8_t>(ChangeOp::kSnapshot)) return false;
  s->change_op = static_cast<ChangeOp>(op);
  in.remove_prefix(1);
  if (s->change_op != ChangeOp::kNone) {
    if (!GetSigned(&in, &s->change_ts) || !GetVarint(&in, &s->change_seq)) return false;
  } else {
    s->change_ts = 0;
    s->change_seq = 0;
  }
  return in.empty();
}

// Folds `b` into `a`. Associative and commutative (ties broken by value, not by order).
void CombineItemStates(ItemState* a, const ItemState& b) {
  if (std::pair(b.first_ts, b.first_seq) < std::pair(a->first_ts, a->first_seq)) {
    a->first_ts = b.first_ts;
    a->first_seq = b.first_seq;
  }
  if (std::pair(b.last_ts, b.last_seq) > std::pair(a->last_ts, a->last_seq)) {
    a->last_ts = b.last_ts;
    a->last_seq = b.last_seq;
  }
  a->count += b.count;
  if (b.change_op != ChangeOp::kNone &&
      (a->change_op == ChangeOp::kNone ||
       std::tuple(b.change_ts, b.change_seq, static_cast<uint8_t>(b.change_op)) >
           std::tuple(a->change_ts, a->change_seq, static_cast<uint8_t>(a->change_op)))) {
    a->change_op = b.change_op;
    a->change_ts = b.change_ts;
    a->change_seq = b.change_seq;
  }
}

class ItemLifecycleMergeOperator final : public rocksdb::MergeOperator {
 public:
  // Persisted in the OPTIONS file; never rename.
  const char* Name() const override { return "annals.ItemLifecycle.v1"; }

  bool FullMergeV2(const MergeOperationInput& in, MergeOperationOutput* out) const override {
    ItemState acc;
    if (in.existing_value != nullptr && !Fold(ToView(*in.existing_value), &acc)) return false;
    for (const rocksdb::Slice& operand : in.operand_list) {
      if (!Fold(ToView(operand), &acc)) return false;
    }
    out->new_value.clear();
    EncodeItemState(acc, &out->new_value);
    return true;
  }

  bool PartialMergeMulti(const rocksdb::Slice& /*key*/, const std::deque<rocksdb::Slice>& operands,
                         std::string* new_value, rocksdb::Logger* /*logger*/) const override {
    ItemState acc;
    for (const rocksdb::Slice& operand : operands) {
      if (!Fold(ToView(operand), &acc)) return false;
    }
    new_value->clear();
    EncodeItemState(acc, new_value);
    return true;
  }

 private:
  static bool Fold(std::string_view value, ItemState* acc) {
    ItemState s;
    if (!DecodeItemState(value, &s)) return false;
    CombineItemStates(acc, s);
    return true;
  }
};

// ---------------------------------------------------------------------------------------
// Idempotency records (docs/storage.md "idempotency"):
//   u8 format (1) | zigzag created_at | varint seq | bytes event_id | bytes content_hash

//   format 2: u8 2 | zigzag created_at | zigzag expires_at | varint seq | bytes event_id |
//             bytes content_hash

void EncodeIdempotency(const IdempotencyRecord& r, std::string* dst) {
  dst->push_back(kIdempotencyValueFormat2);
  PutSigned(dst, r.created_at);
  PutSigned(dst, r.expires_at);
  PutVarint(dst, r.seq);
  PutBytes(dst, r.event_id);
  PutBytes(dst, r.content_hash);
}

bool DecodeIdempotency(std::string_view in, IdempotencyRecord* r) {
  if (in.empty() || (in[0] != kIdempotencyValueFormat && in[0] != kIdempotencyValueFormat2)) {
    return false;
  }
  const bool v2 = in[0] == kIdempotencyValueFormat2;
  in.remove_prefix(1);
  std::string_view event_id, hash;
  if (!GetSigned(&in, &r->created_at)) return false;
  if (v2) {
    if (!GetSigned(&in, &r->expires_at)) return false;
  } else {
    r->expires_at = r->created_at + kFormat1IdempotencyWindowUs;
  }
  if (!GetVarint(&in, &r->seq) || !GetBytes(&in, &event_id) || !GetBytes(&in, &hash) ||
      !in.empty()) {
    return false;
  }
  r->event_id.assign(event_id);
  r->content_hash.assign(hash);
  return true;
}

// ---------------------------------------------------------------------------------------
// Prefix extractor for the index column families: the first `n` encoded strings of a key
// (e.g. org | action for idx_action). Scans of one index value stay within one prefix, so
// RocksDB's prefix bloom filters skip the SST files that do not hold it.
class EncodedStringsPrefix final : public rocksdb::SliceTransform {
 public:
  explicit EncodedStringsPrefix(int n)
      : n_(n), name_("annals.EncodedStringsPrefix." + std::to_string(n)) {}

  // Persisted in SST files; a table built with another name simply skips prefix filtering.
  const char* Name() const override { return name_.c_str(); }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), PrefixLength(ToView(key)));
  }
  bool InDomain(const rocksdb::Slice& key) const override { return PrefixLength(ToView(key)) > 0; }

 private:
  size_t PrefixLength(std::string_view key) const {
    size_t total = 0;
    for (int i = 0; i < n_; ++i) {
      const size_t len = enc::EncodedStringLength(key.substr(total));
      if (len == 0) return 0;
      total += len;
    }
    return total;
  }

  const int n_;
  const std::string name_;
};

// Makes the memtable remember its last insert position for the whole column family and
// start each insert's skiplist search from there (RocksDB's insert hint, which unlike the
// default sequential-insert path also helps when the next key is near but not adjacent).
// Appends add each column family's keys in sorted order, so consecutive inserts are close.
class SingleInsertGroup final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "annals.SingleInsertGroup"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    return rocksdb::Slice(key.data(), 0);
  }
  bool InDomain(const rocksdb::Slice& /*key*/) const override { return true; }
};

// ---------------------------------------------------------------------------------------
// Status mapping.

// RocksDB reports a held LOCK file as an I/O error: "While lock file: <dir>/LOCK: ..." from
// another process, "lock hold by current process ..." from this one.
bool IsLockError(const rocksdb::Status& s) {
  if (!s.IsIOError()) return false;
  const std::string text = s.ToString();
  return text.find("/LOCK") != std::string::npos || text.find("lock file") != std::string::npos ||
         text.find("lock hold") != std::string::npos;
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  return Status::Internal(std::string(what) + ": " + s.ToString());
}

Status Corruption(std::string_view what) {
  return Status::Internal("the store is damaged: " + std::string(what));
}

Status MerkleLogDisabled() {
  return Status(Code::kUnavailable, "merkle_log_disabled",
                "this store keeps no Merkle log (it was opened with merkle_log off)");
}

// A merkle key: str org (already encoded) | u8 level | u64 index.
void AppendMerkleKey(std::string* dst, std::string_view encoded_org, int level, uint64_t index) {
  dst->append(encoded_org);
  dst->push_back(static_cast<char>(level));
  enc::AppendU64(dst, index);
}

std::string_view DigestView(const Digest& d) {
  return std::string_view(reinterpret_cast<const char*>(d.data()), d.size());
}

// Runs of consecutive Merkle nodes, one per (organization, level), each written as one key
// (docs/storage.md "merkle"): `str org | u8 level | u64 first index` -> the nodes' hashes,
// 32 bytes each, in index order. An append writes a handful of keys however many events it
// holds. Not synchronized.
class MerkleRuns {
 public:
  void Clear() {
    runs_.clear();
    index_.clear();
    last_ = nullptr;
  }

  // Adds node `index` of `level` of the organization whose encoded id is `org_key`; it must
  // follow the run's previous node.
  Status Add(std::string_view org_key, int level, uint64_t index, const uint8_t* hash) {
    Run* run = last_;
    if (run == nullptr || run->level != level || run->org_key != org_key) {
      lookup_.assign(org_key);
      lookup_.push_back(static_cast<char>(level));
      auto [it, inserted] = index_.try_emplace(lookup_, runs_.size());
      if (inserted) {
        runs_.push_back(Run{std::string(org_key), level, index, {}});
        runs_.back().hashes.reserve(32 * 64);
      }
      run = &runs_[it->second];
      last_ = level == 0 ? run : nullptr;  // leaves come one per event: the common case
    }
    if (run->first + run->hashes.size() / 32 != index) {
      return Status::Internal("Merkle nodes out of order at level " + std::to_string(level));
    }
    run->hashes.append(reinterpret_cast<const char*>(hash), 32);
    return Status::Ok();
  }

  rocksdb::Status WriteTo(rocksdb::WriteBatch* wb, rocksdb::ColumnFamilyHandle* cf) {
    std::string key;
    for (const Run& r : runs_) {
      key.clear();
      AppendMerkleKey(&key, r.org_key, r.level, r.first);
      rocksdb::Status s = wb->Put(cf, key, r.hashes);
      if (!s.ok()) return s;
    }
    return rocksdb::Status::OK();
  }

  bool empty() const { return runs_.empty(); }

 private:
  struct Run {
    std::string org_key;
    int level;
    uint64_t first;
    std::string hashes;
  };
  // runs_ only grows between Clear calls, but may reallocate: index_ holds positions.
  std::vector<Run> runs_;
  std::unordered_map<std::string, size_t> index_;
  Run* last_ = nullptr;
  std::string lookup_;
};

// Adds an appended leaf's commitment and the stored nodes it completes to `runs`.
Status AddMerkleLeaf(std::string_view org_key, const Digest& commitment,
                     merkle::CompactRange* tree, std::vector<merkle::SubtreeHash>* finished,
                     MerkleRuns* runs) {
  const uint64_t index = tree->size();
  finished->clear();
  ANNALS_RETURN_IF_ERROR(tree->Append(merkle::LeafHash(DigestView(commitment)), finished));
  ANNALS_RETURN_IF_ERROR(runs->Add(org_key, 0, index, commitment.data()));
  for (const merkle::SubtreeHash& f : *finished) {
    const int level = std::countr_zero(f.size);
    if (level == 0 || level % kMerkleTileHeight != 0) continue;
    ANNALS_RETURN_IF_ERROR(runs->Add(org_key, level, f.start >> level, f.hash.data()));
  }
  return Status::Ok();
}

Status NotAnnalsStore(const std::string& path, std::string_view why) {
  return Status(Code::kInvalidArgument, "not_an_annals_store",
                "data directory " + path + " " + std::string(why));
}

// ---------------------------------------------------------------------------------------
// Options.

rocksdb::CompressionType Supported(rocksdb::CompressionType wanted) {
  static const std::vector<rocksdb::CompressionType> supported =
      rocksdb::GetSupportedCompressions();
  if (std::find(supported.begin(), supported.end(), wanted) != supported.end()) return wanted;
  for (auto fallback : {rocksdb::kLZ4Compression, rocksdb::kSnappyCompression}) {
    if (std::find(supported.begin(), supported.end(), fallback) != supported.end()) {
      return fallback;
    }
  }
  return rocksdb::kNoCompression;
}

struct CfTuning {
  size_t write_buffer_bytes;
  size_t block_size;
  int prefix_strings;        // > 0: prefix extractor over that many leading strings
  bool whole_key_filtering;  // bloom filter on whole keys (point lookups)
  bool optimize_filters_for_hits = false;
};

rocksdb::ColumnFamilyOptions MakeCfOptions(int cf, const RocksStoreOptions& o,
                                           const std::shared_ptr<rocksdb::Cache>& cache) {
  const size_t wb = std::max<size_t>(o.write_buffer_bytes, 4u << 20);
  const size_t small_wb = std::max<size_t>(wb / 4, 4u << 20);
  CfTuning t{small_wb, 8 << 10, 0, true};
  switch (cf) {
    case kEvents:
      // Large values read by position: bigger blocks compress better; every Get hits, so
      // the last level needs no bloom filter.
      t = CfTuning{wb, 4 << 10, 0, true, true};
      break;
    case kIdxTime:
      t = CfTuning{small_wb, 8 << 10, 1, false};
      break;
    case kIdxAction:
    case kIdxActor:
      t = CfTuning{small_wb, 8 << 10, 2, false};
      break;
    case kItems:
      // Item records and the target index: two entries per target. GetItem is served by
      // the prefix filter (its key is exactly the prefix).
      t = CfTuning{std::max<size_t>(wb / 2, 4u << 20), 8 << 10, 3, false};
      break;
    case kMeta:
      t = CfTuning{4u << 20, 4 << 10, 0, true};
      break;
    case kMerkle:
      // Hashes do not compress; read in runs (tiles), never by point lookups.
      t = CfTuning{small_wb, 8 << 10, 0, true};
      break;
    default:
      break;
  }

  rocksdb::ColumnFamilyOptions c;
  c.write_buffer_size = t.write_buffer_bytes;
  c.max_write_buffer_number = 3;
  c.level_compaction_dynamic_level_bytes = true;
  c.target_file_size_base = 64 << 20;
  c.max_bytes_for_level_base = 256 << 20;
  // LZ4 throughout: indexes are read entry by entry (scans, counts, histories), and ZSTD's
  // per-block setup costs more than the whole LZ4 decode of an 8 KiB index block.
  c.compression = Supported(rocksdb::kLZ4Compression);
  c.bottommost_compression = Supported(rocksdb::kLZ4Compression);
  if (cf == kMerkle) {
    c.compression = rocksdb::kNoCompression;
    c.bottommost_compression = rocksdb::kNoCompression;
  }
  if (cf == kEvents) {
    switch (o.event_compression) {
      case EventCompression::kZstd:
        c.bottommost_compression = Supported(rocksdb::kZSTD);
        break;
      case EventCompression::kLz4:
        break;
      case EventCompression::kNone:
        c.compression = rocksdb::kNoCompression;
        c.bottommost_compression = rocksdb::kNoCompression;
        break;
    }
  }
  c.optimize_filters_for_hits = t.optimize_filters_for_hits;
  if (t.prefix_strings > 0) {
    c.prefix_extractor = std::make_shared<EncodedStringsPrefix>(t.prefix_strings);
  }
  if (cf != kEvents && cf != kMeta) {
    c.memtable_insert_with_hint_prefix_extractor = std::make_shared<SingleInsertGroup>();
  }
  if (cf == kItems) c.merge_operator = std::make_shared<ItemLifecycleMergeOperator>();

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.block_size = t.block_size;
  table.format_version = 5;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = t.whole_key_filtering;
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  table.optimize_filters_for_memory = true;
  c.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return c;
}

rocksdb::DBOptions MakeDbOptions(const RocksStoreOptions& o) {
  rocksdb::DBOptions d;
  d.max_background_jobs = std::max(o.background_jobs, 1);
  d.max_subcompactions = 1;
  d.bytes_per_sync = 1 << 20;
  d.max_open_files = 512;  // stays well below the default open-file limit of 1024
  // WAL files can only be deleted once every column family flushed past them; this bounds
  // them by flushing the rarely written families (meta, idempotency) when needed.
  d.max_total_wal_size = std::max<uint64_t>(4 * uint64_t{o.write_buffer_bytes}, 64u << 20);
  d.db_write_buffer_size = std::max<size_t>(3 * o.write_buffer_bytes, 32u << 20);
  d.keep_log_file_num = 4;
  d.max_log_file_size = 16 << 20;
  d.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  return d;
}

// ---------------------------------------------------------------------------------------
// Scans.

bool ListKeyLess(const ListKey& a, const ListKey& b) {
  return a.occurred_at != b.occurred_at ? a.occurred_at < b.occurred_at : a.seq < b.seq;
}

// An inclusive range [lo, hi] of (occurred_at, seq) keys.
struct ListRange {
  ListKey lo{kMinTs, 0};
  ListKey hi{kMaxTs, kMaxU64};
  bool empty = false;
};

ListRange ComputeRange(const ScanRequest& r) {
  ListRange range;
  if (r.filter.from) range.lo = ListKey{*r.filter.from, 0};
  if (r.filter.to) {
    if (*r.filter.to == kMinTs) return ListRange{{}, {}, true};
    range.hi = ListKey{*r.filter.to - 1, kMaxU64};
  }
  if (r.start_after) {
    const ListKey& s = *r.start_after;
    if (!r.descending) {
      ListKey next = s;
      if (s.seq != kMaxU64) {
        next.seq = s.seq + 1;
      } else if (s.occurred_at != kMaxTs) {
        next = ListKey{s.occurred_at + 1, 0};
      } else {
        return ListRange{{}, {}, true};
      }
      if (ListKeyLess(range.lo, next)) range.lo = next;
    } else {
      ListKey prev = s;
      if (s.seq != 0) {
        prev.seq = s.seq - 1;
      } else if (s.occurred_at != kMinTs) {
        prev = ListKey{s.occurred_at - 1, kMaxU64};
      } else {
        return ListRange{{}, {}, true};
      }
      if (ListKeyLess(prev, range.hi)) range.hi = prev;
    }
  }
  if (ListKeyLess(range.hi, range.lo)) range.empty = true;
  return range;
}

void AppendListKey(std::string* dst, const ListKey& k) {
  enc::AppendTimestamp(dst, k.occurred_at);
  enc::AppendU64(dst, k.seq);
}

// Writes the kListKeySize bytes of AppendListKey to `out`.
void StoreListKey(const ListKey& k, char* out) {
  enc::StoreTimestamp(k.occurred_at, out);
  enc::StoreU64(k.seq, out + enc::kTimestampSize);
}

// Iterates the keys `prefix | (occurred_at, seq)` of one index value within a ListRange, in
// scan direction.
class IndexCursor {
 public:
  IndexCursor(std::string prefix, const ListRange& range, bool descending)
      : prefix_(std::move(prefix)), descending_(descending) {
    lower_ = prefix_;
    AppendListKey(&lower_, range.lo);
    upper_ = prefix_;
    AppendListKey(&upper_, range.hi);  // the last key in range; the bound adds a 0x00
    upper_.push_back('\0');
    lower_slice_ = ToSlice(lower_);
    upper_slice_ = ToSlice(upper_);
  }
  // The iterator's bounds point into this object.
  IndexCursor(const IndexCursor&) = delete;
  IndexCursor& operator=(const IndexCursor&) = delete;

  Status Start(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, const rocksdb::Snapshot* snap,
               bool fill_cache = true) {
    rocksdb::ReadOptions ro;
    ro.snapshot = snap;
    ro.fill_cache = fill_cache;
    ro.iterate_lower_bound = &lower_slice_;
    // The bounds share the value's prefix, so they keep the scan within it; the prefix
    // extractor still lets Seek skip files by their prefix bloom filters.
    ro.iterate_upper_bound = &upper_slice_;
    it_.reset(db->NewIterator(ro, cf));
    if (descending_) {
      it_->SeekForPrev(rocksdb::Slice(upper_.data(), upper_.size() - 1));
    } else {
      it_->Seek(lower_slice_);
    }
    return Load();
  }

  Status Advance() {
    if (descending_) {
      it_->Prev();
    } else {
      it_->Next();
    }
    return Load();
  }

  bool valid() const { return valid_; }
  const ListKey& key() const { return key_; }
  uint64_t position() const { return position_; }

 private:
  Status Load() {
    valid_ = false;
    if (!it_->Valid()) {
      if (!it_->status().ok()) return FromRocks(it_->status(), "index scan failed");
      return Status::Ok();
    }
    // The iterator's bounds keep it within this value's keys; a key of another shape
    // (none is written within them) ends the scan.
    std::string_view k = ToView(it_->key());
    if (k.size() != prefix_.size() + kListKeySize) return Status::Ok();
    k.remove_prefix(prefix_.size());
    enc::ConsumeTimestamp(&k, &key_.occurred_at);
    enc::ConsumeU64(&k, &key_.seq);
    if (!enc::DecodeU64(ToView(it_->value()), &position_)) {
      return Corruption("an index entry holds no position");
    }
    valid_ = true;
    return Status::Ok();
  }

  const std::string prefix_;
  const bool descending_;
  std::string lower_, upper_;
  rocksdb::Slice lower_slice_, upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;
  bool valid_ = false;
  ListKey key_;
  uint64_t position_ = 0;
};

// Distinct values of the string component that follows `org_key` in an index whose keys
// start with org | string, among those starting with `value_prefix` (all when empty). Skips
// from one value to the next with one seek each. Sets *too_many and stops when more than
// `max_values` exist.
Result<std::vector<std::string>> DistinctValues(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                                                const rocksdb::Snapshot* snap,
                                                const std::string& org_key,
                                                std::string_view value_prefix, size_t max_values,
                                                bool* too_many) {
  std::string start = org_key;
  enc::AppendStringPrefix(&start, value_prefix);
  const std::string end = enc::PrefixSuccessor(start);
  const rocksdb::Slice start_slice = ToSlice(start);
  const rocksdb::Slice end_slice = ToSlice(end);
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.total_order_seek = true;
  ro.iterate_lower_bound = &start_slice;
  if (!end.empty()) ro.iterate_upper_bound = &end_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, cf));

  std::vector<std::string> values;
  *too_many = false;
  std::string next;
  it->Seek(start_slice);
  while (it->Valid()) {
    std::string_view k = ToView(it->key());
    if (k.substr(0, start.size()) != start) break;
    k.remove_prefix(org_key.size());
    std::string value;
    if (!enc::ConsumeString(&k, &value)) return Corruption("a malformed index key");
    if (values.size() == max_values) {
      *too_many = true;
      break;
    }
    values.push_back(std::move(value));
    next = org_key;
    enc::AppendString(&next, values.back());
    next = enc::PrefixSuccessor(next);  // past every key of this value
    it->Seek(ToSlice(next));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "index scan failed");
  return values;
}

// The whole filter, evaluated on a stored event's header (never its JSON).
bool MatchesFilter(const EventFilter& f, const EventView& e) {
  return MatchesFilterFields(f, e.organization_id, e.occurred_at, e.action, e.actor_id,
                             [&](auto&& pred) { return AnyTarget(e, pred); });
}

std::vector<std::string> Dedup(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

struct ScanPlan {
  Cf cf = kIdxTime;
  std::vector<std::string> prefixes;  // one per index value
  bool exact = false;                 // the index alone decides the filter
  bool nothing = false;               // provably no match
};

Result<ScanPlan> PlanScan(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& h,
                          const rocksdb::Snapshot* snap, const EventFilter& f) {
  const std::string org_key = enc::EncodeString(f.organization_id);
  const bool has_actions = !f.actions.empty() || !f.action_prefixes.empty();
  const bool has_actors = !f.actor_ids.empty();
  const bool has_targets = !f.target_types.empty() || !f.target_ids.empty();
  ScanPlan plan;

  if (!f.target_ids.empty()) {
    std::vector<std::string> types = Dedup(f.target_types);
    const std::vector<std::string> ids = Dedup(f.target_ids);
    bool too_many = false;
    if (types.empty()) {
      // The key leads with the type: enumerate the organization's target types.
      auto r =
          DistinctValues(db, h[kItems], snap, org_key, "", kMaxScanCursors / ids.size(), &too_many);
      if (!r.ok()) return r.status();
      types = std::move(r).value();
    }
    if (!too_many && types.size() * ids.size() <= kMaxScanCursors) {
      plan.cf = kItems;
      for (const auto& type : types) {
        for (const auto& id : ids) {
          std::string p = org_key;
          enc::AppendString(&p, type);
          enc::AppendString(&p, id);
          plan.prefixes.push_back(std::move(p));
        }
      }
      plan.exact = !has_actions && !has_actors;
      plan.nothing = plan.prefixes.empty();
      return plan;
    }
  }
  if (has_actors && f.actor_ids.size() <= kMaxScanCursors) {
    plan.cf = kIdxActor;
    for (const auto& actor : Dedup(f.actor_ids)) {
      std::string p = org_key;
      enc::AppendString(&p, actor);
      plan.prefixes.push_back(std::move(p));
    }
    plan.exact = !has_actions && !has_targets;
    return plan;
  }
  if (has_actions) {
    std::vector<std::string> actions = f.actions;
    bool too_many = actions.size() > kMaxScanCursors;
    for (size_t i = 0; !too_many && i < f.action_prefixes.size(); ++i) {
      auto r = DistinctValues(db, h[kIdxAction], snap, org_key, f.action_prefixes[i],
                              kMaxScanCursors, &too_many);
      if (!r.ok()) return r.status();
      for (auto& a : r.value()) actions.push_back(std::move(a));
    }
    actions = Dedup(std::move(actions));
    if (!too_many && actions.size() <= kMaxScanCursors) {
      plan.cf = kIdxAction;
      for (const auto& action : actions) {
        std::string p = org_key;
        enc::AppendString(&p, action);
        plan.prefixes.push_back(std::move(p));
      }
      plan.exact = !has_actors && !has_targets;
      plan.nothing = plan.prefixes.empty();
      return plan;
    }
  }
  plan.cf = kIdxTime;
  plan.prefixes.push_back(org_key);
  plan.exact = !has_actions && !has_actors && !has_targets;
  return plan;
}

// Merges index cursors into one stream in scan order (a k-way merge over a binary heap),
// dropping repeats of one event (an event can be found through two of its targets).
class MergedCursor {
 public:
  MergedCursor(std::vector<std::unique_ptr<IndexCursor>> cursors, bool descending)
      : cursors_(std::move(cursors)), descending_(descending) {
    for (auto& c : cursors_) {
      if (c->valid()) heap_.push_back(c.get());
    }
    std::make_heap(heap_.begin(), heap_.end(), Later{descending_});
  }

  // Fills *key/*position with the next entry; false at the end.
  Result<bool> Next(ListKey* key, uint64_t* position) {
    while (!heap_.empty()) {
      std::pop_heap(heap_.begin(), heap_.end(), Later{descending_});
      IndexCursor* c = heap_.back();
      const ListKey k = c->key();
      const uint64_t pos = c->position();
      ANNALS_RETURN_IF_ERROR(c->Advance());
      if (c->valid()) {
        std::push_heap(heap_.begin(), heap_.end(), Later{descending_});
      } else {
        heap_.pop_back();
      }
      if (emitted_any_ && k == last_) continue;
      emitted_any_ = true;
      last_ = k;
      *key = k;
      *position = pos;
      return true;
    }
    return false;
  }

 private:
  // Heap order: the top is the cursor whose key comes first in scan direction.
  struct Later {
    bool descending;
    bool operator()(const IndexCursor* a, const IndexCursor* b) const {
      return descending ? ListKeyLess(a->key(), b->key()) : ListKeyLess(b->key(), a->key());
    }
  };

  std::vector<std::unique_ptr<IndexCursor>> cursors_;
  std::vector<IndexCursor*> heap_;
  const bool descending_;
  bool emitted_any_ = false;
  ListKey last_;
};

// The entries of one column family for one append, kept in one buffer and added to the
// WriteBatch in key order (stable, so operands of one key keep their order).
class SortedEntries {
 public:
  void Clear() {
    buffer_.clear();
    entries_.clear();
    key_start_ = 0;
  }
  // The buffer to append the next key's bytes to; Add() ends the key.
  std::string& Key() { return buffer_; }
  void Add(std::string_view value, bool merge = false) {
    const size_t key_size = buffer_.size() - key_start_;
    buffer_.append(value);
    entries_.push_back(Entry{key_start_, key_size, value.size(), merge});
    key_start_ = buffer_.size();
  }
  size_t ApproximateBatchBytes() const { return buffer_.size() + entries_.size() * 8; }

  rocksdb::Status SortInto(rocksdb::WriteBatch* wb, rocksdb::ColumnFamilyHandle* cf) {
    const char* base = buffer_.data();
    std::stable_sort(entries_.begin(), entries_.end(), [base](const Entry& a, const Entry& b) {
      return std::string_view(base + a.start, a.key_size) <
             std::string_view(base + b.start, b.key_size);
    });
    for (const Entry& e : entries_) {
      const rocksdb::Slice key(base + e.start, e.key_size);
      const rocksdb::Slice value(base + e.start + e.key_size, e.value_size);
      rocksdb::Status s = e.merge ? wb->Merge(cf, key, value) : wb->Put(cf, key, value);
      if (!s.ok()) return s;
    }
    return rocksdb::Status::OK();
  }

 private:
  struct Entry {
    size_t start;  // of the key; the value follows it
    size_t key_size;
    size_t value_size;
    bool merge;
  };
  std::string buffer_;
  std::vector<Entry> entries_;
  size_t key_start_ = 0;
};

}  // namespace

// Buffers reused by every Append (their capacity survives); guarded by write_mu_.
struct RocksStore::AppendScratch {
  SortedEntries by_cf[kCfCount];
  std::string org_key, header, item_key, item_operand;
  std::vector<size_t> targets;
  std::vector<merkle::SubtreeHash> finished;
  MerkleRuns merkle_runs;
};

// ---------------------------------------------------------------------------------------
// Open / close.

struct RocksStore::OpenedDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
};

RocksStore::RocksStore(const RocksStoreOptions& options, OpenedDb opened)
    : options_(options),
      db_(std::move(opened.db)),
      handles_(std::move(opened.handles)),
      scratch_(std::make_unique<AppendScratch>()) {}

RocksStore::~RocksStore() {
  if (db_ == nullptr) return;
  for (auto* h : handles_) {
    if (h != nullptr) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
  handles_.clear();
  db_->Close().PermitUncheckedError();
}

Result<std::unique_ptr<RocksStore>> RocksStore::Open(const RocksStoreOptions& options) {
  return OpenWithEnv(options, nullptr);
}

Result<std::unique_ptr<RocksStore>> RocksStore::OpenWithEnv(const RocksStoreOptions& options,
                                                            rocksdb::Env* env) {
  namespace fs = std::filesystem;
  const std::string& path = options.path;
  if (path.empty()) return Status::InvalidArgument("the store path is empty");

  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  const bool has_current = exists && fs::exists(fs::path(path) / "CURRENT", ec);
  bool fresh = false;
  std::vector<std::string> existing_cfs;
  rocksdb::DBOptions db_options = MakeDbOptions(options);
  if (env != nullptr) db_options.env = env;

  if (!has_current) {
    if (exists && !fs::is_directory(path, ec)) {
      return NotAnnalsStore(path, "is not a directory");
    }
    if (exists && !fs::is_empty(path, ec)) {
      return NotAnnalsStore(path, "is not empty and does not hold an annals store");
    }
    if (!options.create_if_missing) {
      return Status::NotFound("no annals store in data directory " + path, "store_not_found");
    }
    fs::create_directories(path, ec);
    if (ec) {
      return Status::Internal("cannot create data directory " + path + ": " + ec.message());
    }
    fresh = true;
    db_options.create_if_missing = true;
    db_options.create_missing_column_families = true;
    for (const char* name : kCfNames) existing_cfs.emplace_back(name);
  } else {
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(db_options, path, &existing_cfs);
    if (!s.ok()) {
      return NotAnnalsStore(path, "does not hold a readable annals store (" + s.ToString() + ")");
    }
    if (std::find(existing_cfs.begin(), existing_cfs.end(), "meta") == existing_cfs.end()) {
      return NotAnnalsStore(path, "holds a database that is not an annals store");
    }
    // A format-1 store lacks the families format 2 added; the upgrade below fills them.
    db_options.create_missing_column_families = true;
    for (const char* name : kCfNames) {
      if (std::find(existing_cfs.begin(), existing_cfs.end(), name) == existing_cfs.end()) {
        existing_cfs.emplace_back(name);
      }
    }
  }

  // Open every existing column family (RocksDB requires it); unknown ones, which only a
  // newer format could have written, get default options until the version check below.
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  std::vector<int> cf_index;  // descriptor i -> Cf, or -1 when unknown
  for (const auto& name : existing_cfs) {
    const auto* known = std::find_if(std::begin(kCfNames), std::end(kCfNames),
                                     [&](const char* n) { return name == n; });
    if (known != std::end(kCfNames)) {
      const int index = static_cast<int>(known - std::begin(kCfNames));
      descriptors.emplace_back(name, MakeCfOptions(index, options, cache));
      cf_index.push_back(index);
    } else {
      descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
      cf_index.push_back(-1);
    }
  }
  rocksdb::DB* raw_db = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
  rocksdb::Status s = rocksdb::DB::Open(db_options, path, descriptors, &raw_handles, &raw_db);
  if (!s.ok()) {
    if (IsLockError(s)) {
      return Status(Code::kUnavailable, "store_locked",
                    "another process holds the data directory " + path +
                        " (stop the annals that uses it, or go through its API)");
    }
    return Status::Internal("cannot open the store in " + path + ": " + s.ToString());
  }

  OpenedDb opened;
  opened.db.reset(raw_db);
  opened.handles.assign(kCfCount, nullptr);
  std::vector<rocksdb::ColumnFamilyHandle*> unknown_handles;
  std::string unknown_name;
  for (size_t i = 0; i < raw_handles.size(); ++i) {
    if (cf_index[i] >= 0) {
      opened.handles[cf_index[i]] = raw_handles[i];
    } else {
      unknown_handles.push_back(raw_handles[i]);
      unknown_name = existing_cfs[i];
    }
  }
  for (auto* h : unknown_handles) opened.db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  // From here on the RocksStore owns and closes the database, also on failure.
  std::unique_ptr<RocksStore> store(new RocksStore(options, std::move(opened)));

  rocksdb::DB* db = store->db_.get();
  std::string version;
  s = db->Get(rocksdb::ReadOptions(), store->cf(kMeta), ToSlice(kMetaFormatVersion), &version);
  if (s.IsNotFound()) {
    // A new store, or one whose creation stopped before the version was written (then all
    // of it is still empty). Anything else is not ours.
    bool empty = unknown_handles.empty();
    rocksdb::ReadOptions ro;
    ro.total_order_seek = true;
    for (int i = kEvents; empty && i < kCfCount; ++i) {
      if (store->cf(i) == nullptr) continue;
      std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, store->cf(i)));
      it->SeekToFirst();
      empty = !it->Valid() && it->status().ok();
    }
    if (!empty && !fresh) {
      return NotAnnalsStore(path, "holds a database without an annals format version");
    }
    version = std::to_string(kFormatVersion);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db->Put(wo, store->cf(kMeta), ToSlice(kMetaFormatVersion), version);
    if (!s.ok()) return FromRocks(s, "cannot initialize the store in " + path);
  } else if (!s.ok()) {
    return FromRocks(s, "cannot read the store's format version in " + path);
  }
  if (version == "1" && unknown_name.empty()) {
    ANNALS_RETURN_IF_ERROR(store->UpgradeFromFormat1());
    version = std::to_string(kFormatVersion);
  }
  if (version == "2" && unknown_name.empty()) {
    // Format 3 adds the merkle column family; CatchUpMerkleLog fills it below.
    rocksdb::WriteOptions wo;
    wo.sync = true;
    version = std::to_string(kFormatVersion);
    s = db->Put(wo, store->cf(kMeta), ToSlice(kMetaFormatVersion), version);
    if (!s.ok()) return FromRocks(s, "cannot upgrade the store in " + path);
  }
  if (version != std::to_string(kFormatVersion)) {
    int n = 0;
    const auto [ptr, err] = std::from_chars(version.data(), version.data() + version.size(), n);
    const std::string shown = (err == std::errc() && ptr == version.data() + version.size())
                                  ? version
                                  : "'" + version + "' (unknown)";
    return Status(Code::kInvalidArgument, "unsupported_store_format",
                  "data directory " + path + " was written by format version " + shown +
                      "; this annals understands version " + std::to_string(kFormatVersion));
  }
  if (!unknown_name.empty()) {
    return Corruption("data directory " + path + " holds an unknown column family '" +
                      unknown_name + "'");
  }
  for (int i = 0; i < kCfCount; ++i) {
    if (store->cf(i) == nullptr) {
      return Corruption("data directory " + path + " lacks the column family '" +
                        std::string(kCfNames[i]) + "'");
    }
  }
  ANNALS_RETURN_IF_ERROR(store->LoadCounters());
  if (options.merkle_log && options.merkle_catch_up) {
    ANNALS_RETURN_IF_ERROR(store->CatchUpMerkleLog());
  }
  return store;
}

// Format 1 -> 2: the purge queue (item_deletions) gets an entry for every item that is
// deleted now; purged_items starts empty; event and idempotency values of format 1 stay
// readable as they are.
Status RocksStore::UpgradeFromFormat1() {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kItems)));
  rocksdb::WriteBatch wb;
  uint64_t pending = 0;
  std::string key;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    std::string_view k = ToView(it->key());
    std::string org, type, id;
    if (!enc::ConsumeString(&k, &org) || !enc::ConsumeString(&k, &type) ||
        !enc::ConsumeString(&k, &id)) {
      return Corruption("a malformed item key");
    }
    if (!k.empty()) continue;  // a timeline entry
    ItemState state;
    if (!DecodeItemState(ToView(it->value()), &state)) return Corruption("a malformed item record");
    if (state.change_op != ChangeOp::kDelete) continue;
    key.clear();
    enc::AppendString(&key, org);
    enc::AppendTimestamp(&key, state.change_ts);
    enc::AppendString(&key, type);
    enc::AppendString(&key, id);
    enc::AppendU64(&key, state.change_seq);
    rocksdb::Status s = wb.Put(cf(kDeletions), key, "");
    if (!s.ok()) return FromRocks(s, "cannot build the format upgrade");
    if (++pending >= 4096) {
      ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, false));
      wb.Clear();
      pending = 0;
    }
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read items for the upgrade");
  rocksdb::Status s = wb.Put(cf(kMeta), ToSlice(kMetaFormatVersion), std::to_string(kFormatVersion));
  if (!s.ok()) return FromRocks(s, "cannot build the format upgrade");
  return WriteBatchOrFail(&wb, true);
}

Status RocksStore::LoadCounters() {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kMeta), ToSlice(kMetaLastPosition), &value);
  uint64_t last_position = 0;
  if (s.ok()) {
    if (!enc::DecodeU64(value, &last_position)) return Corruption("a malformed last position");
  } else if (!s.IsNotFound()) {
    return FromRocks(s, "cannot read the last position");
  }
  last_position_.store(last_position);

  std::unordered_map<std::string, uint64_t> seqs;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kMeta)));
  for (it->Seek(ToSlice(kMetaOrgSeqPrefix));
       it->Valid() && ToView(it->key()).starts_with(kMetaOrgSeqPrefix); it->Next()) {
    uint64_t seq = 0;
    if (!enc::DecodeU64(ToView(it->value()), &seq)) return Corruption("a malformed org seq");
    seqs.emplace(std::string(ToView(it->key()).substr(kMetaOrgSeqPrefix.size())), seq);
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read the org seqs");
  std::unique_lock lock(seq_mu_);
  last_seq_ = std::move(seqs);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------
// Writes.

Status RocksStore::CheckWritable() const {
  if (!failed()) return Status::Ok();
  std::lock_guard lock(failure_mu_);
  return Status::Unavailable("the store refuses writes after an earlier write failed (" +
                                 failure_message_ + "); restart annals once the cause is fixed",
                             "store_failed");
}

Status RocksStore::WriteBatchOrFail(rocksdb::WriteBatch* batch, bool sync) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  rocksdb::Status s;
  if (fail_next_write_.exchange(false)) {
    s = rocksdb::Status::IOError("injected write failure");
  } else {
    rocksdb::WriteOptions wo;
    wo.sync = sync;
    s = db_->Write(wo, batch);
  }
  if (s.ok()) return Status::Ok();
  {
    std::lock_guard lock(failure_mu_);
    if (!failed()) failure_message_ = s.ToString();
  }
  failed_.store(true, std::memory_order_release);
  return Status::Unavailable("writing to the store failed: " + s.ToString(), "store_failed");
}

Status RocksStore::Append(const AppendBatch& batch) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  if (batch.events.empty() && batch.idempotency.empty()) return Status::Ok();
  std::lock_guard write_lock(write_mu_);

  // Check that positions and per-organization seqs continue without gaps, and collect the
  // organizations' new last seqs.
  std::unordered_map<std::string_view, uint64_t> org_last;
  {
    uint64_t expected_position = last_position_.load() + 1;
    std::shared_lock seq_lock(seq_mu_);
    const std::string* current_org = nullptr;
    uint64_t* current_last = nullptr;
    for (const EventRecord& e : batch.events) {
      if (e.position != expected_position) {
        return Status::Internal("append batch breaks the position sequence: expected " +
                                std::to_string(expected_position) + ", got " +
                                std::to_string(e.position));
      }
      ++expected_position;
      const std::string& org = e.fields.organization_id;
      if (current_org == nullptr || *current_org != org) {
        auto [slot, inserted] = org_last.try_emplace(org, 0);
        if (inserted) {
          auto it = last_seq_.find(org);
          slot->second = it == last_seq_.end() ? 0 : it->second;
        }
        current_org = &org;
        current_last = &slot->second;
      }
      if (e.seq != *current_last + 1) {
        return Status::Internal("append batch breaks the seq sequence of organization " + org +
                                ": expected " + std::to_string(*current_last + 1) + ", got " +
                                std::to_string(e.seq));
      }
      *current_last = e.seq;
    }
  }

  // Index entries are collected per column family and handed to RocksDB sorted by key, so
  // that each memtable insert starts near the previous one (the insert hint set up in
  // MakeCfOptions); memtable inserts are most of the cost of an append.
  AppendScratch& scratch = *scratch_;
  for (auto& entries : scratch.by_cf) entries.Clear();
  std::string& org_key = scratch.org_key;  // encoded organization of the current event
  std::string& header = scratch.header;
  std::string& item_operand = scratch.item_operand;
  const std::string* org_of_key = nullptr;
  char position[enc::kU64Size];
  char list_key[kListKeySize];
  std::vector<size_t>& targets = scratch.targets;  // indexes of an event's distinct targets
  size_t json_bytes = 0;
  for (const EventRecord& e : batch.events) {
    const EventIndexFields& f = e.fields;
    json_bytes += e.json.size();
    if (org_of_key == nullptr || *org_of_key != f.organization_id) {
      org_key.clear();
      enc::AppendString(&org_key, f.organization_id);
      org_of_key = &f.organization_id;
    }
    StoreListKey(ListKey{f.occurred_at, e.seq}, list_key);
    enc::StoreU64(e.position, position);
    const std::string_view pos(position, sizeof(position));
    const std::string_view list(list_key, sizeof(list_key));

    SortedEntries& ids = scratch.by_cf[kEventIds];
    ids.Key().append(e.id);
    ids.Add(pos);

    SortedEntries& org_seq = scratch.by_cf[kOrgSeq];
    org_seq.Key().append(org_key);
    enc::AppendU64(&org_seq.Key(), e.seq);
    org_seq.Add(pos);

    SortedEntries& by_time = scratch.by_cf[kIdxTime];
    by_time.Key().append(org_key).append(list);
    by_time.Add(pos);

    SortedEntries& by_action = scratch.by_cf[kIdxAction];
    by_action.Key().append(org_key);
    enc::AppendString(&by_action.Key(), f.action);
    by_action.Key().append(list);
    by_action.Add(pos);

    SortedEntries& by_actor = scratch.by_cf[kIdxActor];
    by_actor.Key().append(org_key);
    enc::AppendString(&by_actor.Key(), f.actor_id);
    by_actor.Key().append(list);
    by_actor.Add(pos);

    ItemState item;
    item.first_ts = item.last_ts = f.occurred_at;
    item.first_seq = item.last_seq = e.seq;
    item.count = 1;
    item.change_op = f.change_op;
    item.change_ts = f.occurred_at;
    item.change_seq = e.seq;
    item_operand.clear();
    EncodeItemState(item, &item_operand);

    targets.clear();
    for (size_t i = 0; i < f.targets.size(); ++i) {
      bool repeated = false;
      for (size_t j : targets) repeated = repeated || f.targets[j] == f.targets[i];
      if (!repeated) targets.push_back(i);
    }
    // Per distinct target: a merge operand for the item record and the target index
    // entry, adjacent in key order.
    SortedEntries& items = scratch.by_cf[kItems];
    std::string& item_key = scratch.item_key;
    for (size_t i : targets) {
      const TargetRef& t = f.targets[i];
      item_key.assign(org_key);
      enc::AppendString(&item_key, t.type);
      enc::AppendString(&item_key, t.id);
      items.Key().append(item_key);
      items.Add(item_operand, /*merge=*/true);
      items.Key().append(item_key).append(list);
      items.Add(pos);
      if (f.change_op == ChangeOp::kDelete) {
        // The purge queue: items by deletion time (docs/storage.md "item_deletions").
        SortedEntries& deletions = scratch.by_cf[kDeletions];
        deletions.Key().append(org_key);
        enc::AppendTimestamp(&deletions.Key(), f.occurred_at);
        enc::AppendString(&deletions.Key(), t.type);
        enc::AppendString(&deletions.Key(), t.id);
        enc::AppendU64(&deletions.Key(), e.seq);
        deletions.Add("");
      }
    }
  }
  // The Merkle log: each event's commitment as leaf seq - 1, and every node of 2^(4t) leaves
  // that the event completes. The frontiers are working copies until the write succeeds.
  std::unordered_map<std::string_view, merkle::CompactRange> trees;
  MerkleRuns& merkle_runs = scratch.merkle_runs;
  merkle_runs.Clear();
  if (options_.merkle_log) {
    std::vector<merkle::SubtreeHash>& finished = scratch.finished;
    const std::string* tree_org = nullptr;
    merkle::CompactRange* tree = nullptr;
    for (const EventRecord& e : batch.events) {
      const std::string& org = e.fields.organization_id;
      if (tree_org == nullptr || *tree_org != org) {
        if (org_of_key == nullptr || *org_of_key != org) {
          org_key.clear();
          enc::AppendString(&org_key, org);
          org_of_key = &org;
        }
        auto it = trees.find(org);
        if (it == trees.end()) {
          Result<merkle::CompactRange> loaded = LoadTree(org, e.seq - 1);
          if (!loaded.ok()) return loaded.status();
          it = trees.emplace(org, std::move(*loaded)).first;
        }
        tree_org = &org;
        tree = &it->second;
      }
      if (tree->size() != e.seq - 1) {
        return Status::Internal("the Merkle log of organization " + org + " holds " +
                                std::to_string(tree->size()) + " leaves, but seq " +
                                std::to_string(e.seq) + " is being appended");
      }
      Digest commitment;
      Sha256Into(e.json, commitment.data());
      ANNALS_RETURN_IF_ERROR(AddMerkleLeaf(org_key, commitment, tree, &finished, &merkle_runs));
    }
  }

  for (const IdempotencyRecord& r : batch.idempotency) {
    SortedEntries& idem = scratch.by_cf[kIdempotency];
    enc::AppendString(&idem.Key(), r.organization_id);
    enc::AppendString(&idem.Key(), r.key);
    header.clear();
    EncodeIdempotency(r, &header);
    idem.Add(header);
  }

  size_t reserve = 256 + json_bytes + org_last.size() * 64;
  for (const auto& entries : scratch.by_cf) reserve += entries.ApproximateBatchBytes();
  rocksdb::WriteBatch wb(reserve);
  rocksdb::Status s;
  // Events are already in key (position) order; their values are written from two parts.
  for (const EventRecord& e : batch.events) {
    enc::StoreU64(e.position, position);
    const rocksdb::Slice key(position, sizeof(position));
    header.clear();
    EncodeEventHeader(e, &header);
    const rocksdb::Slice value_parts[2] = {ToSlice(header), ToSlice(e.json)};
    s = wb.Put(cf(kEvents), rocksdb::SliceParts(&key, 1), rocksdb::SliceParts(value_parts, 2));
    if (!s.ok()) return FromRocks(s, "cannot build the append batch");
  }
  for (int i = kEventIds; i < kMeta; ++i) {
    s = scratch.by_cf[i].SortInto(&wb, cf(i));
    if (!s.ok()) return FromRocks(s, "cannot build the append batch");
  }
  s = merkle_runs.WriteTo(&wb, cf(kMerkle));
  if (!s.ok()) return FromRocks(s, "cannot build the append batch");
  const uint64_t new_last_position =
      batch.events.empty() ? last_position_.load() : batch.events.back().position;
  if (!batch.events.empty()) {
    enc::StoreU64(new_last_position, position);
    s = wb.Put(cf(kMeta), ToSlice(kMetaLastPosition), rocksdb::Slice(position, sizeof(position)));
  }
  std::string& key = scratch.org_key;
  for (const auto& [org, seq] : org_last) {
    key.assign(kMetaOrgSeqPrefix);
    key.append(org);
    enc::StoreU64(seq, position);
    if (s.ok()) s = wb.Put(cf(kMeta), ToSlice(key), rocksdb::Slice(position, sizeof(position)));
  }
  if (!s.ok()) return FromRocks(s, "cannot build the append batch");

  ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, options_.sync));

  last_position_.store(new_last_position, std::memory_order_release);
  if (!trees.empty()) {
    std::lock_guard tree_lock(tree_mu_);
    for (auto& [org, tree] : trees) trees_[std::string(org)] = std::move(tree);
  }
  std::unique_lock seq_lock(seq_mu_);
  for (const auto& [org, seq] : org_last) {
    auto it = last_seq_.find(std::string(org));
    if (it == last_seq_.end()) {
      last_seq_.emplace(std::string(org), seq);
    } else {
      it->second = seq;
    }
  }
  return Status::Ok();
}

Status RocksStore::PutMeta(const std::string& name, const std::string& value) {
  std::string key(kMetaUserPrefix);
  key += name;
  rocksdb::WriteBatch wb;
  rocksdb::Status s = wb.Put(cf(kMeta), key, value);
  if (!s.ok()) return FromRocks(s, "cannot build a metadata write");
  std::lock_guard lock(write_mu_);
  return WriteBatchOrFail(&wb, options_.sync);
}

Status RocksStore::DeleteMeta(const std::string& name) {
  std::string key(kMetaUserPrefix);
  key += name;
  rocksdb::WriteBatch wb;
  rocksdb::Status s = wb.Delete(cf(kMeta), key);
  if (!s.ok()) return FromRocks(s, "cannot build a metadata write");
  std::lock_guard lock(write_mu_);
  return WriteBatchOrFail(&wb, options_.sync);
}

Result<uint64_t> RocksStore::ExpireIdempotency(TimestampUs now) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  // Rounds of at most kRound examined records; each round reads and deletes under the
  // writer lock, so an Append cannot replace a record between its read and its deletion.
  constexpr size_t kRound = 4096;
  uint64_t removed = 0;
  std::string resume;  // the first key of the next round
  bool done = false;
  while (!done) {
    std::lock_guard lock(write_mu_);
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf(kIdempotency)));
    rocksdb::WriteBatch wb;
    size_t examined = 0;
    uint64_t round_removed = 0;
    for (it->Seek(resume); it->Valid() && examined < kRound; it->Next(), ++examined) {
      IdempotencyRecord r;
      if (!DecodeIdempotency(ToView(it->value()), &r)) {
        return Corruption("a malformed idempotency record");
      }
      if (r.expires_at <= now) {
        rocksdb::Status s = wb.Delete(cf(kIdempotency), it->key());
        if (!s.ok()) return FromRocks(s, "cannot build an idempotency expiry");
        ++round_removed;
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read idempotency records");
    if (it->Valid()) {
      resume = it->key().ToString();
    } else {
      done = true;
    }
    if (round_removed > 0) {
      ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, options_.sync));
      removed += round_removed;
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------
// Reads.

Result<uint64_t> RocksStore::LastPosition() {
  return last_position_.load(std::memory_order_acquire);
}

Result<uint64_t> RocksStore::LastSeq(const std::string& organization_id) {
  std::shared_lock lock(seq_mu_);
  auto it = last_seq_.find(organization_id);
  return it == last_seq_.end() ? uint64_t{0} : it->second;
}

Result<std::optional<EventRecord>> RocksStore::GetEventByPosition(uint64_t position) {
  rocksdb::PinnableSlice value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kEvents), enc::EncodeU64(position), &value);
  // An index entry whose event is gone (a concurrent purge) reads as "no such event".
  if (s.IsNotFound()) return std::optional<EventRecord>();
  if (!s.ok()) return FromRocks(s, "cannot read an event");
  if (IsTombstone(ToView(value))) {
    EventRecord tombstone;
    if (!DecodeTombstone(ToView(value), position, &tombstone)) {
      return Corruption("a malformed event tombstone");
    }
    return std::optional<EventRecord>(std::move(tombstone));
  }
  EventView view;
  if (!ParseEventValue(ToView(value), &view)) return Corruption("a malformed event record");
  return std::optional<EventRecord>(ToEventRecord(view, position));
}

Result<std::optional<EventRecord>> RocksStore::GetEvent(const std::string& id) {
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kEventIds), id, &value);
  if (s.IsNotFound()) return std::optional<EventRecord>();
  if (!s.ok()) return FromRocks(s, "cannot read an event id");
  uint64_t position = 0;
  if (!enc::DecodeU64(value, &position)) return Corruption("a malformed event id entry");
  return GetEventByPosition(position);
}

Result<std::optional<EventRecord>> RocksStore::GetEventBySeq(const std::string& organization_id,
                                                             uint64_t seq) {
  std::string key = enc::EncodeString(organization_id);
  enc::AppendU64(&key, seq);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kOrgSeq), key, &value);
  if (s.IsNotFound()) return std::optional<EventRecord>();
  if (!s.ok()) return FromRocks(s, "cannot read an org seq entry");
  uint64_t position = 0;
  if (!enc::DecodeU64(value, &position)) return Corruption("a malformed org seq entry");
  return GetEventByPosition(position);
}

Result<std::vector<EventRecord>> RocksStore::ReadFrom(uint64_t after_position, size_t limit) {
  std::vector<EventRecord> out;
  if (limit == 0 || after_position == kMaxU64) return out;
  out.reserve(std::min<size_t>(limit, 4096));
  rocksdb::ReadOptions ro;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kEvents)));
  for (it->Seek(enc::EncodeU64(after_position + 1)); it->Valid() && out.size() < limit;
       it->Next()) {
    uint64_t position = 0;
    EventView view;
    if (IsTombstone(ToView(it->value()))) continue;  // purged
    if (!enc::DecodeU64(ToView(it->key()), &position) ||
        !ParseEventValue(ToView(it->value()), &view)) {
      return Corruption("a malformed event record");
    }
    out.push_back(ToEventRecord(view, position));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read events");
  return out;
}

Result<std::vector<EventRecord>> RocksStore::ReadOrganization(const std::string& organization_id,
                                                              uint64_t after_seq, size_t limit,
                                                              bool fill_cache) {
  std::vector<EventRecord> out;
  if (limit == 0 || after_seq == kMaxU64) return out;
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ro.fill_cache = fill_cache;
  const std::string prefix = enc::EncodeString(organization_id);
  const std::string upper = prefix + std::string(8, '\xff') + '\xff';
  rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions iro = ro;
  iro.iterate_upper_bound = &upper_slice;
  std::string start = prefix;
  enc::AppendU64(&start, after_seq + 1);
  std::vector<uint64_t> positions;
  std::vector<std::string> keys;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(iro, cf(kOrgSeq)));
  for (it->Seek(start); it->Valid() && positions.size() < limit; it->Next()) {
    uint64_t position = 0;
    if (!enc::DecodeU64(ToView(it->value()), &position)) {
      return Corruption("a malformed org seq entry");
    }
    positions.push_back(position);
    keys.push_back(enc::EncodeU64(position));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read an organization's log");
  if (positions.empty()) return out;
  std::vector<rocksdb::Slice> key_slices(keys.begin(), keys.end());
  std::vector<rocksdb::PinnableSlice> values(positions.size());
  std::vector<rocksdb::Status> statuses(positions.size());
  db_->MultiGet(ro, cf(kEvents), positions.size(), key_slices.data(), values.data(),
                statuses.data(), /*sorted_input=*/true);
  out.reserve(positions.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "cannot read an event");
    if (IsTombstone(ToView(values[i]))) {
      EventRecord tombstone;
      if (!DecodeTombstone(ToView(values[i]), positions[i], &tombstone)) {
        return Corruption("a malformed event tombstone");
      }
      out.push_back(std::move(tombstone));
      continue;
    }
    EventView view;
    if (!ParseEventValue(ToView(values[i]), &view)) return Corruption("a malformed event record");
    out.push_back(ToEventRecord(view, positions[i]));
  }
  return out;
}

namespace {

// The index cursors of a scan over one snapshot, merged in scan order. `nothing` when the
// plan proves that no event matches.
struct OpenScan {
  bool nothing = false;
  bool exact = false;  // the index alone decides the filter
  std::unique_ptr<MergedCursor> merged;
};

Result<OpenScan> StartScan(rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& h,
                           const rocksdb::Snapshot* snap, const ScanRequest& request,
                           const ListRange& range) {
  OpenScan open;
  auto planned = PlanScan(db, h, snap, request.filter);
  if (!planned.ok()) return planned.status();
  const ScanPlan& plan = planned.value();
  open.nothing = plan.nothing;
  open.exact = plan.exact;
  if (plan.nothing) return open;
  std::vector<std::unique_ptr<IndexCursor>> cursors;
  cursors.reserve(plan.prefixes.size());
  for (const auto& prefix : plan.prefixes) {
    auto c = std::make_unique<IndexCursor>(prefix, range, request.descending);
    ANNALS_RETURN_IF_ERROR(c->Start(db, h[plan.cf], snap, request.fill_cache));
    cursors.push_back(std::move(c));
  }
  open.merged = std::make_unique<MergedCursor>(std::move(cursors), request.descending);
  return open;
}

// slot[i] is the place of positions[i] in the positions sorted ascending (stable: repeats
// keep their order).
std::vector<uint32_t> SortedSlots(const std::vector<uint64_t>& positions) {
  const size_t n = positions.size();
  std::vector<uint32_t> slot(n);
  std::iota(slot.begin(), slot.end(), 0u);
  if (!std::is_sorted(positions.begin(), positions.end())) {
    std::vector<uint32_t> order(slot);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t a, uint32_t b) { return positions[a] < positions[b]; });
    for (uint32_t k = 0; k < n; ++k) slot[order[k]] = k;
  }
  return slot;
}

// Reads the events at `positions` with one MultiGet and calls visit(i, view) for each one
// that is stored (not purged) and matches `filter`, in order, until visit returns false.
// `slot` is SortedSlots(positions): RocksDB reads keys in sorted order, and is handed them
// sorted so that it need not sort them itself.
template <typename Visit>
Status MultiGetEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events,
                      const rocksdb::ReadOptions& ro, const std::vector<uint64_t>& positions,
                      const std::vector<uint32_t>& slot, const EventFilter& filter,
                      Visit&& visit) {
  if (positions.empty()) return Status::Ok();
  const size_t n = positions.size();
  std::string key_bytes(n * sizeof(uint64_t), '\0');
  std::vector<rocksdb::Slice> key_slices(n);
  for (size_t i = 0; i < n; ++i) {
    char* key = key_bytes.data() + slot[i] * sizeof(uint64_t);
    enc::StoreU64(positions[i], key);
    key_slices[slot[i]] = rocksdb::Slice(key, sizeof(uint64_t));
  }
  std::vector<rocksdb::PinnableSlice> values(n);
  std::vector<rocksdb::Status> statuses(n);
  db->MultiGet(ro, events, n, key_slices.data(), values.data(), statuses.data(),
               /*sorted_input=*/true);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t k = slot[i];
    if (statuses[k].IsNotFound()) continue;  // purged
    if (!statuses[k].ok()) return FromRocks(statuses[k], "cannot read an event");
    if (IsTombstone(ToView(values[k]))) continue;  // purged
    EventView view;
    if (!ParseEventValue(ToView(values[k]), &view)) {
      return Corruption("a malformed event record");
    }
    if (!MatchesFilter(filter, view)) continue;
    if (!visit(i, view)) break;
  }
  return Status::Ok();
}

// Batches of at least kDenseReadMin positions are read by IterateEvents when they span
// less than kDenseSpan times as many, or when they form runs of consecutive positions at
// least kRunReadMin long on average.
constexpr size_t kDenseReadMin = 64;
constexpr uint64_t kDenseSpan = 2;
constexpr size_t kRunReadMin = 4;
// IterateEvents steps over at most this many other events with Next; past that it seeks.
constexpr uint64_t kStepMax = 4;

// As MultiGetEvents, for positions that lie close together or in runs (an organization's
// events, which a group commit lays out side by side): one forward pass of an iterator,
// stepping through runs and seeking over what lies between them, which costs less per
// event than a lookup each. `sorted` holds the positions in ascending order and slot[i]
// where positions[i] is in it.
template <typename Visit>
Status IterateEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events,
                     rocksdb::ReadOptions ro, const std::vector<uint64_t>& sorted,
                     const std::vector<uint32_t>& slot, const EventFilter& filter,
                     Visit&& visit) {
  const std::string first = enc::EncodeU64(sorted.front());
  const std::string end = enc::EncodeU64(sorted.back() + 1);
  const rocksdb::Slice end_slice = ToSlice(end);
  if (sorted.back() != UINT64_MAX) ro.iterate_upper_bound = &end_slice;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, events));
  it->Seek(ToSlice(first));
  // The values, copied out in sorted order: [start, start + size) of `values`; size 0 when
  // the event is gone.
  std::string values;
  values.reserve(sorted.size() * 1024);
  std::vector<std::pair<size_t, size_t>> where(sorted.size(), {0, 0});
  uint64_t at = 0;
  bool valid = false;
  const auto load = [&]() -> Status {
    valid = it->Valid();
    if (!valid) {
      if (!it->status().ok()) return FromRocks(it->status(), "cannot read an event");
      return Status::Ok();
    }
    if (!enc::DecodeU64(ToView(it->key()), &at)) return Corruption("a malformed event key");
    return Status::Ok();
  };
  ANNALS_RETURN_IF_ERROR(load());
  for (size_t k = 0; k < sorted.size() && valid; ++k) {
    if (valid && at < sorted[k] && sorted[k] - at > kStepMax) {
      it->Seek(ToSlice(enc::EncodeU64(sorted[k])));
      ANNALS_RETURN_IF_ERROR(load());
    }
    while (valid && at < sorted[k]) {
      it->Next();
      ANNALS_RETURN_IF_ERROR(load());
    }
    if (!valid || at != sorted[k]) continue;  // purged
    const std::string_view value = ToView(it->value());
    where[k] = {values.size(), value.size()};
    values.append(value);
  }
  for (size_t i = 0; i < slot.size(); ++i) {
    const auto [start, size] = where[slot[i]];
    if (size == 0) continue;
    const std::string_view value(values.data() + start, size);
    if (IsTombstone(value)) continue;  // purged
    EventView view;
    if (!ParseEventValue(value, &view)) return Corruption("a malformed event record");
    if (!MatchesFilter(filter, view)) continue;
    if (!visit(i, view)) break;
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<EventRecord>> RocksStore::Scan(const ScanRequest& request) {
  const EventFilter& filter = request.filter;
  if (filter.organization_id.empty()) {
    return Status::InvalidArgument("a scan needs an organization_id");
  }
  std::vector<EventRecord> out;
  const ListRange range = ComputeRange(request);
  if (request.limit == 0 || range.empty) return out;

  rocksdb::ManagedSnapshot snapshot(db_.get());
  const rocksdb::Snapshot* snap = snapshot.snapshot();
  Result<OpenScan> open = StartScan(db_.get(), handles_, snap, request, range);
  if (!open.ok()) return open.status();
  if (open->nothing) return out;
  MergedCursor& merged = *open->merged;

  // Fetch candidates in chunks with one MultiGet each. When the index decides the filter
  // alone, every candidate matches and a chunk is exactly what is still missing.
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  ro.fill_cache = request.fill_cache;
  std::vector<uint64_t> positions;
  bool exhausted = false;
  while (!exhausted && out.size() < request.limit) {
    const size_t missing = request.limit - out.size();
    const size_t chunk = open->exact ? missing : std::clamp<size_t>(2 * missing, 64, 1024);
    positions.clear();
    while (positions.size() < chunk) {
      ListKey k;
      uint64_t position = 0;
      auto next = merged.Next(&k, &position);
      if (!next.ok()) return next.status();
      if (!next.value()) {
        exhausted = true;
        break;
      }
      positions.push_back(position);
    }
    if (positions.empty()) break;
    ANNALS_RETURN_IF_ERROR(MultiGetEvents(
        db_.get(), cf(kEvents), ro, positions, SortedSlots(positions), filter,
        [&](size_t i, const EventView& view) {
          out.push_back(ToEventRecord(view, positions[i]));
          return out.size() < request.limit;
        }));
  }
  return out;
}

Result<std::vector<ScanCandidate>> RocksStore::ScanCandidates(const ScanRequest& request) {
  if (request.filter.organization_id.empty()) {
    return Status::InvalidArgument("a scan needs an organization_id");
  }
  std::vector<ScanCandidate> out;
  const ListRange range = ComputeRange(request);
  if (request.limit == 0 || range.empty) return out;
  rocksdb::ManagedSnapshot snapshot(db_.get());
  Result<OpenScan> open = StartScan(db_.get(), handles_, snapshot.snapshot(), request, range);
  if (!open.ok()) return open.status();
  if (open->nothing) return out;
  out.reserve(std::min<size_t>(request.limit, 1 << 16));
  while (out.size() < request.limit) {
    ScanCandidate c;
    auto next = open->merged->Next(&c.key, &c.position);
    if (!next.ok()) return next.status();
    if (!next.value()) break;
    out.push_back(c);
  }
  return out;
}

Status RocksStore::VisitEvents(const std::vector<uint64_t>& positions, const EventFilter& filter,
                               bool fill_cache, const EventVisitor& visit) {
  rocksdb::ReadOptions ro;
  ro.fill_cache = fill_cache;
  // One organization's events lie in runs (a group commit lays its events out by
  // organization), so a bulk reader of one asks for positions close together or in runs:
  // an iterator passes over them for about half the work of a lookup each.
  const size_t n = positions.size();
  const std::vector<uint32_t> slot = SortedSlots(positions);
  const auto visit_view = [&](size_t i, const EventView& view) {
    visit(positions[i], view.seq, view.json);
    return true;
  };
  if (n >= kDenseReadMin) {
    std::vector<uint64_t> sorted(n);
    for (size_t i = 0; i < n; ++i) sorted[slot[i]] = positions[i];
    size_t runs = 1;
    for (size_t k = 1; k < n; ++k) runs += sorted[k] > sorted[k - 1] + 1;
    if (sorted.back() - sorted.front() < kDenseSpan * n || runs * kRunReadMin <= n) {
      return IterateEvents(db_.get(), cf(kEvents), ro, sorted, slot, filter, visit_view);
    }
  }
  return MultiGetEvents(db_.get(), cf(kEvents), ro, positions, slot, filter, visit_view);
}

namespace {

// What a count of `filter` walks: the ascending (occurred_at, seq) range and the index plan
// over `snap`; nullopt when provably nothing matches. `what` names the caller in errors.
struct CountPlan {
  ListRange range;
  ScanPlan plan;
};

Result<std::optional<CountPlan>> PlanCount(rocksdb::DB* db,
                                           const std::vector<rocksdb::ColumnFamilyHandle*>& h,
                                           const rocksdb::Snapshot* snap, const EventFilter& filter,
                                           const char* what) {
  if (filter.organization_id.empty()) {
    return Status::InvalidArgument(std::string(what) + " needs an organization_id");
  }
  ScanRequest request;
  request.filter = filter;
  request.descending = false;
  CountPlan out;
  out.range = ComputeRange(request);
  if (out.range.empty) return std::optional<CountPlan>();
  auto planned = PlanScan(db, h, snap, filter);
  if (!planned.ok()) return planned.status();
  out.plan = std::move(planned).value();
  if (out.plan.nothing) return std::optional<CountPlan>();
  return std::optional<CountPlan>(std::move(out));
}

}  // namespace

Result<uint64_t> RocksStore::CountEvents(const EventFilter& filter, uint64_t max_position,
                                         bool* exact) {
  *exact = true;
  rocksdb::ManagedSnapshot snapshot(db_.get());
  Result<std::optional<CountPlan>> planned =
      PlanCount(db_.get(), handles_, snapshot.snapshot(), filter, "a count");
  if (!planned.ok()) return planned.status();
  if (!planned->has_value()) return uint64_t{0};
  const ScanPlan& plan = (*planned)->plan;
  const ListRange& range = (*planned)->range;
  *exact = plan.exact;
  std::vector<std::unique_ptr<IndexCursor>> cursors;
  for (const auto& prefix : plan.prefixes) {
    auto c = std::make_unique<IndexCursor>(prefix, range, false);
    ANNALS_RETURN_IF_ERROR(c->Start(db_.get(), cf(plan.cf), snapshot.snapshot(), false));
    cursors.push_back(std::move(c));
  }
  // An event naming two matching items appears in two cursors: the merge counts it once.
  MergedCursor merged(std::move(cursors), false);
  uint64_t n = 0;
  ListKey k;
  uint64_t position = 0;
  for (;;) {
    auto next = merged.Next(&k, &position);
    if (!next.ok()) return next.status();
    if (!next.value()) break;
    if (max_position == 0 || position <= max_position) ++n;
  }
  return n;
}

Result<uint64_t> RocksStore::EstimateEvents(const EventFilter& filter) {
  rocksdb::ManagedSnapshot snapshot(db_.get());
  Result<std::optional<CountPlan>> planned =
      PlanCount(db_.get(), handles_, snapshot.snapshot(), filter, "an estimate");
  if (!planned.ok()) return planned.status();
  if (!planned->has_value()) return uint64_t{0};
  const ScanPlan& plan = (*planned)->plan;
  const ListRange& range = (*planned)->range;
  // The key ranges IndexCursor would walk, one per index value.
  const size_t n = plan.prefixes.size();
  std::vector<std::string> bounds(2 * n);
  std::vector<rocksdb::Range> ranges(n);
  for (size_t i = 0; i < n; ++i) {
    bounds[2 * i] = plan.prefixes[i];
    AppendListKey(&bounds[2 * i], range.lo);
    bounds[2 * i + 1] = plan.prefixes[i];
    AppendListKey(&bounds[2 * i + 1], range.hi);
    bounds[2 * i + 1].push_back('\0');
    ranges[i] = rocksdb::Range(ToSlice(bounds[2 * i]), ToSlice(bounds[2 * i + 1]));
  }
  rocksdb::ColumnFamilyHandle* index = cf(plan.cf);
  // Table files: the bytes of the ranges, at the entries per byte of the files they touch.
  std::vector<uint64_t> sizes(n, 0);
  rocksdb::SizeApproximationOptions so;
  so.include_memtables = false;
  so.include_files = true;
  rocksdb::Status st = db_->GetApproximateSizes(so, index, ranges.data(), static_cast<int>(n),
                                                sizes.data());
  if (!st.ok()) return FromRocks(st, "cannot estimate an index range");
  rocksdb::TablePropertiesCollection tables;
  st = db_->GetPropertiesOfTablesInRange(index, ranges.data(), n, &tables);
  if (!st.ok()) return FromRocks(st, "cannot read index table properties");
  uint64_t entries = 0, data_bytes = 0;
  for (const auto& [name, props] : tables) {
    entries += props->num_entries;
    data_bytes += props->data_size;
  }
  double total = 0;
  if (data_bytes > 0) {
    for (uint64_t bytes : sizes) {
      total += static_cast<double>(bytes) * static_cast<double>(entries) /
               static_cast<double>(data_bytes);
    }
  }
  // Memtables: their own approximate entry counts.
  for (const rocksdb::Range& r : ranges) {
    uint64_t count = 0, bytes = 0;
    db_->GetApproximateMemTableStats(index, r, &count, &bytes);
    total += static_cast<double>(count);
  }
  return static_cast<uint64_t>(total + 0.5);
}

Result<std::optional<IdempotencyRecord>> RocksStore::GetIdempotency(
    const std::string& organization_id, const std::string& key) {
  std::string k = enc::EncodeString(organization_id);
  enc::AppendString(&k, key);
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kIdempotency), k, &value);
  if (s.IsNotFound()) return std::optional<IdempotencyRecord>();
  if (!s.ok()) return FromRocks(s, "cannot read an idempotency record");
  IdempotencyRecord r;
  if (!DecodeIdempotency(ToView(value), &r)) {
    return Corruption("a malformed idempotency record");
  }
  r.organization_id = organization_id;
  r.key = key;
  return std::optional<IdempotencyRecord>(std::move(r));
}

Result<std::optional<ItemRecord>> RocksStore::GetItem(const std::string& organization_id,
                                                      const std::string& type,
                                                      const std::string& id) {
  std::string k = enc::EncodeString(organization_id);
  enc::AppendString(&k, type);
  enc::AppendString(&k, id);
  rocksdb::PinnableSlice value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kItems), k, &value);
  if (s.IsNotFound()) return std::optional<ItemRecord>();
  if (!s.ok()) return FromRocks(s, "cannot read an item");
  ItemState state;
  if (!DecodeItemState(ToView(value), &state)) return Corruption("a malformed item record");
  ItemRecord r;
  r.organization_id = organization_id;
  r.type = type;
  r.id = id;
  r.first_seen = state.first_ts;
  r.first_seq = state.first_seq;
  r.last_seen = state.last_ts;
  r.last_seq = state.last_seq;
  r.event_count = state.count;
  r.deleted_at = state.change_op == ChangeOp::kDelete ? state.change_ts : 0;
  return std::optional<ItemRecord>(std::move(r));
}

Result<std::optional<std::string>> RocksStore::GetMeta(const std::string& name) {
  std::string key(kMetaUserPrefix);
  key += name;
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kMeta), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "cannot read metadata");
  return std::optional<std::string>(std::move(value));
}

Result<std::vector<std::pair<std::string, std::string>>> RocksStore::ListMeta(
    const std::string& prefix, const std::string& start_after, size_t limit) {
  std::string lo(kMetaUserPrefix);
  lo += prefix;
  const std::string stem = lo;
  if (!start_after.empty()) {
    if (start_after.compare(0, prefix.size(), prefix) != 0) {
      return Status::InvalidArgument("start_after must begin with the listed prefix");
    }
    lo.assign(kMetaUserPrefix);
    lo += start_after;
    lo.push_back('\0');  // the smallest key after start_after
  }
  std::vector<std::pair<std::string, std::string>> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kMeta)));
  for (it->Seek(lo); it->Valid(); it->Next()) {
    const std::string_view key = ToView(it->key());
    if (key.substr(0, stem.size()) != stem) break;
    out.emplace_back(std::string(key.substr(kMetaUserPrefix.size())), it->value().ToString());
    if (limit != 0 && out.size() >= limit) break;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot list metadata");
  return out;
}

Result<std::vector<std::string>> RocksStore::OrganizationsWithEvents() {
  std::vector<std::string> out;
  {
    std::shared_lock lock(seq_mu_);
    for (const auto& [org, seq] : last_seq_) {
      if (seq > 0) out.push_back(org);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<uint64_t> RocksStore::ApproximateSizeBytes() {
  uint64_t sst = 0;
  if (!db_->GetAggregatedIntProperty("rocksdb.total-sst-files-size", &sst)) {
    return Status::Internal("cannot read the store's SST size");
  }
  rocksdb::VectorLogPtr wal_files;
  rocksdb::Status s = db_->GetSortedWalFiles(wal_files);
  if (!s.ok()) return FromRocks(s, "cannot list the store's WAL files");
  uint64_t wal = 0;
  for (const auto& f : wal_files) wal += f->SizeFileBytes();
  return sst + wal;
}

Status RocksStore::Flush() {
  std::vector<rocksdb::ColumnFamilyHandle*> all(handles_.begin() + 1, handles_.end());
  rocksdb::FlushOptions fo;
  fo.wait = true;
  rocksdb::Status s = db_->Flush(fo, all);
  if (!s.ok()) return FromRocks(s, "flush failed");
  return Status::Ok();
}

Status RocksStore::Checkpoint(const std::string& dir) {
  namespace fs = std::filesystem;
  if (dir.empty()) return Status::InvalidArgument("the checkpoint directory is empty");
  std::error_code ec;
  fs::path target = fs::absolute(dir, ec);
  if (ec) return Status::InvalidArgument("cannot resolve " + dir + ": " + ec.message());
  if (!target.has_filename()) target = target.parent_path();  // "/a/b/" names "/a/b"
  const fs::file_status st = fs::symlink_status(target, ec);
  if (st.type() != fs::file_type::not_found) {
    return Status::InvalidArgument(
        ec ? "cannot use " + dir + ": " + ec.message() : dir + " already exists",
        "checkpoint_exists");
  }
  if (!fs::is_directory(target.parent_path(), ec)) {
    return Status::InvalidArgument("the parent directory of " + dir + " does not exist",
                                   "checkpoint_parent_missing");
  }

  // The bulk of the memtables is flushed while appends go on. Hard-linking is quick, so on
  // the same file system the writers wait while the checkpoint flushes what came since and
  // links the files: then no write-ahead log holds anything the copy needs. Copying to
  // another file system takes as long as the data is large, too long to hold ingest.
  ANNALS_RETURN_IF_ERROR(Flush());
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(db_.get(), &raw);
  if (!s.ok()) return FromRocks(s, "cannot start a checkpoint");
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  struct stat store_stat = {}, target_stat = {};
  const bool links = ::stat(options_.path.c_str(), &store_stat) == 0 &&
                     ::stat(target.parent_path().c_str(), &target_stat) == 0 &&
                     store_stat.st_dev == target_stat.st_dev;
  {
    std::unique_lock writers(write_mu_, std::defer_lock);
    if (links) writers.lock();
    s = checkpoint->CreateCheckpoint(target.string(), /*log_size_for_flush=*/0);
  }
  if (s.ok()) return Status::Ok();
  if (s.IsInvalidArgument()) {
    return Status::InvalidArgument("cannot checkpoint to " + dir + ": " + s.ToString(),
                                   "checkpoint_exists");
  }
  if (s.IsIOError()) {
    return Status::Unavailable("cannot write the checkpoint to " + dir + ": " + s.ToString(),
                               "checkpoint_failed");
  }
  return FromRocks(s, "cannot write the checkpoint to " + dir);
}

Status RocksStore::CompactAll() {
  rocksdb::CompactRangeOptions co;
  co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForceOptimized;
  for (int i = kEvents; i < kCfCount; ++i) {
    rocksdb::Status s = db_->CompactRange(co, cf(i), nullptr, nullptr);
    if (!s.ok()) return FromRocks(s, "compaction failed");
  }
  return Status::Ok();
}


// ---------------------------------------------------------------------------------------
// Items by type, purge marks and purges (docs/storage.md "Purges").

namespace {

// The smallest key after every key that starts with `item_key` (an encoded string ends in
// 00 01; 00 02 sorts after all of its continuations and before any longer string's).
std::string ItemKeySuccessor(std::string item_key) {
  item_key.back() = '\x02';
  return item_key;
}

void EncodePurgeMark(TimestampUs purged_at, std::string* dst) {
  dst->push_back(kPurgeMarkFormat);
  PutSigned(dst, purged_at);
}

}  // namespace

Result<std::vector<ItemRecord>> RocksStore::ListItems(const std::string& organization_id,
                                                      const std::string& type,
                                                      const std::string& start_after_id,
                                                      size_t limit) {
  std::vector<ItemRecord> out;
  if (limit == 0) return out;
  std::string prefix = enc::EncodeString(organization_id);
  enc::AppendString(&prefix, type);
  std::string start = prefix;
  if (!start_after_id.empty()) {
    enc::AppendString(&start, start_after_id);
    start = ItemKeySuccessor(std::move(start));
  }
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kItems)));
  it->Seek(start);
  while (it->Valid() && out.size() < limit) {
    std::string_view k = ToView(it->key());
    if (!k.starts_with(prefix)) break;
    std::string_view rest = k.substr(prefix.size());
    std::string id;
    if (!enc::ConsumeString(&rest, &id)) return Corruption("a malformed item key");
    const size_t item_key_size = k.size() - rest.size();
    if (rest.empty()) {
      ItemState state;
      if (!DecodeItemState(ToView(it->value()), &state)) {
        return Corruption("a malformed item record");
      }
      ItemRecord r;
      r.organization_id = organization_id;
      r.type = type;
      r.id = std::move(id);
      r.first_seen = state.first_ts;
      r.first_seq = state.first_seq;
      r.last_seen = state.last_ts;
      r.last_seq = state.last_seq;
      r.event_count = state.count;
      r.deleted_at = state.change_op == ChangeOp::kDelete ? state.change_ts : 0;
      out.push_back(std::move(r));
    }
    it->Seek(ItemKeySuccessor(std::string(k.substr(0, item_key_size))));
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot list items");
  return out;
}

Result<std::optional<TimestampUs>> RocksStore::GetItemPurgedAt(const std::string& organization_id,
                                                               const std::string& type,
                                                               const std::string& id) {
  std::string k = enc::EncodeString(organization_id);
  enc::AppendString(&k, type);
  enc::AppendString(&k, id);
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kPurged), k, &value);
  if (s.IsNotFound()) return std::optional<TimestampUs>();
  if (!s.ok()) return FromRocks(s, "cannot read a purge mark");
  std::string_view in(value);
  TimestampUs at = 0;
  if (in.empty() || in[0] != kPurgeMarkFormat) return Corruption("a malformed purge mark");
  in.remove_prefix(1);
  if (!GetSigned(&in, &at)) return Corruption("a malformed purge mark");
  return std::optional<TimestampUs>(at);
}

Result<PurgeCounts> RocksStore::Purge(const PurgeRequest& request) {
  ANNALS_RETURN_IF_ERROR(CheckWritable());
  if (request.organization_id.empty()) {
    return Status::InvalidArgument("a purge needs an organization_id");
  }
  PurgeCounts counts;
  if (request.deleted_before) ANNALS_RETURN_IF_ERROR(PurgeDeletedItems(request, &counts));
  if (request.occurred_before) ANNALS_RETURN_IF_ERROR(PurgeOldEvents(request, &counts));
  return counts;
}

// Each round reads and writes under the writer lock, so no append slips in between a
// decision and its write; rounds are bounded so appends wait briefly.
Status RocksStore::PurgeDeletedItems(const PurgeRequest& r, PurgeCounts* counts) {
  constexpr size_t kEntriesPerRound = 256;
  const std::string org_key = enc::EncodeString(r.organization_id);
  std::string upper = org_key;
  enc::AppendTimestamp(&upper, *r.deleted_before);
  const rocksdb::Slice upper_slice(upper);
  std::string resume = org_key;
  bool done = false;
  while (!done) {
    std::lock_guard lock(write_mu_);
    ANNALS_RETURN_IF_ERROR(CheckWritable());
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kDeletions)));
    rocksdb::ReadOptions items_ro;
    items_ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> timeline(db_->NewIterator(items_ro, cf(kItems)));
    rocksdb::WriteBatch wb;
    std::vector<uint64_t> candidates;
    std::string mark;
    size_t examined = 0;
    for (it->Seek(resume); it->Valid() && examined < kEntriesPerRound; it->Next(), ++examined) {
      std::string_view k = ToView(it->key());
      std::string org, type, id;
      TimestampUs deleted_at = 0;
      uint64_t seq = 0;
      if (!enc::ConsumeString(&k, &org) || !enc::ConsumeTimestamp(&k, &deleted_at) ||
          !enc::ConsumeString(&k, &type) || !enc::ConsumeString(&k, &id) ||
          !enc::ConsumeU64(&k, &seq) || !k.empty()) {
        return Corruption("a malformed item deletion entry");
      }
      std::string item_key = org_key;
      enc::AppendString(&item_key, type);
      enc::AppendString(&item_key, id);
      std::string value;
      rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kItems), item_key, &value);
      if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "cannot read an item");
      ItemState state;
      if (s.ok() && !DecodeItemState(value, &state)) return Corruption("a malformed item record");
      const bool current = s.ok() && state.change_op == ChangeOp::kDelete &&
                           state.change_ts == deleted_at && state.change_seq == seq;
      if (!current) {
        // Purged already, alive again, or deleted again later (which has its own entry).
        s = wb.Delete(cf(kDeletions), it->key());
        if (!s.ok()) return FromRocks(s, "cannot build a purge");
        continue;
      }
      if (r.held && r.held(type, id)) continue;  // kept until the hold is lifted
      // The item's whole timeline goes, then the record; a mark remembers the purge.
      for (timeline->Seek(item_key); timeline->Valid(); timeline->Next()) {
        std::string_view tk = ToView(timeline->key());
        if (!tk.starts_with(item_key)) break;
        if (tk.size() == item_key.size() + kListKeySize) {
          uint64_t position = 0;
          if (!enc::DecodeU64(ToView(timeline->value()), &position)) {
            return Corruption("a malformed target index entry");
          }
          candidates.push_back(position);
          s = wb.Delete(cf(kItems), timeline->key());
          if (!s.ok()) return FromRocks(s, "cannot build a purge");
        }
      }
      if (!timeline->status().ok()) return FromRocks(timeline->status(), "cannot read a timeline");
      mark.clear();
      EncodePurgeMark(r.purged_at, &mark);
      s = wb.Delete(cf(kItems), item_key);
      if (s.ok()) s = wb.Put(cf(kPurged), item_key, mark);
      if (s.ok()) s = wb.Delete(cf(kDeletions), it->key());
      if (!s.ok()) return FromRocks(s, "cannot build a purge");
      ++counts->items;
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read item deletions");
    if (it->Valid()) {
      resume = it->key().ToString();
    } else {
      done = true;
    }
    if (wb.Count() > 0) ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, options_.sync));
    ANNALS_RETURN_IF_ERROR(TombstoneUnheldEvents(r, std::move(candidates), counts));
  }
  return Status::Ok();
}

// Replaces by tombstones the events at `positions` that no item's timeline holds any more,
// removing their index entries. Called with write_mu_ held.
Status RocksStore::TombstoneUnheldEvents(const PurgeRequest& r, std::vector<uint64_t> positions,
                                         PurgeCounts* counts) {
  std::sort(positions.begin(), positions.end());
  positions.erase(std::unique(positions.begin(), positions.end()), positions.end());
  rocksdb::WriteBatch wb;
  std::string key, tombstone;
  for (uint64_t position : positions) {
    const std::string pkey = enc::EncodeU64(position);
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kEvents), pkey, &value);
    if (s.IsNotFound() || (s.ok() && IsTombstone(value))) continue;
    if (!s.ok()) return FromRocks(s, "cannot read an event");
    EventView v;
    if (!ParseEventValue(value, &v)) return Corruption("a malformed event record");
    const std::string org_key = enc::EncodeString(v.organization_id);
    char list_key[kListKeySize];
    StoreListKey(ListKey{v.occurred_at, v.seq}, list_key);
    const std::string_view list(list_key, sizeof(list_key));
    bool held_by_timeline = false;
    Status err = Status::Ok();
    AnyTarget(v, [&](std::string_view type, std::string_view id) {
      key = org_key;
      enc::AppendString(&key, type);
      enc::AppendString(&key, id);
      key.append(list);
      std::string ignored;
      rocksdb::Status g = db_->Get(rocksdb::ReadOptions(), cf(kItems), key, &ignored);
      if (!g.ok() && !g.IsNotFound()) err = FromRocks(g, "cannot read a target index entry");
      held_by_timeline = g.ok();
      return held_by_timeline || !err.ok();
    });
    ANNALS_RETURN_IF_ERROR(err);
    if (held_by_timeline) continue;
    key = org_key;
    key.append(list);
    s = wb.Delete(cf(kIdxTime), key);
    key = org_key;
    enc::AppendString(&key, v.action);
    key.append(list);
    if (s.ok()) s = wb.Delete(cf(kIdxAction), key);
    key = org_key;
    enc::AppendString(&key, v.actor_id);
    key.append(list);
    if (s.ok()) s = wb.Delete(cf(kIdxActor), key);
    tombstone.clear();
    EncodeTombstone(v, r.purged_at, &tombstone);
    if (s.ok()) s = wb.Put(cf(kEvents), pkey, tombstone);
    if (!s.ok()) return FromRocks(s, "cannot build a purge");
    ++counts->events;
  }
  if (wb.Count() > 0) ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, options_.sync));
  return Status::Ok();
}

Status RocksStore::PurgeOldEvents(const PurgeRequest& r, PurgeCounts* counts) {
  constexpr size_t kEventsPerRound = 1024;
  const std::string org_key = enc::EncodeString(r.organization_id);
  std::string upper = org_key;
  enc::AppendTimestamp(&upper, *r.occurred_before);
  const rocksdb::Slice upper_slice(upper);
  std::string resume = org_key;
  bool done = false;
  while (!done) {
    std::lock_guard lock(write_mu_);
    ANNALS_RETURN_IF_ERROR(CheckWritable());
    rocksdb::ReadOptions ro;
    ro.iterate_upper_bound = &upper_slice;
    ro.total_order_seek = true;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kIdxTime)));
    std::vector<uint64_t> positions;
    std::vector<std::pair<std::string, std::string>> items;  // (type, id) touched
    rocksdb::WriteBatch wb;
    size_t examined = 0;
    for (it->Seek(resume); it->Valid() && examined < kEventsPerRound; it->Next(), ++examined) {
      uint64_t position = 0;
      if (!enc::DecodeU64(ToView(it->value()), &position)) {
        return Corruption("a malformed time index entry");
      }
      std::string value;
      rocksdb::Status s =
          db_->Get(rocksdb::ReadOptions(), cf(kEvents), enc::EncodeU64(position), &value);
      if (s.IsNotFound() || (s.ok() && IsTombstone(value))) continue;
      if (!s.ok()) return FromRocks(s, "cannot read an event");
      EventView v;
      if (!ParseEventValue(value, &v)) return Corruption("a malformed event record");
      const bool held = r.held && AnyTarget(v, [&](std::string_view type, std::string_view id) {
                          return r.held(std::string(type), std::string(id));
                        });
      if (held) continue;
      // Its timeline entries go first; TombstoneUnheldEvents then finds none left.
      char list_key[kListKeySize];
      StoreListKey(ListKey{v.occurred_at, v.seq}, list_key);
      AnyTarget(v, [&](std::string_view type, std::string_view id) {
        std::string key = org_key;
        enc::AppendString(&key, type);
        enc::AppendString(&key, id);
        key.append(list_key, sizeof(list_key));
        if (s.ok()) s = wb.Delete(cf(kItems), key);
        items.emplace_back(std::string(type), std::string(id));
        return false;
      });
      if (!s.ok()) return FromRocks(s, "cannot build a purge");
      positions.push_back(position);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read the time index");
    if (it->Valid()) {
      resume = it->key().ToString();
    } else {
      done = true;
    }
    if (wb.Count() > 0) ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, options_.sync));
    ANNALS_RETURN_IF_ERROR(TombstoneUnheldEvents(r, std::move(positions), counts));
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    ANNALS_RETURN_IF_ERROR(RemoveItemsWithoutTimeline(r, items, counts));
  }
  return Status::Ok();
}

// Items whose every timeline entry was purged lose their record and get a purge mark.
// Called with write_mu_ held.
Status RocksStore::RemoveItemsWithoutTimeline(
    const PurgeRequest& r, const std::vector<std::pair<std::string, std::string>>& items,
    PurgeCounts* counts) {
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kItems)));
  rocksdb::WriteBatch wb;
  std::string mark;
  for (const auto& [type, id] : items) {
    std::string item_key = enc::EncodeString(r.organization_id);
    enc::AppendString(&item_key, type);
    enc::AppendString(&item_key, id);
    bool has_record = false, has_timeline = false;
    for (it->Seek(item_key); it->Valid(); it->Next()) {
      std::string_view k = ToView(it->key());
      if (!k.starts_with(item_key)) break;
      if (k.size() == item_key.size()) {
        has_record = true;
      } else {
        has_timeline = true;
        break;
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "cannot read a timeline");
    if (!has_record || has_timeline) continue;
    mark.clear();
    EncodePurgeMark(r.purged_at, &mark);
    rocksdb::Status s = wb.Delete(cf(kItems), item_key);
    if (s.ok()) s = wb.Put(cf(kPurged), item_key, mark);
    if (!s.ok()) return FromRocks(s, "cannot build a purge");
    ++counts->items;
  }
  if (wb.Count() > 0) ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, options_.sync));
  return Status::Ok();
}

}  // namespace annals

// ---------------------------------------------------------------------------------------
// The Merkle log (docs/integrity.md, docs/storage.md "merkle").

namespace annals {

Status RocksStore::CheckMerkleLog() const {
  return options_.merkle_log ? Status::Ok() : MerkleLogDisabled();
}

Result<uint64_t> RocksStore::StoredLeafCount(const std::string& organization_id) {
  const std::string org_key = enc::EncodeString(organization_id);
  std::string last;
  AppendMerkleKey(&last, org_key, 0, kMaxU64);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kMerkle)));
  it->SeekForPrev(last);
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read the Merkle log");
  if (!it->Valid()) return uint64_t{0};
  std::string_view key = ToView(it->key());
  const std::string_view prefix = std::string_view(last).substr(0, org_key.size() + 1);
  if (!key.starts_with(prefix)) return uint64_t{0};
  key.remove_prefix(prefix.size());
  uint64_t first = 0;
  if (!enc::DecodeU64(key, &first) || it->value().size() % sizeof(Digest) != 0) {
    return Corruption("a malformed Merkle run");
  }
  return first + it->value().size() / sizeof(Digest);
}

Result<merkle::CompactRange> RocksStore::LoadTree(const std::string& organization_id,
                                                  uint64_t size) {
  {
    std::lock_guard lock(tree_mu_);
    auto it = trees_.find(organization_id);
    if (it != trees_.end()) return it->second;
  }
  if (size == 0) return merkle::CompactRange();
  StoreTreeSource source(this, organization_id);
  Result<merkle::CompactRange> tree = merkle::CompactRange::FromSource(size, source);
  if (!tree.ok()) {
    return Corruption("the Merkle log of organization " + organization_id +
                      " cannot be read at size " + std::to_string(size) + ": " +
                      tree.status().message());
  }
  return tree;
}

Status RocksStore::CatchUpMerkleLog() {
  std::vector<std::pair<std::string, uint64_t>> orgs;
  {
    std::shared_lock lock(seq_mu_);
    orgs.assign(last_seq_.begin(), last_seq_.end());
  }
  std::sort(orgs.begin(), orgs.end());
  std::lock_guard write_lock(write_mu_);

  // The organizations whose log lacks leaves, with their trees as stored so far.
  struct Behind {
    std::string org_key;
    uint64_t last_seq = 0;
    merkle::CompactRange tree;
  };
  std::map<std::string, Behind, std::less<>> behind;
  uint64_t total = 0;
  uint64_t first_position = kMaxU64;  // of the first event that lacks its leaf
  for (const auto& [org, last_seq] : orgs) {
    Result<uint64_t> stored = StoredLeafCount(org);
    if (!stored.ok()) return stored.status();
    if (*stored >= last_seq) continue;
    Result<merkle::CompactRange> tree = LoadTree(org, *stored);
    if (!tree.ok()) return tree.status();
    Result<std::optional<EventRecord>> next = GetEventBySeq(org, *stored + 1);
    if (!next.ok()) return next.status();
    if (!next->has_value()) {
      return Corruption("organization " + org + " lacks the event with seq " +
                        std::to_string(*stored + 1) + ", so its Merkle log cannot be built");
    }
    first_position = std::min(first_position, (*next)->position);
    total += last_seq - *stored;
    behind.emplace(org, Behind{enc::EncodeString(org), last_seq, *std::move(tree)});
  }
  if (behind.empty()) return Status::Ok();

  // One pass over the log in write order from there (each organization's events come in
  // seq order), building every lagging tree at once and writing the nodes in batches.
  const auto& progress = options_.merkle_catch_up_progress;
  uint64_t done = 0;
  if (progress) progress(0, total);
  std::vector<merkle::SubtreeHash> finished;
  MerkleRuns runs;
  size_t in_batch = 0;
  auto write = [&]() -> Status {
    rocksdb::WriteBatch wb;
    rocksdb::Status s = runs.WriteTo(&wb, cf(kMerkle));
    if (!s.ok()) return FromRocks(s, "cannot build the Merkle log");
    ANNALS_RETURN_IF_ERROR(WriteBatchOrFail(&wb, false));
    runs.Clear();
    done += in_batch;
    in_batch = 0;
    if (progress) progress(done, total);
    return Status::Ok();
  };
  Status failed;
  Status visited = VisitLog(first_position - 1, 0, [&](const LogEntryView& e) {
    if (e.malformed) {
      failed = Corruption("the event at position " + std::to_string(e.position) +
                          " does not decode, so the Merkle log cannot be built");
      return false;
    }
    auto it = behind.find(e.organization_id);
    if (it == behind.end() || e.seq <= it->second.tree.size()) return true;
    Behind& b = it->second;
    if (e.seq != b.tree.size() + 1) {
      failed = Corruption("organization " + it->first + " lacks the event with seq " +
                          std::to_string(b.tree.size() + 1) +
                          ", so its Merkle log cannot be built");
      return false;
    }
    Digest commitment;
    if (e.tombstone) {
      if (e.commitment.size() != commitment.size()) {
        failed = Corruption("the tombstone of seq " + std::to_string(e.seq) +
                            " of organization " + it->first + " holds no commitment");
        return false;
      }
      std::memcpy(commitment.data(), e.commitment.data(), commitment.size());
    } else {
      Sha256Into(e.json, commitment.data());
    }
    failed = AddMerkleLeaf(b.org_key, commitment, &b.tree, &finished, &runs);
    if (failed.ok() && ++in_batch == 4096) failed = write();
    return failed.ok();
  });
  ANNALS_RETURN_IF_ERROR(visited);
  ANNALS_RETURN_IF_ERROR(failed);
  if (in_batch != 0) ANNALS_RETURN_IF_ERROR(write());
  for (auto& [org, b] : behind) {
    if (b.tree.size() != b.last_seq) {
      return Corruption("organization " + org + " lacks the event with seq " +
                        std::to_string(b.tree.size() + 1) + ", so its Merkle log cannot be built");
    }
  }
  {
    std::lock_guard lock(tree_mu_);
    for (auto& [org, b] : behind) trees_[org] = std::move(b.tree);
  }
  rocksdb::Status s = db_->FlushWAL(/*sync=*/true);
  if (!s.ok()) return FromRocks(s, "cannot sync the Merkle log");
  return Status::Ok();
}

Result<TreeState> RocksStore::CurrentTree(const std::string& organization_id) {
  ANNALS_RETURN_IF_ERROR(CheckMerkleLog());
  {
    std::lock_guard lock(tree_mu_);
    auto it = trees_.find(organization_id);
    if (it != trees_.end()) {
      TreeState state;
      state.tree_size = it->second.size();
      state.root = it->second.Root();
      return state;
    }
  }
  // Not loaded yet: the stored leaves are the committed tree (Append changes trees_ only
  // after its write, and keeps any newer frontier: try_emplace below never replaces one).
  Result<uint64_t> size = StoredLeafCount(organization_id);
  if (!size.ok()) return size.status();
  Result<merkle::CompactRange> tree = LoadTree(organization_id, *size);
  if (!tree.ok()) return tree.status();
  TreeState state;
  state.tree_size = tree->size();
  state.root = tree->Root();
  std::lock_guard lock(tree_mu_);
  trees_.try_emplace(organization_id, std::move(*tree));
  return state;
}

Result<std::vector<Digest>> RocksStore::TreeNodes(const std::string& organization_id, int level,
                                                  uint64_t first, size_t count) {
  ANNALS_RETURN_IF_ERROR(CheckMerkleLog());
  if (level < 0 || level > 63 || level % kMerkleTileHeight != 0) {
    return Status::InvalidArgument("Merkle node level " + std::to_string(level) +
                                   " is not stored (only multiples of " +
                                   std::to_string(kMerkleTileHeight) + ")");
  }
  std::vector<Digest> out;
  if (count == 0) return out;
  const std::string org_key = enc::EncodeString(organization_id);
  std::string start;
  AppendMerkleKey(&start, org_key, level, first);
  const std::string_view prefix = std::string_view(start).substr(0, org_key.size() + 1);
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kMerkle)));
  // The run that holds `first` starts at or before it; the runs after it must follow on.
  uint64_t expected = first;
  for (it->SeekForPrev(start); it->Valid() && out.size() < count; it->Next()) {
    std::string_view key = ToView(it->key());
    if (!key.starts_with(prefix)) {
      if (out.empty() && key < std::string_view(start)) continue;  // before this level
      break;
    }
    key.remove_prefix(prefix.size());
    uint64_t run_first = 0;
    const std::string_view value = ToView(it->value());
    if (!enc::DecodeU64(key, &run_first) || value.size() % sizeof(Digest) != 0) {
      return Corruption("a malformed Merkle run");
    }
    const uint64_t run_end = run_first + value.size() / sizeof(Digest);
    if (run_first > expected || run_end <= expected) {
      if (run_end <= expected && out.empty()) continue;  // the run before `first`
      break;
    }
    for (uint64_t i = expected; i < run_end && out.size() < count; ++i) {
      Digest& d = out.emplace_back();
      std::memcpy(d.data(), value.data() + (i - run_first) * sizeof(Digest), d.size());
    }
    expected = run_end;
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read the Merkle log");
  return out;
}

Status RocksStore::VisitLog(uint64_t after_position, uint64_t last_position,
                            const std::function<bool(const LogEntryView&)>& visit) {
  if (after_position == kMaxU64) return Status::Ok();
  rocksdb::ManagedSnapshot snapshot(db_.get());
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot.snapshot();
  ro.fill_cache = false;
  ro.readahead_size = 2 << 20;
  std::string upper;
  rocksdb::Slice upper_slice;
  if (last_position != 0 && last_position != kMaxU64) {
    upper = enc::EncodeU64(last_position + 1);
    upper_slice = rocksdb::Slice(upper);
    ro.iterate_upper_bound = &upper_slice;
  }
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kEvents)));
  for (it->Seek(enc::EncodeU64(after_position + 1)); it->Valid(); it->Next()) {
    LogEntryView entry;
    const std::string_view value = ToView(it->value());
    if (!enc::DecodeU64(ToView(it->key()), &entry.position)) {
      entry.malformed = true;
    } else if (IsTombstone(value)) {
      TombstoneView t;
      entry.tombstone = true;
      if (ParseTombstone(value, &t)) {
        entry.organization_id = t.organization_id;
        entry.seq = t.seq;
        entry.commitment = t.commitment;
      } else {
        entry.malformed = true;
      }
    } else {
      EventView view;
      if (ParseEventValue(value, &view)) {
        entry.organization_id = view.organization_id;
        entry.seq = view.seq;
        entry.json = view.json;
      } else {
        entry.malformed = true;
      }
    }
    if (!visit(entry)) return Status::Ok();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read events");
  return Status::Ok();
}

Result<std::optional<std::pair<std::string, std::string>>> RocksStore::LastMeta(
    const std::string& prefix) {
  std::string lo(kMetaUserPrefix);
  lo += prefix;
  std::string hi = lo;
  hi.append(1, '\xff');  // meta names are text: no name under the prefix sorts after this
  std::optional<std::pair<std::string, std::string>> out;
  rocksdb::ReadOptions ro;
  ro.total_order_seek = true;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf(kMeta)));
  it->SeekForPrev(hi);
  if (it->Valid() && ToView(it->key()).starts_with(lo)) {
    out.emplace(std::string(ToView(it->key()).substr(kMetaUserPrefix.size())),
                it->value().ToString());
  }
  if (!it->status().ok()) return FromRocks(it->status(), "cannot read metadata");
  return out;
}

}  // namespace annals
