#include "informer/k8s/config.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/k8s/testing/files.h"
#include "informer/k8s/testing/test_server.h"

namespace informer {
namespace k8s {
namespace {

using ::informer::k8s::testing::ReadTestdata;
using ::informer::k8s::testing::TempDir;
using ::informer::k8s::testing::TestdataPath;
using ::informer::k8s::testing::WriteFile;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

// An environment of exactly `vars`.
EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

LoadOptions WithKubeconfig(const std::string& path) {
  LoadOptions options;
  options.kubeconfig_path = path;
  options.getenv = Env({});
  return options;
}

// A minimal valid kubeconfig around a cluster body and a user body (YAML, indented 4).
std::string Kubeconfig(const std::string& cluster, const std::string& user) {
  return absl::StrCat(
      "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
      "clusters:\n- name: c\n  cluster:\n",
      cluster, "users:\n- name: u\n  user:\n", user,
      "contexts:\n- name: c\n  context: {cluster: c, user: u}\n");
}

TEST(ConfigTest, TokenUserWithRelativeCaAndTlsServerName) {
  absl::StatusOr<RestConfig> config =
      LoadRestConfig(WithKubeconfig(TestdataPath("kubeconfig/token.yaml")));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://dev.example.com:6443");  // trailing '/' dropped
  EXPECT_EQ(config->bearer_token, "alice-token");
  EXPECT_EQ(config->bearer_token_file, "");
  EXPECT_EQ(config->ca_pem, ReadTestdata("tls/ca.crt"));
  EXPECT_EQ(config->tls_server_name, "kubernetes.test");
  EXPECT_EQ(config->namespace_name, "team-a");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
  EXPECT_THAT(config->source, HasSubstr("context \"dev\""));
  EXPECT_TRUE(absl::StartsWith(config->user_agent, "informerd/")) << config->user_agent;
}

TEST(ConfigTest, TokenFileIsReadAndKeptForRotation) {
  LoadOptions options = WithKubeconfig(TestdataPath("kubeconfig/token.yaml"));
  options.context = "ops";
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bearer_token, "robot-token");  // whitespace trimmed
  // Resolved against the kubeconfig's directory, so the authenticator can re-read it.
  EXPECT_EQ(config->bearer_token_file, TestdataPath("kubeconfig/../tokens/robot"));
  EXPECT_EQ(config->namespace_name, "");
}

TEST(ConfigTest, MissingTokenFileIsNotFoundNamingIt) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/config", Kubeconfig("    server: https://x\n", "    tokenFile: gone\n"));
  absl::StatusOr<RestConfig> config = LoadRestConfig(WithKubeconfig(dir + "/config"));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(dir + "/gone"));
}

TEST(ConfigTest, ACredentialPathNamingADeviceIsRefusedNotReadForever) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/config",
            Kubeconfig("    server: https://x\n    certificate-authority: /dev/zero\n",
                       "    token: t\n"));
  absl::StatusOr<RestConfig> config = LoadRestConfig(WithKubeconfig(dir + "/config"));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("larger than 16 MiB"));
}

TEST(ConfigTest, ClientCertificatesFromFiles) {
  absl::StatusOr<RestConfig> config =
      LoadRestConfig(WithKubeconfig(TestdataPath("kubeconfig/certs-files.yaml")));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->client_certificate_pem, ReadTestdata("tls/client.crt"));
  EXPECT_EQ(config->client_key_pem, ReadTestdata("tls/client.key"));
  EXPECT_EQ(config->ca_pem, ReadTestdata("tls/ca.crt"));
  EXPECT_EQ(config->bearer_token, "");
}

TEST(ConfigTest, ClientCertificatesInline) {
  // Base64 as kubectl writes it, here wrapped over lines as some tools do.
  std::string ca = absl::Base64Escape(ReadTestdata("tls/ca.crt"));
  ca.insert(40, "\n      ");
  const std::string yaml = Kubeconfig(
      absl::StrCat("    server: https://10.0.0.1\n    certificate-authority-data: |\n      ", ca,
                   "\n"),
      absl::StrCat(
          "    client-certificate-data: ", absl::Base64Escape(ReadTestdata("tls/client.crt")),
          "\n    client-key-data: ", absl::Base64Escape(ReadTestdata("tls/client.key")), "\n"));
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(yaml, "/nowhere");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->ca_pem, ReadTestdata("tls/ca.crt"));
  EXPECT_EQ(config->client_certificate_pem, ReadTestdata("tls/client.crt"));
  EXPECT_EQ(config->client_key_pem, ReadTestdata("tls/client.key"));
}

