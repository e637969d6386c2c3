#include "informer/k8s/rest_client.h"

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/api_status.h"
#include "informer/k8s/rest_lister_watcher.h"
#include "informer/k8s/testing/test_server.h"

namespace informer {
namespace k8s {
namespace {

using ::informer::k8s::testing::TestConnection;
using ::informer::k8s::testing::TestHandler;
using ::informer::k8s::testing::TestRequest;
using ::informer::k8s::testing::TestServer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

ResourceInfo ConfigMaps() {
  ResourceInfo info;
  info.gvr = {"", "v1", "configmaps"};
  info.kind = "ConfigMap";
  info.verbs = {"list", "watch", "get"};
  return info;
}

ResourceInfo Deployments() {
  ResourceInfo info;
  info.gvr = {"apps", "v1", "deployments"};
  info.kind = "Deployment";
  return info;
}

ResourceInfo Namespaces() {
  ResourceInfo info;
  info.gvr = {"", "v1", "namespaces"};
  info.kind = "Namespace";
  info.namespaced = false;
  return info;
}

constexpr char kListBody[] = R"({"kind":"ConfigMapList","apiVersion":"v1",
  "metadata":{"resourceVersion":"500","continue":"next-page-token","remainingItemCount":7},
  "items":[
    {"metadata":{"name":"a","namespace":"ns","resourceVersion":"10","managedFields":[{"manager":"x"}]},"data":{"k":"v"}},
    {"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"b","namespace":"ns","resourceVersion":"11"},"data":{"n":9007199254740993}}
  ]})";

const char kExpiredStatus[] =
    R"({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"The provided continue parameter is too old to display a consistent list result.","reason":"Expired","code":410})";

class RestClientTest : public ::testing::Test {
 protected:
  void Start(TestHandler handler) {
    absl::StatusOr<std::unique_ptr<TestServer>> server = TestServer::Start(std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    RestConfig config;
    config.server = server_->url();
    absl::StatusOr<std::shared_ptr<RestClient>> client = RestClient::Create(config);
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *client;
  }

  // Reads events until the stream ends; "<TYPE> <key> <rv>" each, then "END" or "ERROR <code>".
  std::vector<std::string> Drain(WatchStream* stream) {
    std::vector<std::string> out;
    while (true) {
      absl::StatusOr<std::optional<WatchEvent>> event = stream->Next();
      if (!event.ok()) {
        out.push_back(absl::StrCat("FAILED ", absl::StatusCodeToString(event.status().code())));
        return out;
      }
      if (!event->has_value()) {
        out.push_back("END");
        return out;
      }
      const WatchEvent& e = **event;
      switch (e.type) {
        case WatchEventType::kAdded:
          out.push_back(
              absl::StrCat("ADDED ", e.object->key(), " ", e.object->meta().resource_version));
          break;
        case WatchEventType::kModified:
          out.push_back(
              absl::StrCat("MODIFIED ", e.object->key(), " ", e.object->meta().resource_version));
          break;
        case WatchEventType::kDeleted:
          out.push_back(
              absl::StrCat("DELETED ", e.object->key(), " ", e.object->meta().resource_version));
          break;
        case WatchEventType::kBookmark:
          out.push_back(absl::StrCat("BOOKMARK ", e.object->meta().resource_version));
          break;
        case WatchEventType::kError:
          out.push_back(absl::StrCat("ERROR ", e.error.code, " ", e.error.reason));
          break;
      }
    }
  }

  ObjectDecoder decoder_{ConfigMaps(), DefaultTransforms()};
  std::unique_ptr<TestServer> server_;
  std::shared_ptr<RestClient> client_;
};

TEST(ResourcePathTest, CoreGroupNamespacedAndClusterScoped) {
  EXPECT_EQ(ResourcePath(ConfigMaps(), ""), "/api/v1/configmaps");
  EXPECT_EQ(ResourcePath(ConfigMaps(), "kube-system"), "/api/v1/namespaces/kube-system/configmaps");
  EXPECT_EQ(ResourcePath(ConfigMaps(), "ns", "my-cm"), "/api/v1/namespaces/ns/configmaps/my-cm");
  EXPECT_EQ(ResourcePath(Deployments(), "ns"), "/apis/apps/v1/namespaces/ns/deployments");
  // A namespace means nothing to a cluster-scoped resource.
  EXPECT_EQ(ResourcePath(Namespaces(), "ns", "default"), "/api/v1/namespaces/default");
}

TEST(ListQueryTest, ListAndWatchParameters) {
  ListOptions options;
  options.label_selector = "app=x";
  options.field_selector = "metadata.name=y";
  options.resource_version = "0";
  options.resource_version_match = "NotOlderThan";
  options.limit = 500;
  options.continue_token = "tok";
  options.allow_watch_bookmarks = true;
  options.timeout_seconds = 300;
  options.send_initial_events = true;
  using P = std::pair<std::string, std::string>;
  EXPECT_THAT(ListQuery(options, false),
              ElementsAre(P{"labelSelector", "app=x"}, P{"fieldSelector", "metadata.name=y"},
                          P{"resourceVersion", "0"}, P{"resourceVersionMatch", "NotOlderThan"},
                          P{"limit", "500"}, P{"continue", "tok"}));
  EXPECT_THAT(
      ListQuery(options, true),
      ElementsAre(P{"watch", "true"}, P{"labelSelector", "app=x"},
                  P{"fieldSelector", "metadata.name=y"}, P{"resourceVersion", "0"},
                  P{"resourceVersionMatch", "NotOlderThan"}, P{"allowWatchBookmarks", "true"},
                  P{"timeoutSeconds", "300"}, P{"sendInitialEvents", "true"}));
  // A quorum read sends no resourceVersion at all.
  EXPECT_THAT(ListQuery(ListOptions{}, false), ElementsAre());
}

TEST_F(RestClientTest, U1_ListItemsGetKindAndApiVersionFromTheList) {
  Start(
      [](const TestRequest&, TestConnection* connection) { connection->Respond(200, kListBody); });
  ListOptions options;
  options.limit = 2;
  options.resource_version = "0";
  absl::StatusOr<ListPage> page = client_->List("/api/v1/configmaps", options, decoder_);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->resource_version, "500");
  EXPECT_EQ(page->continue_token, "next-page-token");
  ASSERT_EQ(page->items.size(), 2u);
  EXPECT_EQ(page->items[0]->key(), "ns/a");
  EXPECT_EQ(page->items[0]->kind(), "ConfigMap");
  EXPECT_EQ(page->items[0]->api_version(), "v1");
  EXPECT_THAT(page->items[0]->json(), ::testing::Not(HasSubstr("managedFields")));
  EXPECT_EQ(page->items[1]->meta().resource_version, "11");
  // Integers beyond a double's precision survive the parse.
  EXPECT_THAT(page->items[1]->json(), HasSubstr("9007199254740993"));
  const TestRequest request = server_->requests().at(0);
  EXPECT_EQ(request.path, "/api/v1/configmaps");
  EXPECT_EQ(request.Param("limit"), "2");
  EXPECT_EQ(request.Param("resourceVersion"), "0");
}

TEST_F(RestClientTest, ListKindIsTakenFromTheListNotTheDecoder) {
  // A Table or a differently-kinded list still names its items after itself.
  Start([](const TestRequest&, TestConnection* connection) {
    connection->Respond(200, R"({"kind":"WidgetList","apiVersion":"example.com/v2","metadata":{},
      "items":[{"metadata":{"name":"w"}}]})");
  });
  absl::StatusOr<ListPage> page = client_->List("/x", {}, decoder_);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->items[0]->kind(), "Widget");
  EXPECT_EQ(page->items[0]->api_version(), "example.com/v2");
  EXPECT_EQ(page->continue_token, "");
}

