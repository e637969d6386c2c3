// Responses as wire bytes (Subscribe's events, Get, List and ByIndex), the objects' JSON shared
// with the cache, not copied.
#ifndef SERVER_WIRE_H_
#define SERVER_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "grpcpp/support/byte_buffer.h"
#include "informer/object.h"
#include "server/subscription.h"

namespace informer {
namespace server {

// `event` encoded as an informer.v1.SubscribeResponse, byte for byte what serialising
// ToProto(event) gives. The objects' JSON is not copied: its slice points into the Object, which
// the slice keeps alive (a reference) until gRPC has written it. Only the fields around it (the
// event's head, each object's key and length, namespace, name, uid and resourceVersion) are
// serialised per call, so a Subscribe start that sends the whole cache makes no copy of it, and
// a change fanned out to a thousand streams is not copied a thousand times.
grpc::ByteBuffer EncodeSubscribeResponse(const SubscriptionEvent& event);

// The unary answers the same way: byte for byte what serialising the informer.v1 response
// that ToProto fills gives, each object's JSON referenced rather than copied when it is large
// enough for that to pay (kReferencedJsonBytes; a smaller one is copied with the bytes around
// it, as one allocation costs less than a reference's).
grpc::ByteBuffer EncodeGetResponse(const ObjectPtr& object);
grpc::ByteBuffer EncodeListResponse(const std::vector<ObjectPtr>& objects,
                                    absl::string_view resource_version,
                                    absl::string_view next_page_token, int64_t total_count);
grpc::ByteBuffer EncodeByIndexResponse(const std::vector<ObjectPtr>& objects,
                                       absl::string_view next_page_token, int64_t total_count);

// JSON of at least this many bytes is sent from the object's own buffer (see above).
inline constexpr size_t kReferencedJsonBytes = 1024;

}  // namespace server
}  // namespace informer

#endif  // SERVER_WIRE_H_
