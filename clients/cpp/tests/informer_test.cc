// The informer and the direct reads against an in-process fake informerd: sync, live events,
// and what it sends when it resubscribes.
#include "informerd/informer.h"

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "informerd/client.h"
#include "rapidjson/pointer.h"

namespace informerd {
namespace {

using informer::v1::SubscribeRequest;
using informer::v1::SubscribeResponse;
using ::testing::ElementsAre;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;
using Writer = grpc::ServerWriter<SubscribeResponse>;

// Plays one Subscribe call: writes events and returns the status ending it.
using Script = std::function<grpc::Status(grpc::ServerContext*, Writer*)>;

// An InformerService whose Subscribe calls follow scripts handed to it one per call, and which
// records every SubscribeRequest.
class FakeService final : public informer::v1::InformerService::Service {
 public:
  grpc::Status Subscribe(grpc::ServerContext* ctx, const SubscribeRequest* req,
                         Writer* writer) override {
    Script script;
    {
      absl::MutexLock lock(&mu_);
      requests_.push_back(*req);
      // The client may go away before a script comes: poll its cancellation.
      while (scripts_.empty()) {
        if (ctx->IsCancelled()) return grpc::Status::CANCELLED;
        mu_.AwaitWithTimeout(absl::Condition(this, &FakeService::HasScript),
                             absl::Milliseconds(10));
      }
      script = std::move(scripts_.front());
      scripts_.pop_front();
    }
    return script(ctx, writer);
  }

  grpc::Status List(grpc::ServerContext*, const informer::v1::ListRequest* req,
                    informer::v1::ListResponse* resp) override {
    return list_(*req, resp);
  }

  // Hands the next Subscribe call its script.
  void Push(Script s) {
    absl::MutexLock lock(&mu_);
    scripts_.push_back(std::move(s));
  }

  // Waits for the next SubscribeRequest (in order).
  SubscribeRequest NextRequest() {
    absl::MutexLock lock(&mu_);
    EXPECT_TRUE(
        mu_.AwaitWithTimeout(absl::Condition(this, &FakeService::HasRequest), absl::Seconds(5)))
        << "no Subscribe call";
    if (requests_.size() <= taken_) return SubscribeRequest();
    return requests_[taken_++];
  }

  std::function<grpc::Status(const informer::v1::ListRequest&, informer::v1::ListResponse*)> list_;

 private:
  bool HasScript() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !scripts_.empty(); }
  bool HasRequest() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return requests_.size() > taken_; }

  absl::Mutex mu_;
  std::deque<Script> scripts_ ABSL_GUARDED_BY(mu_);
  std::vector<SubscribeRequest> requests_ ABSL_GUARDED_BY(mu_);
  size_t taken_ ABSL_GUARDED_BY(mu_) = 0;
};

informer::v1::Object Obj(const std::string& ns, const std::string& name, const std::string& rv) {
  informer::v1::Object o;
  o.set_namespace_(ns);
  o.set_name(name);
  o.set_resource_version(rv);
  o.set_uid("uid-" + name);
  o.set_json(absl::StrCat(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"namespace":")", ns,
                          R"(","name":")", name, R"(","resourceVersion":")", rv,
                          R"("},"data":{"k":")", rv, R"("}})"));
  return o;
}

SubscribeResponse Ev(informer::v1::EventType type, const std::string& rv,
                     const informer::v1::Object* obj = nullptr) {
  SubscribeResponse r;
  r.set_type(type);
  r.set_resource_version(rv);
  if (obj) *r.mutable_object() = *obj;
  return r;
}

constexpr auto kAdded = informer::v1::EVENT_TYPE_ADDED;
constexpr auto kModified = informer::v1::EVENT_TYPE_MODIFIED;
constexpr auto kDeleted = informer::v1::EVENT_TYPE_DELETED;
constexpr auto kBookmark = informer::v1::EVENT_TYPE_BOOKMARK;
constexpr auto kSynced = informer::v1::EVENT_TYPE_SYNCED;

// A script that sends `events`, then ends with `end` (OK: waits for the client to go), setting
// the resume trailer when `trailer` is not empty.
Script Send(std::vector<SubscribeResponse> events, grpc::Status end = grpc::Status::OK,
            std::string trailer = "") {
  return [events = std::move(events), end, trailer](grpc::ServerContext* ctx, Writer* w) {
    for (const SubscribeResponse& e : events) {
      if (!w->Write(e)) return grpc::Status::CANCELLED;
    }
    if (!trailer.empty()) ctx->AddTrailingMetadata("informer-resume-resource-version", trailer);
    if (!end.ok()) return end;
    while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(2));
    return grpc::Status::CANCELLED;
  };
}

