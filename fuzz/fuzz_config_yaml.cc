// informerd's --config YAML: ApplyConfigYaml then ValidateConfig on arbitrary text.
#include <string>

#include "server/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string yaml(reinterpret_cast<const char*>(data), size);
  informer::server::ServerConfig config;
  if (informer::server::ApplyConfigYaml(yaml, &config).ok()) {
    (void)informer::server::ValidateConfig(config);
  }
  return 0;
}
