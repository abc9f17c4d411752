// Exports: POST /v1/exports, GET /v1/exports, GET /v1/exports/{id} and the signed download
// GET /v1/exports/{id}/download (docs/api.md "Exports").
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <charconv>
#include <functional>
#include <mutex>

#include "domain/canonical_json.h"
#include "domain/json_fields.h"
#include "domain/time.h"
#include "exports/export_jobs.h"
#include "query/event_query.h"
#include "server/api_internal.h"
#include "workos/errors.h"

namespace annals {

namespace {

using exports::ExportJob;
using exports::ExportState;

Status NoExports() {
  return Status::Unavailable("exports are not available on this server", "not_ready");
}

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string QueryEncode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

// The filter as the request named it (action prefixes shown as "<prefix>*").
void AppendFilter(const exports::ExportRequest& r, std::string* out) {
  const EventFilter& f = r.filter;
  std::vector<std::string> actions = f.actions;
  for (const auto& p : f.action_prefixes) actions.push_back(p + "*");
  *out += "{\"action\":";
  AppendJsonStringArray(actions, out);
  *out += ",\"actor_id\":";
  AppendJsonStringArray(f.actor_ids, out);
  if (!r.actor_names.empty()) {
    *out += ",\"actor_name\":";
    AppendJsonStringArray(r.actor_names, out);
  }
  *out += ",\"from\":";
  AppendJsonTimeOrNull(f.from.value_or(0), out);
  *out += ",\"target_id\":";
  AppendJsonStringArray(f.target_ids, out);
  *out += ",\"target_type\":";
  AppendJsonStringArray(f.target_types, out);
  *out += ",\"to\":";
  AppendJsonTimeOrNull(f.to.value_or(0), out);
  *out += '}';
}

// A target type nobody in the organization ever had is almost always a typo: refused, rather
// than an empty file. `path(i)` names the i-th type in the request.
Status CheckTargetTypes(Store* store, const std::string& org,
                        const std::vector<std::string>& types,
                        const std::function<std::string(size_t)>& path) {
  std::vector<ErrorDetail> unknown;
  for (size_t i = 0; i < types.size(); ++i) {
    Result<std::vector<ItemRecord>> any = store->ListItems(org, types[i], "", 1);
    if (!any.ok()) return any.status();
    if (any->empty()) {
      unknown.push_back({path(i), "organization " + org + " has no items of target type '" +
                                      types[i] + "'"});
    }
  }
  if (unknown.empty()) return Status::Ok();
  std::string message = unknown.front().message;
  return Status::InvalidArgument(std::move(message), "unknown_target_type", std::move(unknown));
}

}  // namespace

std::string Api::ExportUrl(const ExportJob& job, int64_t* expires_at) const {
  *expires_at = deps_.clock->NowMicros() / 1000000 + options_.export_url_ttl_us / 1000000;
  std::string url = (deps_.public_url ? deps_.public_url() : std::string()) + "/v1/exports/" +
                    job.id + "/download?organization_id=";
  url += QueryEncode(job.request.filter.organization_id);
  url += "&expires=" + std::to_string(*expires_at) + "&signature=";
  url += deps_.exports->SignDownload(job.request.filter.organization_id, job.id, *expires_at);
  return url;
}

std::string Api::ExportJson(const ExportJob& job) const {
  std::string body = "{\"bytes\":" + std::to_string(job.bytes);
  body += ",\"created_at\":";
  AppendJsonTimeOrNull(job.created_at, &body);
  body += ",\"error\":";
  if (job.state == ExportState::kError) {
    AppendJsonString(job.error, &body);
  } else {
    body += "null";
  }
  body += ",\"filter\":";
  AppendFilter(job.request, &body);
  body += ",\"finished_at\":";
  AppendJsonTimeOrNull(job.finished_at, &body);
  body += ",\"format\":";
  AppendJsonString(std::string(exports::ExportFormatName(job.request.format)), &body);
  body += ",\"gzip\":";
  body += job.request.gzip ? "true" : "false";
  body += ",\"id\":";
  AppendJsonString(job.id, &body);
  body += ",\"object\":\"export\",\"organization_id\":";
  AppendJsonString(job.request.filter.organization_id, &body);
  body += ",\"rows_written\":" + std::to_string(job.rows);
  body += ",\"state\":";
  AppendJsonString(exports::ExportStateName(job.state), &body);
  body += ",\"total_estimate\":";
  body += job.total_estimate ? std::to_string(*job.total_estimate) : "null";
  body += ",\"updated_at\":";
  AppendJsonTimeOrNull(job.updated_at, &body);
  body += ",\"url\":";
  if (job.state == ExportState::kReady) {
    int64_t expires_at = 0;
    AppendJsonString(ExportUrl(job, &expires_at), &body);
    body += ",\"url_expires_at\":";
    AppendJsonTimeOrNull(expires_at * 1000000, &body);
  } else {
    body += "null,\"url_expires_at\":null";
  }
  body += ",\"verifiable\":";
  body += job.request.verifiable ? "true" : "false";
  body += '}';
  return body;
}

void Api::CreateExport(Call& c) {
  if (deps_.exports == nullptr) return c.respond(ErrorResponse(NoExports()));
  if (!c.req.query.empty()) {
    const std::string& name = c.req.query.front().first;
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "unknown query parameter '" + name + "' (POST /v1/exports takes a JSON body)",
        "invalid_request", {{"/query/" + name, "unknown query parameter '" + name + "'"}})));
  }
  Result<boost::json::object> body =
      ParseRequestObject(c.req.body, {"organization_id", "action", "actor_id", "target_type",
                                      "target_id", "from", "to", "format", "gzip", "verifiable"});
  if (!body.ok()) return c.respond(ErrorResponse(body.status()));
  FieldReader fields(*body);
  std::string requested_org;
  if (fields.Has("organization_id")) {
    requested_org = fields.String("organization_id", 256, false).value_or("");
  }
  exports::ExportRequest request;
  std::vector<ErrorDetail> errors;
  ReadFilterMembers(*body, "", &request.filter, &errors);
  for (const char* name : {"from", "to"}) {
    bool is_null = false;
    std::optional<TimestampUs> t = fields.TimeOrNull(name, &is_null);
    if (t) (std::string_view(name) == "from" ? request.filter.from : request.filter.to) = t;
  }
  if (request.filter.from && request.filter.to && *request.filter.from >= *request.filter.to) {
    errors.push_back({"/to", "to must be later than from (the range is [from, to))"});
  }
  if (fields.Has("format")) {
    if (std::optional<std::string> f = fields.String("format", 16, false)) {
      Result<exports::ExportFormat> format = exports::ParseExportFormat(*f);
      if (format.ok()) {
        request.format = *format;
      } else {
        errors.push_back({"/format", format.status().message()});
      }
    }
  }
  if (fields.Has("gzip")) {
    if (std::optional<bool> g = fields.Bool("gzip")) request.gzip = *g;
  }
  if (fields.Has("verifiable")) {
    if (std::optional<bool> v = fields.Bool("verifiable")) request.verifiable = *v;
  }
  if (request.verifiable && request.format != exports::ExportFormat::kNdjson) {
    errors.push_back({"/verifiable", "only NDJSON exports can be verifiable (format \"ndjson\")"});
  }
  if (Status bad = fields.Finish(); !bad.ok() || !errors.empty()) {
    std::vector<ErrorDetail> details = bad.details();
    details.insert(details.end(), errors.begin(), errors.end());
    std::string message = details.empty() ? bad.message() : details.front().message;
    return c.respond(ErrorResponse(
        Status::InvalidArgument(std::move(message), "invalid_request", std::move(details))));
  }
  Result<std::string> resolved = ResolveOrganization(c.who, requested_org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  request.filter.organization_id = *resolved;
  const bool type_list = fields.Raw("target_type") != nullptr && fields.Raw("target_type")->is_array();
  Status types = CheckTargetTypes(deps_.store, *resolved, request.filter.target_types,
                                  [type_list](size_t i) {
                                    return type_list ? "/target_type/" + std::to_string(i)
                                                     : std::string("/target_type");
                                  });
  if (!types.ok()) return c.respond(ErrorResponse(types));

  Result<ExportJob> job = deps_.exports->Create(std::move(request), c.who.key_id, "native");
  if (!job.ok()) return c.respond(ErrorResponse(job.status()));
  MetaAuditEntry e = AuditEntry(c, *resolved, "annals.export.created");
  e.targets.push_back({"export", job->id, ""});
  e.metadata["format"] = std::string(exports::ExportFormatName(job->request.format));
  e.metadata["gzip"] = job->request.gzip;
  if (job->request.verifiable) e.metadata["verifiable"] = true;
  AuditThenRespond(c, std::move(e), JsonResponse(201, ExportJson(*job)));
}