// Writes each handler call as one line, e.g. "add ns/a 5 initial".
class Recorder : public ResourceEventHandler {
 public:
  void OnAdd(const ObjectPtr& obj, bool initial) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(
        absl::StrCat("add ", obj->key(), " ", obj->resource_version(), initial ? " initial" : ""));
  }
  void OnUpdate(const ObjectPtr& old_obj, const ObjectPtr& new_obj) override {
    absl::MutexLock lock(&mu_);
    calls_.push_back(absl::StrCat("update ", new_obj->key(), " ", old_obj->resource_version(), "->",
                                  new_obj->resource_version()));
  }
  void OnDelete(const DeletedObject& obj) override {
    absl::MutexLock lock(&mu_);
    bool unknown = std::holds_alternative<DeletedFinalStateUnknown>(obj);
    calls_.push_back(absl::StrCat(unknown ? "delete-unknown " : "delete ", KeyOf(obj), " ",
                                  ObjectOf(obj)->resource_version()));
  }
  // Waits until `n` calls were made and returns them.
  std::vector<std::string> Wait(size_t n) {
    absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        if (calls_.size() >= n || absl::Now() > deadline) return calls_;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
};

class InformerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&fake_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(port, 0);
    port_ = port;
    client_ = Client::Connect(absl::StrCat("127.0.0.1:", port));
  }
  void TearDown() override {
    if (informer_) informer_->Stop();
    server_->Shutdown(std::chrono::system_clock::now());
  }
  // Starts an informer of configmaps in "ns" with fast backoff and a Recorder.
  Informer& StartInformer(absl::Duration initial = absl::Milliseconds(1),
                          absl::Duration max = absl::Milliseconds(5)) {
    InformerOptions o;
    o.namespace_name = "ns";
    o.initial_backoff = initial;
    o.max_backoff = max;
    o.on_error = [this](const absl::Status& s) {
      absl::MutexLock lock(&errors_mu_);
      errors_.push_back(s);
    };
    informer_ = std::make_unique<Informer>(client_, "configmaps", o);
    recorder_ = std::make_shared<Recorder>();
    informer_->AddEventHandler(recorder_);
    informer_->Start();
    return *informer_;
  }

  int ListeningPort() const { return port_; }

  FakeService fake_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<Client> client_;
  std::unique_ptr<Informer> informer_;
  std::shared_ptr<Recorder> recorder_;
  absl::Mutex errors_mu_;
  std::vector<absl::Status> errors_ ABSL_GUARDED_BY(errors_mu_);
};

TEST_F(InformerTest, I2_FreshSubscriptionSyncsThenFollowsLiveEvents) {
  Informer& inf = StartInformer();
  SubscribeRequest req = fake_.NextRequest();
  EXPECT_EQ(req.resource(), "configmaps");
  EXPECT_EQ(req.namespace_(), "ns");
  EXPECT_EQ(req.resource_version(), "");
  EXPECT_TRUE(req.known_objects().empty());
  auto a5 = Obj("ns", "a", "5"), b6 = Obj("ns", "b", "6"), a11 = Obj("ns", "a", "11"),
       b12 = Obj("ns", "b", "12"), c13 = Obj("ns", "c", "13");
  fake_.Push(
      Send({Ev(kAdded, "", &a5), Ev(kAdded, "", &b6), Ev(kSynced, "10"), Ev(kModified, "11", &a11),
            Ev(kDeleted, "12", &b12), Ev(kAdded, "13", &c13), Ev(kBookmark, "20")}));
  EXPECT_THAT(recorder_->Wait(5),
              ElementsAre("add ns/a 5 initial", "add ns/b 6 initial", "update ns/a 5->11",
                          "delete ns/b 12", "add ns/c 13"));
  EXPECT_TRUE(inf.HasSynced());
  EXPECT_THAT(inf.store().ListKeys(), ElementsAre("ns/a", "ns/c"));
  ObjectPtr a = inf.store().Get("ns", "a");
  ASSERT_NE(a, nullptr);
  const rapidjson::Value* k = rapidjson::Pointer("/data/k").Get(a->doc());
  ASSERT_NE(k, nullptr);
  EXPECT_STREQ(k->GetString(), "11");
}

