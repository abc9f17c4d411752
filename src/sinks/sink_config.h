// Reading a destination's `config` object (the "config" member of a stream body) with every
// problem reported by its JSON Pointer under the stream body ("/config/url"), in the one
// error vocabulary of stream configs: kInvalidArgument, error code "invalid_stream_config".
#pragma once

#include <boost/json/value.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"

namespace annals::sinks {

inline constexpr std::string_view kInvalidStreamConfig = "invalid_stream_config";

// What a URL config field may hold. Both kinds are absolute http:// or https:// URLs with a
// host, without user info (credentials belong in secret fields) and without a fragment.
enum class UrlKind {
  kEndpoint,  // the exact URL requests go to; a query is allowed
  kBase,      // a base that the sink appends its API path to: no query; a trailing '/' is dropped
};

// Collects the problems of one config object. Not thread-safe; one reader per parse.
class ConfigReader {
 public:
  // Records a problem unless `config` is an object, and one for each member whose name is
  // not in `known` ("unknown field").
  ConfigReader(const boost::json::value& config, std::initializer_list<std::string_view> known);

  // The member `name`, or nullptr when absent (or when the config is not an object).
  const boost::json::value* Get(std::string_view name) const;
  // "/config/<name>" (escaped per RFC 6901).
  static std::string Path(std::string_view name);
  void Fail(std::string path, std::string message);
  bool failed() const { return !details_.empty(); }

  // A string member of 1..max_chars code points without control characters. nullopt when
  // absent (a problem when `required`) or invalid (a problem).
  std::optional<std::string> String(std::string_view name, size_t max_chars, bool required);
  // Like String, and every byte must be in `allowed` (e.g. "a-z0-9_"); `what` describes
  // the allowed set in the message.
  std::optional<std::string> Restricted(std::string_view name, size_t max_chars, bool required,
                                        bool (*allowed)(char), std::string_view what);
  // One of `choices`; nullopt when absent or invalid.
  std::optional<std::string> Choice(std::string_view name,
                                    std::initializer_list<std::string_view> choices);
  // An http(s) URL of `kind` (see UrlKind), at most 2048 bytes; required.
  std::optional<std::string> Url(std::string_view name, UrlKind kind);

  // OK when nothing was recorded; else kInvalidArgument "invalid_stream_config" whose message
  // names the first problem and whose details list them all.
  Status Finish();

 private:
  const boost::json::object* object_ = nullptr;
  std::vector<ErrorDetail> details_;
};

// True when `s` holds no C0 control character and no DEL.
bool HasNoControlCharacters(std::string_view s);

}  // namespace annals::sinks
