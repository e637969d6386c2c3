#include "server/limits.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/clock.h"

namespace informer {
namespace server {
namespace {

using ::testing::HasSubstr;

TEST(CallerQuotaTest, PerCallerCapRefusesThatCallerOnlyNamingTheFlag) {
  CallerQuota quota("open Subscribe streams", 2, "max_subscribers_per_caller", 10,
                    "max_subscribers");
  std::vector<CallerQuota::Lease> held;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<CallerQuota::Lease> lease = quota.Acquire("ip:10.0.0.1");
    ASSERT_TRUE(lease.ok()) << lease.status();
    held.push_back(*std::move(lease));
  }
  absl::StatusOr<CallerQuota::Lease> third = quota.Acquire("ip:10.0.0.1");
  EXPECT_EQ(third.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.status().message(), HasSubstr("--max_subscribers_per_caller"));
  EXPECT_THAT(third.status().message(), HasSubstr("ip:10.0.0.1"));
  // Another caller is still served.
  EXPECT_TRUE(quota.Acquire("ip:10.0.0.2").ok());
  EXPECT_EQ(quota.refused(), 1u);
  // Releasing one makes room for the first caller again.
  held.pop_back();
  EXPECT_EQ(quota.held_by("ip:10.0.0.1"), 1u);
  EXPECT_TRUE(quota.Acquire("ip:10.0.0.1").ok());
}

TEST(CallerQuotaTest, TotalCapRefusesEveryoneNamingTheTotalFlag) {
  CallerQuota quota("calls waiting for min_resource_version", 5, "max_waits_per_caller", 3,
                    "max_waits");
  std::vector<CallerQuota::Lease> held;
  for (const char* caller : {"user:a", "user:b", "user:c"}) {
    absl::StatusOr<CallerQuota::Lease> lease = quota.Acquire(caller);
    ASSERT_TRUE(lease.ok());
    held.push_back(*std::move(lease));
  }
  absl::StatusOr<CallerQuota::Lease> fourth = quota.Acquire("user:d");
  EXPECT_EQ(fourth.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(fourth.status().message(), HasSubstr("--max_waits)"));
  EXPECT_EQ(quota.total(), 3u);
  held.clear();
  EXPECT_EQ(quota.total(), 0u);
  EXPECT_EQ(quota.held_by("user:a"), 0u);
}

TEST(CallerQuotaTest, LeaseReleasesOnceWhenMovedAndReleasedTwice) {
  CallerQuota quota("x", 1, "a", 1, "b");
  absl::StatusOr<CallerQuota::Lease> lease = quota.Acquire("c");
  ASSERT_TRUE(lease.ok());
  CallerQuota::Lease moved = *std::move(lease);
  moved.Release();
  moved.Release();
  EXPECT_EQ(quota.total(), 0u);
  EXPECT_TRUE(quota.Acquire("c").ok());
}

TEST(AdmissionGateTest, FullGateWaitsBrieflyThenRefusesWithRetryAdvice) {
  AdmissionGate gate(1, absl::Milliseconds(100));
  absl::StatusOr<AdmissionGate::Ticket> first = gate.Enter(absl::InfiniteFuture());
  ASSERT_TRUE(first.ok());
  const absl::Time started = MonotonicNow();
  absl::StatusOr<AdmissionGate::Ticket> second = gate.Enter(absl::InfiniteFuture());
  const absl::Duration waited = MonotonicNow() - started;
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(second.status().message(), HasSubstr("--max_concurrent_starts"));
  EXPECT_THAT(second.status().message(), HasSubstr("retry"));
  EXPECT_GE(waited, absl::Milliseconds(90));
  EXPECT_LT(waited, absl::Seconds(2));
  // A call's own deadline bounds the wait too.
  const absl::Time before = MonotonicNow();
  EXPECT_FALSE(gate.Enter(MonotonicNow() + absl::Milliseconds(10)).ok());
  EXPECT_LT(MonotonicNow() - before, absl::Milliseconds(90));
  EXPECT_EQ(gate.refused(), 2u);
}

TEST(AdmissionGateTest, WaiterGetsTheSlotFreedWithinItsWait) {
  AdmissionGate gate(1, absl::Seconds(10));
  absl::StatusOr<AdmissionGate::Ticket> first = gate.Enter(absl::InfiniteFuture());
  ASSERT_TRUE(first.ok());
  std::thread releaser([&] {
    absl::SleepFor(absl::Milliseconds(50));
    first->Release();
  });
  absl::StatusOr<AdmissionGate::Ticket> second = gate.Enter(absl::InfiniteFuture());
  releaser.join();
  EXPECT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(gate.in_use(), 1u);
}

TEST(KnownObjectsTest, CountOverTheCapIsResourceExhaustedNamingTheFlag) {
  EXPECT_TRUE(CheckKnownObjectCount(100, 100).ok());
  absl::Status over = CheckKnownObjectCount(101, 100);
  EXPECT_EQ(over.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(over.message(), HasSubstr("101 entries"));
  EXPECT_THAT(over.message(), HasSubstr("--max_known_objects"));
}

TEST(KnownObjectsTest, KeysMustHaveKubernetesFormAndLengths) {
  EXPECT_TRUE(CheckKnownObjectEntry("default/web-1", "42", true).ok());
  EXPECT_TRUE(CheckKnownObjectEntry("node-1", "42", false).ok());
  // The longest legal key of a namespaced object.
  EXPECT_TRUE(
      CheckKnownObjectEntry(std::string(63, 'n') + "/" + std::string(253, 'a'), "1", true).ok());
  EXPECT_TRUE(CheckKnownObjectEntry("kube-system/system:controller:x", "1", true).ok());
  struct Bad {
    std::string key;
    std::string rv;
    bool namespaced;
  };
  for (const Bad& bad : std::vector<Bad>{
           {"no-namespace", "1", true},
           {"/name", "1", true},
           {"ns/", "1", true},
           {"Upper/name", "1", true},
           {std::string(64, 'n') + "/a", "1", true},
           {"ns/" + std::string(254, 'a'), "1", true},
           {"ns/a/b", "1", true},
           {"ns/a", "1", false},
           {"", "1", false},
           {"ns/a", "", true},
           {"ns/a", std::string(65, '1'), true},
       }) {
    absl::Status status = CheckKnownObjectEntry(bad.key, bad.rv, bad.namespaced);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << bad.key;
    EXPECT_THAT(status.message(), HasSubstr("known_objects")) << bad.key;
  }
  // A hostile key is not echoed whole.
  absl::Status huge = CheckKnownObjectEntry("ns/" + std::string(100000, 'x'), "1", true);
  EXPECT_LT(huge.message().size(), 400u);
}

TEST(CallerKeyTest, UserWinsElseTheAddressWithoutPort) {
  EXPECT_EQ(CallerKey("system:serviceaccount:a:b", "ipv4:10.0.0.1:5"),
            "user:system:serviceaccount:a:b");
  EXPECT_EQ(CallerKey("", "ipv4:127.0.0.1:54321"), "ip:127.0.0.1");
  EXPECT_EQ(CallerKey("", "ipv6:[::1]:54321"), "ip:::1");
  EXPECT_EQ(CallerKey("", "ipv6:%5B::1%5D:54321"), "ip:::1");
  EXPECT_EQ(CallerKey("", "unix:/tmp/x.sock"), "ip:unix");
}

}  // namespace
}  // namespace server
}  // namespace informer
