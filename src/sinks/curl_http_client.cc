#include "sinks/curl_http_client.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <string_view>

#ifndef ANNALS_VERSION
#error "ANNALS_VERSION must be defined by the build"
#endif

namespace annals::sinks {
namespace {

// The most response header lines kept; a destination sending more is misbehaving, and the
// sinks only ever read a few of them.
constexpr size_t kMaxResponseHeaders = 256;

bool IsTokenChar(unsigned char c) {
  if (std::isalnum(c)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool IsToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return IsTokenChar(static_cast<unsigned char>(c));
  });
}

bool IsSafeHeaderValue(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view TrimOws(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

Status InvalidDestination(std::string message) {
  return Status::InvalidArgument(std::move(message), "invalid_destination");
}

struct CurlUrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

// Reads one part of a parsed URL; empty when absent.
std::string UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) return {};
  std::string out(value);
  curl_free(value);
  return out;
}

// Parses `text` and checks it is an http(s) URL with a host.
Result<CurlUrl> ParseDestinationUrl(const std::string& text) {
  CurlUrl url(curl_url());
  if (!url) return Status::Internal("libcurl could not allocate a URL handle");
  if (curl_url_set(url.get(), CURLUPART_URL, text.c_str(), CURLU_NON_SUPPORT_SCHEME) !=
      CURLUE_OK) {
    return InvalidDestination("the destination URL is not a valid absolute URL");
  }
  const std::string scheme = Lowercase(UrlPart(url.get(), CURLUPART_SCHEME));
  if (scheme != "http" && scheme != "https") {
    return InvalidDestination("the destination URL must start with http:// or https://, not " +
                              (scheme.empty() ? std::string("nothing") : scheme + "://"));
  }
  if (UrlPart(url.get(), CURLUPART_HOST).empty()) {
    return InvalidDestination("the destination URL has no host");
  }
  return url;
}

}  // namespace

std::string DefaultUserAgent() { return "annals/" ANNALS_VERSION; }

// The state of one Send, reachable from libcurl's callbacks.
struct CurlHttpClient::Transfer {
  const CurlHttpClientOptions* options = nullptr;
  HttpResponse response;
  Status refusal;        // the first address the policy refused, if any
  bool opened = false;   // a socket was opened to an allowed address

  static curl_socket_t OpenSocket(void* clientp, curlsocktype purpose, curl_sockaddr* address) {
    auto* t = static_cast<Transfer*>(clientp);
    if (purpose != CURLSOCKTYPE_IPCXN) {
      if (t->refusal.ok()) {
        t->refusal = Status::InvalidArgument("only outbound connections are allowed",
                                             "destination_not_allowed");
      }
      return CURL_SOCKET_BAD;
    }
    Status allowed = t->options->policy->Check(&address->addr);
    if (!allowed.ok()) {
      if (t->refusal.ok()) t->refusal = std::move(allowed);
      return CURL_SOCKET_BAD;
    }
    const int fd = socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    if (fd >= 0) t->opened = true;
    return fd;
  }

  static size_t OnHeader(char* data, size_t size, size_t count, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const size_t length = size * count;
    std::string_view line(data, length);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    HttpHeaders& headers = t->response.headers;
    if (line.substr(0, 5) == "HTTP/") {
      // A new response starts (after a 1xx interim response, or the final one): only the
      // final response's headers are kept.
      headers.clear();
      return length;
    }
    if (line.empty()) return length;
    if (line.front() == ' ' || line.front() == '\t') {  // obsolete line folding
      if (!headers.empty()) {
        headers.back().second += ' ';
        headers.back().second += TrimOws(line);
      }
      return length;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || headers.size() >= kMaxResponseHeaders) return length;
    headers.emplace_back(Lowercase(TrimOws(line.substr(0, colon))),
                         std::string(TrimOws(line.substr(colon + 1))));
    return length;
  }

  static size_t OnBody(char* data, size_t size, size_t count, void* userp) {
    auto* t = static_cast<Transfer*>(userp);
    const size_t length = size * count;
    std::string& body = t->response.body;
    const size_t room = t->options->max_response_bytes - std::min(body.size(),
                                                                  t->options->max_response_bytes);
    body.append(data, std::min(length, room));
    return length;  // the rest is read and dropped
  }

  static CURLcode OnSslContext(CURL*, void* ssl_ctx, void* userp) {
    const auto* options = static_cast<const CurlHttpClientOptions*>(userp);
    X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
    const int ok = store != nullptr && X509_STORE_load_file(store, options->ca_file.c_str()) == 1;
    ERR_clear_error();
    return ok ? CURLE_OK : CURLE_SSL_CACERT_BADFILE;
  }
};

