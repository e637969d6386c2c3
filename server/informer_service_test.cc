// The whole server in process: informers fed by scripted ListerWatchers, a real gRPC server on
// a free port, and clients calling it over TCP (and a unix socket).
#include "server/informer_service.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"
#include "informer/v1/informer.grpc.pb.h"
#include "server/server.h"

namespace informer {
namespace server {
namespace {

// A resource to cache, by its kubectl-style name, with every other setting at its default.
ResourceConfig Named(const std::string& name) {
  ResourceConfig config;
  config.name = name;
  return config;
}

namespace pb = ::informer::v1;
using ::informer::testing::Eventually;
using ::informer::testing::FakeListerWatcher;
using ::informer::testing::FakeListerWatcherFactory;
using ::informer::testing::MakeObject;
using ::informer::testing::MustParseObject;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

ResourceInfo Info(std::string group, std::string version, std::string resource, std::string kind,
                  bool namespaced, std::vector<std::string> short_names = {}) {
  ResourceInfo info;
  info.gvr = {std::move(group), std::move(version), std::move(resource)};
  info.kind = std::move(kind);
  info.namespaced = namespaced;
  info.short_names = std::move(short_names);
  info.verbs = {"list", "watch", "get"};
  return info;
}

const ResourceInfo kPods = Info("", "v1", "pods", "Pod", true, {"po"});
const ResourceInfo kDeployments = Info("apps", "v1", "deployments", "Deployment", true, {"deploy"});
const ResourceInfo kNodes = Info("", "v1", "nodes", "Node", false, {"no"});
const ResourceInfo kSecrets = Info("", "v1", "secrets", "Secret", true);

// Resolves names against a fixed list, as discovery would.
class StaticSource : public ResourceSource {
 public:
  explicit StaticSource(std::vector<ResourceInfo> resources) : resources_(std::move(resources)) {}
  absl::StatusOr<ResourceInfo> Resolve(const std::string& name) override {
    for (const ResourceInfo& info : resources_) {
      if (info.gvr.resource == name || info.gvr.ToString() == name ||
          absl::StrCat(info.gvr.resource, ".", info.gvr.group) == name) {
        return info;
      }
    }
    return absl::NotFoundError(
        absl::StrCat("the server doesn't have a resource type \"", name, "\""));
  }
  absl::StatusOr<std::vector<ResourceInfo>> ListAll() override { return resources_; }

 private:
  std::vector<ResourceInfo> resources_;
};

ObjectPtr Deployment(const std::string& ns, const std::string& name,
                     std::map<std::string, std::string> labels = {}) {
  return MustParseObject(absl::StrCat(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{)",
                                      ::informer::testing::MetadataJson(ns, name, "0", labels),
                                      "}}"));
}

ObjectPtr Node(const std::string& name) {
  return MustParseObject(absl::StrCat(R"({"apiVersion":"v1","kind":"Node","metadata":{)",
                                      ::informer::testing::MetadataJson("", name, "0", {}), "}}"));
}

// A pod with a large payload, to fill transport buffers.
ObjectPtr BigPod(const std::string& name, const std::string& version) {
  return MakeObject("ns", name, "0", {{"v", version}},
                    absl::StrCat(R"("spec":{"blob":")", std::string(256 * 1024, 'x'), "\"}"));
}

using View = std::map<std::string, std::string>;

void Apply(const pb::SubscribeResponse& event, View* view) {
  const std::string key =
      event.object().namespace_().empty()
          ? event.object().name()
          : absl::StrCat(event.object().namespace_(), "/", event.object().name());
  switch (event.type()) {
    case pb::EVENT_TYPE_ADDED:
    case pb::EVENT_TYPE_MODIFIED:
      (*view)[key] = event.object().resource_version();
      break;
    case pb::EVENT_TYPE_DELETED:
      view->erase(key);
      break;
    default:
      break;
  }
}

std::string Describe(const pb::SubscribeResponse& event) {
  std::string out = pb::EventType_Name(event.type()).substr(strlen("EVENT_TYPE_"));
  if (event.has_object()) {
    absl::StrAppend(&out, " ",
                    event.object().namespace_().empty()
                        ? event.object().name()
                        : absl::StrCat(event.object().namespace_(), "/", event.object().name()));
  }
  return out;
}

std::vector<std::string> Names(const google::protobuf::RepeatedPtrField<pb::Object>& objects) {
  std::vector<std::string> out;
  for (const pb::Object& object : objects) out.push_back(object.name());
  return out;
}

int ThreadCount() {
  int count = 0;
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return -1;
  while (dirent* entry = readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  closedir(dir);
  return count;
}

// GET http://127.0.0.1:port/path; the whole response.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return "";
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: x\r\n\r\n");
  (void)!write(fd, request.data(), request.size());
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof(buffer))) > 0) response.append(buffer, n);
  close(fd);
  return response;
}

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest() {
    config_.listen = {"127.0.0.1:0"};
    config_.metrics_listen = "127.0.0.1:0";
    config_.sync_timeout = absl::Seconds(30);
    config_.shutdown_grace = absl::Seconds(2);
    ResourceConfig pods = Named("pods");
    pods.indexes.push_back(*ParseIndexSpec("node=field:spec.nodeName"));
    pods.indexes.push_back(*ParseIndexSpec("label:app"));
    config_.resources = {pods, Named("deployments.apps"), Named("nodes")};
  }
  ~ServiceTest() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  // The scripted API server of `info` (made before the server starts, so tests can seed it).
  std::shared_ptr<FakeListerWatcher> Fake(const ResourceInfo& info) {
    if (std::shared_ptr<FakeListerWatcher> fake = lister_watchers_->Get(info.gvr)) return fake;
    EXPECT_TRUE(lister_watchers_->ForResource(info, "").ok());
    return lister_watchers_->Get(info.gvr);
  }

  void StartServer(bool wait_for_sync = true) {
    absl::StatusOr<std::unique_ptr<InformerServer>> server =
        InformerServer::Start(config_, lister_watchers_,
                              std::make_shared<StaticSource>(std::vector<ResourceInfo>{
                                  kPods, kDeployments, kNodes, kSecrets}));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = pb::InformerService::NewStub(channel_);
    if (wait_for_sync) {
      ASSERT_TRUE(Eventually([&] { return server_->AllSynced(); }));
    }
  }

  std::shared_ptr<SharedIndexInformer> InformerOf(const std::string& name) {
    absl::StatusOr<CachedResource> resource = server_->registry().Resolve(name);
    return resource.ok() ? resource->informer : nullptr;
  }

  // Waits until the server's cache of `info` equals its fake's truth.
  void WaitCached(const ResourceInfo& info) {
    std::shared_ptr<SharedIndexInformer> informer = InformerOf(info.gvr.ToString());
    ASSERT_NE(informer, nullptr);
    std::shared_ptr<FakeListerWatcher> fake = Fake(info);
    ASSERT_TRUE(Eventually([&] {
      View truth, cached;
      for (const auto& [key, object] : fake->Objects())
        truth[key] = object->meta().resource_version;
      for (const ObjectPtr& object : informer->store().List()) {
        cached[object->key()] = object->meta().resource_version;
      }
      return truth == cached;
    }));
  }

  View Truth(const ResourceInfo& info) {
    View truth;
    for (const auto& [key, object] : Fake(info)->Objects()) {
      truth[key] = object->meta().resource_version;
    }
    return truth;
  }

  // A stub on its own connection whose flow-control window stays at 64 KiB (no BDP growth): the
  // client's gRPC buffers no more than that for a stream, so the server's writes wait for it.
  std::unique_ptr<pb::InformerService::Stub> SmallWindowStub() {
    grpc::ChannelArguments small_window;
    small_window.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
    small_window.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
    return pb::InformerService::NewStub(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", server_->grpc_port()),
                                  grpc::InsecureChannelCredentials(), small_window));
  }

  std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(20)) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return context;
  }

  // A Subscribe call in progress: its context (to cancel it) and its reader.
  struct PodStream {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<pb::SubscribeResponse>> reader;
  };
  // Opens a Subscribe of pods; `label_selector` and `field_selector` may be empty.
  PodStream SubscribePods(const std::string& label_selector = "",
                          const std::string& field_selector = "") {
    PodStream stream;
    stream.context = Context();
    pb::SubscribeRequest request;
    request.set_resource("pods");
    request.set_label_selector(label_selector);
    request.set_field_selector(field_selector);
    stream.reader = stub_->Subscribe(stream.context.get(), request);
    return stream;
  }

  // Reads events until (and including) the first of `type`.
  std::vector<pb::SubscribeResponse> ReadThrough(grpc::ClientReader<pb::SubscribeResponse>* reader,
                                                 pb::EventType type) {
    std::vector<pb::SubscribeResponse> events;
    pb::SubscribeResponse event;
    while (reader->Read(&event)) {
      events.push_back(event);
      if (event.type() == type) break;
    }
    return events;
  }
  std::vector<pb::SubscribeResponse> ReadN(grpc::ClientReader<pb::SubscribeResponse>* reader,
                                           size_t n) {
    std::vector<pb::SubscribeResponse> events;
    pb::SubscribeResponse event;
    while (events.size() < n && reader->Read(&event)) events.push_back(event);
    return events;
  }
  std::vector<std::string> Described(const std::vector<pb::SubscribeResponse>& events) {
    std::vector<std::string> out;
    for (const pb::SubscribeResponse& event : events) out.push_back(Describe(event));
    return out;
  }

  std::shared_ptr<FakeListerWatcherFactory> lister_watchers_ =
      std::make_shared<FakeListerWatcherFactory>();
  ServerConfig config_;
  std::unique_ptr<InformerServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::InformerService::Stub> stub_;
};

