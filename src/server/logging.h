// Structured logs: one JSON object per line on stderr (or readable text), built on spdlog.
// Messages and field values are JSON-escaped (control characters included); callers must
// never pass secrets. Thread-safe.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace spdlog {
class logger;
}

namespace annals {

using LogFields = std::vector<std::pair<std::string, std::string>>;

class Logger {
 public:
  // level: trace|debug|info|warn|error; format: json|text.
  Logger(const std::string& level, const std::string& format);
  ~Logger();

  void Info(const std::string& msg, const LogFields& fields = {}) { Log(2, msg, fields); }
  void Warn(const std::string& msg, const LogFields& fields = {}) { Log(3, msg, fields); }
  void Error(const std::string& msg, const LogFields& fields = {}) { Log(4, msg, fields); }
  void Debug(const std::string& msg, const LogFields& fields = {}) { Log(1, msg, fields); }
  bool DebugEnabled() const { return min_level_ <= 1; }

 private:
  void Log(int level, const std::string& msg, const LogFields& fields);
  std::shared_ptr<spdlog::logger> logger_;
  bool json_ = true;
  int min_level_ = 2;
};

}  // namespace annals
