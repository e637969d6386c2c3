// informerd_load: the client of benchmark workload 3 (serving), over gRPC on loopback.
//
//   --mode=get        open-loop Get calls at --qps for --duration; latency from each call's
//                     scheduled start (no coordinated omission), so a server that falls behind
//                     shows it in p99
//   --mode=list       the same with List (namespace + "app" label selector, one page)
//   --mode=subscribe  --subscribers streams on the resource; measures write -> receipt latency
//                     from the bench.informerd.io/written-at annotation the writer stamps,
//                     until each stream saw --expect_stamped stamped events or --duration ends;
//                     with --select_own, stream i selects only the i-th Pod (metadata.name field
//                     selector in its namespace), as a controller watching its own objects would
//
// Prints one JSON result line (see bench/bench_util.h).
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "grpcpp/grpcpp.h"
#include "informer/v1/informer.grpc.pb.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "informerd's gRPC address (loopback)");
ABSL_FLAG(std::string, mode, "get", "get | list | subscribe");
ABSL_FLAG(std::string, resource, "pods", "resource to read");
ABSL_FLAG(std::string, namespace_name, "informerd-bench", "namespace to read");
ABSL_FLAG(double, qps, 10000, "get/list: calls per second, open loop");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "how long to send (get/list) or wait");
ABSL_FLAG(int, max_in_flight, 2000, "get/list: calls outstanding at most (then calls are shed)");
ABSL_FLAG(int, channels, 4, "gRPC channels (connections) to spread calls or streams over");
ABSL_FLAG(int, subscribers, 1, "subscribe: streams");
ABSL_FLAG(int64_t, expect_stamped, 0, "subscribe: stamped events each stream should receive");
ABSL_FLAG(bool, select_own, false,
          "subscribe: stream i selects only the i-th object of a List (metadata.name=...)");
ABSL_FLAG(std::string, ready_file, "",
          "subscribe: created once every stream has its initial SYNCED event");

