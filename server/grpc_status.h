// The one conversion from absl::Status to grpc::Status used by every RPC.
#ifndef SERVER_GRPC_STATUS_H_
#define SERVER_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace informer {
namespace server {

// The grpc::Status with the same code (the numbers are the same by design) and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace server
}  // namespace informer

#endif  // SERVER_GRPC_STATUS_H_