void Api::GetExport(Call& c) {
  if (deps_.exports == nullptr) return c.respond(ErrorResponse(NoExports()));
  std::string org;
  for (const auto& [name, value] : c.req.query) {
    if (name != "organization_id") {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "unknown query parameter '" + name + "' (takes organization_id)", "invalid_request",
          {{"/query/" + name, "unknown query parameter '" + name + "'"}})));
    }
    org = value;
  }
  Result<std::string> resolved = ResolveOrganization(c.who, org, true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  Result<ExportJob> job = deps_.exports->Get(*resolved, c.params[0]);
  if (!job.ok()) return c.respond(ErrorResponse(job.status()));
  c.respond(JsonResponse(200, ExportJson(*job)));
}

void Api::ListExports(Call& c) {
  if (deps_.exports == nullptr) return c.respond(ErrorResponse(NoExports()));
  Result<IdPageQuery> q = ParseIdPageQuery(c.req, {"organization_id"});
  if (!q.ok()) return c.respond(ErrorResponse(q.status()));
  Result<std::string> resolved = ResolveOrganization(c.who, q->extra[0].value_or(""), true);
  if (!resolved.ok()) return c.respond(ErrorResponse(resolved.status()));
  Result<std::vector<ExportJob>> all = deps_.exports->List(*resolved);
  if (!all.ok()) return c.respond(ErrorResponse(all.status()));
  // Newest first: `after` pages to older exports, `before` to newer ones.
  size_t begin = 0, end = all->size();
  if (!q->after_id.empty()) {
    while (begin < end && (*all)[begin].id >= q->after_id) ++begin;
  }
  if (!q->before_id.empty()) {
    while (end > begin && (*all)[end - 1].id <= q->before_id) --end;
    begin = std::max(begin, end > q->limit ? end - q->limit : size_t{0});
  }
  end = std::min(end, begin + q->limit);
  std::vector<std::string> items, ids;
  for (size_t i = begin; i < end; ++i) {
    items.push_back(ExportJson((*all)[i]));
    ids.push_back((*all)[i].id);
  }
  c.respond(JsonResponse(200, IdPageJson(items, ids, begin > 0, end < all->size())));
}

