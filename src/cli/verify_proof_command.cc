// annals verify-proof: checks a signed tree head and, optionally, an inclusion proof for one
// event and a consistency proof from an older head, offline, with nothing but the public key.
// annals verify-export: checks a verifiable export (integrity/verifiable_export.h) the same way.
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/output.h"
#include "common/sha256.h"
#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/merkle.h"
#include "domain/time.h"
#include "common/gzip.h"
#include "integrity/tree_head.h"
#include "integrity/verifiable_export.h"

namespace annals {

namespace {

namespace fs = std::filesystem;
using integrity::PublicKey;
using integrity::TreeHead;

// Key files, heads and proofs are a few kilobytes; an event at most a few megabytes.
constexpr uintmax_t kMaxInputBytes = 64 << 20;

// Why a check could not pass: a usage error (exit 2: a flag is missing, or names a file that
// cannot be read) or a failed verification (exit 1: the input does not verify or is malformed).
Status Usage(std::string sentence) {
  return Status::InvalidArgument(std::move(sentence), "usage");
}
Status Failed(std::string sentence) {
  return Status::InvalidArgument(std::move(sentence), "verification_failed");
}
int Report(const Status& status) {
  return status.error_code() == "usage" ? UsageError(status.message()) : Fail(status.message());
}

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(" \t\r\n");
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r\n") - begin + 1);
}

// The content of the file that `flag` names; a file that cannot be read is a usage error.
Result<std::string> ReadInput(const std::string& flag, const std::string& path) {
  std::error_code ec;
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) return Usage("cannot read " + flag + " " + path + ": " + ec.message());
  if (size > kMaxInputBytes) return Failed(path + " is too large to be " + flag + " input");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Usage("cannot read " + flag + " " + path + ": " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return Usage("cannot read " + flag + " " + path + ": " + std::strerror(errno));
  return content.str();
}

PublicKey RawKey(std::string raw) {
  PublicKey key;
  key.key_id = integrity::KeyIdFor(raw);
  key.raw = std::move(raw);
  return key;
}

// A PEM "PUBLIC KEY" (SubjectPublicKeyInfo) holding an Ed25519 key.
Result<PublicKey> KeyFromPem(std::string_view pem, const std::string& source) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* pkey = bio != nullptr ? PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  std::string raw(integrity::kPublicKeyBytes, '\0');
  size_t len = raw.size();
  const bool ok = pkey != nullptr && EVP_PKEY_get_base_id(pkey) == EVP_PKEY_ED25519 &&
                  EVP_PKEY_get_raw_public_key(pkey, reinterpret_cast<unsigned char*>(raw.data()),
                                              &len) == 1 &&
                  len == raw.size();
  EVP_PKEY_free(pkey);
  ERR_clear_error();
  if (!ok) return Failed(source + " holds no PEM Ed25519 public key");
  return RawKey(std::move(raw));
}

// The keys that --public-key gives: a base64 raw key, or a file with a PEM public key, a
// base64 raw key, the JSON of one key record (GET /v1/tree/key), or a key list
// (GET /v1/tree/keys: {"data": [records]}).
Result<std::vector<PublicKey>> LoadKeys(const std::string& arg) {
  std::error_code ec;
  if (!fs::exists(arg, ec)) {
    std::optional<std::string> raw = Base64Decode(arg);
    if (raw && raw->size() == integrity::kPublicKeyBytes) {
      return std::vector<PublicKey>{RawKey(std::move(*raw))};
    }
    return Usage("--public-key " + arg +
                 " is neither a file nor standard base64 of a 32-byte Ed25519 public key");
  }
  Result<std::string> content = ReadInput("--public-key", arg);
  if (!content.ok()) return content.status();
  const std::string_view text = Trim(*content);
  const std::string source = "the public key file " + arg;

  if (text.starts_with("-----BEGIN")) {
    Result<PublicKey> key = KeyFromPem(text, source);
    if (!key.ok()) return key.status();
    return std::vector<PublicKey>{std::move(*key)};
  }
  if (text.starts_with("{")) {
    Result<boost::json::value> json = ParseStrictJson(text, 8);
    if (!json.ok()) return Failed(source + " is not valid JSON: " + json.status().message());
    const boost::json::value* data =
        json->is_object() ? json->as_object().if_contains("data") : nullptr;
    if (data == nullptr) {
      Result<PublicKey> key = integrity::PublicKeyFromJson(text);
      if (!key.ok()) return Failed(source + ": " + key.status().message());
      return std::vector<PublicKey>{std::move(*key)};
    }
    if (!data->is_array() || data->as_array().empty()) {
      return Failed(source + ": \"data\" must be a non-empty array of key records");
    }
    std::vector<PublicKey> keys;
    for (const boost::json::value& record : data->as_array()) {
      Result<PublicKey> key = integrity::PublicKeyFromJson(Canonical(record));
      if (!key.ok()) {
        return Failed(source + ": record " + std::to_string(keys.size()) + ": " +
                      key.status().message());
      }
      keys.push_back(std::move(*key));
    }
    return keys;
  }
  std::optional<std::string> raw = Base64Decode(text);
  if (!raw || raw->size() != integrity::kPublicKeyBytes) {
    return Failed(source + " holds neither a PEM Ed25519 public key, nor a key record in JSON, "
                           "nor standard base64 of a 32-byte key");
  }
  return std::vector<PublicKey>{RawKey(std::move(*raw))};
}

