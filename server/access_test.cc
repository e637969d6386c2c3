// Access control in process: the TokenReview authenticator and SubjectAccessReview authorizer
// (caching, singleflight, expiry, fail closed) over scripted reviews and a fake clock, and the
// whole server with a fake Authenticator and Authorizer: every RPC checked before the lookup,
// refusals worded and coded as the API server's, page tokens bound to the caller, /metrics
// closed and probes open. The real API server's answers are tested in
// tests/e2e/auth_e2e_test.cc.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "informer/testing/fake_clock.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"
#include "informer/v1/informer.grpc.pb.h"
#include "server/access_guard.h"
#include "server/authn.h"
#include "server/authz.h"
#include "server/server.h"
#include "server/tls_credentials.h"

namespace informer {
namespace server {
namespace {

namespace pb = ::informer::v1;
using ::informer::testing::Eventually;
using ::informer::testing::FakeClock;
using ::informer::testing::FakeListerWatcherFactory;
using ::informer::testing::MakeObject;
using ::informer::testing::PodsResource;
using ::testing::HasSubstr;

// An unsigned JWT with `exp`: enough for TokenExpiry, which never verifies.
std::string Jwt(absl::Time exp, const std::string& subject = "x") {
  return absl::StrCat(absl::WebSafeBase64Escape(R"({"alg":"ES256"})"), ".",
                      absl::WebSafeBase64Escape(absl::StrCat(R"({"sub":")", subject, R"(","exp":)",
                                                             absl::ToUnixSeconds(exp), "}")),
                      ".sig");
}

k8s::AccessAttributes Attributes(const std::string& verb, const std::string& resource,
                                 const std::string& ns, const std::string& name = "") {
  k8s::AccessAttributes a;
  a.verb = verb;
  a.version = "v1";
  a.resource = resource;
  a.namespace_name = ns;
  a.name = name;
  return a;
}

k8s::TokenReviewResult Authenticated(const std::string& user,
                                     std::vector<std::string> audiences = {"informerd"}) {
  k8s::TokenReviewResult result;
  result.authenticated = true;
  result.user.username = user;
  result.user.groups = {"system:authenticated"};
  result.audiences = std::move(audiences);
  return result;
}

TEST(TokenReviewAuthenticatorTest, MissingTokenIsUnauthenticatedWithoutAReview) {
  FakeClock clock;
  int reviews = 0;
  TokenReviewAuthenticator authn(
      [&](absl::string_view, const std::vector<std::string>&) {
        ++reviews;
        return Authenticated("u");
      },
      {}, &clock);
  bool hit = false;
  absl::StatusOr<Principal> principal = authn.Authenticate("", &hit);
  EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(principal.status().message(), HasSubstr("Bearer"));
  EXPECT_EQ(reviews, 0);
}

TEST(TokenReviewAuthenticatorTest, CachesByTokenForTheTtlAndNeverPastExpiry) {
  FakeClock clock;
  int reviews = 0;
  TokenAuthOptions options;
  options.ttl = absl::Minutes(1);
  TokenReviewAuthenticator authn(
      [&](absl::string_view token, const std::vector<std::string>& audiences) {
        ++reviews;
        EXPECT_EQ(audiences, std::vector<std::string>{"informerd"});
        return Authenticated(absl::StrCat("user-of-", token.size()));
      },
      options, &clock);
  const std::string long_lived = Jwt(clock.Now() + absl::Hours(1), "a");
  const std::string short_lived = Jwt(clock.Now() + absl::Seconds(20), "bb");
  bool hit = true;
  ASSERT_TRUE(authn.Authenticate(long_lived, &hit).ok());
  EXPECT_FALSE(hit);
  ASSERT_TRUE(authn.Authenticate(long_lived, &hit).ok());
  EXPECT_TRUE(hit);
  ASSERT_TRUE(authn.Authenticate(short_lived, &hit).ok());
  EXPECT_EQ(reviews, 2);
  // Past the short token's expiry it is refused without a review; the other is still cached.
  clock.Advance(absl::Seconds(30));
  absl::StatusOr<Principal> expired = authn.Authenticate(short_lived, &hit);
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(expired.status().message(), HasSubstr("expired"));
  ASSERT_TRUE(authn.Authenticate(long_lived, &hit).ok());
  EXPECT_EQ(reviews, 2);
  // Past the TTL the long one is reviewed again.
  clock.Advance(absl::Seconds(31));
  ASSERT_TRUE(authn.Authenticate(long_lived, &hit).ok());
  EXPECT_FALSE(hit);
  EXPECT_EQ(reviews, 3);
}

TEST(TokenReviewAuthenticatorTest, PrincipalCarriesTheTokensExpiry) {
  FakeClock clock;
  TokenReviewAuthenticator authn(
      [&](absl::string_view, const std::vector<std::string>&) { return Authenticated("u"); }, {},
      &clock);
  const absl::Time exp = absl::FromUnixSeconds(absl::ToUnixSeconds(clock.Now()) + 600);
  bool hit = false;
  absl::StatusOr<Principal> principal = authn.Authenticate(Jwt(exp), &hit);
  ASSERT_TRUE(principal.ok());
  EXPECT_EQ(principal->expires, exp);
  EXPECT_EQ(principal->user.username, "u");
  EXPECT_EQ(principal->via, "token");
}

TEST(TokenReviewAuthenticatorTest, RefusedAndWrongAudienceTokensAreUnauthenticated) {
  FakeClock clock;
  TokenReviewAuthenticator authn(
      [&](absl::string_view token, const std::vector<std::string>&) {
        if (token == "bad") {
          k8s::TokenReviewResult refused;
          refused.error = "invalid bearer token";
          return refused;
        }
        // An authenticator that ignored the audiences asked for.
        return Authenticated("u", {"https://kubernetes.default.svc"});
      },
      {}, &clock);
  bool hit = false;
  absl::StatusOr<Principal> bad = authn.Authenticate("bad", &hit);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(bad.status().message(), HasSubstr("invalid bearer token"));
  absl::StatusOr<Principal> other = authn.Authenticate("other", &hit);
  EXPECT_EQ(other.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(other.status().message(), HasSubstr("audience"));
}

TEST(TokenReviewAuthenticatorTest, FailsClosedWithUnavailableAndDoesNotCacheTheFailure) {
  FakeClock clock;
  bool down = true;
  int reviews = 0;
  TokenReviewAuthenticator authn(
      [&](absl::string_view,
          const std::vector<std::string>&) -> absl::StatusOr<k8s::TokenReviewResult> {
        ++reviews;
        if (down) return absl::UnavailableError("connection refused");
        return Authenticated("u");
      },
      {}, &clock);
  bool hit = false;
  absl::StatusOr<Principal> refused = authn.Authenticate("t", &hit);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(refused.status().message(), HasSubstr("TokenReview"));
  down = false;
  EXPECT_TRUE(authn.Authenticate("t", &hit).ok());
  EXPECT_EQ(reviews, 2);
}

TEST(TokenReviewAuthenticatorTest, ForbiddenReviewSaysToBindAuthDelegator) {
  FakeClock clock;
  TokenReviewAuthenticator authn(
      [&](absl::string_view,
          const std::vector<std::string>&) -> absl::StatusOr<k8s::TokenReviewResult> {
        return absl::PermissionDeniedError("tokenreviews is forbidden");
      },
      {}, &clock);
  bool hit = false;
  absl::StatusOr<Principal> principal = authn.Authenticate("t", &hit);
  EXPECT_EQ(principal.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(principal.status().message(), HasSubstr("system:auth-delegator"));
}

TEST(TokenReviewAuthenticatorTest, ConcurrentIdenticalColdCallsCauseOneReview) {
  std::atomic<int> reviews{0};
  absl::Notification release;
  TokenReviewAuthenticator authn(
      [&](absl::string_view, const std::vector<std::string>&) {
        ++reviews;
        release.WaitForNotificationWithTimeout(absl::Seconds(5));
        return Authenticated("u");
      },
      {});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 100; ++i) {
    threads.emplace_back([&] {
      bool hit = false;
      if (authn.Authenticate("same-token", &hit).ok()) ++ok;
    });
  }
  absl::SleepFor(absl::Milliseconds(200));
  release.Notify();
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok.load(), 100);
  EXPECT_EQ(reviews.load(), 1);
}

TEST(SubjectAccessReviewAuthorizerTest, CachesAllowsAndDeniesForTheirTtls) {
  FakeClock clock;
  int reviews = 0;
  AccessReviewOptions options;
  options.allow_ttl = absl::Seconds(20);
  options.deny_ttl = absl::Seconds(5);
  SubjectAccessReviewAuthorizer authz(
      [&](const k8s::UserInfo&, const k8s::AccessAttributes& a) {
        ++reviews;
        k8s::AccessDecision decision;
        decision.allowed = a.namespace_name == "a";
        return decision;
      },
      options, &clock);
  k8s::UserInfo user{"u", "", {"g"}, {}};
  const k8s::AccessAttributes in_a = Attributes("list", "configmaps", "a");
  const k8s::AccessAttributes in_b = Attributes("list", "configmaps", "b");
  bool hit = false;
  EXPECT_TRUE(authz.Authorize(user, in_a, &hit)->allowed);
  EXPECT_FALSE(authz.Authorize(user, in_b, &hit)->allowed);
  EXPECT_TRUE(authz.Authorize(user, in_a, &hit)->allowed);
  EXPECT_TRUE(hit);
  EXPECT_EQ(reviews, 2);
  clock.Advance(absl::Seconds(6));  // the deny expired, the allow did not
  EXPECT_TRUE(authz.Authorize(user, in_a, &hit).ok());
  EXPECT_TRUE(hit);
  EXPECT_TRUE(authz.Authorize(user, in_b, &hit).ok());
  EXPECT_FALSE(hit);
  EXPECT_EQ(reviews, 3);
  clock.Advance(absl::Seconds(15));
  EXPECT_TRUE(authz.Authorize(user, in_a, &hit).ok());
  EXPECT_FALSE(hit);
  EXPECT_EQ(reviews, 4);
  // Another group is another decision.
  k8s::UserInfo other{"u", "", {"g", "h"}, {}};
  EXPECT_TRUE(authz.Authorize(other, in_a, &hit).ok());
  EXPECT_FALSE(hit);
}

TEST(SubjectAccessReviewAuthorizerTest, FailsClosedWithUnavailable) {
  SubjectAccessReviewAuthorizer authz(
      [&](const k8s::UserInfo&, const k8s::AccessAttributes&)
          -> absl::StatusOr<k8s::AccessDecision> { return absl::UnavailableError("down"); },
      {});
  bool hit = false;
  absl::StatusOr<k8s::AccessDecision> decision =
      authz.Authorize({"u", "", {}, {}}, Attributes("get", "pods", "a", "x"), &hit);
  EXPECT_EQ(decision.status().code(), absl::StatusCode::kUnavailable);
}

TEST(ReviewJsonTest, SubjectAccessReviewCarriesUserSelectorsAndName) {
  k8s::UserInfo user{"system:serviceaccount:a:r",
                     "uid-1",
                     {"system:serviceaccounts"},
                     {{"authentication.kubernetes.io/pod-name", {"p"}}}};
  k8s::AccessAttributes a = Attributes("watch", "deployments", "a", "web");
  a.group = "apps";
  a.label_selector = "app=x";
  a.field_selector = "metadata.name=web";
  const std::string json = k8s::SubjectAccessReviewJson(user, a);
  EXPECT_THAT(json, HasSubstr(R"("user":"system:serviceaccount:a:r")"));
  EXPECT_THAT(json, HasSubstr(R"("uid":"uid-1")"));
  EXPECT_THAT(json, HasSubstr(R"("extra":{"authentication.kubernetes.io/pod-name":["p"]})"));
  EXPECT_THAT(json, HasSubstr(R"("verb":"watch","group":"apps","version":"v1",)"
                              R"("resource":"deployments","namespace":"a","name":"web")"));
  EXPECT_THAT(json, HasSubstr(R"("fieldSelector":{"rawSelector":"metadata.name=web"})"));
  EXPECT_THAT(json, HasSubstr(R"("labelSelector":{"rawSelector":"app=x"})"));
  k8s::AccessAttributes path;
  path.verb = "get";
  path.path = "/metrics";
  EXPECT_THAT(k8s::SubjectAccessReviewJson(user, path),
              HasSubstr(R"("nonResourceAttributes":{"path":"/metrics","verb":"get"})"));
  EXPECT_THAT(k8s::TokenReviewJson("tok", {"informerd"}),
              HasSubstr(R"("spec":{"token":"tok","audiences":["informerd"]})"));
}

TEST(AccessGuardTest, NameFixedByAFieldSelector) {
  EXPECT_EQ(NameFixedBy("metadata.name=web"), "web");
  EXPECT_EQ(NameFixedBy("spec.nodeName=n,metadata.name==web"), "web");
  EXPECT_EQ(NameFixedBy("metadata.name!=web"), "");
  EXPECT_EQ(NameFixedBy(""), "");
}

TEST(AccessGuardTest, SpiffeIdsMapToServiceAccounts) {
  absl::StatusOr<k8s::UserInfo> user = UserFromSpiffeId("spiffe://cluster.local/ns/a/sa/r", "");
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_EQ(user->username, "system:serviceaccount:a:r");
  EXPECT_THAT(user->groups, ::testing::Contains("system:serviceaccounts:a"));
  EXPECT_FALSE(UserFromSpiffeId("spiffe://other/ns/a/sa/r", "cluster.local").ok());
  EXPECT_FALSE(UserFromSpiffeId("spiffe://cluster.local/a/r", "").ok());
  EXPECT_FALSE(UserFromSpiffeId("https://cluster.local/ns/a/sa/r", "").ok());
}

// Tokens are user names; "down" makes the review fail.
class FakeAuthenticator : public Authenticator {
 public:
  absl::StatusOr<Principal> Authenticate(absl::string_view token, bool* cache_hit) override {
    *cache_hit = false;
    if (token.empty()) return absl::UnauthenticatedError("no credentials");
    if (token == "down") return absl::UnavailableError("TokenReview unreachable");
    if (token == "slow") {  // a TokenReview that takes its time
      absl::SleepFor(absl::Seconds(3));
      return absl::UnavailableError("TokenReview timed out");
    }
    if (token == "bad") return absl::UnauthenticatedError("the token was refused");
    Principal principal;
    principal.user.username = std::string(token);
    principal.via = "token";
    return principal;
  }
};

// Allows (user, verb, resource, namespace, name) tuples; "" matches anything in a rule.
class FakeAuthorizer : public Authorizer {
 public:
  using Rule = std::tuple<std::string, std::string, std::string, std::string, std::string>;
  explicit FakeAuthorizer(std::vector<Rule> rules) : rules_(std::move(rules)) {}
  // Drops every rule of `user` (a deleted RoleBinding).
  void Revoke(const std::string& user) {
    absl::MutexLock lock(&mu_);
    rules_.erase(std::remove_if(rules_.begin(), rules_.end(),
                                [&](const Rule& rule) { return std::get<0>(rule) == user; }),
                 rules_.end());
  }
  absl::StatusOr<k8s::AccessDecision> Authorize(const k8s::UserInfo& user,
                                                const k8s::AccessAttributes& a,
                                                bool* cache_hit) override {
    *cache_hit = false;
    absl::MutexLock lock(&mu_);
    k8s::AccessDecision decision;
    auto match = [](const std::string& rule, const std::string& value) {
      return rule.empty() || rule == value;
    };
    for (const auto& [u, verb, resource, ns, name] : rules_) {
      if (u == user.username && match(verb, a.verb) &&
          match(resource, a.path.empty() ? a.resource : a.path) &&
          (ns.empty() || ns == a.namespace_name) && match(name, a.name)) {
        decision.allowed = true;
      }
    }
    return decision;
  }

