#include "exports/export_jobs.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <utility>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/event_filter_json.h"
#include "exports/row_pipeline.h"

namespace annals::exports {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view kRecordPrefix = "export/";
constexpr std::string_view kUrlKeyName = "exports/url_key";

std::string RecordPrefix(const std::string& organization_id) {
  return std::string(kRecordPrefix) + organization_id + "/";
}

Result<ExportState> ParseState(std::string_view s) {
  if (s == "pending") return ExportState::kPending;
  if (s == "running") return ExportState::kRunning;
  if (s == "ready") return ExportState::kReady;
  if (s == "error") return ExportState::kError;
  return Status(Code::kInternal, "corrupt_export", "an export record has an unknown state");
}

// The actor.name of a stored event, if it has one.
std::optional<std::string> ActorName(const std::string& event_json) {
  boost::system::error_code ec;
  json::value v = json::parse(event_json, ec);
  if (ec || !v.is_object()) return std::nullopt;
  const json::value* actor = v.as_object().if_contains("actor");
  if (actor == nullptr || !actor->is_object()) return std::nullopt;
  const json::value* name = actor->as_object().if_contains("name");
  if (name == nullptr || !name->is_string()) return std::nullopt;
  return std::string(name->as_string());
}

// Writes `data` fully to `fd`.
Status WriteAll(int fd, const std::string& data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::Unavailable("cannot write export file " + path + ": " +
                                     std::strerror(errno),
                                 "export_write_failed");
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Starts writeback of what was written to `fd` since *from once it reaches kWritebackBytes,
// so that the final fsync has little left to do (as RocksDB's bytes_per_sync). Best effort:
// the fsync at the end is what makes the file durable.
constexpr off_t kWritebackBytes = 8 << 20;
void StartWriteback(int fd, off_t written, off_t* from) {
#if defined(__linux__)
  if (written - *from < kWritebackBytes) return;
  (void)::sync_file_range(fd, *from, written - *from, SYNC_FILE_RANGE_WRITE);
  *from = written;
#else
  (void)fd;
  (void)written;
  (void)from;
#endif
}

}  // namespace

const char* ExportStateName(ExportState state) {
  switch (state) {
    case ExportState::kPending:
      return "pending";
    case ExportState::kRunning:
      return "running";
    case ExportState::kReady:
      return "ready";
    case ExportState::kError:
      return "error";
  }
  return "error";
}

std::string EncodeExportJob(const ExportJob& job) {
  json::object filter = EncodeFilterRecord(job.request.filter);
  filter["actor_names"] = JsonStrings(job.request.actor_names);
  json::object o;
  o["id"] = job.id;
  o["filter"] = std::move(filter);
  o["format"] = std::string(ExportFormatName(job.request.format));
  o["gzip"] = job.request.gzip;
  if (job.request.verifiable) o["verifiable"] = true;
  o["state"] = ExportStateName(job.state);
  o["rows"] = job.rows;
  o["bytes"] = job.bytes;
  if (job.total_estimate) o["total_estimate"] = *job.total_estimate;
  o["snapshot_position"] = job.snapshot_position;
  o["created_at"] = job.created_at;
  o["updated_at"] = job.updated_at;
  o["finished_at"] = job.finished_at;
  o["error"] = job.error;
  o["created_by"] = job.created_by;
  o["label"] = job.label;
  return Canonical(json::value(std::move(o)));
}

Result<ExportJob> DecodeExportJob(std::string_view text) {
  const Status corrupt = Status(Code::kInternal, "corrupt_export", "a malformed export record");
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return corrupt;
  const json::object& o = v.as_object();
  ExportJob job;
  try {
    job.id = std::string(o.at("id").as_string());
    const json::object& f = o.at("filter").as_object();
    if (!DecodeFilterRecord(f, &job.request.filter) ||
        !GetJsonStrings(f, "actor_names", &job.request.actor_names)) {
      return corrupt;
    }
    Result<ExportFormat> format = ParseExportFormat(o.at("format").as_string());
    if (!format.ok()) return corrupt;
    job.request.format = *format;
    job.request.gzip = o.at("gzip").as_bool();
    if (const json::value* verifiable = o.if_contains("verifiable")) {
      job.request.verifiable = verifiable->as_bool();
    }
    Result<ExportState> state = ParseState(o.at("state").as_string());
    if (!state.ok()) return state.status();
    job.state = *state;
    job.rows = o.at("rows").to_number<uint64_t>();
    job.bytes = o.at("bytes").to_number<uint64_t>();
    if (const json::value* t = o.if_contains("total_estimate")) {
      job.total_estimate = t->to_number<uint64_t>();
    }
    job.snapshot_position = o.at("snapshot_position").to_number<uint64_t>();
    job.created_at = o.at("created_at").to_number<int64_t>();
    job.updated_at = o.at("updated_at").to_number<int64_t>();
    job.finished_at = o.at("finished_at").to_number<int64_t>();
    job.error = std::string(o.at("error").as_string());
    job.created_by = std::string(o.at("created_by").as_string());
    job.label = std::string(o.at("label").as_string());
  } catch (const std::exception&) {
    return corrupt;
  }
  return job;
}

ExportManager::ExportManager(ExportManagerOptions options, Store* store, const Clock* clock)
    : options_(std::move(options)), store_(store), clock_(clock) {}

Result<std::unique_ptr<ExportManager>> ExportManager::Open(ExportManagerOptions options,
                                                           Store* store, const Clock* clock) {
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) {
    return Status::Internal("cannot create the export directory " + options.dir + ": " +
                            ec.message());
  }
  std::unique_ptr<ExportManager> m(new ExportManager(std::move(options), store, clock));

