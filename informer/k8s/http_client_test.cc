#include "informer/k8s/http_client.h"

#include <atomic>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/k8s/testing/files.h"
#include "informer/k8s/testing/test_server.h"

namespace informer {
namespace k8s {
namespace {

using ::informer::k8s::testing::ReadTestdata;
using ::informer::k8s::testing::TestConnection;
using ::informer::k8s::testing::TestRequest;
using ::informer::k8s::testing::TestServer;
using ::informer::k8s::testing::TestServerOptions;
using ::testing::HasSubstr;

std::unique_ptr<TestServer> StartServer(testing::TestHandler handler,
                                        TestServerOptions options = {}) {
  absl::StatusOr<std::unique_ptr<TestServer>> server =
      TestServer::Start(std::move(handler), std::move(options));
  EXPECT_TRUE(server.ok()) << server.status();
  return *std::move(server);
}

std::unique_ptr<HttpClient> MakeClient(const RestConfig& config, HttpOptions options = {}) {
  absl::StatusOr<std::unique_ptr<HttpClient>> client = HttpClient::Create(config, options);
  EXPECT_TRUE(client.ok()) << client.status();
  return *std::move(client);
}

RestConfig PlainConfig(const TestServer& server) {
  RestConfig config;
  config.server = server.url();
  return config;
}

TestServerOptions TlsOptions() {
  TestServerOptions options;
  options.cert_pem = ReadTestdata("tls/server.crt");
  options.key_pem = ReadTestdata("tls/server.key");
  return options;
}

HttpRequest Get(std::string path) {
  HttpRequest request;
  request.path = std::move(path);
  return request;
}

void Echo(const TestRequest& request, TestConnection* connection) {
  connection->Respond(200, absl::StrCat(request.method, " ", request.target));
}

TEST(HttpClientTest, GetSendsQueryUserAgentAcceptAndToken) {
  auto server = StartServer(Echo);
  RestConfig config = PlainConfig(*server);
  config.bearer_token = "t0ken";
  auto client = MakeClient(config);
  HttpRequest request = Get("/api/v1/pods");
  request.query = {{"labelSelector", "app in (a,b),tier!=db"}, {"limit", "5"}};
  absl::StatusOr<HttpResponse> response = client->Do(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->content_type, "application/json");
  EXPECT_EQ(response->protocol, "HTTP/1.1");  // the test server offers no HTTP/2
  const TestRequest received = server->requests().at(0);
  EXPECT_EQ(received.path, "/api/v1/pods");
  EXPECT_EQ(received.Param("labelSelector"), "app in (a,b),tier!=db");
  EXPECT_EQ(received.Param("limit"), "5");
  EXPECT_TRUE(absl::StartsWith(received.Header("user-agent"), "informerd/"));
  EXPECT_EQ(received.Header("accept"), "application/json");
  EXPECT_EQ(received.Header("authorization"), "Bearer t0ken");
  EXPECT_THAT(received.Header("accept-encoding"), HasSubstr("gzip"));
}

TEST(HttpClientTest, ServerPathPrefixIsKept) {
  auto server = StartServer(Echo);
  RestConfig config = PlainConfig(*server);
  config.server += "/k8s/clusters/c-1/";
  auto client = MakeClient(config);
  absl::StatusOr<HttpResponse> response = client->Do(Get("/api"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "GET /k8s/clusters/c-1/api");
}

TEST(HttpClientTest, SequentialRequestsReuseOneConnection) {
  auto server = StartServer(Echo);
  auto client = MakeClient(PlainConfig(*server));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(client->Do(Get("/api")).ok());
  EXPECT_EQ(server->connections(), 1);
}

TEST(HttpClientTest, PostPutPatchDeleteCarryBodyAndContentType) {
  auto server = StartServer([](const TestRequest& request, TestConnection* connection) {
    connection->Respond(
        201, absl::StrCat(request.method, " ", request.Header("content-type"), " ", request.body));
  });
  auto client = MakeClient(PlainConfig(*server));
  for (const char* method : {"POST", "PUT", "PATCH", "DELETE"}) {
    HttpRequest request = Get("/api/v1/namespaces");
    request.method = method;
    request.body = R"({"a":1})";
    request.content_type = "application/merge-patch+json";
    absl::StatusOr<HttpResponse> response = client->Do(request);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->status, 201);
    EXPECT_EQ(response->body, absl::StrCat(method, R"( application/merge-patch+json {"a":1})"));
  }
}

TEST(HttpClientTest, ErrorStatusesAreResponsesNotErrors) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->Respond(404, R"({"kind":"Status","code":404})");
  });
  auto client = MakeClient(PlainConfig(*server));
  absl::StatusOr<HttpResponse> response = client->Do(Get("/api/v1/nope"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 404);
}

TEST(HttpClientTest, ConnectionRefusedIsUnavailable) {
  auto server = StartServer(Echo);
  RestConfig config = PlainConfig(*server);
  server->Stop();
  auto client = MakeClient(config);
  absl::StatusOr<HttpResponse> response = client->Do(Get("/api"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr("GET http://127.0.0.1"));
}

TEST(HttpClientTest, RequestTimeoutIsDeadlineExceeded) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->WaitForClientClose(absl::Seconds(10));  // never answers
  });
  auto client = MakeClient(PlainConfig(*server));
  HttpRequest request = Get("/api");
  request.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response = client->Do(request);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST(HttpClientTest, CancelStopsAnUnansweredRequestWithinASecond) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->WaitForClientClose(absl::Seconds(10));  // never answers
  });
  auto client = MakeClient(PlainConfig(*server));
  absl::Notification cancel;
  HttpRequest request = Get("/api/v1/pods");
  request.cancel = &cancel;
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(100));
    cancel.Notify();
  });
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> response = client->Do(request);
  const absl::Duration took = absl::Now() - start;
  canceller.join();
  EXPECT_EQ(response.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(took, absl::Milliseconds(1600));  // libcurl checks about once a second when idle
  // An already cancelled request is not sent at all.
  const size_t sent = server->requests().size();
  EXPECT_EQ(client->Do(request).status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(server->requests().size(), sent);
}

TEST(HttpClientTest, MalformedServerUrlIsInvalidArgument) {
  RestConfig config;
  config.server = "ftp://example.com";
  EXPECT_EQ(HttpClient::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
  config.server = "";
  EXPECT_EQ(HttpClient::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
  config.server = "https://x";
  config.insecure_skip_tls_verify = true;
  config.ca_pem = "pem";
  EXPECT_EQ(HttpClient::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpClientTest, TlsVerifiesTheServerWithTheConfiguredCa) {
  auto server = StartServer(Echo, TlsOptions());
  RestConfig config;
  config.server = absl::StrCat("https://localhost:", server->port());
  config.ca_pem = ReadTestdata("tls/ca.crt");
  auto client = MakeClient(config);
  absl::StatusOr<HttpResponse> response = client->Do(Get("/version"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->body, "GET /version");
}

TEST(HttpClientTest, TlsWithoutTheCaIsUnavailable) {
  auto server = StartServer(Echo, TlsOptions());
  RestConfig config;
  config.server = absl::StrCat("https://localhost:", server->port());
  auto client = MakeClient(config);
  absl::StatusOr<HttpResponse> response = client->Do(Get("/version"));
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
}

TEST(HttpClientTest, InsecureSkipsVerification) {
  auto server = StartServer(Echo, TlsOptions());
  RestConfig config;
  config.server = absl::StrCat("https://127.0.0.1:", server->port());
  config.insecure_skip_tls_verify = true;
  auto client = MakeClient(config);
  EXPECT_TRUE(client->Do(Get("/version")).ok());
}

TEST(HttpClientTest, TlsServerNameVerifiesAnotherNameThanTheUrlHost) {
  // The certificate names kubernetes.test and localhost, not 127.0.0.1.
  auto server = StartServer(Echo, TlsOptions());
  RestConfig config;
  config.server = absl::StrCat("https://127.0.0.1:", server->port());
  config.ca_pem = ReadTestdata("tls/ca.crt");
  EXPECT_EQ(MakeClient(config)->Do(Get("/version")).status().code(),
            absl::StatusCode::kUnavailable);

  config.tls_server_name = "kubernetes.test";
  auto client = MakeClient(config);
  absl::StatusOr<HttpResponse> response = client->Do(Get("/version"));
  ASSERT_TRUE(response.ok()) << response.status();
  // The Host header still names the server as configured.
  EXPECT_EQ(server->requests().back().Header("host"), absl::StrCat("127.0.0.1:", server->port()));

  config.tls_server_name = "wrong.test";
  EXPECT_EQ(MakeClient(config)->Do(Get("/version")).status().code(),
            absl::StatusCode::kUnavailable);
}

TEST(HttpClientTest, ClientCertificateIsPresented) {
  TestServerOptions options = TlsOptions();
  options.client_ca_pem = ReadTestdata("tls/ca.crt");
  auto server = StartServer(Echo, options);
  RestConfig config;
  config.server = absl::StrCat("https://localhost:", server->port());
  config.ca_pem = ReadTestdata("tls/ca.crt");
  EXPECT_EQ(MakeClient(config)->Do(Get("/version")).status().code(),
            absl::StatusCode::kUnavailable);

  config.client_certificate_pem = ReadTestdata("tls/client.crt");
  config.client_key_pem = ReadTestdata("tls/client.key");
  auto client = MakeClient(config);
  ASSERT_TRUE(client->Do(Get("/version")).ok());
  EXPECT_THAT(server->requests().back().client_cert_subject, HasSubstr("CN=test-user"));
}

TEST(HttpClientTest, UnauthorizedRefreshesTheTokenFileAndRetriesOnce) {
  const testing::TempDir temp_dir;
  const std::string token_file = temp_dir.path() + "/token";
  testing::WriteFile(token_file, "old");
  auto server = StartServer([](const TestRequest& request, TestConnection* connection) {
    if (request.Header("authorization") == "Bearer new") {
      connection->Respond(200, "ok");
    } else {
      connection->Respond(401, R"({"kind":"Status","code":401,"reason":"Unauthorized"})");
    }
  });
  RestConfig config = PlainConfig(*server);
  config.bearer_token_file = token_file;
  auto client = MakeClient(config);
  ASSERT_EQ(client->Do(Get("/api"))->status, 401);  // one retry, same token: still 401
  EXPECT_EQ(server->requests().size(), 2u);

  testing::WriteFile(token_file, "new");  // the token rotated
  absl::StatusOr<HttpResponse> response = client->Do(Get("/api"));
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(server->requests().size(), 4u);  // the 401 with "old", then "new"
}

TEST(HttpClientTest, StreamDeliversChunksAsTheyArrive) {
  absl::Notification first_read;
  auto server = StartServer([&](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk("first");
    first_read.WaitForNotificationWithTimeout(absl::Seconds(10));
    connection->WriteChunk("second");
    connection->EndChunked();
  });
  auto client = MakeClient(PlainConfig(*server));
  absl::StatusOr<std::unique_ptr<HttpStream>> stream = client->OpenStream(Get("/watch"));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 200);
  std::string body;
  // The first chunk arrives while the server still holds the second back.
  ASSERT_TRUE(*(*stream)->Read(&body));
  EXPECT_EQ(body, "first");
  first_read.Notify();
  while (true) {
    absl::StatusOr<bool> more = (*stream)->Read(&body);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
  }
  EXPECT_EQ(body, "firstsecond");
}

TEST(HttpClientTest, CancelWakesABlockedReadWithin100Milliseconds) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk("hello");
    connection->WaitForClientClose(absl::Seconds(10));  // then silence
  });
  auto client = MakeClient(PlainConfig(*server));
  absl::StatusOr<std::unique_ptr<HttpStream>> stream = client->OpenStream(Get("/watch"));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string body;
  ASSERT_TRUE(*(*stream)->Read(&body));

  std::atomic<int64_t> cancelled_at_ns{0};
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(50));
    cancelled_at_ns = absl::GetCurrentTimeNanos();
    (*stream)->Cancel();
  });
  absl::StatusOr<bool> more = (*stream)->Read(&body);
  const int64_t returned_at_ns = absl::GetCurrentTimeNanos();
  canceller.join();
  EXPECT_EQ(more.status().code(), absl::StatusCode::kCancelled);
  EXPECT_LT(returned_at_ns - cancelled_at_ns.load(), 100'000'000);
  // Reads after a cancel keep failing.
  EXPECT_EQ((*stream)->Read(&body).status().code(), absl::StatusCode::kCancelled);
  stream->reset();  // closes the connection
  EXPECT_EQ(server->requests().size(), 1u);
}