TEST_F(ServiceTest, ListResourcesReportsEachResourceWithSyncStateCountVersionAndIndexes) {
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  Fake(kPods)->Add(MakeObject("ns", "b", "0"));
  StartServer();
  auto context = Context();
  pb::ListResourcesResponse response;
  ASSERT_TRUE(stub_->ListResources(context.get(), {}, &response).ok());
  ASSERT_EQ(response.resources_size(), 3);
  std::map<std::string, pb::ResourceStatus> by_name;
  for (const pb::ResourceStatus& status : response.resources()) by_name[status.name()] = status;
  const pb::ResourceStatus& pods = by_name.at("pods.v1");
  EXPECT_EQ(pods.group(), "");
  EXPECT_EQ(pods.version(), "v1");
  EXPECT_EQ(pods.resource(), "pods");
  EXPECT_EQ(pods.kind(), "Pod");
  EXPECT_TRUE(pods.namespaced());
  EXPECT_TRUE(pods.synced());
  EXPECT_EQ(pods.object_count(), 2);
  EXPECT_EQ(pods.resource_version(), absl::StrCat(Fake(kPods)->revision()));
  EXPECT_THAT(pods.index_names(), UnorderedElementsAre("namespace", "node", "label:app"));
  EXPECT_EQ(pods.last_error(), "");
  const pb::ResourceStatus& deployments = by_name.at("deployments.v1.apps");
  EXPECT_EQ(deployments.group(), "apps");
  EXPECT_EQ(deployments.object_count(), 0);
  EXPECT_FALSE(by_name.at("nodes.v1").namespaced());
}

TEST_F(ServiceTest, ListFiltersByNamespaceLabelAndFieldSelectors) {
  auto pods = Fake(kPods);
  pods->Add(MakeObject("a", "web-1", "0", {{"app", "web"}}, R"("spec":{"nodeName":"n1"})"));
  pods->Add(MakeObject("a", "web-2", "0", {{"app", "web"}}, R"("spec":{"nodeName":"n2"})"));
  pods->Add(MakeObject("a", "db-1", "0", {{"app", "db"}}, R"("spec":{"nodeName":"n1"})"));
  pods->Add(MakeObject("b", "web-3", "0", {{"app", "web"}}, R"("spec":{"nodeName":"n1"})"));
  StartServer();
  auto list = [&](const std::string& ns, const std::string& labels, const std::string& fields) {
    pb::ListRequest request;
    request.set_resource("pods");
    request.set_namespace_(ns);
    request.set_label_selector(labels);
    request.set_field_selector(fields);
    pb::ListResponse response;
    auto context = Context();
    grpc::Status status = stub_->List(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return Names(response.objects());
  };
  EXPECT_THAT(list("", "", ""), ElementsAre("db-1", "web-1", "web-2", "web-3"));
  EXPECT_THAT(list("a", "", ""), ElementsAre("db-1", "web-1", "web-2"));
  EXPECT_THAT(list("", "app=web", ""), ElementsAre("web-1", "web-2", "web-3"));
  EXPECT_THAT(list("a", "app in (web)", "spec.nodeName=n1"), ElementsAre("web-1"));
  EXPECT_THAT(list("", "app!=web", "spec.nodeName!=n2"), ElementsAre("db-1"));
}

TEST_F(ServiceTest, ListPagesComeFromOneSnapshotEvenWhileTheCacheChanges) {
  auto pods = Fake(kPods);
  for (int i = 0; i < 5; ++i) pods->Add(MakeObject("ns", absl::StrCat("p", i), "0"));
  StartServer();
  pb::ListRequest request;
  request.set_resource("pods");
  request.set_limit(2);
  pb::ListResponse first;
  auto context = Context();
  ASSERT_TRUE(stub_->List(context.get(), request, &first).ok());
  EXPECT_THAT(Names(first.objects()), ElementsAre("p0", "p1"));
  EXPECT_EQ(first.total_count(), 5);
  EXPECT_EQ(first.resource_version(), absl::StrCat(pods->revision()));
  // The cache changes between pages; the pages do not.
  pods->Delete("ns/p3");
  pods->Add(MakeObject("ns", "p21", "0"));
  WaitCached(kPods);
  std::vector<std::string> names = Names(first.objects());
  std::string token = first.next_page_token();
  while (!token.empty()) {
    request.set_page_token(token);
    pb::ListResponse page;
    auto next_context = Context();
    grpc::Status status = stub_->List(next_context.get(), request, &page);
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(page.resource_version(), first.resource_version());
    for (const std::string& name : Names(page.objects())) names.push_back(name);
    token = page.next_page_token();
  }
  EXPECT_THAT(names, ElementsAre("p0", "p1", "p2", "p3", "p4"));
}

TEST_F(ServiceTest, PageTokenFromAnotherQueryIsInvalidArgument) {
  auto pods = Fake(kPods);
  for (int i = 0; i < 3; ++i) pods->Add(MakeObject("ns", absl::StrCat("p", i), "0"));
  StartServer();
  pb::ListRequest request;
  request.set_resource("pods");
  request.set_limit(1);
  pb::ListResponse first;
  auto context = Context();
  ASSERT_TRUE(stub_->List(context.get(), request, &first).ok());
  request.set_page_token(first.next_page_token());
  request.set_label_selector("app=web");
  pb::ListResponse second;
  auto second_context = Context();
  grpc::Status status = stub_->List(second_context.get(), request, &second);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("different query"));
  request.set_label_selector("");
  request.set_page_token("garbage");
  auto third_context = Context();
  EXPECT_EQ(stub_->List(third_context.get(), request, &second).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, BadRequestsGetTheRightCodeAndAnActionableMessage) {
  StartServer();
  struct Case {
    pb::ListRequest request;
    grpc::StatusCode code;
    const char* mentions;
  };
  auto request = [](const std::string& resource, const std::string& ns, const std::string& labels,
                    const std::string& fields, int limit = 0) {
    pb::ListRequest r;
    r.set_resource(resource);
    r.set_namespace_(ns);
    r.set_label_selector(labels);
    r.set_field_selector(fields);
    r.set_limit(limit);
    return r;
  };
  for (const Case& c : {
           Case{request("pods", "", "app in (web", ""), grpc::StatusCode::INVALID_ARGUMENT,
                "label_selector"},
           Case{request("pods", "", "", "spec.nodeName"), grpc::StatusCode::INVALID_ARGUMENT,
                "field_selector"},
           Case{request("widgets", "", "", ""), grpc::StatusCode::NOT_FOUND, "not cached"},
           Case{request("secrets", "", "", ""), grpc::StatusCode::NOT_FOUND, "pods.v1"},
           Case{request("nodes", "default", "", ""), grpc::StatusCode::INVALID_ARGUMENT,
                "cluster-scoped"},
           Case{request("pods", "", "", "", 100000), grpc::StatusCode::INVALID_ARGUMENT, "limit"},
       }) {
    pb::ListResponse response;
    auto context = Context();
    grpc::Status status = stub_->List(context.get(), c.request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.request.ShortDebugString();
    EXPECT_THAT(status.error_message(), HasSubstr(c.mentions)) << c.request.ShortDebugString();
  }
  pb::ListRequest bad_rv = request("pods", "", "", "");
  bad_rv.set_min_resource_version("latest");
  pb::ListResponse response;
  auto context = Context();
  grpc::Status status = stub_->List(context.get(), bad_rv, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("min_resource_version"));
}

TEST_F(ServiceTest, KubectlStyleNamesResolve) {
  Fake(kDeployments)->Add(Deployment("ns", "d"));
  StartServer();
  for (const char* name : {"deployments", "deployment", "deploy", "Deployment", "deployments.apps",
                           "deployments.v1.apps"}) {
    pb::ListRequest request;
    request.set_resource(name);
    pb::ListResponse response;
    auto context = Context();
    grpc::Status status = stub_->List(context.get(), request, &response);
    ASSERT_TRUE(status.ok()) << name << ": " << status.error_message();
    EXPECT_THAT(Names(response.objects()), ElementsAre("d")) << name;
  }
}

TEST_F(ServiceTest, MinResourceVersionWaitsUntilTheCacheHasSeenIt) {
  StartServer();
  auto pods = Fake(kPods);
  const std::string next = absl::StrCat(pods->revision() + 1);
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(200));
    pods->Add(MakeObject("ns", "late", "0"));
  });
  pb::GetRequest request;
  request.set_resource("pods");
  request.set_namespace_("ns");
  request.set_name("late");
  request.set_min_resource_version(next);
  pb::GetResponse response;
  auto context = Context();
  grpc::Status status = stub_->Get(context.get(), request, &response);
  writer.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.object().resource_version(), next);
}

