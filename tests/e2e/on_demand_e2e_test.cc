// On-demand caching end to end (issue 20 items 1 and 2): informerd with --on_demand against a
// real kube-apiserver. The first read of a resource it does not cache starts its informer
// (UNAVAILABLE with a retry trailer until synced, or served in one call with wait_for_sync);
// concurrent first reads start one informer (counted on the API server's own /metrics: one
// LIST, one WATCH); a CRD created after start is served and, when deleted, ends its subscribers
// NOT_FOUND; Secrets are cached as metadata; a denied resource starts nothing; an idle
// on-demand informer stops and frees its cache (RSS and cache-bytes figures printed for the
// report) and starts again on the next read.
// Run by ctest when INFORMERD_TEST_KUBECONFIG is set; otherwise it reports itself skipped (77).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "informer/k8s/json_util.h"
#include "informer/k8s/rest_client.h"
#include "informer/v1/informer.grpc.pb.h"
#include "rapidjson/document.h"
#include "tests/e2e/cluster.h"
#include "tests/e2e/informerd_process.h"

namespace informer {
namespace e2e {
namespace {

namespace pb = ::informer::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

const TestCluster* g_cluster = nullptr;

constexpr char kCrdGroup[] = "ondemand.informerd.dev";
constexpr char kCrdPath[] = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";

// VmRSS of /proc/PID/status in KiB (0 when unreadable).
int64_t RssKib(pid_t pid) {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, "VmRSS:")) continue;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    int64_t kib = 0;
    return absl::SimpleAtoi(digits, &kib) ? kib : 0;
  }
  return 0;
}

// GET http://127.0.0.1:port/path: the body ("" on failure).
std::string HttpGet(int port, const std::string& path) {
  std::string out;
  FILE* pipe =
      popen(absl::StrCat("curl -s --max-time 10 http://127.0.0.1:", port, path).c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) out.append(buffer, n);
  pclose(pipe);
  return out;
}

