// The kubeconfig loader on arbitrary YAML. Relative paths resolve under a directory that does
// not exist, so file references fail fast (absolute ones are read, as informerd would).
#include <string>

#include "informer/k8s/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  (void)informer::k8s::RestConfigFromKubeconfigYaml(yaml, "/nonexistent-informerd-fuzz");
  return 0;
}
