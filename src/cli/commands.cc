#include "cli/commands.h"
#include "cli/output.h"

#include <signal.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "cli/client.h"
#include "server/app.h"
#include "server/config.h"
#include "server/logging.h"

extern char** environ;

namespace annals {

// ---------------------------------------------------------------- serve

int RunServe(const ServeArgs& args) {
  ConfigOverrides overrides;
  overrides.config_file = args.config_file;
  if (args.data_dir) overrides.values["server.data"] = *args.data_dir;
  if (args.listen) overrides.values["server.listen"] = *args.listen;
  Result<Config> config = LoadConfig(overrides, environ);
  if (!config.ok()) {
    std::cerr << "annals: " << config.status().message() << "\n";
    return 2;
  }
  auto logger = std::make_shared<Logger>(config->log.level, config->log.format);

  // Block the shutdown signals in every thread; the main thread waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  const char* admin_env = std::getenv("ANNALS_ADMIN_KEY");
  Result<std::unique_ptr<App>> app =
      App::Start(*config, admin_env != nullptr ? admin_env : "", logger);
  if (!app.ok()) {
    std::cerr << "annals: " << app.status().message() << "\n";
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  logger->Info(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  (*app)->Shutdown();
  return 0;
}

// ---------------------------------------------------------------- ingest

namespace {

struct Batch {
  std::string body;
  std::vector<size_t> lines;  // 1-based line number of each event
};

// Sends one batch, retrying while the server says it is overloaded. Returns the number of
// events stored, or -1 after printing why the batch was refused.
long SendBatch(HttpClient& http, const Batch& batch, bool tty) {
  for (int attempt = 0;; ++attempt) {
    Result<ClientResponse> r = http.Send("POST", "/v1/events", batch.body, "application/x-ndjson");
    if (!r.ok()) {
      if (tty) std::cerr << "\n";
      std::cerr << "annals: " << r.status().message() << "\n";
      return -2;
    }
    if (r->status == 201) return static_cast<long>(batch.lines.size());
    if ((r->status == 503 || r->status == 429) && attempt < 60) {
      int wait = 1;
      try {
        wait = std::max(1, std::stoi(r->Header("retry-after")));
      } catch (...) {
      }
      std::this_thread::sleep_for(std::chrono::seconds(std::min(wait, 30)));
      continue;
    }
    if (tty) std::cerr << "\n";
    // Translate batch-relative paths (/3/...) into file line numbers.
    std::string msg = DescribeError(*r);
    std::cerr << "annals: lines " << batch.lines.front() << "-" << batch.lines.back()
              << " were not stored (" << msg << ")\n";
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r->body, ec);
    if (!ec && v.is_object()) {
      const auto* err = v.as_object().if_contains("error");
      const auto* details = err && err->is_object() ? err->as_object().if_contains("details") : nullptr;
      if (details && details->is_array()) {
        for (const auto& d : details->as_array()) {
          if (!d.is_object()) continue;
          const auto* p = d.as_object().if_contains("path");
          const auto* m = d.as_object().if_contains("message");
          if (!p || !p->is_string() || !m || !m->is_string()) continue;
          std::string path(p->as_string());
          size_t idx = 0;
          size_t slash = path.find('/', 1);
          try {
            idx = std::stoul(path.substr(1, slash == std::string::npos ? std::string::npos : slash - 1));
          } catch (...) {
            continue;
          }
          if (idx < batch.lines.size()) {
            std::cerr << "  line " << batch.lines[idx] << ": "
                      << (slash == std::string::npos ? "" : path.substr(slash) + ": ")
                      << std::string(m->as_string()) << "\n";
          }
        }
      }
    }
    return -1;
  }
}

// True when `line` is a JSON object with a top-level member `name`. Lines that do not parse
// are sent as they are, for the server to report.
bool HasTopLevelMember(const std::string& line, const char* name) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(line, ec);
  return ec || !v.is_object() || v.as_object().contains(name);
}

}  // namespace

int RunIngest(const ClientArgs& client, const IngestArgs& args) {
  std::istream* in = &std::cin;
  std::ifstream file;
  uint64_t total_bytes = 0;
  if (args.file != "-") {
    file.open(args.file, std::ios::binary);
    if (!file) {
      std::cerr << "annals: cannot open " << args.file << "\n";
      return 1;
    }
    file.seekg(0, std::ios::end);
    total_bytes = static_cast<uint64_t>(file.tellg());
    file.seekg(0);
    in = &file;
  }
  const bool tty = !args.quiet && ::isatty(STDERR_FILENO);
  HttpClient http(client.server, client.key, client.ca_file);

  uint64_t stored = 0, rejected = 0, read_bytes = 0;
  bool transport_failed = false;
  const auto start = std::chrono::steady_clock::now();
  auto last_progress = start;
  auto progress = [&](bool force) {
    if (!tty) return;
    auto now = std::chrono::steady_clock::now();
    if (!force && now - last_progress < std::chrono::milliseconds(200)) return;
    last_progress = now;
    double secs = std::chrono::duration<double>(now - start).count();
    std::string line = "\ringested " + std::to_string(stored) + " events (" +
                       FormatRate(static_cast<double>(stored), secs) + "/s)";
    if (total_bytes > 0) {
      line += ", " + std::to_string(read_bytes * 100 / total_bytes) + "% of " + args.file;
    }
    if (rejected) line += ", " + std::to_string(rejected) + " rejected";
    std::cerr << line << "   " << std::flush;
  };

  Batch batch;
  auto flush = [&]() {
    if (batch.lines.empty()) return;
    long n = SendBatch(http, batch, tty);
    if (n >= 0) {
      stored += static_cast<uint64_t>(n);
    } else {
      rejected += batch.lines.size();
      if (n == -2) transport_failed = true;
    }
    batch = Batch();
    progress(false);
  };

  std::string line;
  size_t line_no = 0;
  while (!transport_failed && std::getline(*in, line)) {
    ++line_no;
    read_bytes += line.size() + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (!args.org.empty() && !HasTopLevelMember(line, "organization_id")) {
      // Insert the organization into the object without reformatting the rest (re-serializing
      // could change numbers the server must see as sent).
      size_t brace = line.find('{');
      if (brace != std::string::npos) {
        std::string org_json = boost::json::serialize(boost::json::value(args.org));
        std::string rest = line.substr(brace + 1);
        bool empty_obj = rest.find_first_not_of(" \t") == std::string::npos ||
                         rest[rest.find_first_not_of(" \t")] == '}';
        line = line.substr(0, brace + 1) + "\"organization_id\":" + org_json +
               (empty_obj ? "" : ",") + rest;
      }
    }
    batch.body += line;
    batch.body += '\n';
    batch.lines.push_back(line_no);
    if (batch.lines.size() >= args.batch || batch.body.size() >= (8u << 20)) flush();
  }
  flush();
  progress(true);
  if (tty) std::cerr << "\n";
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!args.quiet) {
    char took[32];
    std::snprintf(took, sizeof took, "%.1f", secs);
    std::cerr << "ingested " << stored << " events in " << took << "s ("
              << FormatRate(static_cast<double>(stored), secs) << " events/s)";
    if (rejected) std::cerr << "; " << rejected << " not stored";
    std::cerr << "\n";
  }
  return rejected == 0 && !transport_failed ? 0 : 1;
}

