// Signed tree heads: an organization's Merkle log (domain/merkle.h) at one size, signed with
// Ed25519 so that anyone holding the public key can check proofs offline.
//
// The signed message is plain UTF-8 text, fixed here byte for byte (a verifier in any language
// rebuilds it from the JSON of a head):
//
//   annals-tree-head/v1\n
//   <organization_id>\n
//   <tree_size, decimal, no leading zeros>\n
//   <root_hash, 64 lowercase hex>\n
//   <timestamp, RFC 3339 UTC with exactly 3 fraction digits and Z, e.g. 2026-11-29T16:29:22.123Z>\n
//   <previous_head_hash, 64 lowercase hex, or nothing for an organization's first head>\n
//
// Each head names the hash of the head before it (HeadHash), so an organization's heads form a
// chain that cannot be rewritten without breaking a signature (CheckChain).
//
// Every function here is pure and thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "annals/event.h"
#include "annals/status.h"
#include "domain/merkle.h"

namespace annals::integrity {

// The size of an Ed25519 signature and of a raw Ed25519 public key, in bytes.
inline constexpr size_t kSignatureBytes = 64;
inline constexpr size_t kPublicKeyBytes = 32;

struct TreeHead {
  std::string organization_id;
  uint64_t tree_size = 0;
  merkle::Hash root_hash{};
  // Microseconds since the epoch, a whole number of milliseconds: the message carries
  // milliseconds only (SignedMessage floors), so finer digits would not be signed.
  TimestampUs timestamp = 0;
  // HeadHash of the organization's previous head; nullopt for its first head.
  std::optional<merkle::Hash> previous_head_hash;
  std::string key_id;     // KeyIdFor the public key that verifies `signature`
  std::string signature;  // kSignatureBytes raw bytes (Ed25519 over SignedMessage)

  bool operator==(const TreeHead&) const = default;
};

// The exact message that is signed (see the top of this file).
std::string SignedMessage(const TreeHead& head);

// SHA-256 of SignedMessage: what the next head names as previous_head_hash. It covers neither
// key_id nor signature, so a head's identity does not depend on which key signed it.
merkle::Hash HeadHash(const TreeHead& head);

// The head as canonical JSON (RFC 8785, members in JCS order):
// {"key_id", "organization_id", "previous_head_hash" (lowercase hex, or "" for the first head),
//  "root_hash" (lowercase hex), "signature" (standard base64 of the 64 bytes),
//  "timestamp" (RFC 3339 as in the message), "tree_size" (a number; sizes stay below 2^53)}.
std::string TreeHeadToJson(const TreeHead& head);

// Parses the JSON of TreeHeadToJson. Strict: every member is required with its type; hashes
// are exactly 64 lowercase hex characters; key_id is 16 lowercase hex characters; signature is
// standard base64 of exactly 64 bytes; timestamp is exactly the RFC 3339 millisecond form
// above; tree_size is a non-negative integer; organization_id is not empty. Unknown members are
// ignored. Errors are kInvalidArgument with error code "invalid_tree_head", a message naming
// the member, and a detail whose path points at it. The signature is not checked here.
Result<TreeHead> TreeHeadFromJson(std::string_view json);

// An Ed25519 public key and the period in which it signed heads.
struct PublicKey {
  std::string key_id;  // KeyIdFor(raw)
  std::string raw;     // kPublicKeyBytes raw bytes
  TimestampUs valid_from = 0;              // whole milliseconds; 0: no lower bound
  std::optional<TimestampUs> valid_until;  // whole milliseconds; nullopt: the current key

  bool operator==(const PublicKey&) const = default;
};

// The first 16 lowercase hex characters of SHA-256(raw_public_key).
std::string KeyIdFor(std::string_view raw_public_key);

// Canonical JSON: {"algorithm": "ed25519", "key_id", "public_key" (standard base64 of the raw
// 32 bytes), "valid_from" (RFC 3339 ms), "valid_until" (RFC 3339 ms, or null for the current
// key)}.
std::string PublicKeyToJson(const PublicKey& key);

// Parses the JSON of PublicKeyToJson, or the short form {"algorithm", "key_id", "public_key"}
// (then valid_from is 0 and valid_until nullopt). Checks that algorithm is "ed25519", that
// public_key is base64 of 32 bytes and that key_id equals KeyIdFor of them. Unknown members
// are ignored. Errors are kInvalidArgument "invalid_public_key" naming the member.
Result<PublicKey> PublicKeyFromJson(std::string_view json);

// True only if head.key_id == key.key_id, the key is well formed (32 bytes whose KeyIdFor is
// key.key_id), the signature is a valid Ed25519 signature of SignedMessage(head) by the key,
// and head.timestamp lies in the key's validity: at or after valid_from and, when valid_until
// is set, at or before it.
bool VerifyHeadSignature(const TreeHead& head, const PublicKey& key);

// OK if `next` directly follows `prev` in one organization's chain: the same organization,
// next.previous_head_hash == HeadHash(prev), next.tree_size >= prev.tree_size and
// next.timestamp >= prev.timestamp. Otherwise kInvalidArgument with error code
// "broken_head_chain" and a message saying which rule failed. Signatures are not checked.
Status CheckChain(const TreeHead& prev, const TreeHead& next);

}  // namespace annals::integrity
