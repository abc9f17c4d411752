// Tests of the embedded store against a real RocksDB in a temporary directory.

#include "storage/rocksdb/rocks_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/table_properties.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/sha256.h"

namespace annals {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

constexpr TimestampUs kT0 = 1764381784123000;  // 2025-11-29T02:03:04.123Z
constexpr TimestampUs kMinTs = std::numeric_limits<TimestampUs>::min();
constexpr TimestampUs kMaxTs = std::numeric_limits<TimestampUs>::max();

// A fresh directory under the system temp dir, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "annals-store-test-XXXXXX").string();
    char* made = mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string path() const { return path_.string(); }
  std::string store() const { return (path_ / "store").string(); }

 private:
  fs::path path_;
};

RocksStoreOptions TestOptions(const std::string& path) {
  RocksStoreOptions o;
  o.path = path;
  o.sync = false;  // durability is RocksDB's job; keeps the suite fast on CI disks
  o.block_cache_bytes = 8 << 20;
  o.write_buffer_bytes = 4 << 20;
  return o;
}

std::unique_ptr<RocksStore> MustOpen(const RocksStoreOptions& options) {
  auto r = RocksStore::Open(options);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : nullptr;
}

// What a test says about an event; the Writer fills in the server fields.
struct Spec {
  std::string org = "org_acme";
  std::string action = "finding.updated";
  TimestampUs occurred_at = kT0;
  std::string actor_id = "user_1";
  std::vector<TargetRef> targets = {{"finding", "F-1"}};
  ChangeOp op = ChangeOp::kNone;
};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// Assigns positions, seqs, ids and received_at the way the ingestor does, and remembers
// every event it appended (the model the store's answers are checked against).
class Writer {
 public:
  explicit Writer(Store* store) : store_(store) { position_ = store->LastPosition().value(); }

  EventRecord Make(const Spec& s) {
    EventRecord e;
    e.fields.organization_id = s.org;
    e.fields.action = s.action;
    e.fields.occurred_at = s.occurred_at;
    e.fields.actor_id = s.actor_id;
    e.fields.actor_type = "user";
    e.fields.targets = s.targets;
    e.fields.change_op = s.op;
    e.position = ++position_;
    uint64_t& seq = seqs_[s.org];
    if (seq == 0) seq = store_->LastSeq(s.org).value();
    e.seq = ++seq;
    char id[32];
    snprintf(id, sizeof id, "evt_%026llu", static_cast<unsigned long long>(e.position));
    e.id = id;
    e.received_at = kT0 + static_cast<TimestampUs>(e.position);
    std::string json = "{\"action\":" + JsonString(s.action) +
                       ",\"actor\":{\"id\":" + JsonString(s.actor_id) +
                       ",\"type\":\"user\"},\"id\":\"" + e.id +
                       "\",\"metadata\":{\"note\":\"caf\xC3\xA9 \\u2028 \xF0\x9F\x94\x92\"}" +
                       ",\"organization_id\":" + JsonString(s.org) +
                       ",\"seq\":" + std::to_string(e.seq) + ",\"targets\":[";
    for (size_t i = 0; i < s.targets.size(); ++i) {
      if (i > 0) json += ",";
      json += "{\"id\":" + JsonString(s.targets[i].id) +
              ",\"type\":" + JsonString(s.targets[i].type) + "}";
    }
    e.json = json + "]}";
    return e;
  }

  // Appends one batch; on success the events join the model.
  Status Append(const std::vector<Spec>& specs, std::vector<IdempotencyRecord> idem = {}) {
    AppendBatch batch;
    const uint64_t saved_position = position_;
    const auto saved_seqs = seqs_;
    for (const Spec& s : specs) batch.events.push_back(Make(s));
    batch.idempotency = std::move(idem);
    Status st = store_->Append(batch);
    if (st.ok()) {
      for (auto& e : batch.events) all_.push_back(std::move(e));
    } else {
      position_ = saved_position;
      seqs_ = saved_seqs;
    }
    return st;
  }

  const std::vector<EventRecord>& all() const { return all_; }
  const EventRecord& Last() const { return all_.back(); }

 private:
  Store* store_;
  uint64_t position_ = 0;
  std::map<std::string, uint64_t> seqs_;
  std::vector<EventRecord> all_;
};

void ExpectSameEvent(const EventRecord& got, const EventRecord& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.seq, want.seq);
  EXPECT_EQ(got.position, want.position);
  EXPECT_EQ(got.received_at, want.received_at);
  EXPECT_EQ(got.json, want.json);  // byte-exact
  EXPECT_EQ(got.fields.organization_id, want.fields.organization_id);
  EXPECT_EQ(got.fields.action, want.fields.action);
  EXPECT_EQ(got.fields.occurred_at, want.fields.occurred_at);
  EXPECT_EQ(got.fields.actor_id, want.fields.actor_id);
  EXPECT_EQ(got.fields.actor_type, want.fields.actor_type);
  EXPECT_EQ(got.fields.targets, want.fields.targets);
  EXPECT_EQ(got.fields.change_op, want.fields.change_op);
}

std::vector<std::string> Ids(const std::vector<EventRecord>& events) {
  std::vector<std::string> ids;
  for (const auto& e : events) ids.push_back(e.id);
  return ids;
}

bool ListLess(const EventRecord& a, const EventRecord& b) {
  return std::pair(a.fields.occurred_at, a.seq) < std::pair(b.fields.occurred_at, b.seq);
}

// The filter semantics of store.h, written out plainly over the model.
bool ReferenceMatch(const EventFilter& f, const EventRecord& e) {
  auto in = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  if (e.fields.organization_id != f.organization_id) return false;
  if (f.from && e.fields.occurred_at < *f.from) return false;
  if (f.to && e.fields.occurred_at >= *f.to) return false;
  if (!f.actions.empty() || !f.action_prefixes.empty()) {
    bool ok = in(f.actions, e.fields.action);
    for (const auto& p : f.action_prefixes) ok = ok || e.fields.action.rfind(p, 0) == 0;
    if (!ok) return false;
  }
  if (!f.actor_ids.empty() && !in(f.actor_ids, e.fields.actor_id)) return false;
  if (!f.target_types.empty() || !f.target_ids.empty()) {
    bool ok = false;
    for (const auto& t : e.fields.targets) {
      ok = ok || ((f.target_types.empty() || in(f.target_types, t.type)) &&
                  (f.target_ids.empty() || in(f.target_ids, t.id)));
    }
    if (!ok) return false;
  }
  return true;
}

std::vector<EventRecord> ReferenceScan(const std::vector<EventRecord>& all, const ScanRequest& r) {
  std::vector<EventRecord> v;
  for (const auto& e : all) {
    if (ReferenceMatch(r.filter, e)) v.push_back(e);
  }
  std::sort(v.begin(), v.end(), ListLess);
  if (r.descending) std::reverse(v.begin(), v.end());
  std::vector<EventRecord> out;
  for (const auto& e : v) {
    if (r.start_after) {
      const auto k = std::pair(e.fields.occurred_at, e.seq);
      const auto s = std::pair(r.start_after->occurred_at, r.start_after->seq);
      if (r.descending ? !(k < s) : !(s < k)) continue;
    }
    if (out.size() == r.limit) break;
    out.push_back(e);
  }
  return out;
}

std::vector<EventRecord> MustScan(Store* store, const ScanRequest& r) {
  auto got = store->Scan(r);
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  return got.ok() ? got.value() : std::vector<EventRecord>{};
}

ScanRequest Request(EventFilter f, bool descending = true, size_t limit = 1000) {
  ScanRequest r;
  r.filter = std::move(f);
  r.descending = descending;
  r.limit = limit;
  return r;
}

EventFilter Org(const std::string& org = "org_acme") {
  EventFilter f;
  f.organization_id = org;
  return f;
}

class RocksStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = MustOpen(TestOptions(dir_.store()));
    ASSERT_NE(store_, nullptr);
    writer_ = std::make_unique<Writer>(store_.get());
  }

  void Reopen() {
    store_.reset();
    store_ = MustOpen(TestOptions(dir_.store()));
    ASSERT_NE(store_, nullptr);
  }

  // Checks Scan against the reference for this request, in both directions.
  void ExpectScanMatches(const EventFilter& f, size_t limit = 1000) {
    for (bool desc : {true, false}) {
      ScanRequest r = Request(f, desc, limit);
      EXPECT_EQ(Ids(MustScan(store_.get(), r)), Ids(ReferenceScan(writer_->all(), r)))
          << (desc ? "descending" : "ascending");
    }
    // The count is exact when the index decides the filter, an upper bound otherwise.
    bool exact = false;
    Result<uint64_t> count = store_->CountEvents(f, 0, &exact);
    ASSERT_TRUE(count.ok()) << count.status().ToString();
    const size_t matching = ReferenceScan(writer_->all(), Request(f, false, 1u << 30)).size();
    if (exact) {
      EXPECT_EQ(*count, matching);
    } else {
      EXPECT_GE(*count, matching);
    }
  }

  // Calls run(stage) with the data in the memtable, flushed to SST files (bloom filters,
  // prefix extractors), compacted, and after reopening the store.
  template <typename Run>
  void InEveryState(Run&& run) {
    run("memtable");
    ASSERT_TRUE(store_->Flush().ok());
    run("flushed");
    ASSERT_TRUE(store_->CompactAll().ok());
    run("compacted");
    Reopen();
    run("reopened");
  }

  TempDir dir_;
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<Writer> writer_;
};

// ----------------------------------------------------------------------------------------
// Append and point reads.

TEST_F(RocksStoreTest, EmptyStore) {
  EXPECT_EQ(store_->LastPosition().value(), 0u);
  EXPECT_EQ(store_->LastSeq("org_acme").value(), 0u);
  EXPECT_FALSE(store_->GetEvent("evt_nope").value().has_value());
  EXPECT_FALSE(store_->GetEventBySeq("org_acme", 1).value().has_value());
  EXPECT_TRUE(store_->ReadFrom(0, 10).value().empty());
  EXPECT_TRUE(MustScan(store_.get(), Request(Org())).empty());
  EXPECT_FALSE(store_->GetItem("org_acme", "finding", "F-1").value().has_value());
  EXPECT_FALSE(store_->failed());
}

