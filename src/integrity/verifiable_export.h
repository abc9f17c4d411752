// Verifiable exports (docs/integrity.md "Verifiable exports"): an NDJSON export whose lines
// are {"event": <the event as GET /v1/events/{id} returns it>, "leaf_index": <seq - 1>} and
// whose last line is
//   {"verification": {"format": "annals-verifiable-export/v1", "leaf_count": K,
//                     "proof": [hex, ...], "tree_head": <a signed tree head>}}
// where "proof" is merkle::MultiInclusionProof of the exported leaves (in leaf order) in the
// tree of tree_head.tree_size leaves. Whoever holds the public key can check, offline, that
// every event in the file is in the organization's log, unchanged, at its seq.
//
// Thread-safety: the functions are reentrant; each call uses its arguments only.
#pragma once

#include <cstdint>
#include <istream>
#include <string>
#include <vector>

#include "annals/status.h"
#include "annals/store.h"
#include "integrity/head_publisher.h"
#include "integrity/tree_head.h"

namespace annals::integrity {

inline constexpr std::string_view kVerifiableExportFormat = "annals-verifiable-export/v1";

// The trailer line (without newline) for the leaves `sorted_leaf_indices` (strictly
// increasing) of `organization_id`'s tree, proven against the newest signed head covering
// them, waiting up to `timeout_us` for the publisher to sign one.
Result<std::string> BuildVerificationTrailer(Store* store, HeadPublisher* heads,
                                             const std::string& organization_id,
                                             const std::vector<uint64_t>& sorted_leaf_indices,
                                             int64_t timeout_us);

struct ExportVerification {
  std::string organization_id;
  uint64_t events = 0;
  TreeHead head;
};

// Checks a verifiable export read from `in` (decompressed): every line well formed, each
// event's leaf_index equal to its seq - 1, no leaf twice, every event of the head's
// organization, the head signed by one of `keys` (by key_id), and the proof recomputing the
// head's root from the events' commitments (SHA-256 of their RFC 8785 form). kInvalidArgument
// ("export_verification_failed") with one sentence naming the line or part that fails.
Result<ExportVerification> VerifyExport(std::istream& in, const std::vector<PublicKey>& keys);

}  // namespace annals::integrity