TEST_F(InformerTest, F6_HasSyncedTurnsTrueOnlyAtSynced) {
  Informer& inf = StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5");
  fake_.Push(Send({Ev(kAdded, "", &a5)}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone")));
  fake_.NextRequest();
  EXPECT_FALSE(inf.HasSynced());
  EXPECT_FALSE(inf.WaitForSync(absl::Milliseconds(5)));
  fake_.Push(Send({Ev(kSynced, "7")}));
  EXPECT_TRUE(inf.WaitForSync(absl::Seconds(5)));
}

TEST_F(InformerTest, R8_ReconnectResubscribesWithKnownObjectsAndDeliversOnlyTheDifference) {
  Informer& inf = StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5"), b6 = Obj("ns", "b", "6"), d7 = Obj("ns", "d", "7"),
       a11 = Obj("ns", "a", "11");
  fake_.Push(Send({Ev(kAdded, "", &a5), Ev(kAdded, "", &b6), Ev(kAdded, "", &d7), Ev(kSynced, "10"),
                   Ev(kModified, "11", &a11)},
                  grpc::Status(grpc::StatusCode::UNAVAILABLE, "server restarting")));
  SubscribeRequest req = fake_.NextRequest();
  EXPECT_EQ(req.resource_version(), "");
  EXPECT_THAT(req.known_objects(),
              UnorderedElementsAre(Pair("ns/a", "11"), Pair("ns/b", "6"), Pair("ns/d", "7")));
  auto b13 = Obj("ns", "b", "13"), c14 = Obj("ns", "c", "14"), e16 = Obj("ns", "e", "16");
  SubscribeResponse gone;
  gone.set_type(kDeleted);
  gone.mutable_object()->set_namespace_("ns");
  gone.mutable_object()->set_name("a");
  gone.mutable_object()->set_resource_version("11");
  gone.set_final_state_unknown(true);
  fake_.Push(Send({Ev(kModified, "", &b13), gone, Ev(kAdded, "", &c14), Ev(kSynced, "15"),
                   Ev(kAdded, "16", &e16)}));
  EXPECT_THAT(recorder_->Wait(8),
              ElementsAre("add ns/a 5 initial", "add ns/b 6 initial", "add ns/d 7 initial",
                          "update ns/a 5->11", "update ns/b 6->13", "delete-unknown ns/a 11",
                          "add ns/c 14", "add ns/e 16"));
  InformerStats s = inf.stats();
  EXPECT_EQ(s.fresh_starts, 1);
  EXPECT_EQ(s.known_objects_starts, 1);
  EXPECT_EQ(s.resource_version_starts, 0);
  absl::MutexLock lock(&errors_mu_);
  ASSERT_FALSE(errors_.empty());
  EXPECT_EQ(errors_[0].code(), absl::StatusCode::kUnavailable);
}

TEST_F(InformerTest, R8_ResourceExhaustedResumesFromTheTrailerThenOutOfRangeUsesKnownObjects) {
  StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5"), a11 = Obj("ns", "a", "11"), a12 = Obj("ns", "a", "12");
  // The server's word on its position wins over the last event's.
  fake_.Push(Send({Ev(kAdded, "", &a5), Ev(kSynced, "10"), Ev(kModified, "11", &a11)},
                  grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too slow"), "12"));
  SubscribeRequest req = fake_.NextRequest();
  EXPECT_EQ(req.resource_version(), "12");
  EXPECT_TRUE(req.known_objects().empty());
  fake_.Push(
      Send({Ev(kModified, "12", &a12)}, grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "too old")));
  req = fake_.NextRequest();
  EXPECT_EQ(req.resource_version(), "");
  EXPECT_THAT(req.known_objects(), UnorderedElementsAre(Pair("ns/a", "12")));
  fake_.Push(Send({Ev(kSynced, "12")}));
  EXPECT_THAT(recorder_->Wait(3),
              ElementsAre("add ns/a 5 initial", "update ns/a 5->11", "update ns/a 11->12"));
}

TEST_F(InformerTest, R8_ResourceExhaustedBeforeSyncedStartsFromKnownObjects) {
  StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5");
  fake_.Push(Send({Ev(kAdded, "", &a5)},
                  grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "too slow"), "3"));
  SubscribeRequest req = fake_.NextRequest();
  EXPECT_EQ(req.resource_version(), "");
  EXPECT_THAT(req.known_objects(), UnorderedElementsAre(Pair("ns/a", "5")));
}

TEST_F(InformerTest, R8_StatesTheStoreAlreadyHoldsAreNotRepeated) {
  StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5"), a4 = Obj("ns", "a", "4"), zz = Obj("ns", "zz", "9"),
       a12 = Obj("ns", "a", "12");
  fake_.Push(Send({Ev(kAdded, "", &a5), Ev(kSynced, "10")},
                  grpc::Status(grpc::StatusCode::UNAVAILABLE, "gone")));
  fake_.NextRequest();
  fake_.Push(Send({Ev(kAdded, "", &a5), Ev(kModified, "", &a4), Ev(kDeleted, "", &zz),
                   Ev(kSynced, "10"), Ev(kModified, "12", &a12)}));
  EXPECT_THAT(recorder_->Wait(2), ElementsAre("add ns/a 5 initial", "update ns/a 5->12"));
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_EQ(recorder_->Wait(2).size(), 2u);
}

TEST_F(InformerTest, I3_HandlerAddedAfterSyncGetsTheStoreFirst) {
  Informer& inf = StartInformer();
  fake_.NextRequest();
  absl::Notification release;
  auto a5 = Obj("ns", "a", "5"), b6 = Obj("ns", "b", "6"), b11 = Obj("ns", "b", "11");
  fake_.Push([&](grpc::ServerContext* ctx, Writer* w) {
    w->Write(Ev(kAdded, "", &a5));
    w->Write(Ev(kAdded, "", &b6));
    w->Write(Ev(kSynced, "10"));
    release.WaitForNotificationWithTimeout(absl::Seconds(5));
    w->Write(Ev(kModified, "11", &b11));
    while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(2));
    return grpc::Status::CANCELLED;
  });
  ASSERT_TRUE(inf.WaitForSync(absl::Seconds(5)));
  recorder_->Wait(2);
  auto late = std::make_shared<Recorder>();
  std::shared_ptr<HandlerRegistration> reg = inf.AddEventHandler(late);
  release.Notify();
  EXPECT_THAT(late->Wait(3),
              ElementsAre("add ns/a 5 initial", "add ns/b 6 initial", "update ns/b 6->11"));
  EXPECT_TRUE(reg->HasSynced());
}

TEST_F(InformerTest, I6_RemovedHandlerGetsNoMoreCalls) {
  Informer& inf = StartInformer();
  auto other = std::make_shared<Recorder>();
  std::shared_ptr<HandlerRegistration> reg = inf.AddEventHandler(other);
  fake_.NextRequest();
  absl::Notification step;
  auto a5 = Obj("ns", "a", "5"), a6 = Obj("ns", "a", "6");
  fake_.Push([&](grpc::ServerContext* ctx, Writer* w) {
    w->Write(Ev(kAdded, "", &a5));
    w->Write(Ev(kSynced, "5"));
    step.WaitForNotificationWithTimeout(absl::Seconds(5));
    w->Write(Ev(kModified, "6", &a6));
    while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(2));
    return grpc::Status::CANCELLED;
  });
  other->Wait(1);
  // SYNCED reaches the registration on the dispatcher right after the add.
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!reg->HasSynced() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(reg->HasSynced());
  inf.RemoveEventHandler(reg);
  step.Notify();
  recorder_->Wait(2);
  EXPECT_THAT(other->Wait(1), ElementsAre("add ns/a 5 initial"));
}

