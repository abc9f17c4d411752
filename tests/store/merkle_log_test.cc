// The store's Merkle log: leaves and nodes written with each append, the tree frontier,
// catch-up for stores without a log, and proofs from the stored nodes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "domain/merkle.h"
#include "storage/rocksdb/rocks_store.h"
#include "storage/tree_source.h"
#include "store_test_dir.h"

namespace annals {
namespace {

using ::testing::HasSubstr;

constexpr TimestampUs kT0 = 1'780'000'000'000'000;

// Appends events to a store, one batch per call, and keeps every organization's leaf hashes
// as the model the store's tree must match.
class LogWriter {
 public:
  explicit LogWriter(Store* store) : store_(store) { position_ = store->LastPosition().value(); }

  Status Append(const std::vector<std::string>& orgs) {
    AppendBatch batch;
    for (const std::string& org : orgs) {
      uint64_t& seq = seqs_[org];
      if (seq == 0) seq = store_->LastSeq(org).value();
      ++position_;
      EventRecord e = testing::LogEvent(org, position_, ++seq,
                                        kT0 + static_cast<TimestampUs>(position_));
      model_[org].Append(merkle::LeafHash(Sha256(e.json)));
      batch.events.push_back(std::move(e));
    }
    return store_->Append(batch);
  }

  merkle::LeafHashes& model(const std::string& org) { return model_[org]; }

 private:
  Store* store_;
  uint64_t position_ = 0;
  std::map<std::string, uint64_t> seqs_;
  std::map<std::string, merkle::LeafHashes> model_;
};

std::vector<std::string> Repeat(const std::string& org, size_t n) {
  return std::vector<std::string>(n, org);
}

TEST(MerkleLogTest, AppendKeepsTheTreeOfEachOrganization) {
  testing::StoreTestDir dir("annals-merkle-log");
  auto store = dir.OpenStore();
  ASSERT_TRUE(store.ok()) << store.status().message();
  LogWriter w(store->get());
  // Interleaved organizations in one batch and across batches; 600 leaves in org_a cross
  // two level-8 nodes.
  for (int round = 0; round < 30; ++round) {
    std::vector<std::string> orgs = Repeat("org_a", 20);
    orgs.push_back("org_b");
    ASSERT_TRUE(w.Append(orgs).ok());
  }
  for (const std::string org : {"org_a", "org_b"}) {
    Result<TreeState> tree = (*store)->CurrentTree(org);
    ASSERT_TRUE(tree.ok()) << tree.status().message();
    EXPECT_EQ(tree->tree_size, w.model(org).size());
    EXPECT_EQ(tree->root, merkle::RootOf(w.model(org).size(), w.model(org)).value());
  }
  EXPECT_EQ((*store)->CurrentTree("org_none")->tree_size, 0u);
  EXPECT_EQ((*store)->CurrentTree("org_none")->root, merkle::EmptyRoot());

  // Level 0 holds commitments; level 8 the two complete 256-leaf subtrees.
  auto leaves = (*store)->TreeNodes("org_a", 0, 598, 10);
  ASSERT_TRUE(leaves.ok());
  ASSERT_EQ(leaves->size(), 2u);
  EXPECT_EQ(merkle::LeafHash(std::string_view(reinterpret_cast<const char*>((*leaves)[1].data()), 32)),
            w.model("org_a").leaves()[599]);
  auto nodes = (*store)->TreeNodes("org_a", 8, 0, 10);
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_EQ((*nodes)[1], w.model("org_a").Subtree(256, 256).value());
  EXPECT_FALSE((*store)->TreeNodes("org_a", 3, 0, 1).ok());

  // Proofs from the stored nodes equal proofs from the model, for every size.
  StoreTreeSource source(store->get(), "org_a");
  for (uint64_t size : {1u, 2u, 255u, 256u, 257u, 511u, 512u, 513u, 600u}) {
    EXPECT_EQ(merkle::RootOf(size, source).value(), merkle::RootOf(size, w.model("org_a")).value())
        << size;
    for (uint64_t leaf : {uint64_t{0}, size / 2, size - 1}) {
      EXPECT_EQ(merkle::InclusionProof(leaf, size, source).value(),
                merkle::InclusionProof(leaf, size, w.model("org_a")).value());
    }
    EXPECT_EQ(merkle::ConsistencyProof(size / 3, size, source).value(),
              merkle::ConsistencyProof(size / 3, size, w.model("org_a")).value());
  }
  EXPECT_FALSE(merkle::RootOf(601, source).ok());
}

TEST(MerkleLogTest, ReopenContinuesTheTree) {
  testing::StoreTestDir dir("annals-merkle-log");
  merkle::LeafHashes model;
  {
    auto store = dir.OpenStore();
    ASSERT_TRUE(store.ok());
    LogWriter w(store->get());
    ASSERT_TRUE(w.Append(Repeat("org_a", 300)).ok());
    model = w.model("org_a");
  }
  auto store = dir.OpenStore();
  ASSERT_TRUE(store.ok());
  EXPECT_EQ((*store)->CurrentTree("org_a")->tree_size, 300u);
  LogWriter w(store->get());
  ASSERT_TRUE(w.Append(Repeat("org_a", 300)).ok());
  for (const merkle::Hash& h : w.model("org_a").leaves()) model.Append(h);
  EXPECT_EQ((*store)->CurrentTree("org_a")->root, merkle::RootOf(600, model).value());
  EXPECT_EQ((*store)->TreeNodes("org_a", 8, 0, 4)->size(), 2u);
}

TEST(MerkleLogTest, AStoreRunWithoutTheLogCatchesUpOnOpen) {
  testing::StoreTestDir dir("annals-merkle-log");
  RocksStoreOptions o;
  o.path = (dir.path() / "store").string();
  o.sync = false;
  merkle::LeafHashes model;
  {
    auto store = RocksStore::Open(o);
    ASSERT_TRUE(store.ok());
    LogWriter w(store->get());
    ASSERT_TRUE(w.Append(Repeat("org_a", 100)).ok());
    model = w.model("org_a");
  }
  {
    o.merkle_log = false;
    auto store = RocksStore::Open(o);
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*store)->CurrentTree("org_a").status().error_code(), "merkle_log_disabled");
    LogWriter w(store->get());
    ASSERT_TRUE(w.Append(Repeat("org_a", 400)).ok());
    for (const merkle::Hash& h : w.model("org_a").leaves()) model.Append(h);
    // A purge while the log is off: the catch-up takes the tombstone's commitment.
    PurgeRequest purge;
    purge.organization_id = "org_a";
    purge.purged_at = kT0 + 1'000'000'000;
    purge.occurred_before = kT0 + 300;
    purge.held = [](const std::string&, const std::string&) { return false; };
    ASSERT_TRUE((*store)->Purge(purge).ok());
  }
  {
    // Without catch-up the store is seen as it is.
    o.merkle_log = true;
    o.merkle_catch_up = false;
    auto store = RocksStore::Open(o);
    ASSERT_TRUE(store.ok());
    EXPECT_EQ((*store)->CurrentTree("org_a")->tree_size, 100u);
  }
  o.merkle_catch_up = true;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  o.merkle_catch_up_progress = [&](uint64_t done, uint64_t total) {
    progress.emplace_back(done, total);
  };
  auto store = RocksStore::Open(o);
  ASSERT_TRUE(store.ok());
  Result<TreeState> tree = (*store)->CurrentTree("org_a");
  ASSERT_TRUE(tree.ok());
  EXPECT_EQ(tree->tree_size, 500u);
  EXPECT_EQ(tree->root, merkle::RootOf(500, model).value());
  EXPECT_EQ((*store)->TreeNodes("org_a", 8, 0, 4)->size(), 1u);
  // The 400 events appended without the log, reported from none to all of them.
  const std::vector<std::pair<uint64_t, uint64_t>> expected = {{0, 400}, {400, 400}};
  EXPECT_EQ(progress, expected);

