#include "informer/k8s/http_client.h"

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/api_status.h"

namespace informer {
namespace k8s {
namespace {

// libcurl's global state, initialised once before the first handle.
void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The parts of RestConfig::server that requests need.
struct ServerUrl {
  std::string scheme;
  std::string host;       // IPv6 literals keep their brackets
  std::string port;       // explicit or the scheme's default
  std::string authority;  // host[:port] exactly as configured, for the Host header
  std::string prefix;     // path prefix without trailing '/'
};

absl::StatusOr<ServerUrl> ParseServer(const std::string& server) {
  CURLU* url = curl_url();
  if (url == nullptr) return absl::ResourceExhaustedError("curl_url failed");
  ServerUrl parts;
  CURLUcode rc = curl_url_set(url, CURLUPART_URL, server.c_str(), 0);
  auto get = [&](CURLUPart part, unsigned flags, std::string* out) {
    char* value = nullptr;
    if (curl_url_get(url, part, &value, flags) == CURLUE_OK && value != nullptr) {
      *out = value;
      curl_free(value);
    }
  };
  if (rc == CURLUE_OK) {
    get(CURLUPART_SCHEME, 0, &parts.scheme);
    get(CURLUPART_HOST, 0, &parts.host);
    get(CURLUPART_PORT, CURLU_DEFAULT_PORT, &parts.port);
    get(CURLUPART_PATH, 0, &parts.prefix);
    std::string explicit_port;
    get(CURLUPART_PORT, 0, &explicit_port);
    parts.authority =
        explicit_port.empty() ? parts.host : absl::StrCat(parts.host, ":", explicit_port);
  }
  curl_url_cleanup(url);
  if (rc != CURLUE_OK || parts.host.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("server URL \"", server, "\" is malformed: ", curl_url_strerror(rc)));
  }
  if (parts.scheme != "https" && parts.scheme != "http") {
    return absl::InvalidArgumentError(
        absl::StrCat("server URL \"", server, "\" must start with https:// or http://"));
  }
  while (!parts.prefix.empty() && parts.prefix.back() == '/') parts.prefix.pop_back();
  return parts;
}

// What every handle of one client shares, reference-counted so that streams may outlive the
// client: the DNS and TLS session caches, and the CURLOPT_CONNECT_TO list.
class SharedState {
 public:
  SharedState() {
    share_ = curl_share_init();
    curl_share_setopt(share_, CURLSHOPT_LOCKFUNC, &SharedState::Lock);
    curl_share_setopt(share_, CURLSHOPT_UNLOCKFUNC, &SharedState::Unlock);
    curl_share_setopt(share_, CURLSHOPT_USERDATA, this);
    // Not CURL_LOCK_DATA_CONNECT: libcurl 7.88 documents sharing connections across threads
    // as unsafe, so connections stay with their (pooled) handles.
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(share_, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  }
  ~SharedState() {
    curl_share_cleanup(share_);
    curl_slist_free_all(connect_to_);
  }
  SharedState(const SharedState&) = delete;
  SharedState& operator=(const SharedState&) = delete;

  CURLSH* share() const { return share_; }
  curl_slist* connect_to() const { return connect_to_; }
  void set_connect_to(const std::string& entry) {
    connect_to_ = curl_slist_append(connect_to_, entry.c_str());
  }

 private:
  static void Lock(CURL*, curl_lock_data data, curl_lock_access,
                   void* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<SharedState*>(self)->mu_[data % CURL_LOCK_DATA_LAST].Lock();
  }
  static void Unlock(CURL*, curl_lock_data data, void* self) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    static_cast<SharedState*>(self)->mu_[data % CURL_LOCK_DATA_LAST].Unlock();
  }

