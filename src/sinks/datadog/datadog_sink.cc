#include "sinks/datadog/datadog_sink.h"

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>

#include "common/gzip.h"
#include "sinks/sink_config.h"

namespace annals::sinks {
namespace {

constexpr size_t kMaxKeyChars = 256;
constexpr size_t kMaxServiceChars = 100;
constexpr size_t kMaxHostnameChars = 255;
constexpr size_t kMaxTags = 32;
constexpr size_t kMaxTagChars = 200;
constexpr size_t kMaxTagsTotalChars = 1000;

bool IsKeyByte(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }
bool IsAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool IsServiceByte(char c) {
  return IsAlnum(c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
}
bool IsHostnameByte(char c) { return IsAlnum(c) || c == '_' || c == '.' || c == ':' || c == '-'; }

std::string JsonString(std::string_view s) {
  return boost::json::serialize(boost::json::string_view(s));
}

std::vector<std::string> ParseTags(ConfigReader* reader) {
  std::vector<std::string> tags;
  const boost::json::value* v = reader->Get("tags");
  if (v == nullptr) return tags;
  const std::string base = ConfigReader::Path("tags");
  if (!v->is_array() || v->as_array().size() > kMaxTags) {
    reader->Fail(base, "tags must be an array of at most " + std::to_string(kMaxTags) +
                           " strings");
    return tags;
  }
  size_t total = 0;
  const boost::json::array& items = v->as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string path = base + "/" + std::to_string(i);
    if (!items[i].is_string()) {
      reader->Fail(path, "a tag must be a string");
      continue;
    }
    const std::string_view tag = items[i].as_string();
    if (tag.empty() || tag.size() > kMaxTagChars ||
        !std::all_of(tag.begin(), tag.end(), IsServiceByte)) {
      reader->Fail(path, "a tag must be 1 to 200 characters of letters, digits and _ . : / -");
      continue;
    }
    total += tag.size() + (tags.empty() ? 0 : 1);
    tags.emplace_back(tag);
  }
  if (total > kMaxTagsTotalChars) {
    reader->Fail(base, "the tags together must be at most " + std::to_string(kMaxTagsTotalChars) +
                           " characters");
  }
  return tags;
}

}  // namespace

Result<DatadogConfig> ParseDatadogConfig(const boost::json::value& config) {
  ConfigReader reader(config, {"url", "api_key", "service", "hostname", "tags"});
  if (!config.is_object()) return reader.Finish();
  DatadogConfig out;
  if (std::optional<std::string> url = reader.Url("url", UrlKind::kBase)) out.url = *url;
  if (std::optional<std::string> key = reader.Restricted(
          "api_key", kMaxKeyChars, true, IsKeyByte, "visible ASCII characters (no spaces)")) {
    out.api_key = *key;
  }
  if (std::optional<std::string> service =
          reader.Restricted("service", kMaxServiceChars, false, IsServiceByte,
                            "letters, digits and _ . : / -")) {
    out.service = *service;
  }
  out.hostname = reader.Restricted("hostname", kMaxHostnameChars, false, IsHostnameByte,
                                   "letters, digits and _ . : -");
  out.tags = ParseTags(&reader);
  ANNALS_RETURN_IF_ERROR(reader.Finish());
  return out;
}

const std::vector<std::string>& DatadogSecretFields() {
  static const std::vector<std::string> kFields = {"api_key"};
  return kFields;
}

DatadogSink::DatadogSink(DatadogConfig config, HttpClient* client, const Clock* clock,
                         HttpSinkOptions options)
    : config_(std::move(config)), client_(client), clock_(clock), options_(options) {
  endpoint_ = config_.url + "/api/v2/logs";
  log_head_ = "{\"ddsource\":\"annals\",\"service\":" + JsonString(config_.service);
  if (config_.hostname) log_head_ += ",\"hostname\":" + JsonString(*config_.hostname);
  log_head_ += ",\"ddtags\":";
  for (const std::string& tag : config_.tags) {
    tags_tail_ += ',';
    tags_tail_ += tag;
  }
}

DeliveryResult DatadogSink::Deliver(const SinkBatch& batch) {
  const std::string ddtags = JsonString("org:" + batch.organization_id + tags_tail_);
  std::string logs;
  size_t bytes = 2;
  for (const SinkEvent& e : batch.events) {
    bytes += log_head_.size() + ddtags.size() + e.json.size() + e.json.size() / 8 + 24;
  }
  logs.reserve(bytes);
  logs += '[';
  for (size_t i = 0; i < batch.events.size(); ++i) {
    if (i > 0) logs += ',';
    logs += log_head_;
    logs += ddtags;
    logs += ",\"message\":";
    logs += JsonString(batch.events[i].json);
    logs += '}';
  }
  logs += ']';

  DeliveryResult result;
  Result<std::string> compressed = GzipCompress(logs);
  if (!compressed.ok()) {
    result.outcome = DeliveryOutcome::kRetry;
    result.detail = compressed.status().message();
    return result;
  }
  HttpRequest request;
  request.method = "POST";
  request.url = endpoint_;
  request.timeout = options_.timeout;
  request.body = std::move(*compressed);
  request.headers = {{"DD-API-KEY", config_.api_key},
                     {"Content-Type", "application/json"},
                     {"Content-Encoding", "gzip"}};
  return SendAndClassify(client_, clock_, request);
}

}  // namespace annals::sinks
