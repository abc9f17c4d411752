// The export job manager on a real RocksDB with a manual clock: jobs left unfinished by a
// stopped server run again when it comes back (and export exactly their snapshot), damaged
// records are refused, finished exports expire, download signatures bind their inputs.
#include "exports/export_jobs.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "storage/rocksdb/rocks_store.h"
#include "../gunzip.h"
#include "store_test_dir.h"

namespace annals::exports {
namespace {

namespace fs = std::filesystem;
constexpr TimestampUs kT0 = 1764381784123000;

class ExportJobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = dir_.OpenStore();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  void TearDown() override {
    manager_.reset();
    store_.reset();
  }

  // Appends `n` events of org_x, occurred one second apart.
  void Append(int n) {
    AppendBatch batch;
    for (int i = 0; i < n; ++i) {
      EventRecord e;
      e.position = ++position_;
      e.seq = ++seq_;
      e.id = "evt_01M8KH8NYA9VG873XXD2BZ" + std::to_string(2000 + e.seq);
      e.received_at = kT0;
      e.fields.organization_id = "org_x";
      e.fields.action = "doc.created";
      e.fields.occurred_at = kT0 + static_cast<TimestampUs>(e.seq) * 1000000;
      e.fields.actor_id = "u";
      e.fields.actor_type = "user";
      e.fields.targets = {{"doc", "d" + std::to_string(e.seq)}};
      e.json = R"({"action":"doc.created","actor":{"id":"u","type":"user"},"id":")" + e.id +
               R"(","occurred_at":"2025-11-29T02:03:0)" + std::to_string(e.seq % 10) +
               R"(.000000Z","organization_id":"org_x","received_at":"2025-11-29T02:03:04.123000Z",)"
               R"("seq":)" + std::to_string(e.seq) +
               R"(,"source":{"kind":"api"},"targets":[{"id":"d)" + std::to_string(e.seq) +
               R"(","type":"doc"}]})";
      batch.events.push_back(std::move(e));
    }
    ASSERT_TRUE(store_->Append(batch).ok());
  }

  void OpenManager(const std::function<void(ExportManagerOptions&)>& tweak = {}) {
    manager_.reset();
    ExportManagerOptions o;
    o.dir = (dir_.path() / "exports").string();
    o.keep_for = 3600LL * 1000000;
    if (tweak) tweak(o);
    auto m = ExportManager::Open(o, store_.get(), &clock_);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    manager_ = std::move(m).value();
  }

  std::string FileOf(const ExportJob& job) {
    std::ifstream in(manager_->FilePath(job));
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  ::annals::testing::StoreTestDir dir_{"annals-export-test"};
  ManualClock clock_{kT0};
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<ExportManager> manager_;
  uint64_t position_ = 0, seq_ = 0;
};

using ::annals::testing::Gunzip;

// Rows read, encoded and compressed in many small batches on several threads come out in
// export order: the file is exactly what one encoder fed event by event writes.
TEST_F(ExportJobsTest, ManyBatchesOnSeveralThreadsComeOutInOrder) {
  Append(600);
  OpenManager([](ExportManagerOptions& o) {
    o.page_size = 50;
    o.batch_size = 7;
    o.encode_threads = 3;
  });
  manager_->Start();
  ScanRequest all;
  all.filter.organization_id = "org_x";
  all.filter.from = kT0 + 101 * 1000000;  // seq 101 onwards
  all.descending = false;
  all.limit = 10000;
  const std::vector<EventRecord> events = store_->Scan(all).value();
  ASSERT_EQ(events.size(), 500u);
  for (ExportFormat format : {ExportFormat::kCsv, ExportFormat::kNdjson, ExportFormat::kJson}) {
    for (bool gzip : {false, true}) {
      SCOPED_TRACE(std::string(ExportFormatName(format)) + (gzip ? " gzip" : ""));
      ExportRequest r;
      r.filter = all.filter;
      r.format = format;
      r.gzip = gzip;
      Result<ExportJob> job = manager_->Create(r, "key_1", "native");
      ASSERT_TRUE(job.ok()) << job.status().ToString();
      manager_->WaitIdle();
      Result<ExportJob> done = manager_->Get("org_x", job->id);
      ASSERT_TRUE(done.ok());
      ASSERT_EQ(done->state, ExportState::kReady) << done->error;
      EXPECT_EQ(done->rows, 500u);
      EXPECT_EQ(done->total_estimate.value_or(0), 500u);
      ExportEncoder expected = ExportEncoder::Create(format, false).value();
      std::string want;
      for (const EventRecord& e : events) ASSERT_TRUE(expected.Add(e.json, &want).ok());
      ASSERT_TRUE(expected.Finish(&want).ok());
      const std::string file = FileOf(*done);
      EXPECT_EQ(file.size(), done->bytes);
      EXPECT_TRUE((gzip ? Gunzip(file) : file) == want);
    }
  }
}

