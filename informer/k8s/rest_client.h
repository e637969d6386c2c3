// The Kubernetes REST API over HttpClient: GET/POST/PUT/PATCH/DELETE with Status errors, LIST
// into ListPages, WATCH as a stream of WatchEvents.
#ifndef INFORMER_K8S_REST_CLIENT_H_
#define INFORMER_K8S_REST_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "informer/k8s/config.h"
#include "informer/k8s/http_client.h"
#include "informer/lister_watcher.h"
#include "informer/object_decoder.h"
#include "informer/resource.h"

namespace informer {
namespace k8s {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// The REST path of a resource's collection, or of one object when `name` is set:
// /api/v1/namespaces/NS/configmaps[/NAME] or /apis/GROUP/VERSION/RESOURCE[/NAME]. The namespace
// is used only for namespaced resources ("" = across all namespaces).
std::string ResourcePath(const ResourceInfo& resource, absl::string_view namespace_name,
                         absl::string_view name = "");

// Accept headers that make the API server serve PartialObjectMetadata (meta.k8s.io/v1) instead
// of full objects: a LIST answers a PartialObjectMetadataList, a WATCH (also a streaming list)
// sends PartialObjectMetadata objects. Only JSON, with no full-object fallback: a server that
// cannot project answers 406 rather than sending the data.
inline constexpr char kAcceptMetadataList[] =
    "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
inline constexpr char kAcceptMetadata[] =
    "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

// The query parameters of a LIST (watch = false) or WATCH (watch = true) with `options`.
QueryParams ListQuery(const ListOptions& options, bool watch);

// Thread-safety: every method may be called from any thread, concurrently.
class RestClient {
 public:
  // A client for the server of `config`. Errors as HttpClient::Create.
  static absl::StatusOr<std::shared_ptr<RestClient>> Create(const RestConfig& config,
                                                            HttpOptions options = {});
  explicit RestClient(std::unique_ptr<HttpClient> http);

  // Sends `request`. A 2xx response is returned as is; any other status becomes the error
  // ApiStatusToStatus makes of its Status body (so 410 is IsResourceExpired, 403 is
  // PermissionDenied, 404 NotFound). Transport failures as HttpClient::Do.
  absl::StatusOr<HttpResponse> Do(const HttpRequest& request);

  // GET `path` with `query`; the body. Errors as Do.
  absl::StatusOr<std::string> Get(absl::string_view path, const QueryParams& query = {});
  // POST (create), PUT (replace), PATCH (JSON merge patch) or DELETE with a JSON body; the
  // response body. Errors as Do.
  absl::StatusOr<std::string> Post(absl::string_view path, absl::string_view json);
  absl::StatusOr<std::string> Put(absl::string_view path, absl::string_view json);
  absl::StatusOr<std::string> MergePatch(absl::string_view path, absl::string_view json);
  absl::StatusOr<std::string> Delete(absl::string_view path, absl::string_view json = "");

  // One page of a LIST of the collection at `path`. The body is parsed once (in situ); each
  // item lacking kind/apiVersion gets them from the list (kind minus "List"), then goes through
  // `decoder`. InvalidArgument when the body is not a list or an item cannot be decoded; server
  // errors as Do. `accept` is the Accept header ("" = application/json), e.g.
  // kAcceptMetadataList.
  absl::StatusOr<ListPage> List(absl::string_view path, const ListOptions& options,
                                const ObjectDecoder& decoder, absl::string_view accept = "");

  // Opens a WATCH of the collection at `path` and returns once the server has answered. A
  // non-2xx answer is its Status error (as Do); errors later in the stream (ERROR events) are
  // kError events. The stream's client-side timeout is options.timeout_seconds plus a margin.
  // `decoder` must outlive the stream. `accept` is the Accept header ("" = application/json),
  // e.g. kAcceptMetadata.
  absl::StatusOr<std::unique_ptr<WatchStream>> Watch(absl::string_view path,
                                                     const ListOptions& options,
                                                     const ObjectDecoder& decoder,
                                                     absl::string_view accept = "");

  HttpClient& http() { return *http_; }
  const RestConfig& config() const { return http_->config(); }

 private:
  absl::StatusOr<std::string> Send(absl::string_view method, absl::string_view path,
                                   absl::string_view body, absl::string_view content_type);

  std::unique_ptr<HttpClient> http_;
};

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_REST_CLIENT_H_
