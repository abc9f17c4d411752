// The offline verifier (annals verify) against real stores: one built the way a server builds
// it (events appended, heads signed with a real key), then tampered with through the RocksDB
// API while no annals holds it. Every tamper must fail verification and name the first bad
// seq; retention purges must not.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "annals/clock.h"
#include "common/sha256.h"
#include "integrity/head_publisher.h"
#include "integrity/signing_keys.h"
#include "integrity/verifier.h"
#include "storage/key_encoding.h"
#include "storage/rocksdb/rocks_store.h"
#include "store_test_dir.h"

namespace annals {
namespace {

using ::testing::HasSubstr;

constexpr TimestampUs kT0 = 1'780'000'000'000'000;

// The raw database of a closed store, opened with the RocksDB API alone.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    std::vector<std::string> names;
    EXPECT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &names).ok());
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const std::string& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(rocksdb::DBOptions(), path, descriptors, &handles, &db);
    EXPECT_TRUE(s.ok()) << s.ToString();
    db_.reset(db);
    for (size_t i = 0; i < names.size(); ++i) cfs_[names[i]] = handles[i];
  }
  ~RawDb() {
    for (auto& [name, h] : cfs_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }

  std::string Get(const std::string& cf, const std::string& key) {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_.at(cf), key, &value);
    EXPECT_TRUE(s.ok()) << cf << ": " << s.ToString();
    return value;
  }
  void Put(const std::string& cf, const std::string& key, const std::string& value) {
    EXPECT_TRUE(db_->Put(rocksdb::WriteOptions(), cfs_.at(cf), key, value).ok());
  }
  void Delete(const std::string& cf, const std::string& key) {
    EXPECT_TRUE(db_->Delete(rocksdb::WriteOptions(), cfs_.at(cf), key).ok());
  }

  static std::string Position(uint64_t p) { return storage::EncodeU64(p); }
  static std::string OrgSeq(const std::string& org, uint64_t seq) {
    std::string k = storage::EncodeString(org);
    storage::AppendU64(&k, seq);
    return k;
  }
  // The run of leaves (commitments, 32 bytes each) of `org` that holds leaf `index`: its key,
  // its first index and its value (docs/storage.md "merkle").
  struct Run {
    std::string key;
    uint64_t first = 0;
    std::string value;
  };
  Run LeafRun(const std::string& org, uint64_t index) {
    const std::string prefix = storage::EncodeString(org) + std::string(1, '\0');
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cfs_.at("merkle")));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      Run run;
      run.key = it->key().ToString();
      EXPECT_TRUE(storage::DecodeU64(std::string_view(run.key).substr(prefix.size()), &run.first));
      run.value = it->value().ToString();
      if (run.first <= index && index < run.first + run.value.size() / 32) return run;
    }
    ADD_FAILURE() << "no run holds leaf " << index << " of " << org;
    return {};
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::map<std::string, rocksdb::ColumnFamilyHandle*> cfs_;
};

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override { Build(); }

  // org_a: seqs 1..600 at positions 1..600 (heads at 300 and 600, and one re-signed at 600
  // after max_head_age); then org_b: 5 events (one head).
  void Build() {
    auto store = dir_.OpenStore();
    ASSERT_TRUE(store.ok()) << store.status().message();
    ManualClock clock(kT0);
    integrity::SigningKeyOptions ko;
    ko.data_dir = dir_.path().string();
    auto keys = integrity::SigningKeys::Open(ko, store->get(), &clock);
    ASSERT_TRUE(keys.ok()) << keys.status().message();
    integrity::HeadPublisherOptions ho;
    integrity::HeadPublisher heads(ho, store->get(), keys->get(), &clock);
    Append(store->get(), "org_a", 300);
    ASSERT_EQ(heads.PublishDue().value(), 1u);
    Append(store->get(), "org_a", 300);
    clock.Advance(ho.head_interval_us);
    ASSERT_EQ(heads.PublishDue().value(), 1u);
    clock.Advance(ho.max_head_age_us);
    ASSERT_EQ(heads.PublishDue().value(), 1u);  // not grown, but old
    Append(store->get(), "org_b", 5);
    clock.Advance(ho.head_interval_us);
    ASSERT_EQ(heads.PublishDue().value(), 1u);
    ASSERT_EQ(heads.PublishDue().value(), 0u);
    ASSERT_TRUE((*store)->Flush().ok());  // nothing left in the WAL for the raw opener
  }

  void Append(Store* store, const std::string& org, int n) {
    AppendBatch batch;
    uint64_t position = store->LastPosition().value();
    uint64_t seq = store->LastSeq(org).value();
    for (int i = 0; i < n; ++i) {
      ++position;
      batch.events.push_back(
          testing::LogEvent(org, position, ++seq, kT0 + static_cast<TimestampUs>(position)));
    }
    ASSERT_TRUE(store->Append(batch).ok());
  }

  integrity::VerifySummary Verify(const std::string& org = "") {
    RocksStoreOptions o;
    o.path = (dir_.path() / "store").string();
    o.sync = false;
    o.merkle_catch_up = false;
    auto store = RocksStore::Open(o);
    EXPECT_TRUE(store.ok()) << store.status().message();
    integrity::VerifyOptions vo;
    vo.organization_id = org;
    Result<integrity::VerifySummary> summary = integrity::VerifyStore(store->get(), vo);
    EXPECT_TRUE(summary.ok()) << summary.status().message();
    return summary.ok() ? *summary : integrity::VerifySummary();
  }

  std::string StorePath() const { return (dir_.path() / "store").string(); }

  testing::StoreTestDir dir_{"annals-verify"};
};

