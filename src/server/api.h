// The HTTP API handlers: authentication, routing, and the native /v1 endpoints. Transport
// lives in http/server.h; this class sees only HttpRequest/HttpResponse.
//
// Thread-safety: Handle is called concurrently from the HTTP worker threads.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "annals/clock.h"
#include "annals/options.h"
#include "annals/store.h"
#include "http/http_types.h"
#include "ingest/ingestor.h"
#include "server/logging.h"

namespace annals {

struct ApiOptions {
  EventLimits event_limits;
  RequestLimits request_limits;
  // SHA-256 digests (raw) of the keys accepted as platform admin keys.
  std::vector<std::string> admin_key_hashes;
};

class Api {
 public:
  // `store`, `ingestor`, `clock` and `logger` must outlive the Api.
  Api(ApiOptions options, Store* store, Ingestor* ingestor, const Clock* clock,
      std::shared_ptr<Logger> logger);

  void Handle(HttpRequest&& request, Responder respond);

  // After this, /readyz answers 503 and new writes are refused.
  void SetShuttingDown() { shutting_down_.store(true); }

 private:
  // The authenticated caller.
  struct Principal {
    std::string key_id;
    std::string organization_id;  // "" for platform keys
  };

  Result<Principal> Authenticate(const HttpRequest& request) const;
  void PostEvents(const Principal& who, HttpRequest&& request, Responder respond);
  HttpResponse ListEvents(const Principal& who, const HttpRequest& request);
  HttpResponse GetEvent(const Principal& who, const std::string& id);
  HttpResponse Ready() const;

  const ApiOptions options_;
  Store* const store_;
  Ingestor* const ingestor_;
  const Clock* const clock_;
  std::shared_ptr<Logger> logger_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace annals
