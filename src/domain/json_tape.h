// A compact, read-only JSON document ("tape") for the ingest hot path: one flat array of
// nodes in document order, with strings as views into memory owned elsewhere. The strict
// parser (JsonDocument::Parse) fills it in a single pass, with exactly the rules and error
// reports of ParseStrictJson (domain/json.h), which is built on it; the event decoder
// validates and canonicalizes events from it without building a boost::json tree.
// Not synchronized: a JsonDocument belongs to one thread at a time.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
  uint8_t flags;    // kPlain
  uint32_t height;  // containers: nesting levels counting itself; scalars: 0

  // kString, kKey: the bytes need no escaping in JSON (no '"', '\\' or control characters).
  static constexpr uint8_t kPlain = 1;

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

// A growable array of nodes (like std::vector, without zero-filling what it reserves).
class JsonNodes {
 public:
  JsonNode& emplace_back() {
    if (size_ == capacity_) Grow(size_ + 1);
    return data_[size_++];
  }
  JsonNode& operator[](size_t i) { return data_[i]; }
  const JsonNode& operator[](size_t i) const { return data_[i]; }
  JsonNode* data() { return data_.get(); }
  const JsonNode* data() const { return data_.get(); }
  const JsonNode& front() const { return data_[0]; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  void clear() { size_ = 0; }
  void reserve(size_t n) {
    if (n > capacity_) Grow(n);
  }
  void release() {
    data_.reset();
    size_ = capacity_ = 0;
  }

 private:
  void Grow(size_t min_capacity);

  std::unique_ptr<JsonNode[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

// A parsed document. Reusable: each Parse or Assign replaces the previous content.
class JsonDocument {
 public:
  JsonDocument();
  ~JsonDocument();
  JsonDocument(const JsonDocument&) = delete;
  JsonDocument& operator=(const JsonDocument&) = delete;

  // Parses exactly like ParseStrictJson(text, max_depth): the same documents are accepted
  // and a rejected one yields the very same Status. On success root() is the document,
  // valid until the next Parse/Assign or the destruction of this object, and as long as
  // `text` is (strings point into `text` or into this object).
  //
  // A fast single-pass reader handles the documents it accepts (a subset of the valid
  // ones); anything else goes through simdjson's On-Demand walk, which produces the exact
  // error report (or, if the document is valid after all, the tape).
  Status Parse(std::string_view text, size_t max_depth);

  // Reads `text` if it is an array ("[e0, e1, ...]") or, with `wrapped`, an object whose
  // only member is such an array named "events", handing each element to
  // sink(context, element, index) as soon as it is read; the element's tape is only valid
  // during that call, and only the element's own tape is kept in memory. Returns true if
  // the whole text was read and is a document that Parse(text, max_depth) accepts.
  // Returns false, having handed out any number of elements, when the text has another
  // shape, when the sink returns false, or when the fast reader (see Parse) does not accept
  // the text: then nothing is known about the text and the caller must use Parse.
  // Afterwards root() is not valid.
  using ElementSink = bool (*)(void* context, const JsonNode& element, size_t index);
  bool ReadElements(std::string_view text, size_t max_depth, bool wrapped, ElementSink sink,
                    void* context);

  // Makes root() a tape of `value` (strings point into `value`, which must outlive it).
  void Assign(const boost::json::value& value);

  const JsonNode& root() const { return nodes_.front(); }

  // Releases memory kept from a very large document.
  void Trim();

 private:
  struct Impl;
  JsonNodes nodes_;
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

// The same, written at `out`, which must have room for CanonicalSizeBound(node) bytes;
// returns the end of what was written.
char* WriteCanonical(const JsonNode& node, char* out);
size_t CanonicalSizeBound(const JsonNode& node);

// AppendJsonString's output written at `out` (room for 6 * s.size() + 2 bytes); returns the
// end.
char* WriteJsonString(std::string_view s, char* out);

}  // namespace annals
