// The ingestor against a real RocksDB store: group commit, seq assignment, atomic
// submissions, idempotency, overload and sticky failure.
#include "ingest/ingestor.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "domain/event_decoder.h"
#include "retention/retention.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals {
namespace {

constexpr TimestampUs kNow = 1764381784000000;  // 2025-11-29T02:03:04Z

class IngestorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("annals-ingestor-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    OpenStore();
  }
  void TearDown() override {
    ingestor_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void OpenStore() {
    RocksStoreOptions o;
    o.path = dir_.string();
    auto s = RocksStore::Open(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void StartIngestor(IngestOptions options = {}) {
    auto i = Ingestor::Start(store_.get(), &clock_, options);
    ASSERT_TRUE(i.ok()) << i.status().ToString();
    ingestor_ = std::move(i).value();
  }

  // A draft decoded from JSON, as the API would produce it.
  static EventDraft Draft(const std::string& org, const std::string& action,
                          const std::string& target_id, const std::string& key = "",
                          const std::string& reason = "r") {
    std::string body = R"({"organization_id":")" + org + R"(","action":")" + action +
                       R"(","occurred_at":"2025-11-29T01:00:00Z","actor":{"id":"u1","type":"user"},)"
                       R"("targets":[{"id":")" + target_id + R"(","type":"finding"}],)"
                       R"("metadata":{"reason":")" + reason + R"("})";
    if (!key.empty()) body += R"(,"idempotency_key":")" + key + R"(")";
    body += "}";
    DecodeContext ctx;
    ctx.now = kNow;
    auto d = DecodeEventsBody(body, BodyFormat::kJson, EventLimits{}, RequestLimits{}, ctx);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return std::move(d->drafts.at(0));
  }

  std::filesystem::path dir_;
  ManualClock clock_{kNow};
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<Ingestor> ingestor_;
};

TEST_F(IngestorTest, AssignsGapFreeSeqPerOrganizationAndGlobalPositions) {
  StartIngestor();
  std::vector<EventDraft> drafts;
  drafts.push_back(Draft("org_a", "finding.created", "F-1"));
  drafts.push_back(Draft("org_b", "finding.created", "F-2"));
  drafts.push_back(Draft("org_a", "finding.updated", "F-1"));
  auto acks = ingestor_->SubmitAndWait(std::move(drafts));
  ASSERT_TRUE(acks.ok()) << acks.status().ToString();
  ASSERT_EQ(acks->size(), 3u);
  EXPECT_EQ((*acks)[0].seq, 1u);
  EXPECT_EQ((*acks)[1].seq, 1u);
  EXPECT_EQ((*acks)[2].seq, 2u);
  // One group commit lays its events out by organization: org_a's two, then org_b's.
  EXPECT_EQ((*acks)[0].position, 1u);
  EXPECT_EQ((*acks)[2].position, 2u);
  EXPECT_EQ((*acks)[1].position, 3u);
  EXPECT_LT((*acks)[0].id, (*acks)[2].id);  // ULIDs sort by creation

  auto stored = store_->GetEvent((*acks)[2].id);
  ASSERT_TRUE(stored.ok());
  ASSERT_TRUE(stored->has_value());
  EXPECT_EQ((*stored)->seq, 2u);
  EXPECT_EQ((*stored)->fields.organization_id, "org_a");
  EXPECT_NE((*stored)->json.find("\"seq\":2"), std::string::npos);
  EXPECT_NE((*stored)->json.find("\"id\":\"" + (*acks)[2].id + "\""), std::string::npos);
  EXPECT_NE((*stored)->json.find("\"received_at\":\"2025-11-29T02:03:04.000000Z\""),
            std::string::npos);
}

TEST_F(IngestorTest, AGroupCommitLaysOutItsEventsByOrganization) {
  StartIngestor();
  // The first commit's observer holds the writer until three more submissions are queued,
  // so that they are committed as one group.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> entered, observed_both;
  // Written by the writer thread only; read once both commits were observed.
  std::vector<std::vector<std::pair<uint64_t, std::string>>> commits;
  ingestor_->AddCommitObserver([&](const std::vector<EventRecord>& events) {
    std::vector<std::pair<uint64_t, std::string>> c;
    for (const EventRecord& e : events) c.emplace_back(e.position, e.fields.organization_id);
    commits.push_back(std::move(c));
    if (commits.size() == 1) {
      entered.set_value();
      released.wait();
    } else if (commits.size() == 2) {
      observed_both.set_value();  // observers run after the acks were sent
    }
  });
  std::promise<Result<std::vector<Ack>>> first;
  ingestor_->Submit({Draft("org_z", "a.b", "0")},
                    [&](Result<std::vector<Ack>> r) { first.set_value(std::move(r)); });
  entered.get_future().wait();

  std::vector<std::vector<EventDraft>> subs(3);
  subs[0].push_back(Draft("org_a", "a.b", "1"));
  subs[0].push_back(Draft("org_b", "a.b", "2"));
  subs[0].push_back(Draft("org_a", "a.b", "3"));
  subs[1].push_back(Draft("org_c", "a.b", "4"));
  subs[1].push_back(Draft("org_b", "a.b", "5", "kb"));
  subs[2].push_back(Draft("org_a", "a.b", "6"));
  subs[2].push_back(Draft("org_b", "a.b", "5", "kb"));  // a duplicate of subs[1][1]
  std::vector<std::promise<Result<std::vector<Ack>>>> done(3);
  for (size_t i = 0; i < 3; ++i) {
    ingestor_->Submit(std::move(subs[i]),
                      [&done, i](Result<std::vector<Ack>> r) { done[i].set_value(std::move(r)); });
  }
  release.set_value();
  ASSERT_TRUE(first.get_future().get().ok());
  std::vector<std::vector<Ack>> acks;
  for (auto& d : done) {
    Result<std::vector<Ack>> r = d.get_future().get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    acks.push_back(std::move(r).value());
  }
  observed_both.get_future().wait();
  ASSERT_EQ(commits.size(), 2u);

  // Positions 2..7: org_a's three events, org_b's two, org_c's one, each organization's in
  // submission order; seqs are as submitted.
  const std::vector<std::pair<uint64_t, std::string>> expected = {
      {2, "org_a"}, {3, "org_a"}, {4, "org_a"}, {5, "org_b"}, {6, "org_b"}, {7, "org_c"}};
  EXPECT_EQ(commits[1], expected);
  auto expect_ack = [&](const Ack& a, uint64_t position, uint64_t seq) {
    EXPECT_EQ(a.position, position) << a.id;
    EXPECT_EQ(a.seq, seq) << a.id;
    auto stored = store_->GetEvent(a.id);
    ASSERT_TRUE(stored.ok() && stored->has_value()) << a.id;
    EXPECT_EQ((*stored)->position, position);
    EXPECT_EQ((*stored)->seq, seq);
  };
  expect_ack(acks[0][0], 2, 1);
  expect_ack(acks[0][1], 5, 1);
  expect_ack(acks[0][2], 3, 2);
  expect_ack(acks[1][0], 7, 1);
  expect_ack(acks[1][1], 6, 2);
  expect_ack(acks[2][0], 4, 3);
  EXPECT_TRUE(acks[2][1].duplicate);
  EXPECT_EQ(acks[2][1].id, acks[1][1].id);
  EXPECT_EQ(acks[2][1].position, 6u);

  // The organization's log reads back in seq order.
  auto log = store_->ReadOrganization("org_a", 0, 10, true);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  ASSERT_EQ(log->size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ((*log)[i].seq, i + 1);
  EXPECT_EQ((*log)[0].id, acks[0][0].id);
  EXPECT_EQ((*log)[2].id, acks[2][0].id);
}

TEST_F(IngestorTest, SeqContinuesAfterRestart) {
  StartIngestor();
  ASSERT_TRUE(ingestor_->SubmitAndWait({Draft("org_a", "a.b", "1")}).ok());
  ASSERT_TRUE(ingestor_->SubmitAndWait({Draft("org_a", "a.b", "2")}).ok());
  ingestor_.reset();
  store_.reset();
  OpenStore();
  StartIngestor();
  auto acks = ingestor_->SubmitAndWait({Draft("org_a", "a.b", "3")});
  ASSERT_TRUE(acks.ok());
  EXPECT_EQ((*acks)[0].seq, 3u);
  EXPECT_EQ((*acks)[0].position, 3u);
}

TEST_F(IngestorTest, ConcurrentSubmissionsAreAllDurableAndGapFree) {
  StartIngestor();
  constexpr int kThreads = 8, kPerThread = 200;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::set<uint64_t> seqs;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto acks = ingestor_->SubmitAndWait(
            {Draft("org_a", "x.y", std::to_string(t) + "-" + std::to_string(i))});
        ASSERT_TRUE(acks.ok()) << acks.status().ToString();
        std::lock_guard<std::mutex> lock(mu);
        seqs.insert((*acks)[0].seq);
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_EQ(seqs.size(), static_cast<size_t>(kThreads * kPerThread));
  EXPECT_EQ(*seqs.begin(), 1u);
  EXPECT_EQ(*seqs.rbegin(), static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(*store_->LastSeq("org_a"), static_cast<uint64_t>(kThreads * kPerThread));
  // Group commit: fewer durable writes than submissions.
  EXPECT_LE(ingestor_->Stats().groups_committed, static_cast<uint64_t>(kThreads * kPerThread));
}

TEST_F(IngestorTest, IdempotentRetryReturnsTheOriginal) {
  StartIngestor();
  auto first = ingestor_->SubmitAndWait({Draft("org_a", "a.b", "1", "key-1")});
  ASSERT_TRUE(first.ok());
  auto again = ingestor_->SubmitAndWait({Draft("org_a", "a.b", "1", "key-1")});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)[0].id, (*first)[0].id);
  EXPECT_EQ((*again)[0].seq, (*first)[0].seq);
  EXPECT_TRUE((*again)[0].duplicate);
  EXPECT_EQ(*store_->LastSeq("org_a"), 1u);

  // The same key in another organization is a different key.
  auto other = ingestor_->SubmitAndWait({Draft("org_b", "a.b", "1", "key-1")});
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE((*other)[0].duplicate);
}

TEST_F(IngestorTest, IdempotencyKeyWithOtherContentConflictsAndStoresNothing) {
  StartIngestor();
  ASSERT_TRUE(ingestor_->SubmitAndWait({Draft("org_a", "a.b", "1", "key-1")}).ok());
  std::vector<EventDraft> batch;
  batch.push_back(Draft("org_a", "a.b", "2"));
  batch.push_back(Draft("org_a", "a.b", "1", "key-1", "different"));
  auto r = ingestor_->SubmitAndWait(std::move(batch));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kConflict);
  EXPECT_EQ(r.status().error_code(), "idempotency_conflict");
  EXPECT_EQ(*store_->LastSeq("org_a"), 1u);  // the valid event of the batch was not stored
}

