#include "sinks/syslog/syslog_sink.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>
#include <utility>

namespace annals::sinks {
namespace {

constexpr char kConfigError[] = "invalid_stream_config";
constexpr size_t kMaxCaPemBytes = 256 * 1024;
constexpr size_t kMaxPathBytes = 4096;
constexpr size_t kMaxDetailBytes = 1000;

// ---- config ---------------------------------------------------------------------------------

std::string PointerFor(std::string_view key) {
  std::string out = "/config/";
  for (const char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The host without the brackets of a bracketed IPv6 literal.
std::string_view BareHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsIpLiteral(std::string_view bare) {
  const std::string s(bare);
  in6_addr a6{};
  in_addr a4{};
  return inet_pton(AF_INET6, s.c_str(), &a6) == 1 || inet_pton(AF_INET, s.c_str(), &a4) == 1;
}

// A DNS name (letters, digits, '-', '_' and dots; labels of 1-63 characters; at most 253 in
// all, a trailing dot allowed) or an IP literal. Names getaddrinfo reads as numbers (such as
// 2130706433) pass here and are judged by the address policy after resolution.
bool IsValidHost(std::string_view host) {
  if (host.empty()) return false;
  const std::string_view bare = BareHost(host);
  if (bare.size() != host.size()) {
    const std::string s(bare);
    in6_addr a6{};
    return inet_pton(AF_INET6, s.c_str(), &a6) == 1;
  }
  if (IsIpLiteral(host)) return true;
  std::string_view name = host;
  if (name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  size_t label = 0;
  for (const char c : name) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label > 0 && name.front() != '-';
}

// Reads the PEM certificates in `pem` into `store` (when given); returns how many there were,
// or -1 when the text holds anything that is not a well-formed certificate.
int ReadPemCertificates(std::string_view pem, X509_STORE* store) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return -1;
  int count = 0;
  for (;;) {
    X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    if (cert == nullptr) break;
    if (store != nullptr && X509_STORE_add_cert(store, cert) != 1) {
      X509_free(cert);
      count = -1;
      break;
    }
    X509_free(cert);
    ++count;
  }
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a malformed block.
  const unsigned long err = ERR_peek_last_error();
  if (count > 0 && err != 0 &&
      !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    count = -1;
  }
  ERR_clear_error();
  BIO_free(bio);
  return count;
}

std::string OpenSslError() {
  const unsigned long err = ERR_peek_last_error();
  ERR_clear_error();
  if (err == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(err, buf, sizeof buf);
  return buf;
}

// ---- I/O helpers ----------------------------------------------------------------------------

// Blocks SIGPIPE in the calling thread for its lifetime and discards a SIGPIPE raised
// meanwhile (OpenSSL writes with write(2), which has no MSG_NOSIGNAL), unless one was already
// pending before.
class ScopedSigpipeBlock {
 public:
  ScopedSigpipeBlock() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    sigset_t pending;
    sigemptyset(&pending);
    was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
    blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
  }
  ~ScopedSigpipeBlock() {
    if (!blocked_) return;
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      if (sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
        const timespec zero{};
        while (sigtimedwait(&pipe_, nullptr, &zero) < 0 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  ScopedSigpipeBlock(const ScopedSigpipeBlock&) = delete;
  ScopedSigpipeBlock& operator=(const ScopedSigpipeBlock&) = delete;

 private:
  sigset_t pipe_{};
  sigset_t old_{};
  bool was_pending_ = false;
  bool blocked_ = false;
};

int RemainingMs(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, INT32_MAX));
}

// Waits until `fd` is ready for `events` (or has an error, which the next I/O call reports).
// False when the deadline passed first or poll failed.
bool WaitReady(int fd, short events, std::chrono::steady_clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int rc = poll(&p, 1, RemainingMs(deadline));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return false;
  }
}

std::string SocketErrorText(int fd) {
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err == 0) {
    return "connection closed by the receiver";
  }
  return std::strerror(err);
}

std::string PeerText(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return {};
  char buf[INET6_ADDRSTRLEN] = {0};
  if (addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr)->sin_addr, buf, sizeof buf);
  } else if (addr.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr, buf, sizeof buf);
  }
  return buf;
}

}  // namespace

// ---- config ---------------------------------------------------------------------------------