// Reads the head that `flag` names and checks its signature with the matching key.
Result<TreeHead> LoadSignedHead(const std::string& flag, const std::string& path,
                                const std::vector<PublicKey>& keys) {
  Result<std::string> content = ReadInput(flag, path);
  if (!content.ok()) return content.status();
  Result<TreeHead> head = integrity::TreeHeadFromJson(*content);
  if (!head.ok()) {
    return Failed(path + " is not a valid tree head: " + head.status().message());
  }
  const PublicKey* key = nullptr;
  for (const PublicKey& k : keys) {
    if (k.key_id == head->key_id) key = &k;
  }
  if (key == nullptr) {
    return Failed(keys.size() == 1
                      ? "the head in " + path + " is signed by key " + head->key_id +
                            ", not by the given key " + keys.front().key_id
                      : "the head in " + path + " is signed by key " + head->key_id +
                            ", which is not among the " + std::to_string(keys.size()) +
                            " given keys");
  }
  if (head->timestamp < key->valid_from ||
      (key->valid_until && head->timestamp > *key->valid_until)) {
    return Failed("the head in " + path + " is dated " + FormatRfc3339Millis(head->timestamp) +
                  ", outside the time key " + key->key_id + " was in use (" +
                  FormatRfc3339Millis(key->valid_from) + " to " +
                  (key->valid_until ? FormatRfc3339Millis(*key->valid_until) : "now") + ")");
  }
  if (!integrity::VerifyHeadSignature(*head, *key)) {
    return Failed("the signature of the head in " + path + " does not verify with key " +
                  key->key_id + ": the head was altered or not signed by this key");
  }
  return head;
}

// Reads a proof file's members, reporting a malformed file as a failed verification.
class ProofReader {
 public:
  static Result<ProofReader> Open(const std::string& flag, const std::string& path) {
    Result<std::string> content = ReadInput(flag, path);
    if (!content.ok()) return content.status();
    Result<boost::json::value> json = ParseStrictJson(*content, 8);
    if (!json.ok()) {
      return Failed("the proof in " + path + " is not valid JSON: " + json.status().message());
    }
    if (!json->is_object()) return Failed("the proof in " + path + " is not a JSON object");
    return ProofReader(path, std::move(json->as_object()));
  }

  Result<uint64_t> Size(std::string_view member) const {
    const boost::json::value* v = object_.if_contains(member);
    if (v == nullptr || !v->is_int64() || v->as_int64() < 0) {
      return Malformed(member, "a non-negative integer");
    }
    return static_cast<uint64_t>(v->as_int64());
  }

  Result<merkle::Hash> Hash(std::string_view member) const {
    const boost::json::value* v = object_.if_contains(member);
    std::optional<merkle::Hash> h;
    if (v != nullptr && v->is_string()) h = merkle::HashFromHex(v->as_string());
    if (!h) return Malformed(member, "64 lowercase hexadecimal characters");
    return *h;
  }

  Result<std::vector<merkle::Hash>> Hashes(std::string_view member) const {
    const boost::json::value* v = object_.if_contains(member);
    const std::string_view want = "an array of hashes of 64 lowercase hexadecimal characters";
    if (v == nullptr || !v->is_array()) return Malformed(member, want);
    std::vector<merkle::Hash> hashes;
    for (const boost::json::value& item : v->as_array()) {
      std::optional<merkle::Hash> h;
      if (item.is_string()) h = merkle::HashFromHex(item.as_string());
      if (!h) return Malformed(member, want);
      hashes.push_back(*h);
    }
    return hashes;
  }

 private:
  ProofReader(std::string path, boost::json::object object)
      : path_(std::move(path)), object_(std::move(object)) {}

