// The `syslog` log-stream destination: RFC 5424 messages (see syslog_format.h) over TCP with
// octet-counting framing (RFC 6587), over TLS by default (RFC 5425).
//
// Stream config (JSON object; unknown keys are errors):
//   host      string, required: a DNS name or an IP literal (IPv6 with or without brackets);
//             no scheme, port or path.
//   port      integer 1-65535; default 6514 (syslog over TLS, RFC 5425) when tls is true.
//             Required when tls is false: plain TCP syslog has no single customary port (the
//             registered 601 and the de-facto 514 both occur), so annals does not guess.
//   tls       boolean, default true. The peer is always verified: its chain against ca_file /
//             ca_pem or the system trust store, and its name against `host` (DNS name, or IP
//             address SAN for an IP literal). SNI is sent for DNS names. TLS 1.2 or later.
//   ca_file   string: absolute path on the annals server of a PEM file of trusted CA
//             certificates (an operator setting). Only with tls.
//   ca_pem    string: PEM text of trusted CA certificates (for organization administrators,
//             who cannot place files on the server). Only with tls; not with ca_file.
//   app_name  string, 1-48 printable US-ASCII characters; default "annals".
//   facility  a name (kern user mail daemon auth syslog lpr news uucp cron authpriv ftp ntp
//             audit alert clock local0-local7) or an integer 0-23; default "local0".
//   hostname  string, 1-255 printable US-ASCII characters: the HOSTNAME field; default this
//             machine's host name.
// No field is secret (a CA certificate is public), so SyslogSecretFields() is empty.
//
// Delivery semantics: TCP syslog has no application-level acknowledgement. Deliver writes
// every frame of the batch and, with SyslogSinkOptions::wait_for_tcp_ack, waits until the
// receiver's TCP stack has acknowledged every byte; kDelivered means exactly that, not that
// the receiving application stored the messages. Any failure drops the connection and answers
// kRetry, and the engine then resends the whole batch on a new connection: at-least-once, so
// a receiver may see some messages of a batch twice (each carries the event id and seq in its
// structured data for de-duplication).
//
// Receiver sizing: a message is at most max_event_bytes() of JSON plus about 1 KiB of header
// and structured data. rsyslog's default maxMessageSize is 8 KiB, so an rsyslog receiver needs
// `global(maxMessageSize="128k")` (set before its inputs) to take the largest events whole.
#pragma once

#include <openssl/types.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "annals/clock.h"
#include "annals/status.h"
#include "sinks/address_policy.h"
#include "sinks/sink.h"
#include "sinks/syslog/syslog_format.h"

namespace annals::sinks {

inline constexpr uint16_t kSyslogTlsPort = 6514;

// A validated syslog stream config.
struct SyslogConfig {
  std::string host;
  uint16_t port = kSyslogTlsPort;
  bool tls = true;
  std::string ca_file;  // empty: not set
  std::string ca_pem;   // empty: not set
  std::string app_name = "annals";
  int facility = kSyslogDefaultFacility;
  std::string hostname;  // empty: this machine's host name
};

// Validates a stream's `config` object. Errors: kInvalidArgument with error code
// "invalid_stream_config", a message naming the first problem, and one ErrorDetail per problem
// with its path ("/config/port"). Pure: reads no files (a missing ca_file is reported by the
// sink when it connects).
Result<SyslogConfig> ParseSyslogConfig(const boost::json::value& config);

// The config fields that hold secrets (redacted when a stream is shown): none.
const std::vector<std::string>& SyslogSecretFields();

struct SyslogSinkOptions {
  // Bound on the TCP connect (per resolved address) and, separately, on the TLS handshake.
  std::chrono::milliseconds connect_timeout{10000};
  // Bound on one Deliver's writes and acknowledgement wait together; size it for the engine's
  // largest batch at the slowest acceptable link speed.
  std::chrono::milliseconds write_timeout{30000};
  // Wait until the receiver's TCP stack acknowledged every byte before answering kDelivered.
  bool wait_for_tcp_ack = true;
  // A connection idle longer than this (by the injected Clock) is replaced before use: NATs
  // and firewalls drop idle flows silently, and bytes written into a dropped flow are lost.
  std::chrono::milliseconds max_idle{std::chrono::minutes(5)};
  // The largest event JSON sent (max_event_bytes()).
  size_t max_event_bytes = 64 * 1024;
};

// A syslog destination holding one persistent connection, opened on first use and reopened
// after any failure. Every (re)connection resolves `host` through the AddressPolicy and
// connects only to the addresses it allowed (ConnectTcp), so the address checked is the one
// connected to.
//
// Outcomes: kDelivered (see above); kRetry for a connect, handshake I/O, write, acknowledgement
// or timeout failure; kFailed when the stream itself cannot work: destination_not_allowed,
// destination_unresolvable, an unreadable ca_file or ca_pem, certificate or host name
// verification failure, a TLS protocol failure (e.g. no common protocol version); kRejected
// for an event over max_event_bytes (the engine dead-letters such events before sending).
//
// Not thread-safe: one thread at a time (the engine's contract for Deliver). SIGPIPE is
// blocked for the calling thread during I/O, so a closed peer never kills the process.
class SyslogSink final : public Sink {
 public:
  // `policy` and `clock` are not owned and must outlive the sink. Connects lazily.
  SyslogSink(SyslogConfig config, const AddressPolicy* policy, const Clock* clock,
             SyslogSinkOptions options = {});
  ~SyslogSink() override;
  SyslogSink(const SyslogSink&) = delete;
  SyslogSink& operator=(const SyslogSink&) = delete;

  DeliveryResult Deliver(const SinkBatch& batch) override;
  size_t max_event_bytes() const override { return options_.max_event_bytes; }

  // Connections established so far (for metrics and tests).
  uint64_t connections_opened() const { return connections_opened_; }
  // Whether a connection is currently held.
  bool connected() const { return fd_ >= 0; }

 private:
  // I/O timeouts are real time (steady clock); the injected Clock only measures idleness.
  using Deadline = std::chrono::steady_clock::time_point;
  // Each step returns nullopt on success, or the attempt's result after dropping the
  // connection.
  using StepResult = std::optional<DeliveryResult>;

  DeliveryResult Fail(DeliveryOutcome outcome, std::string detail);
  // Drops the held connection when the peer closed it or it sat idle past max_idle.
  void DropIfStale();
  StepResult Connect();
  StepResult Handshake(Deadline deadline);
  Status LoadTrustAnchors();
  StepResult WriteAll(std::string_view data, Deadline deadline);
  StepResult AwaitAcknowledgement(Deadline deadline);
  // Releases the connection; sends a TLS close_notify first when `notify_peer` (only after no
  // fatal error).
  void Close(bool notify_peer);
  std::string Where() const;

  SyslogConfig config_;
  const AddressPolicy* policy_;
  const Clock* clock_;
  SyslogSinkOptions options_;
  SyslogHeader header_;

  SSL_CTX* ctx_ = nullptr;  // owned; created on the first TLS connect
  SSL* ssl_ = nullptr;      // owned; set while a TLS connection is held
  int fd_ = -1;             // owned; the connected socket (non-blocking), -1 when none
  std::string peer_;        // numeric address of the held connection
  TimestampUs last_used_ = 0;
  uint64_t connections_opened_ = 0;
};

}  // namespace annals::sinks