// A download streams the file in chunks as the connection drains, so a slow client never
// makes the server hold the file in memory.
void Api::DownloadExport(Call& c) {
  if (deps_.exports == nullptr) return c.respond(ErrorResponse(NoExports()));
  const Status forbidden(
      Code::kPermissionDenied, "invalid_download_link",
      "this download link is invalid or has expired; fetch the export again for a fresh one");
  std::string org, expires_text, signature;
  for (const auto& [name, value] : c.req.query) {
    if (name == "organization_id") {
      org = value;
    } else if (name == "expires") {
      expires_text = value;
    } else if (name == "signature") {
      signature = value;
    } else {
      return c.respond(ErrorResponse(forbidden));
    }
  }
  int64_t expires_at = 0;
  const auto [ptr, ec] =
      std::from_chars(expires_text.data(), expires_text.data() + expires_text.size(), expires_at);
  if (ec != std::errc() || ptr != expires_text.data() + expires_text.size() || org.empty() ||
      !deps_.exports->VerifyDownload(org, c.params[0], expires_at, signature) ||
      expires_at < deps_.clock->NowMicros() / 1000000) {
    return c.respond(ErrorResponse(forbidden));
  }
  Result<ExportJob> job = deps_.exports->Get(org, c.params[0]);
  if (!job.ok()) return c.respond(ErrorResponse(job.status()));
  if (job->state != ExportState::kReady) {
    return c.respond(ErrorResponse(Status::Conflict(
        "export " + job->id + " is " + exports::ExportStateName(job->state) + ", not ready",
        "export_not_ready")));
  }
  const std::string path = deps_.exports->FilePath(*job);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return c.respond(ErrorResponse(
        Status::NotFound("the file of export " + job->id + " is gone", "export_not_found")));
  }
  struct Download {
    std::mutex mu;
    int fd = -1;
    ~Download() {
      if (fd >= 0) ::close(fd);
    }
  };
  auto state = std::make_shared<Download>();
  state->fd = fd;

  HttpResponse response;
  response.status = 200;
  const std::string ext(exports::FileExtension(job->request.format, job->request.gzip));
  response.content_type = job->request.gzip
                              ? "application/gzip"
                              : std::string(exports::ContentType(job->request.format));
  response.headers.push_back(
      {"Content-Disposition", "attachment; filename=\"" + job->id + "." + ext + "\""});
  response.headers.push_back({"Cache-Control", "no-store"});
  response.start_stream = [state](std::shared_ptr<ResponseStream> stream) {
    std::weak_ptr<ResponseStream> weak = stream;
    auto pump = [state, weak]() {
      std::shared_ptr<ResponseStream> s = weak.lock();
      if (!s) return;
      std::lock_guard lock(state->mu);
      if (state->fd < 0) return;
      // Keep about 1 MiB queued; the next drain asks for more.
      while (s->buffered_bytes() < (1u << 20)) {
        std::string chunk(256 << 10, '\0');
        const ssize_t n = ::read(state->fd, chunk.data(), chunk.size());
        if (n <= 0) {
          ::close(state->fd);
          state->fd = -1;
          s->Close();
          return;
        }
        chunk.resize(static_cast<size_t>(n));
        if (!s->Write(std::move(chunk))) return;
      }
    };
    stream->SetCallbacks(pump, [state]() {
      std::lock_guard lock(state->mu);
      if (state->fd >= 0) {
        ::close(state->fd);
        state->fd = -1;
      }
    });
    pump();
  };
  MetaAuditEntry e;
  e.organization_id = org;
  e.action = "annals.export.downloaded";
  e.actor.key_name = "export-link";
  e.remote_address = c.req.remote_address;
  e.user_agent = c.req.Header("user-agent").value_or("");
  e.targets.push_back({"export", job->id, ""});
  e.metadata["created_by"] = job->created_by;
  e.metadata["rows"] = job->rows;
  AuditThenRespond(c, std::move(e), std::move(response));
}

}  // namespace annals