TEST_F(RocksStoreTest, AppendAndReadBackByteExact) {
  Spec a;
  a.targets = {{"finding", "F-1"}, {"asset", "host-7"}};
  a.op = ChangeOp::kUpdate;
  Spec b;
  b.org = "org_other";
  b.action = "user.login";
  b.occurred_at = -86400000000;  // before 1970
  b.actor_id = "u\x01\xFF";
  ASSERT_TRUE(writer_->Append({a, b, a}).ok());

  for (const EventRecord& want : writer_->all()) {
    auto by_id = store_->GetEvent(want.id);
    ASSERT_TRUE(by_id.ok());
    ASSERT_TRUE(by_id.value().has_value());
    ExpectSameEvent(*by_id.value(), want);

    auto by_seq = store_->GetEventBySeq(want.fields.organization_id, want.seq);
    ASSERT_TRUE(by_seq.ok());
    ASSERT_TRUE(by_seq.value().has_value());
    ExpectSameEvent(*by_seq.value(), want);
  }
  EXPECT_EQ(store_->LastPosition().value(), 3u);
  EXPECT_EQ(store_->LastSeq("org_acme").value(), 2u);
  EXPECT_EQ(store_->LastSeq("org_other").value(), 1u);
  EXPECT_EQ(store_->LastSeq("org_none").value(), 0u);
  EXPECT_FALSE(store_->GetEventBySeq("org_acme", 3).value().has_value());
  EXPECT_FALSE(store_->GetEventBySeq("org_other", 2).value().has_value());
}

TEST_F(RocksStoreTest, AppendRefusesGapsWithoutFailingTheStore) {
  ASSERT_TRUE(writer_->Append({Spec{}}).ok());
  AppendBatch gap;
  gap.events.push_back(writer_->Make(Spec{}));
  gap.events.back().position += 1;  // skips a position
  Status st = store_->Append(gap);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("position"));

  Writer fresh(store_.get());
  AppendBatch seq_gap;
  seq_gap.events.push_back(fresh.Make(Spec{}));
  seq_gap.events.back().seq += 1;
  st = store_->Append(seq_gap);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(st.message(), HasSubstr("seq"));

  EXPECT_FALSE(store_->failed());
  EXPECT_EQ(store_->LastPosition().value(), 1u);
  EXPECT_EQ(store_->LastSeq("org_acme").value(), 1u);
  Writer again(store_.get());
  EXPECT_TRUE(again.Append({Spec{}, Spec{}}).ok());
  EXPECT_EQ(store_->LastPosition().value(), 3u);
}

TEST_F(RocksStoreTest, ReadFromFollowsPositions) {
  std::vector<Spec> specs(25);
  for (size_t i = 0; i < specs.size(); ++i) {
    specs[i].org = i % 2 ? "org_a" : "org_b";
    specs[i].occurred_at = kT0 - static_cast<TimestampUs>(i);  // positions, not time, order
  }
  ASSERT_TRUE(writer_->Append(specs).ok());
  auto first = store_->ReadFrom(0, 10).value();
  ASSERT_EQ(first.size(), 10u);
  for (size_t i = 0; i < first.size(); ++i) ExpectSameEvent(first[i], writer_->all()[i]);
  auto rest = store_->ReadFrom(10, 100).value();
  ASSERT_EQ(rest.size(), 15u);
  EXPECT_EQ(rest.front().position, 11u);
  EXPECT_EQ(rest.back().position, 25u);
  EXPECT_TRUE(store_->ReadFrom(25, 10).value().empty());
  EXPECT_TRUE(store_->ReadFrom(0, 0).value().empty());
  EXPECT_TRUE(store_->ReadFrom(std::numeric_limits<uint64_t>::max(), 10).value().empty());
}

TEST_F(RocksStoreTest, ReadOrganizationFollowsOneOrganizationsSeqs) {
  std::vector<Spec> specs(30);
  for (size_t i = 0; i < specs.size(); ++i) {
    specs[i].org = i % 3 ? "org_a" : "org_ab";  // "org_a" is a prefix of "org_ab"
    specs[i].occurred_at = kT0 - static_cast<TimestampUs>(i);  // seq, not time, order
  }
  ASSERT_TRUE(writer_->Append(specs).ok());
  auto first = store_->ReadOrganization("org_a", 0, 7, false).value();
  ASSERT_EQ(first.size(), 7u);
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].seq, i + 1);
    EXPECT_EQ(first[i].fields.organization_id, "org_a");
  }
  ExpectSameEvent(first[0], writer_->all()[1]);
  auto rest = store_->ReadOrganization("org_a", 7, 100, true).value();
  ASSERT_EQ(rest.size(), 13u);
  EXPECT_EQ(rest.front().seq, 8u);
  EXPECT_EQ(rest.back().seq, 20u);
  EXPECT_EQ(store_->ReadOrganization("org_ab", 0, 100, true).value().size(), 10u);
  EXPECT_TRUE(store_->ReadOrganization("org_a", 20, 10, true).value().empty());
  EXPECT_TRUE(store_->ReadOrganization("org_none", 0, 10, true).value().empty());
  EXPECT_TRUE(store_->ReadOrganization("org_a", 0, 0, true).value().empty());
  EXPECT_TRUE(
      store_->ReadOrganization("org_a", std::numeric_limits<uint64_t>::max(), 10, true)
          .value()
          .empty());
}

// ----------------------------------------------------------------------------------------
// Scans.

class ScanTest : public RocksStoreTest {
 protected:
  void SetUp() override {
    RocksStoreTest::SetUp();
    auto spec = [](std::string action, TimestampUs t, std::string actor,
                   std::vector<TargetRef> targets, std::string org = "org_acme") {
      Spec s;
      s.org = std::move(org);
      s.action = std::move(action);
      s.occurred_at = t;
      s.actor_id = std::move(actor);
      s.targets = std::move(targets);
      return s;
    };
    ASSERT_TRUE(
        writer_
            ->Append({
                spec("finding.created", kT0 + 10, "user_1", {{"finding", "F-1"}}),
                spec("finding.updated", kT0 + 20, "user_2", {{"finding", "F-1"}}),
                spec("finding.updated", kT0 + 20, "user_1", {{"finding", "F-2"}, {"asset", "A-1"}}),
                spec("findings.export", kT0 + 30, "user_3", {{"export", "X-1"}}),
                spec("finding", kT0 + 5, "user_2", {{"finding", "F-2"}}),
                spec("user.login", kT0 + 40, "user_1", {{"user", "user_1"}}),
                spec("asset.updated", kT0 + 25, "user_3",
                     {{"asset", "F-1"}, {"finding", "F-1"}, {"asset", "F-1"}}),
                spec("finding.deleted", kT0 + 50, "user_2", {{"finding", "F-2"}}),
                // Other organizations, including one whose name extends ours.
                spec("finding.created", kT0 + 10, "user_1", {{"finding", "F-1"}}, "org_acme2"),
                spec("finding.created", kT0 + 10, "user_1", {{"finding", "F-1"}},
                     std::string("org_acme\0", 9)),
            })
            .ok());
  }
};

TEST_F(ScanTest, WholeOrganizationInBothOrders) {
  auto desc = MustScan(store_.get(), Request(Org()));
  ASSERT_EQ(desc.size(), 8u);
  EXPECT_TRUE(std::is_sorted(desc.rbegin(), desc.rend(), ListLess));
  auto asc = MustScan(store_.get(), Request(Org(), false));
  EXPECT_EQ(Ids(asc), Ids(ReferenceScan(writer_->all(), Request(Org(), false))));
  ExpectScanMatches(Org());
  ExpectScanMatches(Org("org_acme2"));
  ExpectScanMatches(Org(std::string("org_acme\0", 9)));
  EXPECT_TRUE(MustScan(store_.get(), Request(Org("org_acm"))).empty());
}

TEST_F(ScanTest, EachFilterFieldAlone) {
  EventFilter f = Org();
  f.actions = {"finding.updated"};
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 2u);
  ExpectScanMatches(f);

  f = Org();
  f.action_prefixes = {"finding."};  // not "finding", not "findings.export"
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 4u);
  ExpectScanMatches(f);

  f = Org();
  f.actor_ids = {"user_3"};
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 2u);
  ExpectScanMatches(f);

  f = Org();
  f.target_types = {"asset"};
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 2u);
  ExpectScanMatches(f);

  f = Org();
  f.target_ids = {"F-1"};  // finding F-1 and asset F-1
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 3u);
  ExpectScanMatches(f);

  f = Org();
  f.from = kT0 + 20;
  ExpectScanMatches(f);
  f = Org();
  f.to = kT0 + 20;
  ExpectScanMatches(f);
}

TEST_F(ScanTest, MultipleValuesAndCombinations) {
  EventFilter f = Org();
  f.actions = {"finding.created", "user.login", "no.such"};
  ExpectScanMatches(f);

  f = Org();
  f.actions = {"finding"};
  f.action_prefixes = {"finding.", "user."};
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 6u);
  ExpectScanMatches(f);

  f = Org();
  f.action_prefixes = {"finding.upd"};
  ExpectScanMatches(f);
  f.action_prefixes = {"nothing."};
  EXPECT_TRUE(MustScan(store_.get(), Request(f)).empty());
  f.action_prefixes = {""};  // every action
  ExpectScanMatches(f);

  f = Org();
  f.actor_ids = {"user_1", "user_3"};
  f.action_prefixes = {"finding."};
  ExpectScanMatches(f);

  f = Org();
  f.target_types = {"finding"};
  f.target_ids = {"F-1", "F-2"};
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 6u);
  ExpectScanMatches(f);

  f = Org();
  f.target_types = {"asset"};
  f.target_ids = {"F-1"};  // only the asset named F-1
  EXPECT_EQ(Ids(MustScan(store_.get(), Request(f))),
            std::vector<std::string>{writer_->all()[6].id});

  f = Org();
  f.target_types = {"export"};
  f.target_ids = {"F-1"};  // no target is both
  EXPECT_TRUE(MustScan(store_.get(), Request(f)).empty());

  f = Org();
  f.target_ids = {"F-1", "A-1"};
  f.actor_ids = {"user_1", "user_2"};
  f.actions = {"finding.updated", "finding.created"};
  f.from = kT0 + 10;
  f.to = kT0 + 21;
  ExpectScanMatches(f);
}