// A large export takes the store's estimate as its progress total from the start, instead
// of counting; a small one is counted; once ready, the total is the rows either way.
TEST_F(ExportJobsTest, LargeExportsTakeAnEstimatedTotalSmallOnesACount) {
  for (int i = 0; i < 20; ++i) Append(1000);
  ASSERT_TRUE(store_->Flush().ok());
  EventFilter org_x;
  org_x.organization_id = "org_x";
  bool exact = false;
  const uint64_t count = store_->CountEvents(org_x, 0, &exact).value();
  ASSERT_EQ(count, 20000u);
  const uint64_t estimate = store_->EstimateEvents(org_x).value();
  ASSERT_GT(estimate, 15000u);
  ASSERT_LT(estimate, 25000u);

  for (const uint64_t exact_count_max : {uint64_t{0}, uint64_t{1000000}}) {
    SCOPED_TRACE("exact_count_max " + std::to_string(exact_count_max));
    // An export whose file cannot be created fails right after its first progress record,
    // which shows the total it started with.
    OpenManager([&](ExportManagerOptions& o) { o.exact_count_max = exact_count_max; });
    ExportRequest r;
    r.filter.organization_id = "org_x";
    r.format = ExportFormat::kCsv;
    Result<ExportJob> failing = manager_->Create(r, "key_1", "native");
    ASSERT_TRUE(failing.ok()) << failing.status().ToString();
    fs::create_directories(manager_->FilePath(*failing) + ".part");  // open() fails: EISDIR
    manager_->Start();
    manager_->WaitIdle();
    Result<ExportJob> failed = manager_->Get("org_x", failing->id);
    ASSERT_TRUE(failed.ok());
    ASSERT_EQ(failed->state, ExportState::kError);
    if (exact_count_max == 0) {
      EXPECT_EQ(failed->total_estimate.value_or(0), estimate);
    } else {
      EXPECT_FALSE(failed->total_estimate.has_value());  // the count never finished
    }

    Result<ExportJob> job = manager_->Create(r, "key_1", "native");
    ASSERT_TRUE(job.ok()) << job.status().ToString();
    manager_->WaitIdle();
    Result<ExportJob> done = manager_->Get("org_x", job->id);
    ASSERT_TRUE(done.ok());
    ASSERT_EQ(done->state, ExportState::kReady) << done->error;
    EXPECT_EQ(done->rows, 20000u);
    EXPECT_EQ(done->total_estimate.value_or(0), 20000u);
  }
}