TEST(HttpClientTest, ConnectionBrokenMidStreamIsUnavailable) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk("partial");
    connection->Abort();  // no terminating chunk
  });
  auto client = MakeClient(PlainConfig(*server));
  absl::StatusOr<std::unique_ptr<HttpStream>> stream = client->OpenStream(Get("/watch"));
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string body;
  absl::StatusOr<bool> more;
  do {
    more = (*stream)->Read(&body);
  } while (more.ok() && *more);
  EXPECT_EQ(more.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(body, "partial");
}

TEST(HttpClientTest, StreamTimeoutIsDeadlineExceeded) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WaitForClientClose(absl::Seconds(10));
  });
  auto client = MakeClient(PlainConfig(*server));
  HttpRequest request = Get("/watch");
  request.timeout = absl::Milliseconds(200);
  absl::StatusOr<std::unique_ptr<HttpStream>> stream = client->OpenStream(request);
  ASSERT_TRUE(stream.ok()) << stream.status();
  std::string body;
  EXPECT_EQ((*stream)->Read(&body).status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(HttpClientTest, StreamErrorStatusAndBodyAreReadable) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->Respond(410, R"({"kind":"Status","code":410,"reason":"Expired"})");
  });
  auto client = MakeClient(PlainConfig(*server));
  absl::StatusOr<std::unique_ptr<HttpStream>> stream = client->OpenStream(Get("/watch"));
  ASSERT_TRUE(stream.ok()) << stream.status();
  EXPECT_EQ((*stream)->status(), 410);
  std::string body;
  while (*(*stream)->Read(&body)) {
  }
  EXPECT_THAT(body, HasSubstr("Expired"));
}

TEST(HttpClientTest, StreamMayOutliveItsClient) {
  auto server = StartServer([](const TestRequest&, TestConnection* connection) {
    connection->StartChunked(200);
    connection->WriteChunk("a");
    connection->WriteChunk("b");
    connection->EndChunked();
  });
  auto client = MakeClient(PlainConfig(*server));
  absl::StatusOr<std::unique_ptr<HttpStream>> stream = client->OpenStream(Get("/watch"));
  ASSERT_TRUE(stream.ok());
  client.reset();
  std::string body;
  while (*(*stream)->Read(&body)) {
  }
  EXPECT_EQ(body, "ab");
}

TEST(HttpClientTest, UrlEscapeKeepsUnreservedOnly) {
  EXPECT_EQ(UrlEscape("a-Z_0.~"), "a-Z_0.~");
  EXPECT_EQ(UrlEscape("app in (a,b)"), "app%20in%20%28a%2Cb%29");
  EXPECT_EQ(UrlEscape("x=y&z/"), "x%3Dy%26z%2F");
}

}  // namespace
}  // namespace k8s
}  // namespace informer