TEST_F(ScanTest, HalfOpenTimeBounds) {
  EventFilter f = Org();
  f.from = kT0 + 20;
  f.to = kT0 + 30;  // [20, 30): the two at 20 and the one at 25
  auto got = MustScan(store_.get(), Request(f));
  ASSERT_EQ(got.size(), 3u);
  for (const auto& e : got) {
    EXPECT_GE(e.fields.occurred_at, kT0 + 20);
    EXPECT_LT(e.fields.occurred_at, kT0 + 30);
  }
  f.from = kT0 + 30;
  f.to = kT0 + 30;
  EXPECT_TRUE(MustScan(store_.get(), Request(f)).empty());
  f.from = kT0 + 31;
  f.to = kT0 + 30;
  EXPECT_TRUE(MustScan(store_.get(), Request(f)).empty());
  f.from = kMinTs;
  f.to = kMinTs;
  EXPECT_TRUE(MustScan(store_.get(), Request(f)).empty());
  f.from = kMinTs;
  f.to = kMaxTs;
  ExpectScanMatches(f);
}

TEST_F(ScanTest, LimitAndStartAfter) {
  EXPECT_TRUE(MustScan(store_.get(), Request(Org(), true, 0)).empty());
  auto top3 = MustScan(store_.get(), Request(Org(), true, 3));
  ASSERT_EQ(top3.size(), 3u);
  ScanRequest r = Request(Org(), true, 100);
  r.start_after = ListKey{top3.back().fields.occurred_at, top3.back().seq};
  EXPECT_EQ(Ids(MustScan(store_.get(), r)), Ids(ReferenceScan(writer_->all(), r)));
  r.descending = false;
  EXPECT_EQ(Ids(MustScan(store_.get(), r)), Ids(ReferenceScan(writer_->all(), r)));
  // A start key between events, and start keys at the extremes.
  r.start_after = ListKey{kT0 + 20, 0};
  EXPECT_EQ(Ids(MustScan(store_.get(), r)), Ids(ReferenceScan(writer_->all(), r)));
  r.descending = true;
  EXPECT_EQ(Ids(MustScan(store_.get(), r)), Ids(ReferenceScan(writer_->all(), r)));
  r.start_after = ListKey{kMinTs, 0};
  EXPECT_TRUE(MustScan(store_.get(), r).empty());
  r.descending = false;
  EXPECT_EQ(MustScan(store_.get(), r).size(), 8u);
  r.start_after = ListKey{kMaxTs, std::numeric_limits<uint64_t>::max()};
  EXPECT_TRUE(MustScan(store_.get(), r).empty());
}