Result<SyslogConfig> ParseSyslogConfig(const boost::json::value& config) {
  std::vector<ErrorDetail> problems;
  const auto problem = [&](std::string path, std::string message) {
    problems.push_back(ErrorDetail{std::move(path), std::move(message)});
  };
  const boost::json::object* obj = config.if_object();
  if (obj == nullptr) {
    return Status::InvalidArgument("the syslog stream config must be a JSON object", kConfigError,
                                   {ErrorDetail{"/config", "must be a JSON object"}});
  }

  SyslogConfig out;
  bool port_given = false;
  for (const auto& [key_view, v] : *obj) {
    const std::string_view key(key_view.data(), key_view.size());
    const std::string path = PointerFor(key);
    if (key == "host") {
      if (!v.is_string() || !IsValidHost(std::string_view(v.get_string()))) {
        problem(path,
                "must be a DNS name or an IP address, without scheme, port or path (e.g. "
                "\"logs.example.com\")");
      } else {
        out.host = std::string(v.get_string());
      }
    } else if (key == "port") {
      port_given = true;
      const int64_t* i = v.if_int64();
      const uint64_t* u = v.if_uint64();
      const int64_t port = i != nullptr ? *i : (u != nullptr && *u <= 65535 ? int64_t(*u) : -1);
      if ((i == nullptr && u == nullptr) || port < 1 || port > 65535) {
        problem(path, "must be an integer from 1 to 65535");
      } else {
        out.port = static_cast<uint16_t>(port);
      }
    } else if (key == "tls") {
      if (!v.is_bool()) {
        problem(path, "must be true or false");
      } else {
        out.tls = v.get_bool();
      }
    } else if (key == "ca_file") {
      const boost::json::string* s = v.if_string();
      if (s == nullptr || s->empty() || s->front() != '/' || s->size() > kMaxPathBytes ||
          std::string_view(*s).find('\0') != std::string_view::npos) {
        problem(path, "must be the absolute path of a PEM file of CA certificates");
      } else {
        out.ca_file = std::string(*s);
      }
    } else if (key == "ca_pem") {
      const boost::json::string* s = v.if_string();
      if (s == nullptr || s->size() > kMaxCaPemBytes ||
          ReadPemCertificates(std::string_view(*s), nullptr) <= 0) {
        problem(path,
                "must be one or more PEM certificates (\"-----BEGIN CERTIFICATE-----\"), "
                "at most 256 KiB");
      } else {
        out.ca_pem = std::string(*s);
      }
    } else if (key == "app_name") {
      const boost::json::string* s = v.if_string();
      if (s == nullptr || !IsSyslogToken(std::string_view(*s), kSyslogMaxAppName)) {
        problem(path, "must be 1 to 48 printable ASCII characters without spaces");
      } else {
        out.app_name = std::string(*s);
      }
    } else if (key == "facility") {
      std::optional<int> facility;
      if (const boost::json::string* s = v.if_string()) {
        facility = SyslogFacilityFromName(std::string_view(*s));
      } else if (const int64_t* i = v.if_int64(); i != nullptr && *i >= 0 && *i <= 23) {
        facility = static_cast<int>(*i);
      } else if (const uint64_t* u = v.if_uint64(); u != nullptr && *u <= 23) {
        facility = static_cast<int>(*u);
      }
      if (!facility) {
        problem(path,
                "must be a facility name (kern, user, mail, daemon, auth, syslog, lpr, news, "
                "uucp, cron, authpriv, ftp, ntp, audit, alert, clock, local0 to local7) or an "
                "integer from 0 to 23");
      } else {
        out.facility = *facility;
      }
    } else if (key == "hostname") {
      const boost::json::string* s = v.if_string();
      if (s == nullptr || !IsSyslogToken(std::string_view(*s), kSyslogMaxHostname)) {
        problem(path, "must be 1 to 255 printable ASCII characters without spaces");
      } else {
        out.hostname = std::string(*s);
      }
    } else {
      problem(path,
              "is not a syslog stream setting (known: host, port, tls, ca_file, ca_pem, "
              "app_name, facility, hostname)");
    }
  }

  if (!obj->contains("host")) problem("/config/host", "is required");
  if (!out.tls && !port_given) {
    problem("/config/port", "is required when tls is false (plain TCP syslog has no default port)");
  }
  if (!out.tls && !out.ca_file.empty()) problem("/config/ca_file", "requires tls to be true");
  if (!out.tls && !out.ca_pem.empty()) problem("/config/ca_pem", "requires tls to be true");
  if (!out.ca_file.empty() && !out.ca_pem.empty()) {
    problem("/config/ca_pem", "cannot be combined with ca_file; give one of them");
  }

  if (!problems.empty()) {
    std::string message = "invalid syslog stream config: " + problems.front().path.substr(8) + " " +
                          problems.front().message;
    if (problems.size() > 1) {
      message += " (and " + std::to_string(problems.size() - 1) + " more problem" +
                 (problems.size() > 2 ? "s" : "") + ")";
    }
    return Status::InvalidArgument(std::move(message), kConfigError, std::move(problems));
  }
  return out;
}

