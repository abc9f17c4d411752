// Test support for the syslog destination: a throw-away PKI, a real rsyslogd started on free
// loopback ports with a generated config, and an independent RFC 5424 reader used to check
// what the receiver wrote.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace annals::sinks::syslog_testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& contents);
// The file's contents, or "" when it does not exist.
std::string ReadFile(const std::string& path);

struct PemPair {
  std::string cert;
  std::string key;
};

// A CA and server certificates it issued (P-256 keys, SHA-256, valid from an hour ago for
// 30 days). The server certificate names DNS:localhost, IP:127.0.0.1 and IP:::1.
struct TestPki {
  PemPair ca;
  PemPair server;
  PemPair other_ca;           // an unrelated CA (for wrong-CA tests)
  PemPair wrong_name_server;  // issued by `ca` for DNS:wrong.example.com only
};
TestPki MakeTestPki();

// A loopback TCP port that was free a moment ago.
uint16_t PickFreePort();

// A real rsyslogd (foreground, its own config, pid file and work directory; imuxsock and
// imklog not loaded, internal messages processed by itself), listening on 127.0.0.1:
// tcp_port (plain imtcp), tls_port (ossl driver, anonymous clients, `server` certificate) and
// wrong_name_port (ossl, `wrong_name_server` certificate). Every received message goes to
// raw.log as "%rawmsg%" and to parsed.log as one JSON object of rsyslog's parsed fields.
// The destructor stops the process.
class RsyslogServer {
 public:
  // The rsyslogd binary, or "" when rsyslog is not installed.
  static std::string Binary();

  RsyslogServer(std::string dir, const TestPki& pki);
  ~RsyslogServer();
  RsyslogServer(const RsyslogServer&) = delete;
  RsyslogServer& operator=(const RsyslogServer&) = delete;

  // Picks free ports, writes the config, starts rsyslogd and waits until it listens
  // (retrying with other ports when one was taken meanwhile).
  ::testing::AssertionResult Start();
  // Starts again on the same ports after Stop().
  ::testing::AssertionResult Restart();
  // SIGTERM, then SIGKILL after 10 s; waits for the process. Idempotent.
  void Stop();

  uint16_t tcp_port() const { return tcp_port_; }
  uint16_t tls_port() const { return tls_port_; }
  uint16_t wrong_name_port() const { return wrong_name_port_; }
  const std::string& ca_file() const { return ca_file_; }
  const std::string& other_ca_file() const { return other_ca_file_; }

  // The lines of raw.log / parsed.log so far (without their '\n').
  std::vector<std::string> RawLines() const;
  std::vector<std::string> ParsedLines() const;
  // Waits until raw.log and parsed.log have at least `n` lines each; false at the deadline.
  bool WaitForLines(size_t n, std::chrono::milliseconds timeout) const;
  // rsyslogd's output and internal log, for failure messages.
  std::string Diagnostics() const;

 private:
  ::testing::AssertionResult Launch();
  bool Listening(uint16_t port) const;

  std::string dir_;
  std::string ca_file_, other_ca_file_;
  uint16_t tcp_port_ = 0, tls_port_ = 0, wrong_name_port_ = 0;
  pid_t pid_ = -1;
};

// A bare TCP listener on 127.0.0.1 (TLS when given an identity) that misbehaves on purpose:
// it accepts connections and either closes each one (after the TLS handshake) without reading,
// or holds it open without ever reading. Serves until destroyed.
class MisbehavingReceiver {
 public:
  enum class Mode { kCloseWithoutReading, kNeverRead };
  MisbehavingReceiver(Mode mode, const PemPair* tls_identity);
  ~MisbehavingReceiver();
  MisbehavingReceiver(const MisbehavingReceiver&) = delete;
  MisbehavingReceiver& operator=(const MisbehavingReceiver&) = delete;
  uint16_t port() const { return port_; }

 private:
  void Serve();

  Mode mode_;
  void* tls_ctx_ = nullptr;  // SSL_CTX*
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<int> held_;  // kNeverRead connections, closed on destruction
  std::thread thread_;
};

// One RFC 5424 message split into its fields; parsed independently of the code under test.
struct ParsedSyslog {
  int pri = -1;
  int version = -1;
  std::string timestamp, hostname, app_name, procid, msgid;
  std::string sd_id;
  std::vector<std::pair<std::string, std::string>> params;  // unescaped values, in order
  bool bom = false;
  std::string msg;  // after the BOM
};
// nullopt when `message` is not an RFC 5424 message with one SD element.
std::optional<ParsedSyslog> ParseRfc5424(const std::string& message);

}  // namespace annals::sinks::syslog_testing
