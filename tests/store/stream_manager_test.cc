// The stream delivery engine on a real RocksDB with a manual clock and a scripted destination:
// order and batching, the durable cursor across restarts, the retry schedule (backoff with
// jitter, Retry-After), `error` with the cursor held, dead letters and their re-drive,
// oversized events, filters, pause, replay.
#include "streams/stream_manager.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <deque>
#include <filesystem>
#include <mutex>

#include "storage/rocksdb/rocks_store.h"
#include "store_test_dir.h"

namespace annals::streams {
namespace {

namespace fs = std::filesystem;
using sinks::DeliveryOutcome;
using sinks::DeliveryResult;
using namespace std::chrono_literals;
constexpr TimestampUs kT0 = 1764381784123000;
constexpr TimestampUs kSecond = 1000000;

// What the scripted destination saw and will answer. Thread-safe.
struct Script {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<DeliveryResult> answers;  // then: delivered
  std::vector<sinks::SinkBatch> batches;
  size_t max_event_bytes = 1 << 20;
  int stuck_waiting = 0;  // deliveries blocked in a stuck sink
  bool release = false;   // lets them return

  void Push(DeliveryOutcome o, int status, std::optional<std::chrono::milliseconds> ra = {}) {
    std::lock_guard lock(mu);
    DeliveryResult r;
    r.outcome = o;
    r.http_status = status;
    r.detail = "HTTP " + std::to_string(status);
    r.retry_after = ra;
    answers.push_back(r);
  }
  // Waits (real time, bounded) until `n` batches were attempted.
  bool WaitBatches(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 10s, [&] { return batches.size() >= n; });
  }
  std::vector<uint64_t> DeliveredSeqs() {
    std::lock_guard lock(mu);
    std::vector<uint64_t> seqs;
    for (const auto& b : batches) {
      for (const auto& e : b.events) seqs.push_back(e.seq);
    }
    return seqs;
  }
};

class ScriptedSink final : public sinks::Sink {
 public:
  ScriptedSink(Script* s, bool stuck) : s_(s), stuck_(stuck) {}
  DeliveryResult Deliver(const sinks::SinkBatch& batch) override {
    std::unique_lock lock(s_->mu);
    if (stuck_) {  // a destination that hangs until released
      ++s_->stuck_waiting;
      s_->cv.notify_all();
      s_->cv.wait(lock, [&] { return s_->release; });
    }
    s_->batches.push_back(batch);
    DeliveryResult r;
    r.outcome = DeliveryOutcome::kDelivered;
    r.http_status = 200;
    if (!s_->answers.empty()) {
      r = s_->answers.front();
      s_->answers.pop_front();
    }
    s_->cv.notify_all();
    return r;
  }
  size_t max_event_bytes() const override { return s_->max_event_bytes; }

 private:
  Script* s_;
  const bool stuck_;
};

class ScriptedFactory final : public sinks::SinkFactory {
 public:
  explicit ScriptedFactory(Script* s) : s_(s) {}
  bool Knows(const std::string& type) const override { return type == "scripted"; }
  Status Validate(const std::string&, const boost::json::object& config) const override {
    if (config.contains("bad")) {
      return Status::InvalidArgument("bad config", "invalid_stream_config",
                                     {{"/config/bad", "not allowed"}});
    }
    return Status::Ok();
  }
  Result<std::unique_ptr<sinks::Sink>> Create(const std::string&,
                                              const boost::json::object& config) const override {
    return std::unique_ptr<sinks::Sink>(
        std::make_unique<ScriptedSink>(s_, config.contains("stuck")));
  }
  std::vector<std::string> SecretFields(const std::string&) const override { return {"token"}; }
  std::string ExclusiveTarget(const std::string&, const boost::json::object& c) const override {
    const auto* bucket = c.if_contains("bucket");
    return bucket ? std::string(bucket->as_string()) : "";
  }
  sinks::BatchLimits Limits(const std::string&) const override { return {1000, 1 << 20, 16}; }

