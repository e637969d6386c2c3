// End to end: the informer and the direct reads against informerd over a real API server.
// Skips unless INFORMERD_TEST_ADDR and INFORMERD_TEST_KUBECONFIG are set (see test_env.h).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/cpp/tests/test_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informerd/client.h"
#include "informerd/informer.h"
#include "rapidjson/pointer.h"

namespace informerd {
namespace {

using e2e::BlackholeProxy;
using e2e::Eventually;
using e2e::GetTestEnv;
using e2e::Kube;
using e2e::ServerProcess;
using e2e::TestEnv;
using ::testing::ElementsAre;

// Keeps its own model (key -> resourceVersion) from the calls alone and records any call that
// contradicts it: adding a held key, updating from a state it does not hold, deleting a key it
// lacks, or a state delivered twice. Logs every call as "add NAME initial|live", "update NAME",
// "delete NAME" or "delete-unknown NAME".
class Checker : public ResourceEventHandler {
 public:
  void OnAdd(const ObjectPtr& obj, bool initial) override {
    absl::MutexLock lock(&mu_);
    if (model_.count(obj->key())) errors_.push_back("add of a held key " + obj->key());
    log_.push_back(absl::StrCat("add ", obj->name(), initial ? " initial" : " live"));
    State(obj);
  }
  void OnUpdate(const ObjectPtr& old_obj, const ObjectPtr& new_obj) override {
    absl::MutexLock lock(&mu_);
    if (model_[new_obj->key()] != old_obj->resource_version()) {
      errors_.push_back("update from a state not held: " + new_obj->key());
    }
    log_.push_back("update " + new_obj->name());
    State(new_obj);
  }
  void OnDelete(const DeletedObject& obj) override {
    absl::MutexLock lock(&mu_);
    if (!model_.erase(KeyOf(obj))) errors_.push_back("delete of a key not held " + KeyOf(obj));
    bool unknown = std::holds_alternative<DeletedFinalStateUnknown>(obj);
    log_.push_back(absl::StrCat(unknown ? "delete-unknown " : "delete ", ObjectOf(obj)->name()));
  }
  std::map<std::string, std::string> model() {
    absl::MutexLock lock(&mu_);
    return model_;
  }
  std::vector<std::string> log() {
    absl::MutexLock lock(&mu_);
    return log_;
  }
  std::vector<std::string> errors() {
    absl::MutexLock lock(&mu_);
    return errors_;
  }

