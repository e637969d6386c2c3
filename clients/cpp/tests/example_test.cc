// The example controller: its summary, and (end to end) annotating labelled ConfigMaps.
#include <string>

#include "clients/cpp/tests/test_env.h"
#include "examples/configmap_summary.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace informerd {
namespace example {
namespace {

TEST(ConfigMapSummaryTest, ListsSortedKeys) {
  rapidjson::Document cm;
  cm.Parse(R"({"data":{"b":"","a":""},"binaryData":{"c":""}})");
  EXPECT_EQ(Summary(cm), "3 keys: a,b,c");
  cm.Parse(R"({"metadata":{}})");
  EXPECT_EQ(Summary(cm), "0 keys");
}

TEST(ConfigMapSummaryTest, ControllerAnnotatesLabelledConfigMaps) {
  std::optional<e2e::TestEnv> env = e2e::GetTestEnv();
  if (!env) GTEST_SKIP() << e2e::kSkipMessage;
  absl::StatusOr<std::unique_ptr<e2e::Kube>> kube = e2e::Kube::Create(env->kubeconfig);
  ASSERT_TRUE(kube.ok()) << kube.status();
  ControllerOptions options;
  options.informerd = env->addr;
  options.kubeconfig = env->kubeconfig;
  options.namespace_name = (*kube)->ns();
  auto controller = ConfigMapSummaryController::Create(options);
  ASSERT_TRUE(controller.ok()) << controller.status();
  ASSERT_TRUE((*controller)->Start().ok());

  auto annotation = [&](const std::string& name) {
    absl::StatusOr<std::string> a = (*kube)->Annotation(name, kSummaryAnnotation);
    return a.ok() ? *a : "error: " + a.status().ToString();
  };
  auto wait_for = [&](const std::string& name, const std::string& want) {
    EXPECT_TRUE(e2e::Eventually([&] { return annotation(name) == want; }))
        << name << ": annotation \"" << annotation(name) << "\", want \"" << want << "\"";
  };
  ASSERT_TRUE((*kube)->CreateConfigMap("plain", {}, {{"x", "1"}}).ok());
  ASSERT_TRUE((*kube)->CreateConfigMap("demo-1", {{"app", "demo"}}, {{"b", "1"}, {"a", "2"}}).ok());
  wait_for("demo-1", "2 keys: a,b");
  ASSERT_TRUE((*kube)->SetData("demo-1", "c", "3").ok());
  wait_for("demo-1", "3 keys: a,b,c");
  ASSERT_TRUE((*kube)->CreateConfigMap("demo-2", {{"app", "demo"}}, {}).ok());
  wait_for("demo-2", "0 keys");
  EXPECT_EQ(annotation("plain"), "");
  (*controller)->Stop();
}

}  // namespace
}  // namespace example
}  // namespace informerd
