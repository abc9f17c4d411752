#include "workos/errors.h"

#include "http/error_mapping.h"

#include "domain/canonical_json.h"

namespace annals::workos {

namespace {

bool IsEventError(const Status& status) {
  return status.code() == Code::kInvalidArgument && status.error_code() == "invalid_event";
}

// "Invalid Audit Log event: <first problem> (and N more problems)."
std::string EventMessage(const Status& status) {
  const auto& details = status.details();
  if (details.empty()) return "Invalid Audit Log event: " + status.message() + ".";
  std::string m = "Invalid Audit Log event: " + details.front().message;
  if (details.size() > 1) {
    m += " (and " + std::to_string(details.size() - 1) +
         (details.size() == 2 ? " more problem)" : " more problems)");
  }
  m += '.';
  return m;
}

}  // namespace

bool IsWorkosApiPath(std::string_view path) {
  path = path.substr(0, path.find('?'));
  for (std::string_view root : {"/audit_logs", "/organizations", "/portal"}) {
    if (path.substr(0, root.size()) == root &&
        (path.size() == root.size() || path[root.size()] == '/')) {
      return true;
    }
  }
  return false;
}

int WorkosHttpStatus(const Status& status) {
  if (status.code() != Code::kInvalidArgument) return HttpStatusFor(status.code());
  // Invalid events, unparsable JSON and WorkOS' own reversed export range are 400; every
  // other invalid request is WorkOS' 422.
  return IsEventError(status) || status.error_code() == "invalid_json" ||
                 status.error_code() == "invalid_audit_log_export_range_date"
             ? 400
             : 422;
}

std::string WorkosErrorCode(const Status& status) {
  if (IsEventError(status)) return "invalid_audit_log_event";
  if (status.code() == Code::kRateLimited) return "rate_limit_exceeded";
  return status.error_code().empty() ? "error" : status.error_code();
}

std::string FieldFromPointer(std::string_view pointer) {
  if (pointer.rfind("/query/", 0) == 0) {
    pointer.remove_prefix(7);
  } else if (pointer.rfind("/headers/", 0) == 0) {
    pointer.remove_prefix(9);
  } else if (!pointer.empty() && pointer.front() == '/') {
    pointer.remove_prefix(1);
  }
  std::string out;
  out.reserve(pointer.size());
  for (size_t i = 0; i < pointer.size(); ++i) {
    const char c = pointer[i];
    if (c == '/') {
      out += '.';
    } else if (c == '~' && i + 1 < pointer.size() && (pointer[i + 1] == '0' || pointer[i + 1] == '1')) {
      out += pointer[i + 1] == '0' ? '~' : '/';
      ++i;
    } else {
      out += c;
    }
  }
  return out;
}

HttpResponse WorkosErrorResponse(const Status& status) {
  HttpResponse r;
  r.status = WorkosHttpStatus(status);
  const bool event_error = IsEventError(status);
  std::string& b = r.body;
  b += "{\"message\":";
  AppendJsonString(event_error ? EventMessage(status) : status.message(), &b);
  b += ",\"code\":";
  AppendJsonString(WorkosErrorCode(status), &b);
  if (!status.details().empty()) {
    b += ",\"errors\":[";
    bool first = true;
    for (const ErrorDetail& d : status.details()) {
      if (!first) b += ',';
      first = false;
      b += '{';
      if (event_error) {
        b += "\"instancePath\":";
        AppendJsonString(d.path, &b);
        b += ',';
      }
      b += "\"field\":";
      AppendJsonString(FieldFromPointer(d.path), &b);
      b += ",\"code\":";
      AppendJsonString(d.message, &b);
      b += '}';
    }
    b += ']';
  }
  b += '}';
  AddErrorHeaders(status, &r);
  return r;
}

}  // namespace annals::workos
