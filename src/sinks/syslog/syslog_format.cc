#include "sinks/syslog/syslog_format.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <climits>

#include "domain/time.h"

namespace annals::sinks {
namespace {

constexpr std::string_view kNil = "-";
constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD

constexpr std::array<std::string_view, 24> kFacilityNames = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog", "lpr",    "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "audit",  "alert",  "clock",
    "local0", "local1", "local2",   "local3", "local4", "local5", "local6", "local7"};

bool IsPrintUsAscii(unsigned char c) { return c >= 33 && c <= 126; }

// The length of the well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF) that starts at s[i], or 0 when s[i] does not start one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  size_t len = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

void AppendDecimal(uint64_t v, std::string* out) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

void AppendParam(std::string_view name, std::string_view value, std::string* out) {
  out->push_back(' ');
  out->append(name);
  out->append("=\"");
  AppendSyslogParamValue(value, out);
  out->push_back('"');
}

}  // namespace

std::optional<int> SyslogFacilityFromName(std::string_view name) {
  for (size_t i = 0; i < kFacilityNames.size(); ++i) {
    if (kFacilityNames[i] == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

std::string SanitizeSyslogToken(std::string_view value, size_t max_octets) {
  std::string out;
  out.reserve(std::min(value.size(), max_octets));
  for (size_t i = 0; i < value.size() && out.size() < max_octets;) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    if (IsPrintUsAscii(c)) {
      out.push_back(static_cast<char>(c));
      ++i;
      continue;
    }
    out.push_back('_');
    const size_t len = Utf8SequenceLength(value, i);
    i += len == 0 ? 1 : len;
  }
  if (out.empty()) out = kNil;
  return out;
}

bool IsSyslogToken(std::string_view value, size_t max_octets) {
  if (value.empty() || value.size() > max_octets) return false;
  for (const char c : value) {
    if (!IsPrintUsAscii(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

std::string LocalSyslogHostname() {
  char buf[HOST_NAME_MAX + 1] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0) return std::string(kNil);
  return SanitizeSyslogToken(buf, kSyslogMaxHostname);
}

void AppendSyslogParamValue(std::string_view value, std::string* out) {
  for (size_t i = 0; i < value.size();) {
    const char c = value[i];
    if (c == '"' || c == '\\' || c == ']') {
      out->push_back('\\');
      out->push_back(c);
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(value, i);
    if (len == 0) {
      out->append(kReplacementChar);
      ++i;
    } else {
      out->append(value.substr(i, len));
      i += len;
    }
  }
}

void AppendSyslogMessage(const SyslogHeader& header, std::string_view organization_id,
                         const SinkEvent& event, std::string* out) {
  out->push_back('<');
  AppendDecimal(static_cast<uint64_t>(header.facility * 8 + kSyslogSeverity), out);
  out->append(">1 ");

  char time_buf[kMaxRfc3339Bytes];
  const std::string_view occurred(time_buf,
                                  WriteRfc3339Micros(event.occurred_at, time_buf) - time_buf);
  // FULL-DATE has a 4-digit year: expanded years (with a sign) cannot be sent.
  const bool representable =
      !occurred.empty() && occurred.front() != '+' && occurred.front() != '-';
  out->append(representable ? occurred : kNil);
  out->push_back(' ');
  out->append(header.hostname);
  out->push_back(' ');
  out->append(header.app_name);
  out->append(" - ");
  out->append(SanitizeSyslogToken(event.action, kSyslogMaxMsgId));

  out->append(" [");
  out->append(kSyslogSdId);
  AppendParam("id", event.id, out);
  char seq_buf[24];
  const auto seq_end = std::to_chars(seq_buf, seq_buf + sizeof seq_buf, event.seq).ptr;
  AppendParam("seq", std::string_view(seq_buf, seq_end - seq_buf), out);
  AppendParam("organization_id", organization_id, out);
  AppendParam("action", event.action, out);
  AppendParam("occurred_at", occurred, out);
  char received_buf[kMaxRfc3339Bytes];
  const std::string_view received(
      received_buf, WriteRfc3339Micros(event.received_at, received_buf) - received_buf);
  AppendParam("received_at", received, out);
  out->push_back(']');

  if (!event.json.empty()) {
    out->push_back(' ');
    out->append(kBom);
    out->append(event.json);
  }
}

std::string FormatSyslogMessage(const SyslogHeader& header, std::string_view organization_id,
                                const SinkEvent& event) {
  std::string out;
  out.reserve(event.json.size() + 256);
  AppendSyslogMessage(header, organization_id, event, &out);
  return out;
}

void AppendOctetCountedFrame(std::string_view message, std::string* out) {
  AppendDecimal(message.size(), out);
  out->push_back(' ');
  out->append(message);
}

}  // namespace annals::sinks
