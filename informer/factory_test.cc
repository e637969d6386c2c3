#include "informer/factory.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/selectable_fields.h"
#include "informer/store.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"

namespace informer {
namespace {

using ::informer::testing::FakeListerWatcherFactory;
using ::informer::testing::MakeObject;
using ::testing::ElementsAre;

ResourceInfo Resource(const char* group, const char* resource, const char* kind) {
  ResourceInfo info;
  info.gvr = {group, "v1", resource};
  info.kind = kind;
  return info;
}

const ResourceInfo kPods = Resource("", "pods", "Pod");
const ResourceInfo kDeployments = Resource("apps", "deployments", "Deployment");

class FactoryTest : public ::testing::Test {
 protected:
  FactoryTest() {
    options_.reflector.backoff.initial = absl::Milliseconds(1);
    options_.reflector.backoff.max = absl::Milliseconds(5);
  }
  void Make() { factory_ = std::make_unique<SharedInformerFactory>(fakes_, options_); }

  std::shared_ptr<FakeListerWatcherFactory> fakes_ = std::make_shared<FakeListerWatcherFactory>();
  FactoryOptions options_;
  std::unique_ptr<SharedInformerFactory> factory_;
};

TEST_F(FactoryTest, P1_OneInformerPerResource) {
  Make();
  auto first = factory_->InformerFor(kPods);
  auto second = factory_->InformerFor(kPods);
  auto other = factory_->InformerFor(kDeployments);
  ASSERT_TRUE(first.ok() && second.ok() && other.ok());
  EXPECT_EQ(first->get(), second->get());
  EXPECT_NE(first->get(), other->get());
  EXPECT_EQ(factory_->Find(kPods.gvr).get(), first->get());
  EXPECT_EQ(factory_->Find(Resource("", "secrets", "Secret").gvr), nullptr);
  ASSERT_EQ(factory_->Informers().size(), 2u);
  EXPECT_EQ(factory_->Informers()[0]->resource().gvr.resource, "pods");  // "" < "apps"
  EXPECT_EQ(fakes_->requests().size(), 2u);                              // one ListerWatcher each
}

TEST_F(FactoryTest, P1_LaterRequestsAddTheirIndexersToTheSameInformer) {
  Make();
  InformerOverrides by_app;
  by_app.indexers["byApp"] = LabelIndexFunc("app");
  auto first = factory_->InformerFor(kPods, by_app);
  InformerOverrides by_node;
  by_node.indexers["byApp"] = LabelIndexFunc("app");  // asked again: not a conflict
  by_node.indexers["byNode"] = FieldPathIndexFunc("spec.nodeName");
  auto second = factory_->InformerFor(kPods, by_node);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_THAT((*first)->store().IndexNames(), ElementsAre("byApp", "byNode", kNamespaceIndex));
}

TEST_F(FactoryTest, DetachForgetsAnInformerAndALaterRequestMakesANewOne) {
  Make();
  auto first = factory_->InformerFor(kPods);
  ASSERT_TRUE(first.ok());
  factory_->Start();
  ASSERT_TRUE((*first)->WaitForSync(absl::Now() + absl::Seconds(10)));
  std::weak_ptr<SharedIndexInformer> weak = *first;
  first->reset();
  absl::StatusOr<std::shared_ptr<SharedIndexInformer>> detached = factory_->Detach(kPods.gvr);
  ASSERT_TRUE(detached.ok());
  EXPECT_FALSE((*detached)->IsStopped());  // the caller stops it
  (*detached)->Stop();
  detached->reset();
  EXPECT_TRUE(weak.expired());  // stopped and held by no one: its cache is freed
  EXPECT_EQ(factory_->Find(kPods.gvr), nullptr);
  EXPECT_EQ(factory_->Detach(kPods.gvr).status().code(), absl::StatusCode::kNotFound);
  auto again = factory_->InformerFor(kPods);
  ASSERT_TRUE(again.ok());
  factory_->Start();  // the new one is started too
  EXPECT_TRUE((*again)->WaitForSync(absl::Now() + absl::Seconds(10)));
  EXPECT_FALSE((*again)->IsStopped());
}

TEST_F(FactoryTest, P2_StartRunsThoseNotYetStartedAndIsSafeToRepeat) {
  Make();
  auto pods = *factory_->InformerFor(kPods);
  factory_->Start();
  factory_->Start();
  auto deployments = *factory_->InformerFor(kDeployments);
  factory_->Start();
  auto synced = factory_->WaitForCacheSync(absl::Seconds(10));
  EXPECT_TRUE(synced[kPods.gvr]);
  EXPECT_TRUE(synced[kDeployments.gvr]);
  // Each ran once: one LIST each.
  EXPECT_EQ(fakes_->Get(kPods.gvr)->list_calls().size(), 1u);
  EXPECT_EQ(fakes_->Get(kDeployments.gvr)->list_calls().size(), 1u);
}

TEST_F(FactoryTest, P3_WaitForCacheSyncReportsEachResourceByTheDeadline) {
  Make();
  ASSERT_TRUE(factory_->InformerFor(kPods).ok());
  ASSERT_TRUE(factory_->InformerFor(kDeployments).ok());
  // Deployments cannot be listed (RBAC): it never syncs.
  auto* deployments = fakes_->Get(kDeployments.gvr).get();
  for (int i = 0; i < 1000; ++i) deployments->FailNextList(absl::PermissionDeniedError("rbac"));
  factory_->Start();
  const absl::Time start = absl::Now();
  auto synced = factory_->WaitForCacheSync(absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(synced[kPods.gvr]);
  EXPECT_FALSE(synced[kDeployments.gvr]);
  EXPECT_EQ(factory_->Find(kDeployments.gvr)->LastError().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST_F(FactoryTest, P6_WaitForCacheSyncReportsOnlyStartedInformers) {
  Make();
  ASSERT_TRUE(factory_->InformerFor(kPods).ok());
  const absl::Time start = absl::Now();
  auto synced = factory_->WaitForCacheSync(absl::Seconds(10));
  EXPECT_TRUE(synced.empty());
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));  // nothing to wait for
}

TEST_F(FactoryTest, P4_NamespaceSelectorsAndResyncApplyToEveryInformerWithOverrides) {
  options_.namespace_name = "team-a";
  options_.label_selector = "tier=web";
  options_.field_selector = "status.phase=Running";
  options_.default_resync = absl::Minutes(10);
  Make();
  auto pods = *factory_->InformerFor(kPods);
  InformerOverrides overrides;
  overrides.namespace_name = "team-b";
  overrides.resync_period = absl::Minutes(1);
  overrides.label_selector = "tier=db";
  auto deployments = *factory_->InformerFor(kDeployments, overrides);

  EXPECT_EQ(pods->options().namespace_name, "team-a");
  EXPECT_EQ(pods->options().label_selector, "tier=web");
  EXPECT_EQ(pods->options().field_selector, "status.phase=Running");
  EXPECT_EQ(pods->options().resync_period, absl::Minutes(10));
  EXPECT_EQ(deployments->options().namespace_name, "team-b");
  EXPECT_EQ(deployments->options().label_selector, "tier=db");
  EXPECT_EQ(deployments->options().field_selector, "status.phase=Running");
  EXPECT_EQ(deployments->options().resync_period, absl::Minutes(1));
  EXPECT_THAT(fakes_->requests(), ElementsAre("pods.v1@team-a", "deployments.v1.apps@team-b"));

  factory_->Start();
  ASSERT_TRUE(factory_->WaitForCacheSync(absl::Seconds(10))[kPods.gvr]);
  auto lists = fakes_->Get(kPods.gvr, "team-a")->list_calls();
  ASSERT_FALSE(lists.empty());
  EXPECT_EQ(lists[0].label_selector, "tier=web");
  EXPECT_EQ(lists[0].field_selector, "status.phase=Running");
}

TEST_F(FactoryTest, P5_ShutdownStopsEveryInformerAndWaits) {
  Make();
  auto pods = *factory_->InformerFor(kPods);
  auto deployments = *factory_->InformerFor(kDeployments);
  factory_->Start();
  ASSERT_TRUE(fakes_->Get(kPods.gvr)->WaitForOpenWatches(1));
  ASSERT_TRUE(fakes_->Get(kDeployments.gvr)->WaitForOpenWatches(1));
  factory_->Shutdown();
  EXPECT_TRUE(pods->IsStopped());
  EXPECT_TRUE(deployments->IsStopped());
  EXPECT_EQ(fakes_->Get(kPods.gvr)->open_watches(), 0);
  EXPECT_EQ(fakes_->Get(kDeployments.gvr)->open_watches(), 0);
  factory_->Shutdown();  // idempotent
  EXPECT_EQ(factory_->InformerFor(kPods).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FactoryTest, AListerWatcherFailureIsReturnedAndNothingIsRegistered) {
  fakes_->FailFor(kPods.gvr, absl::InvalidArgumentError("pods cannot be watched"));
  Make();
  EXPECT_EQ(factory_->InformerFor(kPods).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(factory_->Find(kPods.gvr), nullptr);
}

TEST_F(FactoryTest, InformersOfTheFactoryServeObjects) {
  options_.transforms = {};
  Make();
  auto pods = *factory_->InformerFor(kPods);
  fakes_->Get(kPods.gvr)->Add(MakeObject("ns", "a", ""));
  factory_->Start();
  ASSERT_TRUE(factory_->WaitForCacheSync(absl::Seconds(10))[kPods.gvr]);
  EXPECT_NE(pods->store().GetByKey("ns/a"), nullptr);
}

// The pods informer keeps the values of the API server's pod field-selector paths and of its
// field indexes from decoding, so selectors on them never re-parse the JSON; other paths still
// answer from the JSON, with the same values.
TEST_F(FactoryTest, PodsInformerExtractsItsSelectorAndIndexPathsAtDecode) {
  options_.transforms = {};
  Make();
  InformerOverrides overrides;
  overrides.indexers["by-container"] = FieldPathIndexFunc("spec.containers[*].name");
  overrides.extracted_field_paths = {"spec.containers[*].name"};
  auto pods = *factory_->InformerFor(kPods, overrides);
  absl::StatusOr<ObjectPtr> pod = Object::FromJson(
      R"({"metadata":{"name":"a","namespace":"ns","resourceVersion":"1"},)"
      R"("spec":{"nodeName":"n1","restartPolicy":"Always","schedulerName":"default-scheduler",)"
      R"("serviceAccountName":"sa","hostNetwork":true,"dnsPolicy":"ClusterFirst",)"
      R"("containers":[{"name":"c1"},{"name":"c2"}]},)"
      R"("status":{"phase":"Running","podIP":"10.0.0.1","podIPs":[{"ip":"10.0.0.1"}]}})",
      "v1", "Pod");
  ASSERT_TRUE(pod.ok()) << pod.status();
  fakes_->Get(kPods.gvr)->Add(*pod);
  factory_->Start();
  ASSERT_TRUE(factory_->WaitForCacheSync(absl::Seconds(10))[kPods.gvr]);
  ObjectPtr cached = pods->store().GetByKey("ns/a");
  ASSERT_NE(cached, nullptr);

  std::vector<std::string> extracted = SelectableFieldPaths(kPods.gvr);
  ASSERT_THAT(extracted, ::testing::Contains("status.phase"));
  extracted.push_back("spec.containers[*].name");
  for (const std::string& text : extracted) {
    FieldPath path = *FieldPath::Parse(text);
    std::vector<std::string> from_memory;
    EXPECT_TRUE(cached->VisitFieldValuesInMemory(path, [&](absl::string_view value) {
      from_memory.emplace_back(value);
    })) << text;
    EXPECT_EQ(from_memory, (*pod)->FieldValues(text)) << text;
  }
  EXPECT_THAT(cached->FieldValues("spec.hostNetwork"), ElementsAre("true"));
  EXPECT_THAT(cached->FieldValues("spec.containers[*].name"), ElementsAre("c1", "c2"));
  FieldPath other = *FieldPath::Parse("spec.dnsPolicy");
  EXPECT_FALSE(cached->VisitFieldValuesInMemory(other, [](absl::string_view) {}));
  EXPECT_THAT(cached->FieldValues(other), ElementsAre("ClusterFirst"));
  EXPECT_THAT(*pods->store().ByIndex("by-container", "c2"), ElementsAre(cached));
}

}  // namespace
}  // namespace informer