  Status Malformed(std::string_view member, std::string_view want) const {
    return Failed("the proof in " + path_ + " is malformed: \"" + std::string(member) +
                  "\" must be " + std::string(want));
  }

  std::string path_;
  boost::json::object object_;
};

// The event commitment: SHA-256 of the event's canonical JSON, or --commitment.
Result<std::string> Commitment(const VerifyProofArgs& args) {
  if (!args.commitment.empty()) {
    std::string hex = args.commitment;
    for (char& c : hex) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::optional<merkle::Hash> h = merkle::HashFromHex(hex);
    if (!h) return Usage("--commitment must be 64 hexadecimal characters (a SHA-256)");
    return std::string(h->begin(), h->end());
  }
  Result<std::string> content = ReadInput("--event", args.event);
  if (!content.ok()) return content.status();
  Result<boost::json::value> event = ParseStrictJson(*content, kMaxSupportedJsonDepth);
  if (!event.ok()) {
    return Failed("the event in " + args.event + " is not valid JSON: " +
                  event.status().message());
  }
  return Sha256(Canonical(*event));
}

Status CheckInclusion(const VerifyProofArgs& args, const TreeHead& head) {
  Result<std::string> commitment = Commitment(args);
  if (!commitment.ok()) return commitment.status();
  Result<ProofReader> proof = ProofReader::Open("--inclusion", args.inclusion);
  if (!proof.ok()) return proof.status();
  Result<uint64_t> leaf_index = proof->Size("leaf_index");
  if (!leaf_index.ok()) return leaf_index.status();
  Result<uint64_t> tree_size = proof->Size("tree_size");
  if (!tree_size.ok()) return tree_size.status();
  Result<merkle::Hash> leaf_hash = proof->Hash("leaf_hash");
  if (!leaf_hash.ok()) return leaf_hash.status();
  Result<std::vector<merkle::Hash>> path = proof->Hashes("audit_path");
  if (!path.ok()) return path.status();

  if (*tree_size != head.tree_size) {
    return Failed("the inclusion proof is for a tree of " + std::to_string(*tree_size) +
                  " events but the head is for " + std::to_string(head.tree_size) +
                  "; the size and the root hash must come from one signed head");
  }
  if (*leaf_index >= head.tree_size) {
    return Failed("the inclusion proof is for seq " + std::to_string(*leaf_index + 1) +
                  ", beyond the tree of " + std::to_string(head.tree_size) + " events");
  }
  const merkle::Hash expected = merkle::LeafHash(*commitment);
  if (expected != *leaf_hash) {
    return Failed(std::string(args.event.empty() ? "the commitment's" : "the event's") +
                  " leaf hash " + merkle::HashToHex(expected) + " is not the proof's leaf_hash " +
                  merkle::HashToHex(*leaf_hash) +
                  ": the event differs from the one the proof is for");
  }
  if (!merkle::VerifyInclusion(*leaf_index, head.tree_size, *leaf_hash, *path, head.root_hash)) {
    return Failed("the inclusion proof does not lead from seq " +
                  std::to_string(*leaf_index + 1) +
                  " to the head's root hash: the event is not in this tree, or the proof is "
                  "wrong");
  }
  std::cout << "inclusion: seq " << *leaf_index + 1 << " is in the tree of " << head.tree_size
            << " events\n";
  return Status::Ok();
}

Status CheckConsistency(const VerifyProofArgs& args, const TreeHead& head,
                        const std::vector<PublicKey>& keys) {
  Result<TreeHead> old = LoadSignedHead("--old-head", args.old_head, keys);
  if (!old.ok()) return old.status();
  std::cout << "old head: signed by key " << old->key_id << ", organization "
            << Printable(old->organization_id) << ", tree_size " << old->tree_size << "\n";
  if (old->organization_id != head.organization_id) {
    return Failed("the old head is of organization " + Printable(old->organization_id) +
                  " but the head is of " + Printable(head.organization_id));
  }
  Result<ProofReader> proof = ProofReader::Open("--consistency", args.consistency);
  if (!proof.ok()) return proof.status();
  Result<uint64_t> first = proof->Size("first");
  if (!first.ok()) return first.status();
  Result<uint64_t> second = proof->Size("second");
  if (!second.ok()) return second.status();
  Result<std::vector<merkle::Hash>> hashes = proof->Hashes("proof");
  if (!hashes.ok()) return hashes.status();
  if (*first != old->tree_size || *second != head.tree_size) {
    return Failed("the consistency proof is from a tree of " + std::to_string(*first) + " to " +
                  std::to_string(*second) + " events but the heads are for " +
                  std::to_string(old->tree_size) + " and " + std::to_string(head.tree_size) +
                  "; each size and root hash must come from one signed head");
  }
  if (!merkle::VerifyConsistency(*first, *second, *hashes, old->root_hash, head.root_hash)) {
    return Failed("the consistency proof does not show the tree of " + std::to_string(*first) +
                  " events to be a prefix of the tree of " + std::to_string(*second) +
                  " events: the log was rewritten, or the proof is wrong");
  }
  std::cout << "consistency: the tree of " << *second << " events extends the tree of "
            << *first << " events\n";
  return Status::Ok();
}

}  // namespace

