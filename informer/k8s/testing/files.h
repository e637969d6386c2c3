// Temporary files for the transport tests (kubeconfigs, token files, plugin output).
#ifndef INFORMER_K8S_TESTING_FILES_H_
#define INFORMER_K8S_TESTING_FILES_H_

#include <stdlib.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace informer {
namespace k8s {
namespace testing {

// A fresh, empty directory under the test's temp dir.
inline std::string MakeTempDir(absl::string_view prefix = "k8s_test") {
  std::string pattern = absl::StrCat(::testing::TempDir(), "/", prefix, "_XXXXXX");
  EXPECT_NE(mkdtemp(pattern.data()), nullptr) << pattern;
  return pattern;
}

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
