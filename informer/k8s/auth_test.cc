#include "informer/k8s/auth.h"

#include <stdlib.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/k8s/testing/files.h"
#include "informer/k8s/testing/test_server.h"
#include "rapidjson/document.h"

namespace informer {
namespace k8s {
namespace {

using ::informer::k8s::testing::ReadFile;
using ::informer::k8s::testing::ReadTestdata;
using ::informer::k8s::testing::TempDir;
using ::informer::k8s::testing::TestdataPath;
using ::informer::k8s::testing::WriteFile;
using ::testing::HasSubstr;

int CountLines(const std::string& path) {
  std::string content = ReadFile(path);
  return static_cast<int>(std::count(content.begin(), content.end(), '\n'));
}

// A clock tests move by hand.
struct FakeClock {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  std::function<absl::Time()> Fn() {
    return [this] { return now; };
  }
};

RestConfig ExecConfigWith(std::vector<std::pair<std::string, std::string>> env) {
  RestConfig config;
  config.server = "https://exec.example.com:6443";
  config.ca_pem = "the-ca";
  config.tls_server_name = "kubernetes.test";
  ExecConfig exec;
  exec.command = TestdataPath("exec/plugin.sh");
  exec.api_version = "client.authentication.k8s.io/v1";
  exec.interactive_mode = "Never";
  exec.env = std::move(env);
  config.exec = exec;
  return config;
}

TEST(AuthTest, StaticTokenIsABearerHeader) {
  RestConfig config;
  config.bearer_token = "abc";
  Authenticator auth(config);
  absl::StatusOr<Credentials> credentials = auth.Get();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->authorization, "Bearer abc");
  // A static token cannot get better by retrying.
  EXPECT_FALSE(auth.OnUnauthorized(*credentials));
}

TEST(AuthTest, BasicAuthHeader) {
  RestConfig config;
  config.username = "admin";
  config.password = "s3cret";
  Authenticator auth(config);
  absl::StatusOr<Credentials> credentials = auth.Get();
  ASSERT_TRUE(credentials.ok());
  EXPECT_EQ(credentials->authorization, absl::StrCat("Basic ", absl::Base64Escape("admin:s3cret")));
}

TEST(AuthTest, NoCredentialsIsAnonymous) {
  Authenticator auth(RestConfig{});
  absl::StatusOr<Credentials> credentials = auth.Get();
  ASSERT_TRUE(credentials.ok());
  EXPECT_EQ(credentials->authorization, "");
}

TEST(AuthTest, TokenFileIsReReadOncePerPeriodAndWinsOverStaticToken) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/token", "first\n");
  RestConfig config;
  config.bearer_token = "static";
  config.bearer_token_file = dir + "/token";
  FakeClock clock;
  AuthOptions options;
  options.now = clock.Fn();
  Authenticator auth(config, options);
  EXPECT_EQ(auth.Get()->authorization, "Bearer first");

  WriteFile(dir + "/token", "second\n");  // a rotation
  clock.now += absl::Seconds(59);
  EXPECT_EQ(auth.Get()->authorization, "Bearer first");  // still within the minute
  clock.now += absl::Seconds(1);
  EXPECT_EQ(auth.Get()->authorization, "Bearer second");
}

TEST(AuthTest, UnreadableTokenFileKeepsTheLastGoodToken) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/token", "good");
  RestConfig config;
  config.bearer_token_file = dir + "/token";
  FakeClock clock;
  AuthOptions options;
  options.now = clock.Fn();
  Authenticator auth(config, options);
  EXPECT_EQ(auth.Get()->authorization, "Bearer good");
  ASSERT_EQ(unlink((dir + "/token").c_str()), 0);
  clock.now += absl::Minutes(5);
  absl::StatusOr<Credentials> credentials = auth.Get();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->authorization, "Bearer good");
}

TEST(AuthTest, TokenFileNeverReadableIsAnError) {
  RestConfig config;
  config.bearer_token_file = "/does/not/exist/token";
  Authenticator auth(config);
  EXPECT_EQ(auth.Get().status().code(), absl::StatusCode::kNotFound);
}

TEST(AuthTest, UnauthorizedForcesTheTokenFileToBeReadAgain) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  WriteFile(dir + "/token", "old");
  RestConfig config;
  config.bearer_token_file = dir + "/token";
  FakeClock clock;
  AuthOptions options;
  options.now = clock.Fn();
  Authenticator auth(config, options);
  absl::StatusOr<Credentials> rejected = auth.Get();
  WriteFile(dir + "/token", "new");
  EXPECT_TRUE(auth.OnUnauthorized(*rejected));
  absl::StatusOr<Credentials> fresh = auth.Get();
  EXPECT_EQ(fresh->authorization, "Bearer new");
  EXPECT_NE(fresh->generation, rejected->generation);
  // A second 401 for the old credentials only says "retry": they were refreshed already.
  EXPECT_TRUE(auth.OnUnauthorized(*rejected));
}

TEST(AuthTest, ExecPluginTokenIsCachedUntilItsExpiration) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  FakeClock clock;
  RestConfig config = ExecConfigWith(
      {{"PLUGIN_COUNT_FILE", dir + "/count"},
       {"PLUGIN_EXPIRY",
        absl::FormatTime(absl::RFC3339_sec, clock.now + absl::Minutes(10), absl::UTCTimeZone())}});
  AuthOptions options;
  options.now = clock.Fn();
  Authenticator auth(config, options);
  absl::StatusOr<Credentials> credentials = auth.Get();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->authorization, "Bearer exec-token-1");
  clock.now += absl::Minutes(9);
  EXPECT_EQ(auth.Get()->authorization, "Bearer exec-token-1");
  EXPECT_EQ(CountLines(dir + "/count"), 1);
  clock.now += absl::Minutes(1);  // at the expiration: run again
  EXPECT_EQ(auth.Get()->authorization, "Bearer exec-token-2");
  EXPECT_EQ(CountLines(dir + "/count"), 2);
}