  Result<std::optional<std::string>> key = store->GetMeta(std::string(kUrlKeyName));
  if (!key.ok()) return key.status();
  if (key->has_value() && (*key)->size() == 32) {
    m->url_key_ = **key;
  } else {
    std::string fresh(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(fresh.data()), 32) != 1) {
      return Status::Internal("cannot create the export URL key: no randomness");
    }
    ANNALS_RETURN_IF_ERROR(store->PutMeta(std::string(kUrlKeyName), fresh));
    m->url_key_ = std::move(fresh);
  }

  // Unfinished jobs run again, oldest first.
  Result<std::vector<std::pair<std::string, std::string>>> records =
      store->ListMeta(std::string(kRecordPrefix), "", 0);
  if (!records.ok()) return records.status();
  std::vector<ExportJob> unfinished;
  for (const auto& [name, value] : *records) {
    Result<ExportJob> job = DecodeExportJob(value);
    if (!job.ok()) return job.status();
    if (job->state == ExportState::kPending || job->state == ExportState::kRunning) {
      job->state = ExportState::kPending;
      job->rows = job->bytes = 0;
      unfinished.push_back(std::move(job).value());
    }
  }
  std::sort(unfinished.begin(), unfinished.end(),
            [](const ExportJob& a, const ExportJob& b) { return a.id < b.id; });
  for (ExportJob& job : unfinished) m->queue_.push_back(std::move(job));
  return m;
}

ExportManager::~ExportManager() { Stop(); }

void ExportManager::Start() {
  std::lock_guard lock(mu_);
  if (worker_.joinable() || stop_) return;
  worker_ = std::thread([this] { Loop(); });
}

void ExportManager::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

Status ExportManager::Save(const ExportJob& job) {
  return store_->PutMeta(RecordPrefix(job.request.filter.organization_id) + job.id,
                         EncodeExportJob(job));
}

Result<ExportJob> ExportManager::Create(ExportRequest request, std::string created_by,
                                        std::string label) {
  if (request.filter.organization_id.empty()) {
    return Status::InvalidArgument("an export needs an organization_id");
  }
  if (request.verifiable && request.format != ExportFormat::kNdjson) {
    return Status::InvalidArgument("only NDJSON exports can be verifiable (format \"ndjson\")",
                                   "invalid_request", {{"/verifiable", "needs format ndjson"}});
  }
  if (request.verifiable && !options_.verification_trailer) {
    return Status::Unavailable("verifiable exports need tamper evidence, which is not enabled",
                               "not_ready");
  }
  Result<uint64_t> last = store_->LastPosition();
  if (!last.ok()) return last.status();
  ExportJob job;
  job.request = std::move(request);
  job.snapshot_position = *last;
  job.created_at = job.updated_at = clock_->NowMicros();
  job.created_by = std::move(created_by);
  job.label = std::move(label);
  std::lock_guard lock(mu_);
  std::string id = ids_.NextEventId(job.created_at);
  job.id = "exp_" + id.substr(4);
  ANNALS_RETURN_IF_ERROR(Save(job));
  queue_.push_back(job);
  cv_.notify_all();
  return job;
}

