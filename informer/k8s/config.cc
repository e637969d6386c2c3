#include "informer/k8s/config.h"

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "informer/k8s/file_util.h"
#include "yaml-cpp/yaml.h"

#ifndef INFORMERD_VERSION
#define INFORMERD_VERSION "dev"
#endif

namespace informer {
namespace k8s {
namespace {

constexpr char kExecV1[] = "client.authentication.k8s.io/v1";
constexpr char kExecV1Beta1[] = "client.authentication.k8s.io/v1beta1";

// One `clusters[]` entry; paths already resolved against its file's directory.
struct ClusterEntry {
  std::string server;
  std::string ca_file;
  std::string ca_data;  // decoded PEM
  bool insecure = false;
  std::string tls_server_name;
  std::string proxy_url;
  bool disable_compression = false;
};

// One `users[]` entry.
struct UserEntry {
  std::string token;
  std::string token_file;
  std::string cert_file;
  std::string cert_data;
  std::string key_file;
  std::string key_data;
  std::string username;
  std::string password;
  std::optional<ExecConfig> exec;
  std::string auth_provider;  // name only: unsupported, reported when selected
  std::string impersonate_user;
  std::string impersonate_uid;
  std::vector<std::string> impersonate_groups;
};

// One `contexts[]` entry.
struct ContextEntry {
  std::string cluster;
  std::string user;
  std::string namespace_name;
};

// A kubeconfig file, or several merged.
struct Kubeconfig {
  std::map<std::string, ClusterEntry> clusters;
  std::map<std::string, UserEntry> users;
  std::map<std::string, ContextEntry> contexts;
  std::string current_context;