 private:
  void State(const ObjectPtr& obj) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::string id = obj->key() + "@" + obj->resource_version();
    if (!seen_.insert(id).second) errors_.push_back("repeated state " + id);
    model_[obj->key()] = obj->resource_version();
  }
  absl::Mutex mu_;
  std::map<std::string, std::string> model_ ABSL_GUARDED_BY(mu_);
  std::set<std::string> seen_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> log_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
};

std::map<std::string, std::string> StoreVersions(const Informer& inf) {
  std::map<std::string, std::string> out;
  for (const ObjectPtr& o : inf.store().List()) out[o->key()] = o->resource_version();
  return out;
}

std::string Show(const std::map<std::string, std::string>& m) {
  return absl::StrJoin(m, ",", absl::PairFormatter("="));
}

class ClientE2ETest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::optional<TestEnv> env = GetTestEnv();
    if (!env) GTEST_SKIP() << e2e::kSkipMessage;
    env_ = *env;
    absl::StatusOr<std::unique_ptr<Kube>> kube = Kube::Create(env_.kubeconfig);
    ASSERT_TRUE(kube.ok()) << kube.status();
    kube_ = *std::move(kube);
  }
  void TearDown() override {
    if (informer_) informer_->Stop();
  }

  // Starts an informer of the test namespace's ConfigMaps with a Checker; waits for sync.
  void StartInformer(std::shared_ptr<Client> client) {
    InformerOptions o;
    o.namespace_name = kube_->ns();
    o.initial_backoff = absl::Milliseconds(50);
    o.max_backoff = absl::Milliseconds(500);
    informer_ = std::make_unique<Informer>(std::move(client), "configmaps", o);
    checker_ = std::make_shared<Checker>();
    std::shared_ptr<HandlerRegistration> registration = informer_->AddEventHandler(checker_);
    informer_->Start();
    ASSERT_TRUE(informer_->WaitForSync(absl::Seconds(30))) << "informer did not sync in 30 s";
    // The store has every initial object; the handler gets them on the dispatcher, after it.
    // Wait for that too (as client-go's WaitForCacheSync(registration.HasSynced)), so that what
    // a test logs after this is what happened after this.
    ASSERT_TRUE(Eventually([&] { return registration->HasSynced(); }, absl::Seconds(30)))
        << "the handler was not handed the initial objects in 30 s";
  }

  // Waits until the store and the checker's model equal the API server's truth, and checks
  // that no call contradicted the model.
  void ExpectConverged() {
    std::map<std::string, std::string> truth;
    bool ok = Eventually([&] {
      absl::StatusOr<std::map<std::string, std::string>> t = kube_->ConfigMapVersions();
      if (!t.ok()) return false;
      truth = *t;
      // Handlers run on the dispatcher, after the store: compare both.
      return checker_->model() == truth && StoreVersions(*informer_) == truth;
    });
    EXPECT_TRUE(ok) << "store " << Show(StoreVersions(*informer_)) << " / handlers "
                    << Show(checker_->model()) << ", API server " << Show(truth);
    EXPECT_THAT(checker_->errors(), ::testing::IsEmpty());
  }

  TestEnv env_;
  std::unique_ptr<Kube> kube_;
  std::unique_ptr<Informer> informer_;
  std::shared_ptr<Checker> checker_;
};

TEST_F(ClientE2ETest, SyncThenLiveEvents) {
  absl::StatusOr<std::string> last;
  for (const char* n : {"a", "b", "c"}) {
    last = kube_->CreateConfigMap(n, {}, {{"v", "0"}});
    ASSERT_TRUE(last.ok()) << last.status();
  }
  std::shared_ptr<Client> client = Client::Connect(env_.addr);
  // informerd's cache follows the API server's watch; until it has seen "c", a subscription
  // would get "c" as a live add after the initial objects. Read the write first.
  ASSERT_TRUE(client->Get("configmaps", kube_->ns(), "c", *last).ok());
  StartInformer(client);
  ASSERT_TRUE(Eventually([&] { return checker_->log().size() >= 3; }));
  EXPECT_THAT(checker_->log(), ElementsAre("add a initial", "add b initial", "add c initial"));
  ExpectConverged();

  ASSERT_TRUE(kube_->CreateConfigMap("d", {}, {}).ok());
  ASSERT_TRUE(kube_->SetData("a", "v", "1").ok());
  ASSERT_TRUE(kube_->DeleteConfigMap("b").ok());
  ExpectConverged();
  std::vector<std::string> log = checker_->log();
  EXPECT_THAT(std::vector<std::string>(log.begin() + 3, log.end()),
              ElementsAre("add d live", "update a", "delete b"));
  ObjectPtr a = informer_->store().Get(kube_->ns(), "a");
  ASSERT_NE(a, nullptr);
  EXPECT_STREQ(rapidjson::Pointer("/data/v").Get(a->doc())->GetString(), "1");
  EXPECT_STREQ(rapidjson::Pointer("/kind").Get(a->doc())->GetString(), "ConfigMap");
}

