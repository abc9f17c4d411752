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

HttpClient::HttpClient(std::string server, std::string key)
    : server_(std::move(server)), key_(std::move(key)), curl_(curl_easy_init()) {
  while (!server_.empty() && server_.back() == '/') server_.pop_back();
}

HttpClient::~HttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

std::string HttpClient::Escape(const std::string& value) {
  char* e = curl_easy_escape(static_cast<CURL*>(curl_), value.data(), static_cast<int>(value.size()));
  std::string out(e ? e : "");
  curl_free(e);
  return out;
}

Result<ClientResponse> HttpClient::Send(const std::string& method, const std::string& path,
                                        const std::string& body, const std::string& content_type,
                                        const std::vector<std::pair<std::string, std::string>>& extra) {
  CURL* c = static_cast<CURL*>(curl_);
  curl_easy_reset(c);
  ClientResponse resp;
  const std::string url = server_ + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp.body);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp.headers);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
  struct curl_slist* headers = nullptr;
  std::string auth = "Authorization: Bearer " + key_;
  if (!key_.empty()) headers = curl_slist_append(headers, auth.c_str());
  std::string ct = "Content-Type: " + content_type;
  if (!content_type.empty()) headers = curl_slist_append(headers, ct.c_str());
  headers = curl_slist_append(headers, "Expect:");
  std::vector<std::string> lines;
  lines.reserve(extra.size());
  for (const auto& [k, v] : extra) {
    lines.push_back(k + ": " + v);
    headers = curl_slist_append(headers, lines.back().c_str());
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  if (method == "POST" || method == "PUT" || method == "PATCH") {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  CURLcode rc = curl_easy_perform(c);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return Status::Unavailable("cannot reach " + server_ + ": " + curl_easy_strerror(rc),
                               "connection_failed");
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
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

}  // namespace annals
