#include "sinks/splunk/hec_sink.h"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <algorithm>
#include <cstdio>

#include "common/sha256.h"
#include "sinks/sink_config.h"

namespace annals::sinks {
namespace {

constexpr size_t kMaxTokenChars = 256;
constexpr size_t kMaxIndexChars = 80;
constexpr size_t kMaxNameChars = 100;

bool IsTokenByte(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }
bool IsIndexByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
// Printable ASCII that JSON does not escape.
bool IsPlainPrintable(char c) { return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'; }

std::string JsonString(std::string_view s) { return boost::json::serialize(boost::json::string_view(s)); }

// "1732845784.130": seconds since the epoch with exactly three decimals.
std::string EpochSecondsWithMillis(TimestampUs us) {
  if (us < 0) us = 0;
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%lld.%03lld",
                              static_cast<long long>(us / 1000000),
                              static_cast<long long>((us % 1000000) / 1000));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

Result<SplunkHecConfig> ParseSplunkHecConfig(const boost::json::value& config) {
  ConfigReader reader(config, {"url", "token", "index", "sourcetype", "source", "host"});
  if (!config.is_object()) return reader.Finish();
  SplunkHecConfig out;
  if (std::optional<std::string> url = reader.Url("url", UrlKind::kBase)) out.url = *url;
  if (std::optional<std::string> token = reader.Restricted(
          "token", kMaxTokenChars, true, IsTokenByte, "visible ASCII characters (no spaces)")) {
    out.token = *token;
  }
  if (std::optional<std::string> index = reader.Restricted(
          "index", kMaxIndexChars, false, IsIndexByte, "lowercase letters, digits, _ and -")) {
    if (index->front() == '_' || index->front() == '-') {
      reader.Fail(ConfigReader::Path("index"), "index must start with a letter or a digit");
    } else {
      out.index = *index;
    }
  }
  constexpr std::string_view kPlain = "printable ASCII characters other than \" and \\";
  if (std::optional<std::string> v =
          reader.Restricted("sourcetype", kMaxNameChars, false, IsPlainPrintable, kPlain)) {
    out.sourcetype = *v;
  }
  if (std::optional<std::string> v =
          reader.Restricted("source", kMaxNameChars, false, IsPlainPrintable, kPlain)) {
    out.source = *v;
  }
  out.host = reader.Restricted("host", kMaxNameChars, false, IsPlainPrintable, kPlain);
  ANNALS_RETURN_IF_ERROR(reader.Finish());
  return out;
}

const std::vector<std::string>& SplunkHecSecretFields() {
  static const std::vector<std::string> kFields = {"token"};
  return kFields;
}

std::string HecChannelFor(std::string_view stream_id) {
  std::string bytes = Sha256(std::string("annals-hec-channel:").append(stream_id)).substr(0, 16);
  bytes[6] = static_cast<char>((bytes[6] & 0x0f) | 0x80);  // version 8 (RFC 9562, custom)
  bytes[8] = static_cast<char>((bytes[8] & 0x3f) | 0x80);  // variant 10
  const std::string hex = HexEncode(bytes);
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

SplunkHecSink::SplunkHecSink(SplunkHecConfig config, HttpClient* client, const Clock* clock,
                             HttpSinkOptions options)
    : config_(std::move(config)), client_(client), clock_(clock), options_(options) {
  endpoint_ = config_.url + "/services/collector/event";
  authorization_ = "Splunk " + config_.token;
  if (config_.host) envelope_tail_ += ",\"host\":" + JsonString(*config_.host);
  envelope_tail_ += ",\"source\":" + JsonString(config_.source);
  envelope_tail_ += ",\"sourcetype\":" + JsonString(config_.sourcetype);
  if (config_.index) envelope_tail_ += ",\"index\":" + JsonString(*config_.index);
  envelope_tail_ += ",\"event\":";
}

std::string SplunkHecSink::DescribeHecAnswer(std::string_view body) {
  boost::json::error_code ec;
  const boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return {};
  const boost::json::object& o = v.as_object();
  const boost::json::value* text = o.if_contains("text");
  if (text == nullptr || !text->is_string()) return {};
  std::string out(text->as_string());
  if (const boost::json::value* code = o.if_contains("code"); code != nullptr && code->is_int64()) {
    out += " (HEC code " + std::to_string(code->as_int64()) + ")";
  }
  if (const boost::json::value* n = o.if_contains("invalid-event-number");
      n != nullptr && n->is_int64()) {
    out += "; invalid event number " + std::to_string(n->as_int64()) + " of the batch";
  }
  return out;
}

DeliveryResult SplunkHecSink::Deliver(const SinkBatch& batch) {
  HttpRequest request;
  request.method = "POST";
  request.url = endpoint_;
  request.timeout = options_.timeout;
  size_t bytes = 0;
  for (const SinkEvent& e : batch.events) bytes += e.json.size() + 32 + envelope_tail_.size();
  request.body.reserve(bytes);
  for (const SinkEvent& e : batch.events) {
    request.body += "{\"time\":";
    request.body += EpochSecondsWithMillis(e.received_at);
    request.body += envelope_tail_;
    request.body += e.json;
    request.body += '}';
  }
  request.headers = {{"Authorization", authorization_},
                     {"X-Splunk-Request-Channel", HecChannelFor(batch.stream_id)},
                     {"Content-Type", "application/json"}};
  return SendAndClassify(client_, clock_, request, [](const HttpResponse& response) {
    return DescribeHecAnswer(response.body);
  });
}

}  // namespace annals::sinks
