// Holds many idle TCP connections to a server for connections_test.cc, in a process of its
// own: the client and server ends of 10,000 connections would not fit in one process's
// descriptor limit.
//
// Usage: http_idle_clients PORT COUNT
// Connects COUNT times to 127.0.0.1:PORT and sends nothing, then prints "open COUNT" (or
// "error ..." and exits 1). Then reads commands on stdin, one per line:
//   close1  closes one connection and prints "ok N" (N still open)
//   quit    (or end of input) closes every connection, prints "closed" and exits 0.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s PORT COUNT\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int count = std::atoi(argv[2]);
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  std::vector<int> fds;
  fds.reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    int fd = -1;
    for (int attempt = 0;; ++attempt) {
      fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        std::printf("error socket %d: %s\n", i, std::strerror(errno));
        return 1;
      }
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) break;
      const int err = errno;
      ::close(fd);
      // A full accept queue can refuse for a moment; anything else, or for long, is fatal.
      if ((err != ECONNREFUSED && err != EAGAIN && err != ETIMEDOUT) || attempt >= 100) {
        std::printf("error connect %d: %s\n", i, std::strerror(err));
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    fds.push_back(fd);
  }
  std::printf("open %zu\n", fds.size());
  std::fflush(stdout);

  char line[64];
  while (std::fgets(line, sizeof(line), stdin)) {
    if (std::strncmp(line, "close1", 6) == 0) {
      if (!fds.empty()) {
        ::close(fds.back());
        fds.pop_back();
      }
      std::printf("ok %zu\n", fds.size());
      std::fflush(stdout);
    } else if (std::strncmp(line, "quit", 4) == 0) {
      break;
    }
  }
  for (int fd : fds) ::close(fd);
  std::printf("closed\n");
  std::fflush(stdout);
  return 0;
}
