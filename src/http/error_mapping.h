// The one place where annals' Status codes become HTTP statuses and error bodies.
#pragma once

#include <string>

#include "annals/status.h"
#include "http/http_types.h"

namespace annals {

int HttpStatusFor(Code code);

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