TEST_F(ExportJobsTest, UnfinishedJobsRunAgainAfterARestartWithTheirSnapshot) {
  Append(3);
  OpenManager();  // not started: the job stays pending, as if the server stopped at once
  ExportRequest r;
  r.filter.organization_id = "org_x";
  r.format = ExportFormat::kNdjson;
  Result<ExportJob> job = manager_->Create(r, "key_1", "native");
  ASSERT_TRUE(job.ok()) << job.status().ToString();
  EXPECT_EQ(job->state, ExportState::kPending);
  // A partial file of the interrupted run, and a record that says running.
  ExportJob running = *job;
  running.state = ExportState::kRunning;
  running.rows = 2;
  ASSERT_TRUE(store_->PutMeta("export/org_x/" + job->id, EncodeExportJob(running)).ok());
  fs::create_directories(dir_.path() / "exports");
  std::ofstream((manager_->FilePath(*job) + ".part")) << "half a line";
  // Events stored after the export was created are not part of it.
  Append(2);

  manager_->Stop();
  OpenManager();
  manager_->Start();
  manager_->WaitIdle();
  Result<ExportJob> done = manager_->Get("org_x", job->id);
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->state, ExportState::kReady) << done->error;
  EXPECT_EQ(done->rows, 3u);
  EXPECT_EQ(done->total_estimate.value_or(0), 3u);
  const std::string text = FileOf(*done);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_EQ(text.find("half a line"), std::string::npos);
  EXPECT_FALSE(fs::exists(manager_->FilePath(*done) + ".part"));
  EXPECT_EQ(static_cast<uint64_t>(fs::file_size(manager_->FilePath(*done))), done->bytes);

  // Another organization never sees it.
  EXPECT_EQ(manager_->Get("org_y", job->id).status().error_code(), "export_not_found");
  EXPECT_EQ(manager_->GetById(job->id)->id, job->id);
}

TEST_F(ExportJobsTest, FinishedExportsExpire) {
  Append(1);
  OpenManager();
  manager_->Start();
  ExportRequest r;
  r.filter.organization_id = "org_x";
  ExportJob job = manager_->Create(r, "", "native").value();
  manager_->WaitIdle();
  ASSERT_EQ(manager_->Get("org_x", job.id)->state, ExportState::kReady);
  const std::string path = manager_->FilePath(job);
  EXPECT_TRUE(fs::exists(path));
  clock_.Advance(3599LL * 1000000);
  ASSERT_TRUE(manager_->RemoveExpired().ok());
  EXPECT_TRUE(fs::exists(path));
  clock_.Advance(2LL * 1000000);
  ASSERT_TRUE(manager_->RemoveExpired().ok());
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(manager_->Get("org_x", job.id).status().error_code(), "export_not_found");
  EXPECT_TRUE(manager_->List("org_x")->empty());
}

TEST_F(ExportJobsTest, DamagedRecordsAreRefusedAtOpen) {
  ASSERT_TRUE(store_->PutMeta("export/org_x/exp_1", "{\"id\":").ok());
  ExportManagerOptions o;
  o.dir = (dir_.path() / "exports").string();
  auto m = ExportManager::Open(o, store_.get(), &clock_);
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().error_code(), "corrupt_export");
}

TEST_F(ExportJobsTest, DownloadSignaturesBindOrganizationIdAndExpiry) {
  OpenManager();
  const std::string sig = manager_->SignDownload("org_x", "exp_1", 1000);
  EXPECT_TRUE(manager_->VerifyDownload("org_x", "exp_1", 1000, sig));
  EXPECT_FALSE(manager_->VerifyDownload("org_y", "exp_1", 1000, sig));
  EXPECT_FALSE(manager_->VerifyDownload("org_x", "exp_2", 1000, sig));
  EXPECT_FALSE(manager_->VerifyDownload("org_x", "exp_1", 1001, sig));
  EXPECT_FALSE(manager_->VerifyDownload("org_x", "exp_1", 1000, sig.substr(1)));
  EXPECT_FALSE(manager_->VerifyDownload("org_x", "exp_1", 1000, ""));
  // The key is kept in the store: a restarted manager accepts the same links.
  OpenManager();
  EXPECT_TRUE(manager_->VerifyDownload("org_x", "exp_1", 1000, sig));
}

}  // namespace
}  // namespace annals::exports
