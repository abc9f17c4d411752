// Small utilities shared by the macro benchmarks: flag parsing, CPU and memory accounting,
// latency percentiles, file-system helpers and markdown output. No annals dependencies, so the
// peer benchmarks build on their own.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace annals::bench {

// --name value, --name=value and boolean --name. Positional arguments are refused.
// Every flag a program reads must be declared with Describe() so --help can list it and a
// misspelt flag is a usage error (exit 2) instead of being ignored.
class Flags {
 public:
  Flags(std::string program, std::string summary);
  void Describe(const std::string& name, const std::string& default_value, const std::string& help,
                bool is_bool = false);
  // Parses argv; prints help and exits 0 on --help; prints a message and exits 2 on bad input.
  void Parse(int argc, char** argv);

  std::string Get(const std::string& name) const;
  int64_t GetInt(const std::string& name) const;
  double GetDouble(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  bool IsSet(const std::string& name) const;  // given on the command line

 private:
  struct Spec {
    std::string default_value;
    std::string help;
    bool is_bool = false;
  };
  [[noreturn]] void UsageError(const std::string& message) const;
  std::string program_;
  std::string summary_;
  std::vector<std::string> order_;
  std::map<std::string, Spec> specs_;
  std::map<std::string, std::string> values_;
};

// Monotonic seconds since an arbitrary origin.
double NowSeconds();

// CPU time (user + system) in microseconds.
struct CpuTimes {
  double user_us = 0;
  double sys_us = 0;
  double total() const { return user_us + sys_us; }
};
CpuTimes ProcessCpu();  // getrusage(RUSAGE_SELF)
CpuTimes ThreadCpu();   // getrusage(RUSAGE_THREAD)
// Peak resident set size of this process in bytes (ru_maxrss).
uint64_t PeakRssBytes();

// CPU of another process from /proc/<pid>/stat (utime + stime, and with `with_children`
// also cutime + cstime, the CPU of its reaped children), in microseconds. 0 if unreadable.
double ProcCpuUs(pid_t pid, bool with_children);
// CPU of a process tree: `root` (with its reaped children) plus every live process whose
// parent is `root`. Used for a PostgreSQL server (postmaster and its backends/workers).
double ProcessTreeCpuUs(pid_t root);
// CPU (utime + stime, µs) of the live threads of a process (0 = this one), summed by thread
// name (/proc/<pid>/task/<tid>/comm). Threads that exited are not counted.
std::map<std::string, double> ThreadCpuByName(pid_t pid = 0);
// Peak RSS (VmHWM) of another process in bytes, 0 if unreadable.
uint64_t ProcPeakRssBytes(pid_t pid);

// Latency samples in microseconds.
class Latencies {
 public:
  void Add(double us) { samples_.push_back(us); }
  void Merge(const Latencies& other);
  size_t count() const { return samples_.size(); }
  // q in [0, 1]; sorts lazily.
  double Percentile(double q);
  double Max();
  double Mean() const;

 private:
  std::vector<double> samples_;
  bool sorted_ = false;
};

// Creates a directory and its missing parents (like mkdir -p); ignores errors.
void MakeDirs(const std::string& path);
// Creates a fresh directory under `parent` (made if missing) and returns its path.
std::string MakeTempDir(const std::string& parent, const std::string& prefix);
// Recursively removes a path; ignores errors.
void RemoveTree(const std::string& path);
// Sum of the allocated sizes (st_blocks * 512) of the files under a path, like `du -s`.
uint64_t DiskUsageBytes(const std::string& path);
// True when the path lives on tmpfs/ramfs (where fsync means nothing).
bool IsMemoryFilesystem(const std::string& path);

// Formatting helpers.
std::string FormatCount(double v);              // 123456 -> "123,456"
std::string FormatFixed(double v, int digits);  // fixed-point
std::string FormatRatio(double v);              // "2.41×"

// A markdown table; the first `left_columns` columns are left-aligned (text), the rest
// right-aligned (numbers).
class MarkdownTable {
 public:
  explicit MarkdownTable(std::vector<std::string> header, size_t left_columns = 1)
      : header_(std::move(header)), left_columns_(left_columns) {}
  void AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const;

 private:
  std::vector<std::string> header_;
  size_t left_columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Appends text to a file (creating it); used to hand sections to scripts/bench.sh.
void AppendToFile(const std::string& path, const std::string& text);

}  // namespace annals::bench
