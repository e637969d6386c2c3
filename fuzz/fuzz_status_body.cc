// API error bodies (Kubernetes Status objects, or a proxy's HTML) into statuses.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "informer/k8s/status_body.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const int code = provider.ConsumeIntegralInRange(0, 999);
  const std::string body = provider.ConsumeRemainingBytesAsString();
  (void)informer::k8s::StatusFromHttpResponse(code, body);
  return 0;
}