 private:
  Script* s_;
};

class StreamManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = dir_.OpenStore();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    Open();
  }
  void TearDown() override {
    {
      std::lock_guard lock(script_.mu);  // a stuck destination lets go, so Stop() can join
      script_.release = true;
      script_.cv.notify_all();
    }
    manager_.reset();
    store_.reset();
  }

  void Open() {
    manager_.reset();
    StreamManagerOptions o;
    o.initial_backoff = 1000ms;
    o.max_backoff = 60000ms;
    o.jitter = 0.2;
    o.random_seed = 7;
    o.read_chunk = 4;  // small, so reads span several chunks
    auto m = StreamManager::Open(o, store_.get(), &clock_, &factory_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(m).value();
    manager_->Start();
  }

  // Appends `n` events of `org` with `action`; `json_pad` makes each event that many bytes
  // larger.
  void Append(int n, const std::string& action = "doc.created", const std::string& org = "org_x",
              size_t json_pad = 0) {
    AppendBatch batch;
    for (int i = 0; i < n; ++i) {
      EventRecord e;
      e.position = ++position_;
      e.seq = ++seqs_[org];
      e.id = "evt_01M8KH8NYA9VG873XXD2B" + std::to_string(10000 + position_);
      e.received_at = clock_.NowMicros();
      e.fields.organization_id = org;
      e.fields.action = action;
      e.fields.occurred_at = clock_.NowMicros();
      e.fields.actor_id = "u";
      e.fields.actor_type = "user";
      e.fields.targets = {{"doc", "d" + std::to_string(e.seq)}};
      e.json = R"({"action":")" + action + R"(","id":")" + e.id + R"(","pad":")" +
               std::string(json_pad, 'x') + R"(","seq":)" + std::to_string(e.seq) + "}";
      batch.events.push_back(std::move(e));
    }
    ASSERT_TRUE(store_->Append(batch).ok());
    if (manager_) manager_->OnCommit(batch.events);
  }

  StreamInfo Create(BatchPolicy batch = {}, EventFilter filter = {}) {
    StreamSpec spec;
    spec.organization_id = "org_x";
    spec.name = "siem";
    spec.type = "scripted";
    spec.config = {{"url", "https://example.com"}, {"token", "s3cret"}};
    spec.filter = filter;
    spec.batch = batch;
    auto s = manager_->Create(spec, "key_test");
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? *s : StreamInfo{};
  }

  StreamInfo Info(const std::string& id) { return manager_->Get("org_x", id).value(); }

  // Waits (real time, bounded) for `pred` on the stream's info.
  template <typename Pred>
  bool WaitFor(const std::string& id, Pred pred) {
    for (int i = 0; i < 1000; ++i) {
      if (pred(Info(id))) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  ::annals::testing::StoreTestDir dir_{"annals-stream-test"};
  ManualClock clock_{kT0};
  Script script_;
  ScriptedFactory factory_{&script_};
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<StreamManager> manager_;
  uint64_t position_ = 0;
  std::map<std::string, uint64_t> seqs_;
};

TEST_F(StreamManagerTest, DeliversNewEventsInOrderInBatchesAndKeepsTheCursor) {
  Append(3);  // before the stream: not delivered
  StreamInfo s = Create(BatchPolicy{.max_events = 4, .max_bytes = 1 << 20, .max_delay = 0ms});
  EXPECT_EQ(s.delivered_seq, 3u);
  EXPECT_EQ(s.state, StreamState::kActive);
  Append(10);
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 13; }));
  std::vector<uint64_t> want;
  for (uint64_t i = 4; i <= 13; ++i) want.push_back(i);
  EXPECT_EQ(script_.DeliveredSeqs(), want);
  for (const auto& b : script_.batches) {
    EXPECT_LE(b.events.size(), 4u);
    EXPECT_EQ(b.delivery_id, s.id + ":" + std::to_string(b.first_seq()) + "-" +
                                 std::to_string(b.last_seq()));
    EXPECT_EQ(b.organization_id, "org_x");
  }
  StreamInfo now = Info(s.id);
  EXPECT_EQ(now.delivered_events, 10u);
  EXPECT_EQ(now.lag_events, 0u);
  EXPECT_EQ(now.last_success_at, kT0);

  // A restart resumes after the cursor: nothing is sent twice.
  Open();
  Append(2);
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 15; }));
  want.push_back(14);
  want.push_back(15);
  EXPECT_EQ(script_.DeliveredSeqs(), want);
}

