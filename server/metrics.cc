#include "server/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"

namespace informer {
namespace server {
namespace {

std::string LabelValue(absl::string_view value) {
  return absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

void Header(std::string* out, absl::string_view name, absl::string_view type,
            absl::string_view help) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

void Sample(std::string* out, absl::string_view name, absl::string_view labels, double value) {
  absl::StrAppend(out, name, labels.empty() ? "" : "{", labels, labels.empty() ? "" : "}", " ",
                  absl::StrFormat("%.17g", value), "\n");
}

std::string ResourceLabel(const std::string& resource) {
  return absl::StrCat("resource=\"", LabelValue(resource), "\"");
}

}  // namespace

void LatencyHistogram::Observe(absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  size_t bucket = 0;
  while (bucket < kBuckets.size() && seconds > kBuckets[bucket]) ++bucket;
  counts_[bucket].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<uint64_t>(absl::ToInt64Microseconds(latency)),
                        std::memory_order_relaxed);
}

void LatencyHistogram::Render(const std::string& name, const std::string& labels,
                              std::string* out) const {
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= kBuckets.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    const std::string le = i < kBuckets.size() ? absl::StrFormat("%g", kBuckets[i]) : "+Inf";
    Sample(out, absl::StrCat(name, "_bucket"), absl::StrCat(labels, ",le=\"", le, "\""),
           static_cast<double>(cumulative));
  }
  Sample(out, absl::StrCat(name, "_sum"), labels,
         static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6);
  Sample(out, absl::StrCat(name, "_count"), labels,
         static_cast<double>(count_.load(std::memory_order_relaxed)));
}

SubscriberCounters* Metrics::Subscribers(const std::string& resource) {
  absl::MutexLock lock(&mu_);
  std::unique_ptr<SubscriberCounters>& counters = subscribers_[resource];
  if (counters == nullptr) counters = std::make_unique<SubscriberCounters>();
  return counters.get();
}

void Metrics::RecordCall(const std::string& method, absl::StatusCode code, absl::Duration latency) {
  LatencyHistogram* histogram;
  {
    absl::MutexLock lock(&mu_);
    ++calls_[{method, absl::StatusCodeToString(code)}];
    std::unique_ptr<LatencyHistogram>& h = latency_[method];
    if (h == nullptr) h = std::make_unique<LatencyHistogram>();
    histogram = h.get();
  }
  histogram->Observe(latency);
}

void Metrics::SetSources(const ResourceRegistry* registry,
                         std::function<std::vector<SubscriberLag>()> subscriber_lags) {
  absl::MutexLock lock(&mu_);
  registry_ = registry;
  subscriber_lags_ = std::move(subscriber_lags);
}

void Metrics::SetLimitSource(std::function<std::vector<LimitState>()> limits) {
  absl::MutexLock lock(&mu_);
  limits_ = std::move(limits);
}

void Metrics::RecordAuthentication(absl::string_view via, absl::string_view result,
                                   bool cache_hit) {
  std::string labels = absl::StrCat("via=\"", via, "\",result=\"", result, "\",cache=\"",
                                    cache_hit ? "hit" : "miss", "\"");
  absl::MutexLock lock(&mu_);
  ++authentications_[labels];
}

void Metrics::RecordAuthorization(absl::string_view method, absl::string_view verb,
                                  absl::string_view outcome, bool cache_hit) {
  std::string labels = absl::StrCat("method=\"", method, "\",verb=\"", verb, "\",decision=\"",
                                    outcome, "\",cache=\"", cache_hit ? "hit" : "miss", "\"");
  absl::MutexLock lock(&mu_);
  ++authorizations_[labels];
}

void Metrics::RecordOnDemandStart(const std::string& resource) {
  absl::MutexLock lock(&mu_);
  ++on_demand_starts_[resource];
}

void Metrics::RecordIdleStop(const std::string& resource) {
  absl::MutexLock lock(&mu_);
  ++idle_stops_[resource];
}

void Metrics::SetHeap(const HeapTrimStats& heap) {
  absl::MutexLock lock(&mu_);
  heap_ = heap;
}

std::string Metrics::Render() const {
  const ResourceRegistry* registry;
  std::function<std::vector<SubscriberLag>()> lags_fn;
  std::function<std::vector<LimitState>()> limits_fn;
  {
    absl::MutexLock lock(&mu_);
    registry = registry_;
    lags_fn = subscriber_lags_;
    limits_fn = limits_;
  }
  std::string out;
  // Informer-side series, read from the informers themselves at scrape time.
  struct InformerRow {
    std::string label;
    bool synced;
    size_t objects;
    size_t bytes;
    InformerStats stats;
    size_t history_events;
    size_t history_bytes;
    double stale_seconds;  // since the first failed LIST/WATCH after a success; 0 when fresh
    size_t compressed_objects = 0;       // objects keeping their JSON compressed
    size_t compression_saved_bytes = 0;  // their plain JSON bytes less their stored bytes
  };
  std::vector<InformerRow> rows;
  if (registry != nullptr) {
    for (const CachedResource& resource : registry->All()) {
      const SharedIndexInformer& informer = *resource.informer;
      InformerRow row{ResourceLabel(resource.info.gvr.ToString()),
                      informer.HasSynced(),
                      0,
                      0,
                      informer.stats(),
                      0,
                      0,
                      0};
      if (const std::optional<absl::Duration> failing = informer.FailingFor()) {
        row.stale_seconds = absl::ToDoubleSeconds(*failing);
      }
      if (!informer.IsStopped()) {
        for (const ObjectPtr& object : informer.store().List()) {
          ++row.objects;
          row.bytes += object->ApproximateBytes();
          if (object->json_compressed()) {
            ++row.compressed_objects;
            row.compression_saved_bytes += object->json_size() - object->json_stored_size();
          }
        }
        row.history_events = informer.history().size();
        row.history_bytes = informer.history().bytes();
      }
      rows.push_back(std::move(row));
    }
  }
  auto informer_gauge = [&](absl::string_view name, absl::string_view type, absl::string_view help,
                            auto value) {
    Header(&out, name, type, help);
    for (const InformerRow& row : rows) Sample(&out, name, row.label, value(row));
  };
  informer_gauge("informerd_resource_synced", "gauge", "1 once the initial LIST is applied.",
                 [](const InformerRow& r) { return r.synced ? 1.0 : 0.0; });
  informer_gauge("informerd_resource_stale_seconds", "gauge",
                 "Seconds since the resource's LIST/WATCH began failing (RBAC denied, CRD "
                 "deleted, API server unreachable); 0 while the last attempt succeeded.",
                 [](const InformerRow& r) { return r.stale_seconds; });
  informer_gauge("informerd_cache_objects", "gauge", "Objects in the cache.",
                 [](const InformerRow& r) { return static_cast<double>(r.objects); });
  informer_gauge("informerd_cache_bytes", "gauge", "Approximate bytes held by cached objects.",
                 [](const InformerRow& r) { return static_cast<double>(r.bytes); });
  informer_gauge("informerd_cache_compressed_objects", "gauge",
                 "Cached objects keeping their JSON compressed (--cache_compression).",
                 [](const InformerRow& r) { return static_cast<double>(r.compressed_objects); });
  informer_gauge(
      "informerd_cache_compression_saved_bytes", "gauge",
      "Bytes compression saves: the compressed objects' JSON bytes less what they store.",
      [](const InformerRow& r) { return static_cast<double>(r.compression_saved_bytes); });
  informer_gauge("informerd_history_events", "gauge", "Changes held in the history ring.",
                 [](const InformerRow& r) { return static_cast<double>(r.history_events); });
  informer_gauge("informerd_history_bytes", "gauge", "Approximate bytes of the history ring.",
                 [](const InformerRow& r) { return static_cast<double>(r.history_bytes); });
  informer_gauge("informerd_events_in_total", "counter",
                 "Watch events received from the API server (bookmarks included).",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.events); });
  informer_gauge("informerd_lists_total", "counter", "LIST calls to the API server.",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.lists); });
  informer_gauge("informerd_relists_total", "counter",
                 "LISTs after the first (expired resourceVersion, broken list).",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.relists); });
  informer_gauge("informerd_watches_total", "counter", "WATCH calls to the API server.",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.watches); });
  informer_gauge("informerd_watch_restarts_total", "counter",
                 "Re-watches after a watch ended or broke, without a relist.",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.watch_restarts); });
  informer_gauge("informerd_apiserver_errors_total", "counter", "Failed LIST or WATCH calls.",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.errors); });
  informer_gauge("informerd_backoffs_total", "counter",
                 "Waits before retrying a LIST or WATCH (each logged with its cause).",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.backoffs); });
  informer_gauge("informerd_watch_expired_total", "counter",
                 "WATCHes answered 410 Gone / Expired (each relists).",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.expired); });
  informer_gauge(
      "informerd_watch_dead_connections_total", "counter",
      "Watches whose connection went silent and failed a liveness probe (each re-watches).",
      [](const InformerRow& r) { return static_cast<double>(r.stats.dead_connections); });
  informer_gauge("informerd_watch_events_dropped_total", "counter",
                 "Watch events dropped because a transform refused the object (the watch goes on).",
                 [](const InformerRow& r) { return static_cast<double>(r.stats.dropped_events); });

  // Subscriber series.
  std::map<std::string, std::pair<uint64_t, uint64_t>> lag;  // resource -> (max, sum)
  if (lags_fn) {
    for (const SubscriberLag& entry : lags_fn()) {
      auto& [max, sum] = lag[entry.resource];
      max = std::max(max, entry.lag);
      sum += entry.lag;
    }
  }
  std::vector<std::pair<std::string, const SubscriberCounters*>> counters;
  std::vector<std::pair<std::string, const LatencyHistogram*>> histograms;
  std::map<std::pair<std::string, std::string>, uint64_t> calls;
  std::map<std::string, uint64_t> authentications;
  std::map<std::string, uint64_t> authorizations;
  {
    absl::MutexLock lock(&mu_);
    authentications = authentications_;
    authorizations = authorizations_;
    for (const auto& [resource, c] : subscribers_) counters.emplace_back(resource, c.get());
    for (const auto& [method, h] : latency_) histograms.emplace_back(method, h.get());
    calls = calls_;
  }
  auto subscriber_series = [&](absl::string_view name, absl::string_view type,
                               absl::string_view help, auto value) {
    Header(&out, name, type, help);
    for (const auto& [resource, c] : counters) {
      Sample(&out, name, ResourceLabel(resource), static_cast<double>(value(*c)));
    }
  };
  subscriber_series("informerd_subscribers", "gauge", "Subscribe streams open now.",
                    [](const SubscriberCounters& c) { return c.subscribers.load(); });
  subscriber_series("informerd_subscriptions_total", "counter", "Subscribe streams opened.",
                    [](const SubscriberCounters& c) { return c.subscriptions_total.load(); });
  subscriber_series("informerd_events_out_total", "counter", "Events written to subscribers.",
                    [](const SubscriberCounters& c) { return c.events_out.load(); });
  subscriber_series("informerd_coalesced_subscribers_total", "counter",
                    "Times a subscriber fell past the soft limit and had its changes coalesced.",
                    [](const SubscriberCounters& c) { return c.coalesced_subscribers.load(); });
  subscriber_series("informerd_coalesced_events_total", "counter",
                    "Changes merged into a later state by coalescing.",
                    [](const SubscriberCounters& c) { return c.coalesced_events.load(); });
  subscriber_series("informerd_unchanged_events_total", "counter",
                    "MODIFIED changes not sent to a subscriber because they changed nothing "
                    "inside its field mask (SubscribeRequest.fields).",
                    [](const SubscriberCounters& c) { return c.unchanged_events.load(); });
  subscriber_series("informerd_terminated_subscribers_total", "counter",
                    "Subscribers ended with RESOURCE_EXHAUSTED for being too slow.",
                    [](const SubscriberCounters& c) { return c.terminated_subscribers.load(); });
  subscriber_series("informerd_write_stalled_subscribers_total", "counter",
                    "Subscribers cut for reading nothing for subscriber_write_timeout (alive, "
                    "answering keepalives, but their one pending write never taken).",
                    [](const SubscriberCounters& c) { return c.write_stalled.load(); });
  Header(&out, "informerd_subscriptions_ended_total", "counter",
         "Subscribe streams ended, by the status code they ended with (CANCELLED: the client "
         "went away, or keepalive found its connection dead).");
  for (const auto& [resource, c] : counters) {
    for (size_t code = 0; code < c->ended_by_code.size(); ++code) {
      const uint64_t n = c->ended_by_code[code].load();
      if (n == 0) continue;
      Sample(&out, "informerd_subscriptions_ended_total",
             absl::StrCat(ResourceLabel(resource), ",code=\"",
                          absl::StatusCodeToString(static_cast<absl::StatusCode>(code)), "\""),
             static_cast<double>(n));
    }
  }
  Header(&out, "informerd_subscriber_lag_max", "gauge",
         "Largest number of changes a subscriber of the resource has not received yet.");
  for (const auto& [resource, entry] : lag) {
    Sample(&out, "informerd_subscriber_lag_max", ResourceLabel(resource),
           static_cast<double>(entry.first));
  }
  Header(&out, "informerd_subscriber_lag_sum", "gauge",
         "Changes not yet received, summed over the resource's subscribers.");
  for (const auto& [resource, entry] : lag) {
    Sample(&out, "informerd_subscriber_lag_sum", ResourceLabel(resource),
           static_cast<double>(entry.second));
  }

  // The callers' limits (docs/configuration.md, "Limits").
  const std::vector<LimitState> limits = limits_fn ? limits_fn() : std::vector<LimitState>{};
  Header(&out, "informerd_limit_in_use", "gauge",
         "What callers hold now of a limited kind: subscribers, waits, page_snapshots, starts.");
  for (const LimitState& limit : limits) {
    Sample(&out, "informerd_limit_in_use", absl::StrCat("limit=\"", limit.limit, "\""),
           static_cast<double>(limit.in_use));
  }
  Header(&out, "informerd_limit_refusals_total", "counter",
         "Requests refused with RESOURCE_EXHAUSTED or INVALID_ARGUMENT by a limit.");
  for (const LimitState& limit : limits) {
    Sample(&out, "informerd_limit_refusals_total", absl::StrCat("limit=\"", limit.limit, "\""),
           static_cast<double>(limit.refused));
  }

  Header(&out, "informerd_grpc_requests_total", "counter", "Unary calls by method and code.");
  for (const auto& [key, count] : calls) {
    Sample(&out, "informerd_grpc_requests_total",
           absl::StrCat("method=\"", key.first, "\",code=\"", key.second, "\""),
           static_cast<double>(count));
  }
  Header(&out, "informerd_grpc_request_duration_seconds", "histogram",
         "Latency of unary calls (List, Get, ByIndex, ListResources), waits included.");
  for (const auto& [method, histogram] : histograms) {
    histogram->Render("informerd_grpc_request_duration_seconds",
                      absl::StrCat("method=\"", method, "\""), &out);
  }
  Header(&out, "informerd_authentications_total", "counter",
         "Callers authenticated, by how, result and cache (miss = a TokenReview was sent).");
  for (const auto& [labels, count] : authentications) {
    Sample(&out, "informerd_authentications_total", labels, static_cast<double>(count));
  }
  Header(&out, "informerd_authorizations_total", "counter",
         "Authorization decisions by method, verb, decision and cache (miss = a "
         "SubjectAccessReview was sent).");
  for (const auto& [labels, count] : authorizations) {
    Sample(&out, "informerd_authorizations_total", labels, static_cast<double>(count));
  }
  std::map<std::string, uint64_t> on_demand_starts;
  std::map<std::string, uint64_t> idle_stops;
  {
    absl::MutexLock lock(&mu_);
    on_demand_starts = on_demand_starts_;
    idle_stops = idle_stops_;
  }
  Header(&out, "informerd_on_demand_starts_total", "counter",
         "Caches started on demand by a read of a resource not configured (--on_demand).");
  for (const auto& [resource, count] : on_demand_starts) {
    Sample(&out, "informerd_on_demand_starts_total", ResourceLabel(resource),
           static_cast<double>(count));
  }
  Header(&out, "informerd_idle_stops_total", "counter",
         "On-demand caches stopped after --on_demand_idle_timeout without reads or subscribers.");
  for (const auto& [resource, count] : idle_stops) {
    Sample(&out, "informerd_idle_stops_total", ResourceLabel(resource), static_cast<double>(count));
  }
  HeapTrimStats heap;
  {
    absl::MutexLock lock(&mu_);
    heap = heap_;
  }
  Header(&out, "informerd_heap_free_bytes", "gauge",
         "Bytes malloc holds free in its arenas, at the last check (--heap_trim_interval).");
  Sample(&out, "informerd_heap_free_bytes", "", static_cast<double>(heap.free_bytes));
  Header(&out, "informerd_heap_in_use_bytes", "gauge",
         "Bytes malloc has handed out (arenas and mmapped), at the last check.");
  Sample(&out, "informerd_heap_in_use_bytes", "", static_cast<double>(heap.in_use_bytes));
  Header(&out, "informerd_heap_trims_total", "counter",
         "Times free heap memory was handed back to the system (malloc_trim).");
  Sample(&out, "informerd_heap_trims_total", "", static_cast<double>(heap.trims));
  Header(&out, "informerd_heap_trim_seconds_total", "counter", "Time those trims took.");
  Sample(&out, "informerd_heap_trim_seconds_total", "", absl::ToDoubleSeconds(heap.trim_time));
  Header(&out, "informerd_heap_released_bytes_total", "counter",
         "Resident memory those trims gave back.");
  Sample(&out, "informerd_heap_released_bytes_total", "", static_cast<double>(heap.released_bytes));
  return out;
}

}  // namespace server
}  // namespace informer
