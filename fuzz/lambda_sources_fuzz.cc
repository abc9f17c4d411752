// Fuzz target for the change-capture decoders of Lambda batches. Runs DecodeDynamoDbEvent
// (with a fixed-type and a single-table configuration) and DecodeSqsEvent on the input, and
// for every record checks: an item identifier is set; a draft has an organization, an
// action, a target, a change for DynamoDB records, a source key of its kind, a 32-byte
// content hash, and renders to canonical JSON that re-parses strictly and re-canonicalizes to
// the same bytes; a failure has a code and at least one detail whose path points into
// Records. Every number an image holds survives a double round trip (exactly-kept numbers
// are strings). Any broken invariant aborts, which libFuzzer reports as a crash.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "annals/event.h"
#include "annals/options.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "sources/dynamodb/dynamodb_stream.h"
#include "sources/sqs/sqs_messages.h"

namespace {

void Check(bool condition, const char* what, std::string_view detail) {
  if (condition) return;
  std::fprintf(stderr, "invariant broken: %s\n%.*s\n", what, static_cast<int>(detail.size()),
               detail.data());
  std::abort();
}

void CheckBatch(const annals::Result<annals::LambdaBatch>& batch, std::string_view kind) {
  if (!batch.ok()) {
    Check(batch.status().code() == annals::Code::kInvalidArgument, "a refused body is a 400",
          batch.status().ToString());
    return;
  }
  for (const annals::LambdaRecord& r : batch->records) {
    Check(!r.item_identifier.empty(), "item identifier set", "");
    if (!r.draft.ok()) {
      const annals::Status& s = r.draft.status();
      Check(!s.error_code().empty(), "a record error has a code", s.ToString());
      Check(!s.details().empty(), "a record error has a detail", s.ToString());
      Check(s.details().front().path.rfind("/Records/", 0) == 0,
            "a record error points into Records", s.ToString());
      continue;
    }
    const annals::EventDraft& d = *r.draft;
    Check(!d.fields.organization_id.empty(), "organization_id set", "");
    Check(!d.fields.action.empty(), "action set", "");
    Check(!d.fields.targets.empty(), "targets set", "");
    Check(d.content_hash.size() == 32, "content hash computed", "");
    Check(d.idempotency_key.rfind(std::string(kind) + " ", 0) == 0, "key of the source kind",
          d.idempotency_key);
    if (kind == "dynamodb") {
      Check(d.fields.change_op != annals::ChangeOp::kNone, "a DynamoDB event has changes", "");
    }
    const std::string rendered = annals::RenderCanonicalEvent(d, "evt_x", 1, 0);
    annals::Result<boost::json::value> again =
        annals::ParseStrictJson(rendered, annals::kMaxSupportedJsonDepth);
    Check(again.ok(), "the rendered event parses strictly",
          again.ok() ? rendered : again.status().ToString() + "\n" + rendered);
    Check(annals::Canonical(*again) == rendered, "the rendered event is canonical", rendered);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  annals::EventLimits limits;
  annals::SourceBatchContext ctx;
  ctx.idempotency_ttl_us = 14LL * 24 * 3600 * 1000000;
  ctx.now = 1893456000LL * 1000000;  // 2030-01-01

  annals::DynamoDbSourceConfig fixed;
  fixed.name = "items";
  fixed.organization_attribute = "tenantId";
  fixed.actor_attribute = "updatedBy";
  fixed.target_type = "item";
  CheckBatch(annals::DecodeDynamoDbEvent(body, fixed, limits, ctx), "dynamodb");

  annals::DynamoDbSourceConfig single_table;
  single_table.name = "app";
  single_table.organization = "org_fixed";
  single_table.type_from_key = "pk";
  CheckBatch(annals::DecodeDynamoDbEvent(body, single_table, limits, ctx), "dynamodb");

  annals::SqsSourceConfig queue;
  queue.name = "backend";
  queue.organization = "org_default";
  CheckBatch(annals::DecodeSqsEvent(body, queue, limits, ctx), "sqs");
  return 0;
}
