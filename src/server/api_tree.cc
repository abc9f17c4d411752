// Tamper evidence (docs/integrity.md): GET /v1/tree/key, /v1/tree/keys,
// POST /v1/tree/keys/rotate, GET /v1/tree/head, /v1/tree/heads, /v1/tree/proof/inclusion and
// /v1/tree/proof/consistency.
#include <charconv>
#include <map>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/merkle.h"
#include "integrity/head_publisher.h"
#include "integrity/signing_keys.h"
#include "server/api_internal.h"
#include "storage/tree_source.h"

namespace annals {

namespace {

Status NoIntegrity() {
  return Status::Unavailable("tamper evidence is not enabled on this server", "not_ready");
}

// The query parameters of a tree route: each at most once, none outside `allowed`.
Result<std::map<std::string, std::string>> TreeQuery(const HttpRequest& req,
                                                     std::initializer_list<std::string> allowed) {
  std::map<std::string, std::string> out;
  std::vector<ErrorDetail> errors;
  for (const auto& [name, value] : req.query) {
    const std::string path = "/query/" + name;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      std::string names;
      for (const std::string& a : allowed) names += (names.empty() ? "" : ", ") + a;
      errors.push_back({path, "unknown query parameter '" + name + "' (this route takes " +
                                  names + ")"});
    } else if (!out.emplace(name, value).second) {
      errors.push_back({path, name + " may be given only once"});
    }
  }
  if (!errors.empty()) {
    std::string msg = errors.size() == 1 ? errors[0].message
                                         : std::to_string(errors.size()) +
                                               " query parameters are invalid";
    return Status::InvalidArgument(msg, "invalid_request", std::move(errors));
  }
  return out;
}

// A positive (or, with allow_zero, non-negative) decimal integer query parameter.
Result<std::optional<uint64_t>> U64Param(const std::map<std::string, std::string>& q,
                                         const std::string& name, bool allow_zero = false) {
  auto it = q.find(name);
  if (it == q.end()) return std::optional<uint64_t>();
  uint64_t n = 0;
  const std::string& v = it->second;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || p != v.data() + v.size() || (n == 0 && !allow_zero)) {
    return Status::InvalidArgument(
        name + " must be " + (allow_zero ? "a non-negative" : "a positive") + " integer",
        "invalid_request", {{"/query/" + name, "not a " + std::string(allow_zero ? "non-negative" : "positive") + " integer"}});
  }
  return std::optional<uint64_t>(n);
}

std::string HashArrayJson(const std::vector<merkle::Hash>& hashes) {
  std::string out = "[";
  for (size_t i = 0; i < hashes.size(); ++i) {
    if (i > 0) out += ',';
    out += '"' + merkle::HashToHex(hashes[i]) + '"';
  }
  return out + "]";
}

std::string HeadCursor(uint64_t number) { return EncodeIdCursor(std::to_string(number)); }

}  // namespace

void Api::GetTreeKey(Call& c) {
  if (deps_.signing_keys == nullptr) return c.respond(ErrorResponse(NoIntegrity()));
  if (!c.req.query.empty()) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "GET /v1/tree/key takes no query parameters", "invalid_request",
        {{"/query/" + c.req.query.begin()->first, "unknown query parameter"}})));
  }
  const integrity::PublicKey key = deps_.signing_keys->Current();
  std::string body = "{\"algorithm\":\"ed25519\",\"key_id\":";
  AppendJsonString(key.key_id, &body);
  body += ",\"public_key\":";
  AppendJsonString(Base64Encode(key.raw), &body);
  body += '}';
  c.respond(JsonResponse(200, std::move(body)));
}

void Api::ListTreeKeys(Call& c) {
  if (deps_.signing_keys == nullptr) return c.respond(ErrorResponse(NoIntegrity()));
  if (!c.req.query.empty()) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "GET /v1/tree/keys takes no query parameters", "invalid_request",
        {{"/query/" + c.req.query.begin()->first, "unknown query parameter"}})));
  }
  Result<std::vector<integrity::PublicKey>> keys = deps_.signing_keys->All();
  if (!keys.ok()) return c.respond(ErrorResponse(keys.status()));
  std::string body = "{\"data\":[";
  for (size_t i = 0; i < keys->size(); ++i) {
    if (i > 0) body += ',';
    body += integrity::PublicKeyToJson((*keys)[i]);
  }
  body += "]}";
  c.respond(JsonResponse(200, std::move(body)));
}

void Api::RotateTreeKey(Call& c) {
  if (deps_.signing_keys == nullptr) return c.respond(ErrorResponse(NoIntegrity()));
  if (!c.who.platform()) {
    return c.respond(ErrorResponse(Status(Code::kPermissionDenied, "platform_key_required",
                                          "only a platform admin key can rotate the signing key")));
  }
  const std::string previous = deps_.signing_keys->Current().key_id;
  Result<integrity::PublicKey> key = deps_.signing_keys->Rotate();
  if (!key.ok()) return c.respond(ErrorResponse(key.status()));
  if (deps_.logger) {
    deps_.logger->Info("tree signing key rotated", {{"previous_key_id", previous},
                                                    {"key_id", key->key_id},
                                                    {"by", c.who.key_id}});
  }
  c.respond(JsonResponse(200, integrity::PublicKeyToJson(*key)));
}