  bool Empty() const {
    return clusters.empty() && users.empty() && contexts.empty() && current_context.empty();
  }
};

// yaml-cpp reports problems by exception; this one carries our message out of the parser.
struct ConfigError {
  std::string message;
};

[[noreturn]] void Fail(std::string message) { throw ConfigError{std::move(message)}; }

// The scalar at `node[key]`; "" when absent or null.
std::string Scalar(const YAML::Node& node, const char* key, absl::string_view where) {
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) return "";
  if (!value.IsScalar()) Fail(absl::StrCat(where, ".", key, " must be a string"));
  return value.Scalar();
}

bool Bool(const YAML::Node& node, const char* key, absl::string_view where) {
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) return false;
  bool result = false;
  if (!value.IsScalar() || !YAML::convert<bool>::decode(value, result)) {
    Fail(absl::StrCat(where, ".", key, " must be true or false"));
  }
  return result;
}

std::vector<std::string> StringList(const YAML::Node& node, const char* key,
                                    absl::string_view where) {
  std::vector<std::string> out;
  const YAML::Node value = node[key];
  if (!value.IsDefined() || value.IsNull()) return out;
  if (!value.IsSequence()) Fail(absl::StrCat(where, ".", key, " must be a list of strings"));
  for (const YAML::Node& item : value) {
    if (!item.IsScalar()) Fail(absl::StrCat(where, ".", key, " must be a list of strings"));
    out.push_back(item.Scalar());
  }
  return out;
}

// Base64 `*-data` fields; line breaks and spaces inside are allowed, as Go's decoder allows.
std::string Base64Field(const YAML::Node& node, const char* key, absl::string_view where) {
  std::string encoded = Scalar(node, key, where);
  if (encoded.empty()) return "";
  encoded.erase(std::remove_if(encoded.begin(), encoded.end(),
                               [](unsigned char c) { return absl::ascii_isspace(c); }),
                encoded.end());
  std::string decoded;
  if (!absl::Base64Unescape(encoded, &decoded)) {
    Fail(absl::StrCat(where, ".", key, " is not valid base64"));
  }
  return decoded;
}

// Calls `fn(name, body)` for each `{name: ..., <body_key>: {...}}` item of the list `key`.
template <typename Fn>
void ForEachNamed(const YAML::Node& root, const char* key, const char* body_key, Fn fn) {
  const YAML::Node list = root[key];
  if (!list.IsDefined() || list.IsNull()) return;
  if (!list.IsSequence()) Fail(absl::StrCat(key, " must be a list"));
  size_t index = 0;
  for (const YAML::Node& item : list) {
    const std::string where = absl::StrCat(key, "[", index++, "]");
    if (!item.IsMap()) Fail(absl::StrCat(where, " must be a mapping with name and ", body_key));
    const std::string name = Scalar(item, "name", where);
    if (name.empty()) Fail(absl::StrCat(where, " has no name"));
    const YAML::Node body = item[body_key];
    if (body.IsDefined() && !body.IsNull() && !body.IsMap()) {
      Fail(absl::StrCat(where, ".", body_key, " must be a mapping"));
    }
    fn(name, body.IsDefined() && body.IsMap() ? body : YAML::Node(YAML::NodeType::Map),
       absl::StrCat(key, "[name=", name, "].", body_key));
  }
}

std::optional<ExecConfig> ParseExec(const YAML::Node& user, absl::string_view where,
                                    absl::string_view directory) {
  const YAML::Node exec = user["exec"];
  if (!exec.IsDefined() || exec.IsNull()) return std::nullopt;
  const std::string exec_where = absl::StrCat(where, ".exec");
  if (!exec.IsMap()) Fail(absl::StrCat(exec_where, " must be a mapping"));
  ExecConfig config;
  config.command = Scalar(exec, "command", exec_where);
  // As clientcmd: only a relative command with a path separator is relative to the file.
  if (absl::StrContains(config.command, '/')) {
    config.command = ResolvePath(directory, config.command);
  }
  config.args = StringList(exec, "args", exec_where);
  const YAML::Node env = exec["env"];
  if (env.IsDefined() && !env.IsNull()) {
    if (!env.IsSequence()) Fail(absl::StrCat(exec_where, ".env must be a list"));
    for (const YAML::Node& item : env) {
      if (!item.IsMap()) Fail(absl::StrCat(exec_where, ".env items must have name and value"));
      config.env.emplace_back(Scalar(item, "name", exec_where), Scalar(item, "value", exec_where));
    }
  }
  config.api_version = Scalar(exec, "apiVersion", exec_where);
  config.install_hint = Scalar(exec, "installHint", exec_where);
  config.provide_cluster_info = Bool(exec, "provideClusterInfo", exec_where);
  config.interactive_mode = Scalar(exec, "interactiveMode", exec_where);
  // clientcmd's defaulting: older plugin API versions default to IfAvailable; v1 must say.
  if (config.interactive_mode.empty() && config.api_version == kExecV1Beta1) {
    config.interactive_mode = "IfAvailable";
  }
  return config;
}

// Parses one kubeconfig file's text. Throws ConfigError or YAML::Exception.
Kubeconfig ParseKubeconfigOrThrow(absl::string_view yaml, absl::string_view directory) {
  Kubeconfig config;
  if (absl::StripAsciiWhitespace(yaml).empty()) return config;  // clientcmd: empty is allowed
  const YAML::Node root = YAML::Load(std::string(yaml));
  if (root.IsNull()) return config;
  if (!root.IsMap())
    Fail("the document must be a mapping (apiVersion, kind: Config, clusters, ...)");
  const std::string kind = Scalar(root, "kind", "kubeconfig");
  if (!kind.empty() && kind != "Config") {
    Fail(absl::StrCat("kind is \"", kind, "\", expected \"Config\""));
  }
  config.current_context = Scalar(root, "current-context", "kubeconfig");

  ForEachNamed(root, "clusters", "cluster",
               [&](const std::string& name, const YAML::Node& body, const std::string& where) {
                 ClusterEntry cluster;
                 cluster.server = Scalar(body, "server", where);
                 cluster.ca_file =
                     ResolvePath(directory, Scalar(body, "certificate-authority", where));
                 cluster.ca_data = Base64Field(body, "certificate-authority-data", where);
                 cluster.insecure = Bool(body, "insecure-skip-tls-verify", where);
                 cluster.tls_server_name = Scalar(body, "tls-server-name", where);
                 cluster.proxy_url = Scalar(body, "proxy-url", where);
                 cluster.disable_compression = Bool(body, "disable-compression", where);
                 if (!config.clusters.emplace(name, std::move(cluster)).second) {
                   Fail(absl::StrCat("clusters lists \"", name, "\" twice"));
                 }
               });
  ForEachNamed(root, "users", "user",
               [&](const std::string& name, const YAML::Node& body, const std::string& where) {
                 UserEntry user;
                 user.token = Scalar(body, "token", where);
                 user.token_file = ResolvePath(directory, Scalar(body, "tokenFile", where));
                 user.cert_file = ResolvePath(directory, Scalar(body, "client-certificate", where));
                 user.cert_data = Base64Field(body, "client-certificate-data", where);
                 user.key_file = ResolvePath(directory, Scalar(body, "client-key", where));
                 user.key_data = Base64Field(body, "client-key-data", where);
                 user.username = Scalar(body, "username", where);
                 user.password = Scalar(body, "password", where);
                 user.exec = ParseExec(body, where, directory);
                 const YAML::Node provider = body["auth-provider"];
                 if (provider.IsDefined() && provider.IsMap()) {
                   user.auth_provider = Scalar(provider, "name", where);
                   if (user.auth_provider.empty()) user.auth_provider = "(unnamed)";
                 }
                 user.impersonate_user = Scalar(body, "as", where);
                 user.impersonate_uid = Scalar(body, "as-uid", where);
                 user.impersonate_groups = StringList(body, "as-groups", where);
                 if (!config.users.emplace(name, std::move(user)).second) {
                   Fail(absl::StrCat("users lists \"", name, "\" twice"));
                 }
               });
  ForEachNamed(root, "contexts", "context",
               [&](const std::string& name, const YAML::Node& body, const std::string& where) {
                 ContextEntry context;
                 context.cluster = Scalar(body, "cluster", where);
                 context.user = Scalar(body, "user", where);
                 context.namespace_name = Scalar(body, "namespace", where);
                 if (!config.contexts.emplace(name, std::move(context)).second) {
                   Fail(absl::StrCat("contexts lists \"", name, "\" twice"));
                 }
               });
  return config;
}

absl::StatusOr<Kubeconfig> ParseKubeconfig(absl::string_view yaml, absl::string_view directory,
                                           absl::string_view origin) {
  try {
    return ParseKubeconfigOrThrow(yaml, directory);
  } catch (const ConfigError& e) {
    return absl::InvalidArgumentError(absl::StrCat("kubeconfig ", origin, ": ", e.message));
  } catch (const YAML::Exception& e) {
    // e.what() already carries "yaml-cpp: error at line L, column C: ...".
    return absl::InvalidArgumentError(
        absl::StrCat("kubeconfig ", origin, " is not valid YAML: ", e.what()));
  }
}

// clientcmd's merge: the first file to define a map key wins the whole entry, and the first
// file to set current-context wins.
void MergeInto(Kubeconfig* into, Kubeconfig from) {
  into->clusters.merge(from.clusters);
  into->users.merge(from.users);
  into->contexts.merge(from.contexts);
  if (into->current_context.empty()) into->current_context = std::move(from.current_context);
}

template <typename Map>
std::string KnownNames(const Map& map) {
  if (map.empty()) return "none";
  std::vector<std::string> names;
  for (const auto& entry : map) names.push_back(entry.first);
  return absl::StrJoin(names, ", ");
}

// Reads `path` into `*out` when set; the message names the setting that points to it.
absl::Status ReadReferencedFile(const std::string& path, absl::string_view setting,
                                std::string* out) {
  if (path.empty()) return absl::OkStatus();
  absl::StatusOr<std::string> content = ReadFileToString(path, setting);
  if (!content.ok()) return content.status();
  *out = *std::move(content);
  return absl::OkStatus();
}

// client-go's DefaultServerURL: a server without a scheme gets https when TLS is configured.
std::string NormalizeServer(std::string server, bool tls_configured) {
  if (!absl::StrContains(server, "://")) {
    server = absl::StrCat(tls_configured ? "https://" : "http://", server);
  }
  while (!server.empty() && server.back() == '/') server.pop_back();
  return server;
}

absl::StatusOr<RestConfig> BuildRestConfig(const Kubeconfig& config,
                                           absl::string_view context_override,
                                           absl::string_view origin) {
  const std::string context_name =
      context_override.empty() ? config.current_context : std::string(context_override);
  if (context_name.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "kubeconfig ", origin, " sets no current-context; pass --context (known contexts: ",
        KnownNames(config.contexts), ") or run `kubectl config use-context NAME`"));
  }
  auto context_it = config.contexts.find(context_name);
  if (context_it == config.contexts.end()) {
    return absl::NotFoundError(
        absl::StrCat("context \"", context_name, "\" not found in kubeconfig ", origin,
                     " (known contexts: ", KnownNames(config.contexts), ")"));
  }
  const ContextEntry& context = context_it->second;
  if (context.cluster.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("context \"", context_name, "\" in kubeconfig ",
                                                   origin, " names no cluster; set its cluster"));
  }
  auto cluster_it = config.clusters.find(context.cluster);
  if (cluster_it == config.clusters.end()) {
    return absl::NotFoundError(absl::StrCat("cluster \"", context.cluster, "\" of context \"",
                                            context_name, "\" not found in kubeconfig ", origin,
                                            " (known clusters: ", KnownNames(config.clusters),
                                            ")"));
  }
  const ClusterEntry& cluster = cluster_it->second;
  const UserEntry empty_user;
  const UserEntry* user = &empty_user;  // a context without a user is anonymous, as clientcmd
  if (!context.user.empty()) {
    auto user_it = config.users.find(context.user);
    if (user_it == config.users.end()) {
      return absl::NotFoundError(absl::StrCat("user \"", context.user, "\" of context \"",
                                              context_name, "\" not found in kubeconfig ", origin,
                                              " (known users: ", KnownNames(config.users), ")"));
    }
    user = &user_it->second;
  }

  // The checks of clientcmd's ConfirmUsable (and of rest.TLSConfigFor), all at once.
  std::vector<std::string> problems;
  const std::string cluster_desc = absl::StrCat("cluster \"", context.cluster, "\"");
  const std::string user_desc = absl::StrCat("user \"", context.user, "\"");
  if (cluster.server.empty()) problems.push_back(absl::StrCat(cluster_desc, " has no server"));
  if (!cluster.ca_file.empty() && !cluster.ca_data.empty()) {
    problems.push_back(absl::StrCat(cluster_desc,
                                    " sets both certificate-authority and "
                                    "certificate-authority-data; keep one"));
  }
  if (cluster.insecure && (!cluster.ca_file.empty() || !cluster.ca_data.empty())) {
    problems.push_back(absl::StrCat(cluster_desc,
                                    " sets insecure-skip-tls-verify together with a certificate "
                                    "authority; remove one"));
  }
  const bool has_cert = !user->cert_file.empty() || !user->cert_data.empty();
  const bool has_key = !user->key_file.empty() || !user->key_data.empty();
  if (!user->cert_file.empty() && !user->cert_data.empty()) {
    problems.push_back(absl::StrCat(
        user_desc, " sets both client-certificate and client-certificate-data; keep one"));
  }
  if (!user->key_file.empty() && !user->key_data.empty()) {
    problems.push_back(
        absl::StrCat(user_desc, " sets both client-key and client-key-data; keep one"));
  }
  if (has_cert != has_key) {
    problems.push_back(absl::StrCat(user_desc, " sets a client ", has_cert ? "certificate" : "key",
                                    " without a client ", has_cert ? "key" : "certificate"));
  }
  if (!user->token.empty() && (!user->username.empty() || !user->password.empty())) {
    problems.push_back(absl::StrCat(
        user_desc, " sets both token and username/password; only one method is allowed"));
  }
  if (!user->auth_provider.empty()) {
    problems.push_back(absl::StrCat(user_desc, " uses auth-provider \"", user->auth_provider,
                                    "\", which informerd does not support; use an exec "
                                    "credential plugin instead"));
  }
  if (user->exec.has_value()) {
    const ExecConfig& exec = *user->exec;
    if (exec.command.empty()) problems.push_back(absl::StrCat(user_desc, ": exec has no command"));
    if (exec.api_version != kExecV1 && exec.api_version != kExecV1Beta1) {
      problems.push_back(absl::StrCat(user_desc, ": exec apiVersion \"", exec.api_version,
                                      "\" is not supported; use ", kExecV1, " or ", kExecV1Beta1));
    }
    if (exec.interactive_mode.empty()) {
      problems.push_back(absl::StrCat(user_desc, ": exec with ", exec.api_version,
                                      " must set interactiveMode (Never, IfAvailable, Always)"));
    } else if (exec.interactive_mode != "Never" && exec.interactive_mode != "IfAvailable" &&
               exec.interactive_mode != "Always") {
      problems.push_back(absl::StrCat(user_desc, ": invalid exec interactiveMode \"",
                                      exec.interactive_mode, "\""));
    }
    for (const auto& [name, value] : exec.env) {
      if (name.empty())
        problems.push_back(absl::StrCat(user_desc, ": exec env entry without name"));
    }
  }
  if (!user->impersonate_user.empty() || !user->impersonate_groups.empty() ||
      !user->impersonate_uid.empty()) {
    if (user->impersonate_user.empty()) {
      problems.push_back(absl::StrCat(user_desc, " sets as-groups or as-uid without as"));
    }
  }
  if (!problems.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid kubeconfig ", origin, " (context \"",
                                                   context_name,
                                                   "\"): ", absl::StrJoin(problems, "; ")));
  }

  RestConfig rest;
  rest.source = absl::StrCat("kubeconfig ", origin, ", context \"", context_name, "\"");
  rest.namespace_name = context.namespace_name;
  rest.proxy_url = cluster.proxy_url;
  rest.disable_compression = cluster.disable_compression;
  const bool tls_configured =
      cluster.insecure || !cluster.ca_file.empty() || !cluster.ca_data.empty() || has_cert;
  rest.server = NormalizeServer(cluster.server, tls_configured);
  // As clientcmd: identities are only sent over TLS.
  if (!absl::StartsWith(rest.server, "https://") && !tls_configured) return rest;

  rest.insecure_skip_tls_verify = cluster.insecure;
  rest.tls_server_name = cluster.tls_server_name;
  rest.ca_pem = cluster.ca_data;
  if (absl::Status s = ReadReferencedFile(
          cluster.ca_file, absl::StrCat(cluster_desc, " certificate-authority"), &rest.ca_pem);
      !s.ok()) {
    return s;
  }
  rest.client_certificate_pem = user->cert_data;
  if (absl::Status s =
          ReadReferencedFile(user->cert_file, absl::StrCat(user_desc, " client-certificate"),
                             &rest.client_certificate_pem);
      !s.ok()) {
    return s;
  }
  rest.client_key_pem = user->key_data;
  if (absl::Status s = ReadReferencedFile(user->key_file, absl::StrCat(user_desc, " client-key"),
                                          &rest.client_key_pem);
      !s.ok()) {
    return s;
  }
  // clientcmd: a token wins at load time; the token file (when set) is read now only without a
  // token, and is re-read while running either way.
  rest.bearer_token = user->token;
  rest.bearer_token_file = user->token_file;
  if (rest.bearer_token.empty() && !user->token_file.empty()) {
    std::string token;
    if (absl::Status s =
            ReadReferencedFile(user->token_file, absl::StrCat(user_desc, " tokenFile"), &token);
        !s.ok()) {
      return s;
    }
    rest.bearer_token = std::string(absl::StripAsciiWhitespace(token));
  }
  rest.username = user->username;
  rest.password = user->password;
  rest.exec = user->exec;
  rest.impersonate_user = user->impersonate_user;
  rest.impersonate_uid = user->impersonate_uid;
  rest.impersonate_groups = user->impersonate_groups;
  return rest;
}