TEST(ConfigTest, InsecureSkipTlsVerify) {
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(
      Kubeconfig("    server: https://x:6443\n    insecure-skip-tls-verify: true\n",
                 "    username: admin\n    password: pw\n"),
      "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->username, "admin");
  EXPECT_EQ(config->password, "pw");
}

TEST(ConfigTest, InsecureTogetherWithCaIsInvalidArgument) {
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(
      Kubeconfig(absl::StrCat("    server: https://x\n    insecure-skip-tls-verify: true\n"
                              "    certificate-authority-data: ",
                              absl::Base64Escape("pem"), "\n"),
                 "    token: t\n"),
      "/");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("insecure-skip-tls-verify"));
}

TEST(ConfigTest, KubeconfigEnvMergesFilesFirstValueWins) {
  LoadOptions options;
  options.getenv =
      Env({{"KUBECONFIG",
            absl::StrCat(TestdataPath("kubeconfig/merge-first.yaml"),
                         "::/does/not/exist:", TestdataPath("kubeconfig/merge-second.yaml"))},
           {"HOME", "/nonexistent-home"}});
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  // current-context and the "shared" cluster and user come from the first file.
  EXPECT_EQ(config->server, "https://first.example.com");
  EXPECT_EQ(config->bearer_token, "first-token");
  EXPECT_THAT(config->source, HasSubstr("merge-first.yaml:"));
  EXPECT_THAT(config->source, HasSubstr("context \"first\""));
}

TEST(ConfigTest, ContextOverrideUsesEntriesFromEveryMergedFile) {
  LoadOptions options;
  options.getenv =
      Env({{"KUBECONFIG", absl::StrCat(TestdataPath("kubeconfig/merge-first.yaml"), ":",
                                       TestdataPath("kubeconfig/merge-second.yaml"))}});
  options.context = "second";
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  // The context is the second file's, but the names it points to resolve to the first
  // file's entries, which won the merge.
  EXPECT_EQ(config->server, "https://first.example.com");
  EXPECT_EQ(config->bearer_token, "first-token");
  EXPECT_EQ(config->namespace_name, "second-ns");

  options.context = "other";
  config = LoadRestConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://other.example.com");
  EXPECT_EQ(config->username, "bob");
}

TEST(ConfigTest, DefaultsToHomeKubeConfig) {
  const TempDir temp_dir;
  const std::string& home = temp_dir.path();
  ASSERT_EQ(mkdir((home + "/.kube").c_str(), 0700), 0);
  WriteFile(home + "/.kube/config",
            Kubeconfig("    server: https://home.example.com\n", "    token: home\n"));
  LoadOptions options;
  options.getenv = Env({{"HOME", home}});
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://home.example.com");
  EXPECT_EQ(config->bearer_token, "home");
}

TEST(ConfigTest, ExplicitKubeconfigThatDoesNotExistIsNotFound) {
  absl::StatusOr<RestConfig> config = LoadRestConfig(WithKubeconfig("/does/not/exist.yaml"));
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("--kubeconfig"));
}

TEST(ConfigTest, NothingFoundAndNotInClusterIsNotFoundSayingWhatToDo) {
  LoadOptions options;
  options.getenv = Env({{"KUBECONFIG", "/missing/a:/missing/b"}});
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("/missing/a, /missing/b"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("--kubeconfig"));
}

TEST(ConfigTest, UnknownContextIsNotFoundListingKnownOnes) {
  LoadOptions options = WithKubeconfig(TestdataPath("kubeconfig/token.yaml"));
  options.context = "prod";
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("context \"prod\" not found"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("dev, ops"));
}