const std::vector<std::string>& SyslogSecretFields() {
  static const std::vector<std::string> kNone;
  return kNone;
}

// ---- sink -----------------------------------------------------------------------------------

SyslogSink::SyslogSink(SyslogConfig config, const AddressPolicy* policy, const Clock* clock,
                       SyslogSinkOptions options)
    : config_(std::move(config)), policy_(policy), clock_(clock), options_(options) {
  header_.facility = config_.facility;
  header_.app_name = config_.app_name;
  header_.hostname = config_.hostname.empty() ? LocalSyslogHostname() : config_.hostname;
}

SyslogSink::~SyslogSink() {
  ScopedSigpipeBlock sigpipe;
  Close(/*notify_peer=*/true);
  SSL_CTX_free(ctx_);
}

std::string SyslogSink::Where() const {
  std::string where = config_.host + ":" + std::to_string(config_.port);
  if (!peer_.empty() && peer_ != BareHost(config_.host)) where += " (" + peer_ + ")";
  return where;
}

DeliveryResult SyslogSink::Fail(DeliveryOutcome outcome, std::string detail) {
  Close(/*notify_peer=*/false);
  if (detail.size() > kMaxDetailBytes) {
    detail.resize(kMaxDetailBytes - 3);
    detail += "...";
  }
  DeliveryResult r;
  r.outcome = outcome;
  r.detail = std::move(detail);
  return r;
}

void SyslogSink::Close(bool notify_peer) {
  if (ssl_ != nullptr) {
    if (notify_peer) SSL_shutdown(ssl_);  // non-blocking: queues close_notify, best effort
    SSL_free(ssl_);
    ssl_ = nullptr;
  }
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  peer_.clear();
  ERR_clear_error();
}

void SyslogSink::DropIfStale() {
  if (fd_ < 0) return;
  const int64_t idle_us = clock_->NowMicros() - last_used_;
  if (idle_us > std::chrono::duration_cast<std::chrono::microseconds>(options_.max_idle).count()) {
    Close(/*notify_peer=*/true);
    return;
  }
  // A syslog receiver never sends application data, so a readable socket means the peer
  // closed (EOF), reset, or (TLS) sent handshake records such as TLS 1.3 session tickets.
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, 0) <= 0) return;
  if ((p.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
    Close(/*notify_peer=*/false);
    return;
  }
  char buf[4096];
  for (int i = 0; i < 16; ++i) {
    if (ssl_ != nullptr) {
      ERR_clear_error();
      size_t n = 0;
      if (SSL_read_ex(ssl_, buf, sizeof buf, &n) == 1) continue;
      const int err = SSL_get_error(ssl_, 0);
      if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return;
      Close(/*notify_peer=*/false);
      return;
    }
    const ssize_t n = recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Close(/*notify_peer=*/false);
    return;
  }
}

SyslogSink::StepResult SyslogSink::Connect() {
  Result<std::vector<ResolvedAddress>> addresses = policy_->Resolve(config_.host, config_.port);
  if (!addresses.ok()) {
    return Fail(DeliveryOutcome::kFailed,
                addresses.status().error_code() + ": " + addresses.status().message());
  }
  const int timeout_ms =
      static_cast<int>(std::clamp<int64_t>(options_.connect_timeout.count(), 1, INT32_MAX));
  Result<int> fd = ConnectTcp(*addresses, timeout_ms);
  if (!fd.ok()) {
    return Fail(DeliveryOutcome::kRetry, fd.status().error_code() + ": " + config_.host + ":" +
                                             std::to_string(config_.port) + ": " +
                                             fd.status().message());
  }
  fd_ = *fd;
  peer_ = PeerText(fd_);
  const int flags = fcntl(fd_, F_GETFL, 0);
  if (flags < 0 || fcntl(fd_, F_SETFL, flags | O_NONBLOCK) != 0) {
    return Fail(DeliveryOutcome::kRetry,
                "cannot configure the socket for " + Where() + ": " + std::strerror(errno));
  }
  const int on = 1;
  setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  if (config_.tls) {
    StepResult r = Handshake(std::chrono::steady_clock::now() + options_.connect_timeout);
    if (r) return r;
  }
  ++connections_opened_;
  last_used_ = clock_->NowMicros();
  return std::nullopt;
}