TEST_F(VerifierTest, AnUntouchedStoreVerifies) {
  integrity::VerifySummary s = Verify();
  ASSERT_FALSE(s.failure.has_value()) << s.failure->reason;
  EXPECT_EQ(s.organizations, 2u);
  EXPECT_EQ(s.events, 605u);
  EXPECT_EQ(s.heads, 4u);
  EXPECT_EQ(s.keys, 1u);
  integrity::VerifySummary b = Verify("org_b");
  ASSERT_FALSE(b.failure.has_value());
  EXPECT_EQ(b.events, 5u);
  EXPECT_EQ(b.heads, 1u);
}

TEST_F(VerifierTest, ChangingOneByteOfAnEventFails) {
  {
    RawDb raw(StorePath());
    std::string value = raw.Get("events", RawDb::Position(123));
    const size_t at = value.rfind("doc.updated");
    ASSERT_NE(at, std::string::npos);
    value[at] = 'D';
    raw.Put("events", RawDb::Position(123), value);
  }
  integrity::VerifySummary s = Verify();
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->organization_id, "org_a");
  EXPECT_EQ(s.failure->seq, 123u);
  EXPECT_THAT(s.failure->reason, HasSubstr("does not hash to its commitment"));
}

TEST_F(VerifierTest, ChangingAnEventAndItsLeafFailsAtTheHeads) {
  {
    RawDb raw(StorePath());
    std::string value = raw.Get("events", RawDb::Position(400));
    const size_t at = value.rfind("doc.updated");
    value[at] = 'D';
    raw.Put("events", RawDb::Position(400), value);
    // The event's JSON is the value's tail: rehash it as the attacker would.
    const std::string json = value.substr(value.rfind("{\"action\""));
    RawDb::Run run = raw.LeafRun("org_a", 399);
    run.value.replace((399 - run.first) * 32, 32, Sha256(json));
    raw.Put("merkle", run.key, run.value);
  }
  integrity::VerifySummary s = Verify();
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->organization_id, "org_a");
  // The stored node over leaves 384..399 (the 16 that hold it) no longer matches, so seq 385
  // is the first of the range that holds the change.
  EXPECT_EQ(s.failure->seq, 385u);
  EXPECT_THAT(s.failure->reason, HasSubstr("seqs 385..400"));
}

TEST_F(VerifierTest, DeletingAnEventFails) {
  {
    RawDb raw(StorePath());
    raw.Delete("events", RawDb::Position(200));
  }
  integrity::VerifySummary s = Verify();
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->organization_id, "org_a");
  EXPECT_EQ(s.failure->seq, 200u);
  EXPECT_THAT(s.failure->reason, HasSubstr("jumps from seq 199 to seq 201"));
}

TEST_F(VerifierTest, SwappingTwoEventsFails) {
  {
    RawDb raw(StorePath());
    const std::string a = raw.Get("events", RawDb::Position(50));
    const std::string b = raw.Get("events", RawDb::Position(60));
    raw.Put("events", RawDb::Position(50), b);
    raw.Put("events", RawDb::Position(60), a);
  }
  integrity::VerifySummary s = Verify();
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->organization_id, "org_a");
  EXPECT_EQ(s.failure->seq, 50u);
}

TEST_F(VerifierTest, DroppingTheNewestEventsFails) {
  {
    // Everything a careful attacker would remove: the events, their indexes, their leaves and
    // the counter.
    RawDb raw(StorePath());
    for (uint64_t seq = 591; seq <= 600; ++seq) {
      raw.Delete("events", RawDb::Position(seq));
      raw.Delete("org_seq", RawDb::OrgSeq("org_a", seq));
    }
    RawDb::Run run = raw.LeafRun("org_a", 590);
    run.value.resize((590 - run.first) * 32);
    raw.Put("merkle", run.key, run.value);
    raw.Put("meta", "orgseq/org_a", storage::EncodeU64(590));
  }
  integrity::VerifySummary s = Verify();
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->organization_id, "org_a");
  EXPECT_EQ(s.failure->seq, 591u);
  EXPECT_THAT(s.failure->reason, HasSubstr("covers 600 events, but the log ends at seq 590"));
}