  CURLSH* share_ = nullptr;
  curl_slist* connect_to_ = nullptr;  // written before any handle uses it
  absl::Mutex mu_[CURL_LOCK_DATA_LAST];
};

// Per-transfer state the curl callbacks write to.
struct Transfer {
  std::string body;           // Do: the whole body; streams: what Read has not taken yet
  int status = 0;             // from the last status line
  bool headers_done = false;  // the final (non-1xx) response's headers are complete
  std::string content_type;
  char error[CURL_ERROR_SIZE] = {0};
  size_t max_body = 0;    // Do: HttpOptions::max_response_bytes; 0 = no cap
  bool over_cap = false;  // the body passed max_body and the transfer was aborted
  uint64_t received = 0;  // body bytes received so far (streams: the liveness clock's input)
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  if (transfer->max_body != 0 && size * count > transfer->max_body - transfer->body.size()) {
    transfer->over_cap = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  transfer->body.append(data, size * count);
  transfer->received += size * count;
  transfer->headers_done = true;
  return size * count;
}

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  absl::string_view line(data, size * count);
  if (absl::StartsWith(line, "HTTP/")) {
    // "HTTP/1.1 200 OK" or "HTTP/2 200": the code is the second word.
    absl::string_view rest = line.substr(line.find(' ') + 1);
    int code = 0;
    if (absl::SimpleAtoi(rest.substr(0, 3), &code)) transfer->status = code;
    transfer->content_type.clear();
  } else if (absl::StartsWithIgnoreCase(line, "content-type:")) {
    transfer->content_type =
        std::string(absl::StripAsciiWhitespace(line.substr(strlen("content-type:"))));
  } else if (absl::StripAsciiWhitespace(line).empty() && transfer->status >= 200) {
    transfer->headers_done = true;
  }
  return size * count;
}

// libcurl's progress callback: a non-zero return aborts the transfer (CURLE_ABORTED_BY_CALLBACK).
int AbortWhenCancelled(void* cancel, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const absl::Notification*>(cancel)->HasBeenNotified() ? 1 : 0;
}

absl::Status TransportError(CURLcode code, const Transfer& transfer, const HttpRequest& request,
                            const std::string& url) {
  std::string detail = transfer.error[0] != '\0' ? transfer.error : curl_easy_strerror(code);
  std::string message = absl::StrCat(request.method, " ", url, ": ", detail);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(message);
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::CancelledError(message);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return absl::InvalidArgumentError(message);
    case CURLE_OUT_OF_MEMORY:
      return absl::ResourceExhaustedError(message);
    case CURLE_COULDNT_CONNECT:
      return WithTransportFault(absl::UnavailableError(message),
                                TransportFault::kConnectionRefused);
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      // A reset or closed connection (client-go's net.IsProbableEOF): the reflector re-watches.
      return WithTransportFault(absl::UnavailableError(message), TransportFault::kConnectionLost);
    default:
      return absl::UnavailableError(message);
  }
}

void SetBlob(CURL* easy, CURLoption option, const std::string& data) {
  curl_blob blob;
  blob.data = const_cast<char*>(data.data());
  blob.len = data.size();
  blob.flags = CURL_BLOB_COPY;
  curl_easy_setopt(easy, option, &blob);
}

// A stream: its own easy handle in its own multi handle, pumped by the reading thread.
//
// Dead-connection detection (R18): the multi handle is the stream's connection pool, so a
// probe added to it goes out on the stream's own HTTP/2 connection (multiplexed; CURLOPT_PIPEWAIT
// and CURLINFO_NUM_CONNECTS == 0 confirm it). Its clock is the monotonic one, and it runs only
// while Read pumps: a reader that stops reading stops probing too.
class CurlStream : public HttpStream {
 public:
  CurlStream(std::shared_ptr<SharedState> shared, HttpRequest request, std::string url,
             const HttpOptions& options, std::string probe_url)
      : shared_(std::move(shared)),
        request_(std::move(request)),
        url_(std::move(url)),
        read_idle_timeout_(absl::ToChronoNanoseconds(options.read_idle_timeout)),
        ping_timeout_(absl::ToChronoNanoseconds(options.ping_timeout)),
        probe_url_(std::move(probe_url)),
        easy_(curl_easy_init()),
        multi_(curl_multi_init()) {}
  ~CurlStream() override {
    StopProbe();
    if (added_) curl_multi_remove_handle(multi_, easy_);
    curl_easy_cleanup(easy_);
    curl_multi_cleanup(multi_);
    curl_slist_free_all(headers_);
  }

  CURL* easy() const { return easy_; }
  Transfer* transfer() { return &transfer_; }
  curl_slist** headers() { return &headers_; }

