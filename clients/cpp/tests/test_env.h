// What the C++ client's end-to-end tests share: the environment naming a running informerd and
// its API server, API server writes through informer/k8s, a namespace per test, and informerd
// processes a test may kill and restart.
//
// Environment (set by tests/e2e/clients_e2e_test.sh):
//   INFORMERD_TEST_ADDR        a running informerd caching configmaps (tests skip without it)
//   INFORMERD_TEST_KUBECONFIG  the API server it caches (tests skip without it)
//   INFORMERD_TEST_BIN         the informerd binary, for tests that restart their own server
#ifndef CLIENTS_CPP_TESTS_TEST_ENV_H_
#define CLIENTS_CPP_TESTS_TEST_ENV_H_

#include <sys/types.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "informer/k8s/rest_client.h"

namespace informerd {
namespace e2e {

// The test environment.
struct TestEnv {
  std::string addr;
  std::string kubeconfig;
  std::string bin;  // may be empty
};

// The environment, or nullopt when INFORMERD_TEST_ADDR or INFORMERD_TEST_KUBECONFIG is unset.
std::optional<TestEnv> GetTestEnv();

// Why a test skipped without an environment.
inline constexpr char kSkipMessage[] =
    "end-to-end test: set INFORMERD_TEST_ADDR (a running informerd) and "
    "INFORMERD_TEST_KUBECONFIG (its API server); tests/e2e/clients_e2e_test.sh does";

// ConfigMap writes and reads through the API server, in a namespace of the test's own that is
// deleted with this object. Thread-safety: any thread.
class Kube {
 public:
  // Connects and creates the namespace "cpp-e2e-<random>".
  static absl::StatusOr<std::unique_ptr<Kube>> Create(const std::string& kubeconfig);
  ~Kube();

  const std::string& ns() const { return ns_; }
  // Creates a ConfigMap with `labels` and `data`; its resourceVersion.
  absl::StatusOr<std::string> CreateConfigMap(const std::string& name,
                                              const std::map<std::string, std::string>& labels,
                                              const std::map<std::string, std::string>& data);
  // Merge-patches data[key] = value; the new resourceVersion.
  absl::StatusOr<std::string> SetData(const std::string& name, const std::string& key,
                                      const std::string& value);
  // Deletes a ConfigMap.
  absl::Status DeleteConfigMap(const std::string& name);
  // A ConfigMap's annotation, "" when absent.
  absl::StatusOr<std::string> Annotation(const std::string& name, const std::string& annotation);
  // Key ("ns/name") -> resourceVersion of every ConfigMap of the namespace.
  absl::StatusOr<std::map<std::string, std::string>> ConfigMapVersions();

 private:
  Kube(std::shared_ptr<informer::k8s::RestClient> rest, std::string ns)
      : rest_(std::move(rest)), ns_(std::move(ns)) {}
  std::string Path(const std::string& name) const;

  std::shared_ptr<informer::k8s::RestClient> rest_;
  std::string ns_;
};

// An informerd process of the test's own on a unix socket, caching configmaps.
class ServerProcess {
 public:
  ServerProcess(TestEnv env, std::string dir);
  ~ServerProcess();
  // Starts (again) on the same socket; waits until configmaps are synced. Unavailable with the
  // log's tail when it does not sync in 60 s.
  absl::Status Start();
  // SIGKILL (no goodbye to subscribers), and waits for the process.
  void Kill();
  // The address clients dial.
  std::string target() const { return "unix:" + socket_; }

 private:
  TestEnv env_;
  std::string socket_;
  std::string log_;
  pid_t pid_ = -1;
};

// A TCP proxy on 127.0.0.1 in front of one "host:port" that can blackhole: stop forwarding
// both ways without closing anything (no FIN, no RST), as when a node or a NAT entry on the
// path vanishes. Thread-safety: any thread.
class BlackholeProxy {
 public:
  BlackholeProxy() = default;
  ~BlackholeProxy();  // closes every connection
  BlackholeProxy(const BlackholeProxy&) = delete;
  BlackholeProxy& operator=(const BlackholeProxy&) = delete;

  // Listens on a free port and forwards each connection to `upstream` ("127.0.0.1:PORT").
  absl::Status Start(const std::string& upstream);
  // "127.0.0.1:PORT", for clients.
  std::string target() const;
  // From now on, nothing is forwarded on any connection, open or new.
  void Blackhole();

 private:
  void Accept();
  void Forward(int client, int upstream);

  std::string upstream_host_;
  int upstream_port_ = 0;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> blackholed_{false};
  std::atomic<bool> closing_{false};
  std::mutex mu_;
  std::vector<std::thread> threads_;  // guarded by mu_
  std::vector<int> fds_;              // guarded by mu_; closed by the destructor
};

// Polls `cond` every 10 ms for up to `timeout`; whether it held.
bool Eventually(const std::function<bool()>& cond, absl::Duration timeout = absl::Seconds(30));

}  // namespace e2e
}  // namespace informerd

#endif  // CLIENTS_CPP_TESTS_TEST_ENV_H_
