// Errors as values. Every fallible operation in annals returns a Status or a Result<T>;
// exceptions never cross module boundaries. Codes are canonical and map to HTTP statuses in
// exactly one place (src/http/error_mapping.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace annals {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // 400: the input is malformed or breaks a rule.
  kUnauthenticated,     // 401: no key or a wrong key.
  kPermissionDenied,    // 403: the key lacks a scope.
  kNotFound,            // 404: no such resource (also another tenant's).
  kConflict,            // 409: e.g. idempotency key reused with other content.
  kFailedPrecondition,  // 409: the system is not in a state that allows the operation
                        // (e.g. rotating a signing key that configuration supplies).
  kGone,                // 410: purged.
  kTooLarge,            // 413: a body or an event over its size limit.
  kUnsupportedMedia,    // 415: wrong Content-Type.
  kRateLimited,         // 429
  kUnavailable,         // 503: overloaded, not ready, shutting down, store failed.
  kInternal,            // 500: a bug or an unexpected I/O failure.
};

// One problem with one part of the input, addressed by a JSON Pointer (RFC 6901).
struct ErrorDetail {
  std::string path;
  std::string message;
};

// A Status is either OK or an error with a code, a machine-readable error code string
// (e.g. "invalid_event"), a one-sentence message, optional per-path details, and, for
// kUnavailable/kRateLimited, an optional Retry-After hint in seconds.
// Status is a value type; copies are independent. Not synchronized.
class Status {
 public:
  Status() = default;
  Status(Code code, std::string error_code, std::string message,
         std::vector<ErrorDetail> details = {})
      : code_(code),
        error_code_(std::move(error_code)),
        message_(std::move(message)),
        details_(std::move(details)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string message, std::string error_code = "invalid_request",
                                std::vector<ErrorDetail> details = {}) {
    return Status(Code::kInvalidArgument, std::move(error_code), std::move(message),
                  std::move(details));
  }
  static Status NotFound(std::string message, std::string error_code = "not_found") {
    return Status(Code::kNotFound, std::move(error_code), std::move(message));
  }
  static Status Unauthenticated(std::string message) {
    return Status(Code::kUnauthenticated, "unauthorized", std::move(message));
  }
  static Status Conflict(std::string message, std::string error_code = "conflict") {
    return Status(Code::kConflict, std::move(error_code), std::move(message));
  }
  static Status FailedPrecondition(std::string message,
                                   std::string error_code = "failed_precondition") {
    return Status(Code::kFailedPrecondition, std::move(error_code), std::move(message));
  }
  static Status Unavailable(std::string message, std::string error_code = "unavailable",
                            int retry_after_seconds = 1) {
    Status s(Code::kUnavailable, std::move(error_code), std::move(message));
    s.retry_after_seconds_ = retry_after_seconds;
    return s;
  }
  static Status Internal(std::string message) {
    return Status(Code::kInternal, "internal", std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& error_code() const { return error_code_; }
  const std::string& message() const { return message_; }
  const std::vector<ErrorDetail>& details() const { return details_; }
  std::optional<int> retry_after_seconds() const { return retry_after_seconds_; }
  Status& set_retry_after_seconds(int s) {
    retry_after_seconds_ = s;
    return *this;
  }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string error_code_;
  std::string message_;
  std::vector<ErrorDetail> details_;
  std::optional<int> retry_after_seconds_;
};

// Result<T> holds either a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace annals

#define ANNALS_RETURN_IF_ERROR(expr)        \
  do {                                      \
    ::annals::Status _st = (expr);          \
    if (!_st.ok()) return _st;              \
  } while (0)
