#include "informer/reflector.h"

#include <algorithm>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "informer/api_status.h"

namespace informer {
namespace {

// A watch that ends this quickly without a single event is suspicious (a proxy closing
// streams, a misbehaving server): back off instead of re-watching at once, so the loop never
// spins. client-go uses the same threshold.
constexpr absl::Duration kVeryShortWatch = absl::Seconds(1);

uint64_t SeedOrRandom(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

bool IsExpired(const absl::Status& status) { return IsResourceExpired(status); }

}  // namespace

Reflector::Reflector(std::shared_ptr<ListerWatcher> lister_watcher, const ObjectDecoder* decoder,
                     ReflectorStore* store, ReflectorConfig config)
    : lister_watcher_(std::move(lister_watcher)),
      decoder_(decoder),
      store_(store),
      config_(std::move(config)),
      clock_(config_.clock != nullptr ? config_.clock : RealClock::Get()),
      backoff_(config_.options.backoff, clock_, SeedOrRandom(config_.seed)),
      rng_(SeedOrRandom(config_.seed) + 1) {}

Reflector::~Reflector() { Stop(); }

void Reflector::Start() {
  absl::MutexLock lock(&mu_);
  if (started_ || stop_.HasBeenNotified()) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void Reflector::Stop() {
  absl::MutexLock stop_lock(&stop_mu_);
  if (!stop_.HasBeenNotified()) stop_.Notify();
  std::shared_ptr<WatchStream> watch;
  std::thread thread;
  {
    absl::MutexLock lock(&mu_);
    watch = current_watch_;
    thread = std::move(thread_);
  }
  // Either we see the watch the run loop published, or the run loop sees stop_ right after
  // publishing it and stops it itself.
  if (watch != nullptr) watch->Stop();
  if (thread.joinable()) thread.join();
}

std::string Reflector::LastSyncResourceVersion() const {
  absl::MutexLock lock(&mu_);
  return resource_version_;
}

InformerStats Reflector::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

void Reflector::SetResourceVersion(const std::string& resource_version) {
  if (resource_version.empty()) return;
  absl::MutexLock lock(&mu_);
  resource_version_ = resource_version;
}

void Reflector::CountStat(uint64_t InformerStats::*field) {
  absl::MutexLock lock(&mu_);
  ++(stats_.*field);
}

void Reflector::ReportAttempt(const absl::Status& status) {
  if (!status.ok()) CountStat(&InformerStats::errors);
  if (config_.on_attempt) config_.on_attempt(status);
}

void Reflector::SetCurrentWatch(std::shared_ptr<WatchStream> stream) {
  absl::MutexLock lock(&mu_);
  current_watch_ = std::move(stream);
}

ListOptions Reflector::BaseOptions() const {
  ListOptions options;
  options.label_selector = config_.label_selector;
  options.field_selector = config_.field_selector;
  return options;
}

int64_t Reflector::RandomWatchTimeoutSeconds() {
  // A random timeout in [min, 2*min] spreads re-watches of many informers over time (R2).
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double seconds =
      absl::ToDoubleSeconds(config_.options.min_watch_timeout) * (1.0 + unit(rng_));
  return std::max<int64_t>(1, static_cast<int64_t>(seconds));
}

bool Reflector::BackOff() { return clock_->SleepFor(backoff_.NextDelay(), stop_); }

void Reflector::Run() {
  bool need_list = true;
  bool expired = false;  // the last failure said our RV is too old: list from "" (quorum)
  while (!stop_.HasBeenNotified()) {
    std::shared_ptr<WatchStream> stream;
    if (need_list) {
      absl::Status status;
      bool refused = !config_.options.use_streaming_list;
      if (config_.options.use_streaming_list) status = StreamingList(&stream, &refused);
      if (refused) {
        // client-go's relistResourceVersion: "" after an expired RV, "0" (any, from the
        // watch cache) when nothing is known yet, else not older than what we have.
        const std::string last = LastSyncResourceVersion();
        status = ListAll(expired ? "" : (last.empty() ? "0" : last));
      }
      if (stop_.HasBeenNotified()) return;
      ReportAttempt(status);
      if (!status.ok()) {
        if (IsExpired(status)) expired = true;
        if (!BackOff()) return;
        continue;
      }
      expired = false;
      need_list = false;
    }
    switch (Watch(std::move(stream))) {
      case WatchEnd::kStopped:
        return;
      case WatchEnd::kRewatch:
        CountStat(&InformerStats::watch_restarts);
        break;
      case WatchEnd::kRewatchAfterBackoff:
        if (!BackOff()) return;
        CountStat(&InformerStats::watch_restarts);
        break;
      case WatchEnd::kRelist:
        // Back off here too: a server that keeps expiring our RV must not make us spin.
        expired = true;
        need_list = true;
        if (!BackOff()) return;
        break;
    }
  }
}

absl::Status Reflector::ListAll(const std::string& resource_version) {
  {
    absl::MutexLock lock(&mu_);
    ++stats_.lists;
    if (listed_once_) ++stats_.relists;
  }
  ListOptions options = BaseOptions();
  options.resource_version = resource_version;
  options.limit = config_.options.page_size;
  options.cancel = &stop_;  // Stop need not wait for a slow LIST
  std::vector<ObjectPtr> items;
  std::string list_rv;
  for (;;) {
    if (stop_.HasBeenNotified()) return absl::CancelledError("reflector stopped");
    absl::StatusOr<ListPage> page = lister_watcher_->List(options, *decoder_);
    // An expired continue token reports itself as expired, so the caller relists from ""
    // (quorum), as client-go's pager falls back to a full list.
    if (!page.ok()) return page.status();
    // Every page of one list is a snapshot at the first page's RV.
    if (list_rv.empty()) list_rv = page->resource_version;
    items.insert(items.end(), std::make_move_iterator(page->items.begin()),
                 std::make_move_iterator(page->items.end()));
    if (page->continue_token.empty()) break;
    // The continue token carries the RV; the server rejects both together.
    options.continue_token = std::move(page->continue_token);
    options.resource_version.clear();
    options.resource_version_match.clear();
  }
  if (stop_.HasBeenNotified()) return absl::CancelledError("reflector stopped");
  // Set first, so whoever sees the store synced also sees the RV it synced at.
  SetResourceVersion(list_rv);
  store_->Replace(std::move(items), list_rv);
  listed_once_ = true;
  return absl::OkStatus();
}

absl::Status Reflector::StreamingList(std::shared_ptr<WatchStream>* stream, bool* refused) {
  *refused = false;
  CountStat(&InformerStats::watches);
  ListOptions options = BaseOptions();
  options.send_initial_events = true;
  options.resource_version_match = "NotOlderThan";
  options.resource_version = "";
  options.allow_watch_bookmarks = true;
  options.timeout_seconds = RandomWatchTimeoutSeconds();
  absl::StatusOr<std::unique_ptr<WatchStream>> opened = lister_watcher_->Watch(options, *decoder_);
  if (!opened.ok()) {
    // A server without streaming lists rejects the parameters; LIST instead (R7).
    *refused = true;
    return opened.status();
  }
  {
    // A refused attempt is not a list; the LIST it falls back to counts instead.
    absl::MutexLock lock(&mu_);
    ++stats_.lists;
    if (listed_once_) ++stats_.relists;
  }
  std::shared_ptr<WatchStream> watch(std::move(*opened));
  SetCurrentWatch(watch);
  auto fail = [&](absl::Status status) {
    watch->Stop();
    SetCurrentWatch(nullptr);
    return status;
  };
  if (stop_.HasBeenNotified()) return fail(absl::CancelledError("reflector stopped"));

  absl::btree_map<std::string, ObjectPtr> initial;
  for (;;) {
    absl::StatusOr<std::optional<WatchEvent>> next = watch->Next();
    if (stop_.HasBeenNotified()) return fail(absl::CancelledError("reflector stopped"));
    if (!next.ok()) return fail(next.status());
    if (!next->has_value()) {
      return fail(absl::UnavailableError(
          "streaming list: the watch ended before the initial-events-end bookmark"));
    }
    const WatchEvent& event = **next;
    CountStat(&InformerStats::events);
    switch (event.type) {
      case WatchEventType::kAdded:
      case WatchEventType::kModified:
        if (event.object != nullptr) initial[event.object->key()] = event.object;
        break;
      case WatchEventType::kDeleted:
        if (event.object != nullptr) initial.erase(event.object->key());
        break;
      case WatchEventType::kBookmark: {
        CountStat(&InformerStats::bookmarks);
        if (event.object == nullptr) break;
        const auto& annotations = event.object->meta().annotations;
        auto end = annotations.find(kInitialEventsEndAnnotation);
        if (end == annotations.end() || end->second != "true") break;
        std::vector<ObjectPtr> objects;
        objects.reserve(initial.size());
        for (auto& [key, object] : initial) objects.push_back(std::move(object));
        const std::string& rv = event.object->meta().resource_version;
        SetResourceVersion(rv);
        store_->Replace(std::move(objects), rv);
        listed_once_ = true;
        *stream = std::move(watch);
        return absl::OkStatus();
      }
      case WatchEventType::kError:
        return fail(ApiStatusToStatus(event.error));
    }
  }
}

Reflector::WatchEnd Reflector::Watch(std::shared_ptr<WatchStream> stream) {
  if (stream == nullptr) {
    ListOptions options = BaseOptions();
    options.resource_version = LastSyncResourceVersion();
    options.allow_watch_bookmarks = true;
    options.timeout_seconds = RandomWatchTimeoutSeconds();
    CountStat(&InformerStats::watches);
    absl::StatusOr<std::unique_ptr<WatchStream>> opened =
        lister_watcher_->Watch(options, *decoder_);
    if (stop_.HasBeenNotified()) return WatchEnd::kStopped;
    ReportAttempt(opened.status());
    if (!opened.ok()) {
      // Only an expired RV needs a relist; anything else is retried from the same RV (R4).
      return IsExpired(opened.status()) ? WatchEnd::kRelist : WatchEnd::kRewatchAfterBackoff;
    }
    stream = std::shared_ptr<WatchStream>(std::move(*opened));
    SetCurrentWatch(stream);
  }
  auto finish = [&](WatchEnd end) {
    stream->Stop();
    SetCurrentWatch(nullptr);
    return end;
  };
  if (stop_.HasBeenNotified()) return finish(WatchEnd::kStopped);

  const absl::Time start = clock_->Now();
  uint64_t events = 0;
  for (;;) {
    absl::StatusOr<std::optional<WatchEvent>> next = stream->Next();
    if (stop_.HasBeenNotified()) return finish(WatchEnd::kStopped);
    if (!next.ok()) {
      ReportAttempt(next.status());
      return finish(IsExpired(next.status()) ? WatchEnd::kRelist : WatchEnd::kRewatchAfterBackoff);
    }
    if (!next->has_value()) {
      if (events == 0 && clock_->Now() - start < kVeryShortWatch) {
        ReportAttempt(absl::UnavailableError(
            "very short watch: the watch ended within a second without an event"));
        return finish(WatchEnd::kRewatchAfterBackoff);
      }
      return finish(WatchEnd::kRewatch);
    }
    ++events;
    WatchEnd end = WatchEnd::kRewatch;
    if (!HandleEvent(**next, &end)) return finish(end);
  }
}

bool Reflector::HandleEvent(const WatchEvent& event, WatchEnd* end) {
  CountStat(&InformerStats::events);
  if (event.type == WatchEventType::kError) {
    absl::Status status = ApiStatusToStatus(event.error);
    ReportAttempt(status);
    // A 410 inside the stream means our RV is gone: relist (R6). Anything else: re-watch.
    *end = IsExpired(status) ? WatchEnd::kRelist : WatchEnd::kRewatchAfterBackoff;
    return false;
  }
  if (event.object == nullptr) return true;
  SetResourceVersion(event.object->meta().resource_version);
  switch (event.type) {
    case WatchEventType::kAdded:
      store_->Add(event.object);
      break;
    case WatchEventType::kModified:
      store_->Update(event.object);
      break;
    case WatchEventType::kDeleted:
      store_->Delete(event.object);
      break;
    case WatchEventType::kBookmark:
      CountStat(&InformerStats::bookmarks);
      store_->Bookmark(event.object->meta().resource_version);
      break;
    case WatchEventType::kError:
      break;
  }
  return true;
}

}  // namespace informer
