#include "syslog_test_support.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace annals::sinks::syslog_testing {
namespace {

std::string ToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

std::string ToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(len));
  BIO_free(bio);
  return out;
}

void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) {
    ADD_FAILURE() << "cannot build certificate extension " << OBJ_nid2sn(nid) << "=" << value;
    return;
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

struct KeyAndCert {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~KeyAndCert() {
    EVP_PKEY_free(key);
    X509_free(cert);
  }
  PemPair Pem() const { return PemPair{ToPem(cert), ToPem(key)}; }
};

// A certificate for `common_name`; self-signed CA when `issuer` is null.
void Issue(const char* common_name, const char* san, const KeyAndCert* issuer, long serial,
           KeyAndCert* out) {
  out->key = EVP_EC_gen("P-256");
  out->cert = X509_new();
  X509* x = out->cert;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600);
  X509_set_pubkey(x, out->key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(common_name), -1, -1, 0);
  X509* issuer_cert = issuer == nullptr ? x : issuer->cert;
  X509_set_issuer_name(x, X509_get_subject_name(issuer_cert));
  AddExtension(x, issuer_cert, NID_subject_key_identifier, "hash");
  AddExtension(x, issuer_cert, NID_authority_key_identifier, "keyid:always");
  if (issuer == nullptr) {
    AddExtension(x, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
    AddExtension(x, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    AddExtension(x, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
    AddExtension(x, issuer_cert, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    AddExtension(x, issuer_cert, NID_ext_key_usage, "serverAuth");
    AddExtension(x, issuer_cert, NID_subject_alt_name, san);
  }
  X509_sign(x, issuer == nullptr ? out->key : issuer->key, EVP_sha256());
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    if (nl == std::string::npos) break;  // a partly written line
    out.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return out;
}

std::string Quoted(const std::string& path) { return "\"" + path + "\""; }

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/annals-syslog-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << contents;
  if (!f) ADD_FAILURE() << "cannot write " << path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

TestPki MakeTestPki() {
  KeyAndCert ca, server, other_ca, wrong_name;
  Issue("annals test CA", nullptr, nullptr, 1, &ca);
  Issue("localhost", "DNS:localhost,IP:127.0.0.1,IP:::1", &ca, 2, &server);
  Issue("annals unrelated test CA", nullptr, nullptr, 3, &other_ca);
  Issue("wrong.example.com", "DNS:wrong.example.com", &ca, 4, &wrong_name);
  return TestPki{ca.Pem(), server.Pem(), other_ca.Pem(), wrong_name.Pem()};
}

uint16_t PickFreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  uint16_t port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) close(fd);
  return port;
}

std::string RsyslogServer::Binary() {
  for (const char* candidate :
       {"/usr/sbin/rsyslogd", "/usr/local/sbin/rsyslogd", "/sbin/rsyslogd"}) {
    if (access(candidate, X_OK) == 0) return candidate;
  }
  return {};
}

RsyslogServer::RsyslogServer(std::string dir, const TestPki& pki) : dir_(std::move(dir)) {
  ca_file_ = dir_ + "/ca.pem";
  other_ca_file_ = dir_ + "/other-ca.pem";
  WriteFile(ca_file_, pki.ca.cert);
  WriteFile(other_ca_file_, pki.other_ca.cert);
  WriteFile(dir_ + "/server.pem", pki.server.cert);
  WriteFile(dir_ + "/server.key", pki.server.key);
  WriteFile(dir_ + "/wrong-name.pem", pki.wrong_name_server.cert);
  WriteFile(dir_ + "/wrong-name.key", pki.wrong_name_server.key);
  chmod((dir_ + "/server.key").c_str(), 0600);
  chmod((dir_ + "/wrong-name.key").c_str(), 0600);
  std::filesystem::create_directories(dir_ + "/work");
}

RsyslogServer::~RsyslogServer() { Stop(); }

::testing::AssertionResult RsyslogServer::Start() {
  ::testing::AssertionResult last = ::testing::AssertionFailure() << "not started";
  for (int attempt = 0; attempt < 5; ++attempt) {
    tcp_port_ = PickFreePort();
    tls_port_ = PickFreePort();
    wrong_name_port_ = PickFreePort();
    if (tcp_port_ == 0 || tls_port_ == 0 || wrong_name_port_ == 0 || tcp_port_ == tls_port_ ||
        tls_port_ == wrong_name_port_ || tcp_port_ == wrong_name_port_) {
      continue;
    }
    last = Launch();
    if (last) return last;
    Stop();  // most likely a port was taken in between: try others
  }
  return last;
}

::testing::AssertionResult RsyslogServer::Restart() {
  Stop();
  // The ports were just released by our own process; a few tries cover a slow release.
  ::testing::AssertionResult last = ::testing::AssertionFailure() << "not restarted";
  for (int attempt = 0; attempt < 3; ++attempt) {
    last = Launch();
    if (last) return last;
    Stop();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return last;
}

::testing::AssertionResult RsyslogServer::Launch() {
  const std::string conf = dir_ + "/rsyslog.conf";
  const std::string input_common = " address=\"127.0.0.1\" ruleset=\"received\"";
  const std::string tls_common =
      " streamDriver.name=\"ossl\" streamDriver.mode=\"1\" streamDriver.authMode=\"anon\"";
  std::ostringstream c;
  c << "global(\n"
    << "  workDirectory=" << Quoted(dir_ + "/work") << "\n"
    << "  maxMessageSize=\"128k\"\n"
    << "  processInternalMessages=\"on\"\n"
    << "  defaultNetstreamDriverCAFile=" << Quoted(ca_file_) << "\n"
    << "  defaultNetstreamDriverCertFile=" << Quoted(dir_ + "/server.pem") << "\n"
    << "  defaultNetstreamDriverKeyFile=" << Quoted(dir_ + "/server.key") << "\n"
    << ")\n"
    << "module(load=\"imtcp\")\n"
    << "template(name=\"annals_raw\" type=\"string\" string=\"%rawmsg%\\n\")\n"
    << "template(name=\"annals_parsed\" type=\"list\" option.jsonf=\"on\") {\n"
    << "  property(outname=\"pri\" name=\"pri\" format=\"jsonf\")\n"
    << "  property(outname=\"version\" name=\"protocol-version\" format=\"jsonf\")\n"
    << "  property(outname=\"timestamp\" name=\"timereported\" dateFormat=\"rfc3339\" "
       "format=\"jsonf\")\n"
    << "  property(outname=\"hostname\" name=\"hostname\" format=\"jsonf\")\n"
    << "  property(outname=\"app_name\" name=\"app-name\" format=\"jsonf\")\n"
    << "  property(outname=\"procid\" name=\"procid\" format=\"jsonf\")\n"
    << "  property(outname=\"msgid\" name=\"msgid\" format=\"jsonf\")\n"
    << "  property(outname=\"structured_data\" name=\"structured-data\" format=\"jsonf\")\n"
    << "  property(outname=\"msg\" name=\"msg\" format=\"jsonf\")\n"
    << "}\n"
    << "ruleset(name=\"received\") {\n"
    << "  action(type=\"omfile\" file=" << Quoted(dir_ + "/raw.log")
    << " template=\"annals_raw\")\n"
    << "  action(type=\"omfile\" file=" << Quoted(dir_ + "/parsed.log")
    << " template=\"annals_parsed\")\n"
    << "}\n"
    << "input(type=\"imtcp\" port=\"" << tcp_port_ << "\"" << input_common << ")\n"
    << "input(type=\"imtcp\" port=\"" << tls_port_ << "\"" << input_common << tls_common << ")\n"
    << "input(type=\"imtcp\" port=\"" << wrong_name_port_ << "\"" << input_common << tls_common
    << " streamDriver.certFile=" << Quoted(dir_ + "/wrong-name.pem")
    << " streamDriver.keyFile=" << Quoted(dir_ + "/wrong-name.key") << ")\n"
    << "*.* action(type=\"omfile\" file=" << Quoted(dir_ + "/internal.log") << ")\n";
  WriteFile(conf, c.str());

  const std::string binary = Binary();
  const std::string pid_file = dir_ + "/rsyslogd.pid";
  const std::string out_file = dir_ + "/rsyslogd.out";
  std::vector<std::string> args = {binary, "-n", "-C", "-f", conf, "-i", pid_file};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The child must not report to a service manager the test runner might run under.
  std::vector<char*> envp;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "NOTIFY_SOCKET=", 14) != 0) envp.push_back(*e);
  }
  envp.push_back(nullptr);

  const pid_t pid = fork();
  if (pid < 0) return ::testing::AssertionFailure() << "fork: " << std::strerror(errno);
  if (pid == 0) {
    const int out = open(out_file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out >= 0) {
      dup2(out, STDOUT_FILENO);
      dup2(out, STDERR_FILENO);
    }
    if (in >= 0) dup2(in, STDIN_FILENO);
    execve(binary.c_str(), argv.data(), envp.data());
    _exit(127);
  }
  pid_ = pid;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return ::testing::AssertionFailure()
             << "rsyslogd exited during startup (status " << status << ")\n"
             << Diagnostics();
    }
    if (Listening(tcp_port_) && Listening(tls_port_) && Listening(wrong_name_port_)) {
      return ::testing::AssertionSuccess();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return ::testing::AssertionFailure()
         << "rsyslogd did not listen on ports " << tcp_port_ << ", " << tls_port_ << " and "
         << wrong_name_port_ << " within 20 s\n"
         << Diagnostics();
}

