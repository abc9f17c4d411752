// Errors and JSON Pointer paths of records in a source batch (Lambda events), shared by the
// DynamoDB and SQS decoders. Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "annals/status.h"
#include "domain/json.h"

namespace annals {

inline constexpr char kInvalidRecord[] = "invalid_record";

// A record that cannot be stored: one sentence, and the same sentence at `path`.
inline Status RecordError(const std::string& path, std::string message,
                          const char* code = kInvalidRecord) {
  std::string summary = message;
  return Status::InvalidArgument(std::move(summary), code, {{path, std::move(message)}});
}

// A body that is not the Lambda event the route takes.
inline Status EnvelopeError(const std::string& path, std::string message) {
  std::string summary = message;
  return Status::InvalidArgument(std::move(summary), "invalid_request",
                                 {{path, std::move(message)}});
}

// `path` extended by one member name or array index.
inline std::string Child(const std::string& path, std::string_view token) {
  std::string out = path;
  AppendJsonPointerToken(token, &out);
  return out;
}

inline std::string Child(const std::string& path, size_t index) {
  std::string out = path;
  AppendJsonPointerIndex(index, &out);
  return out;
}

}  // namespace annals
