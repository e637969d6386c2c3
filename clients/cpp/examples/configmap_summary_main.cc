// configmap_summary: the C++ client's example controller (see configmap_summary.h).
//   configmap_summary --informerd 127.0.0.1:50051 --kubeconfig ~/.kube/config [--namespace NS]
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/clock.h"
#include "examples/configmap_summary.h"

ABSL_FLAG(std::string, informerd, "127.0.0.1:50051", "informerd's address");
ABSL_FLAG(std::string, kubeconfig, "", "kubeconfig of the API server; empty = the usual rules");
ABSL_FLAG(std::string, namespace, "", "only this namespace; empty = all");
ABSL_FLAG(std::string, selector, "app=demo", "label selector of the ConfigMaps to summarise");
ABSL_FLAG(std::string, ca_file, "",
          "CA of informerd's TLS certificate; empty = $INFORMERD_CA_FILE, else plaintext");
ABSL_FLAG(std::string, token_file, "",
          "ServiceAccount token of audience informerd, re-read as it rotates; empty = "
          "$INFORMERD_TOKEN_FILE");

namespace {
volatile std::sig_atomic_t stop_requested = 0;
void OnSignal(int) { stop_requested = 1; }
}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  informerd::example::ControllerOptions options;
  options.informerd = absl::GetFlag(FLAGS_informerd);
  options.kubeconfig = absl::GetFlag(FLAGS_kubeconfig);
  options.namespace_name = absl::GetFlag(FLAGS_namespace);
  options.selector = absl::GetFlag(FLAGS_selector);
  auto flag_or_env = [](const std::string& flag, const char* env) {
    const char* value = std::getenv(env);
    return !flag.empty() || value == nullptr ? flag : std::string(value);
  };
  options.connect.ca_file = flag_or_env(absl::GetFlag(FLAGS_ca_file), "INFORMERD_CA_FILE");
  options.connect.token_file = flag_or_env(absl::GetFlag(FLAGS_token_file), "INFORMERD_TOKEN_FILE");
  auto controller = informerd::example::ConfigMapSummaryController::Create(options);
  if (!controller.ok()) {
    std::fprintf(stderr, "configmap_summary: %s\n", controller.status().ToString().c_str());
    return 1;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (absl::Status s = (*controller)->Start(); !s.ok()) {
    std::fprintf(stderr, "configmap_summary: %s\n", s.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "configmap_summary: synced; reconciling\n");
  while (!stop_requested) absl::SleepFor(absl::Milliseconds(100));
  (*controller)->Stop();
  return 0;
}
