// The one place where annals' Status values become error responses of the WorkOS-compatible
// API (/audit_logs/..., /organizations/{id}/audit_logs_retention, /portal/...), in the shapes
// the official WorkOS SDKs parse (docs/api.md "WorkOS compatibility"):
//
//   {"message": "<one sentence>", "code": "<snake_case>", "errors": [...]}
//
// with "errors" only when the status carries details. annals' native error body
// ({"error": {...}}) is never used on these routes: the Node SDK turns any body with an
// "error" member into an OauthException.
//
// Status mapping (WorkosHttpStatus):
//   kInvalidArgument "invalid_event"       400, code "invalid_audit_log_event", errors
//                                          [{"instancePath": "/targets/0/id",
//                                            "field": "targets.0.id", "code": "<sentence>"}]
//                                          (the SDK's BadRequestException keeps code and errors)
//   kInvalidArgument "invalid_json"        400, errors [{"field", "code"}]
//   kInvalidArgument "invalid_audit_log_export_range_date"
//                                          400 (WorkOS' answer to a reversed export range),
//                                          errors [{"field", "code"}]
//   kInvalidArgument (any other code)      422 (WorkOS' request validation status), errors
//                                          [{"field", "code": "<sentence>"}] (the SDK's
//                                          UnprocessableEntityException prints each code)
//   kUnauthenticated 401, kPermissionDenied 403, kNotFound 404, kConflict 409, kGone 410,
//   kTooLarge 413, kUnsupportedMedia 415, kInternal 500: code and message as in the status
//   kRateLimited                           429, code "rate_limit_exceeded", Retry-After
//   kUnavailable                           503, Retry-After when the status has one
// A 401 also carries "WWW-Authenticate: Bearer".
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "annals/status.h"
#include "http/http_types.h"

namespace annals::workos {

int WorkosHttpStatus(const Status& status);

// The WorkOS "code" for a status ("invalid_audit_log_event", "rate_limit_exceeded", or the
// status' own error code; "error" when it has none).
std::string WorkosErrorCode(const Status& status);

// The error response for a non-OK status, as described at the top of this file.
HttpResponse WorkosErrorResponse(const Status& status);

// True for a request path (or target; a query is ignored) of the WorkOS-compatible API:
// "/audit_logs", "/organizations" or "/portal", alone or followed by '/'. Every answer on
// these paths takes WorkOS' shapes, the transport's own errors included.
bool IsWorkosApiPath(std::string_view path);

// A JSON Pointer as a dotted field name, as WorkOS' request validation names fields:
// "/targets/0/id" -> "targets.0.id", "/query/limit" -> "limit",
// "/headers/idempotency-key" -> "idempotency-key", "" -> "" ("~1" and "~0" unescaped).
std::string FieldFromPointer(std::string_view pointer);

}  // namespace annals::workos
