#include "exports/canonical_event.h"

#include <simdjson.h>

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace annals::exports {
namespace {

constexpr int kMaxDepth = 64;
constexpr int kMaxPlainDigits = 15;    // below 2^53: the canonical writer prints them as is
constexpr int kMaxSeqDigits = 19;      // below 2^64
constexpr int kMaxVersionDigits = 18;  // below 2^63

// Hex digits the canonical writer uses in \u00xx.
int LowerHex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The length of the prefix of s[0..n) without '"', '\\' or bytes below 0x20 (as
// JsonPlainPrefix); sets *comma when that prefix holds a ','. Vectorized.
size_t PlainPrefix(const char* s, size_t n, bool* comma) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i control_max = _mm_set1_epi8(0x1F);
  const __m128i comma_byte = _mm_set1_epi8(',');
  for (; i + 16 <= n; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i));
    const __m128i special =
        _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)),
                     _mm_cmpeq_epi8(_mm_max_epu8(v, control_max), control_max));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(special));
    const auto commas = static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, comma_byte)));
    if (mask != 0) {
      const unsigned at = static_cast<unsigned>(__builtin_ctz(mask));
      if ((commas & ((1u << at) - 1)) != 0) *comma = true;
      return i + at;
    }
    if (commas != 0) *comma = true;
  }
#endif
  for (; i < n; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\' || c < 0x20) break;
    if (c == ',') *comma = true;
  }
  return i;
}

// A forward reader over the text; every method returns false when the text is not
// canonical from the current position on.
class Reader {
 public:
  explicit Reader(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  bool AtEnd() const { return p_ == end_; }

  // Whether a string read since the last call held a ','; resets.
  bool TakeComma() {
    const bool comma = comma_;
    comma_ = false;
    return comma;
  }

  bool Consume(char c) {
    if (p_ == end_ || *p_ != c) return false;
    ++p_;
    return true;
  }

  // The next byte, or 0 at the end.
  char Peek() const { return p_ == end_ ? '\0' : *p_; }

  // A string; *content is its text between the quotes, *escaped whether it holds an escape.
  bool String(std::string_view* content, bool* escaped) {
    if (!Consume('"')) return false;
    const char* start = p_;
    *escaped = false;
    for (;;) {
      p_ += PlainPrefix(p_, static_cast<size_t>(end_ - p_), &comma_);
      if (p_ == end_) return false;
      const char c = *p_;
      if (c == '"') break;
      if (c != '\\') return false;  // a raw control character
      if (end_ - p_ < 2) return false;
      *escaped = true;
      switch (p_[1]) {
        case '"':
        case '\\':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p_ += 2;
          break;
        case 'u': {
          // Only \u00xx for a control character without a short escape.
          if (end_ - p_ < 6 || p_[2] != '0' || p_[3] != '0') return false;
          const int hi = LowerHex(p_[4]);
          const int lo = LowerHex(p_[5]);
          if (hi < 0 || hi > 1 || lo < 0) return false;
          const int byte = hi * 16 + lo;
          if (byte == '\b' || byte == '\f' || byte == '\n' || byte == '\r' || byte == '\t') {
            return false;
          }
          p_ += 6;
          break;
        }
        default:
          return false;
      }
    }
    *content = std::string_view(start, static_cast<size_t>(p_ - start));
    ++p_;
    return true;
  }

  // A string without escapes.
  bool Text(std::string_view* content) {
    bool escaped = false;
    return String(content, &escaped) && !escaped;
  }

  // A string without escapes, or null (then *content is empty).
  bool OptionalText(std::string_view* content) {
    if (Peek() == 'n') {
      *content = {};
      return Literal("null");
    }
    return Text(content);
  }

  // An integer: an optional '-' (when `negative` is non-null) and at most `max_digits`
  // digits without a leading zero; never "-0". Nothing numeric may follow it.
  bool Integer(int max_digits, uint64_t* magnitude, bool* negative) {
    bool minus = false;
    if (Peek() == '-') {
      if (negative == nullptr) return false;
      minus = true;
      ++p_;
    }
    const char* start = p_;
    uint64_t v = 0;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') {
      v = v * 10 + static_cast<uint64_t>(*p_ - '0');
      ++p_;
      if (p_ - start > max_digits) return false;
    }
    const ptrdiff_t digits = p_ - start;
    if (digits == 0) return false;
    if (*start == '0' && (digits > 1 || minus)) return false;
    if (p_ != end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) return false;
    *magnitude = v;
    if (negative != nullptr) *negative = minus;
    return true;
  }

