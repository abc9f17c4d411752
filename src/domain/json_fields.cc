#include "domain/json_fields.h"

#include <algorithm>

#include "domain/json.h"
#include "domain/time.h"

namespace annals {

namespace {
constexpr size_t kMaxRequestDepth = 16;
}  // namespace

size_t Utf8Length(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

Result<boost::json::object> ParseRequestObject(std::string_view body,
                                               std::initializer_list<std::string_view> allowed,
                                               bool empty_is_object) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    if (empty_is_object) return boost::json::object();
    return Status::InvalidArgument("the request body must be a JSON object", "invalid_request",
                                   {{"", "the body is empty"}});
  }
  Result<boost::json::value> parsed = ParseStrictJson(body, kMaxRequestDepth);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return Status::InvalidArgument("the request body must be a JSON object", "invalid_request",
                                   {{"", "must be an object"}});
  }
  std::vector<ErrorDetail> unknown;
  for (const auto& member : parsed->as_object()) {
    const std::string_view key(member.key());
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string path;
      AppendJsonPointerToken(key, &path);
      unknown.push_back({std::move(path), "unknown field"});
    }
  }
  if (!unknown.empty()) {
    return Status::InvalidArgument("the request has unknown fields", "invalid_request",
                                   std::move(unknown));
  }
  return std::move(parsed->as_object());
}

std::string FieldReader::Path(std::string_view name) const {
  std::string path = base_;
  AppendJsonPointerToken(name, &path);
  return path;
}

void FieldReader::Fail(std::string_view name, std::string message) {
  details_.push_back({Path(name), std::move(message)});
}

const boost::json::value* FieldReader::Raw(std::string_view name) const {
  return object_.if_contains(name);
}

std::optional<std::string> FieldReader::String(std::string_view name, size_t max_length,
                                               bool required) {
  const boost::json::value* v = object_.if_contains(name);
  if (v == nullptr) {
    if (required) Fail(name, std::string(name) + " is required");
    return std::nullopt;
  }
  if (!v->is_string()) {
    Fail(name, std::string(name) + " must be a string");
    return std::nullopt;
  }
  const std::string_view s = v->as_string();
  if (s.empty()) {
    Fail(name, std::string(name) + " must not be empty");
    return std::nullopt;
  }
  const size_t length = Utf8Length(s);
  if (length > max_length) {
    Fail(name, std::string(name) + " is " + std::to_string(length) + " characters; the limit is " +
                   std::to_string(max_length));
    return std::nullopt;
  }
  return std::string(s);
}

std::optional<std::string> FieldReader::StringOrNull(std::string_view name, size_t max_length,
                                                     bool* is_null) {
  const boost::json::value* v = object_.if_contains(name);
  *is_null = v != nullptr && v->is_null();
  if (*is_null) return std::nullopt;
  return String(name, max_length, false);
}

std::optional<bool> FieldReader::Bool(std::string_view name) {
  const boost::json::value* v = object_.if_contains(name);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    Fail(name, std::string(name) + " must be true or false");
    return std::nullopt;
  }
  return v->as_bool();
}

std::optional<TimestampUs> FieldReader::TimeOrNull(std::string_view name, bool* is_null) {
  const boost::json::value* v = object_.if_contains(name);
  *is_null = v != nullptr && v->is_null();
  if (v == nullptr || *is_null) return std::nullopt;
  if (!v->is_string()) {
    Fail(name, std::string(name) + " must be an RFC 3339 timestamp string");
    return std::nullopt;
  }
  Result<TimestampUs> t = ParseRfc3339(std::string_view(v->as_string()));
  if (!t.ok()) {
    Fail(name, std::string(name) + " must be an RFC 3339 timestamp: " + t.status().message());
    return std::nullopt;
  }
  return *t;
}

std::optional<std::vector<std::string>> FieldReader::StringSet(
    std::string_view name, std::initializer_list<std::string_view> allowed, bool required) {
  const boost::json::value* v = object_.if_contains(name);
  if (v == nullptr) {
    if (required) Fail(name, std::string(name) + " is required");
    return std::nullopt;
  }
  std::string allowed_list;
  for (std::string_view a : allowed) {
    if (!allowed_list.empty()) allowed_list += ", ";
    allowed_list += a;
  }
  if (!v->is_array() || v->as_array().empty()) {
    Fail(name, std::string(name) + " must be a non-empty array of: " + allowed_list);
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool bad = false;
  const boost::json::array& items = v->as_array();
  for (size_t i = 0; i < items.size(); ++i) {
    std::string path = Path(name);
    AppendJsonPointerIndex(i, &path);
    const boost::json::value& item = items[i];
    if (!item.is_string() ||
        std::find(allowed.begin(), allowed.end(), std::string_view(item.as_string())) ==
            allowed.end()) {
      details_.push_back({std::move(path), "must be one of: " + allowed_list});
      bad = true;
      continue;
    }
    std::string s(item.as_string());
    if (std::find(out.begin(), out.end(), s) != out.end()) {
      details_.push_back({std::move(path), "'" + s + "' is listed twice"});
      bad = true;
      continue;
    }
    out.push_back(std::move(s));
  }
  if (bad) return std::nullopt;
  return out;
}

Status FieldReader::Finish(std::string message, std::string error_code) {
  if (details_.empty()) return Status::Ok();
  return Status::InvalidArgument(std::move(message), std::move(error_code), std::move(details_));
}

}  // namespace annals