void Api::GetTreeHead(Call& c) {
  if (deps_.heads == nullptr) return c.respond(ErrorResponse(NoIntegrity()));
  Result<std::map<std::string, std::string>> q = TreeQuery(c.req, {"organization_id"});
  if (!q.ok()) return c.respond(ErrorResponse(q.status()));
  Result<std::string> org = ResolveOrganization(c.who, (*q)["organization_id"], true);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::optional<integrity::StoredHead>> head = deps_.heads->Latest(*org);
  if (!head.ok()) return c.respond(ErrorResponse(head.status()));
  if (!head->has_value()) {
    return c.respond(ErrorResponse(Status::NotFound(
        "organization " + *org + " has no signed tree head yet (heads are signed once it has "
        "events, within the head interval)",
        "tree_head_not_found")));
  }
  c.respond(JsonResponse(200, integrity::TreeHeadToJson((*head)->head)));
}

void Api::ListTreeHeads(Call& c) {
  if (deps_.heads == nullptr) return c.respond(ErrorResponse(NoIntegrity()));
  Result<IdPageQuery> page = ParseIdPageQuery(c.req, {"organization_id"});
  if (!page.ok()) return c.respond(ErrorResponse(page.status()));
  Result<std::string> org = ResolveOrganization(c.who, page->extra[0].value_or(""), true);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  auto cursor_number = [&](const std::string& id) -> Result<uint64_t> {
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    if (ec != std::errc() || p != id.data() + id.size() || n == 0) {
      return Status::InvalidArgument("the cursor is malformed", "invalid_cursor");
    }
    return n;
  };
  // Newest first. `after` continues to older heads, `before` goes back to newer ones.
  std::optional<uint64_t> below;
  std::optional<uint64_t> above;
  if (!page->after_id.empty()) {
    Result<uint64_t> n = cursor_number(page->after_id);
    if (!n.ok()) return c.respond(ErrorResponse(n.status()));
    below = *n;
  } else if (!page->before_id.empty()) {
    Result<uint64_t> n = cursor_number(page->before_id);
    if (!n.ok()) return c.respond(ErrorResponse(n.status()));
    above = *n;
  }
  Result<std::vector<integrity::StoredHead>> heads =
      above ? deps_.heads->List(*org, *above + page->limit + 1, page->limit)
            : deps_.heads->List(*org, below, page->limit);
  if (!heads.ok()) return c.respond(ErrorResponse(heads.status()));
  if (above) {
    std::erase_if(*heads, [&](const integrity::StoredHead& h) { return h.number <= *above; });
  }
  Result<std::optional<integrity::StoredHead>> latest = deps_.heads->Latest(*org);
  if (!latest.ok()) return c.respond(ErrorResponse(latest.status()));
  std::string body = "{\"data\":[";
  for (size_t i = 0; i < heads->size(); ++i) {
    if (i > 0) body += ',';
    body += integrity::TreeHeadToJson((*heads)[i].head);
  }
  body += ']';
  std::optional<std::string> before_cursor, after_cursor;
  if (!heads->empty()) {
    const uint64_t newest = heads->front().number;
    const uint64_t oldest = heads->back().number;
    if (latest->has_value() && (*latest)->number > newest) before_cursor = HeadCursor(newest);
    if (oldest > 1) after_cursor = HeadCursor(oldest);
  }
  AppendListMetadata(before_cursor, after_cursor, &body);
  c.respond(JsonResponse(200, std::move(body)));
}

