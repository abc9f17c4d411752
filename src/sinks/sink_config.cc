#include "sinks/sink_config.h"

#include <boost/json/object.hpp>
#include <boost/url/parse.hpp>
#include <algorithm>

#include "domain/json.h"
#include "domain/json_fields.h"

namespace annals::sinks {
namespace {

constexpr size_t kMaxUrlBytes = 2048;

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

bool HasNoControlCharacters(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

ConfigReader::ConfigReader(const boost::json::value& config,
                           std::initializer_list<std::string_view> known) {
  if (!config.is_object()) {
    Fail("/config", "config must be an object");
    return;
  }
  object_ = &config.as_object();
  for (const auto& member : *object_) {
    const std::string_view key(member.key());
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      Fail(Path(key), "unknown field");
    }
  }
}

const boost::json::value* ConfigReader::Get(std::string_view name) const {
  return object_ == nullptr ? nullptr : object_->if_contains(name);
}

std::string ConfigReader::Path(std::string_view name) {
  std::string path = "/config";
  AppendJsonPointerToken(name, &path);
  return path;
}

void ConfigReader::Fail(std::string path, std::string message) {
  details_.push_back({std::move(path), std::move(message)});
}

std::optional<std::string> ConfigReader::String(std::string_view name, size_t max_chars,
                                                bool required) {
  const boost::json::value* v = Get(name);
  const std::string n(name);
  if (v == nullptr) {
    if (required && object_ != nullptr) Fail(Path(name), n + " is required");
    return std::nullopt;
  }
  if (!v->is_string()) {
    Fail(Path(name), n + " must be a string");
    return std::nullopt;
  }
  const std::string_view s = v->as_string();
  if (s.empty()) {
    Fail(Path(name), n + " must not be empty");
    return std::nullopt;
  }
  const size_t chars = Utf8Length(s);
  if (chars > max_chars) {
    Fail(Path(name), n + " is " + std::to_string(chars) + " characters; the limit is " +
                         std::to_string(max_chars));
    return std::nullopt;
  }
  if (!HasNoControlCharacters(s)) {
    Fail(Path(name), n + " must not contain control characters");
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<std::string> ConfigReader::Restricted(std::string_view name, size_t max_chars,
                                                    bool required, bool (*allowed)(char),
                                                    std::string_view what) {
  std::optional<std::string> s = String(name, max_chars, required);
  if (!s) return std::nullopt;
  if (!std::all_of(s->begin(), s->end(), allowed)) {
    Fail(Path(name), std::string(name) + " may only contain " + std::string(what));
    return std::nullopt;
  }
  return s;
}

std::optional<std::string> ConfigReader::Choice(std::string_view name,
                                                std::initializer_list<std::string_view> choices) {
  const boost::json::value* v = Get(name);
  if (v == nullptr) return std::nullopt;
  if (v->is_string()) {
    const std::string_view s = v->as_string();
    if (std::find(choices.begin(), choices.end(), s) != choices.end()) return std::string(s);
  }
  std::string list;
  for (std::string_view c : choices) {
    if (!list.empty()) list += ", ";
    list += c;
  }
  Fail(Path(name), std::string(name) + " must be one of: " + list);
  return std::nullopt;
}

std::optional<std::string> ConfigReader::Url(std::string_view name, UrlKind kind) {
  std::optional<std::string> text = String(name, kMaxUrlBytes, /*required=*/true);
  if (!text) return std::nullopt;
  const std::string n(name);
  if (text->size() > kMaxUrlBytes) {
    Fail(Path(name), n + " is longer than " + std::to_string(kMaxUrlBytes) + " bytes");
    return std::nullopt;
  }
  if (text->find('#') != std::string::npos) {
    Fail(Path(name), n + " must not contain a fragment (#...)");
    return std::nullopt;
  }
  const auto parsed = boost::urls::parse_absolute_uri(*text);
  if (!parsed) {
    Fail(Path(name), n + " must be an absolute http:// or https:// URL");
    return std::nullopt;
  }
  const std::string scheme = Lowercase(parsed->scheme());
  if (scheme != "http" && scheme != "https") {
    Fail(Path(name), n + " must use http:// or https://, not " + scheme + "://");
    return std::nullopt;
  }
  if (!parsed->has_authority() || parsed->encoded_host().empty()) {
    Fail(Path(name), n + " must name a host");
    return std::nullopt;
  }
  if (parsed->has_userinfo()) {
    Fail(Path(name), n + " must not contain credentials; use the secret fields instead");
    return std::nullopt;
  }
  if (parsed->has_port() && (parsed->port_number() == 0 || parsed->port().size() > 5)) {
    Fail(Path(name), n + " has an invalid port");
    return std::nullopt;
  }
  if (kind == UrlKind::kBase && parsed->has_query()) {
    Fail(Path(name), n + " must be a base URL without a query");
    return std::nullopt;
  }
  std::string url = *text;
  if (kind == UrlKind::kBase) {
    while (!url.empty() && url.back() == '/') url.pop_back();
  }
  return url;
}

Status ConfigReader::Finish() {
  if (details_.empty()) return Status::Ok();
  const ErrorDetail& first = details_.front();
  std::string message = "invalid stream config: " + first.path + ": " + first.message;
  if (details_.size() > 1) {
    message += " (and " + std::to_string(details_.size() - 1) + " more)";
  }
  return Status::InvalidArgument(std::move(message), std::string(kInvalidStreamConfig),
                                 std::move(details_));
}

}  // namespace annals::sinks
