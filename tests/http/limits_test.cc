// Hostile or broken clients and handlers: slowloris, header injection both ways, oversized
// headers.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "http_test_util.h"

namespace annals::http_test {
namespace {

// Answers 200 with the request's X-Probe header (if any) as the body; counts calls.
struct CountingHandler {
  std::atomic<int> calls{0};
  HttpHandler Get() {
    return [this](HttpRequest&& req, Responder respond) {
      calls.fetch_add(1);
      HttpResponse r;
      r.content_type = "text/plain";
      r.body = req.Header("x-probe").value_or("ok");
      respond(std::move(r));
    };
  }
};

// Sends `request` on a fresh connection and reads until the server closes it.
std::optional<Response> Exchange(uint16_t port, const std::string& request,
                                 std::string* raw = nullptr) {
  auto conn = Conn::Open(port);
  if (!conn) return std::nullopt;
  conn->Send(request);
  conn->ReadUntilClosed();
  if (raw) *raw = conn->data();
  return ParseResponse(conn->data());
}

TEST(SlowlorisTest, ATricklingHeaderIsClosedAfterReadTimeoutWhileOthersAreServed) {
  HttpServerOptions options = TestOptions();
  options.read_timeout = std::chrono::seconds(1);
  options.idle_timeout = std::chrono::minutes(5);  // the trickle must not count as idle
  CountingHandler handler;
  auto server = StartServer(options, handler.Get());
  ASSERT_TRUE(server);

  auto slow = Conn::Open(server->port());
  ASSERT_TRUE(slow);
  std::atomic<bool> slow_closed{false};
  std::atomic<int> bytes_sent{0};
  std::thread loris([&] {
    const std::string header = "GET / HTTP/1.1\r\nHost: annals\r\nX-Slow: ";
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::minutes(2);
    for (size_t i = 0; std::chrono::steady_clock::now() < give_up; ++i) {
      const char byte = i < header.size() ? header[i] : 'a';
      if (!slow->Send(std::string_view(&byte, 1))) {
        slow_closed.store(true);
        break;
      }
      bytes_sent.fetch_add(1);
      slow->ReadSome(std::chrono::milliseconds(300));  // one byte every ~300 ms
      if (slow->closed()) {
        slow_closed.store(true);
        break;
      }
    }
  });

  // Meanwhile, ordinary clients get their answers.
  for (int i = 0; i < 3; ++i) {
    std::optional<Response> r =
        Exchange(server->port(),
                 "GET / HTTP/1.1\r\nHost: annals\r\nX-Probe: hi\r\nConnection: close\r\n\r\n");
    if (!r) {
      ADD_FAILURE() << "no response while a slow client was connected";
      continue;  // no ASSERT here: the loris thread must be joined
    }
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "hi");
  }
  loris.join();
  EXPECT_TRUE(slow_closed.load()) << "the server kept a trickling client for minutes";
  EXPECT_GT(bytes_sent.load(), 1);
  EXPECT_EQ(handler.calls.load(), 3) << "the unfinished request must not reach the handler";
  EXPECT_TRUE(slow->data().empty()) << "a timed-out header gets no response: " << slow->data();
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }));
}

TEST(HeaderInjectionTest, RequestHeaderValuesWithCrLfOrNulAreRejected) {
  CountingHandler handler;
  auto server = StartServer(TestOptions(), handler.Get());
  ASSERT_TRUE(server);
  const std::vector<std::string> bad = {
      std::string("X-Probe: one\rX-Injected: two\r\n"),    // bare CR
      std::string("X-Probe: one\nX-Injected: two\r\n"),    // bare LF
      std::string("X-Probe: one\r\rX-Injected: two\r\n"),  // CR CR
      std::string("X-Probe: one") + '\0' + "two\r\n",      // NUL
  };
  for (const std::string& field : bad) {
    std::string raw;
    std::optional<Response> r =
        Exchange(server->port(),
                 "GET / HTTP/1.1\r\nHost: annals\r\n" + field + "Connection: close\r\n\r\n", &raw);
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, 400) << raw;
    EXPECT_NE(r->body.find("bad_request"), std::string::npos) << r->body;
  }
  EXPECT_EQ(handler.calls.load(), 0);

  // An obsolete line folding is unfolded to a space: the handler never sees CR or LF.
  std::optional<Response> folded = Exchange(
      server->port(),
      "GET / HTTP/1.1\r\nHost: annals\r\nX-Probe: one\r\n two\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(folded);
  if (folded->status == 200) {
    EXPECT_EQ(folded->body, "one two");
  } else {
    EXPECT_EQ(folded->status, 400);
  }
}

