// A minimal HTTP/1.1 server for /metrics (Prometheus) and /healthz, on its own thread.
#ifndef SERVER_METRICS_HTTP_H_
#define SERVER_METRICS_HTTP_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace informer {
namespace server {

// An HTTP answer: status code, content type and body.
struct HttpAnswer {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Serves GET requests: the handler maps a path to an answer. Meant for scrapes and probes, not
// for traffic. Each request runs on a thread of its own (at most kMaxInFlight at once), so a
// probe never waits behind a /metrics request whose token is being reviewed.
//
// Thread-safety: Start and Stop from one thread; the handler runs on the server's thread.
class MetricsHttpServer {
 public:
  // Called with the request's path (query removed) and its Authorization header ("" if none).
  using Handler =
      std::function<HttpAnswer(const std::string& path, const std::string& authorization)>;

  // Binds `address` ("HOST:PORT", port 0 = any free port) and starts serving. InvalidArgument
  // for a malformed address, Unavailable when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(const std::string& address,
                                                                  Handler handler);
  // Stops.
  ~MetricsHttpServer();

  // The port bound.
  int port() const { return port_; }
  // Stops serving and joins the thread. Idempotent.
  void Stop();

 private:
  MetricsHttpServer(int fd, int port, Handler handler);
  void Loop();
  void Serve(int client);

  static constexpr int kMaxInFlight = 8;

  const int fd_;
  const int port_;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  // Requests served on their own threads. Shared with them, so the last one may still be
  // unlocking it when Stop has seen the count reach 0.
  struct InFlight {
    absl::Mutex mu;
    int count ABSL_GUARDED_BY(mu) = 0;
  };
  const std::shared_ptr<InFlight> in_flight_ = std::make_shared<InFlight>();
  std::thread thread_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_METRICS_HTTP_H_
