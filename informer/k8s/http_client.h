// HTTP(S) to one API server over libcurl: pooled keep-alive connections, HTTP/2 when the
// server offers it, gzip, TLS and credentials from a RestConfig, and cancellable streams.
#ifndef INFORMER_K8S_HTTP_CLIENT_H_
#define INFORMER_K8S_HTTP_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "informer/k8s/auth.h"
#include "informer/k8s/config.h"

namespace informer {
namespace k8s {

// Connection tunables. Defaults suit an informer talking to one API server.
struct HttpOptions {
  absl::Duration connect_timeout = absl::Seconds(10);
  // Whole-request limit of Do() when the request sets none. Streams have none by default.
  absl::Duration request_timeout = absl::Seconds(60);
  // Idle connections kept for reuse (each pooled handle keeps its own live connection).
  size_t max_idle_connections = 16;
  // The largest response body Do() reads (after decompression); a larger one fails the request
  // with ResourceExhausted. A LIST page of the reflector's 500 objects stays far below: the API
  // server stores objects of at most about 1.5 MiB (etcd's request limit), so 256 MiB only
  // stops a broken or hostile server from exhausting memory. 0 = no cap. --max_response_bytes.
  size_t max_response_bytes = size_t{256} << 20;
  // The largest single WATCH event (one JSON frame) a watch stream buffers; a larger one fails
  // the watch with InvalidArgument. One event carries one object, so 64 MiB is 40 times the
  // largest object etcd stores, and still bounds what an aggregated API server (no etcd) can
  // make informerd buffer. 0 = no cap. --max_watch_frame_bytes.
  size_t max_watch_frame_bytes = size_t{64} << 20;
  // Dead-connection detection for streams (R18), client-go's HTTP/2 health check by other
  // means: once an HTTP/2 stream has received nothing for `read_idle_timeout`, a small GET
  // (/version) is sent on the same connection; any answer proves the connection alive, none
  // within `ping_timeout` fails the stream with Unavailable marked
  // TransportFault::kConnectionDead. So a silently dead connection ends its watch within
  // read_idle_timeout + ping_timeout (45 s by default). HTTP/1.1 streams cannot carry a second
  // request; they keep TCP keepalive only, as client-go does. 0 = off.
  // --apiserver_read_idle_timeout, --apiserver_ping_timeout.
  absl::Duration read_idle_timeout = absl::Seconds(30);
  absl::Duration ping_timeout = absl::Seconds(15);
  AuthOptions auth;
};

// One request. `path` is relative to the server URL (its path prefix included), e.g.
// "/api/v1/namespaces"; `query` pairs are percent-encoded and appended.
struct HttpRequest {
  std::string method = "GET";
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  // Extra headers, "Name: value". Accept defaults to application/json.
  std::vector<std::string> headers;
  std::string body;
  std::string content_type;  // of `body`
  // 0 = HttpOptions::request_timeout for Do(), no limit for OpenStream().
  absl::Duration timeout = absl::ZeroDuration();
  // Do(): once notified, the request stops with Cancelled within about a second (libcurl's
  // progress callback runs at least once a second while a transfer is idle). Not owned; must
  // outlive the call. Streams have HttpStream::Cancel instead.
  const absl::Notification* cancel = nullptr;
};

// A complete response, whatever its status code.
struct HttpResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  std::string protocol;  // "HTTP/2" or "HTTP/1.1", as negotiated
};

// The body of a response, as it arrives.
//
// Thread-safety: Read is called by one thread; Cancel may be called from any thread.
class HttpStream {
 public:
  virtual ~HttpStream() = default;
  // The response's status code and Content-Type (known when OpenStream returns).
  virtual int status() const = 0;
  virtual const std::string& content_type() const = 0;
  // Blocks until more of the body arrives and appends it to `out`: true when something was
  // appended, false at the end of the body. Cancelled once Cancel was called;
  // DeadlineExceeded past the request's timeout; Unavailable when the connection broke.
  virtual absl::StatusOr<bool> Read(std::string* out) = 0;
  // Makes a blocked Read return Cancelled within milliseconds (curl_multi_wakeup), and every
  // later Read too. Idempotent.
  virtual void Cancel() = 0;
};

// Sends requests to the server of a RestConfig.
//
// Connections: unary requests borrow a curl easy handle from a pool; each handle keeps its
// connection alive for the next request (keep-alive, and HTTP/2 via ALPN when offered). Each
// stream has a handle and connection of its own, driven by a private curl multi handle so that
// Cancel can wake it. DNS answers and TLS sessions are shared by all handles.
//
// TLS: the CA PEM is passed as a blob (CURLOPT_CAINFO_BLOB), as are the client certificate and
// key. `tls_server_name` works with libcurl 7.88, which has no option to verify against another
// name: the URL's host becomes the tls-server-name (so SNI and verification use it) and
// CURLOPT_CONNECT_TO sends the connection to the real host and port, while the Host header keeps
// naming the real server.
//
// Credentials come from an Authenticator; a 401 refreshes token-file and exec credentials and
// the request is retried once.
//
// Thread-safety: every method may be called from any thread, concurrently.
class HttpClient {
 public:
  // InvalidArgument when the server URL is malformed or the TLS settings contradict.
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(const RestConfig& config,
                                                            HttpOptions options = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends `request` and reads the whole response. Any HTTP status is a response; errors are
  // failures to get one: Unavailable (connect, TLS, broken connection), DeadlineExceeded
  // (timeout), or the credential source's error.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request);

  // Sends `request` and returns once the response's headers have arrived; the body is read
  // from the stream. Errors as Do.
  absl::StatusOr<std::unique_ptr<HttpStream>> OpenStream(const HttpRequest& request);

  const RestConfig& config() const;
  const HttpOptions& options() const;

  // The full URL `request` is sent to (with tls-server-name applied), for messages and tests.
  std::string UrlFor(const HttpRequest& request) const;

 private:
  class Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Percent-encodes `text` for a URL query or path segment (RFC 3986 unreserved kept).
std::string UrlEscape(absl::string_view text);

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_HTTP_CLIENT_H_
