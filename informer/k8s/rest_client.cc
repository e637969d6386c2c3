#include "informer/k8s/rest_client.h"

#include <atomic>
#include <deque>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "informer/json.h"
#include "informer/k8s/json_util.h"
#include "informer/k8s/status_body.h"
#include "informer/k8s/watch_decoder.h"
#include "rapidjson/document.h"

namespace informer {
namespace k8s {
namespace {

// How much longer than the server's watch timeout the client waits before giving up: the
// server ends the watch itself, this only catches a server that went silent.
constexpr absl::Duration kWatchTimeoutMargin = absl::Seconds(30);

bool IsSuccess(int status) { return status >= 200 && status < 300; }

// A WATCH response body turned into events, pulled by Next.
class RestWatchStream : public WatchStream {
 public:
  RestWatchStream(std::unique_ptr<HttpStream> stream, const ObjectDecoder* decoder,
                  size_t max_frame_bytes)
      : stream_(std::move(stream)), decoder_(decoder, max_frame_bytes) {}

  absl::StatusOr<std::optional<WatchEvent>> Next() override {
    while (true) {
      if (stopped_.load()) return std::nullopt;
      if (!events_.empty()) {
        WatchEvent event = std::move(events_.front());
        events_.pop_front();
        return std::optional<WatchEvent>(std::move(event));
      }
      if (ended_) return end_;
      std::string chunk;
      absl::StatusOr<bool> more = stream_->Read(&chunk);
      if (!more.ok()) {
        // Stop() cancels the transfer; that is a clean end, not an error.
        End(absl::IsCancelled(more.status()) ? absl::OkStatus() : more.status());
        continue;
      }
      if (!*more) {
        End(decoder_.Finish());
        continue;
      }
      // Events decoded before a malformed one are still delivered, then the error.
      if (absl::Status s = decoder_.Feed(chunk, &events_); !s.ok()) {
        stream_->Cancel();
        End(s);
      }
    }
  }

  void Stop() override {
    stopped_.store(true);
    stream_->Cancel();
  }

 private:
  void End(absl::Status status) {
    ended_ = true;
    if (status.ok()) {
      end_ = std::optional<WatchEvent>();
    } else {
      end_ = status;
    }
  }

  std::unique_ptr<HttpStream> stream_;
  WatchDecoder decoder_;
  std::deque<WatchEvent> events_;
  bool ended_ = false;
  absl::StatusOr<std::optional<WatchEvent>> end_ = std::optional<WatchEvent>();
  std::atomic<bool> stopped_{false};
};

}  // namespace

std::string ResourcePath(const ResourceInfo& resource, absl::string_view namespace_name,
                         absl::string_view name) {
  const GroupVersionResource& gvr = resource.gvr;
  std::string path = gvr.group.empty() ? absl::StrCat("/api/", gvr.version)
                                       : absl::StrCat("/apis/", gvr.group, "/", gvr.version);
  if (resource.namespaced && !namespace_name.empty()) {
    absl::StrAppend(&path, "/namespaces/", UrlEscape(namespace_name));
  }
  absl::StrAppend(&path, "/", gvr.resource);
  if (!name.empty()) absl::StrAppend(&path, "/", UrlEscape(name));
  return path;
}

QueryParams ListQuery(const ListOptions& options, bool watch) {
  QueryParams query;
  if (watch) query.emplace_back("watch", "true");
  if (!options.label_selector.empty()) query.emplace_back("labelSelector", options.label_selector);
  if (!options.field_selector.empty()) query.emplace_back("fieldSelector", options.field_selector);
  // resourceVersion "" is meaningful (a quorum read), so it is sent only when set.
  if (!options.resource_version.empty()) {
    query.emplace_back("resourceVersion", options.resource_version);
  }
  if (!options.resource_version_match.empty()) {
    query.emplace_back("resourceVersionMatch", options.resource_version_match);
  }
  if (watch) {
    if (options.allow_watch_bookmarks) query.emplace_back("allowWatchBookmarks", "true");
    if (options.timeout_seconds > 0) {
      query.emplace_back("timeoutSeconds", absl::StrCat(options.timeout_seconds));
    }
    if (options.send_initial_events) query.emplace_back("sendInitialEvents", "true");
  } else {
    if (options.limit > 0) query.emplace_back("limit", absl::StrCat(options.limit));
    if (!options.continue_token.empty()) query.emplace_back("continue", options.continue_token);
  }
  return query;
}

absl::StatusOr<std::shared_ptr<RestClient>> RestClient::Create(const RestConfig& config,
                                                               HttpOptions options) {
  absl::StatusOr<std::unique_ptr<HttpClient>> http = HttpClient::Create(config, std::move(options));
  if (!http.ok()) return http.status();
  return std::make_shared<RestClient>(*std::move(http));
}

RestClient::RestClient(std::unique_ptr<HttpClient> http) : http_(std::move(http)) {}

absl::StatusOr<HttpResponse> RestClient::Do(const HttpRequest& request) {
  absl::StatusOr<HttpResponse> response = http_->Do(request);
  if (!response.ok()) return response.status();
  if (!IsSuccess(response->status)) {
    return StatusFromHttpResponse(response->status, response->body);
  }
  return response;
}

absl::StatusOr<std::string> RestClient::Get(absl::string_view path, const QueryParams& query) {
  HttpRequest request;
  request.path = std::string(path);
  request.query = query;
  absl::StatusOr<HttpResponse> response = Do(request);
  if (!response.ok()) return response.status();
  return std::move(response->body);
}

absl::StatusOr<std::string> RestClient::Send(absl::string_view method, absl::string_view path,
                                             absl::string_view body,
                                             absl::string_view content_type) {
  HttpRequest request;
  request.method = std::string(method);
  request.path = std::string(path);
  request.body = std::string(body);
  if (!body.empty()) request.content_type = std::string(content_type);
  absl::StatusOr<HttpResponse> response = Do(request);
  if (!response.ok()) return response.status();
  return std::move(response->body);
}

absl::StatusOr<std::string> RestClient::Post(absl::string_view path, absl::string_view json) {
  return Send("POST", path, json, "application/json");
}

absl::StatusOr<std::string> RestClient::Put(absl::string_view path, absl::string_view json) {
  return Send("PUT", path, json, "application/json");
}

absl::StatusOr<std::string> RestClient::MergePatch(absl::string_view path, absl::string_view json) {
  return Send("PATCH", path, json, "application/merge-patch+json");
}

absl::StatusOr<std::string> RestClient::Delete(absl::string_view path, absl::string_view json) {
  return Send("DELETE", path, json, "application/json");
}

absl::StatusOr<ListPage> RestClient::List(absl::string_view path, const ListOptions& options,
                                          const ObjectDecoder& decoder, absl::string_view accept) {
  HttpRequest request;
  if (!accept.empty()) request.headers.push_back(absl::StrCat("Accept: ", accept));
  request.path = std::string(path);
  request.query = ListQuery(options, /*watch=*/false);
  request.cancel = options.cancel;
  absl::StatusOr<HttpResponse> response = Do(request);
  if (!response.ok()) return response.status();

  std::string& body = response->body;
  rapidjson::Document document;
  if (absl::Status s = ParseJsonInsitu(&body[0], &document,
                                       /*stop_when_done=*/false);
      !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("LIST ", path, ": ", s.message()));
  }
  if (!document.IsObject()) {
    return absl::InvalidArgumentError(absl::StrCat("LIST ", path, ": the body is not an object"));
  }
  // Items of a list usually lack their own kind and apiVersion (U1); the list's name them.
  std::string item_kind = StringMember(document, "kind");
  if (absl::EndsWith(item_kind, "List")) item_kind.resize(item_kind.size() - 4);
  const std::string item_api_version = StringMember(document, "apiVersion");

