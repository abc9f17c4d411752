#include "server/app.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/sha256.h"
#include "domain/ids.h"
#include "http/error_mapping.h"
#include "http/server.h"
#include "ingest/ingestor.h"
#include "access/api_keys.h"
#include "access/organizations.h"
#include "access/rate_limiter.h"
#include "server/api.h"
#include "server/meta_audit.h"
#include "server/metrics.h"
#include "server/tail.h"
#include "server/logging.h"
#include "server/retention_job.h"
#include "exports/export_jobs.h"
#include "sinks/destinations.h"
#include "integrity/head_publisher.h"
#include "integrity/signing_keys.h"
#include "integrity/verifiable_export.h"
#include "streams/stream_manager.h"
#include "retention/retention.h"
#include "sources/postgres_cdc/postgres_source.h"
#include "sources/source.h"
#include "sources/push_source.h"
#include "storage/rocksdb/rocks_store.h"
#include "workos/errors.h"
#include "workos/portal.h"
#include "workos/schema_registry.h"

namespace annals {

namespace {

// annals_source_* gauges, one child per configured source.
void AddSourceMetrics(Metrics* metrics, const SourceRegistry* sources) {
  using Values = Metrics::LabelledValues;
  auto each = [sources](auto value_of) {
    return [sources, value_of]() {
      Values out;
      for (const SourceStatus& s : sources->List()) {
        std::optional<double> v = value_of(s);
        if (v) out.push_back({{{"kind", s.kind}, {"name", s.name}}, *v});
      }
      return out;
    };
  };
  metrics->AddGaugeFamily("annals_source_events_stored", "Events stored by each source since start",
                          each([](const SourceStatus& s) -> std::optional<double> {
                            return static_cast<double>(s.events_stored);
                          }));
  metrics->AddGaugeFamily("annals_source_records_failed",
                          "Records a source refused since start (batchItemFailures)",
                          each([](const SourceStatus& s) -> std::optional<double> {
                            return static_cast<double>(s.records_failed);
                          }));
  metrics->AddGaugeFamily("annals_source_lag_seconds",
                          "Seconds between the newest upstream change and the last one stored",
                          each([](const SourceStatus& s) -> std::optional<double> {
                            return s.lag_seconds;
                          }));
  metrics->AddGaugeFamily("annals_source_lag_bytes", "Upstream log bytes not yet confirmed",
                          each([](const SourceStatus& s) -> std::optional<double> {
                            if (!s.lag_bytes) return std::nullopt;
                            return static_cast<double>(*s.lag_bytes);
                          }));
  metrics->AddGaugeFamily("annals_source_up",
                          "1 while a source is streaming or ready, 0 otherwise",
                          each([](const SourceStatus& s) -> std::optional<double> {
                            return s.state == "streaming" || s.state == "ready" ||
                                           s.state == "snapshotting"
                                       ? 1.0
                                       : 0.0;
                          }));
}

constexpr char kAdminKeyMeta[] = "admin_key_sha256";

Status WriteSecretFile(const std::string& path, const std::string& content) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::Internal("cannot write " + path + ": " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);
  ssize_t n = ::write(fd, content.data(), content.size());
  bool ok = n == static_cast<ssize_t>(content.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::Internal("cannot write " + path + ": " + std::strerror(errno));
  return Status::Ok();
}

// Establishes the platform admin key on first start and returns every accepted key digest.
Result<std::vector<std::string>> BootstrapAdminKey(Store* store, const std::string& data_dir,
                                                   const std::string& admin_key_env,
                                                   Logger* logger) {
  std::vector<std::string> hashes;
  if (!admin_key_env.empty()) {
    if (admin_key_env.size() < 32) {
      return Status::InvalidArgument("ANNALS_ADMIN_KEY must be at least 32 characters long",
                                     "invalid_config");
    }
    hashes.push_back(Sha256(admin_key_env));
  }
  Result<std::optional<std::string>> stored = store->GetMeta(kAdminKeyMeta);
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    hashes.push_back(**stored);
    return hashes;
  }
  // First start: the environment's key becomes the admin key, or a random one is made.
  std::string key = admin_key_env;
  if (key.empty()) {
    key = "annals_admin_" + RandomToken(32);
    const std::string path = (std::filesystem::path(data_dir) / "admin.key").string();
    ANNALS_RETURN_IF_ERROR(WriteSecretFile(path, key + "\n"));
    std::cerr << "annals: created the platform admin key (also saved to " << path
              << ", mode 0600):\n  " << key << "\n";
    logger->Info("created the platform admin key", {{"file", path}});
    hashes.push_back(Sha256(key));
  }
  ANNALS_RETURN_IF_ERROR(store->PutMeta(kAdminKeyMeta, Sha256(key)));
  return hashes;
}

}  // namespace