TEST(AuthTest, ExecPluginWithoutExpirationRunsOnceUntilUnauthorized) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  RestConfig config = ExecConfigWith({{"PLUGIN_COUNT_FILE", dir + "/count"}});
  Authenticator auth(config);
  absl::StatusOr<Credentials> first = auth.Get();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(auth.Get()->authorization, "Bearer exec-token-1");
  EXPECT_TRUE(auth.OnUnauthorized(*first));
  EXPECT_EQ(auth.Get()->authorization, "Bearer exec-token-2");
  EXPECT_EQ(CountLines(dir + "/count"), 2);
}

TEST(AuthTest, ExecInfoCarriesApiVersionNonInteractiveAndClusterInfo) {
  const TempDir temp_dir;
  const std::string& dir = temp_dir.path();
  RestConfig config = ExecConfigWith({{"PLUGIN_INFO_FILE", dir + "/info"}});
  config.exec->provide_cluster_info = true;
  ASSERT_TRUE(RunExecPlugin(config, absl::Seconds(10)).ok());
  rapidjson::Document info;
  info.Parse(ReadFile(dir + "/info").c_str());
  ASSERT_FALSE(info.HasParseError()) << ReadFile(dir + "/info");
  EXPECT_STREQ(info["apiVersion"].GetString(), "client.authentication.k8s.io/v1");
  EXPECT_STREQ(info["kind"].GetString(), "ExecCredential");
  EXPECT_FALSE(info["spec"]["interactive"].GetBool());
  const rapidjson::Value& cluster = info["spec"]["cluster"];
  EXPECT_STREQ(cluster["server"].GetString(), "https://exec.example.com:6443");
  EXPECT_STREQ(cluster["tls-server-name"].GetString(), "kubernetes.test");
  EXPECT_STREQ(cluster["certificate-authority-data"].GetString(),
               absl::Base64Escape("the-ca").c_str());

  // Without provideClusterInfo the cluster stays out.
  config.exec->provide_cluster_info = false;
  ASSERT_TRUE(RunExecPlugin(config, absl::Seconds(10)).ok());
  info.Parse(ReadFile(dir + "/info").c_str());
  EXPECT_FALSE(info["spec"].HasMember("cluster"));
}

TEST(AuthTest, ExecPluginCanSupplyAClientCertificate) {
  RestConfig config = ExecConfigWith({{"PLUGIN_TOKEN", ""},
                                      {"PLUGIN_CERT_FILE", TestdataPath("tls/client.crt")},
                                      {"PLUGIN_KEY_FILE", TestdataPath("tls/client.key")}});
  // An empty PLUGIN_TOKEN still yields the default token; the certificate rides along.
  Authenticator auth(config);
  absl::StatusOr<Credentials> credentials = auth.Get();
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  EXPECT_EQ(credentials->client_certificate_pem, ReadTestdata("tls/client.crt"));
  EXPECT_EQ(credentials->client_key_pem, ReadTestdata("tls/client.key"));
}

TEST(AuthTest, ExecPluginAnsweringAnotherApiVersionIsUnauthenticated) {
  RestConfig config =
      ExecConfigWith({{"PLUGIN_API_VERSION", "client.authentication.k8s.io/v1beta1"}});
  absl::StatusOr<ExecCredential> credential = RunExecPlugin(config, absl::Seconds(10));
  EXPECT_EQ(credential.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(credential.status().message()), HasSubstr("plugin returned version"));
}

TEST(AuthTest, ExecPluginFailingIsUnauthenticatedQuotingStderr) {
  RestConfig config =
      ExecConfigWith({{"PLUGIN_EXIT", "3"}, {"PLUGIN_STDERR", "refresh token expired"}});
  Authenticator auth(config);
  absl::StatusOr<Credentials> credentials = auth.Get();
  EXPECT_EQ(credentials.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(credentials.status().message()), HasSubstr("exited with status 3"));
  EXPECT_THAT(std::string(credentials.status().message()), HasSubstr("refresh token expired"));
}

TEST(AuthTest, MissingExecCommandIsNotFoundWithInstallHint) {
  RestConfig config = ExecConfigWith({});
  config.exec->command = "informerd-no-such-plugin";
  config.exec->install_hint = "brew install the-plugin";
  absl::StatusOr<ExecCredential> credential = RunExecPlugin(config, absl::Seconds(10));
  EXPECT_EQ(credential.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(credential.status().message()), HasSubstr("brew install the-plugin"));
}

TEST(AuthTest, SlowExecPluginIsKilledAtTheTimeout) {
  RestConfig config = ExecConfigWith({{"PLUGIN_SLEEP", "5"}});
  const absl::Time start = absl::Now();
  absl::StatusOr<ExecCredential> credential = RunExecPlugin(config, absl::Milliseconds(200));
  EXPECT_EQ(credential.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
}

TEST(AuthTest, InteractiveAlwaysIsFailedPrecondition) {
  RestConfig config = ExecConfigWith({});
  config.exec->interactive_mode = "Always";
  EXPECT_EQ(RunExecPlugin(config, absl::Seconds(10)).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(AuthTest, BadExpirationTimestampIsUnauthenticated) {
  RestConfig config = ExecConfigWith({{"PLUGIN_EXPIRY", "tomorrow"}});
  EXPECT_EQ(RunExecPlugin(config, absl::Seconds(10)).status().code(),
            absl::StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace k8s
}  // namespace informer