// The sum of the samples of metric `name` in the Prometheus text `metrics` whose labels contain
// every one of `labels` (e.g. `resource="podtemplates"`); -1 when there is none.
double MetricSum(const std::string& metrics, absl::string_view name,
                 const std::vector<std::string>& labels) {
  double sum = -1;
  for (absl::string_view line : absl::StrSplit(metrics, '\n')) {
    if (!absl::StartsWith(line, name) || line.size() <= name.size() ||
        (line[name.size()] != '{' && line[name.size()] != ' ')) {
      continue;
    }
    const size_t space = line.rfind(' ');
    const absl::string_view series = line.substr(0, space);
    bool all = true;
    for (const std::string& label : labels) all = all && absl::StrContains(series, label);
    double value = 0;
    if (!all || !absl::SimpleAtod(line.substr(space + 1), &value)) continue;
    sum = (sum < 0 ? 0 : sum) + value;
  }
  return sum;
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(30)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

std::string Trailer(const grpc::ClientContext& context, const std::string& key) {
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(key);
  return it == trailers.end() ? "" : std::string(it->second.data(), it->second.size());
}

class OnDemandE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::shared_ptr<k8s::RestClient>> client =
        ClientForKubeconfig(g_cluster->kubeconfig);
    ASSERT_TRUE(client.ok()) << client.status();
    admin_ = new std::shared_ptr<k8s::RestClient>(*client);
    ns_ = new std::string(absl::StrCat("ondemand-", RandomSuffix()));
    ASSERT_TRUE(CreateOrKeep(**admin_, "/api/v1/namespaces",
                             absl::StrCat(R"({"metadata":{"name":")", *ns_, R"("}})"))
                    .ok());
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(
          CreateOrKeep(**admin_, absl::StrCat("/api/v1/namespaces/", *ns_, "/configmaps"),
                       absl::StrCat(R"({"metadata":{"name":"cm-)", i, R"("},"data":{"k":"v"}})"))
              .ok());
    }
    informerd_ = Start({}).release();
    ASSERT_NE(informerd_, nullptr);
  }
  static void TearDownTestSuite() {
    delete informerd_;
    (void)(*admin_)->Delete(absl::StrCat("/api/v1/namespaces/", *ns_));
    delete admin_;
    delete ns_;
  }

  // informerd caching pods of the test namespace as configured, everything else of it on
  // demand (limitranges denied), with `extra` flags; null when it did not sync.
  static std::unique_ptr<InformerdProcess> Start(std::vector<std::string> extra) {
    std::vector<std::string> flags = {absl::StrCat("--kubeconfig=", g_cluster->kubeconfig),
                                      "--listen=127.0.0.1:0",
                                      "--metrics_listen=127.0.0.1:0",
                                      "--log_format=json",
                                      absl::StrCat("--namespace=", *ns_),
                                      "--resources=pods",
                                      "--on_demand",
                                      "--on_demand_deny=limitranges",
                                      "--bookmark_interval=1s"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    std::unique_ptr<InformerdProcess> process = InformerdProcess::Start(INFORMERD_BINARY, flags);
    if (process == nullptr) return nullptr;
    if (!process->WaitForLog("every resource synced", absl::Seconds(60))) {
      ADD_FAILURE() << process->log();
      return nullptr;
    }
    return process;
  }

  static std::unique_ptr<pb::InformerService::Stub> Stub(const InformerdProcess& process) {
    return pb::InformerService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", process.grpc_port()), grpc::InsecureChannelCredentials()));
  }

  // The ListResources entry named `resource` (plural), or null.
  static std::optional<pb::ResourceStatus> Status(pb::InformerService::Stub& stub,
                                                  const std::string& resource) {
    pb::ListResourcesResponse response;
    grpc::Status status = stub.ListResources(Context().get(), {}, &response);
    if (!status.ok()) {
      ADD_FAILURE() << status.error_message();
      return std::nullopt;
    }
    for (const pb::ResourceStatus& entry : response.resources()) {
      if (entry.resource() == resource) return entry;
    }
    return std::nullopt;
  }

  // Counts lines of informerd's log holding both `a` and `b`.
  static int LogLines(const InformerdProcess& process, absl::string_view a, absl::string_view b) {
    int count = 0;
    for (absl::string_view line : absl::StrSplit(process.log(), '\n')) {
      if (absl::StrContains(line, a) && absl::StrContains(line, b)) ++count;
    }
    return count;
  }

  // Reads a Subscribe until SYNCED; the stream's status then (OK) or its end.
  static grpc::Status SubscribeUntilSynced(grpc::ClientReader<pb::SubscribeResponse>* reader,
                                           std::vector<std::string>* names) {
    pb::SubscribeResponse event;
    while (reader->Read(&event)) {
      if (event.type() == pb::EVENT_TYPE_SYNCED) return grpc::Status::OK;
      if (event.has_object()) names->push_back(event.object().name());
    }
    return reader->Finish();
  }

  static std::shared_ptr<k8s::RestClient>* admin_;
  static std::string* ns_;
  static InformerdProcess* informerd_;
};

std::shared_ptr<k8s::RestClient>* OnDemandE2eTest::admin_ = nullptr;
std::string* OnDemandE2eTest::ns_ = nullptr;
InformerdProcess* OnDemandE2eTest::informerd_ = nullptr;

TEST_F(OnDemandE2eTest, FirstReadIsUnavailableWithRetryInfoThenServed) {
  auto stub = Stub(*informerd_);
  EXPECT_FALSE(Status(*stub, "configmaps").has_value());
  pb::ListRequest request;
  request.set_resource("cm");  // a short name: kubectl's rules over what discovery knows
  request.set_namespace_(*ns_);
  pb::ListResponse response;
  auto first = Context();
  grpc::Status status = stub->List(first.get(), request, &response);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("configmaps.v1 is starting"));
  EXPECT_THAT(status.error_message(), HasSubstr("wait_for_sync"));
  EXPECT_EQ(Trailer(*first, "informer-retry-after-ms"), "1000");
  // Retried as the trailer says: served.
  ASSERT_TRUE(WaitFor(absl::Seconds(30), [&] {
    response.Clear();
    return stub->List(Context().get(), request, &response).ok();
  }));
  EXPECT_EQ(response.objects_size(), 3);
  std::optional<pb::ResourceStatus> entry = Status(*stub, "configmaps");
  ASSERT_TRUE(entry.has_value());
  EXPECT_EQ(entry->started_by(), pb::STARTED_BY_ON_DEMAND);
  EXPECT_TRUE(entry->synced());
  EXPECT_EQ(Status(*stub, "pods")->started_by(), pb::STARTED_BY_CONFIG);
  EXPECT_EQ(LogLines(*informerd_, "informer started on demand", "configmaps.v1"), 1);
  EXPECT_EQ(MetricSum(HttpGet(informerd_->metrics_port(), "/metrics"),
                      "informerd_on_demand_starts_total", {"resource=\"configmaps.v1\""}),
            1);
}

