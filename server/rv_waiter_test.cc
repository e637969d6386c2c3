#include "server/rv_waiter.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/clock.h"
#include "informer/testing/fake_lister_watcher.h"
#include "informer/testing/objects.h"

namespace informer {
namespace server {
namespace {

using ::informer::testing::FakeListerWatcher;
using ::informer::testing::MakeObject;
using ::informer::testing::PodsResource;
using ::testing::HasSubstr;

// One wait's answer.
class Answer {
 public:
  std::function<void(absl::Status)> Callback() {
    return [this](absl::Status status) {
      absl::MutexLock lock(&mu_);
      status_ = std::move(status);
      done_ = true;
    };
  }
  // The answer, or Unknown("no answer") when none came within `timeout`.
  absl::Status Get(absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
    return done_ ? status_ : absl::UnknownError("no answer");
  }
  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }

 private:
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

class WaiterTest : public ::testing::Test {
 protected:
  WaiterTest() {
    InformerOptions options;
    options.resource = PodsResource();
    options.reflector.backoff.initial = absl::Milliseconds(1);
    informer_ = std::make_shared<SharedIndexInformer>(fake_, options);
    EXPECT_TRUE(informer_->Run().ok());
    EXPECT_TRUE(informer_->WaitForSync(absl::Now() + absl::Seconds(10)));
  }
  ~WaiterTest() override { informer_->Stop(); }

  std::string Next() const { return absl::StrCat(fake_->revision() + 1); }

  std::shared_ptr<FakeListerWatcher> fake_ = std::make_shared<FakeListerWatcher>();
  std::shared_ptr<SharedIndexInformer> informer_;
};

// Without a sweep (an hour), only the informer's progress can answer these waits.
// Polls `condition` for up to 5 s.
bool WaitForCondition(const std::function<bool()>& condition) {
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return true;
}

WaiterOptions NoSweep() {
  WaiterOptions options;
  options.sweep = absl::Hours(1);
  return options;
}

TEST_F(WaiterTest, AChangeWakesTheWaitAtOnceWithoutPolling) {
  ResourceVersionWaiter waiter(NoSweep());
  Answer answer;
  waiter.Wait(informer_, Next(), MonotonicNow() + absl::Seconds(30), nullptr, answer.Callback());
  EXPECT_EQ(waiter.pending(), 1u);
  absl::SleepFor(absl::Milliseconds(300));
  // Idle: no round ran for it beyond its registration (a 5 ms poll would have run ~60).
  EXPECT_LE(waiter.rounds(), 2u);
  const absl::Time changed = MonotonicNow();
  fake_->Add(MakeObject("ns", "a", "0"));
  EXPECT_TRUE(answer.Get().ok());
  EXPECT_LT(MonotonicNow() - changed, absl::Seconds(1));
  EXPECT_EQ(waiter.pending(), 0u);
}

TEST_F(WaiterTest, ABookmarkAloneWakesTheWait) {
  ResourceVersionWaiter waiter(NoSweep());
  Answer answer;
  const std::string wanted = absl::StrCat(fake_->revision() + 5);
  waiter.Wait(informer_, wanted, MonotonicNow() + absl::Seconds(30), nullptr, answer.Callback());
  ASSERT_TRUE(fake_->WaitForOpenWatches(1));  // a bookmark reaches open watches only
  fake_->BumpRevision(10);
  fake_->SendBookmark();
  EXPECT_TRUE(answer.Get(absl::Seconds(5)).ok());
}

TEST_F(WaiterTest, TheDeadlineIsMetWithoutProgressAndSaysHowFarTheCacheGot) {
  ResourceVersionWaiter waiter(NoSweep());
  Answer answer;
  const absl::Time started = MonotonicNow();
  waiter.Wait(informer_, "999999", started + absl::Milliseconds(150), nullptr, answer.Callback());
  absl::Status status = answer.Get();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(status.message(), HasSubstr("has not reached min_resource_version 999999"));
  EXPECT_LT(MonotonicNow() - started, absl::Seconds(1));
}

TEST_F(WaiterTest, WaitForSyncAnswersOnceTheInitialSyncIsDone) {
  InformerOptions options;
  options.resource = PodsResource();
  auto fresh = std::make_shared<SharedIndexInformer>(fake_, options);  // not run yet
  ResourceVersionWaiter waiter;
  Answer late;
  const absl::Time started = MonotonicNow();
  waiter.WaitForSync(fresh, started + absl::Milliseconds(150), nullptr, late.Callback());
  absl::Status status = late.Get();
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(status.message(), HasSubstr("did not finish its initial sync"));
  EXPECT_LT(MonotonicNow() - started, absl::Seconds(1));
  Answer synced;
  waiter.WaitForSync(fresh, MonotonicNow() + absl::Seconds(30), nullptr, synced.Callback());
  EXPECT_FALSE(synced.done());
  ASSERT_TRUE(fresh->Run().ok());
  EXPECT_TRUE(synced.Get().ok());
  // Synced already: answered at once.
  Answer now;
  waiter.WaitForSync(fresh, MonotonicNow(), nullptr, now.Callback());
  EXPECT_TRUE(now.done());
  EXPECT_TRUE(now.Get().ok());
  fresh->Stop();
}

TEST_F(WaiterTest, ForgetLetsGoOfAStoppedInformer) {
  InformerOptions options;
  options.resource = PodsResource();
  auto other = std::make_shared<SharedIndexInformer>(fake_, options);
  ASSERT_TRUE(other->Run().ok());
  ASSERT_TRUE(other->WaitForSync(absl::Now() + absl::Seconds(10)));
  ResourceVersionWaiter waiter(NoSweep());
  Answer answer;
  waiter.Wait(other, Next(), MonotonicNow() + absl::Seconds(30), nullptr, answer.Callback());
  other->Stop();
  waiter.Forget(other.get());
  // The pending wait ends (its informer stopped), and nothing in the waiter holds it after.
  absl::Status status = answer.Get(absl::Seconds(5));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("no longer cached"));
  EXPECT_TRUE(WaitForCondition([&] { return other.use_count() == 1; }));
}

TEST_F(WaiterTest, PerCallerCapRefusesThatCallerWhileOthersWait) {
  WaiterOptions options = NoSweep();
  options.max_waits_per_caller = 2;
  options.max_waits = 10;
  ResourceVersionWaiter waiter(options);
  std::vector<std::unique_ptr<Answer>> answers;
  for (int i = 0; i < 3; ++i) {
    answers.push_back(std::make_unique<Answer>());
    waiter.Wait(informer_, Next(), MonotonicNow() + absl::Seconds(30), nullptr,
                answers.back()->Callback(), "ip:10.0.0.1");
  }
  // The third was answered at once.
  ASSERT_TRUE(answers[2]->done());
  absl::Status refused = answers[2]->Get();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("--max_waits_per_caller"));
  Answer other;
  waiter.Wait(informer_, Next(), MonotonicNow() + absl::Seconds(30), nullptr, other.Callback(),
              "ip:10.0.0.2");
  EXPECT_FALSE(other.done());
  EXPECT_EQ(waiter.pending("ip:10.0.0.1"), 2u);
  fake_->Add(MakeObject("ns", "a", "0"));
  EXPECT_TRUE(answers[0]->Get().ok());
  EXPECT_TRUE(answers[1]->Get().ok());
  EXPECT_TRUE(other.Get().ok());
  EXPECT_EQ(waiter.pending(), 0u);
  EXPECT_EQ(waiter.refused(), 1u);
}

TEST_F(WaiterTest, TotalCapRefusesEveryCallerNamingTheFlag) {
  WaiterOptions options = NoSweep();
  options.max_waits = 1;
  ResourceVersionWaiter waiter(options);
  Answer first, second;
  waiter.Wait(informer_, Next(), MonotonicNow() + absl::Seconds(30), nullptr, first.Callback(),
              "a");
  waiter.Wait(informer_, Next(), MonotonicNow() + absl::Seconds(30), nullptr, second.Callback(),
              "b");
  absl::Status refused = second.Get();
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.message(), HasSubstr("--max_waits)"));
  waiter.Shutdown();
  EXPECT_EQ(first.Get().code(), absl::StatusCode::kUnavailable);
}

