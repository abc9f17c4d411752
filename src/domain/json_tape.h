// A compact, read-only JSON document ("tape") for the ingest hot path: one flat array of
// nodes in document order, with strings as views into memory owned elsewhere. The strict
// parser (JsonDocument::Parse) fills it in a single pass over simdjson's On-Demand API with
// exactly the rules and error reports of ParseStrictJson (domain/json.h); the event decoder
// validates and canonicalizes events from it without building a boost::json tree.
// Not synchronized: a JsonDocument belongs to one thread at a time.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "annals/status.h"

namespace annals {

enum class JsonKind : uint8_t {
  kNull,
  kBool,
  kInt64,
  kUint64,  // only from boost::json trees (JsonDocument::Assign); the parser never makes one
  kDouble,
  kString,
  kArray,
  kObject,
  kKey,  // an object member's name; its value is the next node
};

// One value (or member name). Containers are followed by their contents: an array by its
// elements, an object by (kKey, value) pairs, each value with its own contents.
struct JsonNode {
  union {
    const char* str;  // kString, kKey: the (unescaped) bytes
    int64_t i;        // kInt64; kBool: 0 or 1
    uint64_t u;       // kUint64
    double d;         // kDouble
  };
  uint32_t len;     // kString, kKey: bytes; kArray: elements; kObject: members
  uint32_t span;    // nodes in this value including itself: the next sibling is this + span
  JsonKind kind;
  uint32_t height;  // containers: nesting levels counting itself; scalars: 0

  bool is_object() const { return kind == JsonKind::kObject; }
  bool is_array() const { return kind == JsonKind::kArray; }
  bool is_string() const { return kind == JsonKind::kString; }
  bool is_null() const { return kind == JsonKind::kNull; }
  bool is_bool() const { return kind == JsonKind::kBool; }
  bool is_int64() const { return kind == JsonKind::kInt64; }
  bool is_number() const {
    return kind == JsonKind::kInt64 || kind == JsonKind::kUint64 || kind == JsonKind::kDouble;
  }
  std::string_view string() const { return std::string_view(str, len); }  // kString, kKey
  const JsonNode* next() const { return this + span; }
  // First element of an array or first member name of an object (only if len > 0).
  const JsonNode* first() const { return this + 1; }
};

// Iterates an object's members: for (const JsonNode* k = ObjectBegin(o); ...; k = NextKey(k))
// with k->string() the name and k + 1 the value.
inline const JsonNode* NextKey(const JsonNode* key) { return (key + 1)->next(); }

// Returns the value of member `name` of object `obj`, or nullptr. Linear in the members.
const JsonNode* FindMember(const JsonNode& obj, std::string_view name);

// A parsed document. Reusable: each Parse or Assign replaces the previous content.
class JsonDocument {
 public:
  JsonDocument();
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  // Parses exactly like ParseStrictJson(text, max_depth): the same documents are accepted
  // and a rejected one yields the very same Status. On success root() is the document,
  // valid until the next Parse/Assign or the destruction of this object (strings point
  // into this object's parser).
  Status Parse(std::string_view text, size_t max_depth);

  // Makes root() a tape of `value` (strings point into `value`, which must outlive it).
  void Assign(const boost::json::value& value);

  const JsonNode& root() const { return nodes_.front(); }

  // Releases memory kept from a very large document.
  void Trim();

 private:
  struct Impl;
  std::vector<JsonNode> nodes_;
  std::unique_ptr<Impl> impl_;
};

// Hands out this thread's reusable JsonDocument for inputs up to a size that keeps its
// buffers reasonable, or a fresh one otherwise (also when the thread's is already lent).
class JsonDocumentLease {
 public:
  explicit JsonDocumentLease(size_t input_size);
  ~JsonDocumentLease();
  JsonDocumentLease(const JsonDocumentLease&) = delete;
  JsonDocumentLease& operator=(const JsonDocumentLease&) = delete;
  JsonDocument& operator*() const { return *doc_; }
  JsonDocument* operator->() const { return doc_; }

 private:
  std::unique_ptr<JsonDocument> own_;
  JsonDocument* doc_;
  bool shared_ = false;
};

// Canonical JSON (RFC 8785) of a tape value; identical to AppendCanonical of the equivalent
// boost::json value (domain/canonical_json.h).
void AppendCanonical(const JsonNode& node, std::string* out);

}  // namespace annals