// ---------------------------------------------------------------- events

namespace {

std::string Str(const boost::json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

std::string Pad(std::string s, size_t width) {
  if (s.size() > width) return s.substr(0, width - 1) + "~";
  s.resize(width, ' ');
  return s;
}

}  // namespace

int RunEvents(const ClientArgs& client, const EventsArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::string base = "/v1/events?limit=" + std::to_string(args.limit);
  auto add = [&](const char* name, const std::string& value) {
    base += "&";
    base += name;
    base += "=" + http.Escape(value);
  };
  if (!args.org.empty()) add("organization_id", args.org);
  for (const auto& a : args.actions) add("action", a);
  for (const auto& a : args.actor_ids) add("actor_id", a);
  for (const auto& t : args.target_types) add("target_type", t);
  for (const auto& t : args.target_ids) add("target_id", t);
  if (!args.from.empty()) add("from", args.from);
  if (!args.to.empty()) add("to", args.to);
  if (!args.order.empty()) add("order", args.order);

  std::string after = args.after;
  bool header_printed = false;
  for (;;) {
    std::string path = base;
    if (!after.empty()) path += "&after=" + http.Escape(after);
    if (!args.before.empty() && after.empty()) path += "&before=" + http.Escape(args.before);
    Result<ClientResponse> r = http.Send("GET", path);
    if (!r.ok()) {
      std::cerr << "annals: " << r.status().message() << "\n";
      return 1;
    }
    if (r->status != 200) {
      std::cerr << "annals: " << DescribeError(*r) << "\n";
      return 1;
    }
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(r->body, ec);
    if (ec || !v.is_object() || !v.as_object().contains("data")) {
      std::cerr << "annals: the server answered with an unexpected body\n";
      return 1;
    }
    const auto& data = v.as_object().at("data").as_array();
    if (args.json) {
      for (const auto& e : data) std::cout << boost::json::serialize(e) << "\n";
    } else {
      if (!header_printed) {
        std::cout << Pad("OCCURRED_AT", 28) << Pad("SEQ", 8) << Pad("ACTION", 26)
                  << Pad("ACTOR", 20) << Pad("TARGETS", 40) << "ID\n";
        header_printed = true;
      }
      for (const auto& e : data) {
        const auto& o = e.as_object();
        std::string actor;
        if (const auto* a = o.if_contains("actor"); a && a->is_object()) {
          actor = Str(a->as_object(), "type") + ":" + Str(a->as_object(), "id");
        }
        std::string targets;
        if (const auto* t = o.if_contains("targets"); t && t->is_array()) {
          for (const auto& x : t->as_array()) {
            if (!x.is_object()) continue;
            if (!targets.empty()) targets += ",";
            targets += Str(x.as_object(), "type") + ":" + Str(x.as_object(), "id");
          }
        }
        std::string seq = o.contains("seq") ? boost::json::serialize(o.at("seq")) : "";
        std::cout << Pad(Str(o, "occurred_at"), 28) << Pad(seq, 8) << Pad(Str(o, "action"), 26)
                  << Pad(actor, 20) << Pad(targets, 40) << Str(o, "id") << "\n";
      }
    }
    const auto& meta = v.as_object().at("list_metadata").as_object();
    const auto* next = meta.if_contains("after");
    if (!args.all || next == nullptr || !next->is_string()) {
      if (!args.json && !args.all && next != nullptr && next->is_string()) {
        std::cerr << "more: --after " << std::string(next->as_string()) << "\n";
      }
      break;
    }
    after = std::string(next->as_string());
  }
  return 0;
}

}  // namespace annals
