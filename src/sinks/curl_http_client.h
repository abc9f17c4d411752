// HttpClient on libcurl: the outbound HTTP(S) of every HTTP log-stream destination.
//
// Safety rules, always on:
// - only http:// and https:// (also for anything curl might be asked to follow);
// - redirects are never followed: a 3xx is returned as the answer;
// - every address a connection is opened to is checked by the AddressPolicy after DNS
//   resolution, at the moment the socket is opened, and the connection goes only to that
//   checked address (no second resolution in between, so DNS rebinding cannot slip past);
//   a refusal is reported as the policy's Status ("destination_not_allowed");
// - proxies from the environment (http_proxy, https_proxy, all_proxy, ...) are ignored, and
//   neither .netrc nor cookies are read;
// - TLS peer and host-name verification is always on, against the system trust store plus an
//   optional extra CA bundle;
// - at most max_response_bytes of a response body are kept; the rest is read and discarded.
// Connections are kept alive and reused across Send calls.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "annals/status.h"
#include "sinks/address_policy.h"
#include "sinks/http_client.h"

namespace annals::sinks {

// "annals/<version>".
std::string DefaultUserAgent();

struct CurlHttpClientOptions {
  // Required. Not owned; must outlive the client.
  const AddressPolicy* policy = nullptr;
  // The most bytes of a response body kept in HttpResponse::body.
  size_t max_response_bytes = 64 * 1024;
  // A PEM file of CA certificates trusted in addition to the system store; empty for none.
  std::string ca_file;
  std::string user_agent = DefaultUserAgent();
};

// Thread-compatible: one Send at a time (it owns one libcurl easy handle and its connection
// cache). Use one client per delivering thread.
class CurlHttpClient final : public HttpClient {
 public:
  // kInvalidArgument ("invalid_argument") without a policy or with a ca_file that cannot be
  // read as PEM certificates; kInternal when libcurl cannot be initialized.
  static Result<std::unique_ptr<CurlHttpClient>> Create(CurlHttpClientOptions options);

  ~CurlHttpClient() override;
  CurlHttpClient(const CurlHttpClient&) = delete;
  CurlHttpClient& operator=(const CurlHttpClient&) = delete;

  // See HttpClient::Send. Besides its errors: kInvalidArgument ("invalid_request") for a
  // method or header that cannot be sent (a name that is not an HTTP token, a value with
  // CR, LF or NUL).
  Result<HttpResponse> Send(const HttpRequest& request) override;

 private:
  struct Transfer;
  CurlHttpClient(CurlHttpClientOptions options, void* curl);

  CurlHttpClientOptions options_;
  void* curl_;  // CURL*, owned
};

}  // namespace annals::sinks
