// The example controller of informerd's C++ client: follows the ConfigMaps labelled app=demo
// through informerd and writes a summary of each one's data keys into its annotation
// informerd.dev/summary, through the API server with informer/k8s's REST client.
#ifndef EXAMPLES_CONFIGMAP_SUMMARY_H_
#define EXAMPLES_CONFIGMAP_SUMMARY_H_

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "informer/k8s/rest_client.h"
#include "informerd/informer.h"
#include "informerd/work_queue.h"
#include "rapidjson/document.h"

namespace informerd {
namespace example {

// The annotation the controller writes.
inline constexpr char kSummaryAnnotation[] = "informerd.dev/summary";

// The annotation value for a ConfigMap: its data and binaryData keys, sorted, e.g.
// "2 keys: a,b" ("0 keys" when it has none).
std::string Summary(const rapidjson::Value& configmap);

// What the controller needs.
struct ControllerOptions {
  std::string informerd = "127.0.0.1:50051";  // informerd's address
  std::string kubeconfig;                     // the API server to write to
  std::string namespace_name;                 // "" = all namespaces
  std::string selector = "app=demo";          // which ConfigMaps
  int workers = 2;
  // With TLS and --auth (deploy/): informerd's CA and a token file of audience informerd.
  ConnectOptions connect;
};

// informer -> work queue of keys -> workers that patch the annotation when it differs.
// Thread-safety: Start and Stop from one thread.
class ConfigMapSummaryController {
 public:
  // Loads the kubeconfig and connects. NotFound/InvalidArgument from the kubeconfig.
  static absl::StatusOr<std::unique_ptr<ConfigMapSummaryController>> Create(
      ControllerOptions options);
  ~ConfigMapSummaryController();

  // Starts the informer, waits up to `sync_timeout` for it to sync, then starts the workers.
  // DeadlineExceeded when it did not sync.
  absl::Status Start(absl::Duration sync_timeout = absl::Seconds(60));
  // Stops the workers and the informer.
  void Stop();

  // Writes the summary of the ConfigMap at `key` when its annotation differs (one
  // reconciliation; errors are the REST client's).
  absl::Status Reconcile(const std::string& key);

 private:
  ConfigMapSummaryController(ControllerOptions options,
                             std::shared_ptr<informer::k8s::RestClient> rest,
                             std::shared_ptr<Client> client);
  void Work();

  const ControllerOptions options_;
  std::shared_ptr<informer::k8s::RestClient> rest_;
  std::shared_ptr<Client> client_;
  std::unique_ptr<Informer> informer_;
  RateLimitingQueue queue_;
  std::vector<std::thread> workers_;
};

}  // namespace example
}  // namespace informerd

#endif  // EXAMPLES_CONFIGMAP_SUMMARY_H_
