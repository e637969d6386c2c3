// Per-request projections (`fields`, issue 20 item 3) end to end against a real
// kube-apiserver: List, Get, ByIndex and Subscribe return objects pruned to the mask; a
// Subscribe with mask `metadata.labels` gets no event for a ConfigMap whose data alone changes,
// and one for a label change, with positions that are the API server's resourceVersions and
// stay exact across the skipped changes.
// Run by ctest when INFORMERD_TEST_KUBECONFIG is set; otherwise it reports itself skipped (77).
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

const TestCluster* g_cluster = nullptr;

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document document;
  document.Parse(json.c_str());
  return document;
}

// The top-level member names of `json`, in order.
std::vector<std::string> TopLevelMembers(const std::string& json) {
  std::vector<std::string> names;
  rapidjson::Document document = Parse(json);
  if (document.HasParseError() || !document.IsObject()) return names;
  for (const auto& member : document.GetObject()) names.push_back(member.name.GetString());
  return names;
}

// The member names of `json`'s metadata, in order.
std::vector<std::string> MetadataMembers(const std::string& json) {
  std::vector<std::string> names;
  rapidjson::Document document = Parse(json);
  if (document.HasParseError() || !document.IsObject()) return names;
  auto metadata = document.FindMember("metadata");
  if (metadata == document.MemberEnd() || !metadata->value.IsObject()) return names;
  for (const auto& member : metadata->value.GetObject()) names.push_back(member.name.GetString());
  return names;
}

std::string ResourceVersionOf(const std::string& json) {
  rapidjson::Document document = Parse(json);
  if (document.HasParseError() || !document.IsObject()) return "";
  auto metadata = document.FindMember("metadata");
  if (metadata == document.MemberEnd() || !metadata->value.IsObject()) return "";
  return k8s::StringMember(metadata->value, "resourceVersion");
}

uint64_t Number(const std::string& rv) {
  uint64_t n = 0;
  return absl::SimpleAtoi(rv, &n) ? n : 0;
}

