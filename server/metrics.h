// Prometheus metrics of informerd: counters the service keeps, plus the informers' own,
// rendered in the Prometheus text format.
#ifndef SERVER_METRICS_H_
#define SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/heap.h"
#include "server/resource_registry.h"

namespace informer {
namespace server {

// Subscription counters of one resource. Updated lock-free from any thread.
struct SubscriberCounters {
  std::atomic<uint64_t> events_out{0};              // events written to subscribers
  std::atomic<int64_t> subscribers{0};              // streams open now
  std::atomic<uint64_t> subscriptions_total{0};     // streams opened
  std::atomic<uint64_t> coalesced_subscribers{0};   // streams that fell past the soft limit
  std::atomic<uint64_t> coalesced_events{0};        // changes merged away by coalescing
  std::atomic<uint64_t> unchanged_events{0};        // MODIFIED not sent: outside the field mask
  std::atomic<uint64_t> terminated_subscribers{0};  // streams ended RESOURCE_EXHAUSTED
  std::atomic<uint64_t> write_stalled{0};  // streams cut for reading nothing (write_timeout)
  // Streams ended, by the gRPC status code they ended with (index = code, 0..16).
  std::array<std::atomic<uint64_t>, 17> ended_by_code{};
};

// A latency histogram with fixed buckets (seconds). Lock-free.
class LatencyHistogram {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    5};
  // Records one observation.
  void Observe(absl::Duration latency);
  // Appends the series of metric `name` with `labels` (e.g. `method="List"`).
  void Render(const std::string& name, const std::string& labels, std::string* out) const;

 private:
  std::array<std::atomic<uint64_t>, kBuckets.size() + 1> counts_{};
  std::atomic<uint64_t> count_{0};
  std::atomic<uint64_t> sum_micros_{0};
};

// One active subscriber's lag, as the service reports it at scrape time.
struct SubscriberLag {
  std::string resource;  // GroupVersionResource::ToString()
  uint64_t lag = 0;      // history changes + events not yet delivered
};

// Every metric of one server. Thread-safety: every method may be called from any thread.
class Metrics {
 public:
  // The counters of `resource` (GroupVersionResource::ToString()); the pointer stays valid for
  // the Metrics' lifetime.
  SubscriberCounters* Subscribers(const std::string& resource);
  // Records a unary call: its method ("List", "Get", ...), status and latency.
  void RecordCall(const std::string& method, absl::StatusCode code, absl::Duration latency);
  // Records an authentication: how (token, mtls), its result (ok, refused, error) and whether
  // it needed no review (cache_hit = false means a TokenReview was sent).
  void RecordAuthentication(absl::string_view via, absl::string_view result, bool cache_hit);
  // Records an authorization decision: the method, verb, outcome (allowed, denied, error) and
  // whether it needed no review (cache_hit = false means a SubjectAccessReview was sent).
  void RecordAuthorization(absl::string_view method, absl::string_view verb,
                           absl::string_view outcome, bool cache_hit);

  // Records that a read started caching `resource` (GroupVersionResource::ToString()) on
  // demand, and that an on-demand cache of it stopped when idle.
  void RecordOnDemandStart(const std::string& resource);
  void RecordIdleStop(const std::string& resource);
  // The heap trimmer's counters (server/heap.h), as of its last check.
  void SetHeap(const HeapTrimStats& heap);

  // Where the scrape reads the informers and subscribers from.
  void SetSources(const ResourceRegistry* registry,
                  std::function<std::vector<SubscriberLag>()> subscriber_lags);
  // Where the scrape reads the per-caller and total limits from: each limit's name (e.g.
  // "subscribers") with what is held now and how many requests it refused so far.
  struct LimitState {
    std::string limit;
    uint64_t in_use = 0;
    uint64_t refused = 0;
  };
  void SetLimitSource(std::function<std::vector<LimitState>()> limits);

  // The whole exposition, in the Prometheus text format 0.0.4.
  std::string Render() const;

 private:
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<SubscriberCounters>> subscribers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<LatencyHistogram>> latency_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, uint64_t> calls_ ABSL_GUARDED_BY(mu_);
  // Label values (already rendered, e.g. `via="token",result="ok",cache="hit"`) -> count.
  std::map<std::string, uint64_t> authentications_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> authorizations_ ABSL_GUARDED_BY(mu_);
  // Resource -> on-demand starts, and idle stops.
  std::map<std::string, uint64_t> on_demand_starts_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> idle_stops_ ABSL_GUARDED_BY(mu_);
  HeapTrimStats heap_ ABSL_GUARDED_BY(mu_);
  const ResourceRegistry* registry_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::function<std::vector<SubscriberLag>()> subscriber_lags_ ABSL_GUARDED_BY(mu_);
  std::function<std::vector<LimitState>()> limits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_METRICS_H_