TEST_F(InformerTest, R5_FailuresBackOffExponentially) {
  StartInformer(absl::Milliseconds(8), absl::Milliseconds(32));
  std::vector<absl::Time> at;
  for (int i = 0; i < 5; ++i) {
    fake_.NextRequest();
    at.push_back(absl::Now());
    fake_.Push(Send({}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "not synced")));
  }
  // Waits are 8, 16, 32, 32 ms +-20%: never a spin, and capped.
  const int least_ms[] = {6, 12, 25, 25};
  for (int i = 0; i < 4; ++i) {
    EXPECT_GE(at[i + 1] - at[i], absl::Milliseconds(least_ms[i])) << "wait " << i;
  }
  EXPECT_LT(at[4] - at[3], absl::Milliseconds(500));
}

TEST_F(InformerTest, I9_StopEndsAStreamInFlight) {
  Informer& inf = StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5");
  fake_.Push(Send({Ev(kAdded, "", &a5), Ev(kSynced, "5")}));
  ASSERT_TRUE(inf.WaitForSync(absl::Seconds(5)));
  absl::Time start = absl::Now();
  inf.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  inf.Stop();  // idempotent
}

// A script that announces a bookmark interval of `interval_ms`, sends `events`, then sends
// `bookmarks` bookmarks `interval_ms / 2` apart and goes silent without ending the stream, as a
// server behind a vanished path looks to its client.
Script AnnounceThenFallSilent(int interval_ms, std::vector<SubscribeResponse> events,
                              int bookmarks = 0) {
  return [=](grpc::ServerContext* ctx, Writer* w) {
    ctx->AddInitialMetadata("informer-bookmark-interval-ms", std::to_string(interval_ms));
    w->SendInitialMetadata();
    for (const SubscribeResponse& e : events) {
      if (!w->Write(e)) return grpc::Status::CANCELLED;
    }
    for (int i = 0; i < bookmarks; ++i) {
      absl::SleepFor(absl::Milliseconds(interval_ms / 2));
      if (!w->Write(Ev(kBookmark, absl::StrCat(100 + i)))) return grpc::Status::CANCELLED;
    }
    while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(2));
    return grpc::Status::CANCELLED;
  };
}

