// The annals server process: wires configuration into the store, the ingestor, the API
// handlers and the HTTP server, and runs their lifecycle.
//
// Thread-safety: Open/Serve/Shutdown from the controlling thread only.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "server/config.h"

namespace annals {

class Store;
class Ingestor;
class HttpServer;
class Logger;
class Api;
class OrgRegistry;
class KeyRegistry;
class RateLimiter;
class MetaAudit;
class Metrics;
class TailHub;
class SourceRegistry;
class PostgresSource;
class Retention;
class PurgeJob;
class PushSources;
namespace exports {
class ExportManager;
}  // namespace exports
namespace sinks {
class Destinations;
}  // namespace sinks
namespace streams {
class StreamManager;
}  // namespace streams
namespace integrity {
class SigningKeys;
class HeadPublisher;
}  // namespace integrity
namespace workos {
class SchemaRegistry;
class PortalLinks;
}  // namespace workos

class App {
 public:
  // Opens the data directory (creating it and the admin key on first start), the store and
  // the ingestor, and starts serving HTTP. `admin_key_env` is ANNALS_ADMIN_KEY or "".
  static Result<std::unique_ptr<App>> Start(const Config& config, const std::string& admin_key_env,
                                            std::shared_ptr<Logger> logger);
  ~App();

  uint16_t port() const;
  // The port of the operations listener ([server] ops_listen), 0 when there is none.
  uint16_t ops_port() const;

  // Graceful shutdown: stop accepting, answer in-flight requests (up to the grace period),
  // make every queued event durable, close the store.
  void Shutdown();

 private:
  App() = default;
  void MaintenanceLoop();

  Config config_;
  std::shared_ptr<Logger> logger_;
  SystemClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<OrgRegistry> orgs_;
  std::unique_ptr<KeyRegistry> keys_;
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<MetaAudit> audit_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<TailHub> tail_;
  std::unique_ptr<SourceRegistry> sources_;
  // Change-capture sources ([[sources.postgres]]); also in sources_. Stopped before the
  // ingestor.
  std::vector<std::shared_ptr<PostgresSource>> postgres_sources_;
  std::unique_ptr<Retention> retention_;
  std::unique_ptr<PurgeJob> purge_job_;
  std::unique_ptr<exports::ExportManager> exports_;
  std::unique_ptr<sinks::Destinations> destinations_;
  std::unique_ptr<streams::StreamManager> streams_;
  std::unique_ptr<integrity::SigningKeys> signing_keys_;
  std::unique_ptr<integrity::HeadPublisher> heads_;
  std::unique_ptr<PushSources> push_sources_;
  // WorkOS-compatible API: action schemas and portal links.
  std::unique_ptr<workos::SchemaRegistry> schemas_;
  std::unique_ptr<workos::PortalLinks> portal_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> http_;
  std::unique_ptr<HttpServer> ops_http_;
  // Persists API keys' last use every minute.
  std::thread maintenance_;
  std::mutex maintenance_mu_;
  std::condition_variable maintenance_cv_;
  bool stop_maintenance_ = false;
  bool shut_down_ = false;
};

}  // namespace annals
