// The one place where annals' Status codes become HTTP statuses and error bodies.
#pragma once

#include "annals/status.h"
#include "http/http_types.h"

namespace annals {

int HttpStatusFor(Code code);

// {"error": {"code", "message", "details": [{"path", "message"}]}} with the mapped status
// and Retry-After when the status carries one.
HttpResponse ErrorResponse(const Status& status);

}  // namespace annals