TEST_F(StreamManagerTest, WaitsForTheBatchDelayUnlessTheBatchIsFull) {
  StreamInfo s = Create(BatchPolicy{.max_events = 5, .max_bytes = 1 << 20, .max_delay = 2000ms});
  Append(2);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(script_.DeliveredSeqs().empty());  // 2 of 5, and the delay has not passed
  clock_.Advance(2 * kSecond);
  manager_->Kick();
  ASSERT_TRUE(script_.WaitBatches(1));
  EXPECT_EQ(script_.DeliveredSeqs(), (std::vector<uint64_t>{1, 2}));
  Append(5);  // a full batch goes at once
  ASSERT_TRUE(script_.WaitBatches(2));
  EXPECT_EQ(script_.batches[1].events.size(), 5u);
  (void)s;
}

TEST_F(StreamManagerTest, RetriesWithBackoffAndRetryAfterKeepingTheSameBatch) {
  StreamInfo s = Create(BatchPolicy{.max_events = 100, .max_bytes = 1 << 20, .max_delay = 0ms});
  script_.Push(DeliveryOutcome::kRetry, 500);
  script_.Push(DeliveryOutcome::kRetry, 503);
  script_.Push(DeliveryOutcome::kRetry, 429, 7000ms);
  script_.Push(DeliveryOutcome::kRetry, 0);  // a timeout
  Append(3);
  // Attempt n fails → the next is due after base * 2^(n-1), jittered by at most 20%, or
  // after Retry-After when that is longer.
  const int64_t expect_ms[] = {1000, 2000, 7000, 8000};
  for (int n = 0; n < 4; ++n) {
    ASSERT_TRUE(script_.WaitBatches(static_cast<size_t>(n + 1)));
    ASSERT_TRUE(WaitFor(s.id, [&](const StreamInfo& i) {
      return i.consecutive_failures == static_cast<uint32_t>(n + 1);
    }));
    StreamInfo i = Info(s.id);
    const int64_t wait_ms = (i.next_attempt_at - clock_.NowMicros()) / 1000;
    if (n == 2) {
      EXPECT_EQ(wait_ms, 7000) << "Retry-After wins over a shorter backoff";
    } else {
      EXPECT_LE(wait_ms, expect_ms[n]) << n;
      EXPECT_GE(wait_ms, expect_ms[n] * 8 / 10) << n;
    }
    EXPECT_EQ(i.state, StreamState::kActive);
    EXPECT_EQ(i.delivered_seq, 0u);  // held
    EXPECT_FALSE(i.last_error.empty());
    // Not before it is due.
    clock_.Advance((wait_ms - 1) * 1000);
    manager_->Kick();
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(script_.batches.size(), static_cast<size_t>(n + 1));
    clock_.Advance(1000);
    manager_->Kick();
  }
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 3; }));
  ASSERT_EQ(script_.batches.size(), 5u);
  for (const auto& b : script_.batches) {
    EXPECT_EQ(b.delivery_id, s.id + ":1-3");  // stable across retries
  }
  StreamInfo i = Info(s.id);
  EXPECT_EQ(i.consecutive_failures, 0u);
  EXPECT_TRUE(i.last_error.empty());
}