TEST(HeaderInjectionTest, ResponseHeadersWithCrOrLfAreNeverSent) {
  struct Case {
    std::string name;
    std::string value;
    std::string content_type = "text/plain";
    bool stream = false;
  };
  const std::vector<Case> cases = {
      {"X-Note", "ok\r\nSet-Cookie: injected=1"},
      {"X-Note", "ok\nSet-Cookie: injected=1"},
      {"X-Note", "ok\rSet-Cookie: injected=1"},
      {"X-Note", std::string("ok") + '\0' + "Set-Cookie: injected=1"},
      {"X-Note\r\nSet-Cookie: injected", "1"},
      {"X Note", "space in the name"},
      {"", "empty name"},
      {"X-Note", "fine", "text/plain\r\nSet-Cookie: injected=1"},
      {"X-Note", "ok\r\nSet-Cookie: injected=1", "text/event-stream", true},
  };
  for (const Case& c : cases) {
    std::atomic<int> streams_started{0};
    HttpHandler handler = [&](HttpRequest&&, Responder respond) {
      HttpResponse r;
      r.content_type = c.content_type;
      r.headers.emplace_back(c.name, c.value);
      r.body = "body";
      if (c.stream) {
        r.start_stream = [&](std::shared_ptr<ResponseStream> s) {
          streams_started.fetch_add(1);
          s->Close();
        };
      }
      respond(std::move(r));
    };
    auto server = StartServer(TestOptions(), handler);
    ASSERT_TRUE(server);
    std::string raw;
    std::optional<Response> r =
        Exchange(server->port(), "GET / HTTP/1.1\r\nHost: annals\r\n\r\n", &raw);
    ASSERT_TRUE(r) << raw;
    EXPECT_EQ(r->status, 500) << raw;
    EXPECT_EQ(raw.find("injected"), std::string::npos) << raw;
    EXPECT_EQ(raw.find("Set-Cookie"), std::string::npos) << raw;
    EXPECT_FALSE(r->Header("X-Note")) << raw;
    EXPECT_EQ(streams_started.load(), 0);

    // The server keeps answering.
    std::optional<Response> again =
        Exchange(server->port(), "GET / HTTP/1.1\r\nHost: annals\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 500);  // same handler, same bad header
  }
}

TEST(HeaderLimitTest, OversizedHeadersGet431AndTheServerCarriesOn) {
  HttpServerOptions options = TestOptions();
  options.max_header_bytes = 4096;
  CountingHandler handler;
  auto server = StartServer(options, handler.Get());
  ASSERT_TRUE(server);
  std::string raw;
  std::optional<Response> r = Exchange(
      server->port(),
      "GET / HTTP/1.1\r\nHost: annals\r\nX-Big: " + std::string(8192, 'b') + "\r\n\r\n", &raw);
  ASSERT_TRUE(r) << raw.substr(0, 200);
  EXPECT_EQ(r->status, 431);
  EXPECT_NE(r->body.find("headers_too_large"), std::string::npos) << r->body;
  EXPECT_EQ(r->Header("Connection").value_or(""), "close");

  // Many small headers add up the same way.
  std::string many;
  for (int i = 0; i < 200; ++i)
    many += "X-H" + std::to_string(i) + ": " + std::string(30, 'v') + "\r\n";
  r = Exchange(server->port(), "GET / HTTP/1.1\r\nHost: annals\r\n" + many + "\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 431);
  EXPECT_EQ(handler.calls.load(), 0);

  r = Exchange(server->port(),
               "GET / HTTP/1.1\r\nHost: annals\r\nX-Probe: small\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "small");
}

TEST(BodyLimitTest, PathPrefixesCarryTheirOwnBodyLimit) {
  HttpServerOptions options = TestOptions();
  options.max_body_bytes = 1000;
  options.body_limits.push_back({"/big/", 5000});
  auto server = StartServer(options, [](HttpRequest&& req, Responder respond) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = std::to_string(req.body.size());
    respond(std::move(r));
  });
  ASSERT_TRUE(server);
  auto post = [&](const std::string& path, size_t size, bool chunked) {
    std::string request = "POST " + path + " HTTP/1.1\r\nHost: annals\r\nConnection: close\r\n";
    if (chunked) {
      char hex[32];
      std::snprintf(hex, sizeof hex, "%zx", size);
      request += "Transfer-Encoding: chunked\r\n\r\n" + std::string(hex) + "\r\n" +
                 std::string(size, 'x') + "\r\n0\r\n\r\n";
    } else {
      request += "Content-Length: " + std::to_string(size) + "\r\n\r\n" + std::string(size, 'x');
    }
    return Exchange(server->port(), request);
  };
  for (bool chunked : {false, true}) {
    std::optional<Response> r = post("/small", 2000, chunked);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413) << chunked;
    EXPECT_NE(r->body.find("1000"), std::string::npos) << r->body;
    r = post("/big/x?a=1", 2000, chunked);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << chunked;
    EXPECT_EQ(r->body, "2000");
    r = post("/big/x", 6000, chunked);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 413) << chunked;
    EXPECT_NE(r->body.find("5000"), std::string::npos) << r->body;
    r = post("/small", 900, chunked);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << chunked;
  }
}

}  // namespace
}  // namespace annals::http_test