TEST_F(RestClientTest, EmptyListHasNoItems) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->Respond(
        200,
        R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{"resourceVersion":"9"},"items":null})");
  });
  absl::StatusOr<ListPage> page = client_->List("/api/v1/configmaps", {}, decoder_);
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_TRUE(page->items.empty());
  EXPECT_EQ(page->resource_version, "9");
}

TEST_F(RestClientTest, R4_ListExpiredIsResourceExpired) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->Respond(410, kExpiredStatus);
  });
  absl::StatusOr<ListPage> page = client_->List("/api/v1/configmaps", {}, decoder_);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(IsResourceExpired(page.status()));
  EXPECT_EQ(GetApiStatus(page.status())->reason, "Expired");
}

TEST_F(RestClientTest, ListForbiddenIsPermissionDenied) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->Respond(
        403,
        R"({"kind":"Status","status":"Failure","message":"secrets is forbidden","reason":"Forbidden","code":403})");
  });
  absl::StatusOr<ListPage> page = client_->List("/api/v1/secrets", {}, decoder_);
  EXPECT_EQ(page.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(page.status().message()), HasSubstr("secrets is forbidden"));
}

TEST_F(RestClientTest, MalformedListIsInvalidArgument) {
  Start([](const TestRequest& request, TestConnection* connection) {
    if (request.path == "/truncated") {
      connection->Respond(200, R"({"kind":"ConfigMapList","items":[{"metadata":)");
    } else if (request.path == "/items-not-array") {
      connection->Respond(200, R"({"kind":"ConfigMapList","items":{}})");
    } else {
      connection->Respond(200, R"({"kind":"ConfigMapList","items":[{"metadata":{}}]})");
    }
  });
  for (const char* path : {"/truncated", "/items-not-array", "/nameless-item"}) {
    EXPECT_EQ(client_->List(path, {}, decoder_).status().code(), absl::StatusCode::kInvalidArgument)
        << path;
  }
}

