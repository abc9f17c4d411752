#include "server/api.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/event_decoder.h"
#include "http/error_mapping.h"
#include "query/event_query.h"

namespace annals {

namespace {

HttpResponse JsonResponse(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse MethodNotAllowed(const std::string& allow) {
  HttpResponse r = ErrorResponse(Status(Code::kInvalidArgument, "method_not_allowed",
                                        "this path accepts only " + allow));
  r.status = 405;
  r.headers.emplace_back("Allow", allow);
  return r;
}

HttpResponse NotFoundRoute(const HttpRequest& req) {
  const std::string path = req.target.substr(0, req.target.find('?'));
  return ErrorResponse(Status::NotFound("no such endpoint: " + req.method + " " + path));
}

std::string MediaType(const HttpRequest& req) {
  std::string ct = req.Header("content-type").value_or("");
  std::string media = ct.substr(0, ct.find(';'));
  while (!media.empty() && std::isspace(static_cast<unsigned char>(media.back()))) media.pop_back();
  std::transform(media.begin(), media.end(), media.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return media;
}

bool ValidIdempotencyKey(const std::string& key) {
  if (key.empty() || key.size() > 256) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace

Api::Api(ApiOptions options, Store* store, Ingestor* ingestor, const Clock* clock,
         std::shared_ptr<Logger> logger)
    : options_(std::move(options)),
      store_(store),
      ingestor_(ingestor),
      clock_(clock),
      logger_(std::move(logger)) {}

Result<Api::Principal> Api::Authenticate(const HttpRequest& request) const {
  std::optional<std::string> auth = request.Header("authorization");
  if (!auth) {
    return Status::Unauthenticated("an API key is required: send Authorization: Bearer <key>");
  }
  constexpr std::string_view kBearer = "bearer ";
  if (auth->size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), auth->begin(),
                  [](char a, char b) { return a == std::tolower(static_cast<unsigned char>(b)); })) {
    return Status::Unauthenticated("the Authorization header must be 'Bearer <key>'");
  }
  std::string key = auth->substr(kBearer.size());
  while (!key.empty() && key.front() == ' ') key.erase(key.begin());
  const std::string digest = Sha256(key);
  for (const std::string& h : options_.admin_key_hashes) {
    if (h.size() == digest.size() && CRYPTO_memcmp(h.data(), digest.data(), h.size()) == 0) {
      return Principal{"admin", ""};
    }
  }
  return Status::Unauthenticated("the API key is not valid");
}

void Api::Handle(HttpRequest&& req, Responder respond) {
  const auto& seg = req.segments;
  if (seg.size() == 1 && (seg[0] == "healthz" || seg[0] == "readyz")) {
    if (req.method != "GET" && req.method != "HEAD") return respond(MethodNotAllowed("GET, HEAD"));
    if (seg[0] == "healthz") return respond(JsonResponse(200, "{\"status\":\"ok\"}"));
    return respond(Ready());
  }

  Result<Principal> who = Authenticate(req);
  if (!who.ok()) return respond(ErrorResponse(who.status()));

  if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "events") {
    if (seg.size() == 2) {
      if (req.method == "POST") return PostEvents(*who, std::move(req), std::move(respond));
      if (req.method == "GET") return respond(ListEvents(*who, req));
      return respond(MethodNotAllowed("GET, POST"));
    }
    if (seg.size() == 3) {
      if (req.method != "GET") return respond(MethodNotAllowed("GET"));
      return respond(GetEvent(*who, seg[2]));
    }
  }
  respond(NotFoundRoute(req));
}

HttpResponse Api::Ready() const {
  if (shutting_down_.load()) {
    return ErrorResponse(Status::Unavailable("annals is shutting down", "shutting_down", 5));
  }
  Status health = ingestor_->Health();
  if (!health.ok()) return ErrorResponse(health);
  return JsonResponse(200, "{\"status\":\"ready\"}");
}

void Api::PostEvents(const Principal& who, HttpRequest&& req, Responder respond) {
  if (shutting_down_.load()) {
    return respond(
        ErrorResponse(Status::Unavailable("annals is shutting down", "shutting_down", 5)));
  }
  const std::string media = MediaType(req);
  BodyFormat format;
  if (media == "application/json") {
    format = BodyFormat::kJson;
  } else if (media == "application/x-ndjson" || media == "application/ndjson" ||
             media == "application/jsonl") {
    format = BodyFormat::kNdjson;
  } else {
    return respond(ErrorResponse(Status(
        Code::kUnsupportedMedia, "unsupported_media_type",
        "Content-Type must be application/json or application/x-ndjson, got '" +
            (media.empty() ? std::string("none") : media) + "'")));
  }
  DecodeContext ctx;
  ctx.implied_organization_id = who.organization_id;
  ctx.now = clock_->NowMicros();
  Result<DecodedBatch> decoded = DecodeEventsBody(req.body, format, options_.event_limits,
                                                  options_.request_limits, ctx);
  if (!decoded.ok()) return respond(ErrorResponse(decoded.status()));

  if (std::optional<std::string> header_key = req.Header("idempotency-key")) {
    if (!ValidIdempotencyKey(*header_key)) {
      return respond(ErrorResponse(Status::InvalidArgument(
          "the Idempotency-Key header must be 1 to 256 printable ASCII characters",
          "invalid_request", {{"/headers/idempotency-key", "invalid idempotency key"}})));
    }
    if (!decoded->single) {
      return respond(ErrorResponse(Status::InvalidArgument(
          "the Idempotency-Key header applies to single events; give each event of a batch its "
          "own idempotency_key",
          "invalid_request", {{"/headers/idempotency-key", "not allowed with a batch"}})));
    }
    std::string& key = decoded->drafts[0].idempotency_key;
    if (!key.empty() && key != *header_key) {
      return respond(ErrorResponse(Status::InvalidArgument(
          "the Idempotency-Key header and the event's idempotency_key differ", "invalid_request",
          {{"/idempotency_key", "differs from the Idempotency-Key header"}})));
    }
    if (key.empty()) {
      key = *header_key;
      if (decoded->drafts[0].content_hash.empty()) ComputeContentHash(&decoded->drafts[0]);
    }
  }

  ingestor_->Submit(std::move(decoded->drafts),
                    [respond = std::move(respond)](Result<std::vector<Ack>> acks) {
                      if (!acks.ok()) return respond(ErrorResponse(acks.status()));
                      std::string body = "{\"data\":[";
                      bool first = true;
                      for (const Ack& a : *acks) {
                        if (!first) body += ',';
                        first = false;
                        body += "{\"id\":\"";
                        body += a.id;
                        body += "\",\"seq\":";
                        body += std::to_string(a.seq);
                        body += '}';
                      }
                      body += "]}";
                      respond(JsonResponse(201, std::move(body)));
                    });
}

HttpResponse Api::ListEvents(const Principal& who, const HttpRequest& req) {
  Result<ListRequest> list = ParseListQuery(req.query, who.organization_id);
  if (!list.ok()) return ErrorResponse(list.status());
  Result<ListPage> page = annals::ListEvents(store_, *list);
  if (!page.ok()) return ErrorResponse(page.status());
  std::string body;
  size_t bytes = 64;
  for (const EventRecord& e : page->data) bytes += e.json.size() + 1;
  body.reserve(bytes);
  body += "{\"data\":[";
  for (size_t i = 0; i < page->data.size(); ++i) {
    if (i) body += ',';
    body += page->data[i].json;
  }
  body += "],\"list_metadata\":{\"before\":";
  if (page->before) {
    AppendJsonString(*page->before, &body);
  } else {
    body += "null";
  }
  body += ",\"after\":";
  if (page->after) {
    AppendJsonString(*page->after, &body);
  } else {
    body += "null";
  }
  body += "}}";
  return JsonResponse(200, std::move(body));
}

HttpResponse Api::GetEvent(const Principal& who, const std::string& id) {
  Result<std::optional<EventRecord>> ev = store_->GetEvent(id);
  if (!ev.ok()) return ErrorResponse(ev.status());
  if (!ev->has_value() ||
      (!who.organization_id.empty() && (*ev)->fields.organization_id != who.organization_id)) {
    return ErrorResponse(Status::NotFound("no event with id '" + id + "'", "event_not_found"));
  }
  return JsonResponse(200, std::move((*ev)->json));
}

}  // namespace annals
