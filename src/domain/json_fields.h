// Reading the JSON object bodies of resource requests (organizations, API keys, ...) with
// every problem reported by JSON Pointer path, in the API's error vocabulary.
// Thread-compatible value type.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/event.h"
#include "annals/status.h"

namespace annals {

// Parses `body` as one strict JSON object (see ParseStrictJson), allowing only the member
// names in `allowed`. Unknown members are reported with their path. An empty body is
// treated as {} when `empty_is_object`.
Result<boost::json::object> ParseRequestObject(std::string_view body,
                                               std::initializer_list<std::string_view> allowed,
                                               bool empty_is_object = false);

// Typed access to the members of a request object. Each getter returns nullopt when the
// member is absent (or, for the *OrNull getters, null) and records a detail when it has the
// wrong type or breaks a rule; Finish() turns the details into one 400.
class FieldReader {
 public:
  explicit FieldReader(const boost::json::object& object, std::string base = "")
      : object_(object), base_(std::move(base)) {}

  bool Has(std::string_view name) const { return object_.contains(name); }
  // A string of 1..max_length code points; `required` records "is required" when absent.
  std::optional<std::string> String(std::string_view name, size_t max_length, bool required);
  // A string, or null (returns a present-but-null optional as std::nullopt and sets *is_null).
  std::optional<std::string> StringOrNull(std::string_view name, size_t max_length,
                                          bool* is_null);
  std::optional<bool> Bool(std::string_view name);
  // An RFC 3339 timestamp (0-6 fractional digits), or null.
  std::optional<TimestampUs> TimeOrNull(std::string_view name, bool* is_null);
  // An array of distinct strings drawn from `allowed`.
  std::optional<std::vector<std::string>> StringSet(std::string_view name,
                                                    std::initializer_list<std::string_view> allowed,
                                                    bool required);
  const boost::json::value* Raw(std::string_view name) const;

  void Fail(std::string_view name, std::string message);
  // OK if no detail was recorded; else InvalidArgument(`message`, `error_code`, details).
  Status Finish(std::string message = "the request is invalid",
                std::string error_code = "invalid_request");
  bool failed() const { return !details_.empty(); }

 private:
  std::string Path(std::string_view name) const;
  const boost::json::object& object_;
  std::string base_;
  std::vector<ErrorDetail> details_;
};

// Counts Unicode code points of valid UTF-8.
size_t Utf8Length(std::string_view s);

}  // namespace annals
