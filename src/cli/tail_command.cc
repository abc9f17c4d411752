// annals tail: follows GET /v1/events/stream (server-sent events) and prints each event as
// it arrives. After a dropped connection or a server error it reconnects with a growing
// delay (0.5 s doubling up to 10 s, at least the `retry` the server asked for) and sends
// the id of the last event it printed as Last-Event-ID, so that the server resumes right
// after it.
#include <signal.h>

#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/commands.h"
#include "cli/output.h"
#include "query/sse_parser.h"

namespace annals {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnStopSignal(int) { g_stop = 1; }

bool Stopping() { return g_stop != 0; }

// SIGINT and SIGTERM end the tail; without SA_RESTART they also cut short a blocking wait.
void InstallStopHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

// Sleeps for `d` or until a stop signal, whichever comes first.
void SleepUnlessStopped(std::chrono::milliseconds d) {
  const auto until = std::chrono::steady_clock::now() + d;
  while (!Stopping() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// One readable line: occurred_at, action, actor (type:id) and targets (type:id,...).
std::string EventLine(const boost::json::value& e) {
  std::string actor = "-";
  if (const auto* a = e.as_object().if_contains("actor"); a != nullptr && a->is_object()) {
    actor = Member(*a, "type") + ":" + Member(*a, "id");
  }
  std::string targets;
  if (const auto* t = e.as_object().if_contains("targets"); t != nullptr && t->is_array()) {
    for (const auto& target : t->as_array()) {
      if (!target.is_object()) continue;
      if (!targets.empty()) targets += ',';
      targets += Member(target, "type") + ":" + Member(target, "id");
    }
  }
  return Member(e, "occurred_at") + "  " + Member(e, "action") + "  " + actor + "  " +
         (targets.empty() ? "-" : targets);
}

std::string Seconds(std::chrono::milliseconds d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(d.count()) / 1000.0);
  return buf;
}

}  // namespace

int RunTail(const ClientArgs& client, const TailArgs& args) {
  HttpClient http(client.server, client.key, client.ca_file);
  std::string query;
  auto add = [&](const char* name, const std::string& value) {
    query += query.empty() ? "?" : "&";
    query += name;
    query += "=" + http.Escape(value);
  };
  if (!args.org.empty()) add("organization_id", args.org);
  for (const auto& a : args.actions) add("action", a);
  for (const auto& a : args.actor_ids) add("actor_id", a);
  for (const auto& t : args.target_types) add("target_type", t);
  for (const auto& t : args.target_ids) add("target_id", t);
  const std::string path = "/v1/events/stream" + query;

  InstallStopHandlers();
  constexpr std::chrono::milliseconds kFirstDelay(500), kMaxDelay(10000);
  // The server sends a comment at least every ~15 s; silence for much longer than that
  // means the connection is gone without either side having noticed.
  constexpr std::chrono::seconds kIdleTimeout(45);
  std::chrono::milliseconds delay = kFirstDelay;
  SseParser parser;
  bool connected_once = false;
  while (!Stopping()) {
    parser.Restart();
    HttpClient::Headers headers = {{"Accept", "text/event-stream"},
                                   {"Cache-Control", "no-cache"}};
    if (!parser.last_event_id().empty()) headers.emplace_back("Last-Event-ID", parser.last_event_id());

    bool got_data = false;  // events or keepalives: the stream worked
    Status stream_error;
    bool output_failed = false;
    std::vector<SseEvent> events;
    auto on_data = [&](std::string_view chunk) {
      got_data = true;
      events.clear();
      stream_error = parser.Feed(chunk, &events);
      for (const SseEvent& e : events) {
        if (e.type != "event") continue;  // other kinds are for other clients
        if (args.json) {
          std::cout << e.data << "\n";
        } else {
          boost::system::error_code ec;
          boost::json::value v = boost::json::parse(e.data, ec);
          std::cout << (!ec && v.is_object() ? EventLine(v) : Printable(e.data)) << "\n";
        }
        std::cout.flush();
        if (!std::cout) {
          output_failed = true;
          return false;
        }
      }
      return stream_error.ok();
    };
    Result<ClientResponse> r =
        http.Stream(path, headers, "text/event-stream", on_data, Stopping, kIdleTimeout);
    if (Stopping()) break;
    if (output_failed) return Fail("cannot write to standard output");
    if (!stream_error.ok()) return Fail(stream_error.message());

    std::string why;
    if (!r.ok()) {
      // Before any answer a failure to connect is most likely a wrong --server.
      if (!connected_once && r.status().error_code() == "connection_failed") {
        return Fail(r.status().message());
      }
      connected_once = connected_once || r.status().error_code() == "connection_lost";
      why = r.status().message();
    } else if (r->status / 100 == 2) {
      if (!IsMediaType(r->Header("content-type"), "text/event-stream")) {
        return Fail("the server did not answer " + path.substr(0, path.find('?')) +
                    " with an event stream");
      }
      connected_once = true;
      why = "the server ended the stream";
    } else if (r->status >= 500 || r->status == 429) {
      why = DescribeError(*r);
    } else if (r->status == 404 && r->ErrorCode() != "organization_not_found") {
      return Fail("the server at " + client.server + " does not offer the live event stream (" +
                  DescribeError(*r) + ")");
    } else {
      return Fail(DescribeError(*r));
    }
    if (got_data) delay = kFirstDelay;  // the stream worked until it ended
    std::chrono::milliseconds wait = delay;
    if (parser.retry_ms()) {
      wait = std::max(wait, std::min<std::chrono::milliseconds>(
                                std::chrono::milliseconds(*parser.retry_ms()), kMaxDelay));
    }
    std::cerr << "annals: " << why << "; reconnecting in " << Seconds(wait) << " s\n";
    SleepUnlessStopped(wait);
    delay = std::min(delay * 2, kMaxDelay);
  }
  return 0;
}

}  // namespace annals