Status SyslogSink::LoadTrustAnchors() {
  if (ctx_ != nullptr) return Status::Ok();
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return Status::Internal("cannot create a TLS context: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  Status status;
  if (!config_.ca_file.empty()) {
    if (access(config_.ca_file.c_str(), R_OK) != 0) {
      status = Status::InvalidArgument(
          "cannot read ca_file '" + config_.ca_file + "': " + std::strerror(errno),
          "invalid_stream_config");
    } else if (SSL_CTX_load_verify_locations(ctx, config_.ca_file.c_str(), nullptr) != 1) {
      status = Status::InvalidArgument(
          "cannot load the CA certificates of ca_file '" + config_.ca_file + "': " + OpenSslError(),
          "invalid_stream_config");
    }
  } else if (!config_.ca_pem.empty()) {
    if (ReadPemCertificates(config_.ca_pem, SSL_CTX_get_cert_store(ctx)) <= 0) {
      status = Status::InvalidArgument("cannot load the CA certificates of ca_pem",
                                       "invalid_stream_config");
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
    status =
        Status::Internal("cannot load the system's trusted CA certificates: " + OpenSslError());
  }
  if (!status.ok()) {
    SSL_CTX_free(ctx);
    return status;
  }
  ctx_ = ctx;
  return Status::Ok();
}

SyslogSink::StepResult SyslogSink::Handshake(Deadline deadline) {
  if (Status s = LoadTrustAnchors(); !s.ok()) {
    return Fail(DeliveryOutcome::kFailed, s.message());
  }
  ERR_clear_error();
  ssl_ = SSL_new(ctx_);
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd_) != 1) {
    return Fail(DeliveryOutcome::kRetry,
                "cannot start TLS with " + Where() + ": " + OpenSslError());
  }
  const std::string bare(BareHost(config_.host));
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl_);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  bool named = false;
  if (IsIpLiteral(bare)) {
    named = X509_VERIFY_PARAM_set1_ip_asc(param, bare.c_str()) == 1;
  } else {
    // SNI carries DNS names only (RFC 6066 §3); a trailing dot is not part of it.
    std::string sni = bare;
    if (!sni.empty() && sni.back() == '.') sni.pop_back();
    named =
        SSL_set_tlsext_host_name(ssl_, sni.c_str()) == 1 && SSL_set1_host(ssl_, sni.c_str()) == 1;
  }
  if (!named) {
    return Fail(DeliveryOutcome::kFailed,
                "cannot set up TLS verification of '" + config_.host + "': " + OpenSslError());
  }
  for (;;) {
    ERR_clear_error();
    const int rc = SSL_connect(ssl_);
    if (rc == 1) return std::nullopt;
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!WaitReady(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) {
        return Fail(DeliveryOutcome::kRetry, "the TLS handshake with " + Where() +
                                                 " did not complete within the connect timeout");
      }
      continue;
    }
    const long verify = SSL_get_verify_result(ssl_);
    if (verify != X509_V_OK) {
      return Fail(DeliveryOutcome::kFailed,
                  "TLS certificate verification of " + Where() +
                      " failed: " + X509_verify_cert_error_string(verify));
    }
    if (err == SSL_ERROR_SSL) {
      const unsigned long e = ERR_peek_last_error();
      const bool eof =
          ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
      const std::string why = OpenSslError();
      if (eof) {
        return Fail(DeliveryOutcome::kRetry, "the receiver at " + Where() +
                                                 " closed the connection during the TLS "
                                                 "handshake");
      }
      return Fail(DeliveryOutcome::kFailed,
                  "the TLS handshake with " + Where() + " failed: " + why);
    }
    const std::string why =
        err == SSL_ERROR_SYSCALL && errno != 0 ? std::strerror(errno) : "connection closed";
    return Fail(DeliveryOutcome::kRetry, "the TLS handshake with " + Where() + " failed: " + why);
  }
}

