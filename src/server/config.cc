#include "server/config.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <functional>
#include <toml++/toml.h>

#include "server/config_sources.h"

namespace annals {

namespace {

// One configuration key: how to apply a textual value to a Config.
struct Key {
  std::string section;
  std::string name;
  std::string kind;  // "string", "int", "bool", "duration"
  std::function<Status(Config&, const std::string&)> apply;
};

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument(where + ": " + what, "invalid_config");
}

bool ParseNonNegative(const std::string& s, double* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0 && *out < 1e12;
}

bool ParseU64(const std::string& s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

template <typename T>
Key IntKey(std::string section, std::string name, T Config::*group, size_t T::*field,
           uint64_t min, uint64_t max) {
  return Key{section, name, "int",
             [=](Config& c, const std::string& v) -> Status {
               uint64_t n = 0;
               if (!ParseU64(v, &n) || n < min || n > max) {
                 return Bad(section + "." + name, "must be an integer from " +
                                                      std::to_string(min) + " to " +
                                                      std::to_string(max) + ", got '" + v + "'");
               }
               (c.*group).*field = static_cast<size_t>(n);
               return Status::Ok();
             }};
}

template <typename T>
Key DurationKey(std::string section, std::string name, T Config::*group, int64_t T::*field_us,
                int64_t min_us) {
  return Key{section, name, "duration", [=](Config& c, const std::string& v) -> Status {
               int64_t us = 0;
               if (!ParseDurationUs(v, &us) || us < min_us) {
                 return Bad(section + "." + name,
                            "must be a duration like 30s, 15m, 24h or 7d, got '" + v + "'");
               }
               (c.*group).*field_us = us;
               return Status::Ok();
             }};
}

Key MsKey(std::string name, std::chrono::milliseconds ServerConfig::*field) {
  return Key{"server", name, "duration", [=](Config& c, const std::string& v) -> Status {
               int64_t us = 0;
               if (!ParseDurationUs(v, &us) || us < 1000) {
                 return Bad("server." + name,
                            "must be a duration of at least 1ms like 500ms or 30s, got '" + v +
                                "'");
               }
               c.server.*field = std::chrono::milliseconds(us / 1000);
               return Status::Ok();
             }};
}

std::vector<Key> AllKeys() {
  std::vector<Key> k;
  k.push_back({"server", "listen", "string", [](Config& c, const std::string& v) -> Status {
                 std::string host;
                 uint16_t port = 0;
                 ANNALS_RETURN_IF_ERROR(SplitHostPort(v, &host, &port));
                 c.server.listen = v;
                 return Status::Ok();
               }});
  k.push_back({"server", "public_url", "string", [](Config& c, const std::string& v) -> Status {
                 if (!v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0) {
                   return Bad("server.public_url", "must start with http:// or https://");
                 }
                 c.server.public_url = v;
                 while (!c.server.public_url.empty() && c.server.public_url.back() == '/') {
                   c.server.public_url.pop_back();
                 }
                 return Status::Ok();
               }});
  k.push_back({"server", "data", "string", [](Config& c, const std::string& v) -> Status {
                 if (v.empty()) return Bad("server.data", "must not be empty");
                 c.server.data_dir = v;
                 return Status::Ok();
               }});
  k.push_back({"server", "threads", "int", [](Config& c, const std::string& v) -> Status {
                 uint64_t n = 0;
                 if (!ParseU64(v, &n) || n > 256) {
                   return Bad("server.threads", "must be an integer from 0 (one per core) to 256");
                 }
                 c.server.threads = static_cast<int>(n);
                 return Status::Ok();
               }});
  k.push_back(IntKey("server", "max_connections", &Config::server, &ServerConfig::max_connections,
                     1, 1000000));
  k.push_back(MsKey("read_timeout", &ServerConfig::read_timeout));
  k.push_back(MsKey("idle_timeout", &ServerConfig::idle_timeout));
  k.push_back(MsKey("shutdown_grace", &ServerConfig::shutdown_grace));

  k.push_back(IntKey("limits", "max_request_bytes", &Config::request_limits,
                     &RequestLimits::max_request_bytes, 1024, 1ULL << 30));
  k.push_back(IntKey("limits", "max_batch_events", &Config::request_limits,
                     &RequestLimits::max_batch_events, 1, 100000));
  k.push_back(IntKey("limits", "max_event_bytes", &Config::event_limits,
                     &EventLimits::max_event_bytes, 1024, 64ULL << 20));
  k.push_back(IntKey("limits", "max_metadata_keys", &Config::event_limits,
                     &EventLimits::max_metadata_keys, 0, 10000));
  k.push_back(IntKey("limits", "max_metadata_key_length", &Config::event_limits,
                     &EventLimits::max_metadata_key_length, 1, 10000));
  k.push_back(IntKey("limits", "max_metadata_value_length", &Config::event_limits,
                     &EventLimits::max_metadata_value_length, 1, 1000000));
  k.push_back(IntKey("limits", "max_action_length", &Config::event_limits,
                     &EventLimits::max_action_length, 1, 10000));
  k.push_back(IntKey("limits", "max_targets", &Config::event_limits, &EventLimits::max_targets, 1,
                     10000));
  k.push_back(DurationKey("limits", "max_future", &Config::event_limits,
                          &EventLimits::max_future_us, 0));

  k.push_back(IntKey("ingest", "max_queued_events", &Config::ingest,
                     &IngestOptions::max_queued_events, 1, 100000000));
  k.push_back(IntKey("ingest", "max_commit_events", &Config::ingest,
                     &IngestOptions::max_commit_events, 1, 1000000));
  k.push_back(DurationKey("ingest", "idempotency_window", &Config::ingest,
                          &IngestOptions::idempotency_window_us, 1000000));

  k.push_back({"store", "event_compression", "string",
               [](Config& c, const std::string& v) -> Status {
                 if (v == "zstd") {
                   c.store.event_compression = EventCompression::kZstd;
                 } else if (v == "lz4") {
                   c.store.event_compression = EventCompression::kLz4;
                 } else if (v == "none") {
                   c.store.event_compression = EventCompression::kNone;
                 } else {
                   return Bad("store.event_compression",
                              "must be \"zstd\", \"lz4\" or \"none\", got '" + v + "'");
                 }
                 return Status::Ok();
               }});
  k.push_back({"store", "sync", "bool", [](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") return Bad("store.sync", "must be true or false");
                 c.store.sync = v == "true";
                 return Status::Ok();
               }});
  k.push_back(IntKey("store", "block_cache_bytes", &Config::store,
                     &RocksStoreOptions::block_cache_bytes, 1 << 20, 1ULL << 40));
  k.push_back(IntKey("store", "write_buffer_bytes", &Config::store,
                     &RocksStoreOptions::write_buffer_bytes, 1 << 20, 1ULL << 34));
  k.push_back({"store", "background_jobs", "int", [](Config& c, const std::string& v) -> Status {
                 uint64_t n = 0;
                 if (!ParseU64(v, &n) || n < 1 || n > 64) {
                   return Bad("store.background_jobs", "must be an integer from 1 to 64");
                 }
                 c.store.background_jobs = static_cast<int>(n);
                 return Status::Ok();
               }});

  k.push_back({"server", "ops_listen", "string", [](Config& c, const std::string& v) -> Status {
                 if (!v.empty()) {
                   std::string host;
                   uint16_t port = 0;
                   ANNALS_RETURN_IF_ERROR(SplitHostPort(v, &host, &port));
                 }
                 c.server.ops_listen = v;
                 return Status::Ok();
               }});
  k.push_back({"server", "tls_cert", "string", [](Config& c, const std::string& v) -> Status {
                 c.server.tls_cert = v;
                 return Status::Ok();
               }});
  k.push_back({"server", "tls_key", "string", [](Config& c, const std::string& v) -> Status {
                 c.server.tls_key = v;
                 return Status::Ok();
               }});
  k.push_back({"orgs", "auto_create", "bool", [](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") return Bad("orgs.auto_create", "must be true or false");
                 c.orgs.auto_create = v == "true";
                 return Status::Ok();
               }});
  k.push_back({"rate_limit", "requests_per_second", "float",
               [](Config& c, const std::string& v) -> Status {
                 double d = 0;
                 if (!ParseNonNegative(v, &d)) {
                   return Bad("rate_limit.requests_per_second",
                              "must be a number >= 0 (0 disables the limit), got '" + v + "'");
                 }
                 c.rate_limit.requests_per_second = d;
                 return Status::Ok();
               }});
  k.push_back({"rate_limit", "burst", "float", [](Config& c, const std::string& v) -> Status {
                 double d = 0;
                 if (!ParseNonNegative(v, &d) || d < 1) {
                   return Bad("rate_limit.burst", "must be a number >= 1, got '" + v + "'");
                 }
                 c.rate_limit.burst = d;
                 return Status::Ok();
               }});

  k.push_back(IntKey("tail", "max_subscribers", &Config::tail, &TailOptions::max_subscribers, 0,
                     1000000));
  k.push_back(IntKey("tail", "ring_events", &Config::tail, &TailOptions::ring_events, 1,
                     10000000));
  k.push_back({"tail", "stall_timeout", "duration", [](Config& c, const std::string& v) -> Status {
                 int64_t us = 0;
                 if (!ParseDurationUs(v, &us) || us < 1000) {
                   return Bad("tail.stall_timeout", "must be a duration like 10s, got '" + v + "'");
                 }
                 c.tail.stall_timeout = std::chrono::milliseconds(us / 1000);
                 return Status::Ok();
               }});
  k.push_back({"tail", "heartbeat", "duration", [](Config& c, const std::string& v) -> Status {
                 int64_t us = 0;
                 if (!ParseDurationUs(v, &us) || us < 1000) {
                   return Bad("tail.heartbeat", "must be a duration like 15s, got '" + v + "'");
                 }
                 c.tail.heartbeat = std::chrono::milliseconds(us / 1000);
                 return Status::Ok();
               }});

  k.push_back(DurationKey("retention", "purge_interval", &Config::retention,
                          &RetentionConfig::purge_interval_us, 1000000));
  k.push_back(DurationKey("retention", "deleted_items_keep_for", &Config::retention,
                          &RetentionConfig::deleted_items_keep_for_us, 0));
  k.push_back(DurationKey("exports", "keep_for", &Config::exports, &ExportsConfig::keep_for_us,
                          60LL * 1000000));
  k.push_back(DurationKey("exports", "url_ttl", &Config::exports, &ExportsConfig::url_ttl_us,
                          1000000));
  k.push_back(IntKey("exports", "exact_count_max", &Config::exports,
                     &ExportsConfig::exact_count_max, 0, uint64_t{1} << 40));
  k.push_back({"streams", "allow_private_destinations", "bool",
               [](Config& c, const std::string& v) -> Status {
                 if (v != "true" && v != "false") {
                   return Bad("streams.allow_private_destinations", "must be true or false");
                 }
                 c.streams.allow_private_destinations = v == "true";
                 return Status::Ok();
               }});
  k.push_back(DurationKey("streams", "initial_backoff", &Config::streams,
                          &StreamsConfig::initial_backoff_us, 1000));
  k.push_back(DurationKey("streams", "max_backoff", &Config::streams,
                          &StreamsConfig::max_backoff_us, 1000));
  k.push_back(IntKey("streams", "reject_attempts", &Config::streams,
                     &StreamsConfig::reject_attempts, 1, 100));
  k.push_back(IntKey("streams", "max_per_organization", &Config::streams,
                     &StreamsConfig::max_per_organization, 1, 10000));
  k.push_back({"streams", "ca_file", "string", [](Config& c, const std::string& v) -> Status {
                 c.streams.ca_file = v;
                 return Status::Ok();
               }});
  k.push_back(DurationKey("integrity", "head_interval", &Config::integrity,
                          &IntegrityConfig::head_interval_us, 10000));
  k.push_back(DurationKey("integrity", "max_head_age", &Config::integrity,
                          &IntegrityConfig::max_head_age_us, 1000000));
  k.push_back({"integrity", "signing_key_file", "string",
               [](Config& c, const std::string& v) -> Status {
                 c.integrity.signing_key_file = v;
                 return Status::Ok();
               }});
  k.push_back({"portal", "link_ttl", "duration", [](Config& c, const std::string& v) -> Status {
                 int64_t us = 0;
                 if (!ParseDurationUs(v, &us) || us < 1000000 || us > 86400LL * 1000000) {
                   return Bad("portal.link_ttl",
                              "must be a duration from 1s to 1d like 5m, got '" + v + "'");
                 }
                 c.portal.link_ttl_us = us;
                 return Status::Ok();
               }});
  k.push_back({"log", "level", "string", [](Config& c, const std::string& v) -> Status {
                 static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
                 for (const char* l : kLevels) {
                   if (v == l) {
                     c.log.level = v;
                     return Status::Ok();
                   }
                 }
                 return Bad("log.level", "must be one of trace, debug, info, warn, error");
               }});
  k.push_back({"log", "format", "string", [](Config& c, const std::string& v) -> Status {
                 if (v != "json" && v != "text") return Bad("log.format", "must be json or text");
                 c.log.format = v;
                 return Status::Ok();
               }});
  return k;
}

const Key* FindKey(const std::vector<Key>& keys, const std::string& section,
                   const std::string& name) {
  for (const Key& k : keys) {
    if (k.section == section && k.name == name) return &k;
  }
  return nullptr;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// Renders a TOML scalar as the textual form the key's parser takes; false on a type mismatch.
bool TomlToText(const toml::node& node, const std::string& kind, std::string* out) {
  if (kind == "string" || kind == "duration") {
    if (auto s = node.as_string()) {
      *out = s->get();
      return true;
    }
    return false;
  }
  if (kind == "float") {
    if (auto i = node.as_integer()) {
      *out = std::to_string(i->get());
      return true;
    }
    if (auto f = node.as_floating_point()) {
      char buf[64];
      auto [p, ec] = std::to_chars(buf, buf + sizeof(buf), f->get());
      *out = ec == std::errc() ? std::string(buf, p) : "";
      return ec == std::errc();
    }
    return false;
  }
  if (kind == "int") {
    if (auto i = node.as_integer()) {
      if (i->get() < 0) return false;
      *out = std::to_string(i->get());
      return true;
    }
    return false;
  }
  if (kind == "bool") {
    if (auto b = node.as_boolean()) {
      *out = b->get() ? "true" : "false";
      return true;
    }
    return false;
  }
  return false;
}

}  // namespace

bool ParseDurationUs(const std::string& text, int64_t* out) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return false;
  int64_t n = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  int64_t mult = 0;
  if (unit == "ms") mult = 1000;
  else if (unit == "s") mult = 1000000;
  else if (unit == "m") mult = 60LL * 1000000;
  else if (unit == "h") mult = 3600LL * 1000000;
  else if (unit == "d") mult = 86400LL * 1000000;
  else return false;
  if (n > INT64_MAX / mult) return false;
  *out = n * mult;
  return true;
}

Status SplitHostPort(const std::string& listen, std::string* host, uint16_t* port) {
  auto bad = [&] {
    return Bad("server.listen", "must be HOST:PORT such as 127.0.0.1:8080 or [::1]:8080, got '" +
                                    listen + "'");
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  std::string h = listen.substr(0, colon);
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  uint64_t p = 0;
  if (!ParseU64(listen.substr(colon + 1), &p) || p > 65535 || h.empty()) return bad();
  *host = h;
  *port = static_cast<uint16_t>(p);
  return Status::Ok();
}

Result<Config> LoadConfig(const ConfigOverrides& overrides, char** environ) {
  Config config;
  const std::vector<Key> keys = AllKeys();

  if (overrides.config_file) {
    toml::table tbl;
    try {
      tbl = toml::parse_file(*overrides.config_file);
    } catch (const toml::parse_error& e) {
      const auto& src = e.source();
      return Status::InvalidArgument(
          "config file " + *overrides.config_file + " line " + std::to_string(src.begin.line) +
              ": " + std::string(e.description()),
          "invalid_config");
    }
    for (const auto& [section_key, section_node] : tbl) {
      std::string section(section_key.str());
      const toml::table* st = section_node.as_table();
      if (st == nullptr) {
        return Bad(*overrides.config_file,
                   "'" + section + "' must be a [section]; unknown top-level key");
      }
      if (section == "sources") {
        Status parsed = ParseSourcesConfig(*st, *overrides.config_file, &config.sources);
        if (!parsed.ok()) {
          return Status::InvalidArgument(*overrides.config_file + ": " + parsed.message(),
                                         "invalid_config");
        }
        continue;
      }
      for (const auto& [name_key, value] : *st) {
        std::string name(name_key.str());
        const Key* k = FindKey(keys, section, name);
        if (k == nullptr) {
          return Bad(*overrides.config_file, "unknown key " + section + "." + name);
        }
        std::string text;
        if (!TomlToText(value, k->kind, &text)) {
          return Bad(*overrides.config_file,
                     section + "." + name + " must be a " +
                         (k->kind == "duration" ? std::string("duration string like \"30s\"")
                          : k->kind == "float"  ? std::string("number")
                                                : k->kind));
        }
        ANNALS_RETURN_IF_ERROR(k->apply(config, text));
      }
    }
  }

  if (environ != nullptr) {
    for (char** e = environ; *e != nullptr; ++e) {
      std::string entry(*e);
      size_t eq = entry.find('=');
      if (eq == std::string::npos) continue;
      std::string var = entry.substr(0, eq);
      if (var.rfind("ANNALS_", 0) != 0) continue;
      for (const char* section :
           {"SERVER", "LIMITS", "INGEST", "STORE", "LOG", "ORGS", "RATE_LIMIT", "TAIL", "RETENTION",
            "PORTAL", "EXPORTS", "STREAMS", "INTEGRITY"}) {
        std::string prefix = std::string("ANNALS_") + section + "_";
        if (var.rfind(prefix, 0) != 0) continue;
        std::string rest = var.substr(prefix.size());
        const Key* found = nullptr;
        for (const Key& k : keys) {
          if (Upper(k.section) == section && Upper(k.name) == rest) found = &k;
        }
        if (found == nullptr) {
          return Bad(var, "unknown configuration variable (see docs/configuration.md)");
        }
        ANNALS_RETURN_IF_ERROR(found->apply(config, entry.substr(eq + 1)));
      }
    }
  }

  for (const auto& [dotted, value] : overrides.values) {
    size_t dot = dotted.find('.');
    const Key* k = dot == std::string::npos
                       ? nullptr
                       : FindKey(keys, dotted.substr(0, dot), dotted.substr(dot + 1));
    if (k == nullptr) return Bad(dotted, "unknown configuration key");
    ANNALS_RETURN_IF_ERROR(k->apply(config, value));
  }

  if (config.server.public_url.empty()) config.server.public_url = "http://" + config.server.listen;
  return config;
}

}  // namespace annals
