#include "cli/output.h"

#include <algorithm>
#include <cstdio>
#include <boost/json.hpp>
#include <iostream>

#include "domain/canonical_json.h"

namespace annals {

namespace {

// Display width, taken as the number of code points.
size_t Width(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

int Fail(const std::string& sentence) {
  std::cerr << "annals: " << sentence << "\n";
  return 1;
}

int UsageError(const std::string& sentence) {
  std::cerr << "annals: " << sentence << " (see --help)\n";
  return 2;
}

std::optional<boost::json::value> CallJson(HttpClient& http, const std::string& method,
                                           const std::string& path, long expected,
                                           const std::string& json_body) {
  Result<ClientResponse> r =
      http.Send(method, path, json_body, json_body.empty() ? "" : "application/json");
  if (!r.ok()) {
    Fail(r.status().message());
    return std::nullopt;
  }
  if (r->status != expected) {
    Fail(DescribeError(*r));
    return std::nullopt;
  }
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(r->body, ec);
  if (ec || !v.is_object()) {
    Fail("the server answered " + method + " " + path.substr(0, path.find('?')) +
         " with a body that is not a JSON object");
    return std::nullopt;
  }
  return v;
}

std::optional<std::vector<boost::json::value>> ListAll(HttpClient& http, const std::string& path) {
  std::vector<boost::json::value> items;
  const std::string base =
      path + (path.find('?') == std::string::npos ? "?" : "&") + "limit=1000";
  std::string after;
  for (;;) {
    std::optional<boost::json::value> page =
        CallJson(http, "GET", after.empty() ? base : base + "&after=" + http.Escape(after), 200);
    if (!page) return std::nullopt;
    const boost::json::object& o = page->as_object();
    const auto* data = o.if_contains("data");
    const auto* meta = o.if_contains("list_metadata");
    if (data == nullptr || !data->is_array() || meta == nullptr || !meta->is_object()) {
      Fail("the server answered GET " + path.substr(0, path.find('?')) +
           " with a body that is not a list");
      return std::nullopt;
    }
    for (const auto& item : data->as_array()) {
      if (item.is_object()) items.push_back(item);
    }
    const auto* next = meta->as_object().if_contains("after");
    if (next == nullptr || !next->is_string()) break;
    after = std::string(next->as_string());
  }
  return items;
}

std::string Printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) {
      out += '?';
    } else if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(s[i + 1]) <= 0x9F) {
      out += '?';  // U+0080..U+009F, the C1 controls (CSI among them)
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Member(const boost::json::value& object, std::string_view key) {
  const boost::json::value* v = object.is_object() ? object.as_object().if_contains(key) : nullptr;
  if (v == nullptr || v->is_null()) return "-";
  if (v->is_string()) return Printable(v->as_string());
  return Printable(Canonical(*v));
}

std::string ShortTime(std::string s) {
  const size_t dot = s.find('.');
  if (dot != std::string::npos && !s.empty() && s.back() == 'Z') s.erase(dot, s.size() - 1 - dot);
  return s;
}

void Table::Print() const {
  std::vector<size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], Width(row[i]));
  }
  std::string out;
  for (const auto& row : rows_) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - Width(row[i]) + 2, ' ');
    }
    out += line + "\n";
  }
  std::cout << out << std::flush;
}

void PrintFields(const std::vector<std::pair<std::string, std::string>>& fields) {
  size_t width = 0;
  for (const auto& [label, value] : fields) width = std::max(width, label.size());
  for (const auto& [label, value] : fields) {
    std::cout << label << std::string(width - label.size() + 2, ' ') << value << "\n";
  }
  std::cout << std::flush;
}

void PrintJsonLine(const boost::json::value& v) { std::cout << Canonical(v) << "\n" << std::flush; }

std::string FormatRate(double count, double seconds) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.0f", seconds > 0 ? count / seconds : 0.0);
  return buf;
}

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  if (bytes < (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", static_cast<double>(bytes) / 1024.0);
  } else if (bytes < (uint64_t{1} << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1 << 30));
  }
  return buf;
}

}  // namespace annals