TEST_F(VerifierTest, AHeadWithABadSignatureFails) {
  {
    RawDb raw(StorePath());
    const std::string name = "kv/" + integrity::HeadPublisher::HeadName("org_a", 2);
    std::string head = raw.Get("meta", name);
    const size_t at = head.find("\"signature\":\"") + 13;
    head[at] = head[at] == 'A' ? 'B' : 'A';
    raw.Put("meta", name, head);
  }
  integrity::VerifySummary s = Verify();
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->seq, 600u);
  EXPECT_THAT(s.failure->reason, HasSubstr("signed head #2 has a signature that does not verify"));
}

TEST_F(VerifierTest, ABrokenHeadChainFails) {
  {
    RawDb raw(StorePath());
    raw.Delete("meta", "kv/" + integrity::HeadPublisher::HeadName("org_a", 2));
  }
  integrity::VerifySummary s = Verify();
  ASSERT_TRUE(s.failure.has_value());
  EXPECT_EQ(s.failure->organization_id, "org_a");
  EXPECT_THAT(s.failure->reason, HasSubstr("signed head #2 is missing"));
}

TEST_F(VerifierTest, RetentionPurgesKeepTheStoreVerifiable) {
  {
    auto store = dir_.OpenStore();
    ASSERT_TRUE(store.ok());
    PurgeRequest purge;
    purge.organization_id = "org_a";
    purge.purged_at = kT0 + 1'000'000'000;
    purge.occurred_before = kT0 + 450;
    purge.held = [](const std::string&, const std::string&) { return false; };
    Result<PurgeCounts> counts = (*store)->Purge(purge);
    ASSERT_TRUE(counts.ok());
    ASSERT_GT(counts->events, 400u);
  }
  integrity::VerifySummary s = Verify();
  ASSERT_FALSE(s.failure.has_value()) << s.failure->reason;
  EXPECT_EQ(s.events, 605u);
  EXPECT_GT(s.tombstones, 400u);
}

// Enough events for several of the verifier's reading ranges (16,384 positions each), two
// organizations interleaved: ranges are checked in order, and a change in a later one is
// found at its seq.
TEST(VerifierLargeTest, ManyRangesAreCheckedInOrder) {
  testing::StoreTestDir dir("annals-verify-large");
  {
    auto store = dir.OpenStore();
    ASSERT_TRUE(store.ok());
    ManualClock clock(kT0);
    integrity::SigningKeyOptions ko;
    ko.data_dir = dir.path().string();
    auto keys = integrity::SigningKeys::Open(ko, store->get(), &clock);
    ASSERT_TRUE(keys.ok());
    integrity::HeadPublisher heads(integrity::HeadPublisherOptions{}, store->get(), keys->get(),
                                   &clock);
    uint64_t position = 0;
    std::map<std::string, uint64_t> seqs;
    for (int batch = 0; batch < 40; ++batch) {
      AppendBatch b;
      for (int i = 0; i < 1000; ++i) {
        const std::string org = i % 3 == 0 ? "org_b" : "org_a";
        ++position;
        b.events.push_back(testing::LogEvent(org, position, ++seqs[org],
                                             kT0 + static_cast<TimestampUs>(position)));
      }
      ASSERT_TRUE((*store)->Append(b).ok());
      if (batch % 10 == 9) {
        clock.Advance(60'000'000);
        ASSERT_EQ(heads.PublishDue().value(), 2u);
      }
    }
    ASSERT_TRUE((*store)->Flush().ok());
  }
  RocksStoreOptions o;
  o.path = (dir.path() / "store").string();
  o.merkle_catch_up = false;
  {
    auto store = RocksStore::Open(o);
    ASSERT_TRUE(store.ok());
    auto summary = integrity::VerifyStore(store->get(), {});
    ASSERT_TRUE(summary.ok());
    ASSERT_FALSE(summary->failure.has_value()) << summary->failure->reason;
    EXPECT_EQ(summary->events, 40000u);
    EXPECT_EQ(summary->heads, 8u);
  }
  {
    // Position 35,001 is in the third range: the first event of batch 35, org_b's seq
    // 35 * 334 + 1 (org_b gets every third event of a batch, 334 of 1000).
    RawDb raw(o.path);
    std::string value = raw.Get("events", RawDb::Position(35001));
    value[value.size() - 3] ^= 1;
    raw.Put("events", RawDb::Position(35001), value);
  }
  auto store = RocksStore::Open(o);
  ASSERT_TRUE(store.ok());
  auto summary = integrity::VerifyStore(store->get(), {});
  ASSERT_TRUE(summary.ok());
  ASSERT_TRUE(summary->failure.has_value());
  EXPECT_EQ(summary->failure->organization_id, "org_b");
  EXPECT_EQ(summary->failure->seq, 11691u);
}

}  // namespace
}  // namespace annals