TEST_F(IngestorTest, DuplicateKeysInsideOneSubmission) {
  StartIngestor();
  std::vector<EventDraft> batch;
  batch.push_back(Draft("org_a", "a.b", "1", "k"));
  batch.push_back(Draft("org_a", "a.b", "1", "k"));
  auto r = ingestor_->SubmitAndWait(std::move(batch));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].id, (*r)[1].id);
  EXPECT_EQ(*store_->LastSeq("org_a"), 1u);

  std::vector<EventDraft> bad;
  bad.push_back(Draft("org_a", "a.b", "9", "k2"));
  bad.push_back(Draft("org_a", "a.b", "9", "k2", "other"));
  auto c = ingestor_->SubmitAndWait(std::move(bad));
  EXPECT_EQ(c.status().code(), Code::kConflict);
}

TEST_F(IngestorTest, ExpiredIdempotencyKeyStoresAgain) {
  IngestOptions o;
  o.idempotency_window_us = 60LL * 1000000;
  StartIngestor(o);
  auto first = ingestor_->SubmitAndWait({Draft("org_a", "a.b", "1", "key")});
  ASSERT_TRUE(first.ok());
  clock_.Advance(61LL * 1000000);
  auto later = ingestor_->SubmitAndWait({Draft("org_a", "a.b", "1", "key")});
  ASSERT_TRUE(later.ok());
  EXPECT_NE((*later)[0].id, (*first)[0].id);
  EXPECT_FALSE((*later)[0].duplicate);
}

