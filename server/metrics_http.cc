#include "server/metrics_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "informer/clock.h"
#include "server/log.h"

namespace informer {
namespace server {
namespace {

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

// How long one poll waits at most, so a connection thread notices Stop.
constexpr int kPollSliceMs = 100;

enum class Wait { kReady, kTimedOut, kStopping };

// Deadlines are on the monotonic clock: a wall-clock jump neither cuts nor extends a request.
using Deadline = std::chrono::steady_clock::time_point;

Deadline DeadlineAfter(absl::Duration timeout) {
  return std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
}

// Waits until `fd` is ready for `events`, the deadline passes, or `stopping` is set.
Wait WaitFor(int fd, short events, Deadline deadline, const std::atomic<bool>& stopping) {
  while (true) {
    if (stopping.load()) return Wait::kStopping;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return Wait::kTimedOut;
    const int slice = static_cast<int>(std::min<int64_t>(kPollSliceMs, left.count()));
    pollfd pfd{fd, events, 0};
    const int rc = ::poll(&pfd, 1, slice);
    if (rc > 0) return Wait::kReady;
    if (rc < 0 && errno != EINTR) return Wait::kReady;  // the read or write reports the error
  }
}

// Writes `data` before `deadline`: kReady when all was written (or the client went away).
Wait WriteAll(int fd, absl::string_view data, Deadline deadline,
              const std::atomic<bool>& stopping) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n =
        ::send(fd, data.data() + written, data.size() - written, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (Wait w = WaitFor(fd, POLLOUT, deadline, stopping); w != Wait::kReady) return w;
      continue;
    }
    if (n <= 0) return Wait::kReady;
    written += static_cast<size_t>(n);
  }
  return Wait::kReady;
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, MetricsHttpOptions options, Handler handler) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(address.substr(colon + 1), &port) ||
      port < 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\" is not HOST:PORT"));
  }
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) host = "0.0.0.0";
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found); rc != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics address \"", address, "\": ", ::gai_strerror(rc)));
  }
  int fd = -1;
  std::string error;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 64) != 0) {
      error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen for metrics on ", address, ": ", error));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  const int bound_port = bound.ss_family == AF_INET6
                             ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                             : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return std::unique_ptr<MetricsHttpServer>(
      new MetricsHttpServer(fd, bound_port, options, std::move(handler)));
}

MetricsHttpServer::MetricsHttpServer(int fd, int port, MetricsHttpOptions options, Handler handler)
    : fd_(fd), port_(port), options_(options), handler_(std::move(handler)), thread_([this] {
        Loop();
      }) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  // Connection threads see stopping_ within a poll slice.
  for (Worker& worker : workers_) worker.thread.join();
  workers_.clear();
  ::close(fd_);
}

size_t MetricsHttpServer::ReapWorkers() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->done.load()) {
      it->thread.join();
      it = workers_.erase(it);
    } else {
      ++it;
    }
  }
  return workers_.size();
}

void MetricsHttpServer::Loop() {
  while (!stopping_.load()) {
    pollfd pfd{fd_, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, kPollSliceMs);  // wakes to notice Stop
    ReapWorkers();
    if (ready <= 0) continue;
    int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (workers_.size() >= options_.max_connections) {
      Refuse(client);
      continue;
    }
    Worker& worker = workers_.emplace_back();
    worker.thread = std::thread([this, client, &worker] {
      Serve(client);
      ::close(client);
      worker.done.store(true);
    });
  }
}

void MetricsHttpServer::Refuse(int client) {
  // Counted before the client can see the answer, so a test reading the counter after it
  // finds it counted.
  const uint64_t refused = refused_.fetch_add(1) + 1;
  // Best effort and without waiting: the accept thread must not block on a client.
  static constexpr absl::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n";
  (void)::send(client, kBusy.data(), kBusy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(client);
  const absl::Time now = MonotonicNow();
  if (now - last_refusal_log_ >= absl::Seconds(10)) {
    last_refusal_log_ = now;
    Log(LogLevel::kInfo, "metrics server refused a connection: too many open",
        {{"max_connections", absl::StrCat(options_.max_connections)},
         {"refused_total", absl::StrCat(refused)}});
  }
}

// The value of header `name` (lower case) in the request head `request`; "" when absent.
static std::string HeaderValue(const std::string& request, absl::string_view name) {
  for (absl::string_view line : absl::StrSplit(request, "\r\n")) {
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) continue;
    if (absl::AsciiStrToLower(line.substr(0, colon)) == name) {
      return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    }
  }
  return "";
}

void MetricsHttpServer::Serve(int client) {
  // The whole request head must arrive within the deadline, however slowly it trickles in.
  const Deadline read_deadline = DeadlineAfter(options_.request_timeout);
  std::string request;
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    const Wait wait = WaitFor(client, POLLIN, read_deadline, stopping_);
    if (wait == Wait::kStopping) return;
    if (wait == Wait::kTimedOut) {
      const uint64_t total = timed_out_.fetch_add(1) + 1;
      Log(LogLevel::kInfo, "metrics server closed a connection: request not received in time",
          {{"timeout", absl::FormatDuration(options_.request_timeout)},
           {"received_bytes", absl::StrCat(request.size())},
           {"timed_out_total", absl::StrCat(total)}});
      return;
    }
    char buffer[2048];
    ssize_t n = ::recv(client, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n <= 0) return;
    request.append(buffer, static_cast<size_t>(n));
  }
  std::vector<std::string> line = absl::StrSplit(request.substr(0, request.find("\r\n")), ' ');
  HttpAnswer answer;
  if (line.size() < 2) {
    answer = {400, "text/plain; charset=utf-8", "bad request\n"};
  } else if (line[0] != "GET" && line[0] != "HEAD") {
    answer = {405, "text/plain; charset=utf-8", "only GET\n"};
  } else {
    std::string path = line[1].substr(0, line[1].find('?'));
    answer = handler_(path, HeaderValue(request, "authorization"));
  }
  std::string head = absl::StrCat(
      "HTTP/1.1 ", answer.code, " ", Reason(answer.code), "\r\nContent-Type: ", answer.content_type,
      "\r\nContent-Length: ", answer.body.size(), "\r\nConnection: close\r\n\r\n");
  if (line.empty() || line[0] != "HEAD") head.append(answer.body);
  // The answer must be read within its own deadline (a scrape's body is a few hundred KiB).
  if (WriteAll(client, head, DeadlineAfter(options_.request_timeout), stopping_) ==
      Wait::kTimedOut) {
    const uint64_t total = timed_out_.fetch_add(1) + 1;
    Log(LogLevel::kInfo, "metrics server closed a connection: answer not read in time",
        {{"timeout", absl::FormatDuration(options_.request_timeout)},
         {"timed_out_total", absl::StrCat(total)}});
  }
}

}  // namespace server
}  // namespace informer
