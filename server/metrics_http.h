// A minimal HTTP/1.1 server for /metrics (Prometheus) and /healthz, on its own thread.
#ifndef SERVER_METRICS_HTTP_H_
#define SERVER_METRICS_HTTP_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace informer {
namespace server {

// An HTTP answer: status code, content type and body.
struct HttpAnswer {
  int code = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Serves GET requests one at a time: the handler maps a path to an answer. Meant for scrapes
// and probes, not for traffic.
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

  const int fd_;
  const int port_;
  Handler handler_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_METRICS_HTTP_H_
