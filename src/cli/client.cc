#include "cli/client.h"

#include <curl/curl.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>

namespace annals {

namespace {

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  std::string line(data, size * n);
  size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.front()))) value.erase(0, 1);
    while (!value.empty() && std::isspace(static_cast<unsigned char>(value.back()))) value.pop_back();
    headers->emplace_back(std::move(name), std::move(value));
  }
  return size * n;
}

}  // namespace

HttpClient::HttpClient(std::string server, std::string key, std::string ca_file)
    : server_(std::move(server)),
      key_(std::move(key)),
      ca_file_(std::move(ca_file)),
      curl_(curl_easy_init()) {
  while (!server_.empty() && server_.back() == '/') server_.pop_back();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string HttpClient::Escape(const std::string& value) {
  char* e = curl_easy_escape(static_cast<CURL*>(curl_), value.data(), static_cast<int>(value.size()));
  std::string out(e ? e : "");
  curl_free(e);
  return out;
}

void* HttpClient::Prepare(const std::string& method, const std::string& path,
                         const std::string& content_type, const Headers& extra) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  const std::string url = server_ + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());  // curl copies strings it is given
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  if (!ca_file_.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
  struct curl_slist* headers = nullptr;
  if (!key_.empty()) headers = curl_slist_append(headers, ("Authorization: Bearer " + key_).c_str());
  if (!content_type.empty()) {
    headers = curl_slist_append(headers, ("Content-Type: " + content_type).c_str());
  }
  headers = curl_slist_append(headers, "Expect:");
  for (const auto& [k, v] : extra) headers = curl_slist_append(headers, (k + ": " + v).c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  return headers;
}

Status HttpClient::TransportError(int curl_code) const {
  return Status::Unavailable(
      "cannot reach " + server_ + ": " + curl_easy_strerror(static_cast<CURLcode>(curl_code)),
      "connection_failed");
}

Result<ClientResponse> HttpClient::Send(const std::string& method, const std::string& path,
                                        const std::string& body, const std::string& content_type,
                                        const Headers& extra) {
  CURL* c = static_cast<CURL*>(curl_);
  auto* headers = static_cast<curl_slist*>(Prepare(method, path, content_type, extra));
  ClientResponse resp;
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(timeout_.count()));
  if (method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) return TransportError(rc);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

namespace {

// The state of one Stream transfer, shared by its callbacks.
struct StreamTransfer {
  CURL* curl = nullptr;
  ClientResponse* response = nullptr;
  const std::string* content_type = nullptr;
  const std::function<bool(std::string_view)>* on_data = nullptr;
  const std::function<bool()>* stop = nullptr;
  std::chrono::steady_clock::duration idle_timeout{};
  std::chrono::steady_clock::time_point last_arrival;
  bool decided = false;  // whether the body goes to on_data is known
  bool deliver = false;
  bool stopped = false;  // on_data or stop ended the transfer
  bool idle = false;     // the idle timeout ended it
};

size_t OnStreamHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<StreamTransfer*>(user);
  t->last_arrival = std::chrono::steady_clock::now();
  return OnHeader(data, size, n, &t->response->headers);
}

size_t OnStreamBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<StreamTransfer*>(user);
  t->last_arrival = std::chrono::steady_clock::now();
  if (!t->decided) {
    long status = 0;
    char* type = nullptr;
    curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(t->curl, CURLINFO_CONTENT_TYPE, &type);
    t->deliver = status >= 200 && status < 300 && type != nullptr &&
                 IsMediaType(type, *t->content_type);
    t->decided = true;
  }
  if (!t->deliver) {
    constexpr size_t kMaxErrorBody = 1 << 20;
    if (t->response->body.size() < kMaxErrorBody) t->response->body.append(data, size * n);
    return size * n;
  }
  if (!(*t->on_data)(std::string_view(data, size * n))) {
    t->stopped = true;
    return 0;  // ends the transfer
  }
  return size * n;
}

int OnStreamProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<StreamTransfer*>(user);
  if ((*t->stop)()) {
    t->stopped = true;
    return 1;
  }
  if (std::chrono::steady_clock::now() - t->last_arrival > t->idle_timeout) {
    t->idle = true;
    return 1;
  }
  return 0;
}

}  // namespace

Result<ClientResponse> HttpClient::Stream(const std::string& path, const Headers& extra,
                                          const std::string& content_type,
                                          const std::function<bool(std::string_view)>& on_data,
                                          const std::function<bool()>& stop,
                                          std::chrono::seconds idle_timeout) {
  CURL* c = static_cast<CURL*>(curl_);
  auto* headers = static_cast<curl_slist*>(Prepare("GET", path, "", extra));
  ClientResponse resp;
  StreamTransfer t;
  t.curl = c;
  t.response = &resp;
  t.content_type = &content_type;
  t.on_data = &on_data;
  t.stop = &stop;
  t.idle_timeout = idle_timeout;
  t.last_arrival = std::chrono::steady_clock::now();
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnStreamBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnStreamHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnStreamProgress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  if (t.idle) {
    return Status::Unavailable("nothing arrived from " + server_ + " for " +
                                   std::to_string(idle_timeout.count()) + " s",
                               "connection_idle");
  }
  if (rc != CURLE_OK && !t.stopped) {
    if (resp.status == 0) return TransportError(rc);
    return Status::Unavailable(
        "the connection to " + server_ + " broke: " + curl_easy_strerror(rc), "connection_lost");
  }
  return resp;
}

bool IsMediaType(std::string_view content_type, std::string_view media_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  return content_type.size() == media_type.size() &&
         std::equal(content_type.begin(), content_type.end(), media_type.begin(),
                    [](char a, char b) {
                      return std::tolower(static_cast<unsigned char>(a)) ==
                             std::tolower(static_cast<unsigned char>(b));
                    });
}

std::string DescribeError(const ClientResponse& response) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(response.body, ec);
  std::string out = "HTTP " + std::to_string(response.status);
  if (ec || !v.is_object()) return out + ": " + response.body.substr(0, 300);
  const boost::json::object* err = v.as_object().if_contains("error") &&
                                           v.as_object().at("error").is_object()
                                       ? &v.as_object().at("error").as_object()
                                       : nullptr;
  if (err == nullptr) return out;
  if (auto* m = err->if_contains("message"); m && m->is_string()) {
    out += ": " + std::string(m->as_string());
  }
  if (auto* d = err->if_contains("details"); d && d->is_array()) {
    size_t shown = 0;
    for (const auto& detail : d->as_array()) {
      if (shown++ == 5) {
        out += "; ...";
        break;
      }
      if (!detail.is_object()) continue;
      const auto& o = detail.as_object();
      out += "; ";
      if (auto* p = o.if_contains("path"); p && p->is_string()) out += std::string(p->as_string()) + ": ";
      if (auto* m = o.if_contains("message"); m && m->is_string()) out += std::string(m->as_string());
    }
  }
  return out;
}

std::string ClientResponse::ErrorCode() const {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec);
  if (ec || !v.is_object()) return "";
  const auto* err = v.as_object().if_contains("error");
  const auto* code = err != nullptr && err->is_object() ? err->as_object().if_contains("code") : nullptr;
  return code != nullptr && code->is_string() ? std::string(code->as_string()) : "";
}

}  // namespace annals
