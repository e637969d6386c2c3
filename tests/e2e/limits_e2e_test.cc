// Limits on what one caller may hold, end to end: informerd against a real kube-apiserver, a
// hostile caller (TCP from 127.0.0.1) and a well-behaved one (over a unix socket: another
// caller, since without --auth a caller is its address). The hostile one floods page
// snapshots, known_objects, streams and waits and is refused with RESOURCE_EXHAUSTED naming each
// limit; the other keeps being served throughout. Prints the measured figures (RSS growth under
// a 64 MiB known_objects, time to refuse) for the report.
// Run by ctest when INFORMERD_TEST_KUBECONFIG is set; otherwise it reports itself skipped (77).
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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
using ::testing::HasSubstr;

const TestCluster* g_cluster = nullptr;

constexpr int kObjects = 20;
constexpr int kStreamsPerCaller = 5;
constexpr int kSnapshotsPerCaller = 8;
constexpr int kWaitsPerCaller = 5;
constexpr int kKnownObjects = 5000;

// `field` (VmRSS, VmHWM: the peak) of /proc/PID/status in KiB (0 when unreadable).
int64_t MemoryKib(pid_t pid, absl::string_view field = "VmRSS") {
  std::ifstream status(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(status, line)) {
    if (!absl::StartsWith(line, absl::StrCat(field, ":"))) continue;
    int64_t kib = 0;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
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

std::string ResourceVersionOf(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  if (document.HasParseError() || !document.IsObject()) return "";
  auto it = document.FindMember("metadata");
  return it == document.MemberEnd() ? "" : k8s::StringMember(it->value, "resourceVersion");
}

std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(20)) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  return context;
}

class LimitsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::shared_ptr<k8s::RestClient>> client =
        ClientForKubeconfig(g_cluster->kubeconfig);
    ASSERT_TRUE(client.ok()) << client.status();
    admin_ = new std::shared_ptr<k8s::RestClient>(*client);
    ns_ = new std::string(absl::StrCat("limits-", RandomSuffix()));
    ASSERT_TRUE(CreateOrKeep(**admin_, "/api/v1/namespaces",
                             absl::StrCat(R"({"metadata":{"name":")", *ns_, R"("}})"))
                    .ok());
    for (int i = 0; i < kObjects; ++i) {
      ASSERT_TRUE(CreateOrKeep(**admin_, absl::StrCat("/api/v1/namespaces/", *ns_, "/configmaps"),
                               absl::StrCat(R"({"metadata":{"name":"cm-)", i, R"("}})"))
                      .ok());
    }
    socket_ = new std::string(absl::StrCat("/tmp/informerd-limits-e2e-", getpid(), ".sock"));
    informerd_ =
        InformerdProcess::Start(
            INFORMERD_BINARY,
            {absl::StrCat("--kubeconfig=", g_cluster->kubeconfig),
             absl::StrCat("--listen=127.0.0.1:0,unix:", *socket_), "--metrics_listen=127.0.0.1:0",
             "--log_format=json", absl::StrCat("--namespace=", *ns_), "--resources=configmaps",
             "--bookmark_interval=1s",
             absl::StrCat("--max_subscribers_per_caller=", kStreamsPerCaller),
             absl::StrCat("--max_page_snapshots_per_caller=", kSnapshotsPerCaller),
             absl::StrCat("--max_waits_per_caller=", kWaitsPerCaller),
             absl::StrCat("--max_known_objects=", kKnownObjects)})
            .release();
    ASSERT_NE(informerd_, nullptr);
    ASSERT_TRUE(informerd_->WaitForLog("every resource synced", absl::Seconds(60)))
        << informerd_->log();
    hostile_ = pb::InformerService::NewStub(
                   grpc::CreateChannel(absl::StrCat("127.0.0.1:", informerd_->grpc_port()),
                                       grpc::InsecureChannelCredentials()))
                   .release();
    polite_ = pb::InformerService::NewStub(grpc::CreateChannel(absl::StrCat("unix:", *socket_),
                                                               grpc::InsecureChannelCredentials()))
                  .release();
  }
  static void TearDownTestSuite() {
    delete hostile_;
    delete polite_;
    delete informerd_;
    (void)(*admin_)->Delete(absl::StrCat("/api/v1/namespaces/", *ns_));
    unlink(socket_->c_str());
    delete admin_;
    delete ns_;
    delete socket_;
  }

  // Creates a ConfigMap; its resourceVersion.
  static std::string Write(const std::string& name) {
    absl::StatusOr<std::string> created =
        (*admin_)->Post(absl::StrCat("/api/v1/namespaces/", *ns_, "/configmaps"),
                        absl::StrCat(R"({"metadata":{"name":")", name, R"("}})"));
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? ResourceVersionOf(*created) : "";
  }

  // The first page (limit 1) of every ConfigMap.
  static grpc::Status FirstPage(pb::InformerService::Stub* stub, pb::ListResponse* response) {
    pb::ListRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(*ns_);
    request.set_limit(1);
    auto context = Context();
    return stub->List(context.get(), request, response);
  }

  // The polite caller is served: a List answers every object.
  static void ExpectPoliteServed() {
    pb::ListRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(*ns_);
    pb::ListResponse response;
    auto context = Context();
    grpc::Status status = polite_->List(context.get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_GE(response.objects_size(), kObjects);
  }

  static std::shared_ptr<k8s::RestClient>* admin_;
  static std::string* ns_;
  static std::string* socket_;
  static InformerdProcess* informerd_;
  static pb::InformerService::Stub* hostile_;
  static pb::InformerService::Stub* polite_;
};