// --- WorkOS: POST /audit_logs/exports, GET /audit_logs/exports/{id} ---

namespace annals {

std::string Api::WorkosExportJson(const ExportJob& job) const {
  // WorkOS knows pending, ready and error; a running export is still pending there.
  const char* state = job.state == ExportState::kReady   ? "ready"
                      : job.state == ExportState::kError ? "error"
                                                         : "pending";
  std::string body = "{\"object\":\"audit_log_export\",\"id\":";
  AppendJsonString(job.id, &body);
  body += ",\"state\":";
  AppendJsonString(state, &body);
  if (job.state == ExportState::kReady) {
    int64_t expires_at = 0;
    body += ",\"url\":";
    AppendJsonString(ExportUrl(job, &expires_at), &body);
  }
  body += ",\"created_at\":";
  AppendJsonString(FormatRfc3339Millis(job.created_at), &body);
  body += ",\"updated_at\":";
  AppendJsonString(FormatRfc3339Millis(job.updated_at), &body);
  body += '}';
  return body;
}

void Api::WorkosCreateExport(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(workos::WorkosErrorResponse(s)); };
  if (deps_.exports == nullptr) return fail(NoExports());
  Result<boost::json::object> body = ParseRequestObject(
      c.req.body, {"organization_id", "range_start", "range_end", "actions", "actors",
                   "actor_names", "actor_ids", "targets"});
  if (!body.ok()) return fail(body.status());
  FieldReader fields(*body);
  const std::optional<std::string> org = fields.String("organization_id", 256, true);
  bool ignored = false;
  const std::optional<TimestampUs> start = fields.TimeOrNull("range_start", &ignored);
  const std::optional<TimestampUs> end = fields.TimeOrNull("range_end", &ignored);
  if (!fields.Has("range_start")) fields.Fail("range_start", "range_start is required");
  if (!fields.Has("range_end")) fields.Fail("range_end", "range_end is required");
  exports::ExportRequest request;
  std::vector<ErrorDetail> errors;
  auto strings = [&](const char* name, std::vector<std::string>* into) {
    const boost::json::value* v = fields.Raw(name);
    if (v == nullptr || v->is_null()) return;
    if (!v->is_array()) {
      errors.push_back({std::string("/") + name, std::string(name) + " must be an array of strings"});
      return;
    }
    for (size_t i = 0; i < v->as_array().size(); ++i) {
      const boost::json::value& x = v->as_array()[i];
      if (!x.is_string() || x.as_string().empty()) {
        errors.push_back({std::string("/") + name + "/" + std::to_string(i),
                          std::string(name) + " must hold non-empty strings"});
      } else {
        into->emplace_back(x.as_string());
      }
    }
  };
  std::vector<std::string> actions;
  strings("actions", &actions);
  for (const std::string& a : actions) {
    ApplyFilterParam("action", a, "/actions", &request.filter, &errors);
  }
  strings("actors", &request.actor_names);  // WorkOS' older name for actor_names
  strings("actor_names", &request.actor_names);
  strings("actor_ids", &request.filter.actor_ids);
  strings("targets", &request.filter.target_types);
  if (Status bad = fields.Finish(); !bad.ok() || !errors.empty()) {
    std::vector<ErrorDetail> details = bad.details();
    details.insert(details.end(), errors.begin(), errors.end());
    std::string message = details.empty() ? bad.message() : details.front().message;
    return fail(Status::InvalidArgument(std::move(message), "invalid_request", std::move(details)));
  }
  if (start && end && *start >= *end) {
    return fail(Status::InvalidArgument("Invalid date range: range_start must be before range_end",
                                        "invalid_audit_log_export_range_date",
                                        {{"/range_end", "range_end must be after range_start"}}));
  }
  if (!c.who.CanSee(*org) || !deps_.orgs->Exists(*org)) {
    return fail(Status::NotFound("Organization not found: '" + *org + "'.",
                                 "organization_not_found"));
  }
  Status types = CheckTargetTypes(deps_.store, *org, request.filter.target_types,
                                  [](size_t i) { return "/targets/" + std::to_string(i); });
  if (!types.ok()) return fail(types);
  request.filter.organization_id = *org;
  request.filter.from = start;
  request.filter.to = end;
  request.format = exports::ExportFormat::kCsv;
  Result<ExportJob> job = deps_.exports->Create(std::move(request), c.who.key_id, "workos");
  if (!job.ok()) return fail(job.status());
  MetaAuditEntry e = AuditEntry(c, *org, "annals.export.created");
  e.targets.push_back({"export", job->id, ""});
  e.metadata["format"] = "csv";
  e.metadata["interface"] = "workos";
  AuditThenRespond(c, std::move(e), JsonResponse(201, WorkosExportJson(*job)),
                   &workos::WorkosErrorResponse);
}

void Api::WorkosGetExport(Call& c) {
  const auto fail = [&c](const Status& s) { c.respond(workos::WorkosErrorResponse(s)); };
  if (deps_.exports == nullptr) return fail(NoExports());
  const Status not_found =
      Status::NotFound("Audit Log Export not found: '" + c.params[0] + "'.", "export_not_found");
  Result<ExportJob> job = deps_.exports->GetById(c.params[0]);
  if (!job.ok()) return fail(job.status().code() == Code::kNotFound ? not_found : job.status());
  if (!c.who.CanSee(job->request.filter.organization_id)) return fail(not_found);
  c.respond(JsonResponse(200, WorkosExportJson(*job)));
}

}  // namespace annals