TEST_F(IngestorTest, FullQueueIsRefusedWithRetryAfter) {
  IngestOptions o;
  o.max_queued_events = 1;
  StartIngestor(o);
  // Fill the queue faster than one writer can drain it; at least one refusal must come back
  // as 503-style kUnavailable with a Retry-After hint, and every accepted one is durable.
  std::vector<std::future<Result<std::vector<Ack>>>> futures;
  for (int i = 0; i < 500; ++i) {
    auto p = std::make_shared<std::promise<Result<std::vector<Ack>>>>();
    futures.push_back(p->get_future());
    std::vector<EventDraft> two;
    two.push_back(Draft("org_a", "a.b", std::to_string(i)));
    two.push_back(Draft("org_a", "a.b", std::to_string(i)));
    ingestor_->Submit(std::move(two), [p](Result<std::vector<Ack>> r) { p->set_value(std::move(r)); });
  }
  size_t accepted = 0, refused = 0;
  for (auto& f : futures) {
    auto r = f.get();
    if (r.ok()) {
      accepted += r->size();
    } else {
      EXPECT_EQ(r.status().code(), Code::kUnavailable);
      EXPECT_EQ(r.status().error_code(), "overloaded");
      EXPECT_TRUE(r.status().retry_after_seconds().has_value());
      ++refused;
    }
  }
  EXPECT_GT(refused, 0u);
  EXPECT_EQ(*store_->LastSeq("org_a"), accepted);
}

