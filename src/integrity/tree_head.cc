#include "integrity/tree_head.h"

#include <sodium.h>

#include <boost/json.hpp>
#include <cstring>
#include <utility>

#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/time.h"

namespace annals::integrity {
namespace {

constexpr std::string_view kMessageVersion = "annals-tree-head/v1";
constexpr size_t kKeyIdChars = 16;
// Heads and key records are flat objects.
constexpr size_t kMaxDepth = 4;

// libsodium must be initialized before its first use; sodium_init is idempotent and
// thread-safe. Returns false if the library cannot be used.
bool SodiumReady() {
  static const bool ready = sodium_init() >= 0;
  return ready;
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Parses exactly the form FormatRfc3339Millis prints.
std::optional<TimestampUs> ParseMillisTimestamp(std::string_view text) {
  Result<TimestampUs> t = ParseRfc3339(text);
  if (!t.ok() || FormatRfc3339Millis(*t) != text) return std::nullopt;
  return *t;
}

// Reads the members of one flat JSON object, producing errors that name the member.
class MemberReader {
 public:
  MemberReader(const boost::json::object& object, std::string error_code, std::string what)
      : object_(object), error_code_(std::move(error_code)), what_(std::move(what)) {}

  Status Error(std::string_view member, const std::string& problem) const {
    std::string message = what_ + " member \"" + std::string(member) + "\" " + problem;
    return Status::InvalidArgument(message, error_code_,
                                   {{"/" + EscapeJsonPointerToken(member), message}});
  }

  // The member, or nullptr when absent.
  const boost::json::value* Find(std::string_view member) const {
    return object_.if_contains(member);
  }

  Result<std::string> String(std::string_view member) const {
    const boost::json::value* v = Find(member);
    if (v == nullptr) return Error(member, "is missing");
    if (!v->is_string()) return Error(member, "must be a string");
    return std::string(v->as_string());
  }

  Result<merkle::Hash> Hash(std::string_view member) const {
    Result<std::string> s = String(member);
    if (!s.ok()) return s.status();
    std::optional<merkle::Hash> h = merkle::HashFromHex(*s);
    if (!h) return Error(member, "must be 64 lowercase hexadecimal characters");
    return *h;
  }

  Result<TimestampUs> Timestamp(std::string_view member) const {
    Result<std::string> s = String(member);
    if (!s.ok()) return s.status();
    std::optional<TimestampUs> t = ParseMillisTimestamp(*s);
    if (!t) {
      return Error(member,
                   "must be an RFC 3339 UTC time with 3 fraction digits and Z, e.g. "
                   "2026-11-29T16:29:22.123Z");
    }
    return *t;
  }

  Result<std::string> Bytes(std::string_view member, size_t size) const {
    Result<std::string> s = String(member);
    if (!s.ok()) return s.status();
    std::optional<std::string> raw = Base64Decode(*s);
    if (!raw || raw->size() != size) {
      return Error(member, "must be standard base64 of exactly " + std::to_string(size) +
                               " bytes");
    }
    return std::move(*raw);
  }

 private:
  const boost::json::object& object_;
  std::string error_code_;
  std::string what_;
};

Result<boost::json::object> ParseObject(std::string_view json, const std::string& error_code,
                                        const std::string& what) {
  Result<boost::json::value> parsed = ParseStrictJson(json, kMaxDepth);
  if (!parsed.ok()) {
    return Status::InvalidArgument(what + " is not valid JSON: " + parsed.status().message(),
                                   error_code);
  }
  if (!parsed->is_object()) {
    return Status::InvalidArgument(what + " must be a JSON object", error_code);
  }
  return std::move(parsed->as_object());
}

void AppendMember(std::string_view name, std::string_view value, bool first, std::string* out) {
  if (!first) *out += ',';
  AppendJsonString(name, out);
  *out += ':';
  AppendJsonString(value, out);
}

}  // namespace

std::string SignedMessage(const TreeHead& head) {
  std::string m;
  m.reserve(kMessageVersion.size() + head.organization_id.size() + 180);
  m += kMessageVersion;
  m += '\n';
  m += head.organization_id;
  m += '\n';
  m += std::to_string(head.tree_size);
  m += '\n';
  m += merkle::HashToHex(head.root_hash);
  m += '\n';
  m += FormatRfc3339Millis(head.timestamp);
  m += '\n';
  if (head.previous_head_hash) m += merkle::HashToHex(*head.previous_head_hash);
  m += '\n';
  return m;
}

merkle::Hash HeadHash(const TreeHead& head) {
  const std::string digest = Sha256(SignedMessage(head));
  merkle::Hash h;
  std::memcpy(h.data(), digest.data(), h.size());
  return h;
}

std::string TreeHeadToJson(const TreeHead& head) {
  std::string out = "{";
  AppendMember("key_id", head.key_id, true, &out);
  AppendMember("organization_id", head.organization_id, false, &out);
  AppendMember("previous_head_hash",
               head.previous_head_hash ? merkle::HashToHex(*head.previous_head_hash) : "", false,
               &out);
  AppendMember("root_hash", merkle::HashToHex(head.root_hash), false, &out);
  AppendMember("signature", Base64Encode(head.signature), false, &out);
  AppendMember("timestamp", FormatRfc3339Millis(head.timestamp), false, &out);
  out += ",\"tree_size\":";
  out += std::to_string(head.tree_size);
  out += '}';
  return out;
}

Result<TreeHead> TreeHeadFromJson(std::string_view json) {
  Result<boost::json::object> object = ParseObject(json, "invalid_tree_head", "a tree head");
  if (!object.ok()) return object.status();
  const MemberReader r(*object, "invalid_tree_head", "tree head");
  TreeHead head;

  Result<std::string> key_id = r.String("key_id");
  if (!key_id.ok()) return key_id.status();
  if (key_id->size() != kKeyIdChars || !IsLowerHex(*key_id)) {
    return r.Error("key_id", "must be 16 lowercase hexadecimal characters");
  }
  head.key_id = std::move(*key_id);

  Result<std::string> org = r.String("organization_id");
  if (!org.ok()) return org.status();
  if (org->empty()) return r.Error("organization_id", "must not be empty");
  head.organization_id = std::move(*org);

  Result<std::string> previous = r.String("previous_head_hash");
  if (!previous.ok()) return previous.status();
  if (!previous->empty()) {
    head.previous_head_hash = merkle::HashFromHex(*previous);
    if (!head.previous_head_hash) {
      return r.Error("previous_head_hash",
                     "must be 64 lowercase hexadecimal characters, or empty for the first head");
    }
  }

  Result<merkle::Hash> root = r.Hash("root_hash");
  if (!root.ok()) return root.status();
  head.root_hash = *root;

  Result<std::string> signature = r.Bytes("signature", kSignatureBytes);
  if (!signature.ok()) return signature.status();
  head.signature = std::move(*signature);

  Result<TimestampUs> timestamp = r.Timestamp("timestamp");
  if (!timestamp.ok()) return timestamp.status();
  head.timestamp = *timestamp;

  const boost::json::value* size = r.Find("tree_size");
  if (size == nullptr) return r.Error("tree_size", "is missing");
  // ParseStrictJson keeps every integral number in int64 range as int64.
  if (!size->is_int64() || size->as_int64() < 0) {
    return r.Error("tree_size", "must be a non-negative integer");
  }
  head.tree_size = static_cast<uint64_t>(size->as_int64());
  return head;
}

std::string KeyIdFor(std::string_view raw_public_key) {
  return HexEncode(Sha256(raw_public_key)).substr(0, kKeyIdChars);
}

std::string PublicKeyToJson(const PublicKey& key) {
  std::string out = "{";
  AppendMember("algorithm", "ed25519", true, &out);
  AppendMember("key_id", key.key_id, false, &out);
  AppendMember("public_key", Base64Encode(key.raw), false, &out);
  AppendMember("valid_from", FormatRfc3339Millis(key.valid_from), false, &out);
  out += ",\"valid_until\":";
  if (key.valid_until) {
    AppendJsonString(FormatRfc3339Millis(*key.valid_until), &out);
  } else {
    out += "null";
  }
  out += '}';
  return out;
}

Result<PublicKey> PublicKeyFromJson(std::string_view json) {
  Result<boost::json::object> object = ParseObject(json, "invalid_public_key", "a public key");
  if (!object.ok()) return object.status();
  const MemberReader r(*object, "invalid_public_key", "public key");
  PublicKey key;

  Result<std::string> algorithm = r.String("algorithm");
  if (!algorithm.ok()) return algorithm.status();
  if (*algorithm != "ed25519") return r.Error("algorithm", "must be \"ed25519\"");

  Result<std::string> raw = r.Bytes("public_key", kPublicKeyBytes);
  if (!raw.ok()) return raw.status();
  key.raw = std::move(*raw);

  Result<std::string> key_id = r.String("key_id");
  if (!key_id.ok()) return key_id.status();
  if (*key_id != KeyIdFor(key.raw)) {
    return r.Error("key_id", "is not the id of public_key (the first 16 hex characters of its "
                             "SHA-256)");
  }
  key.key_id = std::move(*key_id);

  if (r.Find("valid_from") != nullptr) {
    Result<TimestampUs> from = r.Timestamp("valid_from");
    if (!from.ok()) return from.status();
    key.valid_from = *from;
  }
  if (const boost::json::value* until = r.Find("valid_until");
      until != nullptr && !until->is_null()) {
    Result<TimestampUs> t = r.Timestamp("valid_until");
    if (!t.ok()) return t.status();
    if (*t < key.valid_from) return r.Error("valid_until", "must not be before valid_from");
    key.valid_until = *t;
  }
  return key;
}

bool VerifyHeadSignature(const TreeHead& head, const PublicKey& key) {
  if (head.key_id != key.key_id || key.raw.size() != kPublicKeyBytes ||
      head.signature.size() != kSignatureBytes || KeyIdFor(key.raw) != key.key_id) {
    return false;
  }
  if (head.timestamp < key.valid_from) return false;
  if (key.valid_until && head.timestamp > *key.valid_until) return false;
  if (!SodiumReady()) return false;
  const std::string message = SignedMessage(head);
  return crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(head.signature.data()),
             reinterpret_cast<const unsigned char*>(message.data()), message.size(),
             reinterpret_cast<const unsigned char*>(key.raw.data())) == 0;
}

Status CheckChain(const TreeHead& prev, const TreeHead& next) {
  auto broken = [](std::string message) {
    return Status::InvalidArgument(std::move(message), "broken_head_chain");
  };
  if (next.organization_id != prev.organization_id) {
    return broken("the heads belong to different organizations");
  }
  if (!next.previous_head_hash) {
    return broken("the later head names no previous head, as only an organization's first "
                  "head may");
  }
  if (*next.previous_head_hash != HeadHash(prev)) {
    return broken("the later head's previous_head_hash is not the hash of the earlier head");
  }
  if (next.tree_size < prev.tree_size) {
    return broken("the later head's tree_size " + std::to_string(next.tree_size) +
                  " is smaller than the earlier head's " + std::to_string(prev.tree_size));
  }
  if (next.timestamp < prev.timestamp) {
    return broken("the later head's timestamp is earlier than the earlier head's");
  }
  return Status::Ok();
}

}  // namespace annals::integrity
