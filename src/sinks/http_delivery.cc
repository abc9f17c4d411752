#include "sinks/http_delivery.h"

#include <algorithm>

namespace annals::sinks {
namespace {

// How much of a destination's answer body goes into a detail.
constexpr size_t kBodyExcerptBytes = 200;
// Details are one line of at most about 1 KiB (sink.h).
constexpr size_t kMaxDetailBytes = 1000;

}  // namespace

std::string OneLine(std::string_view text, size_t max_bytes) {
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 3);
  bool cut = false;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    if (out.size() >= max_bytes) {
      cut = true;
      break;
    }
    out.push_back(static_cast<char>(c));
  }
  if (cut) {
    // Drop a trailing partial UTF-8 sequence: back up to the start of the last character and
    // keep it only if it is complete.
    size_t start = out.size();
    while (start > 0 && (static_cast<unsigned char>(out[start - 1]) & 0xC0) == 0x80) --start;
    if (start > 0) {
      const auto lead = static_cast<unsigned char>(out[start - 1]);
      const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
      if (out.size() - (start - 1) < need) out.resize(start - 1);
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    out += "\xE2\x80\xA6";  // …
  } else {
    while (!out.empty() && out.back() == ' ') out.pop_back();
  }
  return out;
}

DeliveryResult SendAndClassify(HttpClient* client, const Clock* clock, const HttpRequest& request,
                               const DescribeAnswer& describe) {
  DeliveryResult result;
  Result<HttpResponse> answer = client->Send(request);
  if (!answer.ok()) {
    const std::string& code = answer.status().error_code();
    result.outcome = code == "destination_not_allowed" || code == "invalid_destination"
                         ? DeliveryOutcome::kFailed
                         : DeliveryOutcome::kRetry;
    result.detail = OneLine(answer.status().message(), kMaxDetailBytes);
    return result;
  }
  const HttpResponse& response = *answer;
  result.http_status = response.status;
  result.outcome = OutcomeForHttpStatus(response.status);
  std::string described = describe ? describe(response) : std::string();
  if (described.empty()) described = OneLine(response.body, kBodyExcerptBytes);
  result.detail = "HTTP " + std::to_string(response.status);
  if (!described.empty()) {
    result.detail += ": ";
    result.detail += OneLine(described, kMaxDetailBytes - result.detail.size());
  }
  if (std::optional<std::string_view> retry_after = response.Header("retry-after")) {
    result.retry_after = ParseRetryAfter(*retry_after, clock->NowMicros());
  }
  return result;
}

}  // namespace annals::sinks