TEST_F(IngestorTest, StopDrainsQueuedSubmissionsThenRefuses) {
  StartIngestor();
  std::vector<std::future<Result<std::vector<Ack>>>> futures;
  for (int i = 0; i < 100; ++i) {
    auto p = std::make_shared<std::promise<Result<std::vector<Ack>>>>();
    futures.push_back(p->get_future());
    ingestor_->Submit({Draft("org_a", "a.b", std::to_string(i))},
                      [p](Result<std::vector<Ack>> r) { p->set_value(std::move(r)); });
  }
  ingestor_->Stop();
  for (auto& f : futures) EXPECT_TRUE(f.get().ok());
  EXPECT_EQ(*store_->LastSeq("org_a"), 100u);
  auto after = ingestor_->SubmitAndWait({Draft("org_a", "a.b", "late")});
  EXPECT_EQ(after.status().code(), Code::kUnavailable);
  EXPECT_EQ(after.status().error_code(), "shutting_down");
}

}  // namespace
}  // namespace annals

namespace annals {
namespace {

// Wraps a real store and fails appends on demand (fault injection, as a disk error would).
class FaultyStore final : public Store {
 public:
  explicit FaultyStore(Store* real) : real_(real) {}
  std::atomic<bool> fail_appends{false};
  Status Append(const AppendBatch& b) override {
    if (fail_appends.load()) return Status::Internal("injected I/O error: No space left on device");
    return real_->Append(b);
  }
  Result<uint64_t> LastPosition() override { return real_->LastPosition(); }
  Result<uint64_t> LastSeq(const std::string& o) override { return real_->LastSeq(o); }
  Result<std::optional<EventRecord>> GetEvent(const std::string& id) override {
    return real_->GetEvent(id);
  }
  Result<std::optional<EventRecord>> GetEventBySeq(const std::string& o, uint64_t s) override {
    return real_->GetEventBySeq(o, s);
  }
  Result<std::vector<EventRecord>> ReadFrom(uint64_t p, size_t l) override {
    return real_->ReadFrom(p, l);
  }
  Result<std::vector<EventRecord>> ReadOrganization(const std::string& o, uint64_t s, size_t l,
                                                    bool c) override {
    return real_->ReadOrganization(o, s, l, c);
  }
  Result<std::vector<EventRecord>> Scan(const ScanRequest& r) override { return real_->Scan(r); }
  Result<std::vector<ScanCandidate>> ScanCandidates(const ScanRequest& r) override {
    return real_->ScanCandidates(r);
  }
  Status VisitEvents(const std::vector<uint64_t>& positions, const EventFilter& filter,
                     bool fill_cache, const EventVisitor& visit) override {
    return real_->VisitEvents(positions, filter, fill_cache, visit);
  }
  Result<std::optional<IdempotencyRecord>> GetIdempotency(const std::string& o,
                                                          const std::string& k) override {
    return real_->GetIdempotency(o, k);
  }
  Result<uint64_t> ExpireIdempotency(TimestampUs t) override { return real_->ExpireIdempotency(t); }
  Result<std::optional<ItemRecord>> GetItem(const std::string& o, const std::string& t,
                                            const std::string& i) override {
    return real_->GetItem(o, t, i);
  }
  Result<std::optional<std::string>> GetMeta(const std::string& n) override {
    return real_->GetMeta(n);
  }
  Status PutMeta(const std::string& n, const std::string& v) override { return real_->PutMeta(n, v); }
  Status DeleteMeta(const std::string& n) override { return real_->DeleteMeta(n); }
  Result<uint64_t> CountEvents(const EventFilter& f, uint64_t max_position, bool* exact) override {
    return real_->CountEvents(f, max_position, exact);
  }
  Result<uint64_t> EstimateEvents(const EventFilter& f) override {
    return real_->EstimateEvents(f);
  }
  Result<std::vector<std::string>> OrganizationsWithEvents() override {
    return real_->OrganizationsWithEvents();
  }
  Result<std::vector<std::pair<std::string, std::string>>> ListMeta(const std::string& p,
                                                                    const std::string& a,
                                                                    size_t l) override {
    return real_->ListMeta(p, a, l);
  }
  Result<uint64_t> ApproximateSizeBytes() override { return real_->ApproximateSizeBytes(); }
  Result<std::optional<std::pair<std::string, std::string>>> LastMeta(
      const std::string& p) override {
    return real_->LastMeta(p);
  }
  Result<TreeState> CurrentTree(const std::string& o) override { return real_->CurrentTree(o); }
  Result<std::vector<Digest>> TreeNodes(const std::string& o, int level, uint64_t first,
                                        size_t count) override {
    return real_->TreeNodes(o, level, first, count);
  }
  Status VisitLog(uint64_t after, uint64_t last,
                  const std::function<bool(const LogEntryView&)>& v) override {
    return real_->VisitLog(after, last, v);
  }
  Status Checkpoint(const std::string& d) override { return real_->Checkpoint(d); }
  Result<std::vector<ItemRecord>> ListItems(const std::string& o, const std::string& t,
                                            const std::string& a, size_t l) override {
    return real_->ListItems(o, t, a, l);
  }
  Result<std::optional<TimestampUs>> GetItemPurgedAt(const std::string& o, const std::string& t,
                                                     const std::string& i) override {
    return real_->GetItemPurgedAt(o, t, i);
  }
  Result<PurgeCounts> Purge(const PurgeRequest& r) override { return real_->Purge(r); }

