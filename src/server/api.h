// The HTTP API handlers: authentication, scopes, rate limits, routing, and the native /v1
// endpoints. Transport lives in http/server.h; this class sees only HttpRequest and
// HttpResponse, and maps every error through http/error_mapping.h.
//
// Thread-safety: Handle is called concurrently from the HTTP worker threads.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "access/api_keys.h"
#include "access/organizations.h"
#include "access/principal.h"
#include "access/rate_limiter.h"
#include "annals/clock.h"
#include "annals/options.h"
#include "annals/store.h"
#include "http/http_types.h"
#include "ingest/ingestor.h"
#include "server/logging.h"
#include "server/meta_audit.h"

namespace annals {

class Metrics;
class TailHub;
class SourceRegistry;
class Retention;
struct DecodedBatch;
class PushSource;
class PushSources;
struct LambdaBatch;
struct SourceBatchContext;
namespace workos {
class SchemaRegistry;
class PortalLinks;
}  // namespace workos

namespace streams {
class StreamManager;
struct StreamInfo;
}  // namespace streams
namespace integrity {
class SigningKeys;
class HeadPublisher;
}  // namespace integrity
namespace exports {
class ExportManager;
struct ExportJob;
}  // namespace exports

struct ApiOptions {
  // How long an export's download URL stays valid.
  int64_t export_url_ttl_us = 600LL * 1000000;
  EventLimits event_limits;
  RequestLimits request_limits;
  // Events for an organization that does not exist create it ([orgs] auto_create).
  bool auto_create_orgs = false;
  // How long an Idempotency-Key of a WorkOS schema create is honoured ([ingest]
  // idempotency_window, as for events).
  int64_t idempotency_window_us = 24LL * 3600 * 1000000;
};

// Everything the API works with; each must outlive the Api. metrics and tail may be null
// (their endpoints then answer 404).
struct ApiDeps {
  Store* store = nullptr;
  Ingestor* ingestor = nullptr;
  const Clock* clock = nullptr;
  std::shared_ptr<Logger> logger;
  OrgRegistry* orgs = nullptr;
  KeyRegistry* keys = nullptr;
  RateLimiter* rate_limiter = nullptr;
  MetaAudit* audit = nullptr;
  Metrics* metrics = nullptr;
  TailHub* tail = nullptr;
  const SourceRegistry* sources = nullptr;  // may be null: no sources configured
  Retention* retention = nullptr;
  // Sources that AWS Lambda posts to (POST /v1/sources/dynamodb|sqs/{name}); null: none.
  const PushSources* push_sources = nullptr;
  // Background exports (/v1/exports); null: exports answer 503.
  exports::ExportManager* exports = nullptr;
  // The base of absolute URLs annals hands out ([server] public_url), no trailing slash.
  std::function<std::string()> public_url;

  // --- WorkOS-compatible API (api_workos.cc) ---
  // Action schemas, enforced on POST /v1/events and POST /audit_logs/events; null: no
  // schemas (the schema routes answer 503).
  workos::SchemaRegistry* schemas = nullptr;
  // Portal links; null: the portal routes answer 503.
  workos::PortalLinks* portal = nullptr;

  // Log streams (/v1/streams); null: the stream routes answer 503.
  streams::StreamManager* streams = nullptr;
  // Tamper evidence (/v1/tree/*); null: those routes answer 503.
  integrity::SigningKeys* signing_keys = nullptr;
  integrity::HeadPublisher* heads = nullptr;
};

// One route of the API: used for dispatch, 405 answers and the OpenAPI consistency test.
struct RouteInfo {
  std::string method;   // "GET", "POST", "PATCH", "DELETE"
  std::string pattern;  // "/v1/orgs/{id}"
  bool authenticated = true;
};

class Api {
 public:
  Api(ApiOptions options, ApiDeps deps);
  ~Api();

  void Handle(HttpRequest&& request, Responder respond);
  // The operations endpoints only (/healthz, /readyz, /metrics), for a separate listener.
  void HandleOps(HttpRequest&& request, Responder respond);

  // Every route the API serves.
  std::vector<RouteInfo> Routes() const;

  // After this, /readyz answers 503 and new writes are refused.
  void SetShuttingDown() { shutting_down_.store(true); }

  struct Call;
  struct Route;

 private:
  void Dispatch(const std::vector<Route>& routes, HttpRequest&& request, Responder respond);

