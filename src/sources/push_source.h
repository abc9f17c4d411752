// Push sources: change-capture sources whose records are posted to annals by AWS Lambda
// (POST /v1/sources/dynamodb/{name}, POST /v1/sources/sqs/{name}; docs/change-capture.md).
//
// A Lambda batch is decoded by a pure function of the source's kind (sources/dynamodb/,
// sources/sqs/) into a LambdaBatch: one LambdaRecord per input record, in input order, each
// either a validated EventDraft or the reason it cannot be stored. The server stores the
// drafts and answers Lambda's partial batch response ({"batchItemFailures": [...]}).
//
// Thread-safety: the decoders are pure and thread-safe. PushSource's methods may be called
// from any thread. PushSources is built once before serving and read-only afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"
#include "sources/source.h"
#include "sources/source_config.h"

namespace annals {

// Lambda invokes a function with at most 6 MB of payload; source endpoints accept bodies of
// at least this size whatever limits.max_request_bytes says (with room for re-encoding by a
// forwarder).
inline constexpr size_t kLambdaBatchMaxBytes = size_t{8} << 20;

// What a decoder needs besides the body and the source's configuration.
struct SourceBatchContext {
  int64_t idempotency_ttl_us = 0;  // SourcesConfig::idempotency_window_us
  TimestampUs now = 0;             // for the occurred_at-not-in-the-future rule
  // The organization of an organization-scoped API key ("" for a platform key): SQS bodies
  // that name no organization (and a source without a default) belong to it.
  std::string implied_organization_id;
};

struct LambdaRecord {
  // What Lambda's partial batch response names the record by: the DynamoDB stream
  // record's SequenceNumber, the SQS messageId.
  std::string item_identifier;
  // Records with the same non-empty key must be stored in input order: once one fails,
  // the later ones with that key are not attempted (and fail too), so that a retry never
  // stores an older change after a newer one. DynamoDB: the item (table and key); SQS FIFO
  // queues: the message group; SQS standard queues: "".
  std::string ordering_key;
  // The draft to store, or why the record cannot be stored (a Status whose details carry
  // JSON Pointers into the request body, e.g. "/Records/3/dynamodb/NewImage/price/N").
  Result<EventDraft> draft = Status::Internal("unset");
};

struct LambdaBatch {
  std::vector<LambdaRecord> records;  // in input order
};

// The status a push source reports (GET /v1/sources): state "ready", counters and the last
// error, updated after every batch.
class PushSource : public Source {
 public:
  PushSource(std::string kind, std::string name);

  SourceStatus Status() const override;

  // After a batch: `stored` events newly stored (idempotent duplicates not counted),
  // `failed` records answered as batchItemFailures, `last_event_at` the newest occurred_at
  // among the stored ones (0: none), `error` a one-line description of the first failure
  // ("" when none).
  void RecordBatch(uint64_t stored, uint64_t failed, TimestampUs last_event_at, TimestampUs now,
                   const std::string& error);

 private:
  mutable std::mutex mu_;
  SourceStatus status_;  // guarded by mu_
};

struct DynamoDbPushSource {
  DynamoDbSourceConfig config;
  std::shared_ptr<PushSource> status;
};

struct SqsPushSource {
  SqsSourceConfig config;
  std::shared_ptr<PushSource> status;
};

// The configured push sources, by kind and name.
class PushSources {
 public:
  explicit PushSources(const SourcesConfig& config);

  // nullptr when no source of that kind has that name.
  const DynamoDbPushSource* dynamodb(std::string_view name) const;
  const SqsPushSource* sqs(std::string_view name) const;

  // Every push source, for the source registry (GET /v1/sources).
  std::vector<std::shared_ptr<Source>> All() const;

  int64_t idempotency_ttl_us() const { return idempotency_ttl_us_; }

 private:
  std::vector<DynamoDbPushSource> dynamodb_;
  std::vector<SqsPushSource> sqs_;
  int64_t idempotency_ttl_us_ = 0;
};

}  // namespace annals