TEST_F(StreamManagerTest, AGoneDestinationHoldsTheCursorInErrorAndCatchesUpOnceFixed) {
  StreamInfo s = Create(BatchPolicy{.max_events = 100, .max_bytes = 1 << 20, .max_delay = 0ms});
  script_.Push(DeliveryOutcome::kFailed, 410);
  script_.Push(DeliveryOutcome::kFailed, 401);
  Append(4);
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.state == StreamState::kError; }));
  StreamInfo i = Info(s.id);
  EXPECT_EQ(i.delivered_seq, 0u);
  EXPECT_EQ(i.last_http_status, 410);
  EXPECT_EQ(i.lag_events, 4u);
  // Still in error after the next attempt; the events are not skipped.
  clock_.Advance(60 * kSecond);
  manager_->Kick();
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.consecutive_failures == 2; }));
  EXPECT_EQ(Info(s.id).state, StreamState::kError);
  // The state survives a restart.
  Open();
  EXPECT_EQ(Info(s.id).state, StreamState::kError);
  Append(1);
  clock_.Advance(120 * kSecond);
  manager_->Kick();
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 5; }));
  EXPECT_EQ(Info(s.id).state, StreamState::kActive);
  // The batch that was failing is sent as it was (the same delivery id), then the rest.
  ASSERT_EQ(script_.batches.size(), 4u);
  EXPECT_EQ(script_.batches[2].delivery_id, s.id + ":1-4");
  EXPECT_EQ(script_.batches[3].delivery_id, s.id + ":5-5");
}

TEST_F(StreamManagerTest, RejectedBatchesAreDeadLetteredAfterTheBudgetAndCanBeRedriven) {
  StreamInfo s = Create(BatchPolicy{.max_events = 2, .max_bytes = 1 << 20, .max_delay = 0ms});
  for (int i = 0; i < 3; ++i) script_.Push(DeliveryOutcome::kRejected, 422);
  Append(4);
  for (int i = 1; i <= 2; ++i) {
    ASSERT_TRUE(script_.WaitBatches(static_cast<size_t>(i)));
    ASSERT_TRUE(WaitFor(s.id, [&](const StreamInfo& x) {
      return x.consecutive_failures == static_cast<uint32_t>(i);
    }));
    clock_.Advance(10 * kSecond);
    manager_->Kick();
  }
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 4; }));
  StreamInfo i = Info(s.id);
  EXPECT_EQ(i.dead_letters, 1u);
  EXPECT_EQ(i.delivered_events, 2u);
  auto dead = manager_->DeadLetters("org_x", s.id).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].id, "1-2");
  EXPECT_EQ(dead[0].reason, "rejected");
  EXPECT_EQ(dead[0].http_status, 422);
  EXPECT_EQ(dead[0].attempts, 3u);
  EXPECT_EQ(dead[0].events, 2u);

  // Another organization cannot see or touch it.
  EXPECT_EQ(manager_->DeadLetters("org_y", s.id).status().code(), Code::kNotFound);
  EXPECT_EQ(manager_->Redrive("org_x", s.id, "9-9").status().code(), Code::kNotFound);
  const size_t before = script_.batches.size();
  auto r = manager_->Redrive("org_x", s.id, "1-2");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(script_.WaitBatches(before + 1));
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.dead_letters == 0; }));
  EXPECT_EQ(script_.batches.back().delivery_id, s.id + ":1-2");
  EXPECT_TRUE(manager_->DeadLetters("org_x", s.id).value().empty());
}

TEST_F(StreamManagerTest, AnEventTooLargeForTheDestinationIsDeadLetteredAloneWithItsReason) {
  script_.max_event_bytes = 300;
  StreamInfo s = Create(BatchPolicy{.max_events = 10, .max_bytes = 1 << 20, .max_delay = 0ms});
  Append(2);
  Append(1, "doc.created", "org_x", 500);  // seq 3: too large
  Append(2);
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 5; }));
  std::vector<uint64_t> seqs = script_.DeliveredSeqs();
  EXPECT_EQ(std::count(seqs.begin(), seqs.end(), 3u), 0);
  EXPECT_EQ(seqs.size(), 4u);
  auto dead = manager_->DeadLetters("org_x", s.id).value();
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].id, "3-3");
  EXPECT_EQ(dead[0].reason, "event_too_large");
  EXPECT_NE(dead[0].detail.find("300"), std::string::npos) << dead[0].detail;
}

