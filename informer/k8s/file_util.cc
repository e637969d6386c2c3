#include "informer/k8s/file_util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace informer {
namespace k8s {

absl::StatusOr<std::string> ReadFileToString(const std::string& path, absl::string_view what) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    std::string message = absl::StrCat("cannot read ", what, " ", path, ": ", strerror(error));
    if (error == ENOENT || error == ENOTDIR) return absl::NotFoundError(message);
    if (error == EACCES || error == EPERM) return absl::PermissionDeniedError(message);
    return absl::FailedPreconditionError(message);
  }
  std::string content;
  char buffer[8192];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read ", what, " ", path, ": ", strerror(error)));
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
    if (content.size() > kMaxFileBytes) {
      close(fd);
      return absl::FailedPreconditionError(absl::StrCat("cannot read ", what, " ", path,
                                                        ": larger than ", kMaxFileBytes >> 20,
                                                        " MiB; is it the right file?"));
    }
  }
  close(fd);
  return content;
}

std::string ResolvePath(absl::string_view directory, absl::string_view path) {
  if (path.empty() || path.front() == '/' || directory.empty()) return std::string(path);
  if (directory.back() == '/') return absl::StrCat(directory, path);
  return absl::StrCat(directory, "/", path);
}

std::string DirectoryOf(absl::string_view path) {
  size_t slash = path.rfind('/');
  if (slash == absl::string_view::npos) return ".";
  if (slash == 0) return "/";
  return std::string(path.substr(0, slash));
}

}  // namespace k8s
}  // namespace informer