SyslogSink::StepResult SyslogSink::WriteAll(std::string_view data, Deadline deadline) {
  size_t done = 0;
  const auto failed = [&](const std::string& why) {
    return Fail(DeliveryOutcome::kRetry, "writing to " + Where() + " failed after " +
                                             std::to_string(done) + " of " +
                                             std::to_string(data.size()) + " bytes: " + why);
  };
  while (done < data.size()) {
    short wait_for = POLLOUT;
    if (ssl_ != nullptr) {
      ERR_clear_error();
      size_t n = 0;
      const int rc = SSL_write_ex(ssl_, data.data() + done, data.size() - done, &n);
      if (rc == 1) {
        done += n;
        continue;
      }
      const int err = SSL_get_error(ssl_, rc);
      if (err == SSL_ERROR_WANT_READ) {
        wait_for = POLLIN;
      } else if (err != SSL_ERROR_WANT_WRITE) {
        return failed(err == SSL_ERROR_SSL                     ? OpenSslError()
                      : err == SSL_ERROR_SYSCALL && errno != 0 ? std::strerror(errno)
                                                               : "connection closed");
      }
    } else {
      const ssize_t n = send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n > 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        return failed(n == 0 ? "connection closed" : std::strerror(errno));
      }
    }
    if (!WaitReady(fd_, wait_for, deadline)) return failed("timed out");
  }
  return std::nullopt;
}

SyslogSink::StepResult SyslogSink::AwaitAcknowledgement(Deadline deadline) {
  auto pause = std::chrono::microseconds(200);
  for (;;) {
    int unacknowledged = 0;
    const bool known = ioctl(fd_, SIOCOUTQ, &unacknowledged) == 0;
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP)) != 0) {
      return Fail(DeliveryOutcome::kRetry,
                  "the connection to " + Where() +
                      " broke before every byte was acknowledged: " + SocketErrorText(fd_));
    }
    if (!known || unacknowledged == 0) return std::nullopt;
    const int left_ms = RemainingMs(deadline);
    if (left_ms == 0) {
      return Fail(DeliveryOutcome::kRetry, "the receiver at " + Where() + " did not acknowledge " +
                                               std::to_string(unacknowledged) +
                                               " bytes within the write timeout");
    }
    std::this_thread::sleep_for(
        std::min<std::chrono::microseconds>(pause, std::chrono::milliseconds(left_ms)));
    pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(20));
  }
}

DeliveryResult SyslogSink::Deliver(const SinkBatch& batch) {
  for (const SinkEvent& e : batch.events) {
    if (e.json.size() > options_.max_event_bytes) {
      DeliveryResult r;
      r.outcome = DeliveryOutcome::kRejected;
      r.detail = "event seq " + std::to_string(e.seq) + " is " + std::to_string(e.json.size()) +
                 " bytes; the syslog destination takes events of at most " +
                 std::to_string(options_.max_event_bytes) + " bytes";
      return r;
    }
  }
  std::string payload;
  size_t total = 0;
  for (const SinkEvent& e : batch.events) total += e.json.size() + 512;
  payload.reserve(total);
  std::string message;
  for (const SinkEvent& e : batch.events) {
    message.clear();
    AppendSyslogMessage(header_, batch.organization_id, e, &message);
    AppendOctetCountedFrame(message, &payload);
  }

  ScopedSigpipeBlock sigpipe;
  DropIfStale();
  if (fd_ < 0) {
    if (StepResult r = Connect()) return *std::move(r);
  }
  const Deadline deadline = std::chrono::steady_clock::now() + options_.write_timeout;
  if (StepResult r = WriteAll(payload, deadline)) return *std::move(r);
  if (options_.wait_for_tcp_ack) {
    if (StepResult r = AwaitAcknowledgement(deadline)) return *std::move(r);
  }
  last_used_ = clock_->NowMicros();
  DeliveryResult r;
  r.outcome = DeliveryOutcome::kDelivered;
  r.detail = std::to_string(batch.events.size()) + " messages (" + std::to_string(payload.size()) +
             " bytes) sent to " + Where();
  return r;
}

}  // namespace annals::sinks