 private:
  absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
};

class StaticPods : public ResourceSource {
 public:
  absl::StatusOr<ResourceInfo> Resolve(const std::string&) override { return PodsResource(); }
  absl::StatusOr<std::vector<ResourceInfo>> ListAll() override {
    return std::vector<ResourceInfo>{PodsResource()};
  }
};

std::string HttpGet(int port, const std::string& path, const std::string& token) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return "";
  }
  std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n");
  if (!token.empty()) absl::StrAppend(&request, "Authorization: Bearer ", token, "\r\n");
  absl::StrAppend(&request, "\r\n");
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  return response;
}

class AccessServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerConfig config;
    unix_socket_ = absl::StrCat(::testing::TempDir(), "/informerd-access-", getpid(), "-",
                                reinterpret_cast<uintptr_t>(this), ".sock");
    config.listen = {"127.0.0.1:0", absl::StrCat("unix:", unix_socket_)};
    config.metrics_listen = "127.0.0.1:0";
    config.shutdown_grace = absl::Seconds(1);
    ResourceConfig pods;
    pods.name = "pods";
    config.resources = {pods};
    config.access.enabled = true;
    config.access.allow_ttl = absl::Seconds(1);  // open streams are re-checked this often
    config.access.narrow_cluster_wide = narrow_;
    config.runtime_indexes.allowed = true;
    if (streams_per_caller_ > 0) {
      config.call_limits.max_subscribers_per_caller = streams_per_caller_;
    }
    auto lister_watchers = std::make_shared<FakeListerWatcherFactory>();
    ASSERT_TRUE(lister_watchers->ForResource(PodsResource(), "").ok());
    auto fake = lister_watchers->Get(PodsResource().gvr);
    fake->Add(MakeObject("a", "web", "0"));
    fake->Add(MakeObject("a", "db", "0"));
    fake->Add(MakeObject("a", "cache", "0"));
    fake->Add(MakeObject("b", "secret-thing", "0"));
    AccessControl access;
    access.authenticator = std::make_shared<FakeAuthenticator>();
    authorizer_ = std::make_shared<FakeAuthorizer>(std::vector<FakeAuthorizer::Rule>{
        {"revocable", "", "pods", "a", ""},
        {"reader-a", "", "pods", "a", ""},
        {"other-a", "", "pods", "a", ""},
        {"admin", "", "", "", ""},
        {"one-name", "", "pods", "a", "web"},
    });
    access.authorizer = authorizer_;
    absl::StatusOr<std::unique_ptr<InformerServer>> server = InformerServer::Start(
        config, lister_watchers, std::make_shared<StaticPods>(), std::move(access));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    ASSERT_TRUE(Eventually([&] { return server_->AllSynced(); }));
    stub_ = pb::InformerService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  std::unique_ptr<grpc::ClientContext> As(const std::string& token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    if (!token.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return context;
  }

  grpc::Status Get(const std::string& token, const std::string& ns, const std::string& name) {
    pb::GetRequest request;
    request.set_resource("pods");
    request.set_namespace_(ns);
    request.set_name(name);
    pb::GetResponse response;
    return stub_->Get(As(token).get(), request, &response);
  }

  // The first event's status of a Subscribe: OK with its events when it runs until SYNCED.
  grpc::Status Subscribe(const std::string& token, pb::SubscribeRequest request,
                         std::vector<std::string>* names = nullptr) {
    auto context = As(token);
    auto reader = stub_->Subscribe(context.get(), request);
    pb::SubscribeResponse event;
    while (reader->Read(&event)) {
      if (event.type() == pb::EVENT_TYPE_SYNCED) {
        context->TryCancel();
        reader->Finish();
        return grpc::Status::OK;
      }
      if (names != nullptr) {
        names->push_back(absl::StrCat(event.object().namespace_(), "/", event.object().name()));
      }
    }
    return reader->Finish();
  }

  bool narrow_ = false;
  size_t streams_per_caller_ = 0;  // 0 = the default
  std::string unix_socket_;
  std::shared_ptr<FakeAuthorizer> authorizer_;
  std::unique_ptr<InformerServer> server_;
  std::unique_ptr<pb::InformerService::Stub> stub_;
};

TEST_F(AccessServiceTest, WithdrawnAccessEndsAnOpenStreamWithTheResumeTrailer) {
  auto context = As("revocable");
  context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_namespace_("a");
  auto reader = stub_->Subscribe(context.get(), request);
  pb::SubscribeResponse event;
  do {
    ASSERT_TRUE(reader->Read(&event));
  } while (event.type() != pb::EVENT_TYPE_SYNCED);
  authorizer_->Revoke("revocable");
  const absl::Time revoked = absl::Now();
  while (reader->Read(&event)) {
  }
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("withdrawn"));
  // Re-checked every allow TTL (1 s), found by the 1 s tick.
  EXPECT_LT(absl::Now() - revoked, absl::Seconds(4));
  const auto& trailers = context->GetServerTrailingMetadata();
  auto resume = trailers.find("informer-resume-resource-version");
  ASSERT_NE(resume, trailers.end());
  EXPECT_FALSE(resume->second.empty());
}

