// Small file helpers shared by the config loader and the authenticator.
#ifndef INFORMER_K8S_FILE_UTIL_H_
#define INFORMER_K8S_FILE_UTIL_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace informer {
namespace k8s {

// The largest file ReadFileToString reads: kubeconfigs, certificates and tokens are kilobytes,
// and a path naming a device (/dev/zero) or a runaway file must not fill memory.
inline constexpr size_t kMaxFileBytes = size_t{16} << 20;

// The whole content of `path`. NotFound when it does not exist, PermissionDenied when it may
// not be read, FailedPrecondition for other errors (a directory, or more than kMaxFileBytes);
// the message names `what` (e.g. "token file") and the path.
absl::StatusOr<std::string> ReadFileToString(const std::string& path, absl::string_view what);

// `path` unchanged when absolute or empty, else joined to `directory`.
std::string ResolvePath(absl::string_view directory, absl::string_view path);

// The directory part of `path` ("." when it has none).
std::string DirectoryOf(absl::string_view path);

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_FILE_UTIL_H_
