// informerd_ingest: the informerd side of benchmark workloads 1 (replay ingest) and 2 (real API
// server sync and live latency). It runs one SharedIndexInformer of Pods over the REST
// ListerWatcher with the same indexes as bench/go's client-go program (namespace, the "app"
// label, spec.nodeName), counts handler calls, and prints the same JSON result lines:
//
//   {"event":"synced",...}  once the initial list is in the store
//   {"event":"result",...}  once every expected handler call arrived
//
// Events per CPU-second count handler calls (initial adds plus watch events) over the process's
// CPU time from Run() on; memory is VmRSS after the stream, before and after returning free
// heap to the OS.
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "informer/event_handler.h"
#include "informer/k8s/config.h"
#include "informer/k8s/rest_client.h"
#include "informer/k8s/rest_lister_watcher.h"
#include "informer/shared_informer.h"
#include "informer/store.h"
#include "informer/transform.h"

ABSL_FLAG(std::string, kubeconfig, "", "kubeconfig of the server to watch");
ABSL_FLAG(std::string, namespace_name, "", "namespace to watch (\"\" = all)");
ABSL_FLAG(std::string, transform, "default",
          "default (strip managedFields, informerd's default) | none");
ABSL_FLAG(std::string, label_index, "app", "label key indexed as by-app");
ABSL_FLAG(int64_t, expect_objects, 0, "objects of the initial list (handler adds to wait for)");
ABSL_FLAG(int64_t, expect_events, 0, "handler calls after the initial adds to wait for");
ABSL_FLAG(int64_t, latency_events, 0,
          "wait for this many updates stamped with bench.informerd.io/written-at");
ABSL_FLAG(int64_t, history_max_events, -1,
          "EventHistory bound (-1 = informerd's default; 0 keeps the ring minimal)");
ABSL_FLAG(int64_t, page_size, -1, "LIST page size (-1 = informerd's default)");
ABSL_FLAG(
    bool, streaming_list, true,
    "use the streaming list (sendInitialEvents, R7; informerd's default); false = paged LIST");
ABSL_FLAG(bool, compression, true,
          "keep the cached JSON compressed (informerd's default, --cache_compression); false = "
          "plain");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(10), "give up after this long");

namespace {

constexpr char kLatencyAnnotation[] = "bench.informerd.io/written-at";

// Counts calls and, for stamped updates, write -> handler latency. Runs on the informer's
// delivery thread for this handler; the counters are read from main.
class CountingHandler : public informer::ResourceEventHandler {
 public:
  CountingHandler(int64_t want_calls, int64_t want_stamped)
      : want_calls_(want_calls), want_stamped_(want_stamped) {}

  void OnAdd(const informer::ObjectPtr& object, bool is_in_initial_list) override { Count(); }
  void OnUpdate(const informer::ObjectPtr& old_object,
                const informer::ObjectPtr& new_object) override {
    if (want_stamped_ > 0) Observe(*old_object, *new_object);
    Count();
  }
  void OnDelete(const informer::DeltaObject& object) override { Count(); }

  // Blocks until every expected call arrived or `deadline`; true when they did.
  bool WaitDone(absl::Time deadline) { return done_.WaitForNotificationWithDeadline(deadline); }
  int64_t calls() const { return calls_.load(); }
  int64_t stamped() const { return stamped_.load(); }
  std::vector<absl::Duration> latencies() {
    absl::MutexLock lock(&mu_);
    return latencies_;
  }

 private:
  void Observe(const informer::Object& old_object, const informer::Object& new_object) {
    const auto& annotations = new_object.meta().annotations;
    auto it = annotations.find(kLatencyAnnotation);
    if (it == annotations.end()) return;
    auto old_it = old_object.meta().annotations.find(kLatencyAnnotation);
    if (old_it != old_object.meta().annotations.end() && old_it->second == it->second) return;
    int64_t written_ns = 0;
    if (!absl::SimpleAtoi(it->second, &written_ns)) return;
    absl::Duration latency = absl::Now() - absl::FromUnixNanos(written_ns);
    {
      absl::MutexLock lock(&mu_);
      if (latencies_.size() < (size_t{1} << 20)) latencies_.push_back(latency);
    }
    stamped_.fetch_add(1);
  }

  void Count() {
    int64_t calls = calls_.fetch_add(1) + 1;
    if (calls >= want_calls_ && stamped_.load() >= want_stamped_ && !done_.HasBeenNotified()) {
      absl::MutexLock lock(&mu_);
      if (!done_.HasBeenNotified()) done_.Notify();
    }
  }

  const int64_t want_calls_;
  const int64_t want_stamped_;
  std::atomic<int64_t> calls_{0};
  std::atomic<int64_t> stamped_{0};
  absl::Notification done_;
  absl::Mutex mu_;
  std::vector<absl::Duration> latencies_ ABSL_GUARDED_BY(mu_);
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "informerd_ingest: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // As informerd's main does in Release builds (see server/main.cc).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_timeout);

  informer::k8s::LoadOptions load;
  load.kubeconfig_path = absl::GetFlag(FLAGS_kubeconfig);
  load.allow_in_cluster = false;
  absl::StatusOr<informer::k8s::RestConfig> config = informer::k8s::LoadRestConfig(load);
  if (!config.ok()) return Fail(config.status().ToString());
  config->user_agent = "informerd-bench/informerd";
  auto client = informer::k8s::RestClient::Create(*config);
  if (!client.ok()) return Fail(client.status().ToString());