  // Starts the transfer and pumps until the response headers are in.
  absl::Status Start() {
    if (easy_ == nullptr || multi_ == nullptr) {
      return absl::ResourceExhaustedError("cannot create curl handles");
    }
    if (curl_multi_add_handle(multi_, easy_) != CURLM_OK) {
      return absl::InternalError("curl_multi_add_handle failed");
    }
    added_ = true;
    if (absl::Status s = Pump([this] { return transfer_.headers_done; }); !s.ok()) return s;
    if (!transfer_.headers_done && finished_ && result_ != CURLE_OK) {
      return TransportError(result_, transfer_, request_, url_);
    }
    long version = 0;
    curl_easy_getinfo(easy_, CURLINFO_HTTP_VERSION, &version);
    probing_ = version == CURL_HTTP_VERSION_2_0 && read_idle_timeout_.count() > 0 &&
               ping_timeout_.count() > 0 && !probe_url_.empty();
    last_activity_ = Clock::now();
    return absl::OkStatus();
  }

  int status() const override { return transfer_.status; }
  const std::string& content_type() const override { return transfer_.content_type; }

  absl::StatusOr<bool> Read(std::string* out) override {
    if (cancelled_.load()) return absl::CancelledError("stream cancelled");
    if (!dead_.ok()) return dead_;
    if (absl::Status s = Pump([this] { return !transfer_.body.empty(); }); !s.ok()) return s;
    if (!transfer_.body.empty()) {
      if (out->empty()) {
        out->swap(transfer_.body);  // the common case: no copy
      } else {
        out->append(transfer_.body);
      }
      transfer_.body.clear();
      return true;
    }
    if (result_ != CURLE_OK) return TransportError(result_, transfer_, request_, url_);
    return false;
  }

  void Cancel() override {
    cancelled_.store(true);
    curl_multi_wakeup(multi_);
  }

 private:
  using Clock = std::chrono::steady_clock;

  // Drives the transfer until `done()`, the transfer ends, Cancel, or the connection is found
  // dead.
  template <typename Done>
  absl::Status Pump(Done done) {
    while (!done() && !finished_) {
      if (cancelled_.load()) return absl::CancelledError("stream cancelled");
      int running = 0;
      CURLMcode mc = curl_multi_perform(multi_, &running);
      if (mc != CURLM_OK) {
        return absl::InternalError(absl::StrCat("curl_multi_perform: ", curl_multi_strerror(mc)));
      }
      int left = 0;
      while (CURLMsg* message = curl_multi_info_read(multi_, &left)) {
        if (message->msg != CURLMSG_DONE) continue;
        if (probe_ != nullptr && message->easy_handle == probe_) {
          OnProbeDone(message->data.result);
        } else {
          finished_ = true;
          result_ = message->data.result;
        }
      }
      if (done() || finished_) break;
      if (dead_.ok()) CheckLiveness();
      if (!dead_.ok()) return dead_;
      // Waits for the socket, curl's own timers, or curl_multi_wakeup from Cancel.
      mc = curl_multi_poll(multi_, nullptr, 0, 1000, nullptr);
      if (mc != CURLM_OK) {
        return absl::InternalError(absl::StrCat("curl_multi_poll: ", curl_multi_strerror(mc)));
      }
    }
    return absl::OkStatus();
  }

  // Starts a probe after read_idle_timeout of silence; declares the connection dead when a
  // probe has had no answer for ping_timeout.
  void CheckLiveness() {
    if (!probing_) return;
    const Clock::time_point now = Clock::now();
    if (transfer_.received != received_seen_) {
      received_seen_ = transfer_.received;
      last_activity_ = now;
    }
    if (probe_ == nullptr) {
      if (now - last_activity_ >= read_idle_timeout_) StartProbe(now);
      return;
    }
    if (now - probe_started_ >= ping_timeout_) {
      dead_ = WithTransportFault(
          absl::UnavailableError(absl::StrCat(
              request_.method, " ", url_, ": the connection is dead: nothing received for ",
              absl::FormatDuration(absl::FromChrono(probe_started_ - last_activity_)),
              " and no answer to a probe on the same connection within ",
              absl::FormatDuration(absl::FromChrono(ping_timeout_)),
              " (--apiserver_read_idle_timeout, --apiserver_ping_timeout)")),
          TransportFault::kConnectionDead);
    }
  }

