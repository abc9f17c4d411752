#include "sinks/destinations.h"

#include <boost/url/parse.hpp>

#include "sinks/curl_http_client.h"
#include "sinks/datadog/datadog_sink.h"
#include "sinks/http_delivery.h"
#include "sinks/s3/s3_sink.h"
#include "sinks/splunk/hec_sink.h"
#include "sinks/syslog/syslog_sink.h"
#include "sinks/webhook/webhook_sink.h"

namespace annals::sinks {

namespace {

// S3 and syslog carry no envelope the engine must count beyond the JSON: an S3 object is
// NDJSON (one newline per event), a syslog frame ~1 KiB of header per event.
constexpr BatchLimits kS3Limits{10000, s3::kS3MaxBatchBytes, 1};
constexpr BatchLimits kSyslogLimits{1000, 8u << 20, 1024};

// A sink together with the HTTP client it sends through.
class HttpBackedSink final : public Sink {
 public:
  HttpBackedSink(std::unique_ptr<HttpClient> client, std::unique_ptr<Sink> sink)
      : client_(std::move(client)), sink_(std::move(sink)) {}
  DeliveryResult Deliver(const SinkBatch& batch) override { return sink_->Deliver(batch); }
  size_t max_event_bytes() const override { return sink_->max_event_bytes(); }

 private:
  std::unique_ptr<HttpClient> client_;  // declared first: destroyed after the sink
  std::unique_ptr<Sink> sink_;
};

// The host (and its JSON Pointer) a config names, for the address policy check.
struct HostRef {
  std::string host;
  uint16_t port = 0;
  std::string path;
};

std::optional<HostRef> UrlHost(const std::string& url, const std::string& path) {
  boost::system::result<boost::urls::url_view> u = boost::urls::parse_absolute_uri(url);
  if (!u) return std::nullopt;
  HostRef h;
  h.host = u->encoded_host_address().decode();
  h.port = u->has_port() ? u->port_number() : (u->scheme() == "https" ? 443 : 80);
  h.path = path;
  return h;
}

}  // namespace

Destinations::Destinations(DestinationOptions options)
    : options_(std::move(options)), policy_(options_.policy) {}

bool Destinations::Knows(const std::string& type) const {
  return type == WebhookSink::kType || type == SplunkHecSink::kType ||
         type == DatadogSink::kType || type == "s3" || type == "syslog";
}

Status Destinations::Validate(const std::string& type, const boost::json::object& config) const {
  const boost::json::value v(config);
  std::optional<HostRef> host;
  if (type == WebhookSink::kType) {
    Result<WebhookConfig> c = ParseWebhookConfig(v);
    if (!c.ok()) return c.status();
    host = UrlHost(c->url, "/config/url");
  } else if (type == SplunkHecSink::kType) {
    Result<SplunkHecConfig> c = ParseSplunkHecConfig(v);
    if (!c.ok()) return c.status();
    host = UrlHost(c->url, "/config/url");
  } else if (type == DatadogSink::kType) {
    Result<DatadogConfig> c = ParseDatadogConfig(v);
    if (!c.ok()) return c.status();
    host = UrlHost(c->url, "/config/url");
  } else if (type == "s3") {
    Result<s3::S3Config> c = s3::ParseS3Config(v);
    if (!c.ok()) return c.status();
    if (!c->endpoint.empty()) host = UrlHost(c->endpoint, "/config/endpoint");
  } else if (type == "syslog") {
    Result<SyslogConfig> c = ParseSyslogConfig(v);
    if (!c.ok()) return c.status();
    host = HostRef{c->host, c->port, "/config/host"};
  } else {
    return Status::InvalidArgument("unknown destination type '" + type + "'", "invalid_stream",
                                   {{"/type", "unknown destination type"}});
  }
  if (!host) return Status::Ok();
  Result<std::vector<ResolvedAddress>> resolved = policy_.Resolve(host->host, host->port);
  if (!resolved.ok() && resolved.status().error_code() == "destination_not_allowed") {
    return Status::InvalidArgument(resolved.status().message(), "destination_not_allowed",
                                   {{host->path, resolved.status().message()}});
  }
  return Status::Ok();
}

Result<std::unique_ptr<Sink>> Destinations::Create(const std::string& type,
                                                   const boost::json::object& config) const {
  const boost::json::value v(config);
  if (type == "syslog") {
    Result<SyslogConfig> c = ParseSyslogConfig(v);
    if (!c.ok()) return c.status();
    return std::unique_ptr<Sink>(
        std::make_unique<SyslogSink>(std::move(c).value(), &policy_, options_.clock));
  }
  CurlHttpClientOptions co;
  co.policy = &policy_;
  co.ca_file = options_.ca_file;
  Result<std::unique_ptr<CurlHttpClient>> client = CurlHttpClient::Create(std::move(co));
  if (!client.ok()) return client.status();
  HttpClient* http = client->get();
  std::unique_ptr<Sink> sink;
  if (type == WebhookSink::kType) {
    Result<WebhookConfig> c = ParseWebhookConfig(v);
    if (!c.ok()) return c.status();
    sink = std::make_unique<WebhookSink>(std::move(c).value(), http, options_.clock);
  } else if (type == SplunkHecSink::kType) {
    Result<SplunkHecConfig> c = ParseSplunkHecConfig(v);
    if (!c.ok()) return c.status();
    sink = std::make_unique<SplunkHecSink>(std::move(c).value(), http, options_.clock);
  } else if (type == DatadogSink::kType) {
    Result<DatadogConfig> c = ParseDatadogConfig(v);
    if (!c.ok()) return c.status();
    sink = std::make_unique<DatadogSink>(std::move(c).value(), http, options_.clock);
  } else if (type == "s3") {
    Result<s3::S3Config> c = s3::ParseS3Config(v);
    if (!c.ok()) return c.status();
    sink = std::make_unique<s3::S3Sink>(std::move(c).value(), http, options_.clock);
  } else {
    return Status::InvalidArgument("unknown destination type '" + type + "'", "invalid_stream");
  }
  return std::unique_ptr<Sink>(
      std::make_unique<HttpBackedSink>(std::move(client).value(), std::move(sink)));
}

std::vector<std::string> Destinations::SecretFields(const std::string& type) const {
  if (type == WebhookSink::kType) return WebhookSecretFields();
  if (type == SplunkHecSink::kType) return SplunkHecSecretFields();
  if (type == DatadogSink::kType) return DatadogSecretFields();
  if (type == "s3") return s3::S3SecretFields();
  if (type == "syslog") return SyslogSecretFields();
  return {};
}

std::string Destinations::ExclusiveTarget(const std::string& type,
                                          const boost::json::object& config) const {
  if (type != "s3") return "";
  Result<s3::S3Config> c = s3::ParseS3Config(boost::json::value(config));
  if (!c.ok()) return "";
  const std::string endpoint =
      c->endpoint.empty() ? "https://s3." + c->region + ".amazonaws.com" : c->endpoint;
  return "s3 " + endpoint + " bucket " + c->bucket + " prefix '" + c->prefix + "'";
}

BatchLimits Destinations::Limits(const std::string& type) const {
  if (type == WebhookSink::kType) return WebhookSink::batch_limits();
  if (type == SplunkHecSink::kType) return SplunkHecSink::batch_limits();
  if (type == DatadogSink::kType) return DatadogSink::batch_limits();
  if (type == "s3") return kS3Limits;
  if (type == "syslog") return kSyslogLimits;
  return {1, 1, 0};
}

}  // namespace annals::sinks
