#include "tests/e2e/informerd_process.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace informer {
namespace e2e {

std::unique_ptr<InformerdProcess> InformerdProcess::Start(const std::string& binary,
                                                          std::vector<std::string> flags) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return nullptr;
  flags.insert(flags.begin(), binary);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], 2);
    close(pipe_fds[0]);
    std::vector<char*> argv;
    for (std::string& flag : flags) argv.push_back(flag.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  auto process = std::unique_ptr<InformerdProcess>(new InformerdProcess(pid, pipe_fds[0]));
  if (!process->WaitForLog("\"msg\":\"serving\"", absl::Seconds(30))) {
    fprintf(stderr, "informerd did not start:\n%s\n", process->log().c_str());
    return nullptr;
  }
  return process;
}

InformerdProcess::InformerdProcess(pid_t pid, int fd)
    : pid_(pid), fd_(fd), reader_([this] { Read(); }) {}

InformerdProcess::~InformerdProcess() {
  Stop();
  if (reader_.joinable()) reader_.join();
  close(fd_);
}

int InformerdProcess::Stop() {
  if (exit_status_ >= 0) return exit_status_;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_status_;
}

bool InformerdProcess::WaitForLog(absl::string_view text, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return absl::StrContains(log_, text) || ended_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&found), timeout);
  return absl::StrContains(log_, text);
}

std::string InformerdProcess::log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

void InformerdProcess::Read() {
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd_, buffer, sizeof(buffer))) > 0) {
    absl::MutexLock lock(&mu_);
    log_.append(buffer, static_cast<size_t>(n));
  }
  absl::MutexLock lock(&mu_);
  ended_ = true;
}

int InformerdProcess::Port(absl::string_view field) const {
  const std::string text = log();
  const std::string key = absl::StrCat("\"", field, "\":\"");
  const size_t at = text.find(key);
  if (at == std::string::npos) return 0;
  int port = 0;
  const size_t start = at + key.size();
  (void)absl::SimpleAtoi(text.substr(start, text.find('"', start) - start), &port);
  return port;
}

}  // namespace e2e
}  // namespace informer