TEST_F(ServiceTest, MinResourceVersionNotReachedByTheDeadlineIsDeadlineExceededWithAMessage) {
  StartServer();
  pb::ListRequest request;
  request.set_resource("pods");
  request.set_min_resource_version("999999");
  pb::ListResponse response;
  auto context = Context(absl::Milliseconds(500));
  const absl::Time started = absl::Now();
  grpc::Status status = stub_->List(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_THAT(status.error_message(), HasSubstr("has not reached min_resource_version 999999"));
  EXPECT_LT(absl::Now() - started, absl::Seconds(2));
}

TEST_F(ServiceTest, GetReturnsTheApiServersJsonWithTypeAndIdentityAndNoManagedFields) {
  // As a typed list sends it: no kind/apiVersion, with managedFields (U1, U3).
  Fake(kPods)->Add(MustParseObject(
      R"({"metadata":{"name":"a","namespace":"ns","uid":"u-1","resourceVersion":"0",)"
      R"("managedFields":[{"manager":"kubectl"}]},"spec":{"nodeName":"n1"}})"));
  StartServer();
  pb::GetRequest request;
  request.set_resource("pod");
  request.set_namespace_("ns");
  request.set_name("a");
  pb::GetResponse response;
  auto context = Context();
  grpc::Status status = stub_->Get(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const pb::Object& object = response.object();
  EXPECT_EQ(object.namespace_(), "ns");
  EXPECT_EQ(object.name(), "a");
  EXPECT_EQ(object.uid(), "u-1");
  EXPECT_EQ(object.resource_version(), absl::StrCat(Fake(kPods)->revision()));
  EXPECT_THAT(object.json(), HasSubstr(R"("kind":"Pod")"));
  EXPECT_THAT(object.json(), HasSubstr(R"("apiVersion":"v1")"));
  EXPECT_THAT(object.json(), HasSubstr(R"("nodeName":"n1")"));
  EXPECT_THAT(object.json(), ::testing::Not(HasSubstr("managedFields")));
}

TEST_F(ServiceTest, GetErrorsNameWhatIsWrong) {
  Fake(kNodes)->Add(Node("node-1"));
  StartServer();
  auto get = [&](const std::string& resource, const std::string& ns, const std::string& name) {
    pb::GetRequest request;
    request.set_resource(resource);
    request.set_namespace_(ns);
    request.set_name(name);
    pb::GetResponse response;
    auto context = Context();
    return stub_->Get(context.get(), request, &response);
  };
  EXPECT_TRUE(get("nodes", "", "node-1").ok());
  grpc::Status absent = get("pods", "ns", "nope");
  EXPECT_EQ(absent.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(absent.error_message(), HasSubstr("ns/nope"));
  EXPECT_EQ(get("pods", "", "x").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(get("nodes", "ns", "node-1").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(get("pods", "ns", "").error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, ByIndexReturnsTheObjectsOfOneValueNarrowedBySelectors) {
  auto pods = Fake(kPods);
  pods->Add(MakeObject("a", "p1", "0", {{"app", "web"}}, R"("spec":{"nodeName":"n1"})"));
  pods->Add(MakeObject("b", "p2", "0", {{"app", "db"}}, R"("spec":{"nodeName":"n1"})"));
  pods->Add(MakeObject("a", "p3", "0", {{"app", "web"}}, R"("spec":{"nodeName":"n2"})"));
  StartServer();
  auto by_index = [&](const std::string& index, const std::string& value, const std::string& ns,
                      const std::string& labels) {
    pb::ByIndexRequest request;
    request.set_resource("pods");
    request.set_index_name(index);
    request.set_value(value);
    request.set_namespace_(ns);
    request.set_label_selector(labels);
    pb::ByIndexResponse response;
    auto context = Context();
    grpc::Status status = stub_->ByIndex(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return Names(response.objects());
  };
  EXPECT_THAT(by_index("node", "n1", "", ""), ElementsAre("p1", "p2"));
  EXPECT_THAT(by_index("node", "n1", "a", ""), ElementsAre("p1"));
  EXPECT_THAT(by_index("label:app", "web", "", ""), ElementsAre("p1", "p3"));
  EXPECT_THAT(by_index("namespace", "a", "", "app=web"), ElementsAre("p1", "p3"));
  EXPECT_THAT(by_index("node", "n9", "", ""), ElementsAre());

  pb::ByIndexRequest unknown;
  unknown.set_resource("pods");
  unknown.set_index_name("byOwner");
  unknown.set_value("x");
  pb::ByIndexResponse response;
  auto context = Context();
  grpc::Status status = stub_->ByIndex(context.get(), unknown, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("byOwner"));
  EXPECT_THAT(status.error_message(), HasSubstr("label:app, namespace, node"));
}

TEST_F(ServiceTest, U6_NotSyncedResourceIsUnavailableAndTheLogNamesWhyAndHealthWaits) {
  config_.sync_timeout = absl::Milliseconds(200);
  config_.resources.push_back(Named("secrets"));
  for (int i = 0; i < 50; ++i) {
    Fake(kSecrets)->FailNextList(absl::PermissionDeniedError(
        "secrets is forbidden: User \"informerd\" cannot list resource \"secrets\""));
  }
  ::testing::internal::CaptureStderr();
  StartServer(/*wait_for_sync=*/false);
  ASSERT_TRUE(Eventually(
      [&] { return InformerOf("pods")->HasSynced() && !InformerOf("secrets")->LastError().ok(); }));
  absl::SleepFor(absl::Milliseconds(400));  // past the sync timeout: the log line is written
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("resource not synced"));
  EXPECT_THAT(log, HasSubstr("secrets.v1: RBAC denied"));
  EXPECT_FALSE(server_->AllSynced());

  pb::ListRequest request;
  request.set_resource("secrets");
  pb::ListResponse response;
  auto context = Context();
  grpc::Status status = stub_->List(context.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("has not finished its initial sync"));
  EXPECT_THAT(status.error_message(), HasSubstr("forbidden"));

  pb::ListResourcesResponse resources;
  auto resources_context = Context();
  ASSERT_TRUE(stub_->ListResources(resources_context.get(), {}, &resources).ok());
  for (const pb::ResourceStatus& resource : resources.resources()) {
    if (resource.resource() != "secrets") continue;
    EXPECT_FALSE(resource.synced());
    EXPECT_THAT(resource.last_error(), HasSubstr("forbidden"));
    EXPECT_TRUE(resource.stale());
    EXPECT_GE(resource.stale_seconds(), 0.0);
  }
  EXPECT_THAT(HttpGet(server_->metrics_port(), "/metrics"),
              HasSubstr("informerd_resource_stale_seconds{resource=\"secrets.v1\"} "));
  EXPECT_THAT(HttpGet(server_->metrics_port(), "/healthz"), HasSubstr("503"));
}

// A Secret as a full LIST would carry it (a server that ignored the metadata Accept header).
ObjectPtr FullSecret(const std::string& ns, const std::string& name) {
  return MustParseObject(absl::StrCat(
      R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":")", name, R"(","namespace":")", ns,
      R"(","resourceVersion":"5","labels":{"app":"web"},"annotations":{"keep":"me",)"
      R"("kubectl.kubernetes.io/last-applied-configuration":"{\"data\":{\"k\":\"c2VjcmV0\"}}"}},)"
      R"("data":{"k":"c2VjcmV0"},"type":"Opaque"})"));
}

TEST_F(ServiceTest, SecretsAreCachedAsMetadataByDefaultAndListResourcesShowsTheProjection) {
  Fake(kSecrets)->Add(FullSecret("ns", "token"));
  config_.resources.push_back(Named("secrets"));
  ResourceConfig deployments = Named("deployments.apps");
  deployments.projection = Projection::kMetadata;
  config_.resources[1] = deployments;
  ::testing::internal::CaptureStderr();
  StartServer();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("Secrets: what is cached and why"));
  EXPECT_THAT(log, HasSubstr("the default for Secrets"));
  EXPECT_THAT(lister_watchers_->requests(),
              ::testing::IsSupersetOf({"secrets.v1@ metadata", "deployments.v1.apps@ metadata",
                                       "pods.v1@", "nodes.v1@"}));

  pb::GetRequest get;
  get.set_resource("secrets");
  get.set_namespace_("ns");
  get.set_name("token");
  pb::GetResponse got;
  auto context = Context();
  ASSERT_TRUE(stub_->Get(context.get(), get, &got).ok());
  // The fake serves its own resourceVersions.
  const std::string rv = got.object().resource_version();
  EXPECT_EQ(got.object().json(),
            absl::StrCat(R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",)",
                         R"("metadata":{"name":"token","namespace":"ns","resourceVersion":")", rv,
                         R"(","labels":{"app":"web"},"annotations":{"keep":"me"}}})"));

  pb::ListResourcesResponse resources;
  auto resources_context = Context();
  ASSERT_TRUE(stub_->ListResources(resources_context.get(), {}, &resources).ok());
  std::map<std::string, std::string> projections;
  for (const pb::ResourceStatus& resource : resources.resources()) {
    projections[resource.name()] = resource.projection();
  }
  EXPECT_EQ(projections, (std::map<std::string, std::string>{{"deployments.v1.apps", "metadata"},
                                                             {"nodes.v1", "full"},
                                                             {"pods.v1", "full"},
                                                             {"secrets.v1", "metadata"}}));
}

