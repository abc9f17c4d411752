// POST/GET /v1/events, GET /v1/events/{id}.
#include <algorithm>
#include <cctype>
#include <utility>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/event_decoder.h"
#include "query/event_query.h"
#include "server/api_internal.h"

namespace annals {

namespace {

// The commitments (lowercase hex) of acknowledged events, in ack order: one run of leaves per
// organization and contiguous seqs (the usual case), else shorter runs.
Result<std::vector<std::string>> ReadCommitments(Store* store, const std::vector<std::string>& orgs,
                                                 const std::vector<Ack>& acks) {
  std::vector<std::string> out(acks.size());
  size_t i = 0;
  while (i < acks.size()) {
    size_t j = i + 1;
    while (j < acks.size() && orgs[j] == orgs[i] && acks[j].seq == acks[j - 1].seq + 1) ++j;
    Result<std::vector<Digest>> leaves = store->TreeNodes(orgs[i], 0, acks[i].seq - 1, j - i);
    if (!leaves.ok()) return leaves.status();
    if (leaves->size() != j - i) {
      return Status::Internal("the Merkle log lacks the commitment of seq " +
                              std::to_string(acks[i].seq + leaves->size()) +
                              " of organization " + orgs[i]);
    }
    for (size_t k = i; k < j; ++k) {
      const Digest& d = (*leaves)[k - i];
      out[k] = HexEncode(std::string_view(reinterpret_cast<const char*>(d.data()), d.size()));
    }
    i = j;
  }
  return out;
}

}  // namespace

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

Status Api::CheckEventOrganizations(const Call& c, DecodedBatch* batch) {
  std::vector<ErrorDetail> unknown;
  std::vector<ErrorDetail> reserved;
  const std::string* last_ok = nullptr;
  for (size_t i = 0; i < batch->drafts.size(); ++i) {
    const std::string& org = batch->drafts[i].fields.organization_id;
    if (last_ok != nullptr && *last_ok == org) continue;
    const std::string path = batch->single ? "/organization_id"
                                           : batch->path_base + "/" + std::to_string(i) +
                                                 "/organization_id";
    if (org == kPlatformOrganization) {
      reserved.push_back({path, "the organization 'annals' is reserved for annals' own events"});
      continue;
    }
    if (deps_.orgs->Exists(org)) {
      last_ok = &org;
      continue;
    }
    if (options_.auto_create_orgs) {
      if (!ValidOrganizationId(org)) {
        reserved.push_back({path, "'" + org + "' is not a valid organization id (1 to 128 "
                                  "letters, digits and _ . : @ -)"});
        continue;
      }
      Result<std::pair<Organization, bool>> made = deps_.orgs->Ensure(org);
      if (!made.ok()) return made.status();
      if (made->second) {
        MetaAuditEntry e = AuditEntry(c, std::string(kPlatformOrganization),
                                      "annals.organization.created");
        e.targets.push_back({"organization", org, made->first.name});
        e.metadata["auto_created"] = true;
        deps_.audit->Record(e, [logger = deps_.logger, org](Status s) {
          if (!s.ok()) {
            logger->Error("an auto-created organization's meta-audit event could not be stored",
                          {{"organization_id", org}, {"error", s.message()}});
          }
        });
      }
      last_ok = &org;
      continue;
    }
    unknown.push_back({path, "no organization with id '" + org + "'"});
  }
  if (!reserved.empty()) {
    reserved.insert(reserved.end(), unknown.begin(), unknown.end());
    std::string message =
        reserved.size() == 1 ? reserved.front().message : "events name invalid organizations";
    return Status::InvalidArgument(std::move(message), "invalid_event", std::move(reserved));
  }
  if (unknown.empty()) return Status::Ok();
  if (batch->single) {
    std::string msg = unknown.front().message;
    msg += "; create it with POST /v1/orgs first";
    return Status(Code::kNotFound, "unknown_organization", std::move(msg), std::move(unknown));
  }
  std::string msg = std::to_string(unknown.size()) + " of " +
                    std::to_string(batch->drafts.size()) +
                    " events name an unknown organization";
  return Status::InvalidArgument(std::move(msg), "unknown_organization", std::move(unknown));
}

void Api::PostEvents(Call& c) {
  if (shutting_down_.load()) {
    return c.respond(
        ErrorResponse(Status::Unavailable("annals is shutting down", "shutting_down", 5)));
  }
  const std::string media = MediaType(c.req);
  BodyFormat format;
  if (media == "application/json") {
    format = BodyFormat::kJson;
  } else if (media == "application/x-ndjson" || media == "application/ndjson" ||
             media == "application/jsonl") {
    format = BodyFormat::kNdjson;
  } else {
    return c.respond(ErrorResponse(Status(
        Code::kUnsupportedMedia, "unsupported_media_type",
        "Content-Type must be application/json or application/x-ndjson, got '" +
            (media.empty() ? std::string("none") : media) + "'")));
  }
  bool receipt = false;
  for (const auto& [name, value] : c.req.query) {
    if (name != "receipt") {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "unknown query parameter '" + name + "' (POST /v1/events takes receipt)",
          "invalid_request", {{"/query/" + name, "unknown query parameter"}})));
    }
    if (value != "true" && value != "false") {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "receipt must be true or false", "invalid_request",
          {{"/query/receipt", "must be true or false"}})));
    }
    receipt = value == "true";
  }
  DecodeContext ctx;
  ctx.implied_organization_id = c.who.organization_id;
  ctx.now = deps_.clock->NowMicros();
  Result<DecodedBatch> decoded = DecodeEventsBody(c.req.body, format, options_.event_limits,
                                                  options_.request_limits, ctx);
  if (!decoded.ok()) return c.respond(ErrorResponse(decoded.status()));
  Status orgs = CheckEventOrganizations(c, &*decoded);
  if (!orgs.ok()) return c.respond(ErrorResponse(orgs));
  Status schemas = CheckEventSchemas(deps_.schemas, *decoded);
  if (!schemas.ok()) return c.respond(ErrorResponse(schemas));

  if (std::optional<std::string> header_key = c.req.Header("idempotency-key")) {
    if (!ValidIdempotencyKey(*header_key)) {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "the Idempotency-Key header must be 1 to 256 printable ASCII characters",
          "invalid_request", {{"/headers/idempotency-key", "invalid idempotency key"}})));
    }
    if (!decoded->single) {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "the Idempotency-Key header applies to single events; give each event of a batch its "
          "own idempotency_key",
          "invalid_request", {{"/headers/idempotency-key", "not allowed with a batch"}})));
    }
    std::string& key = decoded->drafts[0].idempotency_key;
    if (!key.empty() && key != *header_key) {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "the Idempotency-Key header and the event's idempotency_key differ", "invalid_request",
          {{"/idempotency_key", "differs from the Idempotency-Key header"}})));
    }
    if (key.empty()) {
      key = *header_key;
      if (decoded->drafts[0].content_hash.empty()) ComputeContentHash(&decoded->drafts[0]);
    }
  }

  // ?receipt=true: each acknowledged event's commitment (docs/integrity.md "Receipts").
  std::vector<std::string> receipt_orgs;
  if (receipt) {
    receipt_orgs.reserve(decoded->drafts.size());
    for (const EventDraft& d : decoded->drafts) receipt_orgs.push_back(d.fields.organization_id);
  }
  deps_.ingestor->Submit(
      std::move(decoded->drafts),
      [respond = std::move(c.respond), store = deps_.store,
       receipt_orgs = std::move(receipt_orgs)](Result<std::vector<Ack>> acks) {
        if (!acks.ok()) return respond(ErrorResponse(acks.status()));
        std::vector<std::string> commitments;
        if (!receipt_orgs.empty()) {
          Result<std::vector<std::string>> read = ReadCommitments(store, receipt_orgs, *acks);
          if (!read.ok()) return respond(ErrorResponse(read.status()));
          commitments = std::move(*read);
        }
        std::string body = "{\"data\":[";
        for (size_t i = 0; i < acks->size(); ++i) {
          const Ack& a = (*acks)[i];
          if (i > 0) body += ',';
          if (!commitments.empty()) {
            body += "{\"commitment\":\"" + commitments[i] + "\",";
          } else {
            body += '{';
          }
          body += "\"id\":\"";
          body += a.id;
          body += "\",\"seq\":";
          body += std::to_string(a.seq);
          body += '}';
        }
        body += "]}";
        respond(JsonResponse(201, std::move(body)));
      });
}

