// What every HTTP destination shares: how much one request may carry, sending one request and
// turning the answer (or the failure to get one) into a DeliveryResult.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "annals/clock.h"
#include "sinks/http_client.h"
#include "sinks/sink.h"

namespace annals::sinks {

// Options every HTTP sink takes besides its config.
struct HttpSinkOptions {
  // The whole exchange of one delivery attempt, connect included.
  std::chrono::milliseconds timeout{10000};
};

// At most `max_bytes` of `text` on one line: control characters (CR, LF, tab, ...) become
// spaces, runs of spaces collapse, and a cut never splits a UTF-8 sequence ("…" marks it).
std::string OneLine(std::string_view text, size_t max_bytes);

// Turns the destination's answer into the detail of a DeliveryResult, e.g. a destination's
// own JSON error shape. Returns "" to fall back to the body's first ~200 bytes.
using DescribeAnswer = std::function<std::string(const HttpResponse& response)>;

// Sends `request` with `client` and classifies the outcome:
// - an answer: OutcomeForHttpStatus(status); detail "HTTP <status>" followed by ": " and the
//   description (or the body's first ~200 bytes on one line) when there is one; the answer's
//   Retry-After (measured from clock->NowMicros()) when present;
// - no answer: kFailed for "destination_not_allowed" and "invalid_destination" (no retry can
//   help), kRetry for everything else (timeouts, refused connections, TLS and resolution
//   failures); the detail is the error message.
// Never throws. `client` and `clock` are not owned.
DeliveryResult SendAndClassify(HttpClient* client, const Clock* clock, const HttpRequest& request,
                               const DescribeAnswer& describe = nullptr);

}  // namespace annals::sinks
