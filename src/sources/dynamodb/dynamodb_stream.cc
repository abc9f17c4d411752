#include "sources/dynamodb/dynamodb_stream.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>
#include <vector>

#include "domain/canonical_json.h"
#include "domain/json.h"
#include "domain/time.h"
#include "sources/record_errors.h"
#include "sources/source_event.h"

namespace annals {

namespace json = boost::json;

namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// ---- Numbers -------------------------------------------------------------------------

// A decimal number: (-1)^negative * 0.d1d2d3... scaled so that the first digit has the
// decimal exponent `adjusted` (d1 * 10^adjusted is the leading term). `digits` has no
// leading or trailing zeros; it is empty for zero.
struct Decimal {
  bool negative = false;
  std::string digits;
  int64_t adjusted = 0;
};

// DynamoDB accepts a sign, digits with an optional decimal point, and an optional
// exponent; what it sends back is normalized, but be liberal in the spelling and strict
// in the value.
bool ParseDecimal(std::string_view s, Decimal* out) {
  size_t i = 0;
  const size_t n = s.size();
  out->negative = false;
  if (i < n && (s[i] == '+' || s[i] == '-')) out->negative = s[i++] == '-';
  std::string all;  // integer digits then fraction digits
  while (i < n && IsDigit(s[i])) all.push_back(s[i++]);
  size_t frac_len = 0;
  if (i < n && s[i] == '.') {
    ++i;
    while (i < n && IsDigit(s[i])) {
      all.push_back(s[i++]);
      ++frac_len;
    }
  }
  if (all.empty()) return false;
  int64_t exponent = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool negative_exp = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) negative_exp = s[i++] == '-';
    if (i >= n || !IsDigit(s[i])) return false;
    while (i < n && IsDigit(s[i])) {
      // Saturate: far outside DynamoDB's range either way.
      if (exponent < 1000000000000LL) exponent = exponent * 10 + (s[i] - '0');
      ++i;
    }
    if (negative_exp) exponent = -exponent;
  }
  if (i != n) return false;
  size_t first = 0;
  while (first < all.size() && all[first] == '0') ++first;
  if (first == all.size()) {
    out->digits.clear();
    out->adjusted = 0;
    out->negative = false;
    return true;
  }
  size_t last = all.size() - 1;
  while (all[last] == '0') --last;
  out->digits = all.substr(first, last - first + 1);
  out->adjusted = static_cast<int64_t>(all.size() - 1 - first) + exponent -
                  static_cast<int64_t>(frac_len);
  return true;
}