  // A number in the canonical writer's spelling that a general parser reads back to the
  // same text: an integer as Integer reads it, or a decimal "I.F" without exponent whose
  // significant digits number at most 15 (so it is the shortest spelling of the double it
  // denotes), F not ending in 0, and at least 1e-6 in magnitude (smaller ones are written
  // with an exponent).
  bool Number() {
    if (Peek() == '-') ++p_;
    const char* int_start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    const ptrdiff_t int_digits = p_ - int_start;
    if (int_digits == 0 || (*int_start == '0' && int_digits > 1)) return false;
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) return false;
    if (p_ == end_ || *p_ != '.') {
      // "-0" is not canonical ("0" is).
      return int_digits <= kMaxPlainDigits && !(*int_start == '0' && int_start[-1] == '-');
    }
    ++p_;
    const char* frac_start = p_;
    while (p_ != end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    const ptrdiff_t frac_digits = p_ - frac_start;
    if (frac_digits == 0 || p_[-1] == '0') return false;
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) return false;
    ptrdiff_t significant = int_digits + frac_digits;
    if (*int_start == '0') {
      const char* first = frac_start;
      while (*first == '0') ++first;  // F does not end in 0, so this stops inside F
      if (first - frac_start > 5) return false;  // below 1e-6
      significant = p_ - first;
    }
    return significant <= kMaxPlainDigits;
  }

  bool Literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  // Any canonical value, checked and passed over.
  bool Skip(int depth) {
    switch (Peek()) {
      case '"': {
        std::string_view s;
        bool escaped = false;
        return String(&s, &escaped);
      }
      case '{': {
        if (depth >= kMaxDepth) return false;
        ++p_;
        if (Consume('}')) return true;
        do {
          std::string_view key;
          bool escaped = false;
          if (!String(&key, &escaped) || !Consume(':') || !Skip(depth + 1)) return false;
        } while (Consume(','));
        return Consume('}');
      }
      case '[': {
        if (depth >= kMaxDepth) return false;
        ++p_;
        if (Consume(']')) return true;
        do {
          if (!Skip(depth + 1)) return false;
        } while (Consume(','));
        return Consume(']');
      }
      case 't':
        return Literal("true");
      case 'f':
        return Literal("false");
      case 'n':
        return Literal("null");
      default:
        return Number();
    }
  }

  // An object, or null (then *json is empty); *json is its text.
  bool OptionalObjectText(int depth, std::string_view* json) {
    if (Peek() == 'n') {
      *json = {};
      return Literal("null");
    }
    if (Peek() != '{') return false;
    const char* start = p_;
    if (!Skip(depth)) return false;
    *json = std::string_view(start, static_cast<size_t>(p_ - start));
    return true;
  }

  // The members of an object: calls on_member(name) for each, which reads the value and
  // returns false when the text is not canonical. Names with escapes are not canonical
  // here (a general parser would unescape them before matching).
  template <typename OnMember>
  bool Members(OnMember&& on_member) {
    if (!Consume('{')) return false;
    if (Consume('}')) return true;
    do {
      std::string_view name;
      if (!Text(&name) || !Consume(':') || !on_member(name)) return false;
    } while (Consume(','));
    return Consume('}');
  }

 private:
  const char* p_;
  const char* const end_;
  bool comma_ = false;
};

// Reads a text member (an optional one when `optional`), and sets `bit` in *with_comma when
// it holds a ','.
bool TextMember(Reader* r, std::string_view* out, bool optional, uint32_t bit,
                uint32_t* with_comma) {
  r->TakeComma();
  if (!(optional ? r->OptionalText(out) : r->Text(out))) return false;
  if (r->TakeComma()) *with_comma |= bit;
  return true;
}

// An actor or a target: {id, type: strings; name: optional string}, other members skipped.
// `bits` are the CanonicalEvent::TextMember bits of id, type and name (0 for a target).
bool Entity(Reader* r, std::string_view* id, std::string_view* type, std::string_view* name,
            const uint32_t (&bits)[3], uint32_t* with_comma) {
  bool has_id = false, has_type = false, has_name = false;
  const bool ok = r->Members([&](std::string_view member) {
    if (member == "id" && !has_id) {
      return has_id = TextMember(r, id, false, bits[0], with_comma);
    }
    if (member == "type" && !has_type) {
      return has_type = TextMember(r, type, false, bits[1], with_comma);
    }
    if (member == "name" && !has_name) {
      return has_name = TextMember(r, name, true, bits[2], with_comma);
    }
    return r->Skip(2);
  });
  if (!has_name) *name = {};
  return ok && has_id && has_type;
}

}  // namespace

