// What a broken or hostile API server can send, and what informerd does with it (issue 16):
// a response body or a watch event over its cap, JSON nested past the API server's own depth
// limit, invalid UTF-8. Each fails the request or the watch that carried it, with a status that
// names the limit; the process and the other informers carry on.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/k8s/rest_client.h"
#include "informer/k8s/rest_lister_watcher.h"
#include "informer/k8s/testing/test_server.h"
#include "informer/shared_informer.h"

namespace informer {
namespace k8s {
namespace {

using ::informer::k8s::testing::TestConnection;
using ::informer::k8s::testing::TestHandler;
using ::informer::k8s::testing::TestRequest;
using ::informer::k8s::testing::TestServer;
using ::testing::HasSubstr;

ResourceInfo Resource(const std::string& plural, const std::string& kind) {
  ResourceInfo info;
  info.gvr = {"", "v1", plural};
  info.kind = kind;
  info.verbs = {"list", "watch"};
  return info;
}

// The start of a watch event whose object ends in one long string (see SendHugeFrame).
std::string HugeEventHead() {
  return R"({"type":"ADDED","object":{"metadata":{"name":"big","namespace":"ns","resourceVersion":"2"},"data":{"x":")";
}

// A watch event whose object nests `depth` arrays.
std::string DeepEvent(int depth) {
  std::string event =
      R"({"type":"ADDED","object":{"metadata":{"name":"deep","namespace":"ns","resourceVersion":"2"},"spec":)";
  event.append(depth, '[');
  event.append(depth, ']');
  event += "}}\n";
  return event;
}

// Streams a frame of `bytes` in 1 MiB chunks; stops early once the client is gone.
void SendHugeFrame(TestConnection* connection, size_t bytes) {
  const std::string chunk(size_t{1} << 20, 'A');
  if (!connection->WriteChunk(HugeEventHead())) return;
  for (size_t sent = 0; sent < bytes; sent += chunk.size()) {
    if (!connection->WriteChunk(chunk)) return;
  }
  connection->WriteChunk("\"}}}\n");
}

class HostileInputTest : public ::testing::Test {
 protected:
  void Start(TestHandler handler, HttpOptions options = {}) {
    absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    RestConfig config;
    config.server = server_->url();
    absl::StatusOr<std::shared_ptr<RestClient>> client = RestClient::Create(config, options);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *client;
  }

  // Opens a watch of configmaps and returns the status its stream ends with.
  absl::Status WatchEnd() {
    ObjectDecoder decoder(Resource("configmaps", "ConfigMap"), {});
    absl::StatusOr<std::unique_ptr<WatchStream>> stream =
        client_->Watch("/api/v1/configmaps", {}, decoder);
    if (!stream.ok()) return stream.status();
    while (true) {
      absl::StatusOr<std::optional<WatchEvent>> event = (*stream)->Next();
      if (!event.ok()) return event.status();
      if (!event->has_value()) return absl::OkStatus();
    }
  }

  std::unique_ptr<TestServer> server_;
  std::shared_ptr<RestClient> client_;
};

TEST_F(HostileInputTest, WatchFrameOverTheCapFailsTheWatchNamingTheFlag) {
  Start(
      [](const TestRequest&, TestConnection* connection) {
        connection->StartChunked(200);
        SendHugeFrame(connection, 8 << 20);
      },
      [] {
        HttpOptions options;
        options.max_watch_frame_bytes = 1 << 20;
        return options;
      }());
  absl::Status end = WatchEnd();
  EXPECT_EQ(end.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(end.message(), HasSubstr("larger than the cap of 1048576 bytes"));
  EXPECT_THAT(end.message(), HasSubstr("--max_watch_frame_bytes"));
}

TEST_F(HostileInputTest, WatchEventNestedPastTheApiServersDepthFailsTheWatch) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk(DeepEvent(100000));
    connection->EndChunked();
  });
  absl::Status end = WatchEnd();
  EXPECT_EQ(end.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(end.message(), HasSubstr("nested deeper than 10000 levels"));
}

TEST_F(HostileInputTest, WatchEventWithInvalidUtf8FailsTheWatch) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk(
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\","
        "\"resourceVersion\":\"2\"},\"data\":{\"k\":\"\xc3\x28\"}}}\n");
    connection->EndChunked();
  });
  absl::Status end = WatchEnd();
  EXPECT_EQ(end.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(end.message(), HasSubstr("invalid UTF-8"));
}