namespace {

using informer::v1::InformerService;

constexpr absl::string_view kStampKey = "\"bench.informerd.io/written-at\":\"";

std::vector<std::shared_ptr<grpc::Channel>> MakeChannels(int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    // Distinct args keep gRPC from sharing one subchannel (connection) between channels.
    args.SetInt("informerd.bench.channel", i);
    args.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                                 grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

// Latency samples, shared by callbacks on gRPC's threads.
class Samples {
 public:
  void Add(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    if (samples_.size() < (size_t{1} << 24)) samples_.push_back(d);
  }
  std::vector<absl::Duration> Take() {
    absl::MutexLock lock(&mu_);
    return std::move(samples_);
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Duration> samples_ ABSL_GUARDED_BY(mu_);
};

// Names of the pods and "app" label values to query, read once with List.
struct Targets {
  std::vector<std::string> names;
  std::vector<std::string> namespaces;  // of names[i]
  std::vector<std::string> apps;
};

absl::StatusOr<Targets> LoadTargets(InformerService::Stub& stub) {
  Targets targets;
  std::string token;
  for (int page = 0; page < 1000; ++page) {
    informer::v1::ListRequest request;
    request.set_resource(absl::GetFlag(FLAGS_resource));
    request.set_namespace_(absl::GetFlag(FLAGS_namespace_name));
    request.set_limit(5000);
    request.set_page_token(token);
    informer::v1::ListResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    grpc::Status status = stub.List(&context, request, &response);
    if (!status.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                          status.error_message());
    }
    for (const auto& object : response.objects()) {
      targets.names.push_back(object.name());
      targets.namespaces.push_back(object.namespace_());
      // The app label is the name minus the ReplicaSet hash and pod suffix.
      absl::string_view name = object.name();
      size_t cut = name.rfind('-');
      if (cut != absl::string_view::npos) cut = name.substr(0, cut).rfind('-');
      if (cut != absl::string_view::npos) targets.apps.emplace_back(name.substr(0, cut));
    }
    token = response.next_page_token();
    if (token.empty()) break;
  }
  if (targets.names.empty()) return absl::NotFoundError("no objects to query");
  return targets;
}

int RunUnary(bool list) {
  auto channels = MakeChannels(absl::GetFlag(FLAGS_channels));
  std::vector<std::unique_ptr<InformerService::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(InformerService::NewStub(channel));
  absl::StatusOr<Targets> targets = LoadTargets(*stubs[0]);
  if (!targets.ok()) {
    std::fprintf(stderr, "informerd_load: %s\n", targets.status().ToString().c_str());
    return 1;
  }

  const double qps = absl::GetFlag(FLAGS_qps);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  const int max_in_flight = absl::GetFlag(FLAGS_max_in_flight);
  const int64_t total = static_cast<int64_t>(qps * absl::ToDoubleSeconds(duration));
  const absl::Duration interval = absl::Seconds(1) / qps;
  Samples samples;
  std::atomic<int> in_flight{0};
  std::atomic<int64_t> ok{0}, failed{0}, shed{0}, returned{0};
  std::mt19937_64 rng(42);

  struct Call {
    grpc::ClientContext context;
    informer::v1::GetRequest get;
    informer::v1::GetResponse get_response;
    informer::v1::ListRequest list;
    informer::v1::ListResponse list_response;
    absl::Time scheduled;
  };

  const double cpu0 = bench::CpuSeconds();
  const absl::Time start = absl::Now();
  for (int64_t i = 0; i < total; ++i) {
    const absl::Time scheduled = start + interval * i;
    absl::Time now = absl::Now();
    if (scheduled > now) absl::SleepFor(scheduled - now);
    if (in_flight.load() >= max_in_flight) {
      shed.fetch_add(1);
      continue;
    }
    in_flight.fetch_add(1);
    auto* call = new Call;
    call->scheduled = scheduled;
    call->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    InformerService::Stub& stub = *stubs[i % stubs.size()];
    auto done = [&, call](grpc::Status status) {
      if (status.ok()) {
        samples.Add(absl::Now() - call->scheduled);
        ok.fetch_add(1);
        returned.fetch_add(call->list_response.objects_size());
      } else {
        failed.fetch_add(1);
      }
      delete call;
      in_flight.fetch_sub(1);
    };
    if (list) {
      call->list.set_resource(absl::GetFlag(FLAGS_resource));
      call->list.set_namespace_(absl::GetFlag(FLAGS_namespace_name));
      call->list.set_label_selector(
          absl::StrCat("app=", targets->apps[rng() % targets->apps.size()]));
      stub.async()->List(&call->context, &call->list, &call->list_response, done);
    } else {
      call->get.set_resource(absl::GetFlag(FLAGS_resource));
      call->get.set_namespace_(absl::GetFlag(FLAGS_namespace_name));
      call->get.set_name(targets->names[rng() % targets->names.size()]);
      stub.async()->Get(&call->context, &call->get, &call->get_response, done);
    }
  }
  const absl::Duration send_time = absl::Now() - start;
  for (int i = 0; i < 2000 && in_flight.load() > 0; ++i) absl::SleepFor(absl::Milliseconds(10));
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  std::vector<absl::Duration> latencies = samples.Take();
  bench::JsonLine()
      .Add("event", "result")
      .Add("mode", list ? "list" : "get")
      .Add("target_qps", qps)
      .Add("achieved_qps", static_cast<double>(ok.load()) / elapsed)
      .Add("send_seconds", absl::ToDoubleSeconds(send_time))
      .Add("ok", ok.load())
      .Add("failed", failed.load())
      .Add("shed", shed.load())
      .Add("objects_per_call", ok.load() > 0 ? static_cast<double>(returned.load()) / ok.load() : 0)
      .Add("client_cpu_s", bench::CpuSeconds() - cpu0)
      .AddRaw("latency", bench::LatencyJson(&latencies))
      .Print();
  return 0;
}

// One Subscribe stream: counts events and measures stamp -> receipt latency.
class Subscriber : public grpc::ClientReadReactor<informer::v1::SubscribeResponse> {
 public:
  // Subscribes to the resource in --namespace_name, or with a non-empty `own_name` only to that
  // object (in `own_namespace`).
  Subscriber(InformerService::Stub* stub, Samples* samples, int64_t expect_stamped,
             std::atomic<int>* synced, std::atomic<int>* finished,
             const std::string& own_namespace = "", const std::string& own_name = "")
      : samples_(samples), expect_stamped_(expect_stamped), synced_(synced), finished_(finished) {
    request_.set_resource(absl::GetFlag(FLAGS_resource));
    if (own_name.empty()) {
      request_.set_namespace_(absl::GetFlag(FLAGS_namespace_name));
    } else {
      request_.set_namespace_(own_namespace);
      request_.set_field_selector(absl::StrCat("metadata.name=", own_name));
    }
    stub->async()->Subscribe(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    const absl::Time now = absl::Now();
    ++events_;
    bytes_ += static_cast<int64_t>(response_.object().json().size());
    if (response_.type() == informer::v1::EVENT_TYPE_SYNCED) synced_->fetch_add(1);
    if (response_.type() == informer::v1::EVENT_TYPE_MODIFIED) {
      const std::string& json = response_.object().json();
      size_t at = absl::string_view(json).find(kStampKey);
      int64_t ns = 0;
      if (at != absl::string_view::npos) {
        absl::string_view rest = absl::string_view(json).substr(at + kStampKey.size());
        rest = rest.substr(0, rest.find('"'));
        if (absl::SimpleAtoi(rest, &ns) && std::to_string(ns) != last_stamp_) {
          last_stamp_ = std::to_string(ns);
          samples_->Add(now - absl::FromUnixNanos(ns));
          const int64_t at_ns = absl::ToUnixNanos(now);
          if (first_stamped_ns_ == 0) first_stamped_ns_ = at_ns;
          last_stamped_ns_ = at_ns;
          if (++stamped_ == expect_stamped_) finished_->fetch_add(1);
        }
      }
    }
    StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  void Cancel() { context_.TryCancel(); }
  bool WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  int64_t events() const { return events_; }
  int64_t bytes() const { return bytes_; }
  int64_t stamped() const { return stamped_; }
  // Unix ns of the first and last stamped receipt (0 if none).
  int64_t first_stamped_ns() const { return first_stamped_ns_; }
  int64_t last_stamped_ns() const { return last_stamped_ns_; }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  grpc::ClientContext context_;
  informer::v1::SubscribeRequest request_;
  informer::v1::SubscribeResponse response_;
  Samples* samples_;
  const int64_t expect_stamped_;
  std::atomic<int>* synced_;
  std::atomic<int>* finished_;
  // Touched only by OnReadDone, which gRPC runs serially for one stream.
  std::atomic<int64_t> events_{0};
  std::atomic<int64_t> bytes_{0};  // object JSON received
  std::atomic<int64_t> stamped_{0};
  std::atomic<int64_t> first_stamped_ns_{0};
  std::atomic<int64_t> last_stamped_ns_{0};
  std::string last_stamp_;
  absl::Mutex mu_;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

int RunSubscribe() {
  const int n = absl::GetFlag(FLAGS_subscribers);
  const int64_t expect = absl::GetFlag(FLAGS_expect_stamped);
  auto channels = MakeChannels(std::min(n, absl::GetFlag(FLAGS_channels)));
  std::vector<std::unique_ptr<InformerService::Stub>> stubs;
  for (const auto& channel : channels) stubs.push_back(InformerService::NewStub(channel));
  Targets own;
  if (absl::GetFlag(FLAGS_select_own)) {
    absl::StatusOr<Targets> targets = LoadTargets(*stubs[0]);
    if (!targets.ok()) {
      std::fprintf(stderr, "informerd_load: %s\n", targets.status().ToString().c_str());
      return 1;
    }
    if (targets->names.size() < static_cast<size_t>(n)) {
      std::fprintf(stderr, "informerd_load: --select_own needs %d objects, found %zu\n", n,
                   targets->names.size());
      return 1;
    }
    own = *std::move(targets);
  }
  Samples samples;
  std::atomic<int> synced{0}, finished{0};
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  const double cpu0 = bench::CpuSeconds();
  for (int i = 0; i < n; ++i) {
    subscribers.push_back(std::make_unique<Subscriber>(
        stubs[i % stubs.size()].get(), &samples, expect, &synced, &finished,
        own.names.empty() ? "" : own.namespaces[i], own.names.empty() ? "" : own.names[i]));
  }
  const absl::Time deadline = absl::Now() + absl::GetFlag(FLAGS_duration);
  while (synced.load() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  if (!absl::GetFlag(FLAGS_ready_file).empty()) {
    if (FILE* f = std::fopen(absl::GetFlag(FLAGS_ready_file).c_str(), "w")) std::fclose(f);
  }
  bench::JsonLine()
      .Add("event", "subscribed")
      .Add("subscribers", n)
      .Add("synced", synced.load())
      .Print();
  const absl::Time start = absl::Now();
  absl::Time first_done = absl::InfiniteFuture();
  while (absl::Now() < deadline && (expect == 0 || finished.load() < n)) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  first_done = absl::Now();
  int64_t events = 0, stamped = 0, bytes = 0;
  int64_t first_ns = 0, last_ns = 0;  // stamped receipts, over every stream
  for (auto& s : subscribers) s->Cancel();
  int errors = 0;
  std::map<int, int> error_codes;  // stream errors by gRPC code
  std::string first_error;
  for (auto& s : subscribers) {
    s->WaitDone(absl::Seconds(10));
    events += s->events();
    bytes += s->bytes();
    stamped += s->stamped();
    if (s->first_stamped_ns() != 0 && (first_ns == 0 || s->first_stamped_ns() < first_ns)) {
      first_ns = s->first_stamped_ns();
    }
    last_ns = std::max(last_ns, s->last_stamped_ns());
    grpc::Status status = s->status();
    if (!status.ok() && status.error_code() != grpc::StatusCode::CANCELLED) {
      ++errors;
      ++error_codes[status.error_code()];
      if (first_error.empty()) first_error = status.error_message();
    }
  }
  std::vector<absl::Duration> latencies = samples.Take();
  const double elapsed = absl::ToDoubleSeconds(first_done - start);
  std::string codes;
  for (const auto& [code, count] : error_codes) {
    absl::StrAppend(&codes, codes.empty() ? "" : ",", code, ":", count);
  }
  bench::JsonLine()
      .Add("event", "result")
      .Add("mode", "subscribe")
      .Add("subscribers", n)
      .Add("select_own", absl::GetFlag(FLAGS_select_own))
      .Add("channels", static_cast<int>(channels.size()))
      .Add("synced", synced.load())
      .Add("complete", finished.load())
      .Add("stream_errors", errors)
      .Add("stream_error_codes", codes)  // "code:count,..."
      .Add("first_stream_error", first_error)
      .Add("events", events)
      .Add("stamped_received", stamped)
      .Add("json_bytes_received", bytes)
      .Add("seconds", elapsed)
      .Add("stamped_per_s", elapsed > 0 ? static_cast<double>(stamped) / elapsed : 0.0)
      // From the first stamped receipt to the last: the delivery rate while changes flowed.
      .Add("stamped_window_s", static_cast<double>(last_ns - first_ns) / 1e9)
      .Add("client_cpu_s", bench::CpuSeconds() - cpu0)
      .AddRaw("latency", bench::LatencyJson(&latencies))
      .Print();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  // The load client shares the cores with informerd; as informerd's Release main does, skip
  // Abseil's per-lock deadlock detection (Debian's Abseil is built with it on).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const std::string mode = absl::GetFlag(FLAGS_mode);
  if (mode == "get") return RunUnary(false);
  if (mode == "list") return RunUnary(true);
  if (mode == "subscribe") return RunSubscribe();
  std::fprintf(stderr, "informerd_load: unknown --mode %s\n", mode.c_str());
  return 2;
}
