// Request credentials from a RestConfig: static token, rotating token file, basic auth, exec
// credential plugins.
#ifndef INFORMER_K8S_AUTH_H_
#define INFORMER_K8S_AUTH_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/k8s/config.h"

namespace informer {
namespace k8s {

// What one request authenticates with.
struct Credentials {
  std::string authorization;  // the Authorization header's value; "" = none
  // A client certificate from an exec plugin, replacing the config's; "" = use the config's.
  std::string client_certificate_pem;
  std::string client_key_pem;
  uint64_t generation = 0;  // changes whenever the credentials are refreshed
};

// Tunables of the Authenticator, for tests.
struct AuthOptions {
  // How long a token file's content is trusted before it is read again (client-go: 1 minute).
  absl::Duration token_file_period = absl::Minutes(1);
  // An exec plugin that runs longer is killed.
  absl::Duration exec_timeout = absl::Minutes(1);
  // The time; null = absl::Now.
  std::function<absl::Time()> now;
};

// The result of running an exec credential plugin once.
struct ExecCredential {
  std::string token;
  std::string client_certificate_pem;
  std::string client_key_pem;
  absl::Time expiration = absl::InfiniteFuture();  // status.expirationTimestamp
};

// Runs `config.exec` once per client.authentication.k8s.io (v1 or v1beta1): its environment is
// informerd's plus exec.env plus KUBERNETES_EXEC_INFO (an ExecCredential with spec.interactive
// false and, with provideClusterInfo, spec.cluster from `config`). NotFound (with the install
// hint) when the command does not exist; Unauthenticated when it fails or prints no valid
// ExecCredential (the message quotes its stderr); DeadlineExceeded after `timeout`;
// FailedPrecondition when interactiveMode is Always (informerd has no terminal).
absl::StatusOr<ExecCredential> RunExecPlugin(const RestConfig& config, absl::Duration timeout);

// Parses an exec plugin's stdout as client-go does, with its error messages: Unauthenticated
// when it is not an ExecCredential of `exec.api_version` with a token or a certificate and key.
absl::StatusOr<ExecCredential> ParseExecOutput(const ExecConfig& exec, absl::string_view out);

// Produces the Credentials of each request: a token file is re-read once its period is over
// (keeping the last good token when a read fails), an exec credential is cached until its
// expirationTimestamp, and a 401 makes the next request fetch fresh ones.
//
// Thread-safety: every method may be called from any thread. The exec plugin runs under the
// lock, so concurrent requests wait for one run instead of starting many.
class Authenticator {
 public:
  Authenticator(const RestConfig& config, AuthOptions options = {});

  // Credentials for the next request. Fails only when a credential source fails and no earlier
  // value can stand in (e.g. the exec plugin fails, or the token file was never readable).
  absl::StatusOr<Credentials> Get();

  // Reports that the server answered 401 to a request made with `rejected`. Returns true when
  // trying again may help (the credentials come from a token file or plugin and were not
  // already refreshed since), and arranges for the next Get to refresh them.
  bool OnUnauthorized(const Credentials& rejected);

 private:
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }
  absl::Status RefreshTokenFileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status RefreshExecLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const RestConfig config_;
  const AuthOptions options_;
  absl::Mutex mu_;
  Credentials current_ ABSL_GUARDED_BY(mu_);
  // Token file: the last good content and when it was read (InfinitePast = never).
  std::string file_token_ ABSL_GUARDED_BY(mu_);
  absl::Time file_read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  // Exec: the cached credential, valid while `exec_valid_`.
  ExecCredential exec_credential_ ABSL_GUARDED_BY(mu_);
  bool exec_valid_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_AUTH_H_
