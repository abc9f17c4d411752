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
#include "http/server.h"
#include "ingest/ingestor.h"
#include "server/api.h"
#include "server/logging.h"
#include "storage/rocksdb/rocks_store.h"

namespace annals {

namespace {

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
  Result<std::unique_ptr<RocksStore>> store = RocksStore::Open(store_options);
  if (!store.ok()) return store.status();
  app->store_ = std::move(store).value();

  Result<std::vector<std::string>> hashes =
      BootstrapAdminKey(app->store_.get(), config.server.data_dir, admin_key_env, logger.get());
  if (!hashes.ok()) return hashes.status();

  Result<std::unique_ptr<Ingestor>> ingestor =
      Ingestor::Start(app->store_.get(), &app->clock_, config.ingest);
  if (!ingestor.ok()) return ingestor.status();
  app->ingestor_ = std::move(ingestor).value();

  ApiOptions api_options;
  api_options.event_limits = config.event_limits;
  api_options.request_limits = config.request_limits;
  api_options.admin_key_hashes = std::move(hashes).value();
  app->api_ = std::make_unique<Api>(std::move(api_options), app->store_.get(),
                                    app->ingestor_.get(), &app->clock_, logger);

  HttpServerOptions http;
  ANNALS_RETURN_IF_ERROR(SplitHostPort(config.server.listen, &http.host, &http.port));
  http.threads = config.server.threads > 0
                     ? config.server.threads
                     : static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  http.max_body_bytes = config.request_limits.max_request_bytes;
  http.read_timeout = config.server.read_timeout;
  http.idle_timeout = config.server.idle_timeout;
  http.max_connections = config.server.max_connections;
  Api* api = app->api_.get();
  Result<std::unique_ptr<HttpServer>> server = HttpServer::Start(
      http, [api](HttpRequest&& req, Responder respond) { api->Handle(std::move(req), std::move(respond)); });
  if (!server.ok()) return server.status();
  app->http_ = std::move(server).value();

  std::string host = http.host.find(':') != std::string::npos ? "[" + http.host + "]" : http.host;
  logger->Info("listening on http://" + host + ":" + std::to_string(app->http_->port()),
               {{"data", config.server.data_dir}});
  return app;
}

uint16_t App::port() const { return http_ ? http_->port() : 0; }

void App::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  logger_->Info("shutting down");
  if (api_) api_->SetShuttingDown();
  if (http_) http_->Stop(config_.server.shutdown_grace);
  if (ingestor_) ingestor_->Stop();
  if (ingestor_) {
    IngestStats s = ingestor_->Stats();
    logger_->Info("stopped", {{"events_committed", std::to_string(s.events_committed)}});
  }
  http_.reset();
  ingestor_.reset();
  api_.reset();
  store_.reset();
}

App::~App() { Shutdown(); }

}  // namespace annals
