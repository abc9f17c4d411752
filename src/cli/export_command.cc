// annals export: creates an export on the server, follows it to ready with a progress bar
// (rows, rows/s, ETA) on a terminal, downloads it through its signed URL, and prints a
// summary line.
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/output.h"

namespace annals {

namespace {

std::string Seconds(double s) {
  char buf[32];
  if (s < 60) {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  } else {
    std::snprintf(buf, sizeof buf, "%.0fm%02.0fs", s / 60 - 0.5, std::fmod(s, 60.0));
  }
  return buf;
}

int64_t IntMember(const boost::json::value& v, const char* name) {
  const auto* m = v.as_object().if_contains(name);
  return m != nullptr && m->is_int64() ? m->as_int64() : -1;
}

// The path and query of an absolute URL ("http://h:1/p?q" -> "/p?q").
std::string PathOf(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t slash = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return slash == std::string::npos ? "/" : url.substr(slash);
}

}  // namespace

int RunExport(const ClientArgs& client, const ExportArgs& args) {
  if (args.output.empty()) return UsageError("give the file to write with -o FILE (or - for stdout)");
  if (args.format != "csv" && args.format != "ndjson" && args.format != "json") {
    return UsageError("--format must be csv, ndjson or json");
  }
  boost::json::object body;
  if (!args.org.empty()) body["organization_id"] = args.org;
  auto list = [&](const char* name, const std::vector<std::string>& values) {
    if (values.empty()) return;
    boost::json::array a;
    for (const auto& v : values) a.emplace_back(v);
    body[name] = std::move(a);
  };
  list("action", args.actions);
  list("actor_id", args.actor_ids);
  list("target_type", args.target_types);
  list("target_id", args.target_ids);
  if (!args.from.empty()) body["from"] = args.from;
  if (!args.to.empty()) body["to"] = args.to;
  body["format"] = args.format;
  body["gzip"] = args.gzip;

  HttpClient http(client.server, client.key, client.ca_file);
  std::optional<boost::json::value> job =
      CallJson(http, "POST", "/v1/exports", 201, boost::json::serialize(body));
  if (!job) return 1;
  const std::string id = Member(*job, "id");
  const std::string org = Member(*job, "organization_id");
  const bool tty = !args.quiet && ::isatty(STDERR_FILENO);
  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };

  // Follow the job.
  for (;;) {
    const std::string state = Member(*job, "state");
    const int64_t rows = IntMember(*job, "rows_written");
    const int64_t total = IntMember(*job, "total_estimate");
    if (tty) {
      const double secs = elapsed();
      std::string line = "\rexporting: " + std::to_string(std::max<int64_t>(rows, 0));
      if (total >= 0) line += " of ~" + std::to_string(total);
      line += " rows (" + FormatRate(static_cast<double>(std::max<int64_t>(rows, 0)), secs) +
              "/s)";
      if (total > 0 && rows > 0 && rows < total) {
        line += ", ETA " + Seconds(secs * static_cast<double>(total - rows) /
                                   static_cast<double>(rows));
      }
      std::cerr << line << "     " << std::flush;
    }
    if (state == "ready") break;
    if (state == "error") {
      if (tty) std::cerr << "\n";
      std::cerr << "annals: export " << id << " failed: " << Member(*job, "error") << "\n";
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    job = CallJson(http, "GET", "/v1/exports/" + id + "?organization_id=" + http.Escape(org), 200);
    if (!job) return 1;
  }
  if (tty) std::cerr << "\n";

  // Download it.
  const bool to_stdout = args.output == "-";
  const std::string part = args.output + ".part";
  std::ofstream out;
  if (!to_stdout) {
    out.open(part, std::ios::binary | std::ios::trunc);
    if (!out) {
      std::cerr << "annals: cannot write " << part << "\n";
      return 1;
    }
  }
  const int64_t bytes = IntMember(*job, "bytes");
  uint64_t received = 0;
  auto last = std::chrono::steady_clock::now();
  HttpClient download(client.server, "", client.ca_file);
  const std::string media = args.gzip ? "application/gzip"
                            : args.format == "csv" ? "text/csv"
                            : args.format == "ndjson" ? "application/x-ndjson"
                                                      : "application/json";
  Result<ClientResponse> r = download.Stream(
      PathOf(Member(*job, "url")), {}, media,
      [&](std::string_view data) {
        received += data.size();
        if (to_stdout) {
          std::cout.write(data.data(), static_cast<std::streamsize>(data.size()));
        } else {
          out.write(data.data(), static_cast<std::streamsize>(data.size()));
        }
        if (tty && std::chrono::steady_clock::now() - last > std::chrono::milliseconds(200)) {
          last = std::chrono::steady_clock::now();
          std::cerr << "\rdownloading: " << received / 1024 << " of " << bytes / 1024 << " KiB"
                    << std::flush;
        }
        return true;
      },
      [] { return false; }, std::chrono::seconds(60));
  if (tty) std::cerr << "\n";
  struct RemovePart {
    const std::string& path;
    bool keep = false;
    ~RemovePart() {
      std::error_code ec;
      if (!keep) std::filesystem::remove(path, ec);
    }
  } remove_part{part, to_stdout};
  if (!r.ok()) {
    std::cerr << "annals: cannot download export " << id << ": " << r.status().message() << "\n";
    return 1;
  }
  if (r->status != 200) {
    std::cerr << "annals: cannot download export " << id << ": " << DescribeError(*r) << "\n";
    return 1;
  }
  if (bytes >= 0 && received != static_cast<uint64_t>(bytes)) {
    std::cerr << "annals: export " << id << " downloaded incompletely (" << received << " of "
              << bytes << " bytes)\n";
    return 1;
  }
  if (!to_stdout) {
    out.close();
    std::error_code ec;
    std::filesystem::rename(part, args.output, ec);
    remove_part.keep = !ec;
    if (!out || ec) {
      std::cerr << "annals: cannot write " << args.output << "\n";
      return 1;
    }
  }
  if (!args.quiet) {
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", elapsed());
    std::cerr << "exported " << Member(*job, "rows_written") << " events of " << org << " to "
              << (to_stdout ? "stdout" : args.output) << " (" << received << " bytes, "
              << args.format << (args.gzip ? ", gzip" : "") << ") in " << took << "s\n";
  }
  return 0;
}

}  // namespace annals