Result<ExportJob> ExportManager::Get(const std::string& organization_id, const std::string& id) {
  const Status not_found =
      Status::NotFound("no export with id '" + id + "' in this organization", "export_not_found");
  if (organization_id.empty() || id.find('/') != std::string::npos) return not_found;
  Result<std::optional<std::string>> value = store_->GetMeta(RecordPrefix(organization_id) + id);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return not_found;
  Result<ExportJob> job = DecodeExportJob(**value);
  if (!job.ok()) return job.status();
  // A running job's record is written at most every progress_interval: show live counters.
  std::lock_guard lock(mu_);
  if (running_job_ && live_.id == job->id) return live_;
  return job;
}

Result<ExportJob> ExportManager::GetById(const std::string& id) {
  Result<std::vector<std::pair<std::string, std::string>>> records =
      store_->ListMeta(std::string(kRecordPrefix), "", 0);
  if (!records.ok()) return records.status();
  const std::string suffix = "/" + id;
  for (const auto& [name, value] : *records) {
    if (name.size() > suffix.size() && name.ends_with(suffix)) {
      Result<ExportJob> job = DecodeExportJob(value);
      if (!job.ok()) return job.status();
      return Get(job->request.filter.organization_id, id);
    }
  }
  return Status::NotFound("no export with id '" + id + "'", "export_not_found");
}

Result<std::vector<ExportJob>> ExportManager::List(const std::string& organization_id) {
  Result<std::vector<std::pair<std::string, std::string>>> records =
      store_->ListMeta(RecordPrefix(organization_id), "", 0);
  if (!records.ok()) return records.status();
  std::vector<ExportJob> out;
  for (auto it = records->rbegin(); it != records->rend(); ++it) {
    Result<ExportJob> job = DecodeExportJob(it->second);
    if (!job.ok()) return job.status();
    out.push_back(std::move(job).value());
  }
  std::lock_guard lock(mu_);
  for (ExportJob& job : out) {
    if (running_job_ && live_.id == job.id) job = live_;
  }
  return out;
}

std::string ExportManager::FilePath(const ExportJob& job) const {
  return options_.dir + "/" + job.id + "." +
         std::string(FileExtension(job.request.format, job.request.gzip));
}

std::string ExportManager::SignDownload(const std::string& organization_id,
                                       const std::string& id, int64_t expires_at) const {
  const std::string message = "annals-export-download\n" + organization_id + "\n" + id + "\n" +
                              std::to_string(expires_at);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), url_key_.data(), static_cast<int>(url_key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_len);
  return Base64UrlEncode(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
}

bool ExportManager::VerifyDownload(const std::string& organization_id, const std::string& id,
                                   int64_t expires_at, const std::string& signature) const {
  const std::string want = SignDownload(organization_id, id, expires_at);
  return want.size() == signature.size() &&
         CRYPTO_memcmp(want.data(), signature.data(), want.size()) == 0;
}

Status ExportManager::RemoveExpired() {
  const TimestampUs now = clock_->NowMicros();
  Result<std::vector<std::pair<std::string, std::string>>> records =
      store_->ListMeta(std::string(kRecordPrefix), "", 0);
  if (!records.ok()) return records.status();
  for (const auto& [name, value] : *records) {
    Result<ExportJob> job = DecodeExportJob(value);
    if (!job.ok()) return job.status();
    const bool finished = job->state == ExportState::kReady || job->state == ExportState::kError;
    if (!finished || job->finished_at + options_.keep_for > now) continue;
    std::error_code ec;
    fs::remove(FilePath(*job), ec);
    ANNALS_RETURN_IF_ERROR(store_->DeleteMeta(name));
  }
  return Status::Ok();
}

