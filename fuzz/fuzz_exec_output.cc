// What an exec credential plugin prints (client.authentication.k8s.io ExecCredential).
#include <string>

#include "informer/k8s/auth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  informer::k8s::ExecConfig exec;
  exec.command = "plugin";
  exec.api_version =
      (size % 2) ? "client.authentication.k8s.io/v1" : "client.authentication.k8s.io/v1beta1";
  const std::string out(reinterpret_cast<const char*>(data), size);
  (void)informer::k8s::ParseExecOutput(exec, out);
  return 0;
}