TEST(ConfigTest, MissingClusterOrUserOrCurrentContextIsNotFound) {
  const std::string missing_cluster =
      "clusters: []\nusers:\n- name: u\n  user: {token: t}\n"
      "contexts:\n- name: c\n  context: {cluster: nope, user: u}\ncurrent-context: c\n";
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(missing_cluster, "/");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("cluster \"nope\""));

  const std::string missing_user =
      "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
      "contexts:\n- name: c\n  context: {cluster: c, user: ghost}\ncurrent-context: c\n";
  config = RestConfigFromKubeconfigYaml(missing_user, "/");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("user \"ghost\""));

  const std::string no_current =
      "clusters:\n- name: c\n  cluster: {server: 'https://x'}\n"
      "contexts:\n- name: c\n  context: {cluster: c}\n";
  config = RestConfigFromKubeconfigYaml(no_current, "/");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("--context"));
}

TEST(ConfigTest, ContextWithoutUserIsAnonymous) {
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(
      "clusters:\n- name: c\n  cluster: {server: 'https://x', insecure-skip-tls-verify: true}\n"
      "contexts:\n- name: c\n  context: {cluster: c}\ncurrent-context: c\n",
      "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bearer_token, "");
  EXPECT_EQ(config->username, "");
}

TEST(ConfigTest, MalformedYamlIsInvalidArgumentWithPosition) {
  absl::StatusOr<RestConfig> config =
      RestConfigFromKubeconfigYaml("clusters:\n- name: c\n  cluster: {server: [\n", "/");
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("not valid YAML"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("line"));
}

TEST(ConfigTest, MalformedFileInKubeconfigListIsInvalidArgumentNamingTheFile) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/bad", "clusters: {not: a list}\n");
  LoadOptions options;
  options.getenv = Env({{"KUBECONFIG", dir + "/bad"}});
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr(dir + "/bad"));
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("clusters must be a list"));
}

TEST(ConfigTest, StructuralMistakesAreInvalidArgument) {
  for (const std::string& yaml : {
           std::string("- just\n- a list\n"),
           std::string("kind: Pod\n"),
           Kubeconfig("    server: https://x\n    certificate-authority-data: '%%%'\n", ""),
           Kubeconfig("    server: https://x\n    insecure-skip-tls-verify: maybe\n", ""),
           std::string("clusters:\n- cluster: {server: 'https://x'}\n"),  // no name
           std::string("users:\n- name: u\n  user: {token: a}\n- name: u\n  user: {token: b}\n"),
       }) {
    absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(yaml, "/", "c");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << yaml;
  }
}

TEST(ConfigTest, ContradictoryUserSettingsAreInvalidArgumentSayingWhatToFix) {
  struct Case {
    std::string cluster;
    std::string user;
    std::string expected;
  };
  const std::string server = "    server: https://x\n";
  const std::string ca_file =
      absl::StrCat("    certificate-authority: ", TestdataPath("tls/ca.crt"), "\n");
  const std::string ca_data =
      absl::StrCat("    certificate-authority-data: ", absl::Base64Escape("pem"), "\n");
  for (const Case& c : {
           Case{server + ca_file + ca_data, "    token: t\n", "keep one"},
           Case{server, "    client-certificate-data: " + absl::Base64Escape("c") + "\n",
                "without a client key"},
           Case{server, "    token: t\n    username: u\n", "only one method"},
           Case{server, "    auth-provider: {name: gcp}\n", "exec credential plugin"},
           Case{server, "    exec: {apiVersion: client.authentication.k8s.io/v1, command: x}\n",
                "interactiveMode"},
           Case{server,
                "    exec: {apiVersion: client.authentication.k8s.io/v1alpha1, command: x, "
                "interactiveMode: Never}\n",
                "not supported"},
           Case{"    insecure-skip-tls-verify: true\n", "    token: t\n", "has no server"},
       }) {
    absl::StatusOr<RestConfig> config =
        RestConfigFromKubeconfigYaml(Kubeconfig(c.cluster, c.user), "/");
    EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument) << c.user;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(c.expected));
  }
}

