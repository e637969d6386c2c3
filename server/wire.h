// Subscribe responses as wire bytes, each object version serialised once for every stream
// that sends it.
#ifndef SERVER_WIRE_H_
#define SERVER_WIRE_H_

#include <cstddef>
#include <deque>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "informer/object.h"
#include "server/subscription.h"

namespace informer {
namespace server {

// The serialised informer.v1.Object (ToProto) of recently sent object versions. A change
// fanned out to a thousand subscribers is converted and serialised once, not a thousand times;
// the streams share the bytes (grpc::Slice is reference-counted).
//
// Entries do not keep objects alive: an entry whose object was freed is never returned (its
// address may be reused by another object) and goes with the oldest.
//
// Thread-safety: thread-safe.
class ObjectWireCache {
 public:
  // Keeps at most `max_entries` versions and about `max_bytes` of serialised bytes.
  explicit ObjectWireCache(size_t max_entries = 1024, size_t max_bytes = size_t{32} << 20);

  // The wire bytes of `object` as an informer.v1.Object message.
  grpc::Slice Get(const ObjectPtr& object);

  // Entries held now (for tests).
  size_t size() const;

 private:
  struct Entry {
    std::weak_ptr<const Object> object;
    grpc::Slice bytes;
  };
  const size_t max_entries_;
  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<const Object*, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<const Object*> oldest_first_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// `event` encoded as an informer.v1.SubscribeResponse, equal to serialising ToProto(event),
// with the object messages taken from `cache`.
grpc::ByteBuffer EncodeSubscribeResponse(const SubscriptionEvent& event, ObjectWireCache* cache);

}  // namespace server
}  // namespace informer

#endif  // SERVER_WIRE_H_