  informer::InformerOptions options;
  options.resource.gvr = {"", "v1", "pods"};
  options.resource.kind = "Pod";
  options.resource.namespaced = true;
  options.namespace_name = absl::GetFlag(FLAGS_namespace_name);
  const std::string transform = absl::GetFlag(FLAGS_transform);
  if (transform == "none") {
    options.transforms.clear();
  } else if (transform != "default") {
    return Fail("unknown --transform " + transform);
  }
  options.indexers["by-app"] = informer::LabelIndexFunc(absl::GetFlag(FLAGS_label_index));
  options.indexers["by-node"] = informer::FieldPathIndexFunc("spec.nodeName");
  // As informerd's server does for its field indexes: extracted once per object version.
  options.extracted_field_paths = {"spec.nodeName"};
  if (absl::GetFlag(FLAGS_history_max_events) >= 0) {
    options.history.max_events = static_cast<size_t>(absl::GetFlag(FLAGS_history_max_events));
  }
  if (absl::GetFlag(FLAGS_page_size) >= 0) {
    options.reflector.page_size = absl::GetFlag(FLAGS_page_size);
  }
  options.reflector.use_streaming_list = absl::GetFlag(FLAGS_streaming_list);
  options.compression.enabled = absl::GetFlag(FLAGS_compression);

  auto lister_watcher = std::make_shared<informer::k8s::RestListerWatcher>(
      *client, options.resource, options.namespace_name);
  const int64_t want_calls =
      absl::GetFlag(FLAGS_expect_objects) + absl::GetFlag(FLAGS_expect_events);
  const int64_t want_stamped = absl::GetFlag(FLAGS_latency_events);
  auto handler = std::make_shared<CountingHandler>(want_calls, want_stamped);

  bench::ReleaseFreeMemory();
  const int64_t rss_baseline = bench::RssBytes();
  auto informer = std::make_unique<informer::SharedIndexInformer>(lister_watcher, options);
  auto registration = informer->AddEventHandler(handler);
  if (!registration.ok()) return Fail(registration.status().ToString());

  const double cpu0 = bench::CpuSeconds();
  const absl::Time t0 = absl::Now();
  if (absl::Status s = informer->Run(); !s.ok()) return Fail(s.ToString());
  if (!informer->WaitForSync(deadline)) {
    return Fail("not synced before the timeout; last error: " + informer->LastError().ToString());
  }
  const double sync_seconds = absl::ToDoubleSeconds(absl::Now() - t0);
  const double sync_cpu = bench::CpuSeconds() - cpu0;
  bench::JsonLine()
      .Add("event", "synced")
      .Add("side", "informerd")
      .Add("time_to_sync_s", sync_seconds)
      .Add("objects", static_cast<int64_t>(informer->store().Size()))
      .Print();

  if ((want_calls > 0 || want_stamped > 0) && !handler->WaitDone(deadline)) {
    return Fail(absl::StrFormat(
        "timed out with %d of %d handler calls, %d of %d stamped updates; last error: %s",
        handler->calls(), want_calls, handler->stamped(), want_stamped,
        informer->LastError().ToString()));
  }
  const double wall = absl::ToDoubleSeconds(absl::Now() - t0);
  const double cpu = bench::CpuSeconds() - cpu0;
  const int64_t rss_steady = bench::RssBytes();
  bench::ReleaseFreeMemory();
  const int64_t rss_settled = bench::RssBytes();
  const int64_t objects = static_cast<int64_t>(informer->store().Size());
  const informer::InformerStats stats = informer->stats();
  const int64_t history_events = static_cast<int64_t>(informer->history().size());
  const int64_t history_bytes = static_cast<int64_t>(informer->history().bytes());
  const int64_t history_byte_limit = static_cast<int64_t>(informer->history().byte_limit());
  const int64_t cache_bytes = static_cast<int64_t>(informer->store().ApproximateBytes());
  informer->Stop();

  bench::JsonLine line;
  line.Add("event", "result")
      .Add("side", transform == "none" ? "informerd-keep-mf" : "informerd")
      .Add("transform", transform)
      .Add("streaming_list", absl::GetFlag(FLAGS_streaming_list))
      .Add("objects", objects)
      .Add("handler_calls", handler->calls())
      .Add("time_to_sync_s", sync_seconds)
      .Add("sync_cpu_s", sync_cpu)
      .Add("wall_s", wall)
      .Add("cpu_s", cpu)
      .Add("rss_baseline_bytes", rss_baseline)
      .Add("rss_steady_bytes", rss_steady)
      .Add("rss_settled_bytes", rss_settled)
      .Add("history_events", history_events)
      .Add("history_bytes", history_bytes)
      .Add("history_byte_limit", history_byte_limit)
      .Add("cache_bytes", cache_bytes)
      .Add("lists", stats.lists)
      .Add("relists", stats.relists)
      .Add("watches", stats.watches)
      .Add("watch_errors", stats.errors);
  if (cpu > 0) line.Add("events_per_cpu_s", static_cast<double>(handler->calls()) / cpu);
  if (wall > 0) line.Add("events_per_s", static_cast<double>(handler->calls()) / wall);
  if (objects > 0) {
    line.Add("rss_per_object_bytes", static_cast<double>(rss_settled) / objects);
    line.Add("rss_steady_per_object_bytes", static_cast<double>(rss_steady) / objects);
  }
  if (want_stamped > 0) {
    std::vector<absl::Duration> latencies = handler->latencies();
    line.AddRaw("latency", bench::LatencyJson(&latencies));
  }
  line.Print();
  return 0;
}