std::optional<std::string> RealGetenv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string HomeDirectory(const EnvLookup& getenv) {
  if (std::optional<std::string> home = getenv("HOME"); home.has_value() && !home->empty()) {
    return *home;
  }
  struct passwd pw;
  struct passwd* result = nullptr;
  char buffer[4096];
  if (getpwuid_r(getuid(), &pw, buffer, sizeof(buffer), &result) == 0 && result != nullptr &&
      result->pw_dir != nullptr) {
    return result->pw_dir;
  }
  return "";
}

bool InClusterEnvironment(const EnvLookup& getenv) {
  std::optional<std::string> host = getenv("KUBERNETES_SERVICE_HOST");
  std::optional<std::string> port = getenv("KUBERNETES_SERVICE_PORT");
  return host.has_value() && !host->empty() && port.has_value() && !port->empty();
}

}  // namespace

std::string DefaultUserAgent() { return absl::StrCat("informerd/", INFORMERD_VERSION); }

absl::StatusOr<RestConfig> RestConfigFromKubeconfigYaml(absl::string_view yaml,
                                                        absl::string_view directory,
                                                        absl::string_view context) {
  absl::StatusOr<Kubeconfig> config = ParseKubeconfig(yaml, directory, "(inline)");
  if (!config.ok()) return config.status();
  return BuildRestConfig(*config, context, "(inline)");
}

