#include "server/tls_credentials.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace informer {
namespace server {
namespace {

absl::Status CheckPemFile(const std::string& path, absl::string_view flag) {
  std::ifstream in(path);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  if (!absl::StrContains(text.str(), "-----BEGIN ")) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": ", path, " holds no PEM block"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TcpServerCredentials(
    const AccessConfig& access) {
  if (access.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  // The provider reports unreadable files only in gRPC's own log, and then serves nothing:
  // check them once here so a typo fails at startup.
  if (absl::Status s = CheckPemFile(access.tls_cert_file, "--tls_cert_file"); !s.ok()) return s;
  if (absl::Status s = CheckPemFile(access.tls_key_file, "--tls_key_file"); !s.ok()) return s;
  if (!access.tls_client_ca_file.empty()) {
    if (absl::Status s = CheckPemFile(access.tls_client_ca_file, "--tls_client_ca_file"); !s.ok()) {
      return s;
    }
  }
  const unsigned int refresh_seconds =
      static_cast<unsigned int>(std::max<int64_t>(1, absl::ToInt64Seconds(access.tls_refresh)));
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      access.tls_key_file, access.tls_cert_file, access.tls_client_ca_file, refresh_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (access.tls_client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

std::shared_ptr<grpc::ServerCredentials> UnixServerCredentials() {
  return grpc::experimental::LocalServerCredentials(UDS);
}

bool IsLoopbackAddress(absl::string_view address) {
  const size_t colon = address.rfind(':');
  absl::string_view host = address.substr(0, colon == absl::string_view::npos ? 0 : colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

}  // namespace server
}  // namespace informer