  ListPage page;
  auto metadata = document.FindMember("metadata");
  if (metadata != document.MemberEnd() && metadata->value.IsObject()) {
    page.resource_version = StringMember(metadata->value, "resourceVersion");
    page.continue_token = StringMember(metadata->value, "continue");
  }
  auto items = document.FindMember("items");
  if (items == document.MemberEnd() || items->value.IsNull()) return page;  // an empty list
  if (!items->value.IsArray()) {
    return absl::InvalidArgumentError(absl::StrCat("LIST ", path, ": items is not an array"));
  }
  page.items.reserve(items->value.Size());
  auto& allocator = document.GetAllocator();
  for (rapidjson::Value& item : items->value.GetArray()) {
    if (absl::Status s = Object::SetTypeMeta(item, allocator, item_api_version, item_kind);
        !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("LIST ", path, ": ", s.message()));
    }
    absl::StatusOr<ObjectPtr> object = decoder.Decode(item, allocator);
    if (!object.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("LIST ", path, ": ", object.status().message()));
    }
    page.items.push_back(*std::move(object));
  }
  return page;
}

absl::StatusOr<std::unique_ptr<WatchStream>> RestClient::Watch(absl::string_view path,
                                                               const ListOptions& options,
                                                               const ObjectDecoder& decoder,
                                                               absl::string_view accept) {
  HttpRequest request;
  if (!accept.empty()) request.headers.push_back(absl::StrCat("Accept: ", accept));
  request.path = std::string(path);
  request.query = ListQuery(options, /*watch=*/true);
  request.cancel = options.cancel;  // also aborts an open that hangs (connect, headers)
  if (options.timeout_seconds > 0) {
    request.timeout = absl::Seconds(options.timeout_seconds) + kWatchTimeoutMargin;
  }
  absl::StatusOr<std::unique_ptr<HttpStream>> stream = http_->OpenStream(request);
  if (!stream.ok()) return stream.status();
  if (!IsSuccess((*stream)->status())) {
    // The error body is quoted in the status; read no more of it than a Status needs.
    constexpr size_t kMaxErrorBody = 64 << 10;
    std::string body;
    while (body.size() < kMaxErrorBody) {
      absl::StatusOr<bool> more = (*stream)->Read(&body);
      if (!more.ok() || !*more) break;
    }
    (*stream)->Cancel();
    return StatusFromHttpResponse((*stream)->status(), body);
  }
  return std::unique_ptr<WatchStream>(std::make_unique<RestWatchStream>(
      *std::move(stream), &decoder, http_->options().max_watch_frame_bytes));
}

}  // namespace k8s
}  // namespace informer
