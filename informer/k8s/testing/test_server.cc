#include "informer/k8s/testing/test_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "informer/k8s/file_util.h"

#ifndef K8S_TESTDATA_DIR
#error "K8S_TESTDATA_DIR must name informer/k8s/testdata"
#endif

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define INFORMER_K8S_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define INFORMER_K8S_TSAN 1
#endif

#ifdef INFORMER_K8S_TSAN
// Abseil 20220623's Mutex hides its internal atomics from TSan (it annotates itself as a
// mutex), so the first wakeup of a thread whose identity was just mmap-ed by LowLevelAlloc is
// reported as racing with that mmap. The transport tests block threads on Mutexes constantly;
// this suppresses only that report.
extern "C" const char* __tsan_default_suppressions() {
  return "race:absl::lts_20220623::synchronization_internal::Waiter::Post\n";
}
#endif

namespace informer {
namespace k8s {
namespace testing {
namespace {

std::string StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 406:
      return "Not Acceptable";
    case 410:
      return "Gone";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string UrlUnescape(absl::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && HexValue(text[i + 1]) >= 0 &&
        HexValue(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(text[i + 1]) * 16 + HexValue(text[i + 2])));
      i += 2;
    } else if (text[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

}  // namespace

std::string TestRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::string TestRequest::Param(const std::string& name) const {
  auto it = params.find(name);
  return it == params.end() ? "" : it->second;
}

bool TestConnection::Write(absl::string_view data) {
  if (aborted_) return false;
  while (!data.empty()) {
    int n;
    if (ssl_ != nullptr) {
      n = SSL_write(static_cast<SSL*>(ssl_), data.data(), static_cast<int>(data.size()));
    } else {
      n = static_cast<int>(send(fd_, data.data(), data.size(), MSG_NOSIGNAL));
      if (n < 0 && errno == EINTR) continue;
    }
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int TestConnection::ReadSome(char* buffer, int size) {
  if (aborted_) return 0;
  if (ssl_ != nullptr) return SSL_read(static_cast<SSL*>(ssl_), buffer, size);
  while (true) {
    int n = static_cast<int>(recv(fd_, buffer, static_cast<size_t>(size), 0));
    if (n < 0 && errno == EINTR) continue;
    return n;
  }
}

bool TestConnection::Respond(int status, absl::string_view body, absl::string_view content_type) {
  responded_ = true;
  return Write(absl::StrCat("HTTP/1.1 ", status, " ", StatusText(status), "\r\nContent-Type: ",
                            content_type, "\r\nContent-Length: ", body.size(), "\r\n\r\n", body));
}

bool TestConnection::StartChunked(int status, absl::string_view content_type) {
  responded_ = true;
  return Write(absl::StrCat("HTTP/1.1 ", status, " ", StatusText(status), "\r\nContent-Type: ",
                            content_type, "\r\nTransfer-Encoding: chunked\r\n\r\n"));
}

bool TestConnection::WriteChunk(absl::string_view data) {
  if (data.empty()) return true;  // an empty chunk would end the body
  return Write(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"));
}

bool TestConnection::EndChunked() { return Write("0\r\n\r\n"); }

void TestConnection::Abort() {
  if (aborted_) return;
  aborted_ = true;
  shutdown(fd_, SHUT_RDWR);
}

bool TestConnection::WaitForClientClose(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (aborted_) return true;
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd pfd = {fd_, POLLIN | POLLRDHUP, 0};
    int ready = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    if (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    char byte;
    if (recv(fd_, &byte, 1, MSG_PEEK) <= 0) return true;
    // The client sent more (a pipelined request, TLS records): not a close.
    absl::SleepFor(absl::Milliseconds(1));
  }
}

TestServer::TestServer(TestHandler handler, TestServerOptions options)
    : handler_(std::move(handler)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<TestServer>> TestServer::Start(TestHandler handler,
                                                              TestServerOptions options) {
  // OpenSSL writes with write(2): a client that hung up mid-handshake must not kill the test.
  signal(SIGPIPE, SIG_IGN);
  std::unique_ptr<TestServer> server(new TestServer(std::move(handler), std::move(options)));
  if (absl::Status s = server->Listen(); !s.ok()) return s;
  server->accept_thread_ = std::thread([raw = server.get()] { raw->AcceptLoop(); });
  return server;
}

absl::Status TestServer::Listen() {
  if (!options_.cert_pem.empty()) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    ssl_ctx_ = ctx;
    BIO* cert_bio =
        BIO_new_mem_buf(options_.cert_pem.data(), static_cast<int>(options_.cert_pem.size()));
    X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    BIO_free(cert_bio);
    BIO* key_bio =
        BIO_new_mem_buf(options_.key_pem.data(), static_cast<int>(options_.key_pem.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    if (cert == nullptr || key == nullptr || SSL_CTX_use_certificate(ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1) {
      return absl::InternalError("test server: bad certificate or key");
    }
    X509_free(cert);
    EVP_PKEY_free(key);
    if (!options_.client_ca_pem.empty()) {
      BIO* ca_bio = BIO_new_mem_buf(options_.client_ca_pem.data(),
                                    static_cast<int>(options_.client_ca_pem.size()));
      X509* ca = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
      BIO_free(ca_bio);
      if (ca == nullptr) return absl::InternalError("test server: bad client CA");
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx), ca);
      X509_free(ca);
      SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    }
  }
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return absl::InternalError("test server: socket failed");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd_, 64) != 0 ||
      getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return absl::InternalError("test server: bind/listen failed");
  }
  port_ = ntohs(addr.sin_port);
  if (pipe2(wake_pipe_, O_CLOEXEC) != 0) return absl::InternalError("test server: pipe failed");
  return absl::OkStatus();
}

TestServer::~TestServer() {
  Stop();
  if (ssl_ctx_ != nullptr) SSL_CTX_free(static_cast<SSL_CTX*>(ssl_ctx_));
}

std::string TestServer::url() const {
  return absl::StrCat(options_.cert_pem.empty() ? "http" : "https", "://127.0.0.1:", port_);
}

int TestServer::connections() const { return accepted_.load(); }

std::vector<TestRequest> TestServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void TestServer::Stop() {
  if (stopping_.exchange(true)) return;
  if (wake_pipe_[1] >= 0) {
    char byte = 0;
    (void)!write(wake_pipe_[1], &byte, 1);
  }
  if (accept_thread_.joinable()) accept_thread_.join();
  // The accept thread is gone, so the list only shrinks here; splice keeps element addresses,
  // and the joins happen outside the lock since handlers record requests under it.
  std::list<Connection> connections;
  {
    absl::MutexLock lock(&mu_);
    connections.splice(connections.begin(), connections_);
  }
  for (Connection& connection : connections) shutdown(connection.conn.fd_, SHUT_RDWR);
  for (Connection& connection : connections) {
    if (connection.thread.joinable()) connection.thread.join();
    if (connection.conn.ssl_ != nullptr) SSL_free(static_cast<SSL*>(connection.conn.ssl_));
    close(connection.conn.fd_);
  }
  if (listen_fd_ >= 0) close(listen_fd_);
  for (int& fd : wake_pipe_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  listen_fd_ = -1;
}

void TestServer::AcceptLoop() {
  while (!stopping_.load()) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_pipe_[0], POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0 || stopping_.load()) return;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    Connection* connection;
    {
      absl::MutexLock lock(&mu_);
      connections_.emplace_back();
      connection = &connections_.back();
    }
    connection->conn.fd_ = fd;
    connection->id = ++accepted_;
    // Started outside the lock: only Stop touches the thread, after joining this loop.
    connection->thread = std::thread([this, connection] { Serve(connection); });
  }
}

void TestServer::Serve(Connection* connection) {
  TestConnection* conn = &connection->conn;
  std::string subject;
  if (ssl_ctx_ != nullptr) {
    SSL* ssl = SSL_new(static_cast<SSL_CTX*>(ssl_ctx_));
    SSL_set_fd(ssl, conn->fd_);
    conn->ssl_ = ssl;
    if (SSL_accept(ssl) != 1) return;  // e.g. the client rejected our certificate
    if (X509* peer = SSL_get1_peer_certificate(ssl); peer != nullptr) {
      char name[512];
      X509_NAME_oneline(X509_get_subject_name(peer), name, sizeof(name));
      subject = name;
      X509_free(peer);
    }
  }
  std::string buffer;
  while (!stopping_.load() && !conn->aborted_) {
    // Reads one request: headers up to the blank line, then Content-Length bytes of body.
    size_t header_end;
    while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
      char chunk[16384];
      int n = conn->ReadSome(chunk, sizeof(chunk));
      if (n <= 0) return;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    TestRequest request;
    request.connection = connection->id;
    request.client_cert_subject = subject;
    std::vector<std::string> lines =
        absl::StrSplit(absl::string_view(buffer).substr(0, header_end), "\r\n");
    std::vector<std::string> request_line = absl::StrSplit(lines[0], ' ');
    if (request_line.size() < 2) return;
    request.method = request_line[0];
    request.target = request_line[1];
    size_t question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) {
      for (absl::string_view pair : absl::StrSplit(
               absl::string_view(request.target).substr(question + 1), '&', absl::SkipEmpty())) {
        size_t eq = pair.find('=');
        request.params[UrlUnescape(pair.substr(0, eq))] =
            eq == absl::string_view::npos ? "" : UrlUnescape(pair.substr(eq + 1));
      }
    }
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      request.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    buffer.erase(0, header_end + 4);
    size_t length = 0;
    if (!request.Header("content-length").empty()) {
      (void)absl::SimpleAtoi(request.Header("content-length"), &length);
    }
    while (buffer.size() < length) {
      char chunk[16384];
      int n = conn->ReadSome(chunk, sizeof(chunk));
      if (n <= 0) return;
      buffer.append(chunk, static_cast<size_t>(n));
    }
    request.body = buffer.substr(0, length);
    buffer.erase(0, length);
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(request);
    }
    conn->responded_ = false;
    handler_(request, conn);
    if (!conn->responded_ && !conn->aborted_)
      conn->Respond(500, "the test handler did not respond");
    if (absl::EqualsIgnoreCase(request.Header("connection"), "close")) return;
  }
}

std::string TestdataPath(absl::string_view relative_path) {
  return absl::StrCat(K8S_TESTDATA_DIR, "/", relative_path);
}

std::string ReadTestdata(absl::string_view relative_path) {
  absl::StatusOr<std::string> content = ReadFileToString(TestdataPath(relative_path), "testdata");
  if (!content.ok()) {
    std::fprintf(stderr, "ReadTestdata: %s\n", std::string(content.status().message()).c_str());
    std::abort();
  }
  return *std::move(content);
}

}  // namespace testing
}  // namespace k8s
}  // namespace informer
