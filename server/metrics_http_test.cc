#include "server/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace informer {
namespace server {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// A connected loopback socket to `port`; -1 on failure.
int Connect(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Everything the server sends on `fd` until it closes (or `timeout` passes).
std::string ReadAll(int fd, absl::Duration timeout = absl::Seconds(10)) {
  std::string out;
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 50) <= 0) continue;
    char buffer[4096];
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
  }
  return out;
}

// GET `path` on a fresh connection: the whole answer.
std::string Get(int port, const std::string& path) {
  int fd = Connect(port);
  if (fd < 0) return "connect failed";
  std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n");
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer = ReadAll(fd);
  ::close(fd);
  return answer;
}

std::unique_ptr<MetricsHttpServer> StartServer(MetricsHttpOptions options) {
  absl::StatusOr<std::unique_ptr<MetricsHttpServer>> server = MetricsHttpServer::Start(
      "127.0.0.1:0", options, [](const std::string& path, const std::string&) {
        if (path == "/readyz") return HttpAnswer{200, "text/plain; charset=utf-8", "ok\n"};
        return HttpAnswer{404, "text/plain; charset=utf-8", "no\n"};
      });
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

TEST(MetricsHttpServerTest, AnswersGet) {
  std::unique_ptr<MetricsHttpServer> server = StartServer({});
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(Get(server->port(), "/readyz"), StartsWith("HTTP/1.1 200 OK"));
  EXPECT_THAT(Get(server->port(), "/other"), StartsWith("HTTP/1.1 404"));
}

// A slow-loris client trickles its request head a byte every 2 s: /readyz is answered at once
// meanwhile (served on its own connection thread), and the slow client is cut at the deadline.
TEST(MetricsHttpServerTest, SlowLorisDoesNotDelayReadyz) {
  MetricsHttpOptions options;
  options.request_timeout = absl::Seconds(3);
  std::unique_ptr<MetricsHttpServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  std::vector<int> lorises;
  for (int i = 0; i < 8; ++i) {
    int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    ::send(fd, "G", 1, MSG_NOSIGNAL);
    lorises.push_back(fd);
  }
  const absl::Time start = absl::Now();
  absl::Duration slowest;
  for (int round = 0; round < 2; ++round) {
    const absl::Time asked = absl::Now();
    EXPECT_THAT(Get(server->port(), "/readyz"), StartsWith("HTTP/1.1 200 OK"));
    slowest = std::max(slowest, absl::Now() - asked);
    absl::SleepFor(absl::Seconds(2) - (absl::Now() - asked));
    for (int fd : lorises) ::send(fd, "E", 1, MSG_NOSIGNAL);  // a byte every 2 s
  }
  std::printf("slowest /readyz with 8 slow-loris connections open: %s\n",
              absl::FormatDuration(slowest).c_str());
  // Served one at a time, /readyz would wait for the lorises (3 s each). A generous bound, so
  // a loaded machine does not fail it: still far below one request timeout.
  EXPECT_LT(slowest, absl::Seconds(1));
  // The lorises are cut at their deadline (3 s after they connected), with no answer.
  for (int fd : lorises) {
    EXPECT_EQ(ReadAll(fd, absl::Seconds(10)), "");
    ::close(fd);
  }
  EXPECT_GE(absl::Now() - start, absl::Seconds(2.5));
  EXPECT_EQ(server->timed_out_connections(), 8u);
}

TEST(MetricsHttpServerTest, ConnectionsPastTheCapAreRefusedWith503) {
  MetricsHttpOptions options;
  options.max_connections = 3;
  options.request_timeout = absl::Seconds(30);
  std::unique_ptr<MetricsHttpServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  std::vector<int> idle;
  for (int i = 0; i < 3; ++i) {
    int fd = Connect(server->port());
    ASSERT_GE(fd, 0);
    idle.push_back(fd);
  }
  // The server accepts in order: the 4th connection finds 3 being served.
  std::string answer;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    answer = Get(server->port(), "/readyz");
    if (absl::StartsWith(answer, "HTTP/1.1 503")) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(answer, StartsWith("HTTP/1.1 503"));
  EXPECT_THAT(answer, HasSubstr("too many connections"));
  EXPECT_GE(server->refused_connections(), 1u);
  // Once they close, a new client is served again.
  for (int fd : idle) ::close(fd);
  std::string later;
  const absl::Time again = absl::Now() + absl::Seconds(10);
  while (absl::Now() < again) {
    later = Get(server->port(), "/readyz");
    if (absl::StartsWith(later, "HTTP/1.1 200")) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_THAT(later, StartsWith("HTTP/1.1 200 OK"));
}

TEST(MetricsHttpServerTest, StopEndsOpenConnectionsPromptly) {
  MetricsHttpOptions options;
  options.request_timeout = absl::Minutes(5);
  std::unique_ptr<MetricsHttpServer> server = StartServer(options);
  ASSERT_NE(server, nullptr);
  int fd = Connect(server->port());
  ASSERT_GE(fd, 0);
  absl::SleepFor(absl::Milliseconds(200));  // accepted and being served
  const absl::Time start = absl::Now();
  server->Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ::close(fd);
}

}  // namespace
}  // namespace server
}  // namespace informer
