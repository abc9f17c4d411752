// Configuration of change-capture sources ([[sources.postgres]], [[sources.dynamodb]],
// [[sources.sqs]] in the TOML file; docs/configuration.md and docs/change-capture.md). Plain
// values, validated by LoadConfig (src/server/config.cc); not synchronized.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace annals {

struct PostgresTableConfig {
  std::string name;         // "schema.table" (a bare name means schema "public")
  std::string target_type;  // default: the table name without its schema
  std::vector<std::string> exclude_columns;  // never captured
  std::vector<std::string> mask_columns;     // captured as a keyed HMAC of the value
};

struct PostgresSourceConfig {
  std::string name;         // unique among postgres sources; part of source and idempotency keys
  std::string dsn;          // libpq connection string (replication=database is added)
  std::string publication;  // must exist
  std::string slot;         // created when missing
  // Exactly one of the two: the column whose value is the organization id, or one fixed
  // organization for every row.
  std::string organization_column;
  std::string organization;
  std::string snapshot = "initial";  // "initial" or "never"
  std::vector<PostgresTableConfig> tables;  // at least one
};

struct DynamoDbSourceConfig {
  std::string name;  // unique among dynamodb sources; the {name} of POST /v1/sources/dynamodb/{name}
  // Exactly one of the two: the attribute holding the organization id, or a fixed organization.
  std::string organization_attribute;
  std::string organization;
  std::string actor_attribute;  // optional: the attribute holding the actor id
  // Exactly one of the two: a fixed target type, or the key attribute whose value's part
  // before the first '#' is the type (single-table designs).
  std::string target_type;
  std::string type_from_key;
  // Key attributes whose values, joined with ':', form the target id (default: every key
  // attribute of the record, in the record's Keys order).
  std::vector<std::string> id_from_keys;
};

struct SqsSourceConfig {
  std::string name;          // unique among sqs sources; the {name} of POST /v1/sources/sqs/{name}
  std::string organization;  // optional default organization for bodies that name none
};

struct SourcesConfig {
  std::vector<PostgresSourceConfig> postgres;
  std::vector<DynamoDbSourceConfig> dynamodb;
  std::vector<SqsSourceConfig> sqs;
  // How long change-capture idempotency keys are kept (sources may redeliver this long).
  int64_t idempotency_window_us = 14LL * 24 * 3600 * 1000000;
};

}  // namespace annals
