// annals server configuration: a TOML file, then ANNALS_<SECTION>_<KEY> environment
// variables, then command-line flags, each overriding the one before. Every key is
// documented in docs/configuration.md. Unknown keys are errors, never ignored.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "annals/options.h"
#include "annals/status.h"
#include "server/tail.h"
#include "sources/source_config.h"

namespace annals {

struct ServerConfig {
  std::string listen = "127.0.0.1:8080";
  std::string public_url;  // default: "http://" + listen
  std::string data_dir = "./data";
  int threads = 0;         // 0: one per CPU core
  size_t max_connections = 10000;
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds shutdown_grace{10000};
  // A second listener for /healthz, /readyz and /metrics only ("" = none; they are also
  // served on the main listener).
  std::string ops_listen;
  std::string tls_cert;  // PEM certificate chain; with tls_key, the main listener is HTTPS
  std::string tls_key;   // PEM private key
};

struct OrgsConfig {
  // Events naming an unknown organization create it instead of being refused.
  bool auto_create = false;
};

struct RateLimitConfig {
  double requests_per_second = 1000;  // per API key; 0 disables the limit
  double burst = 2000;
};

struct RetentionConfig {
  // How often the purge job runs over every organization.
  int64_t purge_interval_us = 3600LL * 1000000;
  // The policy of organizations that have none of their own: deleted items' history is
  // kept this long after deletion.
  int64_t deleted_items_keep_for_us = 180LL * 86400 * 1000000;
};

struct ExportsConfig {
  // How long a finished export's file (and its record) is kept.
  int64_t keep_for_us = 24LL * 3600 * 1000000;
  // How long a download URL handed out by GET /v1/exports/{id} stays valid.
  int64_t url_ttl_us = 600LL * 1000000;
  // Exports estimated at more than this many events take the estimate as their progress
  // total instead of counting (exports::ExportManagerOptions::exact_count_max).
  size_t exact_count_max = 250000;
};

// [streams]: log streams to external destinations.
struct StreamsConfig {
  // Destinations whose address is loopback, private, link-local, cloud metadata or another
  // non-public range are refused unless this is true (e.g. a SIEM on the same network).
  bool allow_private_destinations = false;
  // The first retry of a failed delivery waits this long; each further one twice as long,
  // up to max_backoff (also how often a stream in `error` is retried).
  int64_t initial_backoff_us = 1000000;
  int64_t max_backoff_us = 300LL * 1000000;
  // Attempts of a batch a destination refuses as malformed before it is dead-lettered.
  size_t reject_attempts = 3;
  size_t max_per_organization = 20;
  // Extra trust anchors (PEM) for HTTPS destinations, besides the system's.
  std::string ca_file;
};

// [integrity]: tamper evidence (docs/integrity.md).
struct IntegrityConfig {
  // A new signed tree head per organization whose tree grew, at most this often.
  int64_t head_interval_us = 10LL * 1000000;
  // A new head at least this often, also when the tree did not grow.
  int64_t max_head_age_us = 3600LL * 1000000;
  // An Ed25519 private key (PEM PKCS#8 or base64 of the 32-byte seed) to sign heads with;
  // empty: annals generates one in <data_dir>/integrity/tree-signing.key.
  std::string signing_key_file;
};

// [portal]: links to the Audit Logs view (POST /portal/generate_link).
struct PortalConfig {
  // How long a portal link stays valid (1 second to 1 day).
  int64_t link_ttl_us = 5LL * 60 * 1000000;
};

struct LogConfig {
  std::string level = "info";   // trace, debug, info, warn, error
  std::string format = "json";  // json or text
};

struct Config {
  ServerConfig server;
  EventLimits event_limits;
  RequestLimits request_limits;
  IngestOptions ingest;
  RocksStoreOptions store;
  LogConfig log;
  OrgsConfig orgs;
  RateLimitConfig rate_limit;
  TailOptions tail;
  SourcesConfig sources;
  RetentionConfig retention;
  ExportsConfig exports;
  PortalConfig portal;
  StreamsConfig streams;
  IntegrityConfig integrity;
};

// Overrides given on the command line, already split into section.key = value.
struct ConfigOverrides {
  std::optional<std::string> config_file;
  std::map<std::string, std::string> values;  // "server.listen" -> "127.0.0.1:0"
};

// Loads the configuration. `environ` is the process environment (injected for tests).
Result<Config> LoadConfig(const ConfigOverrides& overrides, char** environ);

// Parses "<n>ms|s|m|h|d" into microseconds; false if malformed.
bool ParseDurationUs(const std::string& text, int64_t* out);

// Splits "host:port" (IPv6 as "[::1]:8080"); port 0 allowed.
Status SplitHostPort(const std::string& listen, std::string* host, uint16_t* port);

}  // namespace annals
