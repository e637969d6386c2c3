// An informerd process for end-to-end tests: started with flags against the test cluster, its
// ports read from its "serving" log line, its log kept for failure messages, stopped with
// SIGTERM.
#ifndef TESTS_E2E_INFORMERD_PROCESS_H_
#define TESTS_E2E_INFORMERD_PROCESS_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace informer {
namespace e2e {

// Thread-safety: every method may be called from any thread.
class InformerdProcess {
 public:
  // Runs `binary` with `flags` (the caller names --kubeconfig, --listen, ...); null when it did
  // not log "serving" within 30 s (its log then went to stderr).
  static std::unique_ptr<InformerdProcess> Start(const std::string& binary,
                                                 std::vector<std::string> flags);
  ~InformerdProcess();

  // SIGTERM and wait; the exit status.
  int Stop();
  // Waits until the log contains `text`; whether it does.
  bool WaitForLog(absl::string_view text, absl::Duration timeout);
  std::string log() const;
  int grpc_port() const { return Port("grpc_port"); }
  int metrics_port() const { return Port("metrics_port"); }
  // The process id (a child of this process, so its /proc/PID/mem is readable to it).
  pid_t pid() const { return pid_; }

 private:
  InformerdProcess(pid_t pid, int fd);
  void Read();
  int Port(absl::string_view field) const;

  const pid_t pid_;
  const int fd_;
  int exit_status_ = -1;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

}  // namespace e2e
}  // namespace informer

#endif  // TESTS_E2E_INFORMERD_PROCESS_H_
