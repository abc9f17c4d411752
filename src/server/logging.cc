#include "server/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "domain/canonical_json.h"
#include "domain/time.h"
#include "annals/clock.h"

namespace annals {

namespace {

const char* LevelName(int level) {
  static const char* kNames[] = {"trace", "debug", "info", "warn", "error"};
  return kNames[level];
}

// Escapes control characters for the text format so one entry stays on one line.
std::string TextEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace

Logger::Logger(const std::string& level, const std::string& format) : json_(format != "text") {
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error"};
  for (int i = 0; i < 5; ++i) {
    if (level == kLevels[i]) min_level_ = i;
  }
  auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  logger_ = std::make_shared<spdlog::logger>("annals", sink);
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::trace);
  logger_->flush_on(spdlog::level::trace);
}

Logger::~Logger() = default;

void Logger::Log(int level, const std::string& msg, const LogFields& fields) {
  if (level < min_level_) return;
  const std::string ts = FormatRfc3339Micros(SystemClock().NowMicros());
  std::string line;
  if (json_) {
    line += "{\"ts\":\"" + ts + "\",\"level\":\"" + LevelName(level) + "\",\"msg\":";
    AppendJsonString(msg, &line);
    for (const auto& [k, v] : fields) {
      line += ',';
      AppendJsonString(k, &line);
      line += ':';
      AppendJsonString(v, &line);
    }
    line += '}';
  } else {
    line = ts + " " + LevelName(level) + " " + TextEscape(msg);
    for (const auto& [k, v] : fields) line += " " + TextEscape(k) + "=" + TextEscape(v);
  }
  logger_->log(spdlog::level::info, line);
}

}  // namespace annals
