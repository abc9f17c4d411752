#include "common.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <numeric>
#include <sstream>

namespace annals::bench {

Flags::Flags(std::string program, std::string summary)
    : program_(std::move(program)), summary_(std::move(summary)) {
  Describe("help", "false", "show this help", true);
}

void Flags::Describe(const std::string& name, const std::string& default_value,
                     const std::string& help, bool is_bool) {
  if (!specs_.count(name)) order_.push_back(name);
  specs_[name] = Spec{default_value, help, is_bool};
}

void Flags::UsageError(const std::string& message) const {
  std::fprintf(stderr, "%s: %s (see --help).\n", program_.c_str(), message.c_str());
  std::exit(2);
}

void Flags::Parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) UsageError("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    auto it = specs_.find(name);
    if (it == specs_.end()) UsageError("unknown flag --" + name);
    if (it->second.is_bool) {
      if (!has_value) value = "true";
      if (value != "true" && value != "false") UsageError("--" + name + " takes true or false");
    } else if (!has_value) {
      if (i + 1 >= argc) UsageError("--" + name + " needs a value");
      value = argv[++i];
    }
    values_[name] = value;
  }
  if (GetBool("help")) {
    std::printf("%s — %s\n\nFlags:\n", program_.c_str(), summary_.c_str());
    for (const auto& name : order_) {
      const Spec& s = specs_.at(name);
      std::string left = "  --" + name + (s.is_bool ? "" : " VALUE");
      std::printf("%-28s %s", left.c_str(), s.help.c_str());
      if (!s.is_bool && !s.default_value.empty()) std::printf(" (default: %s)", s.default_value.c_str());
      std::printf("\n");
    }
    std::exit(0);
  }
}

std::string Flags::Get(const std::string& name) const {
  auto v = values_.find(name);
  if (v != values_.end()) return v->second;
  auto s = specs_.find(name);
  if (s == specs_.end()) {
    std::fprintf(stderr, "%s: internal error: flag --%s was not declared.\n", program_.c_str(),
                 name.c_str());
    std::exit(1);
  }
  return s->second.default_value;
}

int64_t Flags::GetInt(const std::string& name) const {
  std::string v = Get(name);
  char* end = nullptr;
  errno = 0;
  long long r = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || errno != 0 || *end != '\0') UsageError("--" + name + " must be an integer");
  return r;
}

double Flags::GetDouble(const std::string& name) const {
  std::string v = Get(name);
  char* end = nullptr;
  errno = 0;
  double r = std::strtod(v.c_str(), &end);
  if (v.empty() || errno != 0 || *end != '\0' || !std::isfinite(r)) {
    UsageError("--" + name + " must be a number");
  }
  return r;
}

bool Flags::GetBool(const std::string& name) const { return Get(name) == "true"; }

bool Flags::IsSet(const std::string& name) const { return values_.count(name) > 0; }

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

static CpuTimes FromRusage(const rusage& ru) {
  CpuTimes t;
  t.user_us = ru.ru_utime.tv_sec * 1e6 + ru.ru_utime.tv_usec;
  t.sys_us = ru.ru_stime.tv_sec * 1e6 + ru.ru_stime.tv_usec;
  return t;
}

CpuTimes ProcessCpu() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return FromRusage(ru);
}

CpuTimes ThreadCpu() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return FromRusage(ru);
}

uint64_t PeakRssBytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<uint64_t>(ru.ru_maxrss) * 1024;
}

namespace {

// Fields of /proc/<pid>/stat after the parenthesized command name (which may hold spaces).
bool ReadStatFields(pid_t pid, std::vector<std::string>* fields) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  if (!in) return false;
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(line.substr(close + 2));
  fields->clear();
  std::string f;
  while (rest >> f) fields->push_back(f);
  // fields[0] is field 3 (state); field N is fields[N - 3].
  return fields->size() > 14;
}

}  // namespace

double ProcCpuUs(pid_t pid, bool with_children) {
  std::vector<std::string> f;
  if (!ReadStatFields(pid, &f)) return 0;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  double t = std::stod(f[14 - 3]) + std::stod(f[15 - 3]);  // utime, stime
  if (with_children) t += std::stod(f[16 - 3]) + std::stod(f[17 - 3]);  // cutime, cstime
  return t / ticks * 1e6;
}

