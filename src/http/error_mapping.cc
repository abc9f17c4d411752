#include "http/error_mapping.h"

#include "domain/canonical_json.h"

namespace annals {

int HttpStatusFor(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kUnauthenticated: return 401;
    case Code::kPermissionDenied: return 403;
    case Code::kNotFound: return 404;
    case Code::kConflict: return 409;
    case Code::kGone: return 410;
    case Code::kTooLarge: return 413;
    case Code::kUnsupportedMedia: return 415;
    case Code::kRateLimited: return 429;
    case Code::kUnavailable: return 503;
    case Code::kInternal: return 500;
  }
  return 500;
}

HttpResponse ErrorResponse(const Status& status) {
  HttpResponse r;
  r.status = HttpStatusFor(status.code());
  std::string& b = r.body;
  b += "{\"error\":{\"code\":";
  AppendJsonString(status.error_code().empty() ? "error" : status.error_code(), &b);
  b += ",\"message\":";
  AppendJsonString(status.message(), &b);
  if (!status.details().empty()) {
    b += ",\"details\":[";
    bool first = true;
    for (const ErrorDetail& d : status.details()) {
      if (!first) b += ',';
      first = false;
      b += "{\"path\":";
      AppendJsonString(d.path, &b);
      b += ",\"message\":";
      AppendJsonString(d.message, &b);
      b += '}';
    }
    b += ']';
  }
  b += "}}";
  AddErrorHeaders(status, &r);
  return r;
}


}  // namespace annals
