// End-to-end tests of the informerd binary against a real kube-apiserver (scripts/cluster-up):
// the test starts informerd, drives a workload of ConfigMaps and Pods through the API server
// and checks List/Get/ByIndex answers and Subscribe streams (fresh, resumed by version,
// resumed by known objects, filtered, slow) against the API server's own LIST.
// Run by ctest when INFORMERD_TEST_KUBECONFIG is set; otherwise it reports itself skipped (77).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "informer/k8s/rest_client.h"
#include "informer/v1/informer.grpc.pb.h"
#include "rapidjson/document.h"
#include "tests/e2e/cluster.h"

namespace informer {
namespace e2e {
namespace {

namespace pb = ::informer::v1;
using ::testing::HasSubstr;
using View = std::map<std::string, std::string>;  // key -> resourceVersion

const TestCluster* g_cluster = nullptr;
constexpr absl::Duration kConverge = absl::Seconds(60);

// A running informerd: started with flags, its gRPC port read from its "serving" log line,
// its log kept for failure messages, stopped with SIGTERM.
class Informerd {
 public:
  static std::unique_ptr<Informerd> Start(std::vector<std::string> flags) {
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) return nullptr;
    flags.insert(flags.begin(),
                 {INFORMERD_BINARY, absl::StrCat("--kubeconfig=", g_cluster->kubeconfig),
                  "--listen=127.0.0.1:0", "--metrics_listen=127.0.0.1:0", "--log_format=json"});
    const pid_t pid = fork();
    if (pid == 0) {
      dup2(pipe_fds[1], 2);
      close(pipe_fds[0]);
      std::vector<char*> argv;
      for (std::string& flag : flags) argv.push_back(flag.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    close(pipe_fds[1]);
    auto informerd = std::unique_ptr<Informerd>(new Informerd(pid, pipe_fds[0]));
    if (!informerd->WaitForLog("\"msg\":\"serving\"", absl::Seconds(30))) return nullptr;
    return informerd;
  }

  ~Informerd() {
    Stop();
    if (reader_.joinable()) reader_.join();
    close(fd_);
  }

  // SIGTERM and wait; the exit status.
  int Stop() {
    if (exit_status_ >= 0) return exit_status_;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return exit_status_;
  }

  bool WaitForLog(absl::string_view text, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto found = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return absl::StrContains(log_, text) || ended_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&found), timeout);
    return absl::StrContains(log_, text);
  }
  std::string log() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  int grpc_port() const { return Port("grpc_port"); }
  int metrics_port() const { return Port("metrics_port"); }

  std::unique_ptr<pb::InformerService::Stub> Stub() const {
    return pb::InformerService::NewStub(grpc::CreateChannel(absl::StrCat("127.0.0.1:", grpc_port()),
                                                            grpc::InsecureChannelCredentials()));
  }

 private:
  Informerd(pid_t pid, int fd) : pid_(pid), fd_(fd), reader_([this] { Read(); }) {}

  void Read() {
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd_, buffer, sizeof(buffer))) > 0) {
      absl::MutexLock lock(&mu_);
      log_.append(buffer, static_cast<size_t>(n));
    }
    absl::MutexLock lock(&mu_);
    ended_ = true;
  }

  int Port(absl::string_view field) const {
    const std::string text = log();
    const std::string key = absl::StrCat("\"", field, "\":\"");
    const size_t at = text.find(key);
    if (at == std::string::npos) return 0;
    int port = 0;
    const size_t start = at + key.size();
    (void)absl::SimpleAtoi(text.substr(start, text.find('"', start) - start), &port);
    return port;
  }

  const pid_t pid_;
  const int fd_;
  int exit_status_ = -1;
  mutable absl::Mutex mu_;
  std::string log_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  std::thread reader_;
};