TEST_F(OnDemandE2eTest, WaitForSyncServesTheFirstReadInOneCall) {
  auto stub = Stub(*informerd_);
  pb::GetRequest request;
  request.set_resource("serviceaccount");
  request.set_namespace_(*ns_);
  request.set_name("default");
  request.set_wait_for_sync(true);
  pb::GetResponse response;
  ASSERT_TRUE(WaitFor(absl::Seconds(20), [&] {
    // The namespace's default ServiceAccount is created by its controller, if one runs; make
    // sure it exists.
    return CreateOrKeep(**admin_, absl::StrCat("/api/v1/namespaces/", *ns_, "/serviceaccounts"),
                        R"({"metadata":{"name":"default"}})")
        .ok();
  }));
  const absl::Time asked = absl::Now();
  grpc::Status status = stub->Get(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  printf("[figures] first Get of an uncached resource with wait_for_sync: %.1f ms\n",
         absl::ToDoubleMilliseconds(absl::Now() - asked));
  EXPECT_EQ(response.object().name(), "default");
  EXPECT_EQ(Status(*stub, "serviceaccounts")->started_by(), pb::STARTED_BY_ON_DEMAND);
}

TEST_F(OnDemandE2eTest, SecretsStartedOnDemandAreCachedAsMetadataOnly) {
  constexpr char kSecretValue[] = "b25kZW1hbmQtc2VjcmV0LXZhbHVl";  // base64
  ASSERT_TRUE(CreateOrKeep(**admin_, absl::StrCat("/api/v1/namespaces/", *ns_, "/secrets"),
                           absl::StrCat(R"({"metadata":{"name":"s1"},"data":{"password":")",
                                        kSecretValue, R"("}})"))
                  .ok());
  auto stub = Stub(*informerd_);
  pb::ListRequest request;
  request.set_resource("secrets");
  request.set_namespace_(*ns_);
  request.set_wait_for_sync(true);
  pb::ListResponse response;
  grpc::Status status = stub->List(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.objects_size(), 1);
  EXPECT_THAT(response.objects(0).json(), HasSubstr("PartialObjectMetadata"));
  EXPECT_THAT(response.objects(0).json(), Not(HasSubstr(kSecretValue)));
  EXPECT_EQ(Status(*stub, "secrets")->projection(), "metadata");
}