TEST_F(RestClientTest, WatchStreamsEventsSplitAcrossChunks) {
  const std::string events =
      R"({"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"5"}}})"
      "\n"
      R"({"type":"MODIFIED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"6"}}})"
      "\n"
      R"({"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"7"}}})"
      "\n"
      R"({"type":"DELETED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"a","namespace":"ns","resourceVersion":"8"}}})"
      "\n";
  Start([&](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    // Cuts that land inside events, and one chunk holding the end of one and start of another.
    for (size_t pos = 0; pos < events.size(); pos += 37)
      connection->WriteChunk(events.substr(pos, 37));
    connection->EndChunked();  // the server's timeoutSeconds ran out
  });
  ListOptions options;
  options.resource_version = "4";
  options.allow_watch_bookmarks = true;
  options.timeout_seconds = 60;
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch("/api/v1/configmaps", options, decoder_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_THAT(Drain(stream->get()), ElementsAre("ADDED ns/a 5", "MODIFIED ns/a 6", "BOOKMARK 7",
                                                "DELETED ns/a 8", "END"));
  // Nothing after the end.
  EXPECT_FALSE((*stream)->Next()->has_value());
  const TestRequest request = server_->requests().at(0);
  EXPECT_EQ(request.Param("watch"), "true");
  EXPECT_EQ(request.Param("resourceVersion"), "4");
  EXPECT_EQ(request.Param("allowWatchBookmarks"), "true");
  EXPECT_EQ(request.Param("timeoutSeconds"), "60");
}

TEST_F(RestClientTest, R4_WatchRefusedWith410IsResourceExpired) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->Respond(410, kExpiredStatus);
  });
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch("/api/v1/configmaps", {}, decoder_);
  EXPECT_TRUE(IsResourceExpired(stream.status())) << stream.status();
}

TEST_F(RestClientTest, R6_ErrorEventInsideTheStreamIsAnEvent) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk(
        R"json({"type":"ERROR","object":{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"too old resource version: 3 (90)","reason":"Expired","code":410}})json"
        "\n");
    connection->EndChunked();
  });
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch("/api/v1/configmaps", {}, decoder_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::optional<WatchEvent>> event = (*stream)->Next();
  ASSERT_TRUE(event.ok() && event->has_value());
  EXPECT_EQ((*event)->type, WatchEventType::kError);
  EXPECT_TRUE(IsResourceExpired(ApiStatusToStatus((*event)->error)));
}