 private:
  Store* real_;
};

TEST_F(IngestorTest, WriteFailureIsNeverAcknowledgedAndIsSticky) {
  FaultyStore faulty(store_.get());
  auto started = Ingestor::Start(&faulty, &clock_, IngestOptions{});
  ASSERT_TRUE(started.ok());
  auto ing = std::move(started).value();
  ASSERT_TRUE(ing->SubmitAndWait({Draft("org_a", "a.b", "1")}).ok());

  faulty.fail_appends = true;
  auto failed = ing->SubmitAndWait({Draft("org_a", "a.b", "2")});
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), Code::kUnavailable);
  EXPECT_EQ(failed.status().error_code(), "store_failed");
  EXPECT_FALSE(ing->Health().ok());

  // Even once the disk recovers, writes stay refused until a restart.
  faulty.fail_appends = false;
  auto refused = ing->SubmitAndWait({Draft("org_a", "a.b", "3")});
  EXPECT_EQ(refused.status().error_code(), "store_failed");
  EXPECT_EQ(*store_->LastSeq("org_a"), 1u);
}


TEST_F(IngestorTest, SourceIdempotencyKeysOutliveTheApiWindow) {
  StartIngestor();  // API window: 24 h
  EventDraft api = Draft("org_a", "finding.created", "F-1", "api-key");
  EventDraft src = Draft("org_a", "finding.created", "F-2", "placeholder");
  src.idempotency_key = "postgres p 0/16B3748:0";  // source keys hold a space, API keys cannot
  src.idempotency_ttl_us = 14LL * 86400 * 1000000;
  ASSERT_TRUE(ingestor_->SubmitAndWait({api, src}).ok());
  clock_.Advance(2LL * 86400 * 1000000);
  auto again = ingestor_->SubmitAndWait({api, src});
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_FALSE((*again)[0].duplicate);  // the API key's window has passed
  EXPECT_TRUE((*again)[1].duplicate);   // the source may still redeliver
  EXPECT_EQ((*again)[1].seq, 2u);
  clock_.Advance(13LL * 86400 * 1000000);
  EXPECT_EQ(store_->ExpireIdempotency(clock_.NowMicros()).value(), 2u);
  auto third = ingestor_->SubmitAndWait({src});
  EXPECT_FALSE((*third)[0].duplicate);
}