TEST_F(OnDemandE2eTest, DeniedResourceIsNotFoundAndStartsNothing) {
  auto stub = Stub(*informerd_);
  pb::ListRequest request;
  request.set_resource("limitranges");
  request.set_namespace_(*ns_);
  request.set_wait_for_sync(true);
  pb::ListResponse response;
  grpc::Status status = stub->List(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("on_demand_deny"));
  pb::SubscribeRequest subscribe;
  subscribe.set_resource("limitrange");
  auto context = Context();
  std::vector<std::string> names;
  auto reader = stub->Subscribe(context.get(), subscribe);
  EXPECT_EQ(SubscribeUntilSynced(reader.get(), &names).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_FALSE(Status(*stub, "limitranges").has_value());
  EXPECT_EQ(LogLines(*informerd_, "caching resource", "limitranges"), 0);
  EXPECT_EQ(MetricSum(HttpGet(informerd_->metrics_port(), "/metrics"),
                      "informerd_on_demand_starts_total", {"limitranges"}),
            -1);
  // Unknown names stay NOT_FOUND, saying the API server does not serve them either.
  request.set_resource("nosuchthings");
  status = stub->List(Context().get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("nor served by the API server"));
}

// The API server counts LISTs as requests and WATCHes as long-running requests; a fresh
// informerd with plain LIST (no streaming list) must add exactly one of each for the resource.
TEST_F(OnDemandE2eTest, ConcurrentFirstReadsStartOneInformerOneListOneWatch) {
  constexpr char kResource[] = "podtemplates";
  ASSERT_TRUE(CreateOrKeep(**admin_, absl::StrCat("/api/v1/namespaces/", *ns_, "/podtemplates"),
                           R"({"metadata":{"name":"t1"},"template":{"spec":{"containers":)"
                           R"([{"name":"c","image":"busybox"}]}}})")
                  .ok());
  std::unique_ptr<InformerdProcess> fresh = Start({"--streaming_list=false"});
  ASSERT_NE(fresh, nullptr);
  auto api_metrics = [] {
    absl::StatusOr<std::string> metrics = (*admin_)->Get("/metrics");
    EXPECT_TRUE(metrics.ok()) << metrics.status();
    return metrics.ok() ? *metrics : "";
  };
  const std::vector<std::string> list_labels = {"verb=\"LIST\"", "resource=\"podtemplates\""};
  const std::vector<std::string> watch_labels = {"verb=\"WATCH\"", "resource=\"podtemplates\""};
  const std::string before = api_metrics();
  const double lists_before =
      std::max(0.0, MetricSum(before, "apiserver_request_total", list_labels));
  const double watches_before =
      std::max(0.0, MetricSum(before, "apiserver_longrunning_requests", watch_labels));

  constexpr int kCallers = 24;
  absl::Notification go;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kCallers);
  std::vector<std::thread> callers;
  auto stub = Stub(*fresh);
  for (int i = 0; i < kCallers; ++i) {
    callers.emplace_back([&, i] {
      go.WaitForNotification();
      grpc::Status status;
      switch (i % 4) {
        case 0: {
          pb::ListRequest request;
          request.set_resource(kResource);
          request.set_wait_for_sync(true);
          pb::ListResponse response;
          status = stub->List(Context().get(), request, &response);
          if (status.ok() && response.objects_size() != 1) status = grpc::Status::CANCELLED;
          break;
        }
        case 1: {
          pb::GetRequest request;
          request.set_resource("podtemplate");
          request.set_namespace_(*ns_);
          request.set_name("t1");
          request.set_wait_for_sync(true);
          pb::GetResponse response;
          status = stub->Get(Context().get(), request, &response);
          break;
        }
        case 2: {
          pb::ByIndexRequest request;
          request.set_resource("PodTemplate");
          request.set_index_name("namespace");
          request.set_value(*ns_);
          request.set_wait_for_sync(true);
          pb::ByIndexResponse response;
          status = stub->ByIndex(Context().get(), request, &response);
          if (status.ok() && response.objects_size() != 1) status = grpc::Status::CANCELLED;
          break;
        }
        default: {
          // Without wait_for_sync: UNAVAILABLE (starting) or, once synced, OK: both fine; it
          // must not start a second informer.
          pb::ListRequest request;
          request.set_resource("podtemplates.v1");
          pb::ListResponse response;
          status = stub->List(Context().get(), request, &response);
          if (status.error_code() == grpc::StatusCode::UNAVAILABLE) status = grpc::Status::OK;
          break;
        }
      }
      if (status.ok()) {
        ok.fetch_add(1);
      } else {
        failures[i] = absl::StrCat(status.error_code(), ": ", status.error_message());
      }
    });
  }
  go.Notify();
  for (std::thread& caller : callers) caller.join();
  EXPECT_EQ(ok.load(), kCallers) << absl::StrJoin(failures, "; ");
  // A Subscribe with wait_for_sync on the now-synced informer starts nothing either.
  {
    pb::SubscribeRequest request;
    request.set_resource(kResource);
    request.set_wait_for_sync(true);
    auto context = Context();
    auto reader = stub->Subscribe(context.get(), request);
    std::vector<std::string> names;
    EXPECT_TRUE(SubscribeUntilSynced(reader.get(), &names).ok());
    EXPECT_THAT(names, ::testing::ElementsAre("t1"));
    context->TryCancel();
    reader->Finish();
  }
  double lists = 0, watches = 0;
  // The WATCH follows the LIST: wait for it to be counted.
  WaitFor(absl::Seconds(10), [&] {
    const std::string after = api_metrics();
    lists = MetricSum(after, "apiserver_request_total", list_labels) - lists_before;
    watches = MetricSum(after, "apiserver_longrunning_requests", watch_labels) - watches_before;
    return lists >= 1 && watches >= 1;
  });
  printf(
      "[figures] %d concurrent first reads: %.0f LIST and %.0f WATCH of %s reached the API "
      "server\n",
      kCallers, lists, watches, kResource);
  EXPECT_EQ(lists, 1);
  EXPECT_EQ(watches, 1);
  EXPECT_EQ(MetricSum(HttpGet(fresh->metrics_port(), "/metrics"),
                      "informerd_on_demand_starts_total", {"resource=\"podtemplates.v1\""}),
            1);
  EXPECT_EQ(LogLines(*fresh, "informer started on demand", "podtemplates.v1"), 1);
}