bool ReadCanonicalEvent(std::string_view json, CanonicalEvent* e,
                        std::vector<std::string_view>* target_types,
                        std::vector<std::string_view>* target_ids) {
  if (!simdjson::validate_utf8(json.data(), json.size())) return false;
  if (target_types != nullptr) {
    target_types->clear();
    target_ids->clear();
  }
  *e = CanonicalEvent{};
  Reader r(json);
  // Which of the members below were seen (the first occurrence counts).
  enum : unsigned {
    kId = 1u << 0,
    kOrganizationId = 1u << 1,
    kOccurredAt = 1u << 2,
    kReceivedAt = 1u << 3,
    kAction = 1u << 4,
    kSeq = 1u << 5,
    kActor = 1u << 6,
    kTargets = 1u << 7,
    kSource = 1u << 8,
    kVersion = 1u << 9,
    kContext = 1u << 10,
    kMetadata = 1u << 11,
    kChanges = 1u << 12,
  };
  constexpr unsigned kRequired =
      kId | kOrganizationId | kOccurredAt | kReceivedAt | kAction | kSeq | kActor | kTargets |
      kSource;
  unsigned seen = 0;
  const auto first = [&seen](unsigned bit) {
    if ((seen & bit) != 0) return false;
    seen |= bit;
    return true;
  };
  using M = CanonicalEvent;
  const auto text = [&](std::string_view* out, uint32_t bit, bool optional = false) {
    return TextMember(&r, out, optional, bit, &e->with_comma);
  };

  const bool ok = r.Members([&](std::string_view name) {
    switch (name.size()) {
      case 2:
        if (name == "id" && first(kId)) return text(&e->id, M::kIdText);
        break;
      case 3:
        if (name == "seq" && first(kSeq)) {
          return r.Integer(kMaxSeqDigits, &e->seq, nullptr) && e->seq != 0;
        }
        break;
      case 5:
        if (name == "actor" && first(kActor)) {
          return Entity(&r, &e->actor_id, &e->actor_type, &e->actor_name,
                        {M::kActorIdText, M::kActorTypeText, M::kActorNameText},
                        &e->with_comma);
        }
        break;
      case 6:
        if (name == "action" && first(kAction)) return text(&e->action, M::kActionText);
        if (name == "source" && first(kSource)) {
          bool has_kind = false;
          return r.Members([&](std::string_view member) {
            if (member == "kind" && !has_kind) {
              return has_kind = text(&e->source_kind, M::kSourceKindText);
            }
            return r.Skip(2);
          }) && has_kind;
        }
        break;
      case 7:
        if (name == "targets" && first(kTargets)) {
          if (!r.Consume('[')) return false;
          if (r.Consume(']')) return true;
          do {
            std::string_view id, type, target_name;
            uint32_t ignored = 0;
            if (!Entity(&r, &id, &type, &target_name, {0, 0, 0}, &ignored)) return false;
            if (target_types != nullptr) {
              target_types->push_back(type);
              target_ids->push_back(id);
            }
          } while (r.Consume(','));
          return r.Consume(']');
        }
        if (name == "version" && first(kVersion)) {
          if (r.Peek() == 'n') return r.Literal("null");
          e->has_version = true;
          return r.Integer(kMaxVersionDigits, &e->version_magnitude, &e->version_negative);
        }
        if (name == "context" && first(kContext)) {
          if (r.Peek() == 'n') return r.Literal("null");
          bool has_location = false, has_user_agent = false;
          return r.Members([&](std::string_view member) {
            if (member == "location" && !has_location) {
              return has_location = text(&e->location, M::kLocationText, true);
            }
            if (member == "user_agent" && !has_user_agent) {
              return has_user_agent = text(&e->user_agent, M::kUserAgentText, true);
            }
            return r.Skip(2);
          });
        }
        if (name == "changes" && first(kChanges)) return r.OptionalObjectText(1, &e->changes_json);
        break;
      case 8:
        if (name == "metadata" && first(kMetadata)) {
          return r.OptionalObjectText(1, &e->metadata_json);
        }
        break;
      case 11:
        if (name == "occurred_at" && first(kOccurredAt)) {
          return text(&e->occurred_at, M::kOccurredAtText);
        }
        if (name == "received_at" && first(kReceivedAt)) {
          return text(&e->received_at, M::kReceivedAtText);
        }
        break;
      case 15:
        if (name == "organization_id" && first(kOrganizationId)) {
          return text(&e->organization_id, M::kOrganizationIdText);
        }
        break;
      default:
        break;
    }
    return r.Skip(1);
  });
  return ok && r.AtEnd() && (seen & kRequired) == kRequired;
}

}  // namespace annals::exports