Result<std::unique_ptr<App>> App::Start(const Config& config, const std::string& admin_key_env,
                                        std::shared_ptr<Logger> logger) {
  std::unique_ptr<App> app(new App());
  app->config_ = config;
  app->logger_ = logger;

  std::error_code ec;
  std::filesystem::create_directories(config.server.data_dir, ec);
  if (ec) {
    return Status::InvalidArgument("cannot create the data directory " + config.server.data_dir +
                                   ": " + ec.message(), "invalid_config");
  }

  RocksStoreOptions store_options = config.store;
  store_options.path = (std::filesystem::path(config.server.data_dir) / "store").string();
  // A store from before the Merkle log (or run without it) gets its log built on open, which
  // takes a while for a large store: say so, and how far it is, every 10 s.
  store_options.merkle_catch_up_progress =
      [logger, last = std::chrono::steady_clock::time_point()](uint64_t done,
                                                               uint64_t total) mutable {
        const auto now = std::chrono::steady_clock::now();
        if (done != 0 && done != total && now - last < std::chrono::seconds(10)) return;
        last = now;
        logger->Info(done == 0       ? "building the Merkle log of the stored events"
                     : done == total ? "built the Merkle log of the stored events"
                                     : "building the Merkle log of the stored events",
                     {{"events_done", std::to_string(done)},
                      {"events_total", std::to_string(total)}});
      };
  Result<std::unique_ptr<RocksStore>> store = RocksStore::Open(store_options);
  if (!store.ok()) return store.status();
  app->store_ = std::move(store).value();

  Result<std::vector<std::string>> hashes =
      BootstrapAdminKey(app->store_.get(), config.server.data_dir, admin_key_env, logger.get());
  if (!hashes.ok()) return hashes.status();

  {
    // Tamper evidence: the key that signs tree heads, and the publisher that signs them.
    integrity::SigningKeyOptions ko;
    ko.data_dir = config.server.data_dir;
    ko.key_file = config.integrity.signing_key_file;
    Result<std::unique_ptr<integrity::SigningKeys>> signing_keys =
        integrity::SigningKeys::Open(ko, app->store_.get(), &app->clock_);
    if (!signing_keys.ok()) return signing_keys.status();
    app->signing_keys_ = std::move(signing_keys).value();
    integrity::HeadPublisherOptions ho;
    ho.head_interval_us = config.integrity.head_interval_us;
    ho.max_head_age_us = std::max(config.integrity.max_head_age_us, ho.head_interval_us);
    ho.on_error = [logger](const Status& s) {
      logger->Warn("cannot sign tree heads; retrying", {{"error", s.message()}});
    };
    app->heads_ = std::make_unique<integrity::HeadPublisher>(ho, app->store_.get(),
                                                             app->signing_keys_.get(), &app->clock_);
  }

  Result<std::unique_ptr<Ingestor>> ingestor =
      Ingestor::Start(app->store_.get(), &app->clock_, config.ingest);
  if (!ingestor.ok()) return ingestor.status();
  app->ingestor_ = std::move(ingestor).value();

  Result<std::unique_ptr<OrgRegistry>> orgs = OrgRegistry::Load(app->store_.get(), &app->clock_);
  if (!orgs.ok()) return orgs.status();
  app->orgs_ = std::move(orgs).value();
  Result<std::unique_ptr<KeyRegistry>> keys =
      KeyRegistry::Load(app->store_.get(), &app->clock_, std::move(hashes).value());
  if (!keys.ok()) return keys.status();
  app->keys_ = std::move(keys).value();
  app->rate_limiter_ = std::make_unique<RateLimiter>(
      RateLimitOptions{config.rate_limit.requests_per_second, config.rate_limit.burst},
      &app->clock_);
  app->audit_ =
      std::make_unique<MetaAudit>(app->ingestor_.get(), &app->clock_, config.event_limits);
  app->metrics_ = std::make_unique<Metrics>();
  {
    Metrics* metrics = app->metrics_.get();
    Ingestor* ingestor = app->ingestor_.get();
    ingestor->AddGroupObserver([metrics](const CommitStats& s) { metrics->ObserveCommit(s); });
    metrics->AddGauge("annals_ingest_queue_events", "Events queued for the next group commits",
                      [ingestor] { return static_cast<double>(ingestor->Stats().queued_events); });
    app->tail_ = std::make_unique<TailHub>(app->store_.get(), config.tail);
    TailHub* tail = app->tail_.get();
    ingestor->AddCommitObserver([tail](const std::vector<EventRecord>& e) { tail->Publish(e); });
    // Log streams: the workers start with the server; commits only wake them.
    sinks::DestinationOptions dopts;
    dopts.policy.allow_private_destinations = config.streams.allow_private_destinations;
    dopts.ca_file = config.streams.ca_file;
    dopts.clock = &app->clock_;
    app->destinations_ = std::make_unique<sinks::Destinations>(std::move(dopts));
    streams::StreamManagerOptions so;
    so.initial_backoff = std::chrono::milliseconds(config.streams.initial_backoff_us / 1000);
    so.max_backoff = std::chrono::milliseconds(
        std::max(config.streams.max_backoff_us, config.streams.initial_backoff_us) / 1000);
    so.reject_attempts = static_cast<uint32_t>(config.streams.reject_attempts);
    so.max_streams_per_organization = config.streams.max_per_organization;
    Result<std::unique_ptr<streams::StreamManager>> streams = streams::StreamManager::Open(
        so, app->store_.get(), &app->clock_, app->destinations_.get());
    if (!streams.ok()) return streams.status();
    app->streams_ = std::move(streams).value();
    streams::StreamManager* stream_manager = app->streams_.get();
    ingestor->AddCommitObserver([stream_manager](const std::vector<EventRecord>& e) {
      stream_manager->OnCommit(e);
    });
    metrics->AddGauge("annals_stream_events_delivered",
                      "Events accepted by log-stream destinations since start",
                      [stream_manager] {
                        return static_cast<double>(stream_manager->counters().delivered_events);
                      });
    metrics->AddGauge("annals_stream_failed_attempts",
                      "Failed log-stream delivery attempts since start", [stream_manager] {
                        return static_cast<double>(stream_manager->counters().failed_attempts);
                      });
    metrics->AddGauge("annals_stream_dead_lettered_events",
                      "Events dead-lettered by log streams since start", [stream_manager] {
                        return static_cast<double>(
                            stream_manager->counters().dead_lettered_events);
                      });
    metrics->AddGauge("annals_tail_subscribers", "Live-tail (SSE) subscribers",
                      [tail] { return static_cast<double>(tail->subscribers()); });
    metrics->AddGauge("annals_tail_events_delivered", "Events delivered to live-tail subscribers",
                      [tail] { return static_cast<double>(tail->delivered()); });
    OrgRegistry* registry = app->orgs_.get();
    metrics->AddGauge("annals_organizations", "Organizations",
                      [registry] { return static_cast<double>(registry->size()); });
  }
  // Change-capture sources register here before serving starts; their state and lag are
  // read when /metrics is rendered.
  app->sources_ = std::make_unique<SourceRegistry>();
  AddSourceMetrics(app->metrics_.get(), app->sources_.get());
  for (const PostgresSourceConfig& source_config : config.sources.postgres) {
    PostgresSourceDeps d;
    d.store = app->store_.get();
    d.ingestor = app->ingestor_.get();
    d.orgs = app->orgs_.get();
    d.clock = &app->clock_;
    d.logger = logger;
    d.limits = config.event_limits;
    d.auto_create_orgs = config.orgs.auto_create;
    d.idempotency_window_us = config.sources.idempotency_window_us;
    Result<std::shared_ptr<PostgresSource>> source = PostgresSource::Create(source_config, d);
    if (!source.ok()) return source.status();
    app->sources_->Add(*source);
    app->postgres_sources_.push_back(std::move(source).value());
  }

  ApiOptions api_options;
  api_options.event_limits = config.event_limits;
  api_options.request_limits = config.request_limits;
  api_options.auto_create_orgs = config.orgs.auto_create;
  api_options.idempotency_window_us = config.ingest.idempotency_window_us;
  ApiDeps deps;
  deps.store = app->store_.get();
  deps.ingestor = app->ingestor_.get();
  deps.clock = &app->clock_;
  deps.logger = logger;
  deps.orgs = app->orgs_.get();
  deps.keys = app->keys_.get();
  deps.rate_limiter = app->rate_limiter_.get();
  deps.audit = app->audit_.get();
  deps.metrics = app->metrics_.get();
  deps.tail = app->tail_.get();
  deps.sources = app->sources_.get();
  app->retention_ = std::make_unique<Retention>(
      app->store_.get(), &app->clock_,
      RetentionOptions{config.retention.deleted_items_keep_for_us});
  deps.retention = app->retention_.get();
  app->push_sources_ = std::make_unique<PushSources>(config.sources);
  for (const auto& source : app->push_sources_->All()) app->sources_->Add(source);
  deps.push_sources = app->push_sources_.get();
  {
    exports::ExportManagerOptions eo;
    // Verifiable exports wait for the head that covers them: at most one head interval,
    // plus a margin for a busy publisher.
    eo.verification_trailer = [store = app->store_.get(), heads = app->heads_.get(),
                               timeout = 2 * config.integrity.head_interval_us + 60LL * 1000000](
                                  const std::string& org, const std::vector<uint64_t>& leaves) {
      return integrity::BuildVerificationTrailer(store, heads, org, leaves, timeout);
    };
    eo.dir = config.server.data_dir + "/exports";
    eo.keep_for = config.exports.keep_for_us;
    eo.exact_count_max = config.exports.exact_count_max;
    Result<std::unique_ptr<exports::ExportManager>> manager =
        exports::ExportManager::Open(std::move(eo), app->store_.get(), &app->clock_);
    if (!manager.ok()) return manager.status();
    app->exports_ = std::move(manager).value();
    deps.exports = app->exports_.get();
  }
  deps.streams = app->streams_.get();
  deps.signing_keys = app->signing_keys_.get();
  deps.heads = app->heads_.get();
  api_options.export_url_ttl_us = config.exports.url_ttl_us;
  {
    // The configured public URL, or this server's own address once it listens (which is
    // only known then when the configured port is 0).
    App* self = app.get();
    deps.public_url = [self]() -> std::string {
      const ServerConfig& s = self->config_.server;
      if (s.public_url != "http://" + s.listen || self->http_ == nullptr) return s.public_url;
      std::string host, ignored_port;
      const size_t colon = s.listen.rfind(':');
      host = colon == std::string::npos ? s.listen : s.listen.substr(0, colon);
      return std::string(self->http_->tls() ? "https://" : "http://") + host + ":" +
             std::to_string(self->http_->port());
    };
  }
  // --- WorkOS-compatible API ---
  Result<std::unique_ptr<workos::SchemaRegistry>> schemas =
      workos::SchemaRegistry::Load(app->store_.get(), &app->clock_);
  if (!schemas.ok()) return schemas.status();
  app->schemas_ = std::move(schemas).value();
  deps.schemas = app->schemas_.get();
  app->portal_ = std::make_unique<workos::PortalLinks>(
      app->store_.get(), &app->clock_,
      workos::PortalOptions{config.server.public_url, config.portal.link_ttl_us});
  deps.portal = app->portal_.get();
  app->api_ = std::make_unique<Api>(std::move(api_options), std::move(deps));

  HttpServerOptions http;
  ANNALS_RETURN_IF_ERROR(SplitHostPort(config.server.listen, &http.host, &http.port));
  http.threads = config.server.threads > 0
                     ? config.server.threads
                     : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  http.max_body_bytes = config.request_limits.max_request_bytes;
  // Lambda batches (up to 6 MB) whatever the limit of /v1/events.
  http.body_limits.push_back(
      {"/v1/sources/", std::max(config.request_limits.max_request_bytes, kLambdaBatchMaxBytes)});
  http.read_timeout = config.server.read_timeout;
  http.idle_timeout = config.server.idle_timeout;
  http.max_connections = config.server.max_connections;
  http.tls_cert_file = config.server.tls_cert;
  http.tls_key_file = config.server.tls_key;
  // The WorkOS-compatible paths keep WorkOS' error shape even for the transport's answers.
  http.error_response = [](const Status& status, std::string_view target) {
    return workos::IsWorkosApiPath(target) ? workos::WorkosErrorResponse(status)
                                           : ErrorResponse(status);
  };
  Api* api = app->api_.get();
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      http, [api](HttpRequest&& req, Responder respond) { api->Handle(std::move(req), std::move(respond)); });
  if (!server.ok()) return server.status();
  app->http_ = std::move(server).value();

  {
    HttpServer* server = app->http_.get();
    app->metrics_->AddGauge("annals_http_open_connections", "Open HTTP connections",
                            [server] { return static_cast<double>(server->open_connections()); });
  }
  std::string host = http.host.find(':') != std::string::npos ? "[" + http.host + "]" : http.host;
  if (config.server.public_url == "http://" + config.server.listen) {
    // The default public URL names the listener as it really is (its port when the
    // configuration asked for port 0, https with TLS).
    app->portal_->SetPublicUrl((app->http_->tls() ? "https://" : "http://") + host + ":" +
                               std::to_string(app->http_->port()));
  }
  logger->Info(std::string("listening on ") + (app->http_->tls() ? "https://" : "http://") + host +
                   ":" + std::to_string(app->http_->port()),
               {{"data", config.server.data_dir}});

  if (!config.server.ops_listen.empty()) {
    HttpServerOptions ops = http;
    ops.tls_cert_file.clear();  // plain HTTP for monitoring on its own interface
    ops.tls_key_file.clear();
    ANNALS_RETURN_IF_ERROR(SplitHostPort(config.server.ops_listen, &ops.host, &ops.port));
    ops.threads = 1;
    ops.max_connections = 256;
    Result<std::unique_ptr<HttpServer>> ops_server = HttpServer::Start(
        ops, [api](HttpRequest&& req, Responder respond) {
          api->HandleOps(std::move(req), std::move(respond));
        });
    if (!ops_server.ok()) return ops_server.status();
    app->ops_http_ = std::move(ops_server).value();
    logger->Info("operations endpoints on http://" + ops.host + ":" +
                 std::to_string(app->ops_http_->port()));
  }

  // Change-capture sources connect once serving has begun, each on its own thread, so a
  // database that is down never delays annals.
  for (const auto& source : app->postgres_sources_) source->Start();

  App* raw = app.get();
  app->maintenance_ = std::thread([raw] { raw->MaintenanceLoop(); });
  {
    Store* store = app->store_.get();
    Logger* log = logger.get();
    app->purge_job_ = std::make_unique<PurgeJob>(
        app->retention_.get(), store, app->audit_.get(),
        [store, log]() -> std::vector<std::string> {
          Result<std::vector<std::string>> orgs = store->OrganizationsWithEvents();
          if (!orgs.ok()) {
            log->Error("cannot list organizations to purge", {{"error", orgs.status().message()}});
            return {};
          }
          return std::move(orgs).value();
        },
        logger,
        PurgeJobOptions{std::chrono::microseconds(config.retention.purge_interval_us),
                        [tail = app->tail_.get()] { tail->ForgetRecent(); }});
    app->purge_job_->Start();
  }
  app->exports_->Start();
  app->streams_->Start();
  app->heads_->Start();
  return app;
}