TEST_F(OnDemandE2eTest, CrdCreatedAfterStartIsServedAndItsDeletionEndsSubscribers) {
  const std::string run = RandomSuffix();
  const std::string plural = absl::StrCat("gizmos", run);
  const std::string crd_name = absl::StrCat(plural, ".", kCrdGroup);
  ASSERT_TRUE(
      (*admin_)
          ->Post(
              kCrdPath,
              absl::StrCat(
                  R"({"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",)",
                  R"("metadata":{"name":")", crd_name, R"("},"spec":{"group":")", kCrdGroup,
                  R"(","scope":"Namespaced","names":{"plural":")", plural, R"(","singular":")",
                  absl::StrCat("gizmo", run), R"(","kind":")", absl::StrCat("Gizmo", run),
                  R"("},"versions":[{"name":"v1","served":true,"storage":true,)",
                  R"("schema":{"openAPIV3Schema":{"type":"object",)",
                  R"("x-kubernetes-preserve-unknown-fields":true}}}]}})"))
          .ok());
  struct CrdCleanup {
    std::string path;
    ~CrdCleanup() { (void)(*admin_)->Delete(path); }
  } cleanup{absl::StrCat(kCrdPath, "/", crd_name)};
  const std::string objects =
      absl::StrCat("/apis/", kCrdGroup, "/v1/namespaces/", *ns_, "/", plural);
  // The CRD's REST path answers once it is established.
  ASSERT_TRUE(WaitFor(absl::Seconds(30), [&] {
    return CreateOrKeep(**admin_, objects,
                        absl::StrCat(R"({"apiVersion":")", kCrdGroup, R"(/v1","kind":"Gizmo)", run,
                                     R"(","metadata":{"name":"g1"}})"))
        .ok();
  }));

  auto stub = Stub(*informerd_);
  pb::SubscribeRequest request;
  request.set_resource(absl::StrCat(plural, ".", kCrdGroup));
  request.set_namespace_(*ns_);
  request.set_wait_for_sync(true);
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientReader<pb::SubscribeResponse>> reader;
  std::vector<std::string> names;
  grpc::Status started;
  // Discovery may trail the CRD by a moment: NOT_FOUND until informerd's discovery sees it.
  ASSERT_TRUE(WaitFor(absl::Seconds(30), [&] {
    context = Context(absl::Seconds(120));
    reader = stub->Subscribe(context.get(), request);
    names.clear();
    started = SubscribeUntilSynced(reader.get(), &names);
    return started.ok();
  })) << started.error_message();
  EXPECT_THAT(names, ::testing::ElementsAre("g1"));
  EXPECT_EQ(Status(*stub, plural)->started_by(), pb::STARTED_BY_ON_DEMAND);

  ASSERT_TRUE((*admin_)->Delete(absl::StrCat(kCrdPath, "/", crd_name)).ok());
  pb::SubscribeResponse event;
  bool deleted = false;
  while (reader->Read(&event)) {
    if (event.type() == pb::EVENT_TYPE_DELETED && event.object().name() == "g1") deleted = true;
  }
  grpc::Status ended = reader->Finish();
  EXPECT_TRUE(deleted);
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::NOT_FOUND) << ended.error_message();
  EXPECT_THAT(ended.error_message(), HasSubstr("no longer served by the API server"));
}