TEST_F(ScanTest, RequiresOrganization) {
  auto r = store_->Scan(Request(EventFilter{}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

TEST_F(ScanTest, EventNamingOneTargetTwiceIsFoundOnce) {
  EventFilter f = Org();
  f.target_types = {"asset"};
  f.target_ids = {"F-1"};
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 1u);
  f.target_types = {"asset", "finding"};  // two index values lead to the same event
  auto got = MustScan(store_.get(), Request(f));
  const std::vector<std::string> ids = Ids(got);
  const std::set<std::string> unique(ids.begin(), ids.end());
  EXPECT_EQ(unique.size(), got.size());
  ExpectScanMatches(f);
}

// Pages through every filter with a small limit, both ways, and checks that each matching
// event is visited exactly once and in order.
TEST_F(ScanTest, PagingVisitsEveryEventOnceBothWays) {
  std::vector<EventFilter> filters;
  filters.push_back(Org());
  EventFilter f = Org();
  f.action_prefixes = {"finding."};
  filters.push_back(f);
  f = Org();
  f.target_ids = {"F-1", "F-2"};
  filters.push_back(f);
  f = Org();
  f.actor_ids = {"user_1", "user_2"};
  filters.push_back(f);
  for (const auto& filter : filters) {
    for (bool desc : {true, false}) {
      for (size_t page : {1u, 2u, 3u}) {
        std::vector<std::string> seen;
        ScanRequest r = Request(filter, desc, page);
        for (int guard = 0; guard < 100; ++guard) {
          auto got = MustScan(store_.get(), r);
          for (const auto& e : got) seen.push_back(e.id);
          if (got.size() < page) break;
          r.start_after = ListKey{got.back().fields.occurred_at, got.back().seq};
        }
        EXPECT_EQ(seen, Ids(ReferenceScan(writer_->all(), Request(filter, desc, 1000))));
      }
    }
  }
}

// Random data and random filters, compared with the reference, while the data is in the
// memtable, after a flush to SST files (bloom filters, prefix extractors) and after a full
// compaction.
TEST_F(RocksStoreTest, RandomizedScansMatchReference) {
  std::mt19937_64 rng(7);
  auto pick = [&](const auto& v) { return v[rng() % v.size()]; };
  const std::vector<std::string> orgs = {"org_a", "org_b", "org_ab", std::string("org_a\0", 6)};
  const std::vector<std::string> actions = {
      "finding.created", "finding.updated", "finding.deleted", "finding",
      "findings.export", "user.login",      "user.logout",     "a"};
  const std::vector<std::string> actors = {"user_1", "user_2", "user_3", "u", ""};
  const std::vector<std::string> types = {"finding", "asset", "user"};
  const std::vector<std::string> ids = {"1", "2", "F-1", "F-2", "A-1"};
  const std::vector<TimestampUs> times = {kMinTs, kMinTs + 1, -5,      -1,         0,     1,
                                          kT0,    kT0 + 1,    kT0 + 2, kMaxTs - 1, kMaxTs};
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<Spec> specs(1 + rng() % 40);
    for (auto& s : specs) {
      s.org = pick(orgs);
      s.action = pick(actions);
      s.actor_id = pick(actors);
      s.occurred_at = pick(times);
      s.targets.clear();
      const size_t n = 1 + rng() % 3;
      for (size_t i = 0; i < n; ++i) s.targets.push_back({pick(types), pick(ids)});
    }
    ASSERT_TRUE(writer_->Append(specs).ok());
  }

  auto some = [&](const std::vector<std::string>& from, size_t max) {
    std::vector<std::string> v;
    const size_t n = rng() % (max + 1);
    for (size_t i = 0; i < n; ++i) v.push_back(pick(from));
    return v;
  };
  auto run = [&](const char* stage) {
    for (int q = 0; q < 400; ++q) {
      ScanRequest r;
      r.filter.organization_id = pick(orgs);
      r.filter.actions = some(actions, 2);
      r.filter.action_prefixes = some(std::vector<std::string>{"finding.", "user.", "", "zz"}, 1);
      r.filter.actor_ids = some(actors, 2);
      r.filter.target_types = some(types, 2);
      r.filter.target_ids = some(ids, 2);
      if (rng() % 3 == 0) r.filter.from = pick(times);
      if (rng() % 3 == 0) r.filter.to = pick(times);
      r.descending = rng() % 2;
      if (rng() % 3 == 0) r.start_after = ListKey{pick(times), rng() % 30};
      r.limit = rng() % 2 ? 1 + rng() % 10 : 1000;
      const std::vector<std::string> want = Ids(ReferenceScan(writer_->all(), r));
      ASSERT_EQ(Ids(MustScan(store_.get(), r)), want) << stage << " query " << q;
      // The two-step scan: every candidate, read in batches, gives the same events when
      // the candidates are not cut short by the limit.
      ScanRequest all = r;
      all.limit = 1u << 20;
      Result<std::vector<ScanCandidate>> candidates = store_->ScanCandidates(all);
      ASSERT_TRUE(candidates.ok()) << candidates.status().ToString();
      std::vector<std::string> visited;
      for (size_t i = 0; i < candidates->size(); i += 7) {
        std::vector<uint64_t> positions;
        for (size_t j = i; j < std::min(candidates->size(), i + 7); ++j) {
          positions.push_back((*candidates)[j].position);
        }
        ASSERT_TRUE(store_
                        ->VisitEvents(positions, r.filter, rng() % 2 == 0,
                                      [&](uint64_t position, uint64_t seq, std::string_view json) {
                                        const auto& log = writer_->all();
                                        auto it = std::find_if(
                                            log.begin(), log.end(),
                                            [&](const EventRecord& x) { return x.position == position; });
                                        ASSERT_NE(it, log.end());
                                        const EventRecord& e = *it;
                                        EXPECT_EQ(e.seq, seq);
                                        EXPECT_EQ(e.json, json);
                                        visited.push_back(e.id);
                                      })
                        .ok());
      }
      all.limit = 1u << 30;
      EXPECT_EQ(visited, Ids(ReferenceScan(writer_->all(), all))) << stage << " query " << q;
    }
  };
  InEveryState(run);
}

// VisitEvents reads large batches of positions that lie close together with one iterator
// pass, and others with MultiGet: both give the same events, in the order asked, whatever
// the order, repeats, gaps (purged events, other organizations' events, positions past the
// end) and state of the data.
TEST_F(RocksStoreTest, VisitEventsReadsCloseAndScatteredPositionsAlike) {
  constexpr TimestampUs kDayUs = 86400LL * 1000000;
  std::mt19937_64 rng(11);
  for (int batch = 0; batch < 12; ++batch) {
    std::vector<Spec> specs(100);
    for (auto& s : specs) {
      s.org = rng() % 20 == 0 ? "org_other" : "org_acme";
      s.occurred_at = kT0 - static_cast<TimestampUs>(rng() % 1000) * kDayUs / 10;
      s.action = rng() % 4 == 0 ? "user.login" : "finding.updated";
    }
    ASSERT_TRUE(writer_->Append(specs).ok());
  }
  // Then runs of ten of the organization's events between thirty of another's, as group
  // commits of several tenants lay them out: read by seeking from run to run.
  for (int batch = 0; batch < 20; ++batch) {
    std::vector<Spec> specs(40);
    for (size_t i = 0; i < specs.size(); ++i) {
      specs[i].org = i < 10 ? "org_acme" : "org_other";
      specs[i].occurred_at = kT0 - static_cast<TimestampUs>(rng() % 1000) * kDayUs / 10;
      specs[i].action = rng() % 4 == 0 ? "user.login" : "finding.updated";
    }
    ASSERT_TRUE(writer_->Append(specs).ok());
  }
  // Purge the oldest events: holes in the positions.
  PurgeRequest purge;
  purge.organization_id = "org_acme";
  purge.purged_at = kT0;
  purge.occurred_before = kT0 - 90 * kDayUs;
  ASSERT_TRUE(store_->Purge(purge).ok());

  const uint64_t last = store_->LastPosition().value();
  auto visit_all = [&](const std::vector<uint64_t>& positions, const EventFilter& filter,
                       size_t batch_size) {
    std::vector<std::string> seen;
    for (size_t i = 0; i < positions.size(); i += batch_size) {
      const std::vector<uint64_t> part(
          positions.begin() + static_cast<ptrdiff_t>(i),
          positions.begin() + static_cast<ptrdiff_t>(std::min(positions.size(), i + batch_size)));
      const Status s = store_->VisitEvents(
          part, filter, rng() % 2 == 0, [&](uint64_t position, uint64_t seq, std::string_view json) {
            seen.push_back(std::to_string(position) + "/" + std::to_string(seq) + "/" +
                           std::string(json));
          });
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return seen;
  };
  auto run = [&](const char* stage) {
    for (bool actions : {false, true}) {
      EventFilter f = Org();
      if (actions) f.actions = {"finding.updated"};
      ScanRequest r = Request(f, false, 1u << 20);
      const std::vector<ScanCandidate> candidates = store_->ScanCandidates(r).value();
      std::vector<uint64_t> positions;
      for (const ScanCandidate& c : candidates) positions.push_back(c.position);
      ASSERT_GT(positions.size(), 500u);
      ASSERT_FALSE(std::is_sorted(positions.begin(), positions.end()));
      // Gaps and repeats: purged positions (the index no longer names them), another
      // organization's events, positions past the end, a repeated one.
      for (uint64_t p : {uint64_t{1}, uint64_t{2}, uint64_t{3}, last + 1, last + 50}) {
        positions.insert(positions.begin() + static_cast<ptrdiff_t>(rng() % positions.size()), p);
      }
      positions.insert(positions.begin() + 100, positions[50]);
      const std::vector<std::string> scattered = visit_all(positions, f, 7);
      // Every stored match, the repeat, and positions 1-3 when they are stored matches.
      EXPECT_GE(scattered.size(), MustScan(store_.get(), r).size() + 1) << stage;
      EXPECT_LE(scattered.size(), MustScan(store_.get(), r).size() + 4) << stage;
      for (size_t batch_size : {64u, 100u, 200u, 1024u, 100000u}) {
        EXPECT_EQ(visit_all(positions, f, batch_size), scattered)
            << stage << ", batches of " << batch_size;
      }
      std::vector<uint64_t> ascending = positions;
      std::sort(ascending.begin(), ascending.end());
      std::vector<std::string> want = visit_all(ascending, f, 7);
      for (size_t batch_size : {64u, 100u, 1024u}) {
        EXPECT_EQ(visit_all(ascending, f, batch_size), want) << stage;
      }
    }
  };
  InEveryState(run);
}

// EstimateEvents approximates the count from size statistics: close to it once the index
// is in table files, bounded while it is in memtables, and 0 when provably nothing
// matches.
TEST_F(RocksStoreTest, EstimateEventsApproximatesTheCount) {
  constexpr TimestampUs kDayUs = 86400LL * 1000000;
  std::mt19937_64 rng(5);
  for (int batch = 0; batch < 60; ++batch) {
    std::vector<Spec> specs(1000);
    for (auto& s : specs) {
      s.org = rng() % 3 == 0 ? "org_other" : "org_acme";
      s.occurred_at = kT0 - static_cast<TimestampUs>(rng() % 1000) * kDayUs / 10;
      s.action = rng() % 4 == 0 ? "user.login" : "finding.updated";
      s.actor_id = "user_" + std::to_string(rng() % 5);
    }
    ASSERT_TRUE(writer_->Append(specs).ok());
  }
  std::vector<EventFilter> filters;
  filters.push_back(Org());
  filters.push_back(Org("org_other"));
  EventFilter range = Org();
  range.from = kT0 - 80 * kDayUs;
  range.to = kT0 - 20 * kDayUs;
  filters.push_back(range);
  EventFilter action = Org();
  action.actions = {"user.login"};
  filters.push_back(action);
  EventFilter actors = Org();
  actors.actor_ids = {"user_1", "user_2"};
  filters.push_back(actors);
  auto run = [&](const char* stage) {
    const bool in_files = std::string(stage) != "memtable";
    for (const EventFilter& f : filters) {
      bool exact = false;
      const uint64_t count = store_->CountEvents(f, 0, &exact).value();
      ASSERT_GT(count, 5000u);
      Result<uint64_t> estimate = store_->EstimateEvents(f);
      ASSERT_TRUE(estimate.ok()) << estimate.status().ToString();
      const double ratio = static_cast<double>(*estimate) / static_cast<double>(count);
      if (in_files) {
        EXPECT_GT(ratio, 0.85) << stage << ": " << *estimate << " for " << count;
        EXPECT_LT(ratio, 1.15) << stage << ": " << *estimate << " for " << count;
      } else {
        // Memtable counts are sampled from the skiplist's random levels: anywhere from 0
        // (both ends of the range fall between the same sampled nodes) to a few times the
        // count, never more than the memtable holds.
        EXPECT_LT(ratio, 10.0) << stage << ": " << *estimate << " for " << count;
      }
    }
    EventFilter none = Org("org_nobody");
    EXPECT_EQ(store_->EstimateEvents(none).value(), 0u) << stage;
    EventFilter empty = Org();
    empty.from = kT0;
    empty.to = kT0;
    EXPECT_EQ(store_->EstimateEvents(empty).value(), 0u) << stage;
    EXPECT_FALSE(store_->EstimateEvents(EventFilter{}).ok());
  };
  InEveryState(run);
}

// Readers running during appends see whole batches only.
TEST_F(RocksStoreTest, ConcurrentReadersSeeWholeBatches) {
  constexpr size_t kBatch = 50;
  std::atomic<bool> done{false};
  std::atomic<int> problems{0};
  auto reader = [&]() {
    while (!done.load()) {
      auto scan = store_->Scan(Request(Org(), true, 100000));
      if (!scan.ok() || scan.value().size() % kBatch != 0) ++problems;
      EventFilter f = Org();
      f.target_ids = {"F-1"};
      auto by_target = store_->Scan(Request(f, false, 100000));
      if (!by_target.ok() || by_target.value().size() % kBatch != 0) ++problems;
      auto read = store_->ReadFrom(0, 100000);
      if (!read.ok() || read.value().size() % kBatch != 0) ++problems;
      const uint64_t seq = store_->LastSeq("org_acme").value();
      if (seq % kBatch != 0) ++problems;
      if (seq > 0 && !store_->GetEventBySeq("org_acme", seq).value().has_value()) ++problems;
    }
  };
  std::thread r1(reader), r2(reader);
  for (int b = 0; b < 40; ++b) {
    std::vector<Spec> specs(kBatch);
    for (size_t i = 0; i < kBatch; ++i) specs[i].occurred_at = kT0 + static_cast<int>(i % 7);
    ASSERT_TRUE(writer_->Append(specs).ok());
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_EQ(problems.load(), 0);
  EXPECT_EQ(MustScan(store_.get(), Request(Org(), true, 100000)).size(), 40 * kBatch);
}

// ----------------------------------------------------------------------------------------
// Items.

TEST_F(RocksStoreTest, ItemLifecycle) {
  auto event = [](TimestampUs t, ChangeOp op,
                  std::vector<TargetRef> targets = {{"finding", "F-1"}}) {
    Spec s;
    s.occurred_at = t;
    s.op = op;
    s.targets = std::move(targets);
    return s;
  };
  ASSERT_TRUE(writer_->Append({event(100, ChangeOp::kCreate), event(200, ChangeOp::kUpdate)}).ok());
  auto item = store_->GetItem("org_acme", "finding", "F-1").value();
  ASSERT_TRUE(item.has_value());
  EXPECT_EQ(item->organization_id, "org_acme");
  EXPECT_EQ(item->type, "finding");
  EXPECT_EQ(item->id, "F-1");
  EXPECT_EQ(item->first_seen, 100);
  EXPECT_EQ(item->first_seq, 1u);
  EXPECT_EQ(item->last_seen, 200);
  EXPECT_EQ(item->last_seq, 2u);
  EXPECT_EQ(item->event_count, 2u);
  EXPECT_EQ(item->deleted_at, 0);

  ASSERT_TRUE(writer_->Append({event(300, ChangeOp::kDelete)}).ok());
  EXPECT_EQ(store_->GetItem("org_acme", "finding", "F-1").value()->deleted_at, 300);
  // An event without changes does not revive it; an older update arriving late neither.
  ASSERT_TRUE(writer_->Append({event(350, ChangeOp::kNone), event(250, ChangeOp::kUpdate)}).ok());
  ASSERT_TRUE(store_->Flush().ok());
  item = store_->GetItem("org_acme", "finding", "F-1").value();
  EXPECT_EQ(item->deleted_at, 300);
  EXPECT_EQ(item->event_count, 5u);
  EXPECT_EQ(item->last_seen, 350);
  EXPECT_EQ(item->last_seq, 4u);

  // Re-creation clears deleted_at; an earlier event arriving late moves first_seen.
  ASSERT_TRUE(writer_->Append({event(400, ChangeOp::kCreate)}).ok());
  ASSERT_TRUE(store_->Flush().ok());
  ASSERT_TRUE(writer_->Append({event(50, ChangeOp::kNone)}).ok());
  item = store_->GetItem("org_acme", "finding", "F-1").value();
  EXPECT_EQ(item->deleted_at, 0);
  EXPECT_EQ(item->first_seen, 50);
  EXPECT_EQ(item->first_seq, 7u);
  EXPECT_EQ(item->last_seen, 400);
  EXPECT_EQ(item->last_seq, 6u);
  EXPECT_EQ(item->event_count, 7u);

  // A later delete, then a snapshot at the same instant but a later seq revives it.
  ASSERT_TRUE(writer_->Append({event(500, ChangeOp::kDelete)}).ok());
  EXPECT_EQ(store_->GetItem("org_acme", "finding", "F-1").value()->deleted_at, 500);
  ASSERT_TRUE(writer_->Append({event(500, ChangeOp::kSnapshot)}).ok());
  EXPECT_EQ(store_->GetItem("org_acme", "finding", "F-1").value()->deleted_at, 0);

  // The same answers after compaction (operands merged by the merge operator) and reopen.
  const ItemRecord before = *store_->GetItem("org_acme", "finding", "F-1").value();
  ASSERT_TRUE(store_->CompactAll().ok());
  Reopen();
  const ItemRecord after = *store_->GetItem("org_acme", "finding", "F-1").value();
  EXPECT_EQ(after.first_seen, before.first_seen);
  EXPECT_EQ(after.last_seen, before.last_seen);
  EXPECT_EQ(after.event_count, 9u);
  EXPECT_EQ(after.deleted_at, 0);
}

TEST_F(RocksStoreTest, ItemsPerTargetAndDuplicateTargetsCountOnce) {
  Spec s;
  s.occurred_at = 1000;
  s.op = ChangeOp::kDelete;  // describes targets[0]; every target gets the event
  s.targets = {{"finding", "F-9"}, {"asset", "A-1"}, {"finding", "F-9"}};
  ASSERT_TRUE(writer_->Append({s}).ok());
  auto f9 = store_->GetItem("org_acme", "finding", "F-9").value();
  ASSERT_TRUE(f9.has_value());
  EXPECT_EQ(f9->event_count, 1u);
  EXPECT_EQ(f9->deleted_at, 1000);
  auto a1 = store_->GetItem("org_acme", "asset", "A-1").value();
  ASSERT_TRUE(a1.has_value());
  EXPECT_EQ(a1->event_count, 1u);
  EXPECT_FALSE(store_->GetItem("org_acme", "asset", "F-9").value().has_value());
  EXPECT_FALSE(store_->GetItem("org_other", "finding", "F-9").value().has_value());
  EventFilter f = Org();
  f.target_types = {"finding"};
  f.target_ids = {"F-9"};
  EXPECT_EQ(MustScan(store_.get(), Request(f)).size(), 1u);
}

// ----------------------------------------------------------------------------------------
// Idempotency and metadata.

IdempotencyRecord Idem(const std::string& org, const std::string& key, TimestampUs created,
                       const std::string& event_id, uint64_t seq) {
  IdempotencyRecord r;
  r.organization_id = org;
  r.key = key;
  r.content_hash = std::string(32, '\x5A') + key.substr(0, 1);
  r.event_id = event_id;
  r.seq = seq;
  r.created_at = created;
  r.expires_at = created + 1;  // expired once now > created
  return r;
}

TEST_F(RocksStoreTest, IdempotencyGetAndExpire) {
  std::vector<IdempotencyRecord> records;
  records.push_back(Idem("org_acme", "k-old", 100, "evt_1", 1));
  records.push_back(Idem("org_acme", "k-new", 300, "evt_2", 2));
  records.push_back(Idem("org_other", "k-old", 200, "evt_3", 1));
  records.push_back(Idem("org_acme", std::string("k\0x", 3), 50, "evt_4", 3));
  ASSERT_TRUE(writer_->Append({Spec{}, Spec{}, Spec{}}, records).ok());

  auto got = store_->GetIdempotency("org_acme", "k-old").value();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->organization_id, "org_acme");
  EXPECT_EQ(got->key, "k-old");
  EXPECT_EQ(got->content_hash, records[0].content_hash);
  EXPECT_EQ(got->event_id, "evt_1");
  EXPECT_EQ(got->seq, 1u);
  EXPECT_EQ(got->created_at, 100);
  EXPECT_FALSE(store_->GetIdempotency("org_acme", "k-none").value().has_value());
  EXPECT_FALSE(store_->GetIdempotency("org_none", "k-old").value().has_value());
  EXPECT_EQ(store_->GetIdempotency("org_acme", std::string("k\0x", 3)).value()->event_id, "evt_4");

  auto removed = store_->ExpireIdempotency(200);  // strictly before 200
  ASSERT_TRUE(removed.ok());
  EXPECT_EQ(removed.value(), 2u);
  EXPECT_FALSE(store_->GetIdempotency("org_acme", "k-old").value().has_value());
  EXPECT_FALSE(store_->GetIdempotency("org_acme", std::string("k\0x", 3)).value().has_value());
  EXPECT_TRUE(store_->GetIdempotency("org_other", "k-old").value().has_value());
  EXPECT_TRUE(store_->GetIdempotency("org_acme", "k-new").value().has_value());
  EXPECT_EQ(store_->ExpireIdempotency(200).value(), 0u);
}

TEST_F(RocksStoreTest, ExpireIdempotencyManyRecords) {
  std::vector<IdempotencyRecord> records;
  for (int i = 0; i < 10000; ++i) {
    records.push_back(Idem("org_acme", "key-" + std::to_string(i), i % 2 ? 10 : 1000,
                           "evt_" + std::to_string(i), 1));
  }
  ASSERT_TRUE(writer_->Append({}, records).ok());
  EXPECT_EQ(store_->ExpireIdempotency(500).value(), 5000u);
  EXPECT_FALSE(store_->GetIdempotency("org_acme", "key-1").value().has_value());
  EXPECT_TRUE(store_->GetIdempotency("org_acme", "key-2").value().has_value());
  EXPECT_EQ(store_->ExpireIdempotency(2000).value(), 5000u);
}

TEST_F(RocksStoreTest, Meta) {
  EXPECT_FALSE(store_->GetMeta("orgs/org_acme").value().has_value());
  ASSERT_TRUE(store_->PutMeta("orgs/org_acme", "{\"name\":\"Acme\"}").ok());
  EXPECT_EQ(store_->GetMeta("orgs/org_acme").value(), "{\"name\":\"Acme\"}");
  ASSERT_TRUE(store_->PutMeta("orgs/org_acme", std::string("v2\0", 3)).ok());
  EXPECT_EQ(store_->GetMeta("orgs/org_acme").value(), std::string("v2\0", 3));
  // Names never collide with the store's own metadata.
  ASSERT_TRUE(store_->PutMeta("format_version", "99").ok());
  ASSERT_TRUE(store_->PutMeta("last_position", "x").ok());
  ASSERT_TRUE(store_->PutMeta("orgseq/org_acme", "x").ok());
  Reopen();
  EXPECT_EQ(store_->GetMeta("format_version").value(), "99");
  EXPECT_EQ(store_->GetMeta("orgs/org_acme").value(), std::string("v2\0", 3));
  EXPECT_EQ(store_->LastPosition().value(), 0u);
  EXPECT_EQ(store_->LastSeq("org_acme").value(), 0u);
}

TEST_F(RocksStoreTest, ListMetaByPrefixWithPaging) {
  for (const char* name : {"org/b", "org/a", "org/c", "orgx/z", "key/k1", "or"}) {
    ASSERT_TRUE(store_->PutMeta(name, std::string("v:") + name).ok());
  }
  using Entries = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(store_->ListMeta("org/", "", 0).value(),
            (Entries{{"org/a", "v:org/a"}, {"org/b", "v:org/b"}, {"org/c", "v:org/c"}}));
  EXPECT_EQ(store_->ListMeta("org/", "", 2).value(),
            (Entries{{"org/a", "v:org/a"}, {"org/b", "v:org/b"}}));
  EXPECT_EQ(store_->ListMeta("org/", "org/b", 2).value(), (Entries{{"org/c", "v:org/c"}}));
  EXPECT_EQ(store_->ListMeta("org/", "org/c", 0).value(), Entries{});
  EXPECT_EQ(store_->ListMeta("nothing/", "", 0).value(), Entries{});
  // The store's own metadata is never listed.
  EXPECT_EQ(store_->ListMeta("", "", 0).value().size(), 6u);
  EXPECT_EQ(store_->ListMeta("org/", "key/k1", 0).status().code(), Code::kInvalidArgument);
}

TEST_F(RocksStoreTest, ApproximateSize) {
  const uint64_t empty = store_->ApproximateSizeBytes().value();
  std::vector<Spec> specs(500);
  ASSERT_TRUE(writer_->Append(specs).ok());
  ASSERT_TRUE(store_->Flush().ok());
  EXPECT_GT(store_->ApproximateSizeBytes().value(), empty);
  EXPECT_GT(store_->ApproximateSizeBytes().value(), 10000u);
}

// ----------------------------------------------------------------------------------------
// Reopen, format version, directory checks.

TEST_F(RocksStoreTest, ReopenKeepsEverything) {
  Spec a;
  a.op = ChangeOp::kCreate;
  Spec b;
  b.org = "org_b";
  ASSERT_TRUE(writer_->Append({a, b, a}, {Idem("org_acme", "k", 5, "evt_x", 1)}).ok());
  ASSERT_TRUE(store_->PutMeta("setting", "on").ok());
  Reopen();
  EXPECT_EQ(store_->LastPosition().value(), 3u);
  EXPECT_EQ(store_->LastSeq("org_acme").value(), 2u);
  EXPECT_EQ(store_->LastSeq("org_b").value(), 1u);
  for (const auto& want : writer_->all()) ExpectSameEvent(*store_->GetEvent(want.id).value(), want);
  EXPECT_EQ(store_->GetItem("org_acme", "finding", "F-1").value()->event_count, 2u);
  EXPECT_TRUE(store_->GetIdempotency("org_acme", "k").value().has_value());
  EXPECT_EQ(store_->GetMeta("setting").value(), "on");
  ExpectScanMatches(Org());

  // Appends continue the sequences after reopening.
  Writer next(store_.get());
  ASSERT_TRUE(next.Append({a}).ok());
  EXPECT_EQ(next.Last().position, 4u);
  EXPECT_EQ(next.Last().seq, 3u);
  store_.reset();
  store_ = MustOpen(TestOptions(dir_.store()));
  EXPECT_EQ(store_->LastPosition().value(), 4u);
  EXPECT_EQ(store_->LastSeq("org_acme").value(), 3u);
}

// The codecs of the `events` family's table files in a closed store, read with the RocksDB
// API alone (one entry per file).
std::multiset<std::string> EventTableCodecs(const std::string& path) {
  std::vector<std::string> names;
  EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const std::string& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, descriptors, &handles, &raw);
  EXPECT_TRUE(s.ok()) << s.ToString();
  std::unique_ptr<rocksdb::DB> db(raw);
  std::multiset<std::string> codecs;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "events") {
      rocksdb::TablePropertiesCollection tables;
      EXPECT_TRUE(db->GetPropertiesOfAllTables(handles[i], &tables).ok());
      for (const auto& [file, props] : tables) codecs.insert(props->compression_name);
    }
  }
  for (rocksdb::ColumnFamilyHandle* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  return codecs;
}

