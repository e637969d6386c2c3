// The end-to-end tests' view of the test cluster (scripts/cluster-up): where its kubeconfigs
// are, an admin REST client, and the few admin actions the tests need.
#ifndef TESTS_E2E_CLUSTER_H_
#define TESTS_E2E_CLUSTER_H_

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "informer/k8s/rest_client.h"

namespace informer {
namespace e2e {

// The cluster the environment names.
struct TestCluster {
  std::string kubeconfig;             // $INFORMERD_TEST_KUBECONFIG (admin)
  std::string restricted_kubeconfig;  // $INFORMERD_TEST_KUBECONFIG_RESTRICTED, "" when unset
  std::string compact_command;        // $INFORMERD_TEST_CLUSTER_COMPACT, "" when unset
};

// The cluster from the environment; std::nullopt when INFORMERD_TEST_KUBECONFIG is unset.
std::optional<TestCluster> TestClusterFromEnv();

// A REST client for the kubeconfig at `path` (its current context).
absl::StatusOr<std::shared_ptr<k8s::RestClient>> ClientForKubeconfig(const std::string& path);

// Runs the cluster's compaction command (`testcluster compact --dir STATE`), after which
// watches and continue tokens from before it get 410 Gone. FailedPrecondition when the
// environment names no command; Internal when it fails.
absl::Status CompactCluster(const TestCluster& cluster);

// name -> resourceVersion of every object of a LIST of `path` (keys as the informer's, K1).
absl::StatusOr<std::map<std::string, std::string>> ServerKeyVersions(k8s::RestClient& client,
                                                                     absl::string_view path);

// Creates (POST) `json` at collection `path`, or when it exists already, leaves it.
absl::Status CreateOrKeep(k8s::RestClient& client, absl::string_view path, absl::string_view json);

// Polls `condition` every 50 ms until it holds (true) or `timeout` passes (false).
bool WaitFor(absl::Duration timeout, const std::function<bool()>& condition);

// A random lower-case suffix for names unique to one run, e.g. "k3fz9q".
std::string RandomSuffix();

}  // namespace e2e
}  // namespace informer

#endif  // TESTS_E2E_CLUSTER_H_
