// Where the API server is and who we are to it: kubeconfig files and in-cluster config, loaded
// with client-go's rules (tools/clientcmd and rest.InClusterConfig).
#ifndef INFORMER_K8S_CONFIG_H_
#define INFORMER_K8S_CONFIG_H_

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace informer {
namespace k8s {

// "informerd/<version>", the User-Agent of every request.
std::string DefaultUserAgent();

// An exec credential plugin (kubeconfig `users[].user.exec`), run to obtain a token or a client
// certificate per client.authentication.k8s.io/v1 or v1beta1 ExecCredential.
struct ExecConfig {
  std::string command;  // a relative path with a '/' is resolved against the kubeconfig's dir
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to informerd's environment
  std::string api_version;            // "client.authentication.k8s.io/v1" or ".../v1beta1"
  std::string install_hint;           // shown when the command is missing
  bool provide_cluster_info = false;  // put the cluster into KUBERNETES_EXEC_INFO
  std::string interactive_mode;       // "Never", "IfAvailable" or "Always" (we never have a tty)
};

// Everything needed to reach and authenticate to one API server (client-go's rest.Config).
// File contents (CA, client certificate and key) are read at load time; the token file is
// re-read while running, since bound service account tokens rotate.
struct RestConfig {
  // "https://host:port", possibly with a path prefix (e.g. behind a proxy); no trailing '/'.
  std::string server;

  // TLS: PEM of the CAs that sign the server's certificate (empty = the system's CAs).
  std::string ca_pem;
  // Skips server certificate verification. Never together with ca_pem.
  bool insecure_skip_tls_verify = false;
  // The name to verify the server's certificate against (and send as SNI) instead of the host
  // in `server`.
  std::string tls_server_name;
  // Proxy to reach the server through ("" = the usual https_proxy/no_proxy environment).
  std::string proxy_url;
  // Do not ask for gzip responses.
  bool disable_compression = false;

  // Authentication: at most one of token, basic auth; a client certificate may accompany
  // either; an exec plugin may supply a token and/or a client certificate.
  std::string bearer_token;
  // Re-read at least once a minute; when readable, its content wins over bearer_token.
  std::string bearer_token_file;
  std::string client_certificate_pem;
  std::string client_key_pem;
  std::string username;
  std::string password;
  std::optional<ExecConfig> exec;

  // Impersonation (kubeconfig `as`, `as-uid`, `as-groups`).
  std::string impersonate_user;
  std::string impersonate_uid;
  std::vector<std::string> impersonate_groups;

  std::string user_agent = DefaultUserAgent();

  // The default namespace: the context's, or the pod's in-cluster; "" when none is set.
  std::string namespace_name;
  // Where this config came from, for log lines and errors, e.g.
  // `kubeconfig /home/a/.kube/config, context "kind"` or `in-cluster`.
  std::string source;
};

// The directory a pod's service account credentials are mounted in.
inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

// Looks up an environment variable; std::nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;

// How LoadRestConfig finds a config; the defaults are informerd's flags unset.
struct LoadOptions {
  // --kubeconfig: use only this file, which must exist.
  std::string kubeconfig_path;
  // --context: use this context instead of current-context.
  std::string context;
  // Use the in-cluster config when no kubeconfig is found (and no --context was given).
  bool allow_in_cluster = true;
  // Where the service account is mounted (tests point it to a temp dir).
  std::string service_account_dir = kServiceAccountDir;
  // Environment (KUBECONFIG, HOME, KUBERNETES_SERVICE_HOST/PORT); null = the process's.
  EnvLookup getenv;
};

// Loads a RestConfig exactly as client-go's clientcmd does:
//   1. --kubeconfig (options.kubeconfig_path) alone, when set; NotFound when it does not exist;
//   2. else every file in $KUBECONFIG (':'-separated, duplicates and missing files skipped),
//      merged: the first file to define a cluster/user/context name or current-context wins;
//   3. else ~/.kube/config;
//   4. when no file yields a config and no --context was given: the in-cluster config.
// Then the context (options.context, else current-context) selects a cluster and a user.
// Relative paths in a file are resolved against that file's directory.
// Errors: NotFound naming what is missing (file, context, cluster, user, credential file) and
// where it was looked for; InvalidArgument for malformed YAML or contradictory settings
// (e.g. certificate-authority and certificate-authority-data both set), saying what to fix.
absl::StatusOr<RestConfig> LoadRestConfig(const LoadOptions& options = {});

// Builds a RestConfig from kubeconfig YAML text alone, as if it were a file in `directory`
// (relative paths resolve against it). `context` overrides current-context when not empty.
absl::StatusOr<RestConfig> RestConfigFromKubeconfigYaml(absl::string_view yaml,
                                                        absl::string_view directory,
                                                        absl::string_view context = "");

// The config of a pod: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the
// service account's token (as bearer_token_file, re-read as it rotates), ca.crt and namespace
// from options.service_account_dir. NotFound when not running in a pod (variables unset) or the
// token is missing.
absl::StatusOr<RestConfig> InClusterConfig(const LoadOptions& options = {});

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_CONFIG_H_
