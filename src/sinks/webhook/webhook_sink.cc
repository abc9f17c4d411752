#include "sinks/webhook/webhook_sink.h"

#include <boost/json/object.hpp>
#include <algorithm>
#include <array>

#include "common/sha256.h"
#include "common/signed_token.h"
#include "domain/json.h"
#include "sinks/sink_config.h"

namespace annals::sinks {
namespace {

constexpr std::string_view kSecretPrefix = "whsec_";
// Standard Webhooks: secrets are 24 to 64 random bytes.
constexpr size_t kMinKeyBytes = 24;
constexpr size_t kMaxKeyBytes = 64;
constexpr size_t kMaxSecretChars = 6 + (kMaxKeyBytes + 2) / 3 * 4;
constexpr size_t kMaxHeaders = 20;
constexpr size_t kMaxHeaderNameChars = 100;
constexpr size_t kMaxHeaderValueBytes = 4096;

// Header names the sink sets itself or that only the transport may set.
constexpr std::array<std::string_view, 14> kReservedHeaders = {
    "connection",       "keep-alive",   "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te",           "trailer",            "transfer-encoding",
    "upgrade",          "host",         "content-type",       "content-length",
    "content-encoding", "expect"};

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsTokenChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A field value: visible characters, spaces, tabs and non-ASCII bytes; no other control
// characters, so nothing can end the header early.
bool IsFieldValue(std::string_view v) {
  return std::none_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
}

// Decodes one "whsec_<base64>" secret into its key; records a problem at `path` otherwise.
std::optional<std::string> ParseSecret(const boost::json::value& v, const std::string& path,
                                       ConfigReader* reader) {
  if (!v.is_string()) {
    reader->Fail(path, "a webhook secret must be a string");
    return std::nullopt;
  }
  const std::string_view s = v.as_string();
  if (s.size() > kMaxSecretChars || s.substr(0, kSecretPrefix.size()) != kSecretPrefix) {
    reader->Fail(path, "a webhook secret must read whsec_ followed by the base64 of 24 to 64 "
                       "random bytes");
    return std::nullopt;
  }
  std::optional<std::string> key = Base64Decode(s.substr(kSecretPrefix.size()));
  if (!key) {
    reader->Fail(path, "the part after whsec_ is not valid base64");
    return std::nullopt;
  }
  if (key->size() < kMinKeyBytes || key->size() > kMaxKeyBytes) {
    reader->Fail(path, "the secret's key is " + std::to_string(key->size()) +
                           " bytes; it must be 24 to 64 bytes");
    return std::nullopt;
  }
  return key;
}

std::vector<std::string> ParseSecrets(ConfigReader* reader) {
  const boost::json::value* secret = reader->Get("secret");
  const boost::json::value* secrets = reader->Get("secrets");
  std::vector<std::string> keys;
  if (secret != nullptr && secrets != nullptr) {
    reader->Fail(ConfigReader::Path("secrets"), "give either secret or secrets, not both");
    return keys;
  }
  if (secret != nullptr) {
    if (std::optional<std::string> key = ParseSecret(*secret, ConfigReader::Path("secret"),
                                                     reader)) {
      keys.push_back(std::move(*key));
    }
    return keys;
  }
  if (secrets == nullptr) {
    reader->Fail(ConfigReader::Path("secret"), "secret (or secrets) is required");
    return keys;
  }
  if (!secrets->is_array() || secrets->as_array().empty() || secrets->as_array().size() > 2) {
    reader->Fail(ConfigReader::Path("secrets"), "secrets must be an array of one or two secrets");
    return keys;
  }
  const boost::json::array& items = secrets->as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string path = ConfigReader::Path("secrets") + "/" + std::to_string(i);
    if (std::optional<std::string> key = ParseSecret(items[i], path, reader)) {
      if (std::find(keys.begin(), keys.end(), *key) != keys.end()) {
        reader->Fail(path, "the same secret is listed twice");
        continue;
      }
      keys.push_back(std::move(*key));
    }
  }
  return keys;
}

HttpHeaders ParseHeaders(ConfigReader* reader) {
  HttpHeaders headers;
  const boost::json::value* v = reader->Get("headers");
  if (v == nullptr) return headers;
  const std::string base = ConfigReader::Path("headers");
  if (!v->is_object()) {
    reader->Fail(base, "headers must be an object of header names to string values");
    return headers;
  }
  const boost::json::object& object = v->as_object();
  if (object.size() > kMaxHeaders) {
    reader->Fail(base, "at most " + std::to_string(kMaxHeaders) + " headers are allowed");
    return headers;
  }
  std::vector<std::string> seen;
  for (const auto& member : object) {
    const std::string_view name(member.key());
    std::string path = base;
    AppendJsonPointerToken(name, &path);
    const std::string lower = Lowercase(name);
    if (name.empty() || name.size() > kMaxHeaderNameChars ||
        !std::all_of(name.begin(), name.end(), IsTokenChar)) {
      reader->Fail(path, "a header name must be 1 to 100 characters of an HTTP token");
      continue;
    }
    if (std::find(kReservedHeaders.begin(), kReservedHeaders.end(), lower) !=
            kReservedHeaders.end() ||
        lower.starts_with("webhook-")) {
      reader->Fail(path, "the header " + std::string(name) + " is set by annals or the "
                         "connection and cannot be configured");
      continue;
    }
    if (std::find(seen.begin(), seen.end(), lower) != seen.end()) {
      reader->Fail(path, "the header " + std::string(name) + " is given twice");
      continue;
    }
    seen.push_back(lower);
    // Values are secrets: messages describe them without repeating them.
    if (!member.value().is_string()) {
      reader->Fail(path, "a header value must be a string");
      continue;
    }
    const std::string_view value = member.value().as_string();
    if (value.size() > kMaxHeaderValueBytes) {
      reader->Fail(path, "a header value must be at most " +
                             std::to_string(kMaxHeaderValueBytes) + " bytes");
      continue;
    }
    if (!IsFieldValue(value)) {
      reader->Fail(path, "a header value must not contain control characters");
      continue;
    }
    headers.emplace_back(std::string(name), std::string(value));
  }
  return headers;
}

}  // namespace