TEST_F(ServiceTest, FullSecretsWithoutTheAllowanceAreRedacted) {
  Fake(kSecrets)->Add(FullSecret("ns", "token"));
  ResourceConfig secrets = Named("secrets");
  secrets.projection = Projection::kFull;
  config_.resources.push_back(secrets);
  ::testing::internal::CaptureStderr();
  StartServer();
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("without data, stringData and the last-applied annotation"));
  pb::GetRequest get;
  get.set_resource("secrets");
  get.set_namespace_("ns");
  get.set_name("token");
  pb::GetResponse got;
  auto context = Context();
  ASSERT_TRUE(stub_->Get(context.get(), get, &got).ok());
  const std::string rv = got.object().resource_version();
  EXPECT_EQ(got.object().json(),
            absl::StrCat(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"token",)",
                         R"("namespace":"ns","resourceVersion":")", rv,
                         R"(","labels":{"app":"web"},"annotations":{"keep":"me"}},)",
                         R"("type":"Opaque"})"));
}

TEST_F(ServiceTest, SecretDataNeedsAccessControlToStart) {
  ResourceConfig secrets = Named("secrets");
  secrets.projection = Projection::kFull;
  config_.resources.push_back(secrets);
  config_.allow_secret_data = true;
  absl::StatusOr<std::unique_ptr<InformerServer>> server =
      InformerServer::Start(config_, lister_watchers_,
                            std::make_shared<StaticSource>(std::vector<ResourceInfo>{kSecrets}));
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(server.status().message(), HasSubstr("allow_secret_data"));
  EXPECT_THAT(server.status().message(), HasSubstr("--auth"));
}

TEST_F(ServiceTest, ResourceTheApiServerDoesNotServeYetIsRetriedAndNamedInTheLog) {
  config_.resources.push_back(Named("widgets.example.com"));
  ::testing::internal::CaptureStderr();
  StartServer(/*wait_for_sync=*/false);
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(log, HasSubstr("cannot cache resource yet"));
  EXPECT_THAT(log, HasSubstr("widgets.example.com"));
  EXPECT_FALSE(server_->AllSynced());
  EXPECT_THAT(server_->NotSynced(), ::testing::Contains(HasSubstr("CRD not installed?")));
}

// Calls the unary `method` with `request` as its bytes, whatever they are; its status, and its
// response's bytes in `response`.
grpc::Status RawUnaryCall(grpc::Channel* channel, const std::string& method,
                          const std::string& request, std::string* response) {
  grpc::GenericStub stub(channel->shared_from_this());
  grpc::Slice slice(request);
  grpc::ByteBuffer request_buffer(&slice, 1);
  grpc::ByteBuffer response_buffer;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request_buffer, &response_buffer,
                 [&](grpc::Status s) {
                   status = s;
                   done.Notify();
                 });
  done.WaitForNotification();
  std::vector<grpc::Slice> slices;
  if (status.ok()) (void)response_buffer.Dump(&slices);
  response->clear();
  for (const grpc::Slice& s : slices)
    response->append(reinterpret_cast<const char*>(s.begin()), s.size());
  return status;
}