TEST_F(ClientE2ETest, ListGetByIndex) {
  std::shared_ptr<Client> client = Client::Connect(env_.addr);
  ASSERT_TRUE(kube_->CreateConfigMap("x1", {{"app", "demo"}}, {}).ok());
  ASSERT_TRUE(kube_->CreateConfigMap("x2", {{"app", "other"}}, {}).ok());
  absl::StatusOr<std::string> last = kube_->CreateConfigMap("x3", {{"app", "demo"}}, {});
  ASSERT_TRUE(last.ok()) << last.status();

  // Read your writes: wait until the cache has seen the last create.
  absl::StatusOr<ObjectPtr> got = client->Get("configmaps", kube_->ns(), "x3", *last);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)->resource_version(), *last);

  ListOptions demo;
  demo.namespace_name = kube_->ns();
  demo.label_selector = "app=demo";
  demo.limit = 1;
  absl::StatusOr<ObjectList> list = client->List("configmaps", demo);
  ASSERT_TRUE(list.ok()) << list.status();
  std::vector<std::string> names;
  for (const ObjectPtr& o : list->items) names.push_back(o->name());
  EXPECT_THAT(names, ElementsAre("x1", "x3"));
  EXPECT_FALSE(list->resource_version.empty());

  EXPECT_EQ(client->Get("cm", kube_->ns(), "missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(client->List("no-such-resource").status().code(), absl::StatusCode::kNotFound);

  auto resources = client->ListResources();
  ASSERT_TRUE(resources.ok()) << resources.status();
  std::vector<std::string> indexes;
  for (const auto& r : *resources) {
    if (r.resource() == "configmaps")
      indexes.assign(r.index_names().begin(), r.index_names().end());
  }
  EXPECT_THAT(indexes, ::testing::Contains("namespace"));
  absl::StatusOr<std::vector<ObjectPtr>> by_ns =
      client->ByIndex("configmaps", "namespace", kube_->ns());
  ASSERT_TRUE(by_ns.ok()) << by_ns.status();
  names.clear();
  for (const ObjectPtr& o : *by_ns) {
    if (o->name() != "kube-root-ca.crt") names.push_back(o->name());
  }
  EXPECT_THAT(names, ElementsAre("x1", "x2", "x3"));
}

// A field mask on every read and on the informer's stream: objects arrive pruned to the
// paths asked for (identity and resourceVersion kept), and a change outside them is not sent.
TEST_F(ClientE2ETest, FieldMaskPrunesReadsAndTheInformersStream) {
  std::shared_ptr<Client> client = Client::Connect(env_.addr);
  absl::StatusOr<std::string> created =
      kube_->CreateConfigMap("m1", {{"app", "demo"}}, {{"v", "0"}, {"big", "x"}});
  ASSERT_TRUE(created.ok()) << created.status();
  auto pruned = [](const ObjectPtr& o) {
    return rapidjson::Pointer("/data/big").Get(o->doc()) == nullptr &&
           rapidjson::Pointer("/metadata/labels").Get(o->doc()) == nullptr;
  };

  GetOptions get;
  get.min_resource_version = *created;
  get.fields = {"data.v"};
  get.wait_for_sync = true;
  absl::StatusOr<ObjectPtr> got = client->Get("configmaps", kube_->ns(), "m1", get);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(pruned(*got));
  EXPECT_STREQ(rapidjson::Pointer("/data/v").Get((*got)->doc())->GetString(), "0");
  EXPECT_EQ((*got)->name(), "m1");
  EXPECT_EQ((*got)->resource_version(), *created);

  ListOptions list;
  list.namespace_name = kube_->ns();
  list.label_selector = "app=demo";  // selectors see the whole object, the answer is pruned
  list.fields = {"data.v"};
  list.wait_for_sync = true;
  absl::StatusOr<ObjectList> listed = client->List("configmaps", list);
  ASSERT_TRUE(listed.ok()) << listed.status();
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_TRUE(pruned(listed->items[0]));
  absl::StatusOr<std::vector<ObjectPtr>> by_index =
      client->ByIndex("configmaps", "namespace", kube_->ns(), list);
  ASSERT_TRUE(by_index.ok()) << by_index.status();
  ASSERT_EQ(by_index->size(), 1u);
  EXPECT_TRUE(pruned((*by_index)[0]));
  list.fields = {"no..path"};
  EXPECT_EQ(client->List("configmaps", list).status().code(), absl::StatusCode::kInvalidArgument);

  InformerOptions o;
  o.namespace_name = kube_->ns();
  o.fields = {"data.v"};
  o.wait_for_sync = true;
  informer_ = std::make_unique<Informer>(client, "configmaps", o);
  checker_ = std::make_shared<Checker>();
  informer_->AddEventHandler(checker_);
  informer_->Start();
  ASSERT_TRUE(informer_->WaitForSync(absl::Seconds(30)));
  // A change outside the mask, then one inside: events come in order, so once the second has
  // arrived the first would have too, had it been sent.
  ASSERT_TRUE(kube_->SetData("m1", "big", "y").ok());
  ASSERT_TRUE(kube_->SetData("m1", "v", "1").ok());
  // The handler runs on the dispatcher after the store: wait until it holds that version too.
  ASSERT_TRUE(Eventually([&] {
    ObjectPtr held = informer_->store().Get(kube_->ns(), "m1");
    const rapidjson::Value* v =
        held == nullptr ? nullptr : rapidjson::Pointer("/data/v").Get(held->doc());
    return v != nullptr && std::string(v->GetString()) == "1" &&
           checker_->model()[held->key()] == held->resource_version();
  }));
  EXPECT_TRUE(pruned(informer_->store().Get(kube_->ns(), "m1")));
  std::vector<std::string> log = checker_->log();
  EXPECT_EQ(std::count(log.begin(), log.end(), "update m1"), 1) << ::testing::PrintToString(log);
  EXPECT_THAT(checker_->errors(), ::testing::IsEmpty());
}

// informerd is killed while changes flow; ConfigMaps change while it is down; after it is back
// the informer converges to the API server's truth, and what changed while it was down arrives
// as exactly one add, update or tombstone delete each; unchanged objects produce no call.
TEST_F(ClientE2ETest, R8_ServerRestartMidStreamResumes) {
  if (env_.bin.empty()) GTEST_SKIP() << "set INFORMERD_TEST_BIN to run the restart test";
  char dir_template[] = "/tmp/informerd-cpp-e2e-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  // Declared before the server, so it runs after the server stopped (its socket is inside).
  absl::Cleanup remove_dir = [&dir_template] { std::filesystem::remove_all(dir_template); };
  ServerProcess server(env_, dir_template);
  ASSERT_TRUE(server.Start().ok());
  for (int i = 0; i < 6; ++i) {
    ASSERT_TRUE(kube_->CreateConfigMap(absl::StrCat("cm-", i), {}, {}).ok());
  }
  ASSERT_TRUE(kube_->CreateConfigMap("hot", {}, {}).ok());
  StartInformer(Client::Connect(server.target()));

  // A writer keeps "hot" changing across the restart, so the kill lands mid-stream.
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 1; !stop; ++i) {
      absl::SleepFor(absl::Milliseconds(15));
      EXPECT_TRUE(kube_->SetData("hot", "v", absl::StrCat(i)).ok());
    }
  });
  auto hot_updates = [&] {
    std::vector<std::string> log = checker_->log();
    return std::count(log.begin(), log.end(), "update hot");
  };
  EXPECT_TRUE(Eventually([&] { return hot_updates() >= 3; }, absl::Seconds(10)));

  server.Kill();
  size_t before = checker_->log().size();
  EXPECT_TRUE(kube_->CreateConfigMap("new-0", {}, {}).ok());
  EXPECT_TRUE(kube_->CreateConfigMap("new-1", {}, {}).ok());
  EXPECT_TRUE(kube_->SetData("cm-0", "v", "1").ok());
  EXPECT_TRUE(kube_->SetData("cm-1", "v", "1").ok());
  EXPECT_TRUE(kube_->SetData("cm-1", "v", "2").ok());
  EXPECT_TRUE(kube_->DeleteConfigMap("cm-2").ok());
  EXPECT_TRUE(kube_->DeleteConfigMap("cm-3").ok());
  absl::SleepFor(absl::Milliseconds(100));  // a few failed resubscriptions meanwhile
  absl::Status started = server.Start();
  absl::SleepFor(absl::Milliseconds(200));
  stop = true;
  writer.join();
  ASSERT_TRUE(started.ok()) << started;
  ExpectConverged();

  std::vector<std::string> log = checker_->log(), after;
  for (size_t i = before; i < log.size(); ++i) {
    if (!absl::EndsWith(log[i], " hot")) after.push_back(log[i]);
  }
  std::sort(after.begin(), after.end());
  EXPECT_THAT(after, ElementsAre("add new-0 live", "add new-1 live", "delete-unknown cm-2",
                                 "delete-unknown cm-3", "update cm-0", "update cm-1"));
  InformerStats s = informer_->stats();
  EXPECT_EQ(s.fresh_starts, 1);
  EXPECT_GE(s.known_objects_starts, 1);
  // Unsubscribe before the server goes: it would wait out its shutdown grace for the stream.
  informer_->Stop();
}