int RunVerifyProof(const VerifyProofArgs& args) {
  if (!args.event.empty() && !args.commitment.empty()) {
    return UsageError("give the event either as --event or as --commitment, not both");
  }
  const bool has_leaf = !args.event.empty() || !args.commitment.empty();
  if (args.inclusion.empty() != !has_leaf) {
    return UsageError(args.inclusion.empty()
                          ? "--event and --commitment go with --inclusion"
                          : "--inclusion needs the event: --event FILE or --commitment HEX");
  }
  if (args.consistency.empty() != args.old_head.empty()) {
    return UsageError("--consistency and --old-head go together");
  }
  // Every named file is read, and --commitment parsed, before anything is checked, so that a
  // wrong flag is a usage error and not a verification that stops half-way.
  const std::pair<const char*, const std::string*> files[] = {
      {"--head", &args.head},           {"--inclusion", &args.inclusion},
      {"--event", &args.event},         {"--consistency", &args.consistency},
      {"--old-head", &args.old_head}};
  for (const auto& [flag, path] : files) {
    if (path->empty()) continue;
    Result<std::string> readable = ReadInput(flag, *path);
    if (!readable.ok()) return Report(readable.status());
  }

  if (!args.commitment.empty()) {
    Result<std::string> commitment = Commitment(args);
    if (!commitment.ok()) return Report(commitment.status());
  }

  Result<std::vector<PublicKey>> keys = LoadKeys(args.public_key);
  if (!keys.ok()) return Report(keys.status());
  Result<TreeHead> head = LoadSignedHead("--head", args.head, *keys);
  if (!head.ok()) return Report(head.status());
  std::cout << "head: signed by key " << head->key_id << ", organization "
            << Printable(head->organization_id) << ", tree_size " << head->tree_size << "\n";

  if (!args.inclusion.empty()) {
    Status included = CheckInclusion(args, *head);
    if (!included.ok()) return Report(included);
  }
  if (!args.consistency.empty()) {
    Status consistent = CheckConsistency(args, *head, *keys);
    if (!consistent.ok()) return Report(consistent);
  }
  std::cout << std::flush;
  return 0;
}

int RunVerifyExport(const VerifyExportArgs& args) {
  std::error_code ec;
  if (!fs::is_regular_file(args.file, ec)) return UsageError("cannot read " + args.file);
  Result<std::vector<PublicKey>> keys = LoadKeys(args.public_key);
  if (!keys.ok()) return Report(keys.status());
  std::ifstream file(args.file, std::ios::binary);
  if (!file) return UsageError("cannot read " + args.file + ": " + std::strerror(errno));
  // gzip (RFC 1952) starts with 1f 8b; such a file is decompressed in memory.
  char magic[2] = {0, 0};
  file.read(magic, 2);
  const bool gzipped = file.gcount() == 2 && magic[0] == '\x1f' && magic[1] == '\x8b';
  file.clear();
  file.seekg(0);
  Result<integrity::ExportVerification> verified = Status::Internal("not run");
  if (gzipped) {
    std::ostringstream compressed;
    compressed << file.rdbuf();
    Result<std::string> text = GzipDecompress(compressed.str(), size_t{16} << 30);
    if (!text.ok()) return Fail(args.file + " is not a readable gzip file: " + text.status().message());
    std::istringstream in(*text);
    verified = integrity::VerifyExport(in, *keys);
  } else {
    verified = integrity::VerifyExport(file, *keys);
  }
  if (!verified.ok()) return Fail(verified.status().message());
  std::cout << "export: " << verified->events << " events of organization "
            << Printable(verified->organization_id) << " are in its log, unchanged, under the "
            << "tree head of " << verified->head.tree_size << " events signed by key "
            << verified->head.key_id << "\n";
  return 0;
}

}  // namespace annals