std::shared_ptr<k8s::RestClient>* LimitsE2eTest::admin_ = nullptr;
std::string* LimitsE2eTest::ns_ = nullptr;
std::string* LimitsE2eTest::socket_ = nullptr;
InformerdProcess* LimitsE2eTest::informerd_ = nullptr;
pb::InformerService::Stub* LimitsE2eTest::hostile_ = nullptr;
pb::InformerService::Stub* LimitsE2eTest::polite_ = nullptr;

TEST_F(LimitsE2eTest, AThousandPageSnapshotsOfOneCallerNeverEvictAnothersToken) {
  pb::ListResponse polite_first;
  ASSERT_TRUE(FirstPage(polite_, &polite_first).ok());
  ASSERT_FALSE(polite_first.next_page_token().empty());
  int refused = 0;
  int served = 0;
  const absl::Time started = absl::Now();
  for (int i = 0; i < 1000; ++i) {
    pb::ListResponse response;
    grpc::Status status = FirstPage(hostile_, &response);
    if (status.ok()) {
      ++served;
    } else {
      ASSERT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
          << status.error_message();
      EXPECT_THAT(status.error_message(), HasSubstr("--max_page_snapshots_per_caller"));
      ++refused;
    }
  }
  const absl::Duration elapsed = absl::Now() - started;
  printf("[figures] 1000 limit=1 Lists of one caller: %d served, %d refused, %.2f ms each\n",
         served, refused, absl::ToDoubleMilliseconds(elapsed) / 1000);
  EXPECT_LE(served, kSnapshotsPerCaller);
  EXPECT_GE(refused, 1000 - kSnapshotsPerCaller);
  // The polite caller's list goes on to its end from its own snapshot.
  pb::ListRequest next;
  next.set_resource("configmaps");
  next.set_namespace_(*ns_);
  next.set_limit(1000);
  next.set_page_token(polite_first.next_page_token());
  pb::ListResponse rest;
  auto context = Context();
  grpc::Status status = polite_->List(context.get(), next, &rest);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(rest.objects_size() + 1, polite_first.total_count());
}

