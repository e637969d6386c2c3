#include "server/metrics_http.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace informer {
namespace server {
namespace {

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
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

void WriteAll(int fd, const std::string& data) {
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::send(fd, data.data() + written, data.size() - written, MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return;
    }
    written += static_cast<size_t>(n);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& address, Handler handler) {
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
      new MetricsHttpServer(fd, bound_port, std::move(handler)));
}

MetricsHttpServer::MetricsHttpServer(int fd, int port, Handler handler)
    : fd_(fd), port_(port), handler_(std::move(handler)), thread_([this] { Loop(); }) {}

MetricsHttpServer::~MetricsHttpServer() { Stop(); }

void MetricsHttpServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (thread_.joinable()) thread_.join();
  InFlight& in_flight = *in_flight_;
  absl::MutexLock lock(&in_flight.mu);
  auto idle = [&in_flight]()
                  ABSL_EXCLUSIVE_LOCKS_REQUIRED(in_flight.mu) { return in_flight.count == 0; };
  in_flight.mu.Await(absl::Condition(&idle));
  ::close(fd_);
}

void MetricsHttpServer::Loop() {
  while (!stopping_.load()) {
    pollfd pfd{fd_, POLLIN, 0};
    if (::poll(&pfd, 1, 100) <= 0) continue;  // wakes every 100 ms to notice Stop
    int client = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    bool own_thread;
    {
      absl::MutexLock lock(&in_flight_->mu);
      own_thread = in_flight_->count < kMaxInFlight;
      if (own_thread) ++in_flight_->count;
    }
    if (!own_thread) {  // saturated: serve here (back-pressure on the accept loop)
      Serve(client);
      ::close(client);
      continue;
    }
    std::thread([this, client, in_flight = in_flight_] {
      Serve(client);
      ::close(client);
      absl::MutexLock lock(&in_flight->mu);
      --in_flight->count;
    }).detach();
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
  // Read the request head (a scrape's is small); give up after 2 s of silence.
  std::string request;
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 16384) {
    pollfd pfd{client, POLLIN, 0};
    if (::poll(&pfd, 1, 2000) <= 0) return;
    char buffer[2048];
    ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
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
  WriteAll(client, head);
  if (line.empty() || line[0] != "HEAD") WriteAll(client, answer.body);
}

}  // namespace server
}  // namespace informer