void Api::ListEvents(Call& c) {
  Result<ListRequest> list = ParseListQuery(c.req.query, c.who.organization_id);
  if (!list.ok()) return c.respond(ErrorResponse(list.status()));
  if (c.who.platform() && !deps_.orgs->Exists(list->filter.organization_id)) {
    return c.respond(ErrorResponse(Status::NotFound(
        "no organization with id '" + list->filter.organization_id + "'",
        "organization_not_found")));
  }
  Result<ListPage> page = annals::ListEvents(deps_.store, *list);
  if (!page.ok()) return c.respond(ErrorResponse(page.status()));
  std::string body;
  size_t bytes = 64;
  for (const EventRecord& e : page->data) bytes += e.json.size() + 1;
  body.reserve(bytes);
  body += "{\"data\":[";
  for (size_t i = 0; i < page->data.size(); ++i) {
    if (i) body += ',';
    body += page->data[i].json;
  }
  body += ']';
  AppendListMetadata(page->before, page->after, &body);
  c.respond(JsonResponse(200, std::move(body)));
}

void Api::GetEvent(Call& c) {
  const std::string& id = c.params[0];
  Result<std::optional<EventRecord>> ev = deps_.store->GetEvent(id);
  if (!ev.ok()) return c.respond(ErrorResponse(ev.status()));
  if (!ev->has_value() || !c.who.CanSee((*ev)->fields.organization_id)) {
    return c.respond(
        ErrorResponse(Status::NotFound("no event with id '" + id + "'", "event_not_found")));
  }
  if ((*ev)->purged_at != 0) {
    std::string extra = "\"id\":";
    AppendJsonString((*ev)->id, &extra);
    extra += ",\"seq\":" + std::to_string((*ev)->seq);
    extra += ",\"commitment\":\"" + HexEncode((*ev)->commitment) + "\"";
    return c.respond(PurgedResponse("event_purged", "event '" + id + "' was purged by retention",
                                    (*ev)->purged_at, extra));
  }
  c.respond(JsonResponse(200, std::move((*ev)->json)));
}

}  // namespace annals