TEST_F(LimitsE2eTest, KnownObjectsFloodsAreRefusedCheaply) {
  const pid_t pid = informerd_->pid();
  const int64_t rss_before = MemoryKib(pid);
  const int64_t peak_before = MemoryKib(pid, "VmHWM");
  // Beyond the entry cap: 2 × kKnownObjects well-formed entries (within the receive limit).
  {
    pb::SubscribeRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(*ns_);
    for (int i = 0; i < 2 * kKnownObjects; ++i) {
      (*request.mutable_known_objects())[absl::StrCat(*ns_, "/cm-", i)] = "1";
    }
    auto context = Context();
    const absl::Time sent = absl::Now();
    auto reader = hostile_->Subscribe(context.get(), request);
    pb::SubscribeResponse event;
    EXPECT_FALSE(reader->Read(&event));
    grpc::Status status = reader->Finish();
    const absl::Duration took = absl::Now() - sent;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_THAT(status.error_message(), HasSubstr("--max_known_objects"));
    printf("[figures] known_objects of %d entries (cap %d) refused in %.2f ms (round trip)\n",
           2 * kKnownObjects, kKnownObjects, absl::ToDoubleMilliseconds(took));
  }
  // 64 MiB of known_objects, past the 16 MiB receive limit, five times over.
  for (int round = 0; round < 5; ++round) {
    pb::SubscribeRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(*ns_);
    const std::string pad(200, 'x');
    for (int i = 0; (i + 1) * 230 < (64 << 20); ++i) {
      (*request.mutable_known_objects())[absl::StrCat(*ns_, "/", pad, i)] = "1";
    }
    auto context = Context(absl::Seconds(60));
    const absl::Time sent = absl::Now();
    auto reader = hostile_->Subscribe(context.get(), request);
    pb::SubscribeResponse event;
    EXPECT_FALSE(reader->Read(&event));
    grpc::Status status = reader->Finish();
    // gRPC's own refusal ("larger than max") or, past --grpc_memory_bytes while it still
    // buffers the request, its reset of the stream (RST_STREAM 11, ENHANCE_YOUR_CALM) or, when
    // the quota's reclaimer closes the connection while this client is still writing the
    // 64 MiB, UNAVAILABLE with the socket error the client's write got (seen on two busy
    // cores: "Broken pipe"). Which one depends on timing in gRPC 1.51; every one is a refusal,
    // and what the server keeps is checked below.
    const bool refused =
        status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
        absl::StrContains(status.error_message(), "RST_STREAM with error code 11") ||
        (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
         (absl::StrContains(status.error_message(), "Broken pipe") ||
          absl::StrContains(status.error_message(), "Connection reset") ||
          absl::StrContains(status.error_message(), "Socket closed")));
    EXPECT_TRUE(refused) << status.error_code() << ": " << status.error_message();
    if (round == 0) {
      printf("[figures] a %zu-byte known_objects refused in %.1f ms: %s\n", request.ByteSizeLong(),
             absl::ToDoubleMilliseconds(absl::Now() - sent), status.error_message().c_str());
    }
  }
  const int64_t rss_after = MemoryKib(pid);
  const int64_t peak_after = MemoryKib(pid, "VmHWM");
  printf(
      "[figures] informerd RSS before %lld KiB, after 5 x 64 MiB known_objects %lld KiB "
      "(growth %lld KiB); peak before %lld KiB, after %lld KiB (growth %lld KiB)\n",
      static_cast<long long>(rss_before), static_cast<long long>(rss_after),
      static_cast<long long>(rss_after - rss_before), static_cast<long long>(peak_before),
      static_cast<long long>(peak_after), static_cast<long long>(peak_after - peak_before));
  // gRPC buffers a request whole before refusing it (grpc/grpc#43012); --grpc_memory_bytes
  // (32 MiB) makes it reset the stream before the end. The peak depends on when gRPC's
  // reclaimer runs: about 40 MiB idle, up to about 58 on two busy cores (without the quota
  // 67, and before these limits, when the entries were built, 760). What informerd keeps
  // afterwards is what the allocator retains of those buffers.
#ifndef __SANITIZE_ADDRESS__
  EXPECT_LT(peak_after - rss_before, 80 * 1024);
  EXPECT_LT(rss_after - rss_before, 64 * 1024);
#else
  // Under AddressSanitizer (informerd is built the same way as this test) freed memory sits in
  // ASan's quarantine (256 MiB by default), so RSS says nothing about what informerd holds:
  // the figures above are printed, the bounds are checked by the default build's run.
#endif
  ExpectPoliteServed();
}

