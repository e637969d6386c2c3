// Direct reads of informerd's caches (List, Get, ByIndex, ListResources) over gRPC.
#ifndef INFORMERD_CLIENT_H_
#define INFORMERD_CLIENT_H_

#include <atomic>
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
  // A field mask: each object pruned to these paths ("spec.nodeName", "metadata.labels"; its
  // identity and resourceVersion always kept); empty = whole objects. At most 64 paths.
  std::vector<std::string> fields;
  // When informerd is still starting the resource (on demand), wait for its first sync within
  // the call's deadline instead of failing Unavailable.
  bool wait_for_sync = false;
};

// What Get reads, beyond the object's name (informer.v1's GetRequest).
struct GetOptions {
  // As ListOptions' fields of the same names.
  std::string min_resource_version;
  std::vector<std::string> fields;
  bool wait_for_sync = false;
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
  // HTTP/2 keepalive: a ping after `keepalive_time` without traffic, the connection declared
  // dead when its ack takes longer than `keepalive_timeout` (informerd accepts pings 10 s
  // apart or more, idle connections included). Zero keepalive_time = no pings.
  absl::Duration keepalive_time = absl::Seconds(30);
  absl::Duration keepalive_timeout = absl::Seconds(10);
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
  // A client of several informerd replicas serving the same caches ("host:port" each, tried in
  // this order): calls go to one until FailOver moves them to the next, as informers do after
  // a stream breaks, so they resume on another replica. InvalidArgument for an empty list or
  // a file that cannot be read.
  static absl::StatusOr<std::shared_ptr<Client>> ConnectAny(const std::vector<std::string>& targets,
                                                            const ConnectOptions& options = {});
  // A client over a channel the caller made (e.g. with TLS credentials).
  explicit Client(std::shared_ptr<grpc::Channel> channel);
  // A client over one channel per replica (at least one), the first one current.
  explicit Client(std::vector<std::shared_ptr<grpc::Channel>> channels);

  // What informerd caches, with sync state, size and index names.
  absl::StatusOr<std::vector<informer::v1::ResourceStatus>> ListResources();
  // Every cached object of `resource` (kubectl-style) matching `options`, sorted by key, from
  // one snapshot (pages fetched; an expired snapshot restarts the list a few times).
  absl::StatusOr<ObjectList> List(const std::string& resource, const ListOptions& options = {});
  // One cached object; NotFound when the cache has none.
  absl::StatusOr<ObjectPtr> Get(const std::string& resource, const std::string& namespace_name,
                                const std::string& name,
                                const std::string& min_resource_version = "");
  // As Get, with a field mask or a wait for the resource's first sync (GetOptions).
  absl::StatusOr<ObjectPtr> Get(const std::string& resource, const std::string& namespace_name,
                                const std::string& name, const GetOptions& options);
  // Every cached object whose index `index_name` holds `value`, narrowed by `options`, sorted by
  // key. InvalidArgument names the resource's indexes when index_name is not one.
  absl::StatusOr<std::vector<ObjectPtr>> ByIndex(const std::string& resource,
                                                 const std::string& index_name,
                                                 const std::string& value,
                                                 const ListOptions& options = {});

  // The generated stub of the current replica, for calls the helpers do not cover. It stays
  // valid as long as the client.
  informer::v1::InformerService::StubInterface& stub() { return *replicas_[current()].stub; }
  std::shared_ptr<grpc::Channel> channel() const { return replicas_[current()].channel; }
  // The stub of replica `replica` (< replica_count()), for a stream that must stay on it.
  informer::v1::InformerService::StubInterface& stub_at(size_t replica) {
    return *replicas_[replica].stub;
  }
  // Which replica calls go to now (an index into the targets), and how many there are.
  size_t current() const { return current_.load(std::memory_order_acquire); }
  size_t replica_count() const { return replicas_.size(); }
  // Moves later calls to the next replica (round robin) if `from` is still the current one,
  // so that informers failing on the same replica at once move it once. Returns the new
  // current index.
  size_t FailOver(size_t from);
  // Deadline of each unary call (default 30 s).
  void set_timeout(absl::Duration timeout) { timeout_ = timeout; }

 private:
  struct Replica {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<informer::v1::InformerService::StubInterface> stub;
  };
  // How often one read was restarted: after its paged snapshot expired (ABORTED) and on
  // another replica after UNAVAILABLE.
  struct RetryState {
    int restarts = 0;
    size_t failovers = 0;
  };
  // Whether a read that ended with `status` on `replica` starts again: an expired snapshot a
  // few times, and UNAVAILABLE once on each other replica (moving the client there).
  bool ShouldRetry(const grpc::Status& status, size_t replica, RetryState* retry);
  // A context with the unary deadline.
  std::unique_ptr<grpc::ClientContext> NewContext() const;

  std::vector<Replica> replicas_;  // fixed at construction
  std::atomic<size_t> current_{0};
  absl::Duration timeout_ = absl::Seconds(30);
};

}  // namespace informerd

#endif  // INFORMERD_CLIENT_H_