Result<std::unique_ptr<CurlHttpClient>> CurlHttpClient::Create(CurlHttpClientOptions options) {
  if (options.policy == nullptr) {
    return Status::InvalidArgument("the HTTP client needs an address policy", "invalid_argument");
  }
  if (!options.ca_file.empty()) {
    std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(),
                                                                  &X509_STORE_free);
    const bool ok = store && X509_STORE_load_file(store.get(), options.ca_file.c_str()) == 1;
    ERR_clear_error();
    if (!ok) {
      return Status::InvalidArgument(
          "the CA file '" + options.ca_file + "' cannot be read as PEM certificates",
          "invalid_argument");
    }
  }
  static std::once_flag global_init;
  static CURLcode global_rc = CURLE_OK;
  std::call_once(global_init, [] { global_rc = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (global_rc != CURLE_OK) {
    return Status::Internal(std::string("libcurl initialization failed: ") +
                            curl_easy_strerror(global_rc));
  }
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Status::Internal("libcurl could not create a handle");
  return std::unique_ptr<CurlHttpClient>(new CurlHttpClient(std::move(options), curl));
}

CurlHttpClient::CurlHttpClient(CurlHttpClientOptions options, void* curl)
    : options_(std::move(options)), curl_(curl) {}

CurlHttpClient::~CurlHttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

namespace {

bool IsTlsError(CURLcode rc) {
  switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_USE_SSL_FAILED:
      return true;
    default:
      return false;
  }
}

// Maps a failed transfer to the HttpClient error vocabulary.
Status TransferError(CURLcode rc, const char* error_buffer, std::chrono::milliseconds timeout) {
  std::string why = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
  switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return InvalidDestination("the destination URL cannot be used: " + why);
    case CURLE_COULDNT_RESOLVE_HOST:
      return Status::InvalidArgument("the destination host does not resolve (" + why + ")",
                                     "destination_unresolvable");
    case CURLE_OPERATION_TIMEDOUT:
      return Status::Unavailable("the destination did not answer within " +
                                     std::to_string(timeout.count()) + " ms (" + why + ")",
                                 "destination_timeout");
    case CURLE_COULDNT_CONNECT:
      return Status::Unavailable("cannot connect to the destination (" + why + ")",
                                 "destination_unreachable");
    case CURLE_OUT_OF_MEMORY:
      return Status::Internal("out of memory while talking to the destination");
    default:
      break;
  }
  if (IsTlsError(rc)) {
    return Status::Unavailable("TLS with the destination failed (" + why + ")",
                               "destination_unreachable");
  }
  return Status::Unavailable("the exchange with the destination failed (" + why + ")",
                             "destination_unreachable");
}

}  // namespace

Result<HttpResponse> CurlHttpClient::Send(const HttpRequest& request) {
  Result<CurlUrl> url = ParseDestinationUrl(request.url);
  if (!url.ok()) return url.status();
  if (!IsToken(request.method)) {
    return Status::InvalidArgument("the HTTP method is not a token", "invalid_request");
  }
  const bool has_body = request.method != "GET" && request.method != "HEAD";
  if (!has_body && !request.body.empty()) {
    return Status::InvalidArgument("a " + request.method + " request cannot carry a body",
                                   "invalid_request");
  }

  Slist headers;
  bool has_content_type = false;
  const auto append = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) return false;
    (void)headers.release();
    headers.reset(next);
    return true;
  };
  for (const auto& [name, value] : request.headers) {
    if (!IsToken(name) || !IsSafeHeaderValue(value)) {
      return Status::InvalidArgument("the request header '" + std::string(name.substr(0, 64)) +
                                         "' cannot be sent (bad name or value)",
                                     "invalid_request");
    }
    if (Lowercase(name) == "content-type") has_content_type = true;
    // "Name;" is libcurl's way of sending a header with an empty value.
    if (!append(value.empty() ? name + ";" : name + ": " + value)) {
      return Status::Internal("out of memory building the request headers");
    }
  }
  // No "Expect: 100-continue" round trip, and no default form Content-Type.
  if (!append("Expect:") || (has_body && !has_content_type && !append("Content-Type:"))) {
    return Status::Internal("out of memory building the request headers");
  }

  CURL* curl = static_cast<CURL*>(curl_);
  // Forgets every option of the previous request but keeps its open connections.
  curl_easy_reset(curl);
  Transfer transfer;
  transfer.options = &options_;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  const long timeout_ms = std::max<long>(1, static_cast<long>(request.timeout.count()));

  curl_easy_setopt(curl, CURLOPT_CURLU, url->get());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 0L);
  curl_easy_setopt(curl, CURLOPT_PROXY, "");
  curl_easy_setopt(curl, CURLOPT_NETRC, static_cast<long>(CURL_NETRC_IGNORED));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_file.empty()) {
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, &Transfer::OnSslContext);
    curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, &options_);
  }
  curl_easy_setopt(curl, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION, &Transfer::OpenSocket);
  curl_easy_setopt(curl, CURLOPT_OPENSOCKETDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers.get());
  if (request.method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    if (request.method != "POST") {
      curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
  }

  const CURLcode rc = curl_easy_perform(curl);
  // The handle must not keep pointers into this call's stack once it returns.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, static_cast<char*>(nullptr));
  curl_easy_setopt(curl, CURLOPT_CURLU, static_cast<CURLU*>(nullptr));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, static_cast<curl_slist*>(nullptr));
  if (rc != CURLE_OK) {
    // Every address the connection could have gone to was refused by the policy.
    if (!transfer.refusal.ok() && !transfer.opened) return transfer.refusal;
    return TransferError(rc, error_buffer, request.timeout);
  }
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  transfer.response.status = static_cast<int>(status);
  return std::move(transfer.response);
}

}  // namespace annals::sinks