class PerPrincipalLimitsTest : public AccessServiceTest {
 protected:
  PerPrincipalLimitsTest() { streams_per_caller_ = 2; }
};

TEST_F(PerPrincipalLimitsTest, StreamCapsCountPerUserNotPerConnection) {
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_namespace_("a");
  // Two open streams of reader-a, on the same connection as every other caller here.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<pb::SubscribeResponse>>> readers;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(As("reader-a"));
    readers.push_back(stub_->Subscribe(contexts.back().get(), request));
    pb::SubscribeResponse event;
    while (readers.back()->Read(&event) && event.type() != pb::EVENT_TYPE_SYNCED) {
    }
    ASSERT_EQ(event.type(), pb::EVENT_TYPE_SYNCED);
  }
  grpc::Status third = Subscribe("reader-a", request);
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.error_message(), HasSubstr("user:reader-a"));
  EXPECT_THAT(third.error_message(), HasSubstr("--max_subscribers_per_caller"));
  // Another user on the same connection is served.
  EXPECT_TRUE(Subscribe("other-a", request).ok());
  for (auto& context : contexts) context->TryCancel();
  for (auto& reader : readers) reader->Finish();
}

TEST_F(AccessServiceTest, UnixSocketsUseLocalCredentialsAndStillNeedAToken) {
  auto stub = pb::InformerService::NewStub(grpc::CreateChannel(
      absl::StrCat("unix:", unix_socket_), grpc::experimental::LocalCredentials(UDS)));
  pb::GetRequest request;
  request.set_resource("pods");
  request.set_namespace_("a");
  request.set_name("web");
  pb::GetResponse response;
  EXPECT_TRUE(stub->Get(As("reader-a").get(), request, &response).ok());
  EXPECT_EQ(stub->Get(As("").get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(AccessServiceTest, ProbesDoNotWaitBehindAMetricsRequestUnderReview) {
  const int port = server_->metrics_port();
  std::thread scrape([&] { EXPECT_THAT(HttpGet(port, "/metrics", "slow"), HasSubstr("503")); });
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  EXPECT_THAT(HttpGet(port, "/readyz", ""), HasSubstr("200 OK"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  scrape.join();
}

class NarrowingServiceTest : public AccessServiceTest {
 protected:
  NarrowingServiceTest() { narrow_ = true; }
};

TEST_F(NarrowingServiceTest, ClusterWideReadsAreNarrowedToTheReadableNamespaces) {
  pb::ListRequest request;
  request.set_resource("pods");
  pb::ListResponse response;
  auto context = As("reader-a");
  ASSERT_TRUE(stub_->List(context.get(), request, &response).ok());
  EXPECT_EQ(response.objects_size(), 3);
  for (const pb::Object& object : response.objects()) EXPECT_EQ(object.namespace_(), "a");
  auto narrowed = context->GetServerTrailingMetadata().find("informer-namespaces");
  ASSERT_NE(narrowed, context->GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(narrowed->second.data(), narrowed->second.size()), "a");
  pb::SubscribeRequest subscribe;
  subscribe.set_resource("pods");
  std::vector<std::string> names;
  ASSERT_TRUE(Subscribe("reader-a", subscribe, &names).ok());
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("a/web", "a/db", "a/cache"));
  // Nothing readable: refused as before.
  EXPECT_EQ(Get("nobody", "a", "web").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(stub_->List(As("nobody").get(), request, &response).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AccessServiceTest, EveryRpcWithoutAValidTokenIsUnauthenticated) {
  for (const std::string token : {"", "bad"}) {
    EXPECT_EQ(Get(token, "a", "web").error_code(), grpc::StatusCode::UNAUTHENTICATED) << token;
    pb::ListRequest list;
    list.set_resource("pods");
    list.set_namespace_("a");
    pb::ListResponse list_response;
    EXPECT_EQ(stub_->List(As(token).get(), list, &list_response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    pb::ByIndexRequest by_index;
    by_index.set_resource("pods");
    by_index.set_namespace_("a");
    by_index.set_index_name("namespace");
    by_index.set_value("a");
    pb::ByIndexResponse by_index_response;
    EXPECT_EQ(stub_->ByIndex(As(token).get(), by_index, &by_index_response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    pb::ListResourcesResponse resources;
    EXPECT_EQ(stub_->ListResources(As(token).get(), {}, &resources).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
    pb::SubscribeRequest subscribe;
    subscribe.set_resource("pods");
    subscribe.set_namespace_("a");
    EXPECT_EQ(Subscribe(token, subscribe).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(Get("down", "a", "web").error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(AccessServiceTest, ForbiddenGetIsPermissionDeniedWhetherOrNotTheObjectExists) {
  EXPECT_TRUE(Get("reader-a", "a", "web").ok());
  EXPECT_EQ(Get("reader-a", "a", "nope").error_code(), grpc::StatusCode::NOT_FOUND);
  grpc::Status exists = Get("reader-a", "b", "secret-thing");
  grpc::Status missing = Get("reader-a", "b", "nope");
  EXPECT_EQ(exists.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(exists.error_message(),
              HasSubstr(R"(User "reader-a" cannot get resource "pods" in API group "" in the )"
                        R"(namespace "b")"));
}

TEST_F(AccessServiceTest, ClusterWideListIsRefusedToANamespaceReader) {
  pb::ListRequest request;
  request.set_resource("pods");
  pb::ListResponse response;
  grpc::Status status = stub_->List(As("reader-a").get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("at the cluster scope"));
  EXPECT_TRUE(stub_->List(As("admin").get(), request, &response).ok());
  EXPECT_EQ(response.objects_size(), 4);
}

TEST_F(AccessServiceTest, AddIndexNeedsListInEveryNamespace) {
  pb::AddIndexRequest request;
  request.set_resource("pods");
  request.set_index("by-name=field:metadata.name");
  pb::AddIndexResponse response;
  EXPECT_EQ(stub_->AddIndex(As("").get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  // A reader of one namespace may not change what every caller is served.
  grpc::Status status = stub_->AddIndex(As("reader-a").get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(status.error_message(), HasSubstr("at the cluster scope"));
  status = stub_->AddIndex(As("admin").get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(response.created());
  // The namespace reader uses it within its namespace, checked as any ByIndex.
  pb::ByIndexRequest by_index;
  by_index.set_resource("pods");
  by_index.set_index_name("by-name");
  by_index.set_value("web");
  by_index.set_namespace_("a");
  pb::ByIndexResponse found;
  status = stub_->ByIndex(As("reader-a").get(), by_index, &found);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(found.objects_size(), 1);
  EXPECT_EQ(found.objects(0).name(), "web");
  by_index.set_namespace_("b");
  EXPECT_EQ(stub_->ByIndex(As("reader-a").get(), by_index, &found).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AccessServiceTest, KnownObjectsOutsideTheNamespaceAreInvalidArgument) {
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_namespace_("a");
  (*request.mutable_known_objects())["b/secret-thing"] = "1";
  std::vector<std::string> names;
  grpc::Status status = Subscribe("reader-a", request, &names);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("outside the request's namespace"));
  EXPECT_TRUE(names.empty());
}

TEST_F(AccessServiceTest, SubscribeInAnotherNamespaceIsPermissionDenied) {
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_namespace_("b");
  EXPECT_EQ(Subscribe("reader-a", request).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  request.set_namespace_("a");
  std::vector<std::string> names;
  EXPECT_TRUE(Subscribe("reader-a", request, &names).ok());
  EXPECT_THAT(names, ::testing::UnorderedElementsAre("a/web", "a/db", "a/cache"));
}

TEST_F(AccessServiceTest, AResourceNamesRuleAllowsOnlyThatName) {
  EXPECT_TRUE(Get("one-name", "a", "web").ok());
  EXPECT_EQ(Get("one-name", "a", "db").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_namespace_("a");
  request.set_field_selector("metadata.name=web");
  std::vector<std::string> names;
  EXPECT_TRUE(Subscribe("one-name", request, &names).ok());
  EXPECT_THAT(names, ::testing::ElementsAre("a/web"));
  request.clear_field_selector();
  EXPECT_EQ(Subscribe("one-name", request).error_code(), grpc::StatusCode::PERMISSION_DENIED);
}

TEST_F(AccessServiceTest, PageTokensAreBoundToTheCaller) {
  pb::ListRequest request;
  request.set_resource("pods");
  request.set_namespace_("a");
  request.set_limit(1);
  pb::ListResponse first;
  ASSERT_TRUE(stub_->List(As("reader-a").get(), request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());
  request.set_page_token(first.next_page_token());
  pb::ListResponse second;
  EXPECT_EQ(stub_->List(As("other-a").get(), request, &second).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(stub_->List(As("reader-a").get(), request, &second).ok());
  EXPECT_EQ(second.objects_size(), 1);
}

TEST_F(AccessServiceTest, ListResourcesHidesCountsFromCallersWhoCannotListEverything) {
  pb::ListResourcesResponse limited, full;
  ASSERT_TRUE(stub_->ListResources(As("reader-a").get(), {}, &limited).ok());
  ASSERT_TRUE(stub_->ListResources(As("admin").get(), {}, &full).ok());
  ASSERT_EQ(limited.resources_size(), 1);
  EXPECT_EQ(limited.resources(0).object_count(), 0);
  EXPECT_EQ(full.resources(0).object_count(), 4);
}

TEST_F(AccessServiceTest, MetricsNeedATokenAndProbesDoNot) {
  const int port = server_->metrics_port();
  EXPECT_THAT(HttpGet(port, "/readyz", ""), HasSubstr("200 OK"));
  EXPECT_THAT(HttpGet(port, "/healthz", ""), HasSubstr("200 OK"));
  EXPECT_THAT(HttpGet(port, "/metrics", ""), HasSubstr("401 Unauthorized"));
  EXPECT_THAT(HttpGet(port, "/metrics", "reader-a"), HasSubstr("403 Forbidden"));
  const std::string metrics = HttpGet(port, "/metrics", "admin");
  EXPECT_THAT(metrics, HasSubstr("200 OK"));
  EXPECT_THAT(metrics, HasSubstr("informerd_authorizations_total{"));
  EXPECT_THAT(metrics, HasSubstr("decision=\"denied\""));
}

// The startup warning (server.cc) fires for every listen address this says is not loopback
// when TLS or authentication is off.
TEST(PlaintextWarningTest, OnlyLoopbackAddressesCountAsLoopback) {
  for (const char* address : {"127.0.0.1:50051", "127.1.2.3:0", "localhost:8080", "[::1]:50051"}) {
    EXPECT_TRUE(IsLoopbackAddress(address)) << address;
  }
  for (const char* address : {"0.0.0.0:50051", "[::]:50051", "10.0.0.7:50051", ":50051",
                              "informerd.svc:50051", "128.0.0.1:1", "localhost.evil.com:1"}) {
    EXPECT_FALSE(IsLoopbackAddress(address)) << address;
  }
}

}  // namespace
}  // namespace server
}  // namespace informer
