// Fuzz target for the event decoder. Runs DecodeEventsBody on the input as JSON and as
// NDJSON with the default limits and a fixed clock, and for every accepted draft checks that
// the rendered canonical event parses strictly and re-canonicalizes to the same bytes, and
// that the (possibly lazily computed) content hash matches the members.
// Any broken invariant aborts, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "annals/event.h"
#include "annals/options.h"
#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/event_decoder.h"
#include "domain/json.h"

namespace {

void Check(bool condition, const char* what, std::string_view detail) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void CheckDraft(const annals::EventDraft& draft, const annals::EventLimits& limits, bool single) {
  Check(!draft.fields.organization_id.empty(), "organization_id set", "");
  Check(!draft.fields.action.empty(), "action set", "");
  Check(!draft.fields.targets.empty(), "targets set", "");
  // The content hash is computed for lone events and events with an idempotency key;
  // the others get it from ComputeContentHash when they are given a key.
  if (single || !draft.idempotency_key.empty()) {
    Check(draft.content_hash.size() == 32, "content_hash is 32 bytes", "");
  } else {
    Check(draft.content_hash.empty(), "content_hash is lazy without an idempotency key", "");
  }
  annals::EventDraft hashed = draft;
  annals::ComputeContentHash(&hashed);
  Check(hashed.content_hash.size() == 32, "ComputeContentHash gives 32 bytes", "");
  Check(draft.content_hash.empty() || hashed.content_hash == draft.content_hash,
        "ComputeContentHash matches the decoder's hash", "");
  for (size_t i = 1; i < draft.members.size(); ++i) {
    Check(annals::JcsKeyLess(draft.members[i - 1].first, draft.members[i].first), "members sorted",
          draft.members[i].first);
  }
  const std::string json =
      annals::RenderCanonicalEvent(draft, "evt_01JDQ8Z3W9K5Y6T7R8S9A0B1C2", 42, 1764381784130412);
  auto reparsed = annals::ParseStrictJson(json, limits.max_depth + 1);
  Check(reparsed.ok(), "rendered event re-parses",
        reparsed.ok() ? json : reparsed.status().ToString());
  const std::string again = annals::Canonical(*reparsed);
  Check(again == json, "rendered event is canonical", json + "\n" + again);

  // The content hash is the hash of the canonical client members.
  std::string client = "{";
  for (const auto& [name, value] : draft.members) {
    if (name == "source") continue;
    if (client.size() > 1) client += ',';
    annals::AppendJsonString(name, &client);
    client += ':';
    client += value;
  }
  client += '}';
  Check(annals::Sha256(client) == hashed.content_hash, "content_hash matches members", client);
  Check(client.size() <= limits.max_event_bytes, "event within max_event_bytes", "");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const annals::EventLimits limits;
  const annals::RequestLimits request_limits;
  annals::DecodeContext ctx;
  ctx.now = 1764381784000000;  // 2025-11-29T02:03:04Z
  for (const auto format : {annals::BodyFormat::kJson, annals::BodyFormat::kNdjson}) {
    auto result = annals::DecodeEventsBody(body, format, limits, request_limits, ctx);
    if (!result.ok()) {
      Check(!result.status().message().empty(), "errors have a message", "");
      for (const auto& d : result.status().details()) {
        Check(!d.message.empty(), "details have a message", d.path);
        Check(d.path.empty() || d.path[0] == '/', "detail paths are JSON Pointers", d.path);
      }
      continue;
    }
    Check(!result->drafts.empty(), "accepted batches are not empty", "");
    for (const auto& draft : result->drafts) CheckDraft(draft, limits, result->single);
  }
  // The strict parser alone: whatever it accepts canonicalizes to a fixed point.
  auto parsed = annals::ParseStrictJson(body, 64);
  if (parsed.ok()) {
    const std::string canonical = annals::Canonical(*parsed);
    auto again = annals::ParseStrictJson(canonical, 64);
    Check(again.ok(), "canonical output re-parses", canonical);
    Check(annals::Canonical(*again) == canonical, "canonical form is a fixed point", canonical);
  } else {
    Check(parsed.status().error_code() == "invalid_json", "parse errors are invalid_json",
          parsed.status().ToString());
  }
  return 0;
}