// Resources configured at start never idle out (pods here); the on-demand one stops.
TEST_F(OnDemandE2eTest, IdleInformerStopsFreesItsCacheAndStartsAgainOnTheNextRead) {
  constexpr int kObjects = 2000;
  const std::string ns = absl::StrCat("ondemand-idle-", RandomSuffix());
  ASSERT_TRUE(CreateOrKeep(**admin_, "/api/v1/namespaces",
                           absl::StrCat(R"({"metadata":{"name":")", ns, R"("}})"))
                  .ok());
  struct NamespaceCleanup {
    std::string path;
    ~NamespaceCleanup() { (void)(*admin_)->Delete(path); }
  } cleanup{absl::StrCat("/api/v1/namespaces/", ns)};
  // ~2 KB of data each, created from a few threads. Random bytes, so the cache holds them as
  // they are (informerd keeps JSON that compresses well compressed: 'x' * 2000 would take a
  // few bytes per object and leave nothing measurable to free).
  std::vector<std::string> payloads;
  std::mt19937_64 random(97);
  for (int i = 0; i < kObjects; ++i) {
    std::string bytes(1500, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    payloads.push_back(absl::Base64Escape(bytes));
  }
  std::vector<std::thread> writers;
  std::atomic<int> created{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kObjects; i += 4) {
        if (CreateOrKeep(**admin_, absl::StrCat("/api/v1/namespaces/", ns, "/configmaps"),
                         absl::StrCat(R"({"metadata":{"name":"big-)", i, R"("},"data":{"d":")",
                                      payloads[i], R"("}})"))
                .ok()) {
          created.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& writer : writers) writer.join();
  ASSERT_EQ(created.load(), kObjects);

  std::vector<std::string> flags = {absl::StrCat("--kubeconfig=", g_cluster->kubeconfig),
                                    "--listen=127.0.0.1:0",
                                    "--metrics_listen=127.0.0.1:0",
                                    "--log_format=json",
                                    absl::StrCat("--namespace=", ns),
                                    "--resources=pods",
                                    "--on_demand",
                                    "--on_demand_idle_timeout=4s",
                                    "--allow_runtime_indexes"};
  std::unique_ptr<InformerdProcess> idle = InformerdProcess::Start(INFORMERD_BINARY, flags);
  ASSERT_NE(idle, nullptr);
  ASSERT_TRUE(idle->WaitForLog("every resource synced", absl::Seconds(60))) << idle->log();
  auto stub = Stub(*idle);
  auto cache_bytes = [&] {
    return MetricSum(HttpGet(idle->metrics_port(), "/metrics"), "informerd_cache_bytes",
                     {"resource=\"configmaps.v1\""});
  };
  absl::SleepFor(absl::Seconds(1));
  const int64_t rss_before = RssKib(idle->pid());

  pb::ListRequest request;
  request.set_resource("configmaps");
  request.set_limit(10000);
  request.set_wait_for_sync(true);
  pb::ListResponse response;
  grpc::Status status = stub->List(Context().get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  // kube-root-ca.crt is there too when the cluster runs its publisher. The first page stops at
  // the message size bound; its snapshot holds the rest until dropped with the cache.
  EXPECT_GE(response.total_count(), kObjects);
  EXPECT_FALSE(response.next_page_token().empty());
  response.Clear();
  // A client's index, added at run time, outlives the idle stop (checked after the restart).
  pb::AddIndexRequest add_index;
  add_index.set_resource("configmaps");
  add_index.set_index("by-name=field:metadata.name");
  pb::AddIndexResponse added;
  status = stub->AddIndex(Context().get(), add_index, &added);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(added.created());
  auto by_name = [&](const std::string& name) {
    pb::ByIndexRequest by_index;
    by_index.set_resource("configmaps");
    by_index.set_index_name("by-name");
    by_index.set_value(name);
    pb::ByIndexResponse found;
    grpc::Status s = stub->ByIndex(Context().get(), by_index, &found);
    EXPECT_TRUE(s.ok()) << s.error_message();
    std::vector<std::string> names;
    for (const pb::Object& object : found.objects()) names.push_back(object.name());
    return names;
  };
  EXPECT_THAT(by_name("big-7"), ElementsAre("big-7"));
  const int64_t rss_cached = RssKib(idle->pid());
  const double bytes_cached = cache_bytes();
  EXPECT_GT(bytes_cached, kObjects * 2000);

  // Nothing reads it now: it stops within the idle timeout (4 s) plus the 1 s idle check.
  ASSERT_TRUE(idle->WaitForLog("idle informer stopped", absl::Seconds(20))) << idle->log();
  EXPECT_EQ(LogLines(*idle, "idle informer stopped", "configmaps.v1"), 1);
  EXPECT_EQ(LogLines(*idle, "idle informer stopped", "pods"), 0);
  absl::SleepFor(absl::Seconds(1));
  const int64_t rss_stopped = RssKib(idle->pid());
  const std::string metrics = HttpGet(idle->metrics_port(), "/metrics");
  EXPECT_EQ(MetricSum(metrics, "informerd_cache_bytes", {"resource=\"configmaps.v1\""}), -1);
  EXPECT_EQ(MetricSum(metrics, "informerd_idle_stops_total", {"resource=\"configmaps.v1\""}), 1);
  EXPECT_FALSE(Status(*stub, "configmaps").has_value());
  EXPECT_EQ(Status(*stub, "pods")->started_by(), pb::STARTED_BY_CONFIG);

  printf(
      "[figures] informerd RSS: %.1f MiB before, %.1f MiB holding %d ConfigMaps of ~2 KB "
      "(informerd_cache_bytes %.1f MiB), %.1f MiB after the idle stop (cache_bytes series "
      "gone)\n",
      rss_before / 1024.0, rss_cached / 1024.0, kObjects, bytes_cached / (1 << 20),
      rss_stopped / 1024.0);

#if !defined(__SANITIZE_ADDRESS__)
  // glibc keeps freed memory unless trimmed, which informerd does after an idle stop: at least
  // a few MiB of what caching took must come back. (Not under ASan: its allocator quarantines
  // freed memory and is not glibc's, so only the cache-bytes series says it was freed.)
  EXPECT_LT(rss_stopped, rss_cached - 2 * 1024)
      << "RSS did not drop after the idle stop: before " << rss_before << " KiB, cached "
      << rss_cached << " KiB, stopped " << rss_stopped << " KiB";
#endif

  // The next read starts it again.
  request.set_wait_for_sync(false);
  auto again = Context();
  status = stub->List(again.get(), request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  request.set_wait_for_sync(true);
  ASSERT_TRUE(stub->List(Context().get(), request, &response).ok());
  EXPECT_GE(response.total_count(), kObjects);
  EXPECT_EQ(MetricSum(HttpGet(idle->metrics_port(), "/metrics"), "informerd_on_demand_starts_total",
                      {"resource=\"configmaps.v1\""}),
            2);
  // The index added to the first cache serves on the second.
  EXPECT_THAT(by_name("big-7"), ElementsAre("big-7"));
  EXPECT_EQ(LogLines(*idle, "runtime indexes registered again", "by-name"), 1);
}

}  // namespace
}  // namespace e2e
}  // namespace informer

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  std::optional<informer::e2e::TestCluster> cluster = informer::e2e::TestClusterFromEnv();
  if (!cluster.has_value()) {
    fprintf(stderr, "INFORMERD_TEST_KUBECONFIG is not set: skipping (run scripts/test)\n");
    return 77;
  }
  informer::e2e::g_cluster = &*cluster;
  return RUN_ALL_TESTS();
}
