// Server credentials of the gRPC listeners: the one adapter over gRPC's experimental TLS API
// (TlsServerCredentials with a FileWatcherCertificateProvider, so certificates rotated on disk
// are served without a restart and open streams keep their connections), local credentials for
// unix sockets, insecure for loopback development.
#ifndef SERVER_TLS_CREDENTIALS_H_
#define SERVER_TLS_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/server_credentials.h"
#include "server/config.h"

namespace informer {
namespace server {

// The credentials of the TCP listen addresses under `access`: TLS from its files (mTLS when it
// names client CAs) or, with no certificate configured, insecure. InvalidArgument naming the
// file when one cannot be read or holds no PEM block.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpServerCredentials(
    const AccessConfig& access);

// The credentials of a unix:PATH listen address (local, for sidecars).
std::shared_ptr<grpc::ServerCredentials> UnixServerCredentials();

// Whether `address` (HOST:PORT) is on the loopback interface only.
bool IsLoopbackAddress(absl::string_view address);

}  // namespace server
}  // namespace informer

#endif  // SERVER_TLS_CREDENTIALS_H_