  // /healthz, /readyz, /metrics
  void Health(Call& c);
  void Ready(Call& c);
  void MetricsText(Call& c);
  void OpenApi(Call& c);
  // events
  void PostEvents(Call& c);
  void ListEvents(Call& c);
  void GetEvent(Call& c);
  void StreamEvents(Call& c);
  // items
  void GetItem(Call& c);
  void ItemHistory(Call& c);
  void ItemState(Call& c);
  void ItemDiff(Call& c);
  void SetItemHold(Call& c);
  // retention
  void GetRetention(Call& c);
  void PutRetention(Call& c);
  void PurgeNow(Call& c);
  // organizations
  void CreateOrg(Call& c);
  void ListOrgs(Call& c);
  void GetOrg(Call& c);
  void PatchOrg(Call& c);
  // API keys
  void CreateKey(Call& c);
  void ListKeys(Call& c);
  void GetKey(Call& c);
  void RevokeKey(Call& c);
  // backup
  void Backup(Call& c);
  // change-capture sources
  void ListSources(Call& c);
  // exports (api_exports.cc)
  void CreateExport(Call& c);
  void GetExport(Call& c);
  void ListExports(Call& c);
  void DownloadExport(Call& c);
  std::string ExportJson(const exports::ExportJob& job) const;
  // A fresh signed download URL of a ready export; sets *expires_at (Unix seconds).
  std::string ExportUrl(const exports::ExportJob& job, int64_t* expires_at) const;
  // tamper evidence (api_tree.cc)
  void GetTreeKey(Call& c);
  void ListTreeKeys(Call& c);
  void RotateTreeKey(Call& c);
  void GetTreeHead(Call& c);
  void ListTreeHeads(Call& c);
  void GetInclusionProof(Call& c);
  void GetConsistencyProof(Call& c);
  // log streams (api_streams.cc)
  void CreateStream(Call& c);
  void ListStreams(Call& c);
  void GetStream(Call& c);
  void PatchStream(Call& c);
  void DeleteStream(Call& c);
  void PauseStream(Call& c);
  void ResumeStream(Call& c);
  void SetStreamPaused(Call& c, bool paused);
  void ReplayStream(Call& c);
  void TestStream(Call& c);
  void ListDeadLetters(Call& c);
  void RedriveDeadLetter(Call& c);
  void DeleteDeadLetter(Call& c);
  std::string StreamJson(const streams::StreamInfo& stream) const;
  Result<std::string> StreamScope(const Call& c) const;
  // change capture pushed by AWS Lambda (api_lambda.cc)
  void PostDynamoDbBatch(Call& c);
  void PostSqsBatch(Call& c);
  // What both Lambda routes check and take from the call before decoding its batch.
  Result<SourceBatchContext> LambdaBatchContext(const Call& c) const;
  void StoreLambdaBatch(Call& c, const std::string& kind, const std::string& name,
                        LambdaBatch batch, PushSource* status);
  // The organization rules of POST /v1/events for one record (Records[index]); `checked`
  // remembers the answer per organization within a batch.
  Status CheckRecordOrganization(const Call& c, size_t index, EventDraft* draft,
                                 std::map<std::string, Status>* checked);

  // Records a meta-audit event, then answers `response` (or the audit error, shaped by
  // `error_response`; null: the native ErrorResponse).
  void AuditThenRespond(Call& c, MetaAuditEntry entry, HttpResponse response,
                        HttpResponse (*error_response)(const Status&) = nullptr);
  MetaAuditEntry AuditEntry(const Call& c, std::string organization_id, std::string action) const;
  // --- WorkOS-compatible API (api_workos.cc): served at WorkOS' own paths, every answer in
  // WorkOS' shapes ---
  void WorkosCreateEvent(Call& c);
  void WorkosCreateSchema(Call& c);
  void WorkosListSchemas(Call& c);
  void WorkosListActions(Call& c);
  void WorkosGetRetention(Call& c);
  void WorkosPutRetention(Call& c);
  void WorkosGenerateLink(Call& c);
  void WorkosOpenPortal(Call& c);
  void WorkosCreateExport(Call& c);
  void WorkosGetExport(Call& c);
  std::string WorkosExportJson(const exports::ExportJob& job) const;

  // Resolves the organization a call is about: the key's own, or `requested` for platform
  // keys; 404 for unknown organizations and for other tenants'.
  Result<std::string> ResolveOrganization(const Principal& who, const std::string& requested,
                                          bool required) const;
  Status CheckEventOrganizations(const Call& c, DecodedBatch* batch);
  // The item view of GET /v1/items/{type}/{id} (with its legal hold and purge time).
  Result<std::string> ItemJson(const ItemRecord& item);
  // 410 "item_purged" for an item whose history was purged, 404 "item_not_found" otherwise.
  HttpResponse MissingItem(const std::string& organization_id, const std::string& type,
                           const std::string& id);
  // The item's record, or nullopt after answering the call (store error, 404 or 410).
  std::optional<ItemRecord> FindItem(Call& c, const std::string& organization_id,
                                     const std::string& type, const std::string& id);

  const ApiOptions options_;
  const ApiDeps deps_;
  std::vector<Route> routes_;
  std::vector<Route> ops_routes_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace annals
