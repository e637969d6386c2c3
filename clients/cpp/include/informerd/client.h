// Direct reads of informerd's caches (List, Get, ByIndex, ListResources) over gRPC.
#ifndef INFORMERD_CLIENT_H_
#define INFORMERD_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "informer/v1/informer.grpc.pb.h"
#include "informerd/object.h"

namespace informerd {

// Filters of List and ByIndex, as informer.v1's ListRequest.
struct ListOptions {
  // Only this namespace; empty = all.
  std::string namespace_name;
  // Kubernetes label and field selectors; empty = everything.
  std::string label_selector;
  std::string field_selector;
  // Page size (0 = the server's default); every page is fetched.
  int32_t limit = 0;
  // Answer only once the cache has seen this resourceVersion (read your writes).
  std::string min_resource_version;
};

// One consistent list and the resourceVersion of the snapshot it comes from.
struct ObjectList {
  std::vector<ObjectPtr> items;
  std::string resource_version;
};

// How to reach an informerd that runs with TLS and --auth (see docs/security.md).
struct ConnectOptions {
  // PEM file of the CAs that sign informerd's certificate; empty = plaintext (loopback only).
  std::string ca_file;
  // Client certificate and key (PEM files) for mTLS; empty = none.
  std::string cert_file;
  std::string key_file;
  // A ServiceAccount token of audience informerd, re-read from this file (a projected token the
  // kubelet rotates) at most every `token_reread`; empty = send no token. Sent over TLS or a
  // unix socket only (gRPC refuses call credentials over plaintext TCP).
  std::string token_file;
  absl::Duration token_reread = absl::Seconds(30);
};

// The absl::Status of a gRPC status (the codes are the same numbers).
absl::Status FromGrpcStatus(const grpc::Status& status);

// Reads informerd's caches; informers subscribe through it. Errors are the service's status
// codes (see informer.v1): NotFound for a resource informerd does not cache or an object Get
// cannot find, InvalidArgument for a bad selector, Unavailable while a resource is not synced,
// DeadlineExceeded when min_resource_version was not reached in time.
//
// Thread-safety: every method may be called from any thread, concurrently.
class Client {
 public:
  // A client of informerd at `target` ("host:port" or "unix:/path") over plaintext, retrying
  // the connection every 2 s at most so that informers notice a restarted server soon.
  static std::shared_ptr<Client> Connect(const std::string& target);
  // As Connect, with TLS and a token as `options` says. InvalidArgument when a file cannot be
  // read.
  static absl::StatusOr<std::shared_ptr<Client>> Connect(const std::string& target,
                                                         const ConnectOptions& options);
  // A client over a channel the caller made (e.g. with TLS credentials).
  explicit Client(std::shared_ptr<grpc::Channel> channel);

  // What informerd caches, with sync state, size and index names.
  absl::StatusOr<std::vector<informer::v1::ResourceStatus>> ListResources();
  // Every cached object of `resource` (kubectl-style) matching `options`, sorted by key, from
  // one snapshot (pages fetched; an expired snapshot restarts the list a few times).
  absl::StatusOr<ObjectList> List(const std::string& resource, const ListOptions& options = {});
  // One cached object; NotFound when the cache has none.
  absl::StatusOr<ObjectPtr> Get(const std::string& resource, const std::string& namespace_name,
                                const std::string& name,
                                const std::string& min_resource_version = "");
  // Every cached object whose index `index_name` holds `value`, narrowed by `options`, sorted by
  // key. InvalidArgument names the resource's indexes when index_name is not one.
  absl::StatusOr<std::vector<ObjectPtr>> ByIndex(const std::string& resource,
                                                 const std::string& index_name,
                                                 const std::string& value,
                                                 const ListOptions& options = {});

  // The generated stub, for calls the helpers do not cover.
  informer::v1::InformerService::StubInterface& stub() { return *stub_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // Deadline of each unary call (default 30 s).
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }

 private:
  // A context with the unary deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<informer::v1::InformerService::StubInterface> stub_;
  absl::Duration timeout_ = absl::Seconds(30);
};

}  // namespace informerd

#endif  // INFORMERD_CLIENT_H_
