#include "domain/json_patch.h"

#include <algorithm>
#include <string>
#include <vector>

#include "domain/canonical_json.h"
#include "domain/json.h"

namespace annals {

namespace {

bool SameNumber(const boost::json::value& a, const boost::json::value& b) {
  if (!a.is_number() || !b.is_number()) return false;
  if (a.is_double() || b.is_double()) return a.to_number<double>() == b.to_number<double>();
  if (a.is_int64() && b.is_int64()) return a.as_int64() == b.as_int64();
  if (a.is_uint64() && b.is_uint64()) return a.as_uint64() == b.as_uint64();
  const auto& i = a.is_int64() ? a : b;
  const auto& u = a.is_int64() ? b : a;
  return i.as_int64() >= 0 && static_cast<uint64_t>(i.as_int64()) == u.as_uint64();
}

bool Equal(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() && b.is_number()) return SameNumber(a, b);
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& x = a.as_object();
    const auto& y = b.as_object();
    if (x.size() != y.size()) return false;
    for (const auto& m : x) {
      const auto* other = y.if_contains(m.key());
      if (other == nullptr || !Equal(m.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.as_array();
    const auto& y = b.as_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!Equal(x[i], y[i])) return false;
    }
    return true;
  }
  return a == b;
}

void Op(boost::json::array* out, const char* op, const std::string& path,
        const boost::json::value* value) {
  boost::json::object o;
  o["op"] = op;
  o["path"] = path;
  if (value != nullptr) o["value"] = *value;
  out->push_back(std::move(o));
}

std::vector<std::string_view> SortedKeys(const boost::json::object& o) {
  std::vector<std::string_view> keys;
  for (const auto& m : o) keys.push_back(m.key());
  std::sort(keys.begin(), keys.end(), JcsKeyLess);
  return keys;
}

void Diff(const boost::json::value& from, const boost::json::value& to, const std::string& path,
          boost::json::array* out) {
  if (from.is_object() && to.is_object()) {
    const auto& a = from.as_object();
    const auto& b = to.as_object();
    std::vector<std::string_view> keys = SortedKeys(a);
    for (std::string_view k : SortedKeys(b)) {
      if (!a.contains(k)) keys.push_back(k);
    }
    std::sort(keys.begin(), keys.end(), JcsKeyLess);
    for (std::string_view k : keys) {
      std::string child = path;
      AppendJsonPointerToken(k, &child);
      const auto* x = a.if_contains(k);
      const auto* y = b.if_contains(k);
      if (x == nullptr) {
        Op(out, "add", child, y);
      } else if (y == nullptr) {
        Op(out, "remove", child, nullptr);
      } else {
        Diff(*x, *y, child, out);
      }
    }
    return;
  }
  if (from.is_array() && to.is_array() && from.as_array().size() == to.as_array().size()) {
    const auto& a = from.as_array();
    const auto& b = to.as_array();
    for (size_t i = 0; i < a.size(); ++i) {
      std::string child = path;
      AppendJsonPointerIndex(i, &child);
      Diff(a[i], b[i], child, out);
    }
    return;
  }
  if (!Equal(from, to)) Op(out, "replace", path, &to);
}

// Unescapes one RFC 6901 token.
std::string Unescape(std::string_view token) {
  std::string out;
  for (size_t i = 0; i < token.size(); ++i) {
    if (token[i] == '~' && i + 1 < token.size()) {
      out.push_back(token[i + 1] == '1' ? '/' : '~');
      ++i;
    } else {
      out.push_back(token[i]);
    }
  }
  return out;
}

}  // namespace

boost::json::array JsonPatch(const boost::json::value& from, const boost::json::value& to) {
  boost::json::array out;
  Diff(from, to, "", &out);
  return out;
}

bool ApplyJsonPatch(const boost::json::array& patch, boost::json::value* doc) {
  for (const auto& opv : patch) {
    if (!opv.is_object()) return false;
    const auto& op = opv.as_object();
    const auto* name = op.if_contains("op");
    const auto* path = op.if_contains("path");
    if (name == nullptr || path == nullptr || !name->is_string() || !path->is_string()) return false;
    const std::string_view p = path->as_string();
    const std::string_view kind = name->as_string();
    if (p.empty()) {
      if (kind == "remove") return false;
      *doc = op.at("value");
      continue;
    }
    // Walk to the parent.
    boost::json::value* parent = doc;
    size_t start = 1;
    std::string last;
    for (;;) {
      const size_t slash = p.find('/', start);
      const std::string token = Unescape(p.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
      if (slash == std::string_view::npos) {
        last = token;
        break;
      }
      if (parent->is_object()) {
        auto* next = parent->as_object().if_contains(token);
        if (next == nullptr) return false;
        parent = next;
      } else if (parent->is_array()) {
        const size_t i = std::stoul(token);
        if (i >= parent->as_array().size()) return false;
        parent = &parent->as_array()[i];
      } else {
        return false;
      }
      start = slash + 1;
    }
    if (parent->is_object()) {
      auto& o = parent->as_object();
      if (kind == "remove") {
        if (o.erase(last) == 0) return false;
      } else if (kind == "add" || (kind == "replace" && o.contains(last))) {
        o[last] = op.at("value");
      } else {
        return false;
      }
    } else if (parent->is_array()) {
      auto& a = parent->as_array();
      const size_t i = std::stoul(last);
      if (kind == "replace" && i < a.size()) {
        a[i] = op.at("value");
      } else if (kind == "remove" && i < a.size()) {
        a.erase(a.begin() + static_cast<std::ptrdiff_t>(i));
      } else if (kind == "add" && i <= a.size()) {
        a.insert(a.begin() + static_cast<std::ptrdiff_t>(i), op.at("value"));
      } else {
        return false;
      }
    } else {
      return false;
    }
  }
  return true;
}

}  // namespace annals