  // Nothing left to build: nothing reported.
  store->reset();
  progress.clear();
  store = RocksStore::Open(o);
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(progress.empty());
}

// Catch-up reads the log once in write order: organizations interleaved, some behind by
// more than one batch, one up to date, one new; each tree ends as its model.
TEST(MerkleLogTest, CatchUpBuildsInterleavedOrganizationsInOnePass) {
  testing::StoreTestDir dir("annals-merkle-log");
  RocksStoreOptions o;
  o.path = (dir.path() / "store").string();
  o.sync = false;
  std::map<std::string, merkle::LeafHashes> model;
  auto keep = [&](LogWriter& w, const std::string& org) {
    for (const merkle::Hash& h : w.model(org).leaves()) model[org].Append(h);
  };
  {
    auto store = RocksStore::Open(o);
    ASSERT_TRUE(store.ok());
    LogWriter w(store->get());
    for (int i = 0; i < 30; ++i) ASSERT_TRUE(w.Append({"org_a", "org_b", "org_up"}).ok());
    for (const char* org : {"org_a", "org_b", "org_up"}) keep(w, org);
  }
  {
    o.merkle_log = false;
    auto store = RocksStore::Open(o);
    ASSERT_TRUE(store.ok());
    LogWriter w(store->get());
    // org_a falls 5,000 events behind (two write batches of the catch-up), org_b 30, org_c
    // is new; org_up gets nothing.
    for (int i = 0; i < 5000; ++i) {
      std::vector<std::string> orgs = {"org_a"};
      if (i % 100 == 0) orgs.push_back("org_b");
      if (i % 50 == 0) orgs.push_back("org_c");
      ASSERT_TRUE(w.Append(orgs).ok());
    }
    for (const char* org : {"org_a", "org_b", "org_c"}) keep(w, org);
  }
  o.merkle_log = true;
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  o.merkle_catch_up_progress = [&](uint64_t done, uint64_t total) {
    progress.emplace_back(done, total);
  };
  auto store = RocksStore::Open(o);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  for (auto& [org, leaves] : model) {
    Result<TreeState> tree = (*store)->CurrentTree(org);
    ASSERT_TRUE(tree.ok()) << org;
    EXPECT_EQ(tree->tree_size, leaves.size()) << org;
    EXPECT_EQ(tree->root, merkle::RootOf(leaves.size(), leaves).value()) << org;
  }
  const uint64_t total = 5000 + 50 + 100;
  ASSERT_GE(progress.size(), 3u);
  EXPECT_EQ(progress.front(), std::make_pair(uint64_t{0}, total));
  EXPECT_EQ(progress.back(), std::make_pair(total, total));
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GT(progress[i].first, progress[i - 1].first);

  // Appends go on from the caught-up trees.
  LogWriter w(store->get());
  ASSERT_TRUE(w.Append({"org_b", "org_c"}).ok());
  keep(w, "org_b");
  keep(w, "org_c");
  for (const char* org : {"org_b", "org_c"}) {
    merkle::LeafHashes& leaves = model[org];
    EXPECT_EQ((*store)->CurrentTree(org)->root, merkle::RootOf(leaves.size(), leaves).value());
  }
}