TEST_F(HostileInputTest, ResponseBodyOverTheCapFailsTheRequestNamingTheFlag) {
  Start([](const TestRequest&,
           TestConnection* connection) { connection->Respond(200, std::string(3 << 20, ' ')); },
        [] {
          HttpOptions options;
          options.max_response_bytes = 1 << 20;
          return options;
        }());
  ObjectDecoder decoder(Resource("configmaps", "ConfigMap"), {});
  absl::StatusOr<ListPage> page = client_->List("/api/v1/configmaps", {}, decoder);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(page.status().message(), HasSubstr("larger than the cap of 1048576 bytes"));
  EXPECT_THAT(page.status().message(), HasSubstr("--max_response_bytes"));
}

// Two informers on one client: the secrets watch gets a 100 MB event (over the default 64 MiB
// cap), then a 100 000-deep one; each fails that watch (reported to the error handler) and the
// reflector retries, while the configmaps informer keeps receiving its events.
TEST_F(HostileInputTest, HostileWatchFailsOneInformerWhileAnotherKeepsServing) {
  std::atomic<int> secret_watches{0};
  absl::Notification release_configmap_event;
  Start([&](const TestRequest& request, TestConnection* connection) {
    const bool secrets = request.path == "/api/v1/secrets";
    if (request.Param("watch") != "true") {
      connection->Respond(
          200,
          absl::StrCat(R"({"kind":")", secrets ? "SecretList" : "ConfigMapList",
                       R"(","apiVersion":"v1","metadata":{"resourceVersion":"1"},"items":[]})"));
      return;
    }
    connection->StartChunked(200);
    if (secrets) {
      const int attempt = ++secret_watches;
      if (attempt == 1) {
        SendHugeFrame(connection, size_t{100} << 20);
      } else if (attempt == 2) {
        connection->WriteChunk(DeepEvent(100000));
      } else {
        release_configmap_event.Notify();
      }
      connection->WaitForClientClose(absl::Seconds(30));
      return;
    }
    // The configmaps watch delivers one event once the secrets informer has failed twice.
    release_configmap_event.WaitForNotificationWithTimeout(absl::Seconds(30));
    connection->WriteChunk(
        R"({"type":"ADDED","object":{"metadata":{"name":"after","namespace":"ns","resourceVersion":"5"}}})"
        "\n");
    connection->WaitForClientClose(absl::Seconds(30));
  });

  auto make = [&](const ResourceInfo& resource) {
    InformerOptions options;
    options.resource = resource;
    options.reflector.backoff.initial = absl::Milliseconds(10);
    options.reflector.backoff.max = absl::Milliseconds(50);
    // The scripted server answers LIST and WATCH, not streaming lists.
    options.reflector.use_streaming_list = false;
    return std::make_unique<SharedIndexInformer>(
        std::make_shared<RestListerWatcher>(client_, resource, ""), options);
  };
  std::unique_ptr<SharedIndexInformer> configmaps = make(Resource("configmaps", "ConfigMap"));
  std::unique_ptr<SharedIndexInformer> secrets = make(Resource("secrets", "Secret"));
  absl::Mutex mu;
  std::vector<std::string> secret_errors;
  secrets->SetWatchErrorHandler([&](const absl::Status& status) {
    absl::MutexLock lock(&mu);
    secret_errors.push_back(std::string(status.message()));
  });
  ASSERT_TRUE(configmaps->Run().ok());
  ASSERT_TRUE(secrets->Run().ok());

  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (configmaps->store().GetByKey("ns/after") == nullptr && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_NE(configmaps->store().GetByKey("ns/after"), nullptr);
  EXPECT_TRUE(secrets->HasSynced());
  EXPECT_EQ(secrets->store().GetByKey("ns/big"), nullptr);
  EXPECT_EQ(secrets->store().GetByKey("ns/deep"), nullptr);
  EXPECT_GE(secret_watches.load(), 3);
  {
    absl::MutexLock lock(&mu);
    ASSERT_GE(secret_errors.size(), 2u);
    EXPECT_THAT(secret_errors[0], HasSubstr("--max_watch_frame_bytes"));
    EXPECT_THAT(secret_errors[1], HasSubstr("nested deeper than 10000 levels"));
  }
  EXPECT_TRUE(configmaps->LastError().ok()) << configmaps->LastError();
  secrets->Stop();
  configmaps->Stop();
}

}  // namespace
}  // namespace k8s
}  // namespace informer