bool RsyslogServer::Listening(uint16_t port) const {
  // /proc/net/tcp rows: "sl local_address rem_address st ...", addresses as HEX_IP:HEX_PORT,
  // state 0A = LISTEN. 127.0.0.1 is 0100007F in the kernel's byte order.
  std::istringstream rows(ReadFile("/proc/net/tcp"));
  std::string line;
  char want[32];
  std::snprintf(want, sizeof want, "0100007F:%04X", port);
  while (std::getline(rows, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, state;
    fields >> sl >> local >> remote >> state;
    if (local == want && state == "0A") return true;
  }
  return false;
}

void RsyslogServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_ || (r < 0 && errno != EINTR)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  pid_ = -1;
}

std::vector<std::string> RsyslogServer::RawLines() const {
  return Lines(ReadFile(dir_ + "/raw.log"));
}

std::vector<std::string> RsyslogServer::ParsedLines() const {
  return Lines(ReadFile(dir_ + "/parsed.log"));
}

bool RsyslogServer::WaitForLines(size_t n, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (RawLines().size() >= n && ParsedLines().size() >= n) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
}

std::string RsyslogServer::Diagnostics() const {
  return "--- rsyslogd output ---\n" + ReadFile(dir_ + "/rsyslogd.out") +
         "--- rsyslogd internal log ---\n" + ReadFile(dir_ + "/internal.log") +
         "--- rsyslog.conf ---\n" + ReadFile(dir_ + "/rsyslog.conf");
}