void ExportManager::WaitIdle() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return (queue_.empty() && !running_job_) || stop_; });
}

void ExportManager::Loop() {
  for (;;) {
    ExportJob job;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(60), [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      if (queue_.empty()) {
        lock.unlock();
        (void)RemoveExpired();
        continue;
      }
      job = std::move(queue_.front());
      queue_.pop_front();
      running_job_ = true;
      live_ = job;
    }
    const bool finished = Run(&job);
    {
      std::lock_guard lock(mu_);
      running_job_ = false;
    }
    cv_.notify_all();
    if (!finished) return;
  }
}

bool ExportManager::Run(ExportJob* job) {
  const std::string final_path = FilePath(*job);
  const std::string part_path = final_path + ".part";
  auto publish = [&](bool force, TimestampUs* last_saved) {
    const TimestampUs now = clock_->NowMicros();
    job->updated_at = now;
    {
      std::lock_guard lock(mu_);
      live_ = *job;
    }
    if (force || now - *last_saved >= options_.progress_interval) {
      *last_saved = now;
      return Save(*job);
    }
    return Status::Ok();
  };
  auto fail = [&](const Status& s) {
    std::error_code ec;
    fs::remove(part_path, ec);
    job->state = ExportState::kError;
    job->error = s.message();
    job->finished_at = clock_->NowMicros();
    TimestampUs ignored = 0;
    (void)publish(true, &ignored);
    return true;
  };

  TimestampUs last_saved = 0;
  job->state = ExportState::kRunning;
  job->rows = job->bytes = 0;
  job->total_estimate.reset();
  // The progress total: a large export takes the store's estimate; a smaller one is counted
  // from the indexes on a thread of its own while the export runs, so that the rows do not
  // wait for it, and it is published once known.
  bool count_exactly = true;
  if (Result<uint64_t> estimate = store_->EstimateEvents(job->request.filter); !estimate.ok()) {
    return fail(estimate.status());
  } else if (*estimate > options_.exact_count_max) {
    job->total_estimate = *estimate;
    count_exactly = false;
  }
  if (Status s = publish(true, &last_saved); !s.ok()) return fail(s);

  struct Count {
    std::thread thread;
    std::atomic<bool> done{false};
    Result<uint64_t> result{uint64_t{0}};
    ~Count() {
      if (thread.joinable()) thread.join();
    }
  } count;
  if (count_exactly) {
    count.thread = std::thread([&count, store = store_, filter = job->request.filter,
                                max_position = job->snapshot_position] {
      bool exact = false;
      count.result = store->CountEvents(filter, max_position, &exact);
      count.done.store(true, std::memory_order_release);
    });
  }
  // Takes the count once it is done (or waits for it with `wait`): a failed count fails the
  // export, as a failed read does.
  auto take_count = [&](bool wait) -> Status {
    if (job->total_estimate || !count.thread.joinable()) return Status::Ok();
    if (!wait && !count.done.load(std::memory_order_acquire)) return Status::Ok();
    count.thread.join();
    if (!count.result.ok()) return count.result.status();
    job->total_estimate = *count.result;
    return Status::Ok();
  };

  int fd = ::open(part_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return fail(Status::Unavailable("cannot create export file " + part_path + ": " +
                                    std::strerror(errno)));
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};

  Result<ExportEncoder> encoder = ExportEncoder::Create(job->request.format, job->request.gzip);
  if (!encoder.ok()) return fail(encoder.status());
  std::string out;
  encoder->Begin(&out);
  std::vector<uint64_t> leaf_indices;  // verifiable exports only

  // The index is walked here; reading, filtering and encoding run on the pipeline's
  // threads, and the rows come back in order to be compressed and written here.
  RowPipelineOptions po;
  po.format = job->request.format;
  po.verifiable = job->request.verifiable;
  po.gzip = job->request.gzip;
  po.filter = job->request.filter;
  po.max_position = job->snapshot_position;
  if (!job->request.actor_names.empty()) {
    po.accept = [names = job->request.actor_names](std::string_view event_json) {
      std::optional<std::string> name = ActorName(std::string(event_json));
      return name && std::find(names.begin(), names.end(), *name) != names.end();
    };
  }
  po.threads = options_.encode_threads != 0
                   ? options_.encode_threads
                   : std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 4);
  // Bounds memory: at most this many batches read or encoded ahead of the file.
  const size_t max_outstanding = 2 * po.threads + 2;
  const size_t batch_size = std::max<size_t>(options_.batch_size, 1);
  RowPipeline pipeline(store_, std::move(po));
  // Writes the next encoded batch (waiting for it when `wait`); false when there is none.
  Status written;
  off_t file_bytes = 0, writeback_from = 0;
  auto write_next = [&](bool wait) {
    std::optional<EncodedBatch> batch = pipeline.Next(wait);
    if (!batch) return false;
    if (!batch->status.ok()) {
      written = batch->status;
      return false;
    }
    leaf_indices.insert(leaf_indices.end(), batch->leaf_indices.begin(),
                        batch->leaf_indices.end());
    written = job->request.gzip
                  ? encoder->AddCompressed(batch->rows, batch->piece, batch->count, &out)
                  : encoder->AddEncoded(batch->rows, batch->count, &out);
    if (written.ok()) written = WriteAll(fd, out, part_path);
    file_bytes += static_cast<off_t>(out.size());
    StartWriteback(fd, file_bytes, &writeback_from);
    out.clear();
    job->rows = encoder->rows();
    job->bytes = encoder->bytes_out();
    return written.ok();
  };

  ScanRequest scan;
  scan.filter = job->request.filter;
  scan.descending = false;
  scan.limit = options_.page_size;
  scan.fill_cache = false;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stop_) {
        std::error_code ec;
        fs::remove(part_path, ec);
        return false;  // the record still says running: the next Open runs it again
      }
    }
    Result<std::vector<ScanCandidate>> page = store_->ScanCandidates(scan);
    if (!page.ok()) return fail(page.status());
    for (size_t i = 0; i < page->size(); i += batch_size) {
      std::vector<uint64_t> positions;
      const size_t end = std::min(page->size(), i + batch_size);
      positions.reserve(end - i);
      for (size_t j = i; j < end; ++j) positions.push_back((*page)[j].position);
      while (pipeline.outstanding() >= max_outstanding) {
        if (!write_next(/*wait=*/true)) return fail(written);
      }
      pipeline.Submit(std::move(positions));
      while (write_next(/*wait=*/false)) {
      }
      if (!written.ok()) return fail(written);
    }
    if (page->size() < scan.limit) break;
    scan.start_after = page->back().key;
    if (Status s = take_count(/*wait=*/false); !s.ok()) return fail(s);
    if (Status s = publish(false, &last_saved); !s.ok()) return fail(s);
  }
  while (write_next(/*wait=*/true)) {
  }
  if (!written.ok()) return fail(written);
  if (Status s = take_count(/*wait=*/true); !s.ok()) return fail(s);
  if (job->request.verifiable) {
    std::sort(leaf_indices.begin(), leaf_indices.end());
    Result<std::string> trailer =
        options_.verification_trailer(job->request.filter.organization_id, leaf_indices);
    if (!trailer.ok()) return fail(trailer.status());
    if (Status s = encoder->AddTrailer(*trailer, &out); !s.ok()) return fail(s);
  }
  if (Status s = encoder->Finish(&out); !s.ok()) return fail(s);
  if (Status s = WriteAll(fd, out, part_path); !s.ok()) return fail(s);
  if (::fsync(fd) != 0) {
    return fail(Status::Unavailable("cannot sync export file " + part_path + ": " +
                                    std::strerror(errno)));
  }
  std::error_code ec;
  fs::rename(part_path, final_path, ec);
  if (ec) return fail(Status::Unavailable("cannot finish export file: " + ec.message()));
  // The rename is durable once the directory is synced.
  if (int dir = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  job->rows = encoder->rows();
  job->bytes = encoder->bytes_out();
  job->total_estimate = job->rows;
  job->state = ExportState::kReady;
  job->finished_at = clock_->NowMicros();
  if (Status s = publish(true, &last_saved); !s.ok()) return fail(s);
  return true;
}

}  // namespace annals::exports