TEST_F(RestClientTest, StopEndsABlockedNextWithin100Milliseconds) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk(
        R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})"
        "\n");
    connection->WaitForClientClose(absl::Seconds(10));
  });
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch("/api/v1/configmaps", {}, decoder_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  ASSERT_TRUE((*stream)->Next()->has_value());
  std::atomic<int64_t> stopped_at{0};
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(50));
    stopped_at = absl::GetCurrentTimeNanos();
    (*stream)->Stop();
  });
  absl::StatusOr<std::optional<WatchEvent>> event = (*stream)->Next();
  const int64_t returned_at = absl::GetCurrentTimeNanos();
  stopper.join();
  ASSERT_TRUE(event.ok()) << event.status();
  EXPECT_FALSE(event->has_value());
  EXPECT_LT(returned_at - stopped_at.load(), 100'000'000);
  (*stream)->Stop();  // idempotent
  EXPECT_FALSE((*stream)->Next()->has_value());
}

TEST_F(RestClientTest, BrokenConnectionIsAnErrorAfterTheEventsReceived) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk(
        R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})"
        "\n"
        R"({"type":"ADDED","object":{"metadata":{"na)");
    connection->Abort();
  });
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch("/api/v1/configmaps", {}, decoder_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_THAT(Drain(stream->get()), ElementsAre("ADDED a 1", "FAILED UNAVAILABLE"));
}

TEST_F(RestClientTest, StreamEndingInsideAnEventIsDataLoss) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk(R"({"type":"ADDED","object":{"metadata":{"na)");
    connection->EndChunked();
  });
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch("/api/v1/configmaps", {}, decoder_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_THAT(Drain(stream->get()), ElementsAre("FAILED DATA_LOSS"));
}

TEST_F(RestClientTest, MalformedEventIsInvalidArgumentAfterTheGoodOnes) {
  Start([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk(
        R"({"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}}})"
        "\n{\"type\":\"ADDED\",\"object\":nonsense}\n");
    connection->WaitForClientClose(absl::Seconds(10));
  });
  absl::StatusOr<std::unique_ptr<WatchStream>> stream =
      client_->Watch("/api/v1/configmaps", {}, decoder_);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_THAT(Drain(stream->get()), ElementsAre("ADDED a 1", "FAILED INVALID_ARGUMENT"));
}

