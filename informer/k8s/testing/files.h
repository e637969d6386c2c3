// Temporary files for the transport tests (kubeconfigs, token files, plugin output).
#ifndef INFORMER_K8S_TESTING_FILES_H_
#define INFORMER_K8S_TESTING_FILES_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace informer {
namespace k8s {
namespace testing {

// A fresh, empty directory under the test's temp dir, removed with everything in it when the
// object goes out of scope (so tests leave nothing behind in /tmp).
class TempDir {
 public:
  // Creates the directory, named `<prefix>_XXXXXX`; an error fails the current test.
  explicit TempDir(absl::string_view prefix = "k8s_test")
      : path_(absl::StrCat(::testing::TempDir(), "/", prefix, "_XXXXXX")) {
    EXPECT_NE(mkdtemp(path_.data()), nullptr) << path_;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  // Removes the directory and its contents; errors are ignored.
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }

  // The directory's absolute path, without a trailing slash.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Replaces the content of `path`.
inline void WriteFile(const std::string& path, absl::string_view content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  EXPECT_TRUE(out.good()) << path;
}

// The content of `path` ("" when unreadable).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace testing
}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_TESTING_FILES_H_