TEST_F(IngestorTest, RetentionPurgesWhenTheInjectedClockPassesTheWindow) {
  StartIngestor();
  auto change = [](const std::string& id, const std::string& op) {
    std::string body =
        R"({"organization_id":"org_a","action":"finding.)" + op +
        R"(","occurred_at":"2025-11-29T01:00:00Z","actor":{"id":"u1","type":"user"},)"
        R"("targets":[{"id":")" + id + R"(","type":"finding"}],"changes":)" +
        (op == "created" ? R"({"op":"create","after":{"a":1}})" : R"({"op":"delete","before":{"a":1}})") +
        "}";
    DecodeContext ctx;
    ctx.now = kNow;
    auto d = DecodeEventsBody(body, BodyFormat::kJson, EventLimits{}, RequestLimits{}, ctx);
    EXPECT_TRUE(d.ok()) << d.status().ToString();
    return std::move(d->drafts.at(0));
  };
  ASSERT_TRUE(ingestor_->SubmitAndWait({change("F-1", "created"), change("F-1", "deleted")}).ok());
  Retention retention(store_.get(), &clock_, RetentionOptions{});
  auto run = retention.Purge("org_a");
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->counts.items, 0u);
  clock_.Advance(179LL * 86400 * 1000000);
  EXPECT_EQ(retention.Purge("org_a")->counts.items, 0u);
  clock_.Advance(2LL * 86400 * 1000000);
  run = retention.Purge("org_a");
  EXPECT_EQ(run->counts.items, 1u);
  EXPECT_EQ(run->counts.events, 2u);
  EXPECT_EQ(store_->GetItemPurgedAt("org_a", "finding", "F-1").value(), clock_.NowMicros());

  // Policies and holds are stored and read back.
  RetentionPolicy p;
  p.deleted_items_keep_for_us = 86400LL * 1000000;
  p.max_event_age_us = 30LL * 86400 * 1000000;
  ASSERT_TRUE(retention.PutPolicy("org_a", p).ok());
  auto got = retention.GetPolicy("org_a");
  EXPECT_EQ(got->deleted_items_keep_for_us, 86400LL * 1000000);
  EXPECT_EQ(got->max_event_age_us, 30LL * 86400 * 1000000);
  EXPECT_EQ(got->updated_at, clock_.NowMicros());
  ASSERT_TRUE(retention.SetItemHold("org_a", "finding", "x/y", true, "case").ok());
  EXPECT_EQ(retention.GetItemHold("org_a", "finding", "x/y")->value().reason, "case");
  ASSERT_TRUE(retention.SetItemHold("org_a", "finding", "x/y", false, "").ok());
  EXPECT_FALSE(retention.GetItemHold("org_a", "finding", "x/y")->has_value());
}

TEST(RetentionDurationTest, ParsesAndFormats) {
  EXPECT_EQ(ParseRetentionDuration("180d"), 180LL * 86400 * 1000000);
  EXPECT_EQ(ParseRetentionDuration("90s"), 90LL * 1000000);
  EXPECT_EQ(ParseRetentionDuration("0s"), 0);
  for (const char* bad : {"", "d", "10", "10ms", "-1d", "1.5d", "1e3d", "999999999999d", " 1d"}) {
    EXPECT_FALSE(ParseRetentionDuration(bad).has_value()) << bad;
  }
  EXPECT_EQ(FormatRetentionDuration(180LL * 86400 * 1000000), "180d");
  EXPECT_EQ(FormatRetentionDuration(36LL * 3600 * 1000000), "36h");
  EXPECT_EQ(FormatRetentionDuration(90LL * 1000000), "90s");
  EXPECT_EQ(FormatRetentionDuration(0), "0s");
}

}  // namespace
}  // namespace annals