  void StartProbe(Clock::time_point now) {
    // A copy of the stream's handle has its server, TLS settings and headers (credentials
    // included), which is what lets libcurl put it on the same connection.
    probe_ = curl_easy_duphandle(easy_);
    if (probe_ == nullptr) return;
    probe_transfer_ = Transfer();
    curl_easy_setopt(probe_, CURLOPT_URL, probe_url_.c_str());
    curl_easy_setopt(probe_, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(probe_, CURLOPT_ERRORBUFFER, probe_transfer_.error);
    curl_easy_setopt(probe_, CURLOPT_WRITEDATA, &probe_transfer_);
    curl_easy_setopt(probe_, CURLOPT_HEADERDATA, &probe_transfer_);
    curl_easy_setopt(probe_, CURLOPT_PIPEWAIT, 1L);
    // libcurl's own limit is a backstop; CheckLiveness decides at ping_timeout.
    curl_easy_setopt(
        probe_, CURLOPT_TIMEOUT_MS,
        static_cast<long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(ping_timeout_).count() + 5000));
    if (curl_multi_add_handle(multi_, probe_) != CURLM_OK) {
      StopProbe();
      probing_ = false;
      return;
    }
    probe_started_ = now;
  }

  void OnProbeDone(CURLcode result) {
    long connects = 0;
    curl_easy_getinfo(probe_, CURLINFO_NUM_CONNECTS, &connects);
    StopProbe();
    if (connects != 0) {
      // The probe went out on a new connection, so it says nothing of this one; stop probing.
      probing_ = false;
      return;
    }
    if (result == CURLE_OK) {
      last_activity_ = Clock::now();  // an answer: the connection is alive
      return;
    }
    dead_ = WithTransportFault(
        absl::UnavailableError(absl::StrCat(
            request_.method, " ", url_,
            ": the connection is dead: a probe on it failed: ", curl_easy_strerror(result))),
        TransportFault::kConnectionDead);
  }

  void StopProbe() {
    if (probe_ == nullptr) return;
    curl_multi_remove_handle(multi_, probe_);
    curl_easy_cleanup(probe_);
    probe_ = nullptr;
  }

  std::shared_ptr<SharedState> shared_;  // keeps the share and CONNECT_TO list alive
  const HttpRequest request_;
  const std::string url_;
  const Clock::duration read_idle_timeout_;
  const Clock::duration ping_timeout_;
  const std::string probe_url_;  // the server's /version
  CURL* easy_;
  CURLM* multi_;
  curl_slist* headers_ = nullptr;
  bool added_ = false;
  Transfer transfer_;
  bool finished_ = false;
  CURLcode result_ = CURLE_OK;
  std::atomic<bool> cancelled_{false};
  // Liveness (reading thread only).
  bool probing_ = false;  // an HTTP/2 stream with detection on
  Clock::time_point last_activity_;
  uint64_t received_seen_ = 0;
  CURL* probe_ = nullptr;  // the probe in flight, if any
  Transfer probe_transfer_;
  Clock::time_point probe_started_;
  absl::Status dead_;  // not OK once the connection was found dead
};

}  // namespace