TEST_F(WaiterTest, ACancelledCallIsAnsweredByTheSweep) {
  WaiterOptions options;
  options.sweep = absl::Milliseconds(50);
  ResourceVersionWaiter waiter(options);
  std::atomic<bool> cancelled{false};
  Answer answer;
  waiter.Wait(
      informer_, Next(), MonotonicNow() + absl::Seconds(30), [&] { return cancelled.load(); },
      answer.Callback(), "a");
  absl::SleepFor(absl::Milliseconds(200));  // the wait is pending, its first round long done
  EXPECT_FALSE(answer.done());
  const absl::Time cancelled_at = MonotonicNow();
  cancelled = true;
  EXPECT_EQ(answer.Get(absl::Seconds(2)).code(), absl::StatusCode::kCancelled);
  EXPECT_LT(MonotonicNow() - cancelled_at, absl::Milliseconds(500));
  EXPECT_EQ(waiter.pending("a"), 0u);
}

TEST_F(WaiterTest, AWaitAlreadyReachedIsAnsweredInlineAndTakesNoSlot) {
  WaiterOptions options = NoSweep();
  options.max_waits = 1;
  ResourceVersionWaiter waiter(options);
  Answer answer;
  waiter.Wait(informer_, "1", MonotonicNow() + absl::Seconds(1), nullptr, answer.Callback(), "a");
  ASSERT_TRUE(answer.done());
  EXPECT_TRUE(answer.Get().ok());
  EXPECT_EQ(waiter.pending(), 0u);
}

}  // namespace
}  // namespace server
}  // namespace informer