// Orders decimals by value.
int CompareDecimal(const Decimal& a, const Decimal& b) {
  const int sign_a = a.digits.empty() ? 0 : (a.negative ? -1 : 1);
  const int sign_b = b.digits.empty() ? 0 : (b.negative ? -1 : 1);
  if (sign_a != sign_b) return sign_a < sign_b ? -1 : 1;
  if (sign_a == 0) return 0;
  int magnitude = 0;
  if (a.adjusted != b.adjusted) {
    magnitude = a.adjusted < b.adjusted ? -1 : 1;
  } else {
    const int c = a.digits.compare(b.digits);  // same leading exponent: digit order
    magnitude = c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  return sign_a * magnitude;
}

Result<Decimal> ParseDynamoDbNumber(std::string_view text) {
  Decimal d;
  if (!ParseDecimal(text, &d)) {
    return Status::InvalidArgument("'" + std::string(text.substr(0, 64)) +
                                       "' is not a decimal number",
                                   kInvalidRecord);
  }
  if (d.digits.size() > 38 || (!d.digits.empty() && (d.adjusted > 125 || d.adjusted < -130))) {
    return Status::InvalidArgument(
        "the number is outside DynamoDB's range (at most 38 significant digits, magnitudes "
        "from 1E-130 to 9.99E+125)",
        kInvalidRecord);
  }
  return d;
}

json::value DecimalToJson(const Decimal& d, std::string_view text) {
  if (d.digits.empty()) return json::value(static_cast<int64_t>(0));
  // Normalized scientific text, parsed to the nearest double.
  std::string normalized;
  if (d.negative) normalized += '-';
  normalized += d.digits[0];
  if (d.digits.size() > 1) {
    normalized += '.';
    normalized.append(d.digits, 1, std::string::npos);
  }
  normalized += 'e';
  normalized += std::to_string(d.adjusted);
  double value = 0;
  auto parsed = std::from_chars(normalized.data(), normalized.data() + normalized.size(), value);
  if (parsed.ec != std::errc() || !std::isfinite(value) || value == 0) {
    return json::value(json::string(text));
  }
  // The shortest digits that round-trip the double; the number survives when they are
  // exactly its own significant digits and exponent.
  char buf[64];
  auto printed =
      std::to_chars(buf, buf + sizeof buf, std::fabs(value), std::chars_format::scientific);
  if (printed.ec != std::errc()) return json::value(json::string(text));
  std::string shortest;
  const char* p = buf;
  for (; p < printed.ptr && *p != 'e'; ++p) {
    if (*p != '.') shortest.push_back(*p);
  }
  int64_t exp = 0;
  bool negative_exp = false;
  if (p < printed.ptr) {
    ++p;
    if (p < printed.ptr && (*p == '+' || *p == '-')) negative_exp = *p++ == '-';
    for (; p < printed.ptr; ++p) exp = exp * 10 + (*p - '0');
  }
  if (negative_exp) exp = -exp;
  while (shortest.size() > 1 && shortest.back() == '0') shortest.pop_back();
  if (shortest != d.digits || exp != d.adjusted) return json::value(json::string(text));
  constexpr double kTwo63 = 9223372036854775808.0;
  if (std::trunc(value) == value && value > -kTwo63 && value < kTwo63) {
    return json::value(static_cast<int64_t>(value));
  }
  return json::value(value);
}

bool IsBase64(std::string_view s) {
  if (s.size() % 4 != 0) return false;
  size_t pad = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '=') {
      ++pad;
      continue;
    }
    if (pad > 0) return false;  // data after padding
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || IsDigit(c) || c == '+' ||
                    c == '/';
    if (!ok) return false;
  }
  return pad <= 2;
}

const char* TypeName(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
  }
  return "a value";
}

Result<json::array> ConvertSet(const json::value& members, std::string_view tag,
                               const std::string& path) {
  if (!members.is_array()) {
    return RecordError(path, std::string(tag) + " must be an array of strings, not " +
                                 TypeName(members));
  }
  const json::array& in = members.get_array();
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].is_string()) {
      return RecordError(Child(path, i), std::string("a member of ") + std::string(tag) +
                                             " must be a string, not " + TypeName(in[i]));
    }
  }
  json::array out;
  out.reserve(in.size());
  if (tag == "NS") {
    std::vector<std::pair<Decimal, json::value>> numbers;
    numbers.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
      std::string_view text = in[i].get_string();
      Result<Decimal> d = ParseDynamoDbNumber(text);
      if (!d.ok()) return RecordError(Child(path, i), d.status().message());
      json::value v = DecimalToJson(*d, text);
      numbers.emplace_back(std::move(d).value(), std::move(v));
    }
    std::stable_sort(numbers.begin(), numbers.end(), [](const auto& a, const auto& b) {
      return CompareDecimal(a.first, b.first) < 0;
    });
    for (auto& [d, v] : numbers) out.push_back(std::move(v));
    return out;
  }
  std::vector<std::string_view> strings;
  strings.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    std::string_view s = in[i].get_string();
    if (tag == "BS" && !IsBase64(s)) {
      return RecordError(Child(path, i), "a member of BS must be base64 (RFC 4648, padded)");
    }
    strings.push_back(s);
  }
  std::sort(strings.begin(), strings.end());
  for (std::string_view s : strings) out.emplace_back(json::string(s));
  return out;
}