// A change of codec applies to what compaction rewrites; every event reads back the same
// under each codec and across the changes.
TEST_F(RocksStoreTest, EventCompressionAppliesWhenCompactionRewritesEvents) {
  std::vector<Spec> specs(300);
  for (size_t i = 0; i < specs.size(); ++i) {
    specs[i].org = i % 2 ? "org_acme" : "org_b";
    specs[i].occurred_at = kT0 + static_cast<TimestampUs>(i);
    specs[i].targets = {{"finding", "F-" + std::to_string(i % 17)}};
  }
  ASSERT_TRUE(writer_->Append(specs).ok());
  const std::vector<std::pair<EventCompression, std::string>> codecs = {
      {EventCompression::kLz4, "LZ4"},
      {EventCompression::kNone, "NoCompression"},
      {EventCompression::kZstd, "ZSTD"},
      {EventCompression::kLz4, "LZ4"}};
  for (const auto& [codec, name] : codecs) {
    SCOPED_TRACE(name);
    store_.reset();
    RocksStoreOptions o = TestOptions(dir_.store());
    o.event_compression = codec;
    store_ = MustOpen(o);
    ASSERT_TRUE(store_->Flush().ok());
    ASSERT_TRUE(store_->CompactAll().ok());
    store_.reset();
    const std::multiset<std::string> found = EventTableCodecs(dir_.store());
    ASSERT_FALSE(found.empty());
    EXPECT_EQ(found.count(name), found.size()) << "codecs: " << ::testing::PrintToString(found);
    store_ = MustOpen(o);
    for (const auto& want : writer_->all()) {
      ExpectSameEvent(*store_->GetEvent(want.id).value(), want);
    }
    EXPECT_EQ(store_->ReadFrom(0, 1000).value().size(), specs.size());
    ExpectScanMatches(Org());
  }
}