// The path to one informerd address goes silent (blackholed, nothing closed) mid-stream: the
// informer, told by the server to expect a bookmark every second (clients_e2e_test.sh runs
// informerd with --bookmark_interval=1s), presumes the stream dead after two silent intervals
// and resumes on the client's other address with the objects it holds; every change made
// meanwhile reaches the handlers once.
TEST_F(ClientE2ETest, R17_BlackholedAddressIsLeftWithinTwoBookmarkIntervals) {
  BlackholeProxy proxy;
  ASSERT_TRUE(proxy.Start(env_.addr).ok());
  ASSERT_TRUE(kube_->CreateConfigMap("a", {}, {}).ok());
  ASSERT_TRUE(kube_->CreateConfigMap("b", {}, {}).ok());
  absl::StatusOr<std::shared_ptr<Client>> client = Client::ConnectAny({proxy.target(), env_.addr});
  ASSERT_TRUE(client.ok()) << client.status();
  StartInformer(*client);
  ASSERT_EQ((*client)->current(), 0u) << "the stream should run through the proxy";
  const size_t before = checker_->log().size();

  proxy.Blackhole();
  const absl::Time blackholed = absl::Now();
  ASSERT_TRUE(kube_->CreateConfigMap("c", {}, {}).ok());
  ASSERT_TRUE(kube_->SetData("a", "k", "1").ok());
  ASSERT_TRUE(kube_->DeleteConfigMap("b").ok());
  ASSERT_TRUE(Eventually([&] { return informer_->stats().silent_streams >= 1; }, absl::Seconds(15)))
      << "the silent stream was never cancelled";
  const absl::Duration noticed = absl::Now() - blackholed;
  // Two 1 s intervals after the last message, which came at most 1.25 s before the blackhole
  // (bookmarks are due every second, looked at every 250 ms), plus the watchdog's eighth and
  // scheduling.
  EXPECT_GE(noticed, absl::Milliseconds(500));
  EXPECT_LT(noticed, absl::Seconds(5));
  ExpectConverged();
  EXPECT_EQ((*client)->current(), 1u) << "the informer should have moved to the other address";

  std::vector<std::string> log = checker_->log(), after(log.begin() + before, log.end());
  std::sort(after.begin(), after.end());
  EXPECT_THAT(after, ElementsAre("add c live", "delete-unknown b", "update a"));
  InformerStats s = informer_->stats();
  EXPECT_EQ(s.fresh_starts, 1);
  EXPECT_EQ(s.known_objects_starts, 1);
  EXPECT_EQ(s.silent_streams, 1);
}

}  // namespace
}  // namespace informerd