absl::StatusOr<RestConfig> InClusterConfig(const LoadOptions& options) {
  const EnvLookup getenv = options.getenv ? options.getenv : EnvLookup(RealGetenv);
  if (!InClusterEnvironment(getenv)) {
    return absl::NotFoundError(
        "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set");
  }
  const std::string host = *getenv("KUBERNETES_SERVICE_HOST");
  const std::string port = *getenv("KUBERNETES_SERVICE_PORT");
  const std::string& dir = options.service_account_dir;
  RestConfig rest;
  rest.source = "in-cluster";
  rest.server = absl::StrCat("https://", absl::StrContains(host, ':') ? "[" : "", host,
                             absl::StrContains(host, ':') ? "]" : "", ":", port);
  rest.bearer_token_file = ResolvePath(dir, "token");
  absl::StatusOr<std::string> token =
      ReadFileToString(rest.bearer_token_file, "service account token");
  if (!token.ok()) return token.status();
  rest.bearer_token = std::string(absl::StripAsciiWhitespace(*token));
  // As rest.InClusterConfig: an unreadable ca.crt falls back to the system's CAs.
  if (absl::StatusOr<std::string> ca = ReadFileToString(ResolvePath(dir, "ca.crt"), "CA");
      ca.ok()) {
    rest.ca_pem = *std::move(ca);
  }
  if (absl::StatusOr<std::string> ns = ReadFileToString(ResolvePath(dir, "namespace"), "namespace");
      ns.ok()) {
    rest.namespace_name = std::string(absl::StripAsciiWhitespace(*ns));
  }
  return rest;
}