double ProcessTreeCpuUs(pid_t root) {
  double total = ProcCpuUs(root, true);
  DIR* d = opendir("/proc");
  if (!d) return total;
  while (dirent* e = readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || pid <= 0 || pid == root) continue;
    std::vector<std::string> f;
    if (!ReadStatFields(static_cast<pid_t>(pid), &f)) continue;
    if (std::stol(f[4 - 3]) == root) total += ProcCpuUs(static_cast<pid_t>(pid), false);
  }
  closedir(d);
  return total;
}

std::map<std::string, double> ThreadCpuByName(pid_t pid) {
  std::map<std::string, double> out;
  const std::string base = pid ? "/proc/" + std::to_string(pid) + "/task" : "/proc/self/task";
  DIR* d = opendir(base.c_str());
  if (!d) return out;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream stat(base + "/" + e->d_name + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    auto open = line.find('(');
    auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string name = line.substr(open + 1, close - open - 1);
    std::istringstream rest(line.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (rest >> tok) f.push_back(tok);
    if (f.size() <= 12) continue;
    out[name] += (std::stod(f[14 - 3]) + std::stod(f[15 - 3])) / ticks * 1e6;
  }
  closedir(d);
  return out;
}

uint64_t ProcPeakRssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      return std::strtoull(line.c_str() + 6, nullptr, 10) * 1024;
    }
  }
  return 0;
}

void Latencies::Merge(const Latencies& other) {
  samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
  sorted_ = false;
}

double Latencies::Percentile(double q) {
  if (samples_.empty()) return 0;
  if (!sorted_) {
    std::sort(samples_.begin(), samples_.end());
    sorted_ = true;
  }
  // Nearest-rank percentile.
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(samples_.size())));
  if (rank == 0) rank = 1;
  return samples_[std::min(rank, samples_.size()) - 1];
}

double Latencies::Max() { return Percentile(1.0); }

double Latencies::Mean() const {
  if (samples_.empty()) return 0;
  return std::accumulate(samples_.begin(), samples_.end(), 0.0) /
         static_cast<double>(samples_.size());
}

void MakeDirs(const std::string& path) {
  std::string cur;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      if (!cur.empty()) mkdir(cur.c_str(), 0755);
    }
    if (i < path.size()) cur += path[i];
  }
}

std::string MakeTempDir(const std::string& parent, const std::string& prefix) {
  MakeDirs(parent);
  std::string tmpl = parent + "/" + prefix + "XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) {
    std::fprintf(stderr, "cannot create a temporary directory under %s: %s\n", parent.c_str(),
                 std::strerror(errno));
    std::exit(1);
  }
  return std::string(buf.data());
}

static void WalkTree(const std::string& path, bool remove, uint64_t* bytes) {
  struct stat st{};
  if (lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = opendir(path.c_str())) {
      std::vector<std::string> names;
      while (dirent* e = readdir(d)) {
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
          names.push_back(e->d_name);
        }
      }
      closedir(d);
      for (const auto& n : names) WalkTree(path + "/" + n, remove, bytes);
    }
    if (remove) rmdir(path.c_str());
  } else {
    if (bytes) *bytes += static_cast<uint64_t>(st.st_blocks) * 512;
    if (remove) unlink(path.c_str());
  }
}

void RemoveTree(const std::string& path) { WalkTree(path, true, nullptr); }

uint64_t DiskUsageBytes(const std::string& path) {
  uint64_t bytes = 0;
  WalkTree(path, false, &bytes);
  return bytes;
}

bool IsMemoryFilesystem(const std::string& path) {
  struct statfs s{};
  if (statfs(path.c_str(), &s) != 0) return false;
  return s.f_type == TMPFS_MAGIC || s.f_type == RAMFS_MAGIC;
}

std::string FormatCount(double v) {
  long long n = std::llround(v);
  bool neg = n < 0;
  std::string digits = std::to_string(neg ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return neg ? "-" + out : out;
}

std::string FormatFixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string FormatRatio(double v) { return FormatFixed(v, 2) + "×"; }

std::string MarkdownTable::Render() const {
  std::string out = "|";
  for (const auto& h : header_) out += " " + h + " |";
  out += "\n|";
  for (size_t i = 0; i < header_.size(); ++i) out += i < left_columns_ ? "---|" : "---:|";
  out += "\n";
  for (const auto& row : rows_) {
    out += "|";
    for (const auto& c : row) out += " " + c + " |";
    out += "\n";
  }
  return out;
}

void AppendToFile(const std::string& path, const std::string& text) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  out << text;
}

}  // namespace annals::bench
