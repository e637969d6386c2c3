// A small HTTP/1.1 server for /metrics (Prometheus) and the probes (/healthz, /readyz).
#ifndef SERVER_METRICS_HTTP_H_
#define SERVER_METRICS_HTTP_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace informer {
namespace server {

// An HTTP answer: status code, content type and body.
struct HttpAnswer {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Bounds of the metrics server. A scrape or a probe sends a few hundred bytes and reads a few
// hundred KiB, so each gets little time and there are few at once; the bounds keep a slow or
// hostile client from holding the port (a slow-loris) or from starting threads without end.
struct MetricsHttpOptions {
  // Connections served at once; one more is answered 503 and closed (--metrics_max_connections).
  size_t max_connections = 64;
  // A client has this long to send its request head, and again to read the answer
  // (--metrics_request_timeout). Kubernetes' probes time out after 1 s by default, Prometheus
  // after 10 s.
  absl::Duration request_timeout = absl::Seconds(5);
};

// Serves GET requests, each connection on its own thread (at most max_connections), one
// request per connection. The handler maps a path to an answer. Meant for scrapes and probes,
// not for traffic.
//
// Thread-safety: Start and Stop from one thread; the handler runs on connection threads,
// concurrently, so it must be thread-safe.
class MetricsHttpServer {
 public:
  // Called with the request's path (query removed) and its Authorization header ("" if none).
  using Handler =
      std::function<HttpAnswer(const std::string& path, const std::string& authorization)>;

  // Binds `address` ("HOST:PORT", port 0 = any free port) and starts serving. InvalidArgument
  // for a malformed address, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address,
                                                                  MetricsHttpOptions options,
                                                                  Handler handler);
  // Stops.
  ~MetricsHttpServer();

  // The port bound.
  int port() const { return port_; }
  // Stops accepting, ends open connections within about 100 ms and joins every thread.
  // Idempotent.
  void Stop();

  // Counters (also logged): connections refused at max_connections, and connections ended
  // because the client was too slow to send its request or read the answer.
  uint64_t refused_connections() const { return refused_.load(); }
  uint64_t timed_out_connections() const { return timed_out_.load(); }

 private:
  struct Worker {
    std::thread thread;
    std::atomic<bool> done{false};
  };

  MetricsHttpServer(int fd, int port, MetricsHttpOptions options, Handler handler);
  void Loop();
  // Joins the workers that are done; returns how many still run.
  size_t ReapWorkers();
  void Serve(int client);
  void Refuse(int client);

  const int fd_;
  const int port_;
  const MetricsHttpOptions options_;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> timed_out_{0};
  absl::Time last_refusal_log_ = absl::InfinitePast();  // accept thread only
  std::list<Worker> workers_;                           // accept thread only (then Stop)
  std::thread thread_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_METRICS_HTTP_H_