TEST_F(RestClientTest, CreateUpdatePatchDeleteSendJsonAndMapErrors) {
  Start([](const TestRequest& request, TestConnection* connection) {
    if (request.method == "DELETE") {
      connection->Respond(404, R"({"kind":"Status","reason":"NotFound","code":404})");
    } else if (request.method == "POST") {
      connection->Respond(409, R"({"kind":"Status","reason":"AlreadyExists","code":409})");
    } else {
      connection->Respond(200, request.Header("content-type"));
    }
  });
  EXPECT_EQ(client_->Post("/api/v1/namespaces", "{}").status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(*client_->Put("/api/v1/namespaces/x", "{}"), "application/json");
  EXPECT_EQ(*client_->MergePatch("/api/v1/namespaces/x", "{}"), "application/merge-patch+json");
  EXPECT_EQ(client_->Delete("/api/v1/namespaces/x").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(RestClientTest, ListerWatcherUsesTheResourcePath) {
  Start([](const TestRequest& request, TestConnection* connection) {
    if (request.Param("watch") == "true") {
      connection->StartChunked(200);
      connection->EndChunked();
    } else {
      connection->Respond(
          200,
          R"({"kind":"DeploymentList","apiVersion":"apps/v1","metadata":{"resourceVersion":"3"},"items":[]})");
    }
  });
  RestListerWatcherFactory factory(client_);
  absl::StatusOr<std::shared_ptr<ListerWatcher>> lw = factory.ForResource(Deployments(), "prod");
  ASSERT_TRUE(lw.ok()) << lw.status();
  ObjectDecoder decoder(Deployments(), {});
  ASSERT_TRUE((*lw)->List({}, decoder).ok());
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = (*lw)->Watch({}, decoder);
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_FALSE((*stream)->Next()->has_value());
  std::vector<TestRequest> requests = server_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].path, "/apis/apps/v1/namespaces/prod/deployments");
  EXPECT_EQ(requests[1].path, "/apis/apps/v1/namespaces/prod/deployments");
}

TEST_F(RestClientTest, MetadataListerWatcherAsksForPartialObjectMetadata) {
  // What kube-apiserver answers to the metadata Accept headers (its items carry their own
  // kind and apiVersion).
  Start([](const TestRequest& request, TestConnection* connection) {
    if (request.Param("watch") == "true") {
      connection->StartChunked(200);
      connection->WriteChunk(
          R"({"type":"ADDED","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",)"
          R"("metadata":{"name":"b","namespace":"prod","resourceVersion":"4"}}})"
          "\n");
      connection->EndChunked();
    } else {
      connection->Respond(
          200,
          R"({"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":)"
          R"({"resourceVersion":"3"},"items":[{"kind":"PartialObjectMetadata","apiVersion":)"
          R"("meta.k8s.io/v1","metadata":{"name":"a","namespace":"prod","resourceVersion":"2"}}]})");
    }
  });
  RestListerWatcherFactory factory(client_);
  absl::StatusOr<std::shared_ptr<ListerWatcher>> lw = factory.ForMetadata(ConfigMaps(), "prod");
  ASSERT_TRUE(lw.ok()) << lw.status();
  ObjectDecoder decoder(ConfigMaps(), {});
  absl::StatusOr<ListPage> page = (*lw)->List({}, decoder);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0]->kind(), "PartialObjectMetadata");
  EXPECT_EQ(page->items[0]->api_version(), "meta.k8s.io/v1");
  ListOptions streaming;
  streaming.send_initial_events = true;
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = (*lw)->Watch(streaming, decoder);
  ASSERT_TRUE(stream.ok()) << stream.status();
  absl::StatusOr<std::optional<WatchEvent>> event = (*stream)->Next();
  ASSERT_TRUE(event.ok() && event->has_value()) << event.status();
  EXPECT_EQ((*event)->object->kind(), "PartialObjectMetadata");
  std::vector<TestRequest> requests = server_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Param("watch"), "");
  EXPECT_EQ(requests[0].Header("accept"),
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1");
  EXPECT_EQ(requests[1].Param("watch"), "true");
  EXPECT_EQ(requests[1].Header("accept"),
            "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1");
}

TEST_F(RestClientTest, FullListerWatcherAsksForPlainJson) {
  Start([](const TestRequest& request, TestConnection* connection) {
    if (request.Param("watch") == "true") {
      connection->StartChunked(200);
      connection->EndChunked();
    } else {
      connection->Respond(200, kListBody);
    }
  });
  RestListerWatcherFactory factory(client_);
  absl::StatusOr<std::shared_ptr<ListerWatcher>> lw = factory.ForResource(ConfigMaps(), "ns");
  ASSERT_TRUE(lw.ok()) << lw.status();
  ObjectDecoder decoder(ConfigMaps(), {});
  ASSERT_TRUE((*lw)->List({}, decoder).ok());
  absl::StatusOr<std::unique_ptr<WatchStream>> stream = (*lw)->Watch({}, decoder);
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::vector<TestRequest> requests = server_->requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].Header("accept"), "application/json");
  EXPECT_EQ(requests[1].Header("accept"), "application/json");
}

TEST_F(RestClientTest, FactoryRefusesResourcesThatCannotBeWatched) {
  Start([](const TestRequest&, TestConnection* connection) { connection->Respond(200, "{}"); });
  RestListerWatcherFactory factory(client_);
  ResourceInfo bindings = ConfigMaps();
  bindings.gvr.resource = "bindings";
  bindings.verbs = {"create"};
  EXPECT_EQ(factory.ForResource(bindings, "").status().code(), absl::StatusCode::kInvalidArgument);
  ResourceInfo unnamed;
  EXPECT_EQ(factory.ForResource(unnamed, "").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace k8s
}  // namespace informer