uint16_t App::port() const { return http_ ? http_->port() : 0; }

uint16_t App::ops_port() const { return ops_http_ ? ops_http_->port() : 0; }

void App::MaintenanceLoop() {
  std::unique_lock lock(maintenance_mu_);
  while (!stop_maintenance_) {
    maintenance_cv_.wait_for(lock, std::chrono::seconds(60), [this] { return stop_maintenance_; });
    lock.unlock();
    Status s = keys_->FlushLastUsed();
    if (!s.ok()) logger_->Warn("cannot persist API keys' last use", {{"error", s.message()}});
    lock.lock();
  }
}

void App::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  logger_->Info("shutting down");
  if (api_) api_->SetShuttingDown();
  if (http_) http_->Stop(config_.server.shutdown_grace);
  if (ops_http_) ops_http_->Stop(std::chrono::milliseconds(1000));
  if (tail_) tail_->Stop();
  if (purge_job_) purge_job_->Stop();
  if (exports_) exports_->Stop();
  if (streams_) streams_->Stop();
  if (heads_) heads_->Stop();
  if (maintenance_.joinable()) {
    {
      std::lock_guard lock(maintenance_mu_);
      stop_maintenance_ = true;
    }
    maintenance_cv_.notify_all();
    maintenance_.join();
  }
  for (const auto& source : postgres_sources_) source->Stop();
  if (ingestor_) ingestor_->Stop();
  if (ingestor_) {
    IngestStats s = ingestor_->Stats();
    logger_->Info("stopped", {{"events_committed", std::to_string(s.events_committed)}});
  }
  http_.reset();
  ops_http_.reset();
  ingestor_.reset();
  api_.reset();
  exports_.reset();
  streams_.reset();
  heads_.reset();
  signing_keys_.reset();
  destinations_.reset();
  push_sources_.reset();
  portal_.reset();
  schemas_.reset();
  tail_.reset();
  audit_.reset();
  rate_limiter_.reset();
  keys_.reset();
  orgs_.reset();
  metrics_.reset();
  store_.reset();
}

App::~App() { Shutdown(); }

}  // namespace annals
