#include "http/error_mapping.h"

#include "domain/canonical_json.h"

namespace annals {

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