// ----------------------------------------------------------------------------------------
// Checkpoints.

// A batch of `n` events over three organizations and a few items.
std::vector<Spec> MixedBatch(size_t n, uint64_t salt) {
  std::vector<Spec> specs(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = salt * n + i;
    specs[i].org = k % 3 == 0 ? "org_a" : k % 3 == 1 ? "org_b" : "org_c";
    specs[i].action = k % 2 ? "doc.updated" : "doc.created";
    specs[i].occurred_at = kT0 + static_cast<TimestampUs>(k % 97);
    specs[i].targets = {{"doc", "d" + std::to_string(k % 11)}};
  }
  return specs;
}

// Opens a checkpoint and checks that it holds exactly the first `model` events up to its
// LastPosition, which must end a whole batch of `batch` events.
void ExpectConsistentPrefix(const std::string& copy_path, const std::vector<EventRecord>& model,
                            size_t batch) {
  RocksStoreOptions o = TestOptions(copy_path);
  o.create_if_missing = false;
  auto copy = MustOpen(o);
  ASSERT_NE(copy, nullptr);
  const uint64_t last = copy->LastPosition().value();
  ASSERT_LE(last, model.size());
  EXPECT_EQ(last % batch, 0u) << "a batch was torn";
  std::vector<EventRecord> prefix(model.begin(), model.begin() + static_cast<long>(last));

  // Every event up to the last position, byte-exact, and nothing after it.
  auto read = copy->ReadFrom(0, model.size() + 1).value();
  ASSERT_EQ(read.size(), last);
  for (size_t i = 0; i < read.size(); ++i) ExpectSameEvent(read[i], prefix[i]);
  for (size_t i = last; i < model.size(); ++i) {
    EXPECT_FALSE(copy->GetEvent(model[i].id).value().has_value()) << model[i].id;
  }
  // Per-organization seqs: gap-free and ending where the prefix ends.
  std::map<std::string, uint64_t> last_seq;
  for (const auto& e : prefix) last_seq[e.fields.organization_id] = e.seq;
  for (const char* org : {"org_a", "org_b", "org_c"}) {
    EXPECT_EQ(copy->LastSeq(org).value(), last_seq[org]) << org;
    for (uint64_t seq = 1; seq <= last_seq[org]; ++seq) {
      auto e = copy->GetEventBySeq(org, seq).value();
      ASSERT_TRUE(e.has_value()) << org << " seq " << seq;
      EXPECT_EQ(e->fields.organization_id, org);
    }
    EXPECT_FALSE(copy->GetEventBySeq(org, last_seq[org] + 1).value().has_value());
  }
  // The indexes and items agree with the events.
  for (const char* org : {"org_a", "org_c"}) {
    EventFilter f = Org(org);
    f.target_ids = {"d3"};
    ScanRequest r = Request(f, true, 100000);
    EXPECT_EQ(Ids(MustScan(copy.get(), r)), Ids(ReferenceScan(prefix, r))) << org;
    f = Org(org);
    f.actions = {"doc.created"};
    r = Request(f, false, 100000);
    EXPECT_EQ(Ids(MustScan(copy.get(), r)), Ids(ReferenceScan(prefix, r))) << org;
    uint64_t count = 0;
    for (const auto& e : prefix) {
      count += e.fields.organization_id == org && e.fields.targets[0].id == "d3";
    }
    auto item = copy->GetItem(org, "doc", "d3").value();
    EXPECT_EQ(item ? item->event_count : 0u, count) << org;
  }
  // The copy is a store of its own: appends continue its sequences.
  Writer next(copy.get());
  ASSERT_TRUE(next.Append({Spec{}}).ok());
  EXPECT_EQ(next.Last().position, last + 1);
}

// Takes a checkpoint into `copy_path` while another thread appends, then checks it.
void CheckpointWhileAppending(RocksStore* store, Writer* writer, const std::string& copy_path) {
  constexpr size_t kBatch = 40;
  for (uint64_t b = 0; b < 25; ++b) ASSERT_TRUE(writer->Append(MixedBatch(kBatch, b)).ok());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::thread appender([&] {
    for (uint64_t b = 25; !stop.load(); ++b) {
      if (!writer->Append(MixedBatch(kBatch, b)).ok()) ++failures;
    }
  });
  while (store->LastPosition().value() < 50 * kBatch) std::this_thread::yield();

  const uint64_t before = store->LastPosition().value();
  Status s = store->Checkpoint(copy_path);
  const uint64_t after = store->LastPosition().value();
  // Let the appender go on after the checkpoint, then stop it.
  while (store->LastPosition().value() < after + 10 * kBatch) std::this_thread::yield();
  stop = true;
  appender.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(failures.load(), 0);

  RocksStoreOptions o = TestOptions(copy_path);
  o.create_if_missing = false;
  {
    auto copy = MustOpen(o);
    ASSERT_NE(copy, nullptr);
    EXPECT_GE(copy->LastPosition().value(), before);
    // LastPosition counts a batch once its write returned: the batch being written when the
    // checkpoint finished may be in the copy without being counted in `after`.
    EXPECT_LE(copy->LastPosition().value(), after + kBatch);
  }
  ExpectConsistentPrefix(copy_path, writer->all(), kBatch);
  // The source store is unaffected and keeps everything.
  EXPECT_EQ(store->LastPosition().value(), writer->all().size());
  EXPECT_EQ(store->ReadFrom(0, 1000000).value().size(), writer->all().size());
}

TEST_F(RocksStoreTest, CheckpointWhileAppendingHoldsAConsistentPrefix) {
  CheckpointWhileAppending(store_.get(), writer_.get(), dir_.path() + "/copy");
}

// SST files are copied instead of linked, and appends are not held off meanwhile.
TEST_F(RocksStoreTest, CheckpointToAnotherFileSystemWhileAppending) {
  struct stat here = {}, shm = {};
  if (::stat(dir_.path().c_str(), &here) != 0 || ::stat("/dev/shm", &shm) != 0 ||
      here.st_dev == shm.st_dev) {
    GTEST_SKIP() << "no second file system (/dev/shm) here";
  }
  char tmpl[] = "/dev/shm/annals-checkpoint-XXXXXX";
  ASSERT_NE(mkdtemp(tmpl), nullptr);
  const std::string other(tmpl);
  CheckpointWhileAppending(store_.get(), writer_.get(), other + "/copy");
  fs::remove_all(other);
}

TEST_F(RocksStoreTest, CheckpointNeedsNoWriteAheadLog) {
  constexpr size_t kBatch = 10;
  for (uint64_t b = 0; b < 30; ++b) ASSERT_TRUE(writer_->Append(MixedBatch(kBatch, b)).ok());
  ASSERT_TRUE(store_->PutMeta("orgs/org_a", "{}").ok());
  const std::string copy_path = dir_.path() + "/copy";
  ASSERT_TRUE(store_->Checkpoint(copy_path).ok());
  // Everything is in table files: without its logs the copy still holds every write.
  for (const auto& entry : fs::directory_iterator(copy_path)) {
    if (entry.path().extension() == ".log") fs::remove(entry.path());
  }
  ExpectConsistentPrefix(copy_path, writer_->all(), kBatch);
  RocksStoreOptions o = TestOptions(copy_path);
  o.create_if_missing = false;
  auto copy = MustOpen(o);
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->LastPosition().value(), 30 * kBatch + 1);  // and the append above
  EXPECT_EQ(copy->GetMeta("orgs/org_a").value(), "{}");
}

TEST_F(RocksStoreTest, CheckpointRefusesAnExistingPathOrAMissingParent) {
  ASSERT_TRUE(writer_->Append({Spec{}}).ok());
  const std::string existing = dir_.path() + "/existing";
  fs::create_directories(existing);
  { std::ofstream(existing + "/keep.txt") << "mine"; }
  for (const std::string& bad : {existing, existing + "/", existing + "/keep.txt"}) {
    Status s = store_->Checkpoint(bad);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << bad << ": " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("already exists"));
  }
  EXPECT_TRUE(fs::exists(existing + "/keep.txt"));
  EXPECT_EQ(fs::directory_iterator(existing)->path().filename(), "keep.txt");

  Status s = store_->Checkpoint(dir_.path() + "/missing/copy");
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("parent directory"));
  EXPECT_FALSE(fs::exists(dir_.path() + "/missing"));
  s = store_->Checkpoint(existing + "/keep.txt/copy");
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();

  // A checkpoint next to them works, and the store stays writable.
  ASSERT_TRUE(store_->Checkpoint(dir_.path() + "/copy").ok());
  EXPECT_TRUE(writer_->Append({Spec{}}).ok());
}

// Rewrites meta "format_version" directly, as another annals version would have written it.
void SetRawFormatVersion(const std::string& path, const std::string& version) {
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  ASSERT_TRUE(rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db).ok());
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "meta") {
      rocksdb::WriteOptions wo;
      wo.sync = true;
      ASSERT_TRUE(db->Put(wo, handles[i], "format_version", version).ok());
    }
  }
  for (auto* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
  ASSERT_TRUE(db->Close().ok());
  delete db;
}