TEST_F(StreamManagerTest, OnlyMatchingEventsAreDeliveredAndTheCursorPassesTheRest) {
  EventFilter f;
  f.action_prefixes = {"finding."};
  StreamInfo s = Create(BatchPolicy{.max_events = 100, .max_bytes = 1 << 20, .max_delay = 0ms}, f);
  Append(3, "doc.created");
  Append(2, "finding.updated");
  Append(3, "doc.deleted");
  Append(2, "other.x", "org_y");  // another organization
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 8; }));
  EXPECT_EQ(script_.DeliveredSeqs(), (std::vector<uint64_t>{4, 5}));
}

TEST_F(StreamManagerTest, PauseHoldsDeliveryAndReplayRewindsTheCursor) {
  StreamInfo s = Create(BatchPolicy{.max_events = 100, .max_bytes = 1 << 20, .max_delay = 0ms});
  ASSERT_TRUE(manager_->SetPaused("org_x", s.id, true).ok());
  EXPECT_EQ(Info(s.id).state, StreamState::kPaused);
  Append(3);
  std::this_thread::sleep_for(100ms);
  EXPECT_TRUE(script_.DeliveredSeqs().empty());
  EXPECT_EQ(Info(s.id).lag_events, 3u);
  // Paused survives a restart.
  Open();
  EXPECT_EQ(Info(s.id).state, StreamState::kPaused);
  ASSERT_TRUE(manager_->SetPaused("org_x", s.id, false).ok());
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 3; }));

  auto r = manager_->Replay("org_x", s.id, 2, std::nullopt);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(script_.WaitBatches(2));
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 3; }));
  EXPECT_EQ(script_.DeliveredSeqs(), (std::vector<uint64_t>{1, 2, 3, 2, 3}));
  EXPECT_EQ(manager_->Replay("org_x", s.id, 0, std::nullopt).status().code(),
            Code::kInvalidArgument);
  EXPECT_EQ(manager_->Replay("org_x", s.id, 5, std::nullopt).status().code(),
            Code::kInvalidArgument);
  // By time: the first event received at or after it.
  r = manager_->Replay("org_x", s.id, std::nullopt, kT0 - kSecond);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->delivered_seq, 0u);
}

TEST_F(StreamManagerTest, ABatchBeingRetriedIsRebuiltIdenticallyAfterARestart) {
  StreamInfo s = Create(BatchPolicy{.max_events = 100, .max_bytes = 1 << 20, .max_delay = 0ms});
  script_.Push(DeliveryOutcome::kRetry, 503);
  Append(3);
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.consecutive_failures == 1; }));
  manager_.reset();
  Append(2);  // arrives while stopped; must not join the recorded batch
  Open();
  clock_.Advance(5 * kSecond);
  manager_->Kick();
  ASSERT_TRUE(WaitFor(s.id, [](const StreamInfo& i) { return i.delivered_seq == 5; }));
  ASSERT_GE(script_.batches.size(), 3u);
  EXPECT_EQ(script_.batches[0].delivery_id, s.id + ":1-3");
  EXPECT_EQ(script_.batches[1].delivery_id, s.id + ":1-3");
  EXPECT_EQ(script_.batches[2].delivery_id, s.id + ":4-5");
}