TEST(MerkleLogTest, PurgesKeepLeavesAndRoot) {
  testing::StoreTestDir dir("annals-merkle-log");
  auto store = dir.OpenStore();
  ASSERT_TRUE(store.ok());
  LogWriter w(store->get());
  ASSERT_TRUE(w.Append(Repeat("org_a", 50)).ok());
  const TreeState before = (*store)->CurrentTree("org_a").value();
  PurgeRequest purge;
  purge.organization_id = "org_a";
  purge.purged_at = kT0 + 1'000'000'000;
  purge.occurred_before = kT0 + 40;
  purge.held = [](const std::string&, const std::string&) { return false; };
  Result<PurgeCounts> counts = (*store)->Purge(purge);
  ASSERT_TRUE(counts.ok());
  EXPECT_GT(counts->events, 0u);
  const TreeState after = (*store)->CurrentTree("org_a").value();
  EXPECT_EQ(after.tree_size, before.tree_size);
  EXPECT_EQ(after.root, before.root);
  // Tombstones keep the commitment the leaf was built from.
  auto tombstone = (*store)->GetEventBySeq("org_a", 1).value();
  ASSERT_TRUE(tombstone.has_value());
  ASSERT_NE(tombstone->purged_at, 0);
  auto leaf = (*store)->TreeNodes("org_a", 0, 0, 1).value();
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(leaf[0].data()), 32), tombstone->commitment);

  // VisitLog shows tombstones and events in position order.
  uint64_t seen = 0, tombstones = 0;
  ASSERT_TRUE((*store)
                  ->VisitLog(0, 0,
                             [&](const LogEntryView& e) {
                               EXPECT_FALSE(e.malformed);
                               EXPECT_EQ(e.seq, ++seen);
                               EXPECT_EQ(e.organization_id, "org_a");
                               if (e.tombstone) {
                                 ++tombstones;
                                 EXPECT_EQ(e.commitment.size(), 32u);
                               } else {
                                 EXPECT_THAT(std::string(e.json), HasSubstr("doc.updated"));
                               }
                               return true;
                             })
                  .ok());
  EXPECT_EQ(seen, 50u);
  EXPECT_EQ(tombstones, counts->events);
}

TEST(MerkleLogTest, LastMetaFindsTheGreatestName) {
  testing::StoreTestDir dir("annals-merkle-log");
  auto store = dir.OpenStore();
  ASSERT_TRUE(store.ok());
  EXPECT_FALSE((*store)->LastMeta("tree/head/org_a/").value().has_value());
  ASSERT_TRUE((*store)->PutMeta("tree/head/org_a/01", "one").ok());
  ASSERT_TRUE((*store)->PutMeta("tree/head/org_a/02", "two").ok());
  ASSERT_TRUE((*store)->PutMeta("tree/head/org_ab/09", "other").ok());
  auto last = (*store)->LastMeta("tree/head/org_a/").value();
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->first, "tree/head/org_a/02");
  EXPECT_EQ(last->second, "two");
}

}  // namespace
}  // namespace annals