std::string Member(const std::string& json, const char* object, const char* member) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  if (document.HasParseError() || !document.IsObject()) return "";
  const rapidjson::Value* value = &document;
  if (object != nullptr) {
    auto it = value->FindMember(object);
    if (it == value->MemberEnd()) return "";
    value = &it->value;
  }
  auto it = value->FindMember(member);
  return it != value->MemberEnd() && it->value.IsString() ? it->value.GetString() : "";
}

std::string Key(const pb::Object& object) {
  return object.namespace_().empty() ? object.name()
                                     : absl::StrCat(object.namespace_(), "/", object.name());
}

void Apply(const pb::SubscribeResponse& event, View* view) {
  switch (event.type()) {
    case pb::EVENT_TYPE_ADDED:
    case pb::EVENT_TYPE_MODIFIED:
      (*view)[Key(event.object())] = event.object().resource_version();
      break;
    case pb::EVENT_TYPE_DELETED:
      view->erase(Key(event.object()));
      break;
    default:
      break;
  }
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(60)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

class ServiceE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::shared_ptr<k8s::RestClient>> client =
        ClientForKubeconfig(g_cluster->kubeconfig);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = new std::shared_ptr<k8s::RestClient>(*client);
    informerd_ = Informerd::Start({"--resources=configmaps,pods",
                                   "--index=configmaps=label:app,pods=node=field:spec.nodeName",
                                   "--bookmark_interval=1s"})
                     .release();
    ASSERT_NE(informerd_, nullptr) << "informerd did not start";
    ASSERT_TRUE(informerd_->WaitForLog("every resource synced", absl::Seconds(60)))
        << informerd_->log();
  }
  static void TearDownTestSuite() {
    delete informerd_;
    informerd_ = nullptr;
    delete client_;
  }

  void SetUp() override {
    namespace_ = absl::StrCat("svc-e2e-", RandomSuffix());
    ASSERT_TRUE(CreateOrKeep(Api(), "/api/v1/namespaces",
                             absl::StrCat(R"({"metadata":{"name":")", namespace_, R"("}})"))
                    .ok());
    stub_ = informerd_->Stub();
  }

  k8s::RestClient& Api() { return **client_; }
  std::string ConfigMaps() const {
    return absl::StrCat("/api/v1/namespaces/", namespace_, "/configmaps");
  }

  // Writes through the API server; the new resourceVersion.
  std::string CreateConfigMap(const std::string& name, const std::string& app,
                              const std::string& value = "1") {
    absl::StatusOr<std::string> body = Api().Post(
        ConfigMaps(), absl::StrCat(R"({"metadata":{"name":")", name, R"(","labels":{"app":")", app,
                                   R"("}},"data":{"v":")", value, R"("}})"));
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? Member(*body, "metadata", "resourceVersion") : "";
  }
  std::string PatchConfigMap(const std::string& name, const std::string& patch) {
    absl::StatusOr<std::string> body =
        Api().MergePatch(absl::StrCat(ConfigMaps(), "/", name), patch);
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? Member(*body, "metadata", "resourceVersion") : "";
  }
  void DeleteConfigMap(const std::string& name) {
    absl::StatusOr<std::string> body = Api().Delete(absl::StrCat(ConfigMaps(), "/", name));
    EXPECT_TRUE(body.ok()) << body.status();
  }
  View Truth() {
    absl::StatusOr<std::map<std::string, std::string>> truth =
        ServerKeyVersions(Api(), ConfigMaps());
    EXPECT_TRUE(truth.ok()) << truth.status();
    return truth.ok() ? *truth : View();
  }

  // List through informerd once its cache has seen `min_rv`.
  pb::ListResponse List(const std::string& min_rv, const std::string& labels = "", int limit = 0) {
    pb::ListRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(namespace_);
    request.set_label_selector(labels);
    request.set_min_resource_version(min_rv);
    request.set_limit(limit);
    pb::ListResponse response;
    auto context = Context();
    grpc::Status status = stub_->List(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  // Reads events into `view` until it equals the API server's truth.
  bool ConvergeTo(grpc::ClientReader<pb::SubscribeResponse>* reader, View* view,
                  std::vector<pb::SubscribeResponse>* events = nullptr) {
    const absl::Time deadline = absl::Now() + kConverge;
    View truth = Truth();
    pb::SubscribeResponse event;
    while (*view != truth && absl::Now() < deadline && reader->Read(&event)) {
      Apply(event, view);
      if (events != nullptr) events->push_back(event);
      if (*view != truth) truth = Truth();
    }
    return *view == truth;
  }

  static std::shared_ptr<k8s::RestClient>* client_;
  static Informerd* informerd_;
  std::string namespace_;
  std::unique_ptr<pb::InformerService::Stub> stub_;
};

std::shared_ptr<k8s::RestClient>* ServiceE2eTest::client_ = nullptr;
Informerd* ServiceE2eTest::informerd_ = nullptr;

TEST_F(ServiceE2eTest, ListGetAndByIndexAnswerWhatTheApiServerHolds) {
  for (int i = 0; i < 12; ++i) CreateConfigMap(absl::StrCat("cm-", i), i % 3 == 0 ? "web" : "db");
  PatchConfigMap("cm-1", R"({"data":{"v":"2"}})");
  DeleteConfigMap("cm-2");
  const std::string last = CreateConfigMap("cm-last", "web");
  const View truth = Truth();

  // Paged List, read-your-writes: every page from one snapshot that has seen `last`.
  View listed;
  pb::ListResponse page = List(last, "", 5);
  const std::string snapshot_rv = page.resource_version();
  for (;;) {
    for (const pb::Object& object : page.objects()) listed[Key(object)] = object.resource_version();
    if (page.next_page_token().empty()) break;
    pb::ListRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(namespace_);
    request.set_limit(5);
    request.set_page_token(page.next_page_token());
    auto context = Context();
    page = pb::ListResponse();
    ASSERT_TRUE(stub_->List(context.get(), request, &page).ok());
    EXPECT_EQ(page.resource_version(), snapshot_rv);
  }
  EXPECT_EQ(listed, truth);

  // Get: the API server's JSON with kind/apiVersion, no managedFields.
  pb::GetRequest get;
  get.set_resource("cm");
  get.set_namespace_(namespace_);
  get.set_name("cm-1");
  pb::GetResponse got;
  auto context = Context();
  ASSERT_TRUE(stub_->Get(context.get(), get, &got).ok());
  EXPECT_EQ(got.object().resource_version(), truth.at(absl::StrCat(namespace_, "/cm-1")));
  EXPECT_EQ(Member(got.object().json(), nullptr, "kind"), "ConfigMap");
  EXPECT_EQ(Member(got.object().json(), nullptr, "apiVersion"), "v1");
  EXPECT_EQ(Member(got.object().json(), "data", "v"), "2");
  EXPECT_THAT(got.object().json(), ::testing::Not(HasSubstr("managedFields")));
  EXPECT_FALSE(got.object().uid().empty());
  get.set_name("cm-2");
  auto absent_context = Context();
  EXPECT_EQ(stub_->Get(absent_context.get(), get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  // ByIndex by label: the same set the API server's label selector gives.
  pb::ByIndexRequest by_index;
  by_index.set_resource("configmaps");
  by_index.set_index_name("label:app");
  by_index.set_value("web");
  by_index.set_namespace_(namespace_);
  pb::ByIndexResponse indexed;
  auto index_context = Context();
  grpc::Status indexed_status = stub_->ByIndex(index_context.get(), by_index, &indexed);
  ASSERT_TRUE(indexed_status.ok()) << indexed_status.error_message();
  absl::StatusOr<std::map<std::string, std::string>> web =
      ServerKeyVersions(Api(), absl::StrCat(ConfigMaps(), "?labelSelector=app%3Dweb"));
  ASSERT_TRUE(web.ok()) << web.status();
  View indexed_view;
  for (const pb::Object& object : indexed.objects())
    indexed_view[Key(object)] = object.resource_version();
  EXPECT_EQ(indexed_view, *web);
  EXPECT_EQ(indexed_view.size(), 5u);
}

TEST_F(ServiceE2eTest, PodsByNodeIndexMatchTheApiServer) {
  const std::string pods = absl::StrCat("/api/v1/namespaces/", namespace_, "/pods");
  std::string last;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<std::string> body = Api().Post(
        pods, absl::StrCat(R"({"metadata":{"name":"p)", i, R"("},"spec":{"nodeName":"node-)", i % 2,
                           R"(","containers":[{"name":"c","image":"busybox"}]}})"));
    ASSERT_TRUE(body.ok()) << body.status();
    last = Member(*body, "metadata", "resourceVersion");
  }
  pb::ByIndexRequest request;
  request.set_resource("pods");
  request.set_index_name("node");
  request.set_value("node-1");
  request.set_namespace_(namespace_);
  request.set_min_resource_version(last);
  pb::ByIndexResponse response;
  auto context = Context();
  grpc::Status status = stub_->ByIndex(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::vector<std::string> names;
  for (const pb::Object& object : response.objects()) names.push_back(object.name());
  EXPECT_THAT(names, ::testing::ElementsAre("p1", "p3"));
}

TEST_F(ServiceE2eTest, ReadYourWritesWithMinResourceVersion) {
  for (int i = 0; i < 5; ++i) {
    const std::string rv = CreateConfigMap(absl::StrCat("rw-", i), "web", absl::StrCat(i));
    pb::GetRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(namespace_);
    request.set_name(absl::StrCat("rw-", i));
    request.set_min_resource_version(rv);
    pb::GetResponse response;
    auto context = Context();
    grpc::Status status = stub_->Get(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.object().resource_version(), rv);
  }
}

TEST_F(ServiceE2eTest, SubscribeFreshThenLiveConvergesToTheApiServer) {
  CreateConfigMap("a", "web");
  CreateConfigMap("b", "db");
  auto context = Context(absl::Seconds(120));
  pb::SubscribeRequest request;
  request.set_resource("configmaps");
  request.set_namespace_(namespace_);
  auto reader = stub_->Subscribe(context.get(), request);
  View view;
  pb::SubscribeResponse event;
  // Nothing before SYNCED may be lost: wait for the namespace's objects then SYNCED.
  while (reader->Read(&event) && event.type() != pb::EVENT_TYPE_SYNCED) {
    EXPECT_EQ(event.type(), pb::EVENT_TYPE_ADDED);
    Apply(event, &view);
  }
  ASSERT_EQ(event.type(), pb::EVENT_TYPE_SYNCED);
  for (int i = 0; i < 10; ++i) CreateConfigMap(absl::StrCat("c", i), "web");
  for (int i = 0; i < 10; i += 2) PatchConfigMap(absl::StrCat("c", i), R"({"data":{"v":"x"}})");
  DeleteConfigMap("a");
  DeleteConfigMap("c3");
  EXPECT_TRUE(ConvergeTo(reader.get(), &view));
  context->TryCancel();
}

TEST_F(ServiceE2eTest, SubscribeResumedByResourceVersionLosesNothing) {
  CreateConfigMap("a", "web");
  View view;
  std::string resume;
  {
    auto context = Context();
    pb::SubscribeRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(namespace_);
    auto reader = stub_->Subscribe(context.get(), request);
    pb::SubscribeResponse event;
    while (reader->Read(&event)) {
      Apply(event, &view);
      if (!event.resource_version().empty()) resume = event.resource_version();
      if (event.type() == pb::EVENT_TYPE_SYNCED) break;
    }
    CreateConfigMap("b", "web");
    ASSERT_TRUE(reader->Read(&event));
    Apply(event, &view);
    resume = event.resource_version();
    context->TryCancel();
  }
  // While disconnected.
  CreateConfigMap("c", "db");
  PatchConfigMap("b", R"({"data":{"v":"2"}})");
  DeleteConfigMap("a");
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("configmaps");
  request.set_namespace_(namespace_);
  request.set_resource_version(resume);
  auto reader = stub_->Subscribe(context.get(), request);
  std::vector<pb::SubscribeResponse> events;
  EXPECT_TRUE(ConvergeTo(reader.get(), &view, &events));
  for (const pb::SubscribeResponse& e : events) EXPECT_NE(e.type(), pb::EVENT_TYPE_SYNCED);
  context->TryCancel();
}

TEST_F(ServiceE2eTest, SubscribeResumedByKnownObjectsSendsOnlyTheDifference) {
  for (int i = 0; i < 6; ++i) CreateConfigMap(absl::StrCat("k", i), "web");
  View view = Truth();
  // While the client was away: one change, one delete, one create.
  PatchConfigMap("k1", R"({"data":{"v":"2"}})");
  DeleteConfigMap("k2");
  const std::string last = CreateConfigMap("k9", "web");
  List(last);  // informerd has seen it all
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("configmaps");
  request.set_namespace_(namespace_);
  for (const auto& [key, rv] : view) (*request.mutable_known_objects())[key] = rv;
  auto reader = stub_->Subscribe(context.get(), request);
  std::vector<std::string> received;
  pb::SubscribeResponse event;
  while (reader->Read(&event) && event.type() != pb::EVENT_TYPE_SYNCED) {
    received.push_back(absl::StrCat(pb::EventType_Name(event.type()), " ", event.object().name()));
    Apply(event, &view);
  }
  EXPECT_THAT(received,
              ::testing::UnorderedElementsAre("EVENT_TYPE_MODIFIED k1", "EVENT_TYPE_DELETED k2",
                                              "EVENT_TYPE_ADDED k9"));
  EXPECT_EQ(view, Truth());
  context->TryCancel();
}

TEST_F(ServiceE2eTest, FilteredSubscriberSeesObjectsEnterAndLeaveTheSelector) {
  CreateConfigMap("f", "db");
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("configmaps");
  request.set_namespace_(namespace_);
  request.set_label_selector("app=web");
  auto reader = stub_->Subscribe(context.get(), request);
  pb::SubscribeResponse event;
  while (reader->Read(&event) && event.type() != pb::EVENT_TYPE_SYNCED) {
  }
  auto next_change = [&]() {
    while (reader->Read(&event) && event.type() == pb::EVENT_TYPE_BOOKMARK) {
    }
    return absl::StrCat(pb::EventType_Name(event.type()), " ", event.object().name());
  };
  PatchConfigMap("f", R"({"metadata":{"labels":{"app":"web"}}})");
  EXPECT_EQ(next_change(), "EVENT_TYPE_ADDED f");
  PatchConfigMap("f", R"({"data":{"v":"9"}})");
  EXPECT_EQ(next_change(), "EVENT_TYPE_MODIFIED f");
  PatchConfigMap("f", R"({"metadata":{"labels":{"app":"db"}}})");
  EXPECT_EQ(next_change(), "EVENT_TYPE_DELETED f");
  EXPECT_EQ(Member(event.object().json(), nullptr, "kind"), "ConfigMap");
  context->TryCancel();
}

TEST_F(ServiceE2eTest, SlowSubscriberIsEndedResourceExhaustedAndResumesWithoutLoss) {
  // Its own informerd with tight subscriber limits.
  std::unique_ptr<Informerd> tight =
      Informerd::Start({"--resources=configmaps", "--subscriber_soft_limit=2",
                        "--subscriber_hard_limit=4", absl::StrCat("--namespace=", namespace_)});
  ASSERT_NE(tight, nullptr);
  ASSERT_TRUE(tight->WaitForLog("every resource synced", absl::Seconds(60))) << tight->log();
  auto stub = tight->Stub();
  auto context = Context(absl::Seconds(120));
  pb::SubscribeRequest request;
  request.set_resource("configmaps");
  auto reader = stub->Subscribe(context.get(), request);
  View view;
  pb::SubscribeResponse event;
  while (reader->Read(&event) && event.type() != pb::EVENT_TYPE_SYNCED) Apply(event, &view);
  // The subscriber stops reading while 30 large ConfigMaps (~200 KiB each) are written.
  const std::string blob(200 * 1024, 'x');
  std::string last;
  for (int i = 0; i < 30; ++i) last = CreateConfigMap(absl::StrCat("big-", i), "web", blob);
  // Once informerd has them all, the stalled subscriber is far behind.
  pb::ListRequest list;
  list.set_resource("configmaps");
  list.set_limit(1);
  list.set_min_resource_version(last);
  pb::ListResponse listed;
  auto list_context = Context();
  ASSERT_TRUE(stub->List(list_context.get(), list, &listed).ok());
  std::string last_rv;
  while (reader->Read(&event)) {
    Apply(event, &view);
    if (!event.resource_version().empty()) last_rv = event.resource_version();
  }
  grpc::Status status = reader->Finish();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  auto resume = context->GetServerTrailingMetadata().find("informer-resume-resource-version");
  ASSERT_NE(resume, context->GetServerTrailingMetadata().end());
  const std::string resume_rv(resume->second.data(), resume->second.size());
  EXPECT_EQ(resume_rv, last_rv);

  auto resumed_context = Context(absl::Seconds(120));
  request.set_resource_version(resume_rv);
  auto resumed = stub->Subscribe(resumed_context.get(), request);
  EXPECT_TRUE(ConvergeTo(resumed.get(), &view));
  resumed_context->TryCancel();
}

TEST_F(ServiceE2eTest, HealthAndMetricsReportTheSyncedCache) {
  const int port = informerd_->metrics_port();
  ASSERT_GT(port, 0);
  // /healthz and /metrics are plain HTTP.
  const std::string curl = absl::StrCat("curl -sf http://127.0.0.1:", port);
  EXPECT_EQ(std::system(absl::StrCat(curl, "/healthz >/dev/null").c_str()), 0);
  FILE* pipe = popen(absl::StrCat(curl, "/metrics").c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string metrics;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) metrics.append(buffer, n);
  pclose(pipe);
  EXPECT_THAT(metrics, HasSubstr("informerd_resource_synced{resource=\"configmaps.v1\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("informerd_cache_objects{resource=\"pods.v1\"}"));
}

TEST_F(ServiceE2eTest, SigtermEndsStreamsWithUnavailableAndExitsCleanly) {
  std::unique_ptr<Informerd> own =
      Informerd::Start({"--resources=configmaps", "--log_level=debug"});
  ASSERT_NE(own, nullptr);
  ASSERT_TRUE(own->WaitForLog("every resource synced", absl::Seconds(60)));
  auto stub = own->Stub();
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("configmaps");
  request.set_namespace_(namespace_);
  auto reader = stub->Subscribe(context.get(), request);
  pb::SubscribeResponse event;
  while (reader->Read(&event) && event.type() != pb::EVENT_TYPE_SYNCED) {
  }
  std::thread stopper([&] { EXPECT_EQ(own->Stop(), 0) << own->log(); });
  while (reader->Read(&event)) {
  }
  grpc::Status status = reader->Finish();
  stopper.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
}

}  // namespace
}  // namespace e2e
}  // namespace informer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::optional<informer::e2e::TestCluster> cluster = informer::e2e::TestClusterFromEnv();
  if (!cluster.has_value()) {
    std::fprintf(stderr,
                 "service_e2e_test: SKIPPED: INFORMERD_TEST_KUBECONFIG is not set. Start a cluster "
                 "with scripts/cluster-up and set INFORMERD_TEST_KUBECONFIG to the KUBECONFIG path "
                 "it prints.\n");
    return 77;
  }
  informer::e2e::g_cluster = &*cluster;
  return RUN_ALL_TESTS();
}