std::string UrlEscape(absl::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

class HttpClient::Impl {
 public:
  Impl(const RestConfig& config, HttpOptions options, ServerUrl url)
      : config_(config),
        options_(std::move(options)),
        url_(std::move(url)),
        auth_(config, options_.auth),
        shared_(std::make_shared<SharedState>()) {
    std::string host = url_.host;
    if (!config_.tls_server_name.empty()) {
      host = config_.tls_server_name;
      shared_->set_connect_to(absl::StrCat(host, ":", url_.port, ":", url_.host, ":", url_.port));
      host_header_ = absl::StrCat("Host: ", url_.authority);
    }
    base_url_ = absl::StrCat(url_.scheme, "://", host, ":", url_.port, url_.prefix);
  }

  ~Impl() {
    absl::MutexLock lock(&pool_mu_);
    for (CURL* easy : idle_) curl_easy_cleanup(easy);
  }

  const RestConfig& config() const { return config_; }
  const HttpOptions& options() const { return options_; }

  std::string UrlFor(const HttpRequest& request) const {
    std::string url = absl::StrCat(base_url_, request.path);
    char separator = absl::StrContains(request.path, '?') ? '&' : '?';
    for (const auto& [name, value] : request.query) {
      absl::StrAppend(&url, std::string(1, separator), UrlEscape(name), "=", UrlEscape(value));
      separator = '&';
    }
    return url;
  }

  absl::StatusOr<HttpResponse> Do(const HttpRequest& request) {
    const std::string url = UrlFor(request);
    for (int attempt = 0;; ++attempt) {
      if (request.cancel != nullptr && request.cancel->HasBeenNotified()) {
        return absl::CancelledError(absl::StrCat(request.method, " ", url, ": cancelled"));
      }
      absl::StatusOr<Credentials> credentials = auth_.Get();
      if (!credentials.ok()) return credentials.status();
      CURL* easy = Borrow();
      if (easy == nullptr) return absl::ResourceExhaustedError("cannot create a curl handle");
      Transfer transfer;
      transfer.max_body = options_.max_response_bytes;
      curl_slist* headers = nullptr;
      const absl::Duration timeout =
          request.timeout > absl::ZeroDuration() ? request.timeout : options_.request_timeout;
      Configure(easy, request, url, *credentials, timeout, &transfer, &headers);
      const CURLcode code = curl_easy_perform(easy);
      curl_slist_free_all(headers);
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      long version = 0;
      curl_easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version);
      Return(easy);
      if (transfer.over_cap) {
        return absl::ResourceExhaustedError(
            absl::StrCat(request.method, " ", url, ": the response body is larger than the cap of ",
                         options_.max_response_bytes, " bytes (informerd's --max_response_bytes)"));
      }
      if (code != CURLE_OK) return TransportError(code, transfer, request, url);
      if (status == 401 && attempt == 0 && auth_.OnUnauthorized(*credentials)) continue;
      HttpResponse response;
      response.status = static_cast<int>(status);
      response.content_type = std::move(transfer.content_type);
      response.body = std::move(transfer.body);
      response.protocol = version == CURL_HTTP_VERSION_2_0   ? "HTTP/2"
                          : version == CURL_HTTP_VERSION_1_0 ? "HTTP/1.0"
                                                             : "HTTP/1.1";
      return response;
    }
  }

  absl::StatusOr<std::unique_ptr<HttpStream>> OpenStream(const HttpRequest& request) {
    const std::string url = UrlFor(request);
    for (int attempt = 0;; ++attempt) {
      absl::StatusOr<Credentials> credentials = auth_.Get();
      if (!credentials.ok()) return credentials.status();
      HttpRequest probe;
      probe.path = "/version";
      auto stream = std::make_unique<CurlStream>(shared_, request, url, options_, UrlFor(probe));
      if (stream->easy() == nullptr) {
        return absl::ResourceExhaustedError("cannot create a curl handle");
      }
      Configure(stream->easy(), request, url, *credentials, request.timeout, stream->transfer(),
                stream->headers());
      if (absl::Status s = stream->Start(); !s.ok()) return s;
      if (stream->status() == 401 && attempt == 0 && auth_.OnUnauthorized(*credentials)) continue;
      return std::unique_ptr<HttpStream>(std::move(stream));
    }
  }

 private:
  CURL* Borrow() {
    {
      absl::MutexLock lock(&pool_mu_);
      if (!idle_.empty()) {
        CURL* easy = idle_.back();  // the most recently used has the warmest connection
        idle_.pop_back();
        return easy;
      }
    }
    return curl_easy_init();
  }

  void Return(CURL* easy) {
    // Drops the pointers into the finished transfer; the live connection stays.
    curl_easy_reset(easy);
    {
      absl::MutexLock lock(&pool_mu_);
      if (idle_.size() < options_.max_idle_connections) {
        idle_.push_back(easy);
        return;
      }
    }
    curl_easy_cleanup(easy);
  }

  // Sets every option of one transfer. curl_easy_reset keeps the handle's live connection, DNS
  // and TLS session caches, which is what makes pooled handles reuse connections.
  void Configure(CURL* easy, const HttpRequest& request, const std::string& url,
                 const Credentials& credentials, absl::Duration timeout, Transfer* transfer,
                 curl_slist** headers) const {
    curl_easy_reset(easy);
    curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    if (!config_.disable_compression) curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
    if (timeout > absl::ZeroDuration()) {
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(absl::ToInt64Milliseconds(timeout)));
    }
    // Finds a dead peer of an idle watch (no bookmarks yet) within about a minute.
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(easy, CURLOPT_SHARE, shared_->share());
    curl_easy_setopt(easy, CURLOPT_USERAGENT, config_.user_agent.c_str());
    if (shared_->connect_to() != nullptr) {
      curl_easy_setopt(easy, CURLOPT_CONNECT_TO, shared_->connect_to());
    }
    if (!config_.proxy_url.empty())
      curl_easy_setopt(easy, CURLOPT_PROXY, config_.proxy_url.c_str());

    if (!config_.ca_pem.empty()) SetBlob(easy, CURLOPT_CAINFO_BLOB, config_.ca_pem);
    if (config_.insecure_skip_tls_verify) {
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
      curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    const std::string& cert = credentials.client_certificate_pem.empty()
                                  ? config_.client_certificate_pem
                                  : credentials.client_certificate_pem;
    const std::string& key =
        credentials.client_key_pem.empty() ? config_.client_key_pem : credentials.client_key_pem;
    if (!cert.empty() && !key.empty()) {
      SetBlob(easy, CURLOPT_SSLCERT_BLOB, cert);
      curl_easy_setopt(easy, CURLOPT_SSLCERTTYPE, "PEM");
      SetBlob(easy, CURLOPT_SSLKEY_BLOB, key);
      curl_easy_setopt(easy, CURLOPT_SSLKEYTYPE, "PEM");
    }

    if (request.method == "GET") {
      curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }
    if (!request.body.empty() || request.method == "POST" || request.method == "PUT" ||
        request.method == "PATCH") {
      curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(request.body.size()));
      curl_easy_setopt(easy, CURLOPT_COPYPOSTFIELDS, request.body.c_str());
    }

    curl_slist* list = nullptr;
    bool has_accept = false;
    for (const std::string& header : request.headers) {
      has_accept = has_accept || absl::StartsWithIgnoreCase(header, "accept:");
      list = curl_slist_append(list, header.c_str());
    }
    if (!has_accept) list = curl_slist_append(list, "Accept: application/json");
    if (!request.content_type.empty()) {
      list = curl_slist_append(list, absl::StrCat("Content-Type: ", request.content_type).c_str());
    }
    if (!credentials.authorization.empty()) {
      list = curl_slist_append(list,
                               absl::StrCat("Authorization: ", credentials.authorization).c_str());
    }
    if (!host_header_.empty()) list = curl_slist_append(list, host_header_.c_str());
    if (!config_.impersonate_user.empty()) {
      list = curl_slist_append(
          list, absl::StrCat("Impersonate-User: ", config_.impersonate_user).c_str());
    }
    if (!config_.impersonate_uid.empty()) {
      list = curl_slist_append(list,
                               absl::StrCat("Impersonate-Uid: ", config_.impersonate_uid).c_str());
    }
    for (const std::string& group : config_.impersonate_groups) {
      list = curl_slist_append(list, absl::StrCat("Impersonate-Group: ", group).c_str());
    }
    list = curl_slist_append(list, "Expect:");  // no 100-continue round trip for bodies
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    *headers = list;

    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, transfer);
    if (request.cancel != nullptr) {
      curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &AbortWhenCancelled);
      curl_easy_setopt(easy, CURLOPT_XFERINFODATA, const_cast<absl::Notification*>(request.cancel));
    }
  }

  const RestConfig config_;
  const HttpOptions options_;
  const ServerUrl url_;
  Authenticator auth_;
  std::shared_ptr<SharedState> shared_;
  std::string base_url_;     // scheme://host:port/prefix, host = tls-server-name when set
  std::string host_header_;  // "Host: ..." when tls-server-name rewrote the URL
  absl::Mutex pool_mu_;
  std::vector<CURL*> idle_ ABSL_GUARDED_BY(pool_mu_);
};

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const RestConfig& config,
                                                               HttpOptions options) {
  GlobalInit();
  if (config.server.empty()) {
    return absl::InvalidArgumentError("the config has no server URL");
  }
  if (config.insecure_skip_tls_verify && !config.ca_pem.empty()) {
    return absl::InvalidArgumentError(
        "insecure_skip_tls_verify and a CA are both set; specifying a root certificate with "
        "the insecure flag is not allowed");
  }
  if (config.client_certificate_pem.empty() != config.client_key_pem.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs its key and the key its certificate");
  }
  absl::StatusOr<ServerUrl> url = ParseServer(config.server);
  if (!url.ok()) return url.status();
  return std::unique_ptr<HttpClient>(
      new HttpClient(std::make_unique<Impl>(config, std::move(options), *std::move(url))));
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

absl::StatusOr<HttpResponse> HttpClient::Do(const HttpRequest& request) {
  return impl_->Do(request);
}

absl::StatusOr<std::unique_ptr<HttpStream>> HttpClient::OpenStream(const HttpRequest& request) {
  return impl_->OpenStream(request);
}

const RestConfig& HttpClient::config() const { return impl_->config(); }

const HttpOptions& HttpClient::options() const { return impl_->options(); }

std::string HttpClient::UrlFor(const HttpRequest& request) const { return impl_->UrlFor(request); }

}  // namespace k8s
}  // namespace informer
