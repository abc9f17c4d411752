// RFC 5424 syslog messages for log-stream events, framed for TCP by octet counting
// (RFC 6587 §3.4.1, which RFC 5425 mandates for TLS).
//
// One event becomes one message:
//
//   <PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [annals@32473 id="…" seq="…"
//   organization_id="…" action="…" occurred_at="…" received_at="…"] BOM JSON
//
//  * PRI = facility * 8 + 5: every audit event is sent with severity 5 (notice, "normal but
//    significant condition"); the facility comes from the stream's config (default local0).
//  * TIMESTAMP is the event's occurred_at (when the audited change happened, which is what a
//    SIEM orders and searches by), in RFC 3339 UTC with 6 fractional digits, exactly as the
//    event JSON carries it (RFC 5424 allows up to 6). received_at is in the structured data.
//    A time outside years 0000-9999 (never stored by annals) is sent as the NILVALUE "-".
//  * HOSTNAME and APP-NAME are given by the caller, already valid (see SanitizeSyslogToken).
//  * PROCID is always the NILVALUE "-".
//  * MSGID is the action made into a header token: every code point outside printable
//    US-ASCII (33-126) and every invalid UTF-8 byte becomes '_', the result is cut to 32
//    octets, and an empty action gives "-". The structured data carries the action intact.
//  * STRUCTURED-DATA is one element whose SD-ID `annals@32473` uses 32473, the enterprise
//    number RFC 5612 reserves for documentation and examples (annals has no IANA private
//    enterprise number of its own). PARAM-VALUEs escape '"', '\' and ']' with a backslash
//    (RFC 5424 §6.3.3); a PARAM-VALUE must be UTF-8, so invalid UTF-8 sequences are replaced
//    by U+FFFD (annals' validated ids and actions never contain any).
//  * MSG is the UTF-8 BOM followed by the event's canonical JSON, verbatim (JCS output is
//    valid UTF-8 and has no raw control characters, so it is one line). An event without
//    JSON is sent without MSG.
//
// All functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "sinks/sink.h"

namespace annals::sinks {

inline constexpr int kSyslogSeverity = 5;          // notice
inline constexpr int kSyslogDefaultFacility = 16;  // local0
inline constexpr std::string_view kSyslogSdId = "annals@32473";
inline constexpr size_t kSyslogMaxHostname = 255;
inline constexpr size_t kSyslogMaxAppName = 48;
inline constexpr size_t kSyslogMaxMsgId = 32;

// The header fields that are the same for every message of a stream.
struct SyslogHeader {
  int facility = kSyslogDefaultFacility;  // 0-23
  std::string hostname = "-";             // NILVALUE or 1-255 printable US-ASCII octets
  std::string app_name = "annals";        // NILVALUE or 1-48 printable US-ASCII octets
};

// The facility code for a name: kern user mail daemon auth syslog lpr news uucp cron authpriv
// ftp ntp audit alert clock local0 … local7 (RFC 5424 table 1 order, 0-23); nullopt for
// anything else. Names are lowercase.
std::optional<int> SyslogFacilityFromName(std::string_view name);

// `value` as a syslog header token: each code point outside printable US-ASCII and each
// invalid UTF-8 byte becomes '_', the result is cut to `max_octets`, and an empty result is
// the NILVALUE "-".
std::string SanitizeSyslogToken(std::string_view value, size_t max_octets);

// True when `value` is 1-`max_octets` printable US-ASCII octets (a valid header token).
bool IsSyslogToken(std::string_view value, size_t max_octets);

// This machine's host name (gethostname) as a HOSTNAME token; "-" when it has none.
std::string LocalSyslogHostname();

// Appends `value` as an RFC 5424 PARAM-VALUE (without the surrounding quotes).
void AppendSyslogParamValue(std::string_view value, std::string* out);

// Appends the RFC 5424 message for `event` of organization `organization_id`.
void AppendSyslogMessage(const SyslogHeader& header, std::string_view organization_id,
                         const SinkEvent& event, std::string* out);
std::string FormatSyslogMessage(const SyslogHeader& header, std::string_view organization_id,
                                const SinkEvent& event);

// Appends `message` framed by octet counting: "MSG-LEN SP SYSLOG-MSG" (RFC 6587 §3.4.1).
void AppendOctetCountedFrame(std::string_view message, std::string* out);

}  // namespace annals::sinks