TEST_F(InformerTest, R17_SilentStreamIsCancelledAfterTwoBookmarkIntervalsAndResumes) {
  Informer& inf = StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5");
  // Bookmarks every half interval keep the stream alive for 6 intervals; then silence.
  fake_.Push(AnnounceThenFallSilent(100, {Ev(kAdded, "", &a5), Ev(kSynced, "5")}, 12));
  ASSERT_TRUE(inf.WaitForSync(absl::Seconds(5)));
  const absl::Time synced = absl::Now();
  SubscribeRequest req = fake_.NextRequest();
  const absl::Duration resumed_after = absl::Now() - synced;
  // 12 bookmarks 50 ms apart, then two 100 ms intervals of silence (+ at most an eighth).
  EXPECT_GE(resumed_after, absl::Milliseconds(600 + 200));
  EXPECT_LT(resumed_after, absl::Milliseconds(600 + 200 + 1500));
  EXPECT_EQ(req.resource_version(), "");
  EXPECT_THAT(req.known_objects(), UnorderedElementsAre(Pair("ns/a", "5")));
  auto a6 = Obj("ns", "a", "6");
  fake_.Push(Send({Ev(kModified, "", &a6), Ev(kSynced, "6")}));
  EXPECT_THAT(recorder_->Wait(2), ElementsAre("add ns/a 5 initial", "update ns/a 5->6"));
  EXPECT_EQ(inf.stats().silent_streams, 1);
  absl::MutexLock lock(&errors_mu_);
  ASSERT_EQ(errors_.size(), 1u);
  EXPECT_EQ(errors_[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(errors_[0].message()), ::testing::HasSubstr("sent nothing"));
}

TEST_F(InformerTest, R17_WithoutAnAnnouncedIntervalTheConfiguredSilenceApplies) {
  InformerOptions o;
  o.namespace_name = "ns";
  o.initial_backoff = absl::Milliseconds(1);
  o.silence_timeout = absl::Milliseconds(300);
  o.on_error = [](const absl::Status&) {};
  informer_ = std::make_unique<Informer>(client_, "configmaps", o);
  informer_->Start();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5");
  fake_.Push(Send({Ev(kAdded, "", &a5), Ev(kSynced, "5")}));  // no header, then silent
  ASSERT_TRUE(informer_->WaitForSync(absl::Seconds(5)));
  const absl::Time synced = absl::Now();
  SubscribeRequest req = fake_.NextRequest();
  EXPECT_GE(absl::Now() - synced, absl::Milliseconds(250));
  EXPECT_THAT(req.known_objects(), UnorderedElementsAre(Pair("ns/a", "5")));
  EXPECT_EQ(informer_->stats().silent_streams, 1);
}

// Two fake replicas behind one client: a stream that falls silent on the first resumes on the
// second with the objects it holds, and unary reads follow it there.
TEST_F(InformerTest, R17_SilentReplicaFailsOverToTheNextAddress) {
  FakeService second;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&second);
  std::unique_ptr<grpc::Server> second_server = builder.BuildAndStart();
  ASSERT_NE(port, 0);
  absl::StatusOr<std::shared_ptr<Client>> both = Client::ConnectAny(
      {absl::StrCat("127.0.0.1:", ListeningPort()), absl::StrCat("127.0.0.1:", port)});
  ASSERT_TRUE(both.ok()) << both.status();
  client_ = *both;
  Informer& inf = StartInformer();
  fake_.NextRequest();
  auto a5 = Obj("ns", "a", "5"), b6 = Obj("ns", "b", "6");
  fake_.Push(AnnounceThenFallSilent(100, {Ev(kAdded, "", &a5), Ev(kSynced, "5")}));
  ASSERT_TRUE(inf.WaitForSync(absl::Seconds(5)));
  SubscribeRequest req = second.NextRequest();
  EXPECT_THAT(req.known_objects(), UnorderedElementsAre(Pair("ns/a", "5")));
  second.Push(Send({Ev(kAdded, "", &b6), Ev(kSynced, "6")}));
  EXPECT_THAT(recorder_->Wait(2), ElementsAre("add ns/a 5 initial", "add ns/b 6"));
  EXPECT_EQ(client_->current(), 1u);
  // The first replica is gone now: a List that finds it UNAVAILABLE moves to the other one.
  client_->FailOver(1);  // back to the first, which is about to be shut down
  server_->Shutdown(std::chrono::system_clock::now());
  second.list_ = [](const informer::v1::ListRequest&, informer::v1::ListResponse* resp) {
    resp->set_resource_version("6");
    *resp->add_objects() = Obj("ns", "b", "6");
    return grpc::Status::OK;
  };
  absl::StatusOr<ObjectList> list = client_->List("configmaps");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_EQ(list->resource_version, "6");
  EXPECT_EQ(client_->current(), 1u);
  informer_->Stop();
  second_server->Shutdown(std::chrono::system_clock::now());
}