TEST(RocksStoreOpenTest, RecordsFormatVersionAndRefusesOthers) {
  TempDir dir;
  {
    auto store = MustOpen(TestOptions(dir.store()));
    ASSERT_NE(store, nullptr);
    Writer w(store.get());
    ASSERT_TRUE(w.Append({Spec{}}).ok());
    // Leave nothing in the WAL: the raw opener below has no merge operator for items.
    ASSERT_TRUE(store->Flush().ok());
  }
  SetRawFormatVersion(dir.store(), "4");
  auto r = RocksStore::Open(TestOptions(dir.store()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "unsupported_store_format");
  EXPECT_THAT(r.status().message(),
              HasSubstr("was written by format version 4; this annals understands version 3"));

  SetRawFormatVersion(dir.store(), "v-next");
  r = RocksStore::Open(TestOptions(dir.store()));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("'v-next' (unknown)"));

  SetRawFormatVersion(dir.store(), "1");
  auto store = MustOpen(TestOptions(dir.store()));
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastPosition().value(), 1u);
}

TEST(RocksStoreOpenTest, RefusesDirectoriesThatAreNotAnnalsStores) {
  TempDir dir;
  { std::ofstream(dir.path() + "/notes.txt") << "hello"; }
  auto r = RocksStore::Open(TestOptions(dir.path()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "not_an_annals_store");
  EXPECT_THAT(r.status().message(), HasSubstr("is not empty"));
  EXPECT_TRUE(fs::exists(dir.path() + "/notes.txt"));

  // A RocksDB database of someone else.
  const std::string other = dir.path() + "/other";
  {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, other, &db).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), "k", "v").ok());
    delete db;
  }
  r = RocksStore::Open(TestOptions(other));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "not_an_annals_store");

  // A missing store without create_if_missing.
  RocksStoreOptions o = TestOptions(dir.path() + "/missing");
  o.create_if_missing = false;
  r = RocksStore::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kNotFound);

  // An empty directory becomes a store.
  fs::create_directories(dir.path() + "/empty");
  EXPECT_NE(MustOpen(TestOptions(dir.path() + "/empty")), nullptr);
}

TEST(RocksStoreOpenTest, SecondOpenOfAHeldDirectoryFailsClearly) {
  TempDir dir;
  auto first = MustOpen(TestOptions(dir.store()));
  ASSERT_NE(first, nullptr);
  auto second = RocksStore::Open(TestOptions(dir.store()));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::kUnavailable);
  EXPECT_EQ(second.status().error_code(), "store_locked");
  EXPECT_THAT(second.status().message(),
              HasSubstr("another process holds the data directory " + dir.store()));
  first.reset();
  EXPECT_NE(MustOpen(TestOptions(dir.store())), nullptr);
}

// ----------------------------------------------------------------------------------------
// Failure stickiness.

TEST_F(RocksStoreTest, FailedWriteMakesTheStoreRefuseWrites) {
  ASSERT_TRUE(writer_->Append({Spec{}}).ok());
  store_->FailNextWriteForTesting();
  Writer w(store_.get());
  Status st = w.Append({Spec{}, Spec{}});
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.error_code(), "store_failed");
  EXPECT_TRUE(store_->failed());
  EXPECT_EQ(store_->LastPosition().value(), 1u);
  EXPECT_FALSE(store_->GetEventBySeq("org_acme", 2).value().has_value());

  // Sticky: later writes are refused without being tried; reads keep working.
  Writer w2(store_.get());
  st = w2.Append({Spec{}});
  EXPECT_EQ(st.error_code(), "store_failed");
  EXPECT_THAT(st.message(), HasSubstr("injected write failure"));
  EXPECT_EQ(store_->PutMeta("a", "b").error_code(), "store_failed");
  EXPECT_EQ(store_->ExpireIdempotency(0).status().error_code(), "store_failed");
  EXPECT_TRUE(store_->GetEvent(writer_->Last().id).value().has_value());
  EXPECT_EQ(MustScan(store_.get(), Request(Org())).size(), 1u);

  Reopen();
  EXPECT_FALSE(store_->failed());
  EXPECT_EQ(store_->LastPosition().value(), 1u);
  Writer w3(store_.get());
  EXPECT_TRUE(w3.Append({Spec{}}).ok());
}

// A file system whose WAL writes fail on demand, like a full disk.
class FullDiskFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit FullDiskFileSystem(std::atomic<bool>* full)
      : FileSystemWrapper(rocksdb::FileSystem::Default()), full_(full) {}
  const char* Name() const override { return "FullDiskFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, result, dbg);
    if (s.ok() && name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) {
      *result = std::make_unique<File>(std::move(*result), full_);
    }
    return s;
  }

 private:
  class File : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSWritableFile> f, std::atomic<bool>* full)
        : FSWritableFileOwnerWrapper(std::move(f)), full_(full) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      if (full_->load()) return rocksdb::IOStatus::NoSpace("no space left on device (test)");
      return FSWritableFileOwnerWrapper::Append(data, options, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (full_->load()) return rocksdb::IOStatus::NoSpace("no space left on device (test)");
      return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
    }

   private:
    std::atomic<bool>* full_;
  };

  std::atomic<bool>* full_;
};

TEST(RocksStoreFaultTest, DiskFullFailsTheAppendAndTheStoreStaysFailed) {
  TempDir dir;
  std::atomic<bool> full{false};
  auto fs = std::make_shared<FullDiskFileSystem>(&full);
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  RocksStoreOptions options = TestOptions(dir.store());
  options.sync = true;
  {
    auto r = RocksStore::OpenWithEnv(options, env.get());
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    auto store = std::move(r).value();
    Writer w(store.get());
    ASSERT_TRUE(w.Append({Spec{}}).ok());

    full = true;
    Status st = w.Append({Spec{}, Spec{}});
    EXPECT_EQ(st.code(), Code::kUnavailable);
    EXPECT_EQ(st.error_code(), "store_failed");
    EXPECT_THAT(st.message(), HasSubstr("no space left"));
    EXPECT_TRUE(store->failed());
    EXPECT_EQ(store->LastPosition().value(), 1u);
    EXPECT_FALSE(store->GetEventBySeq("org_acme", 2).value().has_value());

    full = false;  // space is back, but this instance stays failed until reopened
    Writer w2(store.get());
    EXPECT_EQ(w2.Append({Spec{}}).error_code(), "store_failed");
  }
  auto store = MustOpen(options);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastPosition().value(), 1u);
  EXPECT_FALSE(store->GetEventBySeq("org_acme", 2).value().has_value());
  Writer w(store.get());
  EXPECT_TRUE(w.Append({Spec{}}).ok());
  EXPECT_EQ(store->LastPosition().value(), 2u);
}


// ---- retention: item deletions, purges, tombstones -------------------------------------

constexpr TimestampUs kDay = 86400LL * 1000000;

Spec Change(const std::string& id, ChangeOp op, TimestampUs at,
            std::vector<TargetRef> more = {}) {
  Spec s;
  s.targets = {{"finding", id}};
  for (auto& t : more) s.targets.push_back(t);
  s.op = op;
  s.occurred_at = at;
  s.action = std::string("finding.") + ChangeOpName(op);
  return s;
}

std::vector<std::string> ItemIds(const std::vector<ItemRecord>& items) {
  std::vector<std::string> out;
  for (const auto& i : items) out.push_back(i.id);
  return out;
}

TEST_F(RocksStoreTest, ListItemsByTypeInIdOrder) {
  ASSERT_TRUE(writer_->Append({Change("b", ChangeOp::kCreate, kT0),
                               Change("a/x", ChangeOp::kCreate, kT0 + 1),
                               Change("a", ChangeOp::kCreate, kT0 + 2),
                               Change("a", ChangeOp::kUpdate, kT0 + 3),
                               Change("c", ChangeOp::kDelete, kT0 + 4)})
                  .ok());
  Spec other;
  other.targets = {{"project", "p1"}};
  ASSERT_TRUE(writer_->Append({other}).ok());
  auto all = store_->ListItems("org_acme", "finding", "", 100).value();
  EXPECT_EQ(ItemIds(all), (std::vector<std::string>{"a", "a/x", "b", "c"}));
  EXPECT_EQ(all[0].event_count, 2u);
  EXPECT_EQ(all[3].deleted_at, kT0 + 4);
  EXPECT_EQ(ItemIds(store_->ListItems("org_acme", "finding", "a", 2).value()),
            (std::vector<std::string>{"a/x", "b"}));
  EXPECT_EQ(ItemIds(store_->ListItems("org_acme", "finding", "c", 2).value()),
            std::vector<std::string>{});
  EXPECT_EQ(ItemIds(store_->ListItems("org_acme", "project", "", 5).value()),
            std::vector<std::string>{"p1"});
  EXPECT_TRUE(store_->ListItems("org_other", "finding", "", 5).value().empty());
}