class ProjectionsE2eTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::shared_ptr<k8s::RestClient>> client =
        ClientForKubeconfig(g_cluster->kubeconfig);
    ASSERT_TRUE(client.ok()) << client.status();
    admin_ = new std::shared_ptr<k8s::RestClient>(*client);
    ns_ = new std::string(absl::StrCat("proj-", RandomSuffix()));
    ASSERT_TRUE(CreateOrKeep(**admin_, "/api/v1/namespaces",
                             absl::StrCat(R"({"metadata":{"name":")", *ns_, R"("}})"))
                    .ok());
    for (const char* name : {"web", "db"}) {
      ASSERT_TRUE(
          CreateOrKeep(**admin_, Collection(),
                       absl::StrCat(R"({"metadata":{"name":")", name, R"(","labels":{"app":")",
                                    name, R"("},"annotations":{"note":"n"}},"data":{"k":"v0"}})"))
              .ok());
    }
    informerd_ =
        InformerdProcess::Start(
            INFORMERD_BINARY,
            {absl::StrCat("--kubeconfig=", g_cluster->kubeconfig), "--resources=configmaps",
             "--index=configmaps=label:app,configmaps=by-k=field:data.k", "--listen=127.0.0.1:0",
             "--metrics_listen=127.0.0.1:0", "--log_format=json", "--bookmark_interval=1s",
             "--allow_runtime_indexes", "--max_runtime_indexes=2"})
            .release();
    ASSERT_NE(informerd_, nullptr);
    ASSERT_TRUE(informerd_->WaitForLog("every resource synced", absl::Seconds(60)))
        << informerd_->log();
  }
  static void TearDownTestSuite() {
    delete informerd_;
    informerd_ = nullptr;
  }

  void SetUp() override {
    stub_ = pb::InformerService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", informerd_->grpc_port()), grpc::InsecureChannelCredentials()));
  }

  static std::string Collection() {
    return absl::StrCat("/api/v1/namespaces/", *ns_, "/configmaps");
  }
  static std::unique_ptr<grpc::ClientContext> Context(absl::Duration timeout = absl::Seconds(30)) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return context;
  }
  // Merge-patches ConfigMap `name`; its new resourceVersion ("" on failure).
  static std::string Patch(const std::string& name, const std::string& patch) {
    absl::StatusOr<std::string> body =
        (*admin_)->MergePatch(absl::StrCat(Collection(), "/", name), patch);
    EXPECT_TRUE(body.ok()) << body.status();
    return body.ok() ? ResourceVersionOf(*body) : "";
  }
  static std::string ServerVersion(const std::string& name) {
    absl::StatusOr<std::string> body = (*admin_)->Get(absl::StrCat(Collection(), "/", name));
    return body.ok() ? ResourceVersionOf(*body) : "";
  }

  // Asserts `object` is ConfigMap `name` pruned to metadata.labels: identity and labels only.
  static void ExpectLabelsOnly(const pb::Object& object) {
    const std::string& json = object.json();
    EXPECT_THAT(TopLevelMembers(json), UnorderedElementsAre("kind", "apiVersion", "metadata"))
        << json;
    EXPECT_THAT(MetadataMembers(json),
                ElementsAre("name", "namespace", "uid", "resourceVersion", "labels"))
        << json;
    EXPECT_THAT(json, HasSubstr(absl::StrCat(R"("labels":{"app":")")));
    EXPECT_THAT(json, Not(HasSubstr("\"data\"")));
    EXPECT_THAT(json, Not(HasSubstr("annotations")));
    EXPECT_THAT(json, Not(HasSubstr("creationTimestamp")));
    EXPECT_EQ(object.resource_version(), ResourceVersionOf(json));
    EXPECT_FALSE(object.uid().empty());
  }

  static std::shared_ptr<k8s::RestClient>* admin_;
  static std::string* ns_;
  static InformerdProcess* informerd_;
  std::unique_ptr<pb::InformerService::Stub> stub_;
};

std::shared_ptr<k8s::RestClient>* ProjectionsE2eTest::admin_ = nullptr;
std::string* ProjectionsE2eTest::ns_ = nullptr;
InformerdProcess* ProjectionsE2eTest::informerd_ = nullptr;

TEST_F(ProjectionsE2eTest, ListGetAndByIndexReturnObjectsPrunedToTheMask) {
  pb::ListRequest list;
  list.set_resource("configmaps");
  list.set_namespace_(*ns_);
  list.set_label_selector("app in (web,db)");
  list.set_min_resource_version(ServerVersion("db"));
  list.add_fields("metadata.labels");
  pb::ListResponse listed;
  grpc::Status status = stub_->List(Context().get(), list, &listed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(listed.objects_size(), 2);
  for (const pb::Object& object : listed.objects()) {
    ExpectLabelsOnly(object);
    EXPECT_EQ(object.resource_version(), ServerVersion(object.name()));
  }

  pb::GetRequest get;
  get.set_resource("cm");
  get.set_namespace_(*ns_);
  get.set_name("web");
  get.add_fields("data");
  get.add_fields("metadata.annotations.note");
  pb::GetResponse got;
  status = stub_->Get(Context().get(), get, &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  const std::string& json = got.object().json();
  EXPECT_THAT(TopLevelMembers(json), UnorderedElementsAre("kind", "apiVersion", "metadata", "data"))
      << json;
  EXPECT_THAT(json, HasSubstr(R"("annotations":{"note":"n"})"));
  EXPECT_THAT(json, Not(HasSubstr("labels")));
  EXPECT_EQ(got.object().name(), "web");
  EXPECT_EQ(got.object().resource_version(), ServerVersion("web"));

  pb::ByIndexRequest by_index;
  by_index.set_resource("configmaps");
  by_index.set_index_name("label:app");
  by_index.set_value("db");
  by_index.set_namespace_(*ns_);
  by_index.add_fields("metadata.labels");
  pb::ByIndexResponse indexed;
  status = stub_->ByIndex(Context().get(), by_index, &indexed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(indexed.objects_size(), 1);
  EXPECT_EQ(indexed.objects(0).name(), "db");
  ExpectLabelsOnly(indexed.objects(0));
}

TEST_F(ProjectionsE2eTest, ABadPathIsInvalidArgumentNamingIt) {
  pb::ListRequest list;
  list.set_resource("configmaps");
  list.add_fields("status.conditions[0]");
  pb::ListResponse listed;
  grpc::Status status = stub_->List(Context().get(), list, &listed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("\"status.conditions[0]\""));

  pb::GetRequest get;
  get.set_resource("configmaps");
  get.set_namespace_(*ns_);
  get.set_name("web");
  for (int i = 0; i < 65; ++i) get.add_fields(absl::StrCat("data.k", i));
  pb::GetResponse got;
  status = stub_->Get(Context().get(), get, &got);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("at most 64"));

  pb::SubscribeRequest subscribe;
  subscribe.set_resource("configmaps");
  subscribe.add_fields("spec..x");
  auto context = Context();
  auto reader = stub_->Subscribe(context.get(), subscribe);
  pb::SubscribeResponse event;
  EXPECT_FALSE(reader->Read(&event));
  status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("\"spec..x\""));
}

// Reads events until one that is not a BOOKMARK, or until `until` holds for a bookmark
// position; the bookmarks read go to `bookmarks`. False when the stream ends.
bool ReadPast(grpc::ClientReader<pb::SubscribeResponse>* reader, pb::SubscribeResponse* event,
              std::vector<std::string>* bookmarks,
              const std::function<bool(const std::string&)>& until = nullptr) {
  while (reader->Read(event)) {
    if (event->type() != pb::EVENT_TYPE_BOOKMARK) return true;
    bookmarks->push_back(event->resource_version());
    if (until != nullptr && until(event->resource_version())) return true;
  }
  return false;
}

TEST_F(ProjectionsE2eTest, AMaskedSubscriberSkipsDataChangesAndPositionsStayExact) {
  pb::SubscribeRequest request;
  request.set_resource("configmaps");
  request.set_namespace_(*ns_);
  request.set_field_selector("metadata.name=web");
  request.add_fields("metadata.labels");
  auto context = Context(absl::Seconds(90));
  auto reader = stub_->Subscribe(context.get(), request);
  pb::SubscribeResponse event;
  ASSERT_TRUE(reader->Read(&event));
  ASSERT_EQ(event.type(), pb::EVENT_TYPE_ADDED);
  ExpectLabelsOnly(event.object());
  ASSERT_TRUE(reader->Read(&event));
  ASSERT_EQ(event.type(), pb::EVENT_TYPE_SYNCED);
  const std::string synced = event.resource_version();

  // Two data-only changes: no event, but a bookmark at or past the second.
  const std::string data1 = Patch("web", R"({"data":{"k":"v1"}})");
  const std::string data2 = Patch("web", R"({"data":{"k":"v2"}})");
  ASSERT_GT(Number(data2), Number(data1));
  std::vector<std::string> bookmarks;
  ASSERT_TRUE(ReadPast(reader.get(), &event, &bookmarks,
                       [&](const std::string& rv) { return Number(rv) >= Number(data2); }));
  ASSERT_EQ(event.type(), pb::EVENT_TYPE_BOOKMARK)
      << "an event for a data-only change: " << event.DebugString();
  const std::string past_data = event.resource_version();
  for (const std::string& rv : bookmarks) EXPECT_GE(Number(rv), Number(synced));

  // A label change: MODIFIED at the API server's resourceVersion, with the new label.
  const std::string labelled = Patch("web", R"({"metadata":{"labels":{"tier":"front"}}})");
  ASSERT_FALSE(labelled.empty());
  bookmarks.clear();
  ASSERT_TRUE(ReadPast(reader.get(), &event, &bookmarks));
  ASSERT_EQ(event.type(), pb::EVENT_TYPE_MODIFIED) << event.DebugString();
  EXPECT_EQ(event.resource_version(), labelled);
  EXPECT_EQ(event.object().resource_version(), labelled);
  ExpectLabelsOnly(event.object());
  EXPECT_THAT(event.object().json(), HasSubstr(R"("tier":"front")"));
  // Bookmarks in between are past the data changes and before the label change.
  for (const std::string& rv : bookmarks) {
    EXPECT_GE(Number(rv), Number(past_data));
    EXPECT_LT(Number(rv), Number(labelled));
  }
  context->TryCancel();
  reader->Finish();

  // Resuming from before the data changes or from the bookmark past them: exactly the label
  // change comes (then only bookmarks); from the label change: nothing but bookmarks.
  for (const std::string& from : {synced, data1, past_data}) {
    pb::SubscribeRequest resume = request;
    resume.set_resource_version(from);
    auto resume_context = Context(absl::Seconds(30));
    auto resumed = stub_->Subscribe(resume_context.get(), resume);
    bookmarks.clear();
    ASSERT_TRUE(ReadPast(resumed.get(), &event, &bookmarks)) << from;
    EXPECT_EQ(event.type(), pb::EVENT_TYPE_MODIFIED) << from;
    EXPECT_EQ(event.resource_version(), labelled) << from;
    // The next event is a bookmark at or past the label change.
    ASSERT_TRUE(resumed->Read(&event));
    EXPECT_EQ(event.type(), pb::EVENT_TYPE_BOOKMARK) << event.DebugString();
    EXPECT_GE(Number(event.resource_version()), Number(labelled));
    resume_context->TryCancel();
    resumed->Finish();
  }
  pb::SubscribeRequest resume = request;
  resume.set_resource_version(labelled);
  auto resume_context = Context(absl::Seconds(30));
  auto resumed = stub_->Subscribe(resume_context.get(), resume);
  ASSERT_TRUE(resumed->Read(&event));
  EXPECT_EQ(event.type(), pb::EVENT_TYPE_BOOKMARK) << event.DebugString();
  resume_context->TryCancel();
  resumed->Finish();

  // An unmasked subscriber from the same position gets every change.
  pb::SubscribeRequest whole = request;
  whole.clear_fields();
  whole.set_resource_version(synced);
  auto whole_context = Context(absl::Seconds(30));
  auto unmasked = stub_->Subscribe(whole_context.get(), whole);
  std::vector<std::string> versions;
  while (versions.size() < 3 && unmasked->Read(&event)) {
    if (event.type() == pb::EVENT_TYPE_MODIFIED) versions.push_back(event.resource_version());
  }
  EXPECT_THAT(versions, ElementsAre(data1, data2, labelled));
  whole_context->TryCancel();
  unmasked->Finish();
}

// namespace/name -> resourceVersion of the ConfigMaps the API server lists, in every
// namespace, with `label_selector`.
std::map<std::string, std::string> ServerMatching(k8s::RestClient& client,
                                                  const std::string& label_selector) {
  std::map<std::string, std::string> versions;
  absl::StatusOr<std::string> body =
      client.Get("/api/v1/configmaps", {{"labelSelector", label_selector}});
  EXPECT_TRUE(body.ok()) << body.status();
  if (!body.ok()) return versions;
  rapidjson::Document document = Parse(*body);
  auto items = document.FindMember("items");
  if (items == document.MemberEnd() || !items->value.IsArray()) return versions;
  for (const rapidjson::Value& item : items->value.GetArray()) {
    const rapidjson::Value& metadata = item["metadata"];
    versions[absl::StrCat(k8s::StringMember(metadata, "namespace"), "/",
                          k8s::StringMember(metadata, "name"))] =
        k8s::StringMember(metadata, "resourceVersion");
  }
  return versions;
}

TEST_F(ProjectionsE2eTest, AnIndexAddedAtRunTimeServesByIndexExactlyTheServersMatches) {
  // Objects in two namespaces, some labelled team=RED (a value of this run only), before and
  // after the index exists.
  const std::string red = *ns_;
  const std::string other_ns = absl::StrCat(*ns_, "-b");
  ASSERT_TRUE(CreateOrKeep(**admin_, "/api/v1/namespaces",
                           absl::StrCat(R"({"metadata":{"name":")", other_ns, R"("}})"))
                  .ok());
  auto create = [&](const std::string& ns, const std::string& name, const std::string& team) {
    ASSERT_TRUE(CreateOrKeep(**admin_, absl::StrCat("/api/v1/namespaces/", ns, "/configmaps"),
                             absl::StrCat(R"({"metadata":{"name":")", name,
                                          R"(","labels":{"team":")", team, R"("}}})"))
                    .ok());
  };
  create(*ns_, "red-1", red);
  create(other_ns, "red-2", red);
  create(*ns_, "blue-1", "blue");

  pb::AddIndexRequest add;
  add.set_resource("configmaps");
  add.set_index("label:team");
  pb::AddIndexResponse added;
  grpc::Status status = stub_->AddIndex(Context().get(), add, &added);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(added.index_name(), "label:team");
  EXPECT_TRUE(added.created());
  EXPECT_THAT(added.index_names(), ::testing::Contains("label:team"));
  // Again: the same index, nothing done.
  status = stub_->AddIndex(Context().get(), add, &added);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(added.created());

  create(other_ns, "red-3", red);
  const std::string last =
      Patch("blue-1", absl::StrCat(R"({"metadata":{"labels":{"team":")", red, R"("}}})"));
  const std::map<std::string, std::string> truth = ServerMatching(**admin_, "team=" + red);
  ASSERT_EQ(truth.size(), 4u);

  pb::ByIndexRequest by_index;
  by_index.set_resource("configmaps");
  by_index.set_index_name("label:team");
  by_index.set_value(red);
  by_index.set_min_resource_version(last);
  pb::ByIndexResponse indexed;
  status = stub_->ByIndex(Context().get(), by_index, &indexed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  std::map<std::string, std::string> served;
  for (const pb::Object& object : indexed.objects()) {
    served[absl::StrCat(object.namespace_(), "/", object.name())] = object.resource_version();
  }
  EXPECT_EQ(served, truth);

  // ListResources lists it.
  pb::ListResourcesResponse resources;
  ASSERT_TRUE(stub_->ListResources(Context().get(), {}, &resources).ok());
  ASSERT_EQ(resources.resources_size(), 1);
  EXPECT_THAT(resources.resources(0).index_names(), ::testing::Contains("label:team"));
}

TEST_F(ProjectionsE2eTest, AddIndexRefusalsSayWhy) {
  pb::AddIndexRequest add;
  add.set_resource("configmaps");
  pb::AddIndexResponse added;
  add.set_index("field:data..x");
  grpc::Status status = stub_->AddIndex(Context().get(), add, &added);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  // Configured at start: label:app under its default name (the same definition is OK), by-k
  // under a name of its own (taken).
  add.set_index("label:app");
  status = stub_->AddIndex(Context().get(), add, &added);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(added.created());
  add.set_index("by-k=field:data.other");
  status = stub_->AddIndex(Context().get(), add, &added);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  // Added at run time, then the name asked for with another definition.
  add.set_index("mine=field:data.a");
  status = stub_->AddIndex(Context().get(), add, &added);
  ASSERT_TRUE(status.ok()) << status.error_message();
  add.set_index("mine=field:data.b");
  status = stub_->AddIndex(Context().get(), add, &added);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("as field:data.a"));
  // --max_runtime_indexes=2: mine, label:team (when the other test ran first) or extra-1.
  add.set_index("extra-1=label:x1");
  status = stub_->AddIndex(Context().get(), add, &added);
  if (status.ok()) {
    add.set_index("extra-2=label:x2");
    status = stub_->AddIndex(Context().get(), add, &added);
  }
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("--max_runtime_indexes"));
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
