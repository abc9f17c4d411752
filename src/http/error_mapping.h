// The one place where annals' Status codes become HTTP statuses and error bodies.
#pragma once

#include <string>

#include "annals/status.h"
#include "http/http_types.h"

namespace annals {

// Inline so that the WorkOS error mapper (in the core library) shares it.
inline int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kConflict: return 409;
    case Code::kFailedPrecondition: return 409;
    case Code::kGone: return 410;
    case Code::kTooLarge: return 413;
    case Code::kUnsupportedMedia: return 415;
    case Code::kRateLimited: return 429;
    case Code::kUnavailable: return 503;
    case Code::kInternal: return 500;
  }
  return 500;
}

// {"error": {"code", "message", "details": [{"path", "message"}]}} with the mapped status
// and Retry-After when the status carries one.
HttpResponse ErrorResponse(const Status& status);

// Adds the headers every error answer carries: Retry-After when the status has one,
// WWW-Authenticate for 401. Shared with the WorkOS error mapper (in the core library, hence
// inline).
inline void AddErrorHeaders(const Status& status, HttpResponse* response) {
  if (status.retry_after_seconds()) {
    response->headers.emplace_back("Retry-After", std::to_string(*status.retry_after_seconds()));
  }
  if (status.code() == Code::kUnauthenticated) {
    response->headers.emplace_back("WWW-Authenticate", "Bearer");
  }
}

}  // namespace annals
