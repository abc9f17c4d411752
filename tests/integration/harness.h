// Test harness: runs the real `annals` binary on port 0 with a temporary data directory and
// talks to it over real HTTP.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cli/client.h"

namespace annals::testing {

inline constexpr char kAdminKey[] = "test-admin-key-0123456789abcdef0123456789";

// A temporary directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Runs a command to completion; returns exit code and captured stdout/stderr.
struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
CommandResult RunCommand(const std::vector<std::string>& argv,
                         const std::map<std::string, std::string>& env = {},
                         const std::string& stdin_data = "");

class ServerProcess {
 public:
  ServerProcess() = default;
  ~ServerProcess();  // SIGKILLs the server if still running

  // Starts `annals serve --data DIR --listen 127.0.0.1:0 [extra...]` and waits until it
  // prints its listening address. Returns false (with stderr in error()) on failure.
  bool Start(const std::filesystem::path& data_dir, const std::vector<std::string>& extra = {},
             const std::map<std::string, std::string>& env = {{"ANNALS_ADMIN_KEY", kAdminKey},
                                                                {"ANNALS_ORGS_AUTO_CREATE", "true"}});
  // SIGTERM and wait; returns the exit code.
  int Stop();
  // SIGKILL and wait.
  void Kill();

  uint16_t port() const { return port_; }
  std::string url() const { return scheme_ + "://127.0.0.1:" + std::to_string(port_); }
  std::string StderrText();
  pid_t pid() const { return pid_; }

  // A client authenticated with the admin key (or `key`).
  HttpClient Client(const std::string& key = kAdminKey) const { return HttpClient(url(), key); }

 private:
  int Wait();
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  uint16_t port_ = 0;
  std::string scheme_ = "http";
  std::thread reader_;
  std::mutex mu_;
  std::string stderr_;
};

// Builds an event JSON with sensible defaults; `extra` is spliced in as more members.
std::string EventJson(const std::string& org, const std::string& action,
                      const std::string& occurred_at, const std::string& actor_id,
                      const std::vector<std::pair<std::string, std::string>>& targets,
                      const std::string& extra = "");

}  // namespace annals::testing