void Api::GetInclusionProof(Call& c) {
  if (deps_.heads == nullptr) return c.respond(ErrorResponse(NoIntegrity()));
  Result<std::map<std::string, std::string>> q =
      TreeQuery(c.req, {"organization_id", "seq", "event_id", "tree_size"});
  if (!q.ok()) return c.respond(ErrorResponse(q.status()));
  Result<std::string> org = ResolveOrganization(c.who, (*q)["organization_id"], true);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::optional<uint64_t>> seq = U64Param(*q, "seq");
  if (!seq.ok()) return c.respond(ErrorResponse(seq.status()));
  Result<std::optional<uint64_t>> tree_size = U64Param(*q, "tree_size");
  if (!tree_size.ok()) return c.respond(ErrorResponse(tree_size.status()));
  if (q->count("event_id") > 0) {
    if (seq->has_value()) {
      return c.respond(ErrorResponse(Status::InvalidArgument(
          "give either seq or event_id, not both", "invalid_request",
          {{"/query/event_id", "seq is given too"}})));
    }
    const std::string& id = q->at("event_id");
    Result<std::optional<EventRecord>> ev = deps_.store->GetEvent(id);
    if (!ev.ok()) return c.respond(ErrorResponse(ev.status()));
    if (!ev->has_value() || (*ev)->fields.organization_id != *org) {
      return c.respond(ErrorResponse(
          Status::NotFound("organization " + *org + " has no event with id '" + id + "'",
                           "event_not_found")));
    }
    *seq = (*ev)->seq;
  }
  if (!seq->has_value()) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "seq (or event_id) is required", "invalid_request", {{"/query/seq", "required"}})));
  }
  Result<TreeState> current = deps_.store->CurrentTree(*org);
  if (!current.ok()) return c.respond(ErrorResponse(current.status()));
  if (!tree_size->has_value()) {
    // Against the newest signed head, the one a client can check.
    Result<std::optional<integrity::StoredHead>> head = deps_.heads->Latest(*org);
    if (!head.ok()) return c.respond(ErrorResponse(head.status()));
    if (!head->has_value()) {
      return c.respond(ErrorResponse(Status::NotFound(
          "organization " + *org + " has no signed tree head yet", "tree_head_not_found")));
    }
    *tree_size = (*head)->head.tree_size;
  }
  if (**tree_size > current->tree_size) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "tree_size " + std::to_string(**tree_size) + " is larger than the tree of organization " +
            *org + " (" + std::to_string(current->tree_size) + " events)",
        "invalid_request", {{"/query/tree_size", "larger than the tree"}})));
  }
  if (**seq > **tree_size) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "seq " + std::to_string(**seq) + " is not in a tree of " + std::to_string(**tree_size) +
            " events",
        "invalid_request", {{"/query/seq", "greater than tree_size"}})));
  }
  StoreTreeSource source(deps_.store, *org);
  const uint64_t index = **seq - 1;
  Result<std::vector<merkle::Hash>> path = merkle::InclusionProof(index, **tree_size, source);
  if (!path.ok()) return c.respond(ErrorResponse(path.status()));
  Result<std::pair<merkle::Hash, Digest>> leaf = source.Leaf(index);
  if (!leaf.ok()) return c.respond(ErrorResponse(leaf.status()));
  std::string body = "{\"audit_path\":" + HashArrayJson(*path);
  body += ",\"leaf_hash\":\"" + merkle::HashToHex(leaf->first) + "\"";
  body += ",\"leaf_index\":" + std::to_string(index);
  body += ",\"tree_size\":" + std::to_string(**tree_size) + "}";
  c.respond(JsonResponse(200, std::move(body)));
}

void Api::GetConsistencyProof(Call& c) {
  if (deps_.heads == nullptr) return c.respond(ErrorResponse(NoIntegrity()));
  Result<std::map<std::string, std::string>> q =
      TreeQuery(c.req, {"organization_id", "first", "second"});
  if (!q.ok()) return c.respond(ErrorResponse(q.status()));
  Result<std::string> org = ResolveOrganization(c.who, (*q)["organization_id"], true);
  if (!org.ok()) return c.respond(ErrorResponse(org.status()));
  Result<std::optional<uint64_t>> first = U64Param(*q, "first", true);
  if (!first.ok()) return c.respond(ErrorResponse(first.status()));
  Result<std::optional<uint64_t>> second = U64Param(*q, "second", true);
  if (!second.ok()) return c.respond(ErrorResponse(second.status()));
  if (!first->has_value() || !second->has_value()) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "first and second (tree sizes) are required", "invalid_request",
        {{first->has_value() ? "/query/second" : "/query/first", "required"}})));
  }
  if (**first > **second) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "first (" + std::to_string(**first) + ") must not be greater than second (" +
            std::to_string(**second) + ")",
        "invalid_request", {{"/query/first", "greater than second"}})));
  }
  Result<TreeState> current = deps_.store->CurrentTree(*org);
  if (!current.ok()) return c.respond(ErrorResponse(current.status()));
  if (**second > current->tree_size) {
    return c.respond(ErrorResponse(Status::InvalidArgument(
        "second (" + std::to_string(**second) + ") is larger than the tree of organization " +
            *org + " (" + std::to_string(current->tree_size) + " events)",
        "invalid_request", {{"/query/second", "larger than the tree"}})));
  }
  StoreTreeSource source(deps_.store, *org);
  Result<std::vector<merkle::Hash>> proof = merkle::ConsistencyProof(**first, **second, source);
  if (!proof.ok()) return c.respond(ErrorResponse(proof.status()));
  std::string body = "{\"first\":" + std::to_string(**first);
  body += ",\"proof\":" + HashArrayJson(*proof);
  body += ",\"second\":" + std::to_string(**second) + "}";
  c.respond(JsonResponse(200, std::move(body)));
}

}  // namespace annals
