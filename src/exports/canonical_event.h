// A reader for stored events in annals' canonical JSON, the fast path of the export
// encoders (export_format.h).
//
// Every event annals stores was written by its canonical writer (domain/canonical_json.h:
// RFC 8785 JSON without whitespace). Reading the few members an export row needs straight
// from that text costs a fraction of a general parse into a DOM and a walk over it. The
// reader is strict: it accepts only text that is valid JSON (RFC 8259, UTF-8) *and* has
// exactly the shape and spelling the canonical writer produces, and it answers "not
// canonical" for anything else, valid or not, so that the caller takes its general path:
//  * no whitespace anywhere; nothing after the root object;
//  * strings: only the escapes the canonical writer uses (\" \\ \b \f \n \r \t, and \u00xx
//    in lowercase hex for the other bytes below 0x20); the strings the reader returns as
//    text (ids, names, ...) and every member name it matches hold no escape at all;
//  * numbers: an optional minus sign, then an integer of at most 15 digits (never "-0"), or
//    a decimal "I.F" without exponent of at most 15 significant digits, F not ending in 0,
//    at least 1e-6 in magnitude: spellings that are the shortest for the double they denote,
//    which is what the canonical writer prints. seq and version, which the reader decodes,
//    are integers of at most 19 and 18 digits. Others (1e21, 1e-7, 2^60) are valid JSON the
//    canonical writer may produce, but their spelling is not checked here: the general path
//    takes them;
//  * nesting at most 64 levels deep.
// So for every text the reader accepts, a general JSON parser would accept it too and see
// the same members and values, and the JSON text of a member (metadata, changes) is what
// an RFC 8785 writer would write for the value (members in the stored order).
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace annals::exports {

// The members of an event that export rows read. Text views point into the event's text.
struct CanonicalEvent {
  std::string_view id, organization_id, occurred_at, received_at, action;
  uint64_t seq = 0;
  bool has_version = false;
  bool version_negative = false;
  uint64_t version_magnitude = 0;
  std::string_view actor_id, actor_type, actor_name;  // actor_name empty when absent or null
  std::string_view location, user_agent;              // empty when absent or null
  // The JSON text of the metadata and changes objects; empty when absent or null.
  std::string_view metadata_json, changes_json;
  std::string_view source_kind;

  // The text members above that hold a ',' (a CSV cell must quote them): a bit per member.
  enum TextMember : uint32_t {
    kIdText = 1u << 0,
    kOrganizationIdText = 1u << 1,
    kOccurredAtText = 1u << 2,
    kReceivedAtText = 1u << 3,
    kActionText = 1u << 4,
    kActorIdText = 1u << 5,
    kActorTypeText = 1u << 6,
    kActorNameText = 1u << 7,
    kLocationText = 1u << 8,
    kUserAgentText = 1u << 9,
    kSourceKindText = 1u << 10,
  };
  uint32_t with_comma = 0;
};

// Reads `json` if it is a canonical stored event (see above) with the members the export
// encoders require (ExportEncoder::Add): id, organization_id, occurred_at, received_at and
// action strings, seq an integer >= 1, actor {id, type strings, name an optional string},
// targets an array of {id, type strings, name an optional string}, source {kind string};
// optional (absent or null) version an integer, context {location, user_agent optional
// strings}, metadata and changes objects. Other members may hold any JSON. When a name
// occurs twice the first occurrence counts.
//
// Returns true and fills *event, and when non-null *target_types and *target_ids (cleared
// first; the targets' types and ids in event order), when so. Returns false otherwise,
// leaving the outputs unspecified: the text is not canonical, or lacks a member, or is not
// JSON; the caller's general path decides which. Thread-safe (no state).
bool ReadCanonicalEvent(std::string_view json, CanonicalEvent* event,
                        std::vector<std::string_view>* target_types,
                        std::vector<std::string_view>* target_ids);

}  // namespace annals::exports