// The primary key attribute's value as text: S as is, N exactly as sent, B as its base64.
Result<std::string> KeyText(const json::value& attribute, const std::string& path) {
  if (attribute.is_object() && attribute.get_object().size() == 1) {
    const auto& [tag, v] = *attribute.get_object().begin();
    if ((tag == "S" || tag == "N" || tag == "B") && v.is_string()) {
      if (tag == "N") {
        Result<Decimal> d = ParseDynamoDbNumber(v.get_string());
        if (!d.ok()) return RecordError(Child(path, "N"), d.status().message());
      }
      return std::string(v.get_string());
    }
  }
  return RecordError(path, "a key attribute must be a string (S), number (N) or binary (B)");
}

// eventID and SequenceNumber become parts of idempotency keys and source members.
bool ValidRecordId(std::string_view id) {
  if (id.empty() || id.size() > 256) return false;
  return std::all_of(id.begin(), id.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

std::string TableFromArn(std::string_view arn) {
  // arn:aws:dynamodb:<region>:<account>:table/<table>/stream/<label>
  const size_t at = arn.find(":table/");
  if (at == std::string_view::npos) return "";
  std::string_view rest = arn.substr(at + 7);
  return std::string(rest.substr(0, rest.find('/')));
}

Result<TimestampUs> CreationTime(const json::object& dynamodb, const std::string& path) {
  const std::string p = Child(path, "ApproximateCreationDateTime");
  const json::value* v = dynamodb.if_contains("ApproximateCreationDateTime");
  if (v == nullptr) return RecordError(p, "ApproximateCreationDateTime is missing");
  double seconds = 0;
  if (v->is_int64()) {
    seconds = static_cast<double>(v->get_int64());
  } else if (v->is_double()) {
    seconds = v->get_double();
  } else if (v->is_uint64()) {
    seconds = static_cast<double>(v->get_uint64());
  } else {
    return RecordError(p, "ApproximateCreationDateTime must be a number of seconds since the epoch");
  }
  // 1970-01-01 .. 9999-12-31
  if (!(seconds > 0 && seconds < 253402300800.0)) {
    return RecordError(p, "ApproximateCreationDateTime is out of range");
  }
  if (v->is_int64()) return v->get_int64() * 1000000;
  return static_cast<TimestampUs>(std::llround(seconds * 1e6));
}

// The attribute `name` of a typed image, or nullptr.
const json::value* Attribute(const json::value* image, const std::string& name) {
  if (image == nullptr || !image->is_object()) return nullptr;
  return image->get_object().if_contains(name);
}

Result<json::object> Actor(const DynamoDbSourceConfig& config, const json::object& record,
                           bool remove, const json::value* image, const std::string& image_path) {
  json::object actor;
  if (remove) {
    const json::value* identity = record.if_contains("userIdentity");
    if (identity != nullptr && identity->is_object()) {
      const json::object& id = identity->get_object();
      const json::value* type = id.if_contains("type");
      const json::value* principal = id.if_contains("principalId");
      if (type != nullptr && type->is_string() && type->get_string() == "Service" &&
          principal != nullptr && principal->is_string() &&
          principal->get_string() == "dynamodb.amazonaws.com") {
        actor["id"] = "dynamodb-ttl";
        actor["type"] = "system";
        return actor;
      }
    }
  }
  const json::value* attr =
      config.actor_attribute.empty() ? nullptr : Attribute(image, config.actor_attribute);
  if (attr == nullptr) {
    actor["id"] = config.name;
    actor["type"] = "database";
    return actor;
  }
  const std::string path = Child(image_path, config.actor_attribute);
  if (attr->is_object() && attr->get_object().size() == 1) {
    const auto& [tag, v] = *attr->get_object().begin();
    if ((tag == "S" || tag == "N") && v.is_string()) {
      actor["id"] = v.get_string();
      actor["type"] = "user";
      return actor;
    }
    if (tag == "M" && v.is_object()) {
      actor["type"] = "user";
      for (const auto& [name, member] : v.get_object()) {
        const std::string member_path = Child(Child(path, "M"), name);
        if (name != "id" && name != "type" && name != "name") {
          return RecordError(member_path,
                             "an actor map has only the attributes id, type and name");
        }
        if (!member.is_object() || member.get_object().size() != 1 ||
            !member.get_object().contains("S") || !member.get_object().at("S").is_string()) {
          return RecordError(member_path, "actor " + std::string(name) +
                                              " must be a string (S) attribute");
        }
        actor[name] = member.get_object().at("S").get_string();
      }
      if (!actor.contains("id")) {
        return RecordError(Child(path, "M"), "an actor map needs an id attribute");
      }
      return actor;
    }
  }
  return RecordError(path, "the actor attribute '" + config.actor_attribute +
                               "' must be a string (S), a number (N), or a map (M) of id, type "
                               "and name");
}

}  // namespace

Result<json::value> DynamoDbNumberToJson(std::string_view text) {
  Result<Decimal> d = ParseDynamoDbNumber(text);
  if (!d.ok()) return d.status();
  return DecimalToJson(*d, text);
}

Result<json::value> AttributeValueToJson(const json::value& attribute, const std::string& path) {
  if (!attribute.is_object() || attribute.get_object().size() != 1) {
    return RecordError(path,
                       "an attribute value must be an object with exactly one type key (S, N, "
                       "B, BOOL, NULL, M, L, SS, NS or BS)");
  }
  const auto& [tag, v] = *attribute.get_object().begin();
  const std::string p = Child(path, tag);
  if (tag == "S") {
    if (!v.is_string()) return RecordError(p, std::string("S must be a string, not ") + TypeName(v));
    return json::value(v.get_string());
  }
  if (tag == "N") {
    if (!v.is_string()) {
      return RecordError(p, std::string("N must be a string (DynamoDB sends numbers as text), "
                                        "not ") + TypeName(v));
    }
    Result<json::value> number = DynamoDbNumberToJson(v.get_string());
    if (!number.ok()) return RecordError(p, number.status().message());
    return number;
  }
  if (tag == "B") {
    if (!v.is_string() || !IsBase64(v.get_string())) {
      return RecordError(p, "B must be a base64 string (RFC 4648, padded)");
    }
    return json::value(v.get_string());
  }
  if (tag == "BOOL") {
    if (!v.is_bool()) return RecordError(p, std::string("BOOL must be a boolean, not ") + TypeName(v));
    return json::value(v.get_bool());
  }
  if (tag == "NULL") {
    if (!v.is_bool() || !v.get_bool()) return RecordError(p, "NULL must be true");
    return json::value(nullptr);
  }
  if (tag == "M") {
    Result<json::object> map = ImageToJson(v, p);
    if (!map.ok()) return map.status();
    return json::value(std::move(map).value());
  }
  if (tag == "L") {
    if (!v.is_array()) return RecordError(p, std::string("L must be an array, not ") + TypeName(v));
    json::array out;
    out.reserve(v.get_array().size());
    for (size_t i = 0; i < v.get_array().size(); ++i) {
      Result<json::value> item = AttributeValueToJson(v.get_array()[i], Child(p, i));
      if (!item.ok()) return item.status();
      out.push_back(std::move(item).value());
    }
    return json::value(std::move(out));
  }
  if (tag == "SS" || tag == "NS" || tag == "BS") {
    Result<json::array> set = ConvertSet(v, tag, p);
    if (!set.ok()) return set.status();
    return json::value(std::move(set).value());
  }
  return RecordError(p, "unknown attribute type '" + std::string(tag.substr(0, 32)) +
                            "' (expected S, N, B, BOOL, NULL, M, L, SS, NS or BS)");
}

Result<json::object> ImageToJson(const json::value& image, const std::string& path) {
  if (!image.is_object()) {
    return RecordError(path, std::string("an item image must be an object of attributes, not ") +
                                 TypeName(image));
  }
  json::object out;
  out.reserve(image.get_object().size());
  for (const auto& [name, attribute] : image.get_object()) {
    Result<json::value> v = AttributeValueToJson(attribute, Child(path, name));
    if (!v.ok()) return v.status();
    out[name] = std::move(v).value();
  }
  return out;
}

Result<MappedRecord> MapDynamoDbRecord(const json::object& record,
                                       const DynamoDbSourceConfig& config,
                                       const std::string& path) {
  const json::value* event_id = record.if_contains("eventID");
  if (event_id == nullptr || !event_id->is_string() || !ValidRecordId(event_id->get_string())) {
    return RecordError(Child(path, "eventID"),
                       "eventID must be 1 to 256 printable ASCII characters without spaces");
  }
  const json::value* event_name = record.if_contains("eventName");
  std::string_view name = event_name != nullptr && event_name->is_string()
                              ? std::string_view(event_name->get_string())
                              : std::string_view();
  const char* op = nullptr;
  const char* suffix = nullptr;
  if (name == "INSERT") {
    op = "create";
    suffix = ".created";
  } else if (name == "MODIFY") {
    op = "update";
    suffix = ".updated";
  } else if (name == "REMOVE") {
    op = "delete";
    suffix = ".deleted";
  } else {
    return RecordError(Child(path, "eventName"), "eventName must be INSERT, MODIFY or REMOVE");
  }
  const std::string ddb_path = Child(path, "dynamodb");
  const json::object& ddb = record.at("dynamodb").get_object();  // checked by the envelope
  const std::string sequence_number(ddb.at("SequenceNumber").get_string());

  // Images: INSERT has NewImage, MODIFY both, REMOVE OldImage (stream view type
  // NEW_AND_OLD_IMAGES).
  const json::value* new_image = ddb.if_contains("NewImage");
  const json::value* old_image = ddb.if_contains("OldImage");
  const bool needs_new = name != "REMOVE";
  const bool needs_old = name != "INSERT";
  if ((needs_new && new_image == nullptr) || (needs_old && old_image == nullptr)) {
    const json::value* view = ddb.if_contains("StreamViewType");
    std::string view_text = view != nullptr && view->is_string()
                                ? std::string(view->get_string())
                                : std::string("not given");
    const char* missing = needs_new && new_image == nullptr ? "NewImage" : "OldImage";
    std::string need = name == "INSERT"   ? "NewImage"
                       : name == "REMOVE" ? "OldImage"
                                          : "OldImage and NewImage";
    return RecordError(Child(ddb_path, missing),
                       "a " + std::string(name) + " record needs " + need +
                           ", and this one has no " + missing +
                           ": the table's stream must use the view type NEW_AND_OLD_IMAGES "
                           "(this record's: " + view_text + ")");
  }
  json::object changes;
  changes["op"] = op;
  if (needs_old) {
    Result<json::object> before = ImageToJson(*old_image, Child(ddb_path, "OldImage"));
    if (!before.ok()) return before.status();
    changes["before"] = std::move(before).value();
  }
  if (needs_new) {
    Result<json::object> after = ImageToJson(*new_image, Child(ddb_path, "NewImage"));
    if (!after.ok()) return after.status();
    changes["after"] = std::move(after).value();
  }
  // The image that describes the item as of this change.
  const json::value* image = needs_new ? new_image : old_image;
  const std::string image_path = Child(ddb_path, needs_new ? "NewImage" : "OldImage");

  Result<TimestampUs> occurred_at = CreationTime(ddb, ddb_path);
  if (!occurred_at.ok()) return occurred_at.status();

  const json::value* keys_value = ddb.if_contains("Keys");
  const std::string keys_path = Child(ddb_path, "Keys");
  if (keys_value == nullptr || !keys_value->is_object() || keys_value->get_object().empty()) {
    return RecordError(keys_path, "Keys must be a non-empty map of the item's key attributes");
  }
  const json::object& keys = keys_value->get_object();

  // Organization.
  std::string organization = config.organization;
  if (organization.empty()) {
    const json::value* attr = Attribute(image, config.organization_attribute);
    if (attr == nullptr) {
      return RecordError(image_path, "the item has no attribute '" +
                                         config.organization_attribute +
                                         "' (the source's organization_attribute)");
    }
    const std::string attr_path = Child(image_path, config.organization_attribute);
    if (!attr->is_object() || attr->get_object().size() != 1 ||
        !attr->get_object().contains("S") || !attr->get_object().at("S").is_string()) {
      return RecordError(attr_path, "the organization attribute '" +
                                        config.organization_attribute +
                                        "' must be a string (S) attribute");
    }
    organization = attr->get_object().at("S").get_string();
    if (organization.empty()) {
      return RecordError(attr_path, "the organization attribute '" +
                                        config.organization_attribute + "' is empty");
    }
  }

  // Target type.
  std::string type = config.target_type;
  if (type.empty()) {
    const json::value* key = keys.if_contains(config.type_from_key);
    const std::string key_path = Child(keys_path, config.type_from_key);
    if (key == nullptr) {
      return RecordError(keys_path, "the record has no key attribute '" + config.type_from_key +
                                        "' (the source's type_from_key)");
    }
    if (!key->is_object() || key->get_object().size() != 1 ||
        !key->get_object().contains("S") || !key->get_object().at("S").is_string()) {
      return RecordError(key_path, "the key attribute '" + config.type_from_key +
                                       "' (type_from_key) must be a string (S)");
    }
    std::string_view value = key->get_object().at("S").get_string();
    type = std::string(value.substr(0, value.find('#')));
    if (type.empty()) {
      return RecordError(Child(key_path, "S"),
                         "the key value has no type before its first '#' (type_from_key)");
    }
  }

  // Target id: the key values, escaped and joined with ':'.
  std::string id;
  std::vector<std::string> id_keys = config.id_from_keys;
  if (id_keys.empty()) {
    for (const auto& [k, v] : keys) id_keys.emplace_back(k);
  }
  for (size_t i = 0; i < id_keys.size(); ++i) {
    const json::value* key = keys.if_contains(id_keys[i]);
    if (key == nullptr) {
      return RecordError(keys_path, "the record has no key attribute '" + id_keys[i] +
                                        "' (the source's id_from_keys)");
    }
    Result<std::string> text = KeyText(*key, Child(keys_path, id_keys[i]));
    if (!text.ok()) return text.status();
    if (i) id += ':';
    id += EscapeItemIdPart(*text);
  }

  Result<json::object> actor = Actor(config, record, name == "REMOVE", image, image_path);
  if (!actor.ok()) return actor.status();

  std::string action = type;
  for (char& c : action) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  action += suffix;

  MappedRecord out;
  out.event["organization_id"] = organization;
  out.event["action"] = action;
  out.event["occurred_at"] = FormatRfc3339Micros(*occurred_at);
  out.event["actor"] = std::move(actor).value();
  json::object target;
  target["type"] = type;
  target["id"] = id;
  out.event["targets"] = json::array{std::move(target)};
  out.event["changes"] = std::move(changes);

  json::object source;
  source["kind"] = "dynamodb";
  source["name"] = config.name;
  source["event_id"] = event_id->get_string();
  source["sequence_number"] = sequence_number;
  const json::value* arn = record.if_contains("eventSourceARN");
  const std::string table =
      arn != nullptr && arn->is_string() ? TableFromArn(arn->get_string()) : std::string();
  if (!table.empty()) source["table"] = table;
  out.source_json = Canonical(source);
  out.idempotency_key = "dynamodb " + config.name + " " + std::string(event_id->get_string());
  std::string stream =
      arn != nullptr && arn->is_string() ? std::string(arn->get_string()) : std::string();
  out.ordering_key = stream.substr(0, stream.find("/stream/")) + " " + Canonical(*keys_value);
  return out;
}

Result<LambdaBatch> DecodeDynamoDbEvent(std::string_view body, const DynamoDbSourceConfig& config,
                                        const EventLimits& limits,
                                        const SourceBatchContext& context) {
  // Typed images nest two JSON levels per DynamoDB level, inside the record's own levels.
  const size_t depth = std::min(kMaxSupportedJsonDepth, limits.max_depth * 2 + 8);
  Result<json::value> parsed = ParseStrictJson(body, depth);
  if (!parsed.ok()) return parsed.status();
  if (!parsed->is_object()) {
    return EnvelopeError("", "the body must be a DynamoDB stream event as AWS Lambda receives "
                             "it: {\"Records\": [...]}");
  }
  const json::value* records = parsed->get_object().if_contains("Records");
  if (records == nullptr) {
    return EnvelopeError("/Records", "the body has no Records: it must be a DynamoDB stream "
                                     "event as AWS Lambda receives it, {\"Records\": [...]}");
  }
  if (!records->is_array()) {
    return EnvelopeError("/Records", "Records must be an array of stream records");
  }
  const json::array& list = records->get_array();
  // The envelope first: a body that is not a DynamoDB stream event stores nothing.
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = Child("/Records", i);
    if (!list[i].is_object()) return EnvelopeError(path, "a record must be an object");
    const json::object& r = list[i].get_object();
    const json::value* source = r.if_contains("eventSource");
    if (source != nullptr && source->is_string() && source->get_string() == "aws:sqs") {
      return EnvelopeError(Child(path, "eventSource"),
                           "this is an SQS event (eventSource aws:sqs); post it to "
                           "/v1/sources/sqs/{name}");
    }
    if (source == nullptr || !source->is_string() || source->get_string() != "aws:dynamodb") {
      return EnvelopeError(Child(path, "eventSource"),
                           "not a DynamoDB stream record: eventSource must be aws:dynamodb");
    }
    const json::value* ddb = r.if_contains("dynamodb");
    if (ddb == nullptr || !ddb->is_object()) {
      return EnvelopeError(Child(path, "dynamodb"), "a stream record needs its dynamodb object");
    }
    const json::value* seq = ddb->get_object().if_contains("SequenceNumber");
    if (seq == nullptr || !seq->is_string() || !ValidRecordId(seq->get_string())) {
      return EnvelopeError(Child(Child(path, "dynamodb"), "SequenceNumber"),
                           "a stream record needs its SequenceNumber (the id Lambda's partial "
                           "batch response names it by)");
    }
  }
  LambdaBatch batch;
  batch.records.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string path = Child("/Records", i);
    const json::object& r = list[i].get_object();
    LambdaRecord out;
    out.item_identifier = r.at("dynamodb").get_object().at("SequenceNumber").get_string();
    Result<MappedRecord> mapped = MapDynamoDbRecord(r, config, path);
    if (!mapped.ok()) {
      // Still keep the item's order when the record names its key.
      const json::value* keys = r.at("dynamodb").get_object().if_contains("Keys");
      const json::value* arn = r.if_contains("eventSourceARN");
      if (keys != nullptr) {
        std::string stream =
            arn != nullptr && arn->is_string() ? std::string(arn->get_string()) : std::string();
        out.ordering_key = stream.substr(0, stream.find("/stream/")) + " " + Canonical(*keys);
      }
      out.draft = mapped.status();
      batch.records.push_back(std::move(out));
      continue;
    }
    out.ordering_key = std::move(mapped->ordering_key);
    SourceDraftSpec spec;
    spec.source_json = std::move(mapped->source_json);
    spec.idempotency_key = std::move(mapped->idempotency_key);
    spec.idempotency_ttl_us = context.idempotency_ttl_us;
    spec.now = context.now;
    Result<EventDraft> draft = MakeSourceDraft(json::value(std::move(mapped->event)), limits, spec);
    if (!draft.ok()) {
      std::vector<ErrorDetail> details;
      for (const ErrorDetail& d : draft.status().details()) {
        details.push_back({path, "the event this record maps to is invalid at " +
                                     (d.path.empty() ? std::string("/") : d.path) + ": " +
                                     d.message});
      }
      std::string message = details.empty() ? draft.status().message() : details.front().message;
      out.draft = Status(draft.status().code(), draft.status().error_code(), std::move(message),
                         std::move(details));
    } else {
      out.draft = std::move(draft);
    }
    batch.records.push_back(std::move(out));
  }
  return batch;
}

}  // namespace annals
