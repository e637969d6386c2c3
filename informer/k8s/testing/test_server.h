// A tiny scripted HTTP/1.1 (optionally TLS) server on loopback, port 0, for the faults a real API
// server cannot produce on demand: split chunks, stalls, broken connections, odd bodies.
#ifndef INFORMER_K8S_TESTING_TEST_SERVER_H_
#define INFORMER_K8S_TESTING_TEST_SERVER_H_

#include <atomic>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace informer {
namespace k8s {
namespace testing {

// One request as the server received it.
struct TestRequest {
  std::string method;
  std::string target;                          // path and query as sent
  std::string path;                            // without the query
  std::map<std::string, std::string> params;   // the query, decoded
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string client_cert_subject;  // with TLS client certificates: the peer's subject
  int connection = 0;               // 1, 2, ...: which accepted connection carried it

  // The header's value, "" when absent. `name` is lower-case.
  std::string Header(const std::string& name) const;
  // The query parameter's value, "" when absent.
  std::string Param(const std::string& name) const;
};

// The connection a handler answers on. Methods return false once the client is gone.
class TestConnection {
 public:
  // A complete response with Content-Length.
  bool Respond(int status, absl::string_view body,
               absl::string_view content_type = "application/json");
  // Starts a chunked response; the body follows with WriteChunk and ends with EndChunked.
  bool StartChunked(int status, absl::string_view content_type = "application/json");
  bool WriteChunk(absl::string_view data);
  bool EndChunked();
  // Closes the connection at once, mid-response if one is under way.
  void Abort();
  // Waits until the client closes the connection (or the server stops): true when that
  // happened within `timeout`.
  bool WaitForClientClose(absl::Duration timeout);

 private:
  friend class TestServer;
  bool Write(absl::string_view data);
  int ReadSome(char* buffer, int size);

  int fd_ = -1;
  void* ssl_ = nullptr;  // SSL*, when TLS
  bool responded_ = false;
  bool aborted_ = false;
};

// Answers each request by calling `handler` on the connection's own thread.
using TestHandler = std::function<void(const TestRequest&, TestConnection*)>;

// TLS settings; plain HTTP when cert_pem is empty.
struct TestServerOptions {
  std::string cert_pem;
  std::string key_pem;
  std::string client_ca_pem;  // when set, clients must present a certificate it signed
};

// Thread-safety: every method may be called from any thread.
class TestServer {
 public:
  // Listens on 127.0.0.1, port 0. Internal error when the socket or TLS setup fails.
  static absl::StatusOr<std::unique_ptr<TestServer>> Start(TestHandler handler,
                                                           TestServerOptions options = {});
  // Stops.
  ~TestServer();

  int port() const { return port_; }
  // "http://127.0.0.1:<port>" (https with TLS).
  std::string url() const;
  // Connections accepted so far.
  int connections() const;
  // Every request received so far, in order.
  std::vector<TestRequest> requests() const;
  // Closes every connection, joins every thread. Idempotent.
  void Stop();

 private:
  struct Connection {
    TestConnection conn;
    int id = 0;
    std::thread thread;
  };

  TestServer(TestHandler handler, TestServerOptions options);
  absl::Status Listen();
  void AcceptLoop();
  void Serve(Connection* connection);

  const TestHandler handler_;
  const TestServerOptions options_;
  void* ssl_ctx_ = nullptr;  // SSL_CTX*
  int listen_fd_ = -1;
  int wake_pipe_[2] = {-1, -1};
  int port_ = 0;
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> accepted_{0};
  mutable absl::Mutex mu_;
  std::list<Connection> connections_ ABSL_GUARDED_BY(mu_);
  std::vector<TestRequest> requests_ ABSL_GUARDED_BY(mu_);
};

// The content of informer/k8s/testdata/<relative_path>; aborts when it cannot be read.
std::string ReadTestdata(absl::string_view relative_path);
// The absolute path of informer/k8s/testdata/<relative_path>.
std::string TestdataPath(absl::string_view relative_path);

}  // namespace testing
}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_TESTING_TEST_SERVER_H_