TEST(ConfigTest, ExecPluginSettingsAreLoadedWithCommandResolved) {
  absl::StatusOr<RestConfig> config =
      LoadRestConfig(WithKubeconfig(TestdataPath("kubeconfig/exec.yaml")));
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(config->exec.has_value());
  EXPECT_EQ(config->exec->command, TestdataPath("kubeconfig/../exec/plugin.sh"));
  EXPECT_THAT(config->exec->args, ElementsAre("--cluster", "c"));
  EXPECT_THAT(config->exec->env, ElementsAre(Pair("PLUGIN_TOKEN", "from-plugin")));
  EXPECT_EQ(config->exec->api_version, "client.authentication.k8s.io/v1");
  EXPECT_EQ(config->exec->install_hint, "install the test plugin");
  EXPECT_TRUE(config->exec->provide_cluster_info);
  EXPECT_EQ(config->exec->interactive_mode, "Never");
}

TEST(ConfigTest, ExecCommandWithoutSlashIsLookedUpInPathAndV1beta1DefaultsInteractiveMode) {
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(
      Kubeconfig("    server: https://x\n",
                 "    exec: {apiVersion: client.authentication.k8s.io/v1beta1, command: "
                 "gke-gcloud-auth-plugin}\n"),
      "/home/me/.kube");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->exec->command, "gke-gcloud-auth-plugin");
  EXPECT_EQ(config->exec->interactive_mode, "IfAvailable");
}

TEST(ConfigTest, ImpersonationHeadersComeFromAsFields) {
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(
      Kubeconfig("    server: https://x\n",
                 "    token: t\n    as: jane\n    as-groups: [devs, ops]\n"),
      "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->impersonate_user, "jane");
  EXPECT_THAT(config->impersonate_groups, ElementsAre("devs", "ops"));
}

TEST(ConfigTest, PlainHttpServerGetsNoCredentialsAsClientcmd) {
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(
      Kubeconfig("    server: http://127.0.0.1:8080\n", "    token: secret\n"), "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "http://127.0.0.1:8080");
  EXPECT_EQ(config->bearer_token, "");
}

TEST(ConfigTest, ServerWithoutSchemeGetsHttpsWhenTlsIsConfigured) {
  absl::StatusOr<RestConfig> config = RestConfigFromKubeconfigYaml(
      Kubeconfig("    server: 10.0.0.1:6443\n    insecure-skip-tls-verify: true\n",
                 "    token: t\n"),
      "/");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.0.0.1:6443");
  EXPECT_EQ(config->bearer_token, "t");
}

TEST(ConfigTest, EmptyKubeconfigFileFallsBackToInCluster) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/empty", "");
  WriteFile(dir + "/token", "pod-token\n");
  LoadOptions options;
  options.getenv = Env({{"KUBECONFIG", dir + "/empty"},
                        {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                        {"KUBERNETES_SERVICE_PORT", "443"}});
  options.service_account_dir = dir;
  absl::StatusOr<RestConfig> config = LoadRestConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->source, "in-cluster");
  EXPECT_EQ(config->server, "https://10.96.0.1:443");

  // Not with --context: that asks for a kubeconfig context.
  options.context = "x";
  EXPECT_EQ(LoadRestConfig(options).status().code(), absl::StatusCode::kNotFound);
}

TEST(ConfigTest, InClusterReadsTokenCaAndNamespace) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/token", "pod-token\n");
  WriteFile(dir + "/ca.crt", ReadTestdata("tls/ca.crt"));
  WriteFile(dir + "/namespace", "kube-system\n");
  LoadOptions options;
  options.service_account_dir = dir;
  options.getenv =
      Env({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "6443"}});
  absl::StatusOr<RestConfig> config = InClusterConfig(options);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://[fd00::1]:6443");
  EXPECT_EQ(config->bearer_token, "pod-token");
  EXPECT_EQ(config->bearer_token_file, dir + "/token");
  EXPECT_EQ(config->ca_pem, ReadTestdata("tls/ca.crt"));
  EXPECT_EQ(config->namespace_name, "kube-system");
}

TEST(ConfigTest, InClusterOutsideAPodOrWithoutTokenIsNotFound) {
  LoadOptions options;
  options.getenv = Env({});
  absl::StatusOr<RestConfig> config = InClusterConfig(options);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("KUBERNETES_SERVICE_HOST"));

  const TempDir empty_dir;
  options.service_account_dir = empty_dir.path();
  options.getenv =
      Env({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}});
  config = InClusterConfig(options);
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("token"));
}

}  // namespace
}  // namespace k8s
}  // namespace informer
