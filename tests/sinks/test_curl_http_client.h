// Test utility: a minimal HttpClient on libcurl, for sink tests that talk to a real receiver
// on loopback. It applies no address policy, follows no redirects, does not decompress, and
// sends exactly the request's method, URL, headers and body. The production client is
// CurlHttpClient (src/sinks/curl_http_client.h); this one only lets the sink tests run
// against real servers independently of it.
//
// Thread-safe: every Send uses its own curl handle.
#pragma once

#include "sinks/http_client.h"

namespace annals::sinks::testing {

class TestCurlHttpClient final : public HttpClient {
 public:
  TestCurlHttpClient();
  // Errors: kUnavailable "destination_timeout" or "destination_unreachable" with curl's
  // message; kInvalidArgument "invalid_destination" for a URL curl refuses.
  Result<HttpResponse> Send(const HttpRequest& request) override;
};

}  // namespace annals::sinks::testing
