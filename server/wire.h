// Subscribe responses as wire bytes, the objects' JSON shared with the cache, not copied.
#ifndef SERVER_WIRE_H_
#define SERVER_WIRE_H_

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

}  // namespace server
}  // namespace informer

#endif  // SERVER_WIRE_H_