TEST_F(LimitsE2eTest, StreamsPastOneCallersCapAreRefusedWhileAnotherCallerFollowsChanges) {
  struct Stream {
    std::unique_ptr<grpc::ClientContext> context;
    std::unique_ptr<grpc::ClientReader<pb::SubscribeResponse>> reader;
  };
  auto open = [](pb::InformerService::Stub* stub, grpc::Status* ended) {
    Stream stream;
    stream.context = Context(absl::Seconds(60));
    pb::SubscribeRequest request;
    request.set_resource("configmaps");
    request.set_namespace_(*ns_);
    stream.reader = stub->Subscribe(stream.context.get(), request);
    pb::SubscribeResponse event;
    while (stream.reader->Read(&event)) {
      if (event.type() == pb::EVENT_TYPE_SYNCED) return stream;
    }
    *ended = stream.reader->Finish();
    stream.reader.reset();
    return stream;
  };
  std::vector<Stream> hostile;
  grpc::Status refused;
  for (int i = 0; i < kStreamsPerCaller + 3; ++i) {
    grpc::Status ended;
    Stream stream = open(hostile_, &ended);
    if (stream.reader != nullptr) {
      hostile.push_back(std::move(stream));
    } else {
      refused = ended;
    }
  }
  EXPECT_EQ(hostile.size(), static_cast<size_t>(kStreamsPerCaller));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("--max_subscribers_per_caller"));
  // The polite caller subscribes and follows a change written to the API server.
  grpc::Status ended;
  Stream polite = open(polite_, &ended);
  ASSERT_NE(polite.reader, nullptr) << ended.error_message();
  const std::string name = absl::StrCat("late-", RandomSuffix());
  Write(name);
  pb::SubscribeResponse event;
  bool seen = false;
  while (!seen && polite.reader->Read(&event)) {
    seen = event.type() == pb::EVENT_TYPE_ADDED && event.object().name() == name;
  }
  EXPECT_TRUE(seen);
  polite.context->TryCancel();
  for (Stream& stream : hostile) stream.context->TryCancel();
}

TEST_F(LimitsE2eTest, WaitsPastOneCallersCapAreRefusedWhileAnotherCallersWaitIsWokenByProgress) {
  // The hostile caller waits for a version far ahead of the cluster.
  std::vector<std::thread> waits;
  std::atomic<int> ended{0};
  for (int i = 0; i < kWaitsPerCaller; ++i) {
    waits.emplace_back([&] {
      pb::ListRequest request;
      request.set_resource("configmaps");
      request.set_namespace_(*ns_);
      request.set_min_resource_version("999999999999");
      pb::ListResponse response;
      auto context = Context(absl::Seconds(8));
      hostile_->List(context.get(), request, &response);
      ended.fetch_add(1);
    });
  }
  // Every slot taken (the metrics say so): the next wait is refused at once.
  const bool all_waiting = WaitFor(absl::Seconds(5), [&] {
    return absl::StrContains(
        HttpGet(informerd_->metrics_port(), "/metrics"),
        absl::StrCat("informerd_limit_in_use{limit=\"waits\"} ", kWaitsPerCaller, "\n"));
  });
  EXPECT_TRUE(all_waiting);
  pb::ListRequest probe;
  probe.set_resource("configmaps");
  probe.set_namespace_(*ns_);
  probe.set_min_resource_version("999999999999");
  pb::ListResponse probed;
  auto probe_context = Context(absl::Seconds(5));
  const absl::Time probed_at = absl::Now();
  grpc::Status refused = hostile_->List(probe_context.get(), probe, &probed);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.error_message();
  EXPECT_THAT(refused.error_message(), HasSubstr("--max_waits_per_caller"));
  EXPECT_LT(absl::Now() - probed_at, absl::Seconds(1));
  // The polite caller reads its own write: its wait is woken by the informer's progress.
  const std::string rv = Write(absl::StrCat("rw-", RandomSuffix()));
  pb::ListRequest request;
  request.set_resource("configmaps");
  request.set_namespace_(*ns_);
  request.set_min_resource_version(rv);
  pb::ListResponse response;
  auto context = Context(absl::Seconds(10));
  const absl::Time asked = absl::Now();
  grpc::Status status = polite_->List(context.get(), request, &response);
  printf(
      "[figures] read-your-write wait answered in %.1f ms while %d waits of another caller "
      "pend\n",
      absl::ToDoubleMilliseconds(absl::Now() - asked), kWaitsPerCaller);
  EXPECT_TRUE(status.ok()) << status.error_message();
  for (std::thread& wait : waits) wait.join();
  EXPECT_EQ(ended.load(), kWaitsPerCaller);
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