MisbehavingReceiver::MisbehavingReceiver(Mode mode, const PemPair* tls_identity) : mode_(mode) {
  if (tls_identity != nullptr) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    BIO* cert_bio = BIO_new_mem_buf(tls_identity->cert.data(), -1);
    BIO* key_bio = BIO_new_mem_buf(tls_identity->key.data(), -1);
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    if (cert == nullptr || key == nullptr || SSL_CTX_use_certificate(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1) {
      ADD_FAILURE() << "cannot set up the test TLS listener";
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cert_bio);
    BIO_free(key_bio);
    tls_ctx_ = ctx;
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      listen(listen_fd_, 8) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot listen: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

MisbehavingReceiver::~MisbehavingReceiver() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (const int fd : held_) close(fd);
  if (listen_fd_ >= 0) close(listen_fd_);
  SSL_CTX_free(static_cast<SSL_CTX*>(tls_ctx_));
}

void MisbehavingReceiver::Serve() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    if (tls_ctx_ != nullptr) {
      const timeval five_seconds{5, 0};
      setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
      setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &five_seconds, sizeof five_seconds);
      SSL* ssl = SSL_new(static_cast<SSL_CTX*>(tls_ctx_));
      SSL_set_fd(ssl, fd);
      SSL_accept(ssl);
      SSL_free(ssl);  // without close_notify: the TLS session is simply abandoned
    }
    if (mode_ == Mode::kNeverRead) {
      held_.push_back(fd);
    } else {
      close(fd);
    }
  }
}

std::optional<ParsedSyslog> ParseRfc5424(const std::string& m) {
  ParsedSyslog p;
  size_t pos = 0;
  const auto token = [&](std::string* out) {
    const size_t sp = m.find(' ', pos);
    if (sp == std::string::npos || sp == pos) return false;
    *out = m.substr(pos, sp - pos);
    pos = sp + 1;
    return true;
  };
  if (m.empty() || m[0] != '<') return std::nullopt;
  const size_t gt = m.find('>');
  if (gt == std::string::npos || gt < 2 || gt > 4) return std::nullopt;
  p.pri = std::atoi(m.substr(1, gt - 1).c_str());
  pos = gt + 1;
  std::string version;
  if (!token(&version)) return std::nullopt;
  p.version = std::atoi(version.c_str());
  if (!token(&p.timestamp) || !token(&p.hostname) || !token(&p.app_name) || !token(&p.procid) ||
      !token(&p.msgid)) {
    return std::nullopt;
  }
  if (pos >= m.size() || m[pos] != '[') return std::nullopt;
  ++pos;
  while (pos < m.size() && m[pos] != ' ' && m[pos] != ']') p.sd_id.push_back(m[pos++]);
  while (pos < m.size() && m[pos] == ' ') {
    ++pos;
    const size_t eq = m.find('=', pos);
    if (eq == std::string::npos || eq + 1 >= m.size() || m[eq + 1] != '"') return std::nullopt;
    std::string name = m.substr(pos, eq - pos), value;
    pos = eq + 2;
    for (;;) {
      if (pos >= m.size()) return std::nullopt;
      const char c = m[pos++];
      if (c == '"') break;
      if (c == '\\' && pos < m.size() && (m[pos] == '"' || m[pos] == '\\' || m[pos] == ']')) {
        value.push_back(m[pos++]);
      } else {
        value.push_back(c);
      }
    }
    p.params.emplace_back(std::move(name), std::move(value));
  }
  if (pos >= m.size() || m[pos] != ']') return std::nullopt;
  ++pos;
  if (pos == m.size()) return p;
  if (m[pos] != ' ') return std::nullopt;
  ++pos;
  if (m.compare(pos, 3, "\xEF\xBB\xBF") == 0) {
    p.bom = true;
    pos += 3;
  }
  p.msg = m.substr(pos);
  return p;
}

}  // namespace annals::sinks::syslog_testing
