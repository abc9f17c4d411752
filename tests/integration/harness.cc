#include "harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <random>
#include <regex>

#ifndef ANNALS_BINARY
#error "ANNALS_BINARY must name the annals binary"
#endif

extern char** environ;

namespace annals::testing {

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() /
          ("annals-it-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

std::vector<std::string> BuildEnv(const std::map<std::string, std::string>& env) {
  std::vector<std::string> out;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    std::string name = entry.substr(0, entry.find('='));
    if (name.rfind("ANNALS_", 0) == 0) continue;  // hermetic: no stray configuration
    if (env.count(name)) continue;
    out.push_back(entry);
  }
  for (const auto& [k, v] : env) out.push_back(k + "=" + v);
  return out;
}

pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            int stdin_fd, int stdout_fd, int stderr_fd) {
  std::vector<std::string> envs = BuildEnv(env);
  pid_t pid = ::fork();
  if (pid == 0) {
    if (stdin_fd >= 0) ::dup2(stdin_fd, 0);
    if (stdout_fd >= 0) ::dup2(stdout_fd, 1);
    if (stderr_fd >= 0) ::dup2(stderr_fd, 2);
    std::vector<char*> args, envp;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    for (const auto& e : envs) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    ::execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  return pid;
}

std::string ReadAll(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env,
                         const std::string& stdin_data) {
  std::vector<std::string> full = argv;
  if (!full.empty() && full[0] == "annals") full[0] = ANNALS_BINARY;
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return {};
  pid_t pid = Spawn(full, env, in[0], out[1], err[1]);
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  std::thread writer([&] {
    size_t off = 0;
    while (off < stdin_data.size()) {
      ssize_t n = ::write(in[1], stdin_data.data() + off, stdin_data.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::close(in[1]);
  });
  CommandResult r;
  std::thread err_reader([&] { r.err = ReadAll(err[0]); });
  r.out = ReadAll(out[0]);
  err_reader.join();
  writer.join();
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0) Kill();
}

bool ServerProcess::Start(const std::filesystem::path& data_dir,
                          const std::vector<std::string>& extra,
                          const std::map<std::string, std::string>& env) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stderr_.clear();
  }
  int err[2];
  if (::pipe2(err, O_CLOEXEC) != 0) return false;
  std::vector<std::string> argv = {ANNALS_BINARY, "serve", "--data", data_dir.string(),
                                   "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::map<std::string, std::string> full_env = env;
  full_env.emplace("ANNALS_LOG_FORMAT", "text");
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  pid_ = Spawn(argv, full_env, devnull, devnull, err[1]);
  ::close(devnull);
  ::close(err[1]);
  stderr_fd_ = err[0];
  reader_ = std::thread([this] {
    char buf[8192];
    for (;;) {
      ssize_t n = ::read(stderr_fd_, buf, sizeof buf);
      if (n <= 0) break;
      std::lock_guard<std::mutex> lock(mu_);
      stderr_.append(buf, static_cast<size_t>(n));
    }
  });
  static const std::regex kListening(R"(listening on (https?)://127\.0\.0\.1:(\d+))");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      std::smatch m;
      if (std::regex_search(stderr_, m, kListening)) {
        scheme_ = m[1].str();
        port_ = static_cast<uint16_t>(std::stoi(m[2].str()));
        return true;
      }
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (reader_.joinable()) reader_.join();
      ::close(stderr_fd_);
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Kill();
  return false;
}

int ServerProcess::Wait() {
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (reader_.joinable()) reader_.join();
  ::close(stderr_fd_);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  return Wait();
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  Wait();
}

std::string ServerProcess::StderrText() {
  std::lock_guard<std::mutex> lock(mu_);
  return stderr_;
}

std::string EventJson(const std::string& org, const std::string& action,
                      const std::string& occurred_at, const std::string& actor_id,
                      const std::vector<std::pair<std::string, std::string>>& targets,
                      const std::string& extra) {
  std::string s = "{";
  if (!org.empty()) s += "\"organization_id\":\"" + org + "\",";
  s += "\"action\":\"" + action + "\",\"occurred_at\":\"" + occurred_at +
       "\",\"actor\":{\"id\":\"" + actor_id + "\",\"type\":\"user\"},\"targets\":[";
  for (size_t i = 0; i < targets.size(); ++i) {
    if (i) s += ",";
    s += "{\"type\":\"" + targets[i].first + "\",\"id\":\"" + targets[i].second + "\"}";
  }
  s += "]";
  if (!extra.empty()) s += "," + extra;
  s += "}";
  return s;
}

}  // namespace annals::testing