TEST_F(StreamManagerTest, ValidationUpdateSecretsAndDeletion) {
  StreamSpec bad;
  bad.organization_id = "org_x";
  bad.name = "";
  bad.type = "carrier_pigeon";
  auto r = manager_->Create(bad, "k");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().error_code(), "invalid_stream");
  ASSERT_GE(r.status().details().size(), 2u);
  EXPECT_EQ(r.status().details()[0].path, "/name");
  EXPECT_EQ(r.status().details()[1].path, "/type");

  StreamInfo s = Create();
  EXPECT_EQ(manager_->RedactedConfig(s.spec), (boost::json::object{{"url", "https://example.com"}}));
  StreamUpdate u;
  u.config = boost::json::object{{"url", "https://example.org"}};
  auto updated = manager_->Update("org_x", s.id, u);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->spec.config.at("token"), "s3cret");  // kept
  EXPECT_EQ(updated->spec.config.at("url"), "https://example.org");
  u.config = boost::json::object{{"bad", true}};
  EXPECT_EQ(manager_->Update("org_x", s.id, u).status().error_code(), "invalid_stream_config");
  EXPECT_EQ(Info(s.id).spec.config.at("url"), "https://example.org");  // unchanged
  EXPECT_EQ(manager_->Get("org_y", s.id).status().code(), Code::kNotFound);

  // Two streams may not share a destination that cannot be shared, also across organizations.
  StreamSpec a;
  a.organization_id = "org_x";
  a.name = "archive";
  a.type = "scripted";
  a.config = {{"bucket", "b1"}};
  auto first = manager_->Create(a, "k");
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  a.organization_id = "org_y";
  EXPECT_EQ(manager_->Create(a, "k").status().error_code(), "destination_in_use");
  a.config = {{"bucket", "b2"}};
  auto second = manager_->Create(a, "k");
  ASSERT_TRUE(second.ok());
  StreamUpdate move;
  move.config = boost::json::object{{"bucket", "b1"}};
  EXPECT_EQ(manager_->Update("org_y", second->id, move).status().error_code(),
            "destination_in_use");
  move.config = boost::json::object{{"bucket", "b3"}};
  EXPECT_TRUE(manager_->Update("org_y", second->id, move).ok());
  EXPECT_EQ(manager_->Delete("org_y", s.id).code(), Code::kNotFound);
  ASSERT_TRUE(manager_->Delete("org_x", s.id).ok());
  EXPECT_EQ(manager_->Get("org_x", s.id).status().code(), Code::kNotFound);
  Open();
  auto left = manager_->List("org_x").value();
  ASSERT_EQ(left.size(), 1u);  // the "archive" stream only
  EXPECT_EQ(left[0].id, first->id);
}

TEST_F(StreamManagerTest, AStuckDestinationHoldsOnlyItsOwnStream) {
  StreamSpec stuck;
  stuck.organization_id = "org_x";
  stuck.name = "stuck";
  stuck.type = "scripted";
  stuck.config = {{"stuck", true}};
  stuck.batch.max_delay = 0ms;
  auto a = manager_->Create(stuck, "k");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  StreamInfo b = Create(BatchPolicy{.max_events = 100, .max_bytes = 1 << 20, .max_delay = 0ms});
  Append(3);
  {
    std::unique_lock lock(script_.mu);
    ASSERT_TRUE(script_.cv.wait_for(lock, 10s, [&] { return script_.stuck_waiting == 1; }));
  }
  // The other stream delivers, and appends (the ingestor's commit observer) do not wait.
  ASSERT_TRUE(WaitFor(b.id, [](const StreamInfo& i) { return i.delivered_seq == 3; }));
  Append(2);
  ASSERT_TRUE(WaitFor(b.id, [](const StreamInfo& i) { return i.delivered_seq == 5; }));
  EXPECT_EQ(Info(a->id).delivered_seq, 0u);
  {
    std::lock_guard lock(script_.mu);
    script_.release = true;
    script_.cv.notify_all();
  }
  ASSERT_TRUE(WaitFor(a->id, [](const StreamInfo& i) { return i.delivered_seq == 5; }));
}

}  // namespace
}  // namespace annals::streams