absl::StatusOr<RestConfig> LoadRestConfig(const LoadOptions& options) {
  const EnvLookup getenv = options.getenv ? options.getenv : EnvLookup(RealGetenv);
  std::vector<std::string> files;
  if (!options.kubeconfig_path.empty()) {
    files.push_back(options.kubeconfig_path);
  } else if (std::optional<std::string> env = getenv("KUBECONFIG");
             env.has_value() && !env->empty()) {
    std::set<std::string> seen;
    for (absl::string_view path : absl::StrSplit(*env, ':', absl::SkipEmpty())) {
      if (seen.insert(std::string(path)).second) files.emplace_back(path);
    }
  } else {
    std::string home = HomeDirectory(getenv);
    if (!home.empty()) files.push_back(ResolvePath(home, ".kube/config"));
  }

  Kubeconfig merged;
  std::vector<std::string> loaded;
  for (const std::string& path : files) {
    absl::StatusOr<std::string> text = ReadFileToString(path, "kubeconfig");
    if (absl::IsNotFound(text.status())) {
      if (!options.kubeconfig_path.empty()) {
        return absl::NotFoundError(
            absl::StrCat("kubeconfig ", path, " (given by --kubeconfig) does not exist"));
      }
      continue;  // clientcmd skips missing files of KUBECONFIG and the default path
    }
    if (!text.ok()) return text.status();
    absl::StatusOr<Kubeconfig> config = ParseKubeconfig(*text, DirectoryOf(path), path);
    if (!config.ok()) return config.status();
    MergeInto(&merged, *std::move(config));
    loaded.push_back(path);
  }

  if (merged.Empty()) {
    if (options.allow_in_cluster && options.context.empty() && InClusterEnvironment(getenv)) {
      return InClusterConfig(options);
    }
    return absl::NotFoundError(absl::StrCat(
        "no Kubernetes configuration found (looked in ",
        files.empty() ? std::string("no files: HOME is not set") : absl::StrJoin(files, ", "),
        "); pass --kubeconfig, set KUBECONFIG, or run in a pod"));
  }
  return BuildRestConfig(merged, options.context, absl::StrJoin(loaded, ":"));
}

}  // namespace k8s
}  // namespace informer
