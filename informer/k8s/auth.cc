#include "informer/k8s/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "informer/clock.h"
#include "informer/json.h"
#include "informer/k8s/file_util.h"
#include "informer/k8s/json_util.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

extern char** environ;

namespace informer {
namespace k8s {
namespace {

// Bounds on what a plugin may print; beyond them output is dropped.
constexpr size_t kMaxPluginStdout = size_t{1} << 20;
constexpr size_t kMaxPluginStderr = size_t{16} << 10;

struct ProcessResult {
  int exit_status = 0;  // waitpid status
  std::string out;
  std::string err;
};

void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Runs argv[0] (searched in PATH unless it has a '/') with `env`, stdin from /dev/null, and
// collects stdout and stderr. DeadlineExceeded (after killing it) when it outlives `timeout`.
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& env,
                                         absl::Duration timeout) {
  std::vector<char*> c_argv;
  for (const std::string& arg : argv) c_argv.push_back(const_cast<char*>(arg.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> c_env;
  for (const std::string& var : env) c_env.push_back(const_cast<char*>(var.c_str()));
  c_env.push_back(nullptr);

  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    CloseFd(&out_pipe[0]);
    CloseFd(&out_pipe[1]);
    return absl::ResourceExhaustedError(absl::StrCat("pipe: ", strerror(error)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // Its own process group, so a timeout kills what it started too (a shell's children).
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attributes, 0);
  pid_t pid = -1;
  const int spawn_error =
      posix_spawnp(&pid, c_argv[0], &actions, &attributes, c_argv.data(), c_env.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  CloseFd(&out_pipe[1]);
  CloseFd(&err_pipe[1]);
  if (spawn_error != 0) {
    CloseFd(&out_pipe[0]);
    CloseFd(&err_pipe[0]);
    std::string message = absl::StrCat("cannot run ", argv[0], ": ", strerror(spawn_error));
    if (spawn_error == ENOENT) return absl::NotFoundError(message);
    if (spawn_error == EACCES) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }

  ProcessResult result;
  const absl::Time deadline = MonotonicNow() + timeout;
  bool timed_out = false;
  struct Stream {
    int* fd;
    std::string* sink;
    size_t limit;
  };
  Stream streams[2] = {{&out_pipe[0], &result.out, kMaxPluginStdout},
                       {&err_pipe[0], &result.err, kMaxPluginStderr}};
  while (out_pipe[0] >= 0 || err_pipe[0] >= 0) {
    const absl::Duration left = deadline - MonotonicNow();
    if (left <= absl::ZeroDuration()) {
      timed_out = true;
      break;
    }
    pollfd fds[2];
    int count = 0;
    for (const Stream& stream : streams) {
      if (*stream.fd >= 0) fds[count++] = {*stream.fd, POLLIN, 0};
    }
    const int ready = poll(fds, count, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int i = 0; i < count; ++i) {
      if (fds[i].revents == 0) continue;
      for (Stream& stream : streams) {
        if (*stream.fd != fds[i].fd) continue;
        char buffer[4096];
        ssize_t n = read(*stream.fd, buffer, sizeof(buffer));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          CloseFd(stream.fd);
        } else if (stream.sink->size() < stream.limit) {
          stream.sink->append(buffer, static_cast<size_t>(n));
        }
      }
    }
  }
  CloseFd(&out_pipe[0]);
  CloseFd(&err_pipe[0]);
  if (timed_out) kill(-pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " did not finish within ", absl::FormatDuration(timeout)));
  }
  result.exit_status = status;
  return result;
}

// The KUBERNETES_EXEC_INFO value: an ExecCredential with the spec client-go sends.
std::string ExecInfo(const RestConfig& config) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("apiVersion");
  writer.String(config.exec->api_version);
  writer.Key("kind");
  writer.String("ExecCredential");
  writer.Key("spec");
  writer.StartObject();
  writer.Key("interactive");
  writer.Bool(false);
  if (config.exec->provide_cluster_info) {
    writer.Key("cluster");
    writer.StartObject();
    writer.Key("server");
    writer.String(config.server);
    if (!config.tls_server_name.empty()) {
      writer.Key("tls-server-name");
      writer.String(config.tls_server_name);
    }
    if (config.insecure_skip_tls_verify) {
      writer.Key("insecure-skip-tls-verify");
      writer.Bool(true);
    }
    if (!config.ca_pem.empty()) {
      writer.Key("certificate-authority-data");
      writer.String(absl::Base64Escape(config.ca_pem));
    }
    if (!config.proxy_url.empty()) {
      writer.Key("proxy-url");
      writer.String(config.proxy_url);
    }
    if (config.disable_compression) {
      writer.Key("disable-compression");
      writer.Bool(true);
    }
    writer.EndObject();
  }
  writer.EndObject();
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

absl::StatusOr<ExecCredential> ParseExecOutput(const ExecConfig& exec, absl::string_view out) {
  rapidjson::Document document;
  if (!ParseJson(out, &document).ok() || !document.IsObject()) {
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", exec.command, " printed no ExecCredential JSON object"));
  }
  const std::string api_version = StringMember(document, "apiVersion");
  if (api_version != exec.api_version) {
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", exec.command, " is configured to use API version ",
                     exec.api_version, ", plugin returned version \"", api_version, "\""));
  }
  if (StringMember(document, "kind") != "ExecCredential") {
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", exec.command, " returned a kind other than ExecCredential"));
  }
  auto status = document.FindMember("status");
  if (status == document.MemberEnd() || !status->value.IsObject()) {
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", exec.command, " didn't return a status field"));
  }
  ExecCredential credential;
  credential.token = StringMember(status->value, "token");
  credential.client_certificate_pem = StringMember(status->value, "clientCertificateData");
  credential.client_key_pem = StringMember(status->value, "clientKeyData");
  if (credential.token.empty() && credential.client_certificate_pem.empty() &&
      credential.client_key_pem.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", exec.command, " didn't return a token or cert/key pair"));
  }
  if (credential.client_certificate_pem.empty() != credential.client_key_pem.empty()) {
    return absl::UnauthenticatedError(
        absl::StrCat("exec plugin ", exec.command, " returned only certificate or key, not both"));
  }
  const std::string expiration = StringMember(status->value, "expirationTimestamp");
  if (!expiration.empty()) {
    std::string error;
    if (!absl::ParseTime(absl::RFC3339_full, expiration, &credential.expiration, &error)) {
      return absl::UnauthenticatedError(absl::StrCat("exec plugin ", exec.command,
                                                     " returned a bad expirationTimestamp \"",
                                                     expiration, "\": ", error));
    }
  }
  return credential;
}

absl::StatusOr<ExecCredential> RunExecPlugin(const RestConfig& config, absl::Duration timeout) {
  if (!config.exec.has_value()) return absl::FailedPreconditionError("no exec plugin configured");
  const ExecConfig& exec = *config.exec;
  if (exec.interactive_mode == "Always") {
    return absl::FailedPreconditionError(
        absl::StrCat("exec plugin ", exec.command,
                     " requires interactiveMode Always, but informerd has no terminal"));
  }
  // informerd's environment, then the plugin's variables (which replace same-named ones).
  std::map<std::string, std::string> vars;
  for (char** var = environ; var != nullptr && *var != nullptr; ++var) {
    absl::string_view entry(*var);
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    vars[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [name, value] : exec.env) vars[name] = value;
  vars["KUBERNETES_EXEC_INFO"] = ExecInfo(config);
  std::vector<std::string> env;
  for (const auto& [name, value] : vars) env.push_back(absl::StrCat(name, "=", value));
  std::vector<std::string> argv = {exec.command};
  argv.insert(argv.end(), exec.args.begin(), exec.args.end());

  absl::StatusOr<ProcessResult> result = RunProcess(argv, env, timeout);
  if (!result.ok()) {
    if (absl::IsNotFound(result.status()) && !exec.install_hint.empty()) {
      return absl::NotFoundError(absl::StrCat(result.status().message(), "\n", exec.install_hint));
    }
    return result.status();
  }
  if (!WIFEXITED(result->exit_status) || WEXITSTATUS(result->exit_status) != 0) {
    std::string how = WIFEXITED(result->exit_status)
                          ? absl::StrCat("exited with status ", WEXITSTATUS(result->exit_status))
                          : absl::StrCat("was killed by signal ", WTERMSIG(result->exit_status));
    return absl::UnauthenticatedError(absl::StrCat("exec plugin ", exec.command, " ", how,
                                                   result->err.empty() ? "" : ": ",
                                                   absl::StripAsciiWhitespace(result->err)));
  }
  return ParseExecOutput(exec, result->out);
}

Authenticator::Authenticator(const RestConfig& config, AuthOptions options)
    : config_(config), options_(std::move(options)) {}

absl::Status Authenticator::RefreshTokenFileLocked() {
  const absl::Time now = Now();
  if (now - file_read_at_ < options_.token_file_period) return absl::OkStatus();
  absl::StatusOr<std::string> content = ReadFileToString(config_.bearer_token_file, "token file");
  if (content.ok()) {
    std::string token(absl::StripAsciiWhitespace(*content));
    if (!token.empty()) {
      file_token_ = std::move(token);
      file_read_at_ = now;
      return absl::OkStatus();
    }
    content = absl::UnauthenticatedError(
        absl::StrCat("token file ", config_.bearer_token_file, " is empty"));
  }
  // As client-go: a rotation in progress may leave the file briefly unreadable; the last good
  // token (or the static one) stands in, and the next request tries again.
  if (!file_token_.empty() || !config_.bearer_token.empty()) return absl::OkStatus();
  return content.status();
}

absl::Status Authenticator::RefreshExecLocked() {
  if (exec_valid_ && Now() < exec_credential_.expiration) return absl::OkStatus();
  absl::StatusOr<ExecCredential> credential = RunExecPlugin(config_, options_.exec_timeout);
  if (!credential.ok()) {
    exec_valid_ = false;
    return credential.status();
  }
  exec_credential_ = *std::move(credential);
  exec_valid_ = true;
  return absl::OkStatus();
}

absl::StatusOr<Credentials> Authenticator::Get() {
  absl::MutexLock lock(&mu_);
  std::string token = config_.bearer_token;
  Credentials next;
  if (!config_.bearer_token_file.empty()) {
    if (absl::Status s = RefreshTokenFileLocked(); !s.ok()) return s;
    if (!file_token_.empty()) token = file_token_;
  }
  // A token from the config wins over the plugin's, as client-go's exec round tripper lets an
  // Authorization header already set stand; the plugin may still supply the certificate.
  if (config_.exec.has_value()) {
    if (absl::Status s = RefreshExecLocked(); !s.ok()) return s;
    if (token.empty()) token = exec_credential_.token;
    next.client_certificate_pem = exec_credential_.client_certificate_pem;
    next.client_key_pem = exec_credential_.client_key_pem;
  }
  if (!token.empty()) {
    next.authorization = absl::StrCat("Bearer ", token);
  } else if (!config_.username.empty() || !config_.password.empty()) {
    next.authorization = absl::StrCat(
        "Basic ", absl::Base64Escape(absl::StrCat(config_.username, ":", config_.password)));
  }
  if (next.authorization != current_.authorization ||
      next.client_certificate_pem != current_.client_certificate_pem ||
      next.client_key_pem != current_.client_key_pem) {
    next.generation = current_.generation + 1;
    current_ = std::move(next);
  }
  return current_;
}

bool Authenticator::OnUnauthorized(const Credentials& rejected) {
  absl::MutexLock lock(&mu_);
  if (rejected.generation != current_.generation) return true;  // already refreshed since
  bool refreshable = false;
  if (config_.exec.has_value()) {
    exec_valid_ = false;
    refreshable = true;
  }
  if (!config_.bearer_token_file.empty()) {
    file_read_at_ = absl::InfinitePast();
    refreshable = true;
  }
  return refreshable;
}

}  // namespace k8s
}  // namespace informer