TEST_F(RocksStoreTest, PurgeRemovesDeletedItemsAndLeavesTombstones) {
  const TimestampUs t = kT0 - 300 * kDay;
  ASSERT_TRUE(writer_->Append({Change("gone", ChangeOp::kCreate, t),        // seq 1
                               Change("gone", ChangeOp::kUpdate, t + 1),    // seq 2
                               Change("gone", ChangeOp::kDelete, t + 2),    // seq 3
                               Change("kept", ChangeOp::kCreate, t + 3),    // seq 4
                               // names both: stays while "kept" lives
                               Change("gone", ChangeOp::kUpdate, t + 1, {{"finding", "kept"}}),
                               Change("recent", ChangeOp::kDelete, kT0)})   // seq 6
                  .ok());
  PurgeRequest r;
  r.organization_id = "org_acme";
  r.purged_at = kT0 + 5;
  r.deleted_before = kT0 - 180 * kDay;
  auto counts = store_->Purge(r);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->items, 1u);
  EXPECT_EQ(counts->events, 3u);  // seqs 1-3; seq 5 is still in "kept"'s timeline

  EXPECT_FALSE(store_->GetItem("org_acme", "finding", "gone").value().has_value());
  EXPECT_EQ(store_->GetItemPurgedAt("org_acme", "finding", "gone").value(), kT0 + 5);
  EXPECT_FALSE(store_->GetItemPurgedAt("org_acme", "finding", "kept").value().has_value());
  EXPECT_TRUE(store_->GetItem("org_acme", "finding", "recent").value().has_value());

  auto tomb = store_->GetEventBySeq("org_acme", 2).value();
  ASSERT_TRUE(tomb.has_value());
  EXPECT_EQ(tomb->purged_at, kT0 + 5);
  EXPECT_EQ(tomb->seq, 2u);
  EXPECT_TRUE(tomb->json.empty());
  EXPECT_EQ(tomb->commitment, Sha256(writer_->all()[1].json));  // of the purged JSON
  auto by_id = store_->GetEvent(tomb->id).value();
  ASSERT_TRUE(by_id.has_value());
  EXPECT_EQ(by_id->purged_at, kT0 + 5);
  auto shared = store_->GetEventBySeq("org_acme", 5).value();
  ASSERT_TRUE(shared.has_value());
  EXPECT_EQ(shared->purged_at, 0);

  // Scans, the timeline and ReadFrom no longer see the tombstones.
  EventFilter f;
  f.organization_id = "org_acme";
  std::vector<uint64_t> seqs;
  for (const auto& e : MustScan(store_.get(), Request(f, false, 100))) seqs.push_back(e.seq);
  EXPECT_EQ(seqs, (std::vector<uint64_t>{5, 4, 6}));  // (occurred_at, seq) order
  f.target_ids = {"gone"};  // the purged item's timeline is gone, seq 5 included
  EXPECT_EQ(MustScan(store_.get(), Request(f, false, 100)).size(), 0u);
  f.target_ids = {"kept"};
  EXPECT_EQ(MustScan(store_.get(), Request(f, false, 100)).size(), 2u);
  f.target_ids = {};
  f.actions = {"finding.delete"};
  EXPECT_EQ(MustScan(store_.get(), Request(f, false, 100)).size(), 1u);
  auto from = store_->ReadFrom(0, 100).value();
  EXPECT_EQ(from.size(), 3u);
  // An organization's log in seq order still holds them, as tombstones.
  auto log = store_->ReadOrganization("org_acme", 0, 100, true).value();
  ASSERT_EQ(log.size(), 6u);
  for (size_t i = 0; i < log.size(); ++i) EXPECT_EQ(log[i].seq, i + 1);
  EXPECT_EQ(log[0].purged_at, kT0 + 5);
  EXPECT_EQ(log[2].purged_at, kT0 + 5);
  EXPECT_EQ(log[3].purged_at, 0);
  EXPECT_FALSE(log[3].json.empty());

  // Purging again finds nothing; once "kept" is deleted and purged, seq 5 goes too.
  EXPECT_EQ(store_->Purge(r)->events, 0u);
  ASSERT_TRUE(writer_->Append({Change("kept", ChangeOp::kDelete, t + 10)}).ok());
  counts = store_->Purge(r);
  EXPECT_EQ(counts->items, 1u);
  EXPECT_EQ(counts->events, 3u);  // 4, 5 and the delete itself

  // Survives a reopen.
  Reopen();
  EXPECT_EQ(store_->GetEventBySeq("org_acme", 5).value()->purged_at, kT0 + 5);
  EXPECT_EQ(store_->GetItemPurgedAt("org_acme", "finding", "kept").value(), kT0 + 5);
}

TEST_F(RocksStoreTest, ResurrectedAndHeldItemsAreNotPurged) {
  const TimestampUs t = kT0 - 300 * kDay;
  ASSERT_TRUE(writer_->Append({Change("back", ChangeOp::kCreate, t),
                               Change("back", ChangeOp::kDelete, t + 1),
                               Change("back", ChangeOp::kCreate, t + 2),  // alive again
                               Change("held", ChangeOp::kCreate, t),
                               Change("held", ChangeOp::kDelete, t + 1),
                               Change("later", ChangeOp::kDelete, t + 1),
                               Change("later", ChangeOp::kUpdate, t + 5),
                               Change("later", ChangeOp::kDelete, kT0)})  // deleted again, recently
                  .ok());
  PurgeRequest r;
  r.organization_id = "org_acme";
  r.purged_at = kT0;
  r.deleted_before = kT0 - 180 * kDay;
  r.held = [](const std::string& type, const std::string& id) {
    return type == "finding" && id == "held";
  };
  auto counts = store_->Purge(r);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->items, 0u);
  EXPECT_EQ(counts->events, 0u);
  EXPECT_TRUE(store_->GetItem("org_acme", "finding", "back").value().has_value());
  EXPECT_TRUE(store_->GetItem("org_acme", "finding", "held").value().has_value());
  EXPECT_TRUE(store_->GetItem("org_acme", "finding", "later").value().has_value());
  // The hold lifted: the item goes.
  r.held = nullptr;
  EXPECT_EQ(store_->Purge(r)->items, 1u);
  EXPECT_FALSE(store_->GetItem("org_acme", "finding", "held").value().has_value());
  // A purged item that is named again lives again, with its purge remembered.
  ASSERT_TRUE(writer_->Append({Change("held", ChangeOp::kCreate, kT0)}).ok());
  auto again = store_->GetItem("org_acme", "finding", "held").value();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->event_count, 1u);
  EXPECT_EQ(again->first_seen, kT0);
  EXPECT_EQ(store_->GetItemPurgedAt("org_acme", "finding", "held").value(), kT0);
}

TEST_F(RocksStoreTest, PurgeByEventAge) {
  const TimestampUs old = kT0 - 100 * kDay;
  Spec plain;
  plain.occurred_at = old;
  plain.targets = {{"doc", "d1"}};
  Spec held = plain;
  held.targets = {{"doc", "h1"}};
  Spec newer = plain;
  newer.occurred_at = kT0;
  Spec other_org = plain;
  other_org.org = "org_other";
  ASSERT_TRUE(writer_->Append({plain, plain, held, newer, other_org}).ok());
  Spec only_old = plain;
  only_old.targets = {{"doc", "d2"}};
  ASSERT_TRUE(writer_->Append({only_old}).ok());
  PurgeRequest r;
  r.organization_id = "org_acme";
  r.purged_at = kT0;
  r.occurred_before = kT0 - 30 * kDay;
  r.held = [](const std::string&, const std::string& id) { return id == "h1"; };
  auto counts = store_->Purge(r);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->events, 3u);  // two of d1, one of d2
  EXPECT_EQ(counts->items, 1u);   // d2 has nothing left; d1 keeps its newer event
  EXPECT_TRUE(store_->GetItem("org_acme", "doc", "d1").value().has_value());
  EXPECT_FALSE(store_->GetItem("org_acme", "doc", "d2").value().has_value());
  EXPECT_EQ(store_->GetItemPurgedAt("org_acme", "doc", "d2").value(), kT0);
  EXPECT_EQ(store_->GetEventBySeq("org_acme", 3).value()->purged_at, 0);  // held
  EXPECT_EQ(store_->GetEventBySeq("org_acme", 4).value()->purged_at, 0);  // newer
  EXPECT_EQ(store_->GetEventBySeq("org_other", 1).value()->purged_at, 0);
  EventFilter f;
  f.organization_id = "org_acme";
  f.target_ids = {"d1"};
  EXPECT_EQ(MustScan(store_.get(), Request(f, false, 100)).size(), 1u);
}

TEST_F(RocksStoreTest, PurgeIsAWrite) {
  store_->FailNextWriteForTesting();
  EXPECT_FALSE(writer_->Append({Change("x", ChangeOp::kDelete, kT0 - 400 * kDay)}).ok());
  PurgeRequest r;
  r.organization_id = "org_acme";
  r.deleted_before = kT0;
  EXPECT_EQ(store_->Purge(r).status().error_code(), "store_failed");
}

TEST_F(RocksStoreTest, FormatOneStoresGetTheirDeletionsQueued) {
  ASSERT_TRUE(writer_->Append({Change("old", ChangeOp::kCreate, kT0 - 400 * kDay),
                               Change("old", ChangeOp::kDelete, kT0 - 399 * kDay)})
                  .ok());
  ASSERT_TRUE(store_->Flush().ok());
  store_.reset();
  // What a format-1 store looked like: no purge queue, version 1.
  {
    rocksdb::Options o;
    std::vector<std::string> names;
    ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(o, dir_.store(), &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> d;
    for (auto& n : names) d.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> h;
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(o, dir_.store(), d, &h, &raw).ok());
    for (size_t i = 0; i < names.size(); ++i) {
      if (names[i] == "item_deletions") {
        ASSERT_TRUE(raw->DropColumnFamily(h[i]).ok());
      }
      if (names[i] == "meta") {
        ASSERT_TRUE(raw->Put({}, h[i], "format_version", "1").ok());
      }
    }
    for (auto* x : h) ASSERT_TRUE(raw->DestroyColumnFamilyHandle(x).ok());
    delete raw;
  }
  Reopen();
  PurgeRequest r;
  r.organization_id = "org_acme";
  r.purged_at = kT0;
  r.deleted_before = kT0 - 180 * kDay;
  EXPECT_EQ(store_->Purge(r)->items, 1u);
}

TEST_F(RocksStoreTest, CountEventsStopsAtAPosition) {
  ASSERT_TRUE(writer_->Append({Spec{}, Spec{}, Spec{}}).ok());
  const uint64_t second = writer_->all()[1].position;
  ASSERT_TRUE(writer_->Append({Spec{}}).ok());
  bool exact = false;
  EXPECT_EQ(store_->CountEvents(Org(), 0, &exact).value(), 4u);
  EXPECT_TRUE(exact);
  EXPECT_EQ(store_->CountEvents(Org(), second, &exact).value(), 2u);
  EventFilter f = Org();
  f.target_ids = {"F-1"};
  EXPECT_EQ(store_->CountEvents(f, second, &exact).value(), 2u);
  EXPECT_EQ(store_->CountEvents(Org("org_none"), 0, &exact).value(), 0u);
}

TEST_F(RocksStoreTest, IdempotencyRecordsExpireEach) {
  IdempotencyRecord api = Idem("org_acme", "api-key", 100, "evt_1", 1);
  api.expires_at = 100 + 24;
  IdempotencyRecord src = Idem("org_acme", "postgres p 0/1:0", 100, "evt_2", 2);
  src.expires_at = 100 + 14 * 24;
  ASSERT_TRUE(writer_->Append({Spec{}, Spec{}}, {api, src}).ok());
  EXPECT_EQ(store_->GetIdempotency("org_acme", "api-key").value()->expires_at, 124);
  EXPECT_EQ(store_->ExpireIdempotency(200).value(), 1u);
  EXPECT_FALSE(store_->GetIdempotency("org_acme", "api-key").value().has_value());
  EXPECT_TRUE(store_->GetIdempotency("org_acme", "postgres p 0/1:0").value().has_value());
  EXPECT_EQ(store_->ExpireIdempotency(100 + 14 * 24).value(), 1u);
}

}  // namespace
}  // namespace annals
