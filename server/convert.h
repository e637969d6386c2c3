// Conversions from the cache's types to informer.v1 messages.
#ifndef SERVER_CONVERT_H_
#define SERVER_CONVERT_H_

#include "informer/object.h"
#include "informer/v1/informer.pb.h"
#include "server/cache_reader.h"
#include "server/subscription.h"

namespace informer {
namespace server {

// Fills `out` from `object` (JSON and identity fields).
void ToProto(const Object& object, informer::v1::Object* out);
// Fills `out` from `event`.
void ToProto(const SubscriptionEvent& event, informer::v1::SubscribeResponse* out);
// Fills `out` from `summary`.
void ToProto(const ResourceSummary& summary, informer::v1::ResourceStatus* out);

}  // namespace server
}  // namespace informer

#endif  // SERVER_CONVERT_H_