TEST(ClientTest, ConnectAnyRefusesAnEmptyList) {
  EXPECT_EQ(Client::ConnectAny({}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(InformerTest, ListFetchesEveryPageAndRestartsAnExpiredSnapshot) {
  std::vector<std::string> tokens;
  fake_.list_ = [&](const informer::v1::ListRequest& req, informer::v1::ListResponse* resp) {
    tokens.push_back(req.page_token());
    if (tokens.size() == 2) return grpc::Status(grpc::StatusCode::ABORTED, "snapshot expired");
    resp->set_resource_version("9");
    if (req.page_token().empty()) {
      *resp->add_objects() = Obj("ns", "a", "1");
      resp->set_next_page_token("p2");
    } else {
      *resp->add_objects() = Obj("ns", "b", "2");
    }
    return grpc::Status::OK;
  };
  ListOptions one_per_page;
  one_per_page.limit = 1;
  absl::StatusOr<ObjectList> list = client_->List("configmaps", one_per_page);
  ASSERT_TRUE(list.ok()) << list.status();
  ASSERT_EQ(list->items.size(), 2u);
  EXPECT_EQ(list->items[0]->key(), "ns/a");
  EXPECT_EQ(list->items[1]->key(), "ns/b");
  EXPECT_EQ(list->resource_version, "9");
  EXPECT_THAT(tokens, ElementsAre("", "p2", "", "p2"));

  fake_.list_ = [](const informer::v1::ListRequest&, informer::v1::ListResponse*) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad selector");
  };
  EXPECT_EQ(client_->List("nope").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ObjectTest, FromJsonReadsMetadataAndKeys) {
  absl::StatusOr<ObjectPtr> o = Object::FromJson(
      R"({"metadata":{"namespace":"ns","name":"a","uid":"u","resourceVersion":"7"}})");
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ((*o)->key(), "ns/a");
  EXPECT_EQ((*o)->uid(), "u");
  EXPECT_EQ((*o)->resource_version(), "7");
  EXPECT_EQ(Object::FromJson(R"({"metadata":{}})").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Object::FromJson("{").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<ObjectPtr> node = Object::FromJson(R"({"metadata":{"name":"n1"}})");
  ASSERT_TRUE(node.ok());
  EXPECT_EQ((*node)->key(), "n1");
  DeletedObject tomb = DeletedFinalStateUnknown{"ns/x", *o};
  EXPECT_EQ(KeyOf(tomb), "ns/x");
  EXPECT_EQ(ObjectOf(tomb), *o);
  EXPECT_TRUE(ResourceVersionNewer("10", "9"));
  EXPECT_FALSE(ResourceVersionNewer("9", "10"));
  EXPECT_FALSE(ResourceVersionNewer("9", "9"));
}

}  // namespace
}  // namespace informerd