Result<WebhookConfig> ParseWebhookConfig(const boost::json::value& config) {
  ConfigReader reader(config, {"url", "format", "headers", "secret", "secrets"});
  if (!config.is_object()) return reader.Finish();
  WebhookConfig out;
  if (std::optional<std::string> url = reader.Url("url", UrlKind::kEndpoint)) out.url = *url;
  if (std::optional<std::string> format = reader.Choice("format", {"json_array", "ndjson"})) {
    out.format = *format == "ndjson" ? WebhookFormat::kNdjson : WebhookFormat::kJsonArray;
  }
  out.headers = ParseHeaders(&reader);
  out.signing_keys = ParseSecrets(&reader);
  ANNALS_RETURN_IF_ERROR(reader.Finish());
  return out;
}

const std::vector<std::string>& WebhookSecretFields() {
  static const std::vector<std::string> kFields = {"secret", "secrets", "headers"};
  return kFields;
}

std::string StandardWebhookSignature(std::string_view key, std::string_view id, int64_t timestamp,
                                     std::string_view body) {
  std::string content;
  content.reserve(id.size() + body.size() + 24);
  content.append(id);
  content += '.';
  content += std::to_string(timestamp);
  content += '.';
  content.append(body);
  return "v1," + Base64Encode(HmacSha256(key, content));
}

WebhookSink::WebhookSink(WebhookConfig config, HttpClient* client, const Clock* clock,
                         HttpSinkOptions options)
    : config_(std::move(config)), client_(client), clock_(clock), options_(options) {}

DeliveryResult WebhookSink::Deliver(const SinkBatch& batch) {
  HttpRequest request;
  request.method = "POST";
  request.url = config_.url;
  request.timeout = options_.timeout;
  size_t bytes = 2;
  for (const SinkEvent& e : batch.events) bytes += e.json.size() + 1;
  request.body.reserve(bytes);
  if (config_.format == WebhookFormat::kNdjson) {
    for (const SinkEvent& e : batch.events) {
      request.body += e.json;
      request.body += '\n';
    }
  } else {
    request.body += '[';
    for (size_t i = 0; i < batch.events.size(); ++i) {
      if (i > 0) request.body += ',';
      request.body += batch.events[i].json;
    }
    request.body += ']';
  }

  const int64_t timestamp = clock_->NowMicros() / 1000000;
  std::string signatures;
  for (const std::string& key : config_.signing_keys) {
    if (!signatures.empty()) signatures += ' ';
    signatures += StandardWebhookSignature(key, batch.delivery_id, timestamp, request.body);
  }
  request.headers.reserve(4 + config_.headers.size());
  request.headers.emplace_back("Content-Type", config_.format == WebhookFormat::kNdjson
                                                   ? "application/x-ndjson"
                                                   : "application/json");
  request.headers.emplace_back("webhook-id", batch.delivery_id);
  request.headers.emplace_back("webhook-timestamp", std::to_string(timestamp));
  request.headers.emplace_back("webhook-signature", std::move(signatures));
  for (const auto& header : config_.headers) request.headers.push_back(header);
  return SendAndClassify(client_, clock_, request);
}

}  // namespace annals::sinks
