// Many idle connections: max_connections holds, the server stays responsive, and every
// connection is accounted for when the clients leave.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "http_test_util.h"

extern char** environ;

namespace annals::http_test {
namespace {

// Runs the http_idle_clients helper, which holds idle connections in its own process.
class IdleClients {
 public:
  bool Start(uint16_t port, int count) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    const std::string port_arg = std::to_string(port);
    const std::string count_arg = std::to_string(count);
    char* argv[] = {const_cast<char*>(ANNALS_IDLE_CLIENTS), const_cast<char*>(port_arg.c_str()),
                    const_cast<char*>(count_arg.c_str()), nullptr};
    const int rc = posix_spawn(&pid_, ANNALS_IDLE_CLIENTS, &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
    to_child_ = in[1];
    from_child_ = out[0];
    return rc == 0;
  }

  ~IdleClients() {
    if (to_child_ >= 0) ::close(to_child_);
    if (from_child_ >= 0) ::close(from_child_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }

  // The helper's next output line ("" when it died or `timeout` passed).
  std::string ReadLine(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return "";
      pollfd p{from_child_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::min<long>(left.count(), 1000))) <= 0) continue;
      char buf[256];
      ssize_t n = ::read(from_child_, buf, sizeof(buf));
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  std::string Command(const std::string& command) {
    const std::string line = command + "\n";
    if (::write(to_child_, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      return "";
    return ReadLine(std::chrono::minutes(1));
  }

  // Closes every connection and waits for the helper to exit; true on a clean exit.
  bool Quit() {
    if (Command("quit") != "closed") return false;
    int status = 0;
    const bool ok =
        ::waitpid(pid_, &status, 0) == pid_ && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    pid_ = -1;
    return ok;
  }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  int from_child_ = -1;
  std::string buffer_;
};

TEST(ConnectionLimitTest, TenThousandIdleConnectionsThenExtrasAreRefusedCleanly) {
  constexpr size_t kIdle = 10000;
  constexpr int kExtra = 200;
  rlimit rl{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < 12000) {
    GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << rl.rlim_max << " is below 12000";
  }
  rl.rlim_cur = rl.rlim_max;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);

  HttpServerOptions options = TestOptions();
  options.max_connections = kIdle;
  options.idle_timeout = std::chrono::minutes(10);  // the idle ones must stay for the test
  std::atomic<int> calls{0};
  auto server = StartServer(options, [&](HttpRequest&& req, Responder respond) {
    calls.fetch_add(1);
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "served " + req.target;
    respond(std::move(r));
  });
  ASSERT_TRUE(server);

  IdleClients idle;
  ASSERT_TRUE(idle.Start(server->port(), static_cast<int>(kIdle)));
  ASSERT_EQ(idle.ReadLine(std::chrono::minutes(5)), "open " + std::to_string(kIdle));
  ASSERT_TRUE(
      WaitUntil([&] { return server->open_connections() == kIdle; }, std::chrono::minutes(5)))
      << server->open_connections();

  // The extras, all at once: each is refused with a 503 or closed, never served.
  std::vector<std::unique_ptr<Conn>> extras;
  int refused_before_request = 0;
  for (int i = 0; i < kExtra; ++i) {
    auto c = Conn::Open(server->port());
    if (!c) {
      ++refused_before_request;
      continue;
    }
    extras.push_back(std::move(c));
  }
  int got_503 = 0, just_closed = 0, other = 0;
  for (auto& c : extras) c->Send("GET /extra HTTP/1.1\r\nHost: annals\r\n\r\n");
  for (auto& c : extras) {
    ASSERT_TRUE(c->ReadUntilClosed()) << "a refused connection must be closed";
    std::optional<Response> r = ParseResponse(c->data());
    if (r && r->status == 503 && r->body.find("overloaded") != std::string::npos) {
      ++got_503;
    } else if (c->data().empty()) {
      ++just_closed;
    } else {
      ++other;
      ADD_FAILURE() << "unexpected answer to an extra connection: " << c->data();
    }
  }
  extras.clear();
  EXPECT_EQ(got_503 + just_closed + refused_before_request, kExtra);
  EXPECT_EQ(other, 0);
  EXPECT_GT(got_503, 0) << "refusals should normally carry a 503";
  EXPECT_EQ(calls.load(), 0);
  ASSERT_TRUE(
      WaitUntil([&] { return server->open_connections() == kIdle; }, std::chrono::minutes(1)));

  // A fresh client while all 10,000 are held: every slot is taken, so it gets a well-formed
  // refusal rather than a hang.
  {
    auto fresh = Conn::Open(server->port());
    ASSERT_TRUE(fresh);
    fresh->Send("GET /fresh HTTP/1.1\r\nHost: annals\r\n\r\n");
    ASSERT_TRUE(fresh->ReadUntilClosed());
    std::optional<Response> r = ParseResponse(fresh->data());
    ASSERT_TRUE(r) << fresh->data();
    EXPECT_EQ(r->status, 503);
    EXPECT_TRUE(r->Header("Retry-After"));
    EXPECT_TRUE(HasCompleteResponse(fresh->data()));
  }

  // One idle client leaves: the next fresh client is served while the other 9,999 stay open.
  ASSERT_EQ(idle.Command("close1"), "ok " + std::to_string(kIdle - 1));
  ASSERT_TRUE(
      WaitUntil([&] { return server->open_connections() == kIdle - 1; }, std::chrono::minutes(1)));
  {
    auto fresh = Conn::Open(server->port());
    ASSERT_TRUE(fresh);
    fresh->Send("GET /fresh HTTP/1.1\r\nHost: annals\r\nConnection: close\r\n\r\n");
    ASSERT_TRUE(fresh->ReadUntilClosed());
    std::optional<Response> r = ParseResponse(fresh->data());
    ASSERT_TRUE(r) << fresh->data();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "served /fresh");
    EXPECT_EQ(calls.load(), 1);
  }
  EXPECT_GE(server->open_connections(), kIdle - 1);

  ASSERT_TRUE(idle.Quit());
  EXPECT_TRUE(WaitUntil([&] { return server->open_connections() == 0; }, std::chrono::minutes(5)))
      << server->open_connections() << " connections still counted";
}

}  // namespace
}  // namespace annals::http_test