// grpc.health.v1.Health/Check for `service`; the status enum value (1 = SERVING).
int HealthStatus(grpc::Channel* channel, const std::string& service) {
  std::string request;
  if (!service.empty()) {
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  std::string bytes;
  if (!RawUnaryCall(channel, "/grpc.health.v1.Health/Check", request, &bytes).ok()) return -1;
  return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
}

// The reads take their requests as bytes (raw methods, wire.h): bytes that are no request are
// refused with InvalidArgument naming the message expected, and the server goes on serving.
TEST_F(ServiceTest, AReadWhoseBytesAreNoRequestIsInvalidArgument) {
  StartServer();
  // A length-delimited field 1 whose length runs past the end of the message.
  const std::string garbage("\x0a\x7f\x01\x02", 4);
  for (const auto& [method, message] : std::vector<std::pair<std::string, std::string>>{
           {"Get", "informer.v1.GetRequest"},
           {"List", "informer.v1.ListRequest"},
           {"ByIndex", "informer.v1.ByIndexRequest"}}) {
    std::string response;
    grpc::Status status =
        RawUnaryCall(channel_.get(), "/informer.v1.InformerService/" + method, garbage, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
    EXPECT_THAT(status.error_message(), HasSubstr(message)) << method;
  }
  pb::GetRequest get;
  get.set_resource("pods");
  get.set_namespace_("ns");
  get.set_name("missing");
  std::string response;
  EXPECT_EQ(RawUnaryCall(channel_.get(), "/informer.v1.InformerService/Get",
                         get.SerializeAsString(), &response)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServiceTest, HealthIsServingOnlyOnceEveryResourceSynced) {
  auto secrets = Fake(kSecrets);
  config_.resources.push_back(Named("secrets"));
  secrets->FailNextList(absl::UnavailableError("apiserver down"));
  StartServer(/*wait_for_sync=*/false);
  EXPECT_EQ(HealthStatus(channel_.get(), ""), 2);  // NOT_SERVING
  ASSERT_TRUE(Eventually([&] { return server_->AllSynced(); }, absl::Seconds(30)));
  ASSERT_TRUE(Eventually([&] { return HealthStatus(channel_.get(), "") == 1; }));
  EXPECT_EQ(HealthStatus(channel_.get(), "informer.v1.InformerService"), 1);
}

TEST_F(ServiceTest, ReflectionListsTheService) {
  StartServer();
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  auto call = stub.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  const std::string list_services("\x3a\x00", 2);  // list_services: ""
  grpc::Slice slice(list_services);
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  ASSERT_TRUE(cq.Next(&tag, &ok) && ok);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  EXPECT_THAT(bytes, HasSubstr("informer.v1.InformerService"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));
  context.TryCancel();
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  while (cq.Next(&tag, &ok) && tag != reinterpret_cast<void*>(4)) {
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// The cache keeps the Pods' JSON compressed once trained (here on 8), and every read gives the
// JSON back exactly.
TEST_F(ServiceTest, CompressedCacheServesTheSameJsonAndShowsItInMetrics) {
  config_.cache_compression_samples = 8;
  std::vector<std::string> jsons;
  for (int i = 0; i < 40; ++i) {
    // As the API server holds it (the fake sets its own resourceVersion).
    jsons.push_back(Fake(kPods)->Add(MustParseObject(::informer::testing::PodLikeJson(i)))->json());
  }
  StartServer();
  pb::ListRequest request;
  request.set_resource("pods");
  pb::ListResponse response;
  ASSERT_TRUE(stub_->List(Context().get(), request, &response).ok());
  ASSERT_EQ(response.objects_size(), 40);
  std::set<std::string> listed;
  for (const pb::Object& object : response.objects()) listed.insert(object.json());
  EXPECT_EQ(listed, std::set<std::string>(jsons.begin(), jsons.end()));
  for (const pb::Object& object : response.objects()) {
    pb::GetRequest get;
    get.set_resource("pods");
    get.set_namespace_(object.namespace_());
    get.set_name(object.name());
    pb::GetResponse got;
    ASSERT_TRUE(stub_->Get(Context().get(), get, &got).ok());
    EXPECT_EQ(got.object().json(), object.json());
  }
  const std::string metrics = HttpGet(server_->metrics_port(), "/metrics");
  // The 8 samples (and nothing else) stay plain.
  EXPECT_THAT(metrics, HasSubstr("informerd_cache_compressed_objects{resource=\"pods.v1\"} 32\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_cache_compression_saved_bytes{resource=\"pods.v1\"}"));
}

TEST_F(ServiceTest, MetricsEndpointServesPrometheusText) {
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  StartServer();
  pb::ListRequest request;
  request.set_resource("pods");
  pb::ListResponse response;
  auto context = Context();
  ASSERT_TRUE(stub_->List(context.get(), request, &response).ok());
  auto subscribe_context = Context();
  pb::SubscribeRequest subscribe;
  subscribe.set_resource("pods");
  auto reader = stub_->Subscribe(subscribe_context.get(), subscribe);
  ReadThrough(reader.get(), pb::EVENT_TYPE_SYNCED);
  const std::string metrics = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("200 OK"));
  EXPECT_THAT(metrics, HasSubstr("informerd_cache_objects{resource=\"pods.v1\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_cache_bytes{resource=\"pods.v1\"}"));
  EXPECT_THAT(metrics, HasSubstr("informerd_resource_synced{resource=\"pods.v1\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_resource_stale_seconds{resource=\"pods.v1\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_events_in_total{resource=\"pods.v1\"}"));
  EXPECT_THAT(metrics, HasSubstr("informerd_relists_total{resource=\"pods.v1\"}"));
  EXPECT_THAT(metrics, HasSubstr("informerd_watch_restarts_total{resource=\"pods.v1\"}"));
  EXPECT_THAT(metrics, HasSubstr("informerd_subscribers{resource=\"pods.v1\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_events_out_total{resource=\"pods.v1\"} 2\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_subscriber_lag_max{resource=\"pods.v1\"} 0\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_coalesced_subscribers_total"));
  EXPECT_THAT(metrics, HasSubstr("informerd_terminated_subscribers_total"));
  EXPECT_THAT(metrics, HasSubstr("informerd_grpc_requests_total{method=\"List\",code=\"OK\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_grpc_request_duration_seconds_bucket{method=\"List\""));
  EXPECT_THAT(HttpGet(server_->metrics_port(), "/healthz"), HasSubstr("200 OK"));
  subscribe_context->TryCancel();
}

TEST_F(ServiceTest, SubscribeFreshSendsTheCutThenSyncedThenLiveEvents) {
  auto pods = Fake(kPods);
  pods->Add(MakeObject("ns", "a", "0"));
  StartServer();
  PodStream stream = SubscribePods();
  std::vector<pb::SubscribeResponse> initial =
      ReadThrough(stream.reader.get(), pb::EVENT_TYPE_SYNCED);
  EXPECT_THAT(Described(initial), ElementsAre("ADDED ns/a", "SYNCED"));
  EXPECT_EQ(initial[1].resource_version(), absl::StrCat(pods->revision()));
  ObjectPtr b = pods->Add(MakeObject("ns", "b", "0"));
  pods->Update(MakeObject("ns", "a", "0", {{"v", "2"}}));
  std::vector<pb::SubscribeResponse> live = ReadN(stream.reader.get(), 2);
  EXPECT_THAT(Described(live), UnorderedElementsAre("ADDED ns/b", "MODIFIED ns/a"));
  stream.context->TryCancel();
}

TEST_F(ServiceTest, SubscribeResumedByResourceVersionReplaysOnlyWhatFollows) {
  auto pods = Fake(kPods);
  StartServer();
  ObjectPtr a = pods->Add(MakeObject("ns", "a", "0"));
  pods->Add(MakeObject("ns", "b", "0"));
  pods->Delete("ns/a");
  WaitCached(kPods);
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_resource_version(a->meta().resource_version);
  auto reader = stub_->Subscribe(context.get(), request);
  std::vector<pb::SubscribeResponse> events = ReadN(reader.get(), 2);
  EXPECT_THAT(Described(events), UnorderedElementsAre("ADDED ns/b", "DELETED ns/a"));
  context->TryCancel();
}

TEST_F(ServiceTest, SubscribeFromAListsVersionIsTheListThenWatchPattern) {
  auto pods = Fake(kPods);
  pods->Add(MakeObject("ns", "a", "0"));
  StartServer();
  pb::ListRequest list;
  list.set_resource("pods");
  pb::ListResponse listed;
  auto list_context = Context();
  ASSERT_TRUE(stub_->List(list_context.get(), list, &listed).ok());
  pods->Add(MakeObject("ns", "b", "0"));  // after the List, before the Subscribe
  WaitCached(kPods);
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_resource_version(listed.resource_version());
  auto reader = stub_->Subscribe(context.get(), request);
  EXPECT_THAT(Described(ReadN(reader.get(), 1)), ElementsAre("ADDED ns/b"));
  context->TryCancel();
}

TEST_F(ServiceTest, SubscribeFromAVersionOlderThanTheRingIsOutOfRange) {
  config_.history.max_events = 2;
  auto pods = Fake(kPods);
  StartServer();
  ObjectPtr first = pods->Add(MakeObject("ns", "a", "0"));
  for (int i = 0; i < 5; ++i) pods->Update(MakeObject("ns", "a", "0", {{"v", absl::StrCat(i)}}));
  WaitCached(kPods);
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_resource_version(first->meta().resource_version);
  auto reader = stub_->Subscribe(context.get(), request);
  pb::SubscribeResponse event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("too old"));
  EXPECT_THAT(status.error_message(), HasSubstr("resubscribe"));
}

TEST_F(ServiceTest, SubscribeWithKnownObjectsSendsOnlyTheDifference) {
  auto pods = Fake(kPods);
  ObjectPtr same = pods->Add(MakeObject("ns", "same", "0"));
  ObjectPtr changed = pods->Add(MakeObject("ns", "changed", "0"));
  pods->Add(MakeObject("ns", "new", "0"));
  StartServer();
  pods->Update(MakeObject("ns", "changed", "0", {{"v", "2"}}));
  WaitCached(kPods);
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("pods");
  (*request.mutable_known_objects())["ns/same"] = same->meta().resource_version;
  (*request.mutable_known_objects())["ns/changed"] = changed->meta().resource_version;
  (*request.mutable_known_objects())["ns/gone"] = "1";
  auto reader = stub_->Subscribe(context.get(), request);
  std::vector<pb::SubscribeResponse> events = ReadThrough(reader.get(), pb::EVENT_TYPE_SYNCED);
  EXPECT_THAT(Described(events),
              ElementsAre("MODIFIED ns/changed", "ADDED ns/new", "DELETED ns/gone", "SYNCED"));
  EXPECT_TRUE(events[2].final_state_unknown());
  context->TryCancel();
}

TEST_F(ServiceTest, SubscribeFilteredSeesObjectsEnterAndLeaveTheSelector) {
  auto pods = Fake(kPods);
  pods->Add(MakeObject("ns", "a", "0", {{"app", "db"}}));
  StartServer();
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_label_selector("app=web");
  request.set_include_old_object(true);
  auto reader = stub_->Subscribe(context.get(), request);
  EXPECT_THAT(Described(ReadThrough(reader.get(), pb::EVENT_TYPE_SYNCED)), ElementsAre("SYNCED"));
  pods->Update(MakeObject("ns", "a", "0", {{"app", "web"}}));
  EXPECT_THAT(Described(ReadN(reader.get(), 1)), ElementsAre("ADDED ns/a"));
  pods->Update(MakeObject("ns", "a", "0", {{"app", "web"}, {"v", "2"}}));
  std::vector<pb::SubscribeResponse> modified = ReadN(reader.get(), 1);
  ASSERT_THAT(Described(modified), ElementsAre("MODIFIED ns/a"));
  EXPECT_THAT(modified[0].old_object().json(), ::testing::Not(HasSubstr("\"v\"")));
  pods->Update(MakeObject("ns", "a", "0", {{"app", "db"}}));
  std::vector<pb::SubscribeResponse> left = ReadN(reader.get(), 1);
  ASSERT_THAT(Described(left), ElementsAre("DELETED ns/a"));
  EXPECT_THAT(left[0].object().json(), HasSubstr(R"("app":"db")"));
  context->TryCancel();
}

TEST_F(ServiceTest, SubscriberOfOneNameKeepsItsStreamWhileOtherChangesPassTheRing) {
  // Its stream is woken only by changes to its name; changes to other names
  // leaving the ring before it reads them must not end it.
  config_.history.max_events = 8;
  config_.history.cache_fraction = 0;
  auto pods = Fake(kPods);
  pods->Add(MakeObject("ns", "mine", "0"));
  StartServer();
  PodStream stream = SubscribePods("", "metadata.name=mine");
  EXPECT_THAT(Described(ReadThrough(stream.reader.get(), pb::EVENT_TYPE_SYNCED)),
              ElementsAre("ADDED ns/mine", "SYNCED"));
  for (int i = 0; i < 200; ++i) pods->Add(MakeObject("ns", absl::StrCat("other", i), "0"));
  ObjectPtr changed = pods->Update(MakeObject("ns", "mine", "0", {{"v", "1"}}));
  std::vector<pb::SubscribeResponse> events = ReadN(stream.reader.get(), 1);
  ASSERT_THAT(Described(events), ElementsAre("MODIFIED ns/mine"));
  EXPECT_EQ(events[0].object().resource_version(), changed->meta().resource_version);
  stream.context->TryCancel();
}

TEST_F(ServiceTest, SubscribeBadRequestsEndAtOnceWithTheRightCode) {
  StartServer();
  auto status_of = [&](pb::SubscribeRequest request) {
    auto context = Context();
    auto reader = stub_->Subscribe(context.get(), request);
    pb::SubscribeResponse event;
    while (reader->Read(&event)) {
    }
    return reader->Finish();
  };
  pb::SubscribeRequest both;
  both.set_resource("pods");
  both.set_resource_version("5");
  (*both.mutable_known_objects())["ns/a"] = "1";
  EXPECT_EQ(status_of(both).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  pb::SubscribeRequest bad_selector;
  bad_selector.set_resource("pods");
  bad_selector.set_label_selector("=x");
  EXPECT_EQ(status_of(bad_selector).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  pb::SubscribeRequest unknown;
  unknown.set_resource("widgets");
  EXPECT_EQ(status_of(unknown).error_code(), grpc::StatusCode::NOT_FOUND);
  pb::SubscribeRequest not_a_version;
  not_a_version.set_resource("pods");
  not_a_version.set_resource_version("yesterday");
  EXPECT_EQ(status_of(not_a_version).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ServiceTest, SlowSubscriberGetsCoalescedLatestStates) {
  config_.subscribers.soft_limit = 2;
  config_.subscribers.hard_limit = 1000;
  // The ring's fixed caps only: 60 changes of 256 KiB pass the default proportional bound
  // (16 MiB here), and a subscriber the ring left behind is ended, not coalesced.
  config_.history.cache_fraction = 0;
  auto pods = Fake(kPods);
  StartServer();
  auto context = Context(absl::Seconds(60));
  pb::SubscribeRequest request;
  request.set_resource("pods");
  auto reader = stub_->Subscribe(context.get(), request);
  View view;
  for (const auto& event : ReadThrough(reader.get(), pb::EVENT_TYPE_SYNCED)) Apply(event, &view);
  // The subscriber reads nothing while 3 objects change 20 times each (768 KiB each round):
  // the transport's window fills, so the server sees it fall behind.
  for (int round = 0; round < 20; ++round) {
    for (const char* name : {"a", "b", "c"}) {
      ObjectPtr big = BigPod(name, absl::StrCat(round));
      if (round == 0) {
        pods->Add(big);
      } else {
        pods->Update(big);
      }
    }
  }
  WaitCached(kPods);
  const View truth = Truth(kPods);
  int events = 0;
  int coalesced = 0;
  pb::SubscribeResponse event;
  while (view != truth && reader->Read(&event)) {
    ++events;
    if (event.coalesced()) ++coalesced;
    Apply(event, &view);
  }
  EXPECT_EQ(view, truth);
  EXPECT_GT(coalesced, 0);
  EXPECT_LT(events, 60);
  context->TryCancel();
}

TEST_F(ServiceTest, SubscriberPastTheHardLimitEndsResourceExhaustedAndResumesWithoutLoss) {
  config_.history.cache_fraction = 0;  // the resume must find its position in the ring
  config_.subscribers.soft_limit = 2;
  config_.subscribers.hard_limit = 4;
  auto pods = Fake(kPods);
  StartServer();
  auto context = Context(absl::Seconds(60));
  pb::SubscribeRequest request;
  request.set_resource("pods");
  auto reader = stub_->Subscribe(context.get(), request);
  View view;
  for (const auto& event : ReadThrough(reader.get(), pb::EVENT_TYPE_SYNCED)) Apply(event, &view);
  for (int i = 0; i < 40; ++i) pods->Add(BigPod(absl::StrCat("p", i), "1"));  // 40 keys
  WaitCached(kPods);
  std::string last_rv;
  pb::SubscribeResponse event;
  while (reader->Read(&event)) {
    Apply(event, &view);
    if (!event.resource_version().empty()) last_rv = event.resource_version();
  }
  grpc::Status status = reader->Finish();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  const auto& trailers = context->GetServerTrailingMetadata();
  auto resume = trailers.find("informer-resume-resource-version");
  ASSERT_NE(resume, trailers.end());
  const std::string resume_rv(resume->second.data(), resume->second.size());
  EXPECT_EQ(resume_rv, last_rv);
  EXPECT_THAT(status.error_message(), HasSubstr(resume_rv));
  EXPECT_NE(view, Truth(kPods));

  // Resumed by a subscriber that keeps up: the rest arrives, none lost.
  auto resumed_context = Context(absl::Seconds(60));
  request.set_resource_version(resume_rv);
  auto resumed = stub_->Subscribe(resumed_context.get(), request);
  const View truth = Truth(kPods);
  while (view != truth && resumed->Read(&event)) Apply(event, &view);
  EXPECT_EQ(view, truth);
  resumed_context->TryCancel();
  EXPECT_THAT(HttpGet(server_->metrics_port(), "/metrics"),
              HasSubstr("informerd_terminated_subscribers_total{resource=\"pods.v1\"} 1\n"));
}

TEST_F(ServiceTest, SubscriberThatReadsNothingIsCutAfterTheWriteTimeoutWhileASlowReaderIsNot) {
  config_.subscribers.write_timeout = absl::Seconds(1);
  config_.subscribers.bookmark_interval = absl::Milliseconds(400);  // the hub ticks every 100 ms
  auto pods = Fake(kPods);
  for (int i = 0; i < 40; ++i) pods->Add(BigPod(absl::StrCat("p", i), "1"));  // 10 MiB
  StartServer();

  // A client on a small window that reads nothing: the server's write waits for it.
  auto stalled_stub = SmallWindowStub();
  auto stalled_context = Context(absl::Seconds(60));
  pb::SubscribeRequest request;
  request.set_resource("pods");
  const absl::Time opened = absl::Now();
  auto stalled = stalled_stub->Subscribe(stalled_context.get(), request);

  // Another on the same small window that reads slowly (one event per 200 ms, well within the
  // timeout each) keeps its stream: only reading nothing is cut.
  auto slow_stub = SmallWindowStub();
  auto slow_context = Context(absl::Seconds(60));
  auto slow = slow_stub->Subscribe(slow_context.get(), request);
  pb::SubscribeResponse event;
  size_t slow_read = 0;
  while (absl::Now() - opened < absl::Seconds(3) && slow->Read(&event)) {
    ++slow_read;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_GE(slow_read, 5u);

  // The stalled one was cut once, logged and counted with its cause; the slow one is open.
  const std::string metrics = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics,
              HasSubstr("informerd_write_stalled_subscribers_total{resource=\"pods.v1\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_subscriptions_ended_total{resource=\"pods.v1\","
                                 "code=\"RESOURCE_EXHAUSTED\"} 1\n"));
  EXPECT_THAT(metrics, HasSubstr("informerd_subscribers{resource=\"pods.v1\"} 1\n"));
  // Reading again, it finds what the transport held, short of the cut, and then CANCELLED.
  size_t stalled_read = 0;
  bool stalled_synced = false;
  while (stalled->Read(&event)) {
    ++stalled_read;
    stalled_synced |= event.type() == pb::EVENT_TYPE_SYNCED;
  }
  EXPECT_FALSE(stalled_synced);
  EXPECT_LT(stalled_read, 40u);
  EXPECT_EQ(stalled->Finish().error_code(), grpc::StatusCode::CANCELLED);

  // The slow reader still gets the whole cut.
  bool synced = false;
  while (!synced && slow->Read(&event)) synced = event.type() == pb::EVENT_TYPE_SYNCED;
  EXPECT_TRUE(synced);
  slow_context->TryCancel();
}

TEST_F(ServiceTest, BookmarksReachSubscribersWhoseFilterMatchesNothing) {
  config_.subscribers.bookmark_interval = absl::Milliseconds(200);
  auto pods = Fake(kPods);
  StartServer();
  PodStream stream = SubscribePods("app=none");
  ReadThrough(stream.reader.get(), pb::EVENT_TYPE_SYNCED);
  // The stream announces the interval, for the clients' silent-server watchdog.
  const auto& initial = stream.context->GetServerInitialMetadata();
  auto interval = initial.find("informer-bookmark-interval-ms");
  ASSERT_NE(interval, initial.end());
  EXPECT_EQ(std::string(interval->second.data(), interval->second.size()), "200");
  ObjectPtr a = pods->Add(MakeObject("ns", "a", "0"));
  std::vector<pb::SubscribeResponse> events =
      ReadThrough(stream.reader.get(), pb::EVENT_TYPE_BOOKMARK);
  ASSERT_FALSE(events.empty());
  EXPECT_THAT(Described(events), ElementsAre("BOOKMARK"));
  // It may take a second bookmark for the position to cover the change.
  while (events.back().resource_version() != a->meta().resource_version) {
    events = ReadThrough(stream.reader.get(), pb::EVENT_TYPE_BOOKMARK);
    ASSERT_FALSE(events.empty());
  }
  stream.context->TryCancel();
}

TEST_F(ServiceTest, ShutdownEndsStreamsWithUnavailable) {
  StartServer();
  auto context = Context();
  pb::SubscribeRequest request;
  request.set_resource("pods");
  auto reader = stub_->Subscribe(context.get(), request);
  ReadThrough(reader.get(), pb::EVENT_TYPE_SYNCED);
  std::thread shutdown([&] { server_->Shutdown(); });
  pb::SubscribeResponse event;
  while (reader->Read(&event)) {
  }
  grpc::Status status = reader->Finish();
  shutdown.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
}

// A stream ended mid-burst (its write waits while it has the next event looked ahead, to send
// both in one HTTP/2 write) resumes from the last event the client received, not the next one.
TEST_F(ServiceTest, ShutdownMidBurstResumesFromTheLastEventReceived) {
  auto pods = Fake(kPods);
  StartServer();
  ObjectPtr first = pods->Add(MakeObject("ns", "a", "0"));
  // 10 MiB of changes after it, all in the history before the subscriber resumes from it: every
  // event has another due behind it.
  for (int i = 0; i < 40; ++i) pods->Add(BigPod(absl::StrCat("p", i), "1"));
  WaitCached(kPods);
  auto stub = SmallWindowStub();  // the server's write waits for the client to read
  auto context = Context(absl::Seconds(60));
  pb::SubscribeRequest request;
  request.set_resource("pods");
  request.set_resource_version(first->meta().resource_version);
  auto reader = stub->Subscribe(context.get(), request);
  pb::SubscribeResponse event;
  ASSERT_TRUE(reader->Read(&event));
  std::string last_rv = event.resource_version();
  int received = 1;
  // Read on once the shutdown has ended the stream (within its 2 s grace): it ends with a
  // write waiting and the next event looked ahead. The check holds at any timing.
  std::thread shutdown([&] { server_->Shutdown(); });
  absl::SleepFor(absl::Milliseconds(200));
  while (reader->Read(&event)) {
    ++received;
    if (!event.resource_version().empty()) last_rv = event.resource_version();
  }
  grpc::Status status = reader->Finish();
  shutdown.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_LT(received, 40);
  const auto& trailers = context->GetServerTrailingMetadata();
  auto resume = trailers.find("informer-resume-resource-version");
  ASSERT_NE(resume, trailers.end()) << received << " events received";
  EXPECT_EQ(std::string(resume->second.data(), resume->second.size()), last_rv)
      << received << " of 40 events received";
}

// A callback-API subscriber that counts SYNCED and records how it ended.
class CountingSubscriber : public grpc::ClientReadReactor<pb::SubscribeResponse> {
 public:
  CountingSubscriber(pb::InformerService::Stub* stub, std::atomic<int>* synced) : synced_(synced) {
    request_.set_resource("pods");
    stub->async()->Subscribe(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (event_.type() == pb::EVENT_TYPE_SYNCED) synced_->fetch_add(1);
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }
  void Cancel() { context_.TryCancel(); }
  grpc::Status Wait() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
    return status_;
  }

 private:
  grpc::ClientContext context_;
  pb::SubscribeRequest request_;
  pb::SubscribeResponse event_;
  std::atomic<int>* synced_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ServiceTest, HundredsOfSubscribersNeedNoThreadEach) {
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  StartServer();
  const int threads_before = ThreadCount();
  constexpr int kSubscribers = 500;
  std::atomic<int> synced{0};
  std::vector<std::unique_ptr<CountingSubscriber>> subscribers;
  for (int i = 0; i < kSubscribers; ++i) {
    subscribers.push_back(std::make_unique<CountingSubscriber>(stub_.get(), &synced));
  }
  ASSERT_TRUE(Eventually([&] { return synced.load() == kSubscribers; }, absl::Seconds(60)));
  EXPECT_EQ(server_->service().subscriber_count(), static_cast<size_t>(kSubscribers));
  EXPECT_LT(ThreadCount() - threads_before, 100);
  // A change reaches every one of them; cancelling frees them.
  for (auto& subscriber : subscribers) subscriber->Cancel();
  for (auto& subscriber : subscribers) {
    EXPECT_EQ(subscriber->Wait().error_code(), grpc::StatusCode::CANCELLED);
  }
  EXPECT_TRUE(Eventually([&] { return server_->service().subscriber_count() == 0; }));
}

TEST_F(ServiceTest, ServesOnAUnixSocketToo) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/informerd-", getpid(), ".sock");
  config_.listen = {"127.0.0.1:0", absl::StrCat("unix:", path)};
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  StartServer();
  auto stub = pb::InformerService::NewStub(
      grpc::CreateChannel(absl::StrCat("unix:", path), grpc::InsecureChannelCredentials()));
  pb::ListRequest request;
  request.set_resource("pods");
  pb::ListResponse response;
  auto context = Context();
  grpc::Status status = stub->List(context.get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Names(response.objects()), ElementsAre("a"));
}

// --- Limits on what one caller may hold (docs/configuration.md, "Limits"). With access control
// off a caller is its IP address: TCP clients here are ip:127.0.0.1, unix-socket ones ip:unix.

class LimitsTest : public ServiceTest {
 protected:
  // A second caller: a client over a unix socket (another address than 127.0.0.1).
  void StartWithSecondCaller() {
    unix_path_ = absl::StrCat(::testing::TempDir(), "/informerd-limits-", getpid(), ".sock");
    config_.listen = {"127.0.0.1:0", absl::StrCat("unix:", unix_path_)};
    StartServer();
    other_ = pb::InformerService::NewStub(
        grpc::CreateChannel(absl::StrCat("unix:", unix_path_), grpc::InsecureChannelCredentials()));
  }
  // A pods Subscribe over `stub` that has reached SYNCED (or ended: then the status is set).
  struct Opened {
    PodStream stream;
    bool synced = false;
    grpc::Status status;
  };
  Opened Open(pb::InformerService::Stub* stub) {
    Opened out;
    out.stream.context = Context();
    pb::SubscribeRequest request;
    request.set_resource("pods");
    out.stream.reader = stub->Subscribe(out.stream.context.get(), request);
    std::vector<pb::SubscribeResponse> events =
        ReadThrough(out.stream.reader.get(), pb::EVENT_TYPE_SYNCED);
    out.synced = !events.empty() && events.back().type() == pb::EVENT_TYPE_SYNCED;
    if (!out.synced) out.status = out.stream.reader->Finish();
    return out;
  }
  grpc::Status SubscribeWithKnown(std::map<std::string, std::string> known) {
    auto context = Context();
    pb::SubscribeRequest request;
    request.set_resource("pods");
    for (auto& [key, rv] : known) (*request.mutable_known_objects())[key] = rv;
    auto reader = stub_->Subscribe(context.get(), request);
    pb::SubscribeResponse event;
    while (reader->Read(&event)) {
      if (event.type() == pb::EVENT_TYPE_SYNCED) {
        context->TryCancel();
        while (reader->Read(&event)) {
        }
        reader->Finish();
        return grpc::Status::OK;
      }
    }
    return reader->Finish();
  }

  std::string unix_path_;
  std::unique_ptr<pb::InformerService::Stub> other_;
};

TEST_F(LimitsTest, KnownObjectsPastTheCapIsResourceExhaustedNamingTheFlag) {
  config_.call_limits.max_known_objects = 10;
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  StartServer();
  std::map<std::string, std::string> known;
  for (int i = 0; i < 10; ++i) known[absl::StrCat("ns/p", i)] = "1";
  EXPECT_TRUE(SubscribeWithKnown(known).ok());
  known["ns/p10"] = "1";
  grpc::Status status = SubscribeWithKnown(known);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("11 entries"));
  EXPECT_THAT(status.error_message(), HasSubstr("--max_known_objects"));
}

TEST_F(LimitsTest, KnownObjectsKeysOfTheWrongFormAreInvalidArgument) {
  StartServer();
  for (const std::string& key : {std::string("no-namespace"), std::string("ns/a/b"),
                                 absl::StrCat("ns/", std::string(254, 'x'))}) {
    grpc::Status status = SubscribeWithKnown({{key, "1"}});
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << key;
    EXPECT_THAT(status.error_message(), HasSubstr("NAMESPACE/NAME")) << key;
  }
}

TEST_F(LimitsTest, ARequestPastTheReceiveLimitIsRefusedByTheTransport) {
  config_.grpc_limits.max_receive_message_bytes = 64 << 10;
  StartServer();
  std::map<std::string, std::string> known;
  for (int i = 0; i < 4000; ++i) known[absl::StrCat("ns/pod-with-a-long-name-", i)] = "12345";
  grpc::Status status = SubscribeWithKnown(known);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("larger than max"));
  // The server is fine and serves the next call.
  EXPECT_TRUE(SubscribeWithKnown({{"ns/a", "1"}}).ok());
}

TEST_F(LimitsTest, SubscribersPastThePerCallerCapAreRefusedWhileAnotherCallerIsServed) {
  config_.call_limits.max_subscribers_per_caller = 2;
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  StartWithSecondCaller();
  Opened first = Open(stub_.get());
  Opened second = Open(stub_.get());
  ASSERT_TRUE(first.synced && second.synced);
  Opened third = Open(stub_.get());
  EXPECT_FALSE(third.synced);
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.status.error_message(), HasSubstr("--max_subscribers_per_caller"));
  EXPECT_THAT(third.status.error_message(), HasSubstr("ip:127.0.0.1"));
  // Another caller is served, and live events still reach the first caller's streams.
  Opened other = Open(other_.get());
  EXPECT_TRUE(other.synced) << other.status.error_message();
  Fake(kPods)->Add(MakeObject("ns", "b", "0"));
  EXPECT_THAT(Described(ReadN(first.stream.reader.get(), 1)), ElementsAre("ADDED ns/b"));
  // An ended stream gives its slot back.
  first.stream.context->TryCancel();
  EXPECT_TRUE(
      Eventually([&] { return server_->service().stream_quota().held_by("ip:127.0.0.1") == 1; }));
  EXPECT_TRUE(Open(stub_.get()).synced);
}

TEST_F(LimitsTest, SubscribersPastTheTotalCapAreRefusedNamingTheFlag) {
  config_.call_limits.max_subscribers = 2;
  StartWithSecondCaller();
  Opened first = Open(stub_.get());
  Opened second = Open(other_.get());
  ASSERT_TRUE(first.synced && second.synced);
  Opened third = Open(other_.get());
  EXPECT_EQ(third.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(third.status.error_message(), HasSubstr("(--max_subscribers)"));
  std::string metrics = HttpGet(server_->metrics_port(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("informerd_limit_refusals_total{limit=\"subscribers\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("informerd_limit_in_use{limit=\"subscribers\"} 2"));
}

TEST_F(LimitsTest, WaitsPastThePerCallerCapAreRefusedWhileAnotherCallerWaits) {
  config_.call_limits.max_waits_per_caller = 1;
  StartWithSecondCaller();
  const std::string future = absl::StrCat(Fake(kPods)->revision() + 1);
  auto wait = [&](pb::InformerService::Stub* stub) {
    pb::ListRequest request;
    request.set_resource("pods");
    request.set_min_resource_version(future);
    pb::ListResponse response;
    auto context = Context(absl::Seconds(10));
    return stub->List(context.get(), request, &response);
  };
  grpc::Status first, other;
  std::thread waiting([&] { first = wait(stub_.get()); });
  ASSERT_TRUE(Eventually([&] { return server_->service().waiter().pending() == 1; }));
  grpc::Status refused = wait(stub_.get());
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max_waits_per_caller"));
  std::thread other_waiting([&] { other = wait(other_.get()); });
  ASSERT_TRUE(Eventually([&] { return server_->service().waiter().pending() == 2; }));
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  waiting.join();
  other_waiting.join();
  EXPECT_TRUE(first.ok()) << first.error_message();
  EXPECT_TRUE(other.ok()) << other.error_message();
}

TEST_F(LimitsTest, PageSnapshotsPastThePerCallerCapAreRefusedAndOthersTokensSurvive) {
  config_.pager.max_snapshots_per_caller = 3;
  for (int i = 0; i < 5; ++i) Fake(kPods)->Add(MakeObject("ns", absl::StrCat("p", i), "0"));
  StartWithSecondCaller();
  WaitCached(kPods);
  auto first_page = [](pb::InformerService::Stub* stub, pb::ListResponse* response) {
    pb::ListRequest request;
    request.set_resource("pods");
    request.set_limit(1);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return stub->List(&context, request, response);
  };
  pb::ListResponse victim;
  ASSERT_TRUE(first_page(other_.get(), &victim).ok());
  int refused = 0;
  for (int i = 0; i < 50; ++i) {
    pb::ListResponse response;
    grpc::Status status = first_page(stub_.get(), &response);
    if (status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      EXPECT_THAT(status.error_message(), HasSubstr("--max_page_snapshots_per_caller"));
    }
  }
  EXPECT_EQ(refused, 47);
  // The other caller's list goes on to its end.
  pb::ListRequest next;
  next.set_resource("pods");
  next.set_limit(10);
  next.set_page_token(victim.next_page_token());
  pb::ListResponse rest;
  auto context = Context();
  grpc::Status status = other_->List(context.get(), next, &rest);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(rest.objects_size(), 4);
}

TEST_F(LimitsTest, AnAgedConnectionEndsItsStreamsWithUnavailableAndTheClientResubscribes) {
  config_.grpc_limits.max_connection_age = absl::Seconds(1);
  config_.grpc_limits.max_connection_age_grace = absl::Seconds(1);
  Fake(kPods)->Add(MakeObject("ns", "a", "0"));
  StartServer();
  Opened opened = Open(stub_.get());
  ASSERT_TRUE(opened.synced);
  const absl::Time started = absl::Now();
  pb::SubscribeResponse event;
  while (opened.stream.reader->Read(&event)) {
  }
  grpc::Status ended = opened.stream.reader->Finish();
  // GOAWAY after about a second, the stream cut a second later: UNAVAILABLE, which the
  // clients answer by resubscribing with the objects they hold.
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE) << ended.error_message();
  EXPECT_LT(absl::Now() - started, absl::Seconds(10));
  EXPECT_TRUE(SubscribeWithKnown({{"ns/a", "1"}}).ok());
  EXPECT_TRUE(Eventually([&] { return server_->service().stream_quota().total() == 0; }));
}

}  // namespace
}  // namespace server
}  // namespace informer
