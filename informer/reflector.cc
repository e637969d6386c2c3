#include "informer/reflector.h"

#include <algorithm>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "informer/api_status.h"
#include "informer/logging.h"

namespace informer {
namespace {

// A watch that ends this quickly without a single event is suspicious (a proxy closing
// streams, a misbehaving server): back off instead of re-watching at once, so the loop never
// spins. client-go uses the same threshold.
constexpr absl::Duration kVeryShortWatch = absl::Seconds(1);
// client-go never asks for watch timeouts below 5 minutes (R17).
constexpr absl::Duration kMinWatchTimeout = absl::Minutes(5);

uint64_t SeedOrRandom(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

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
  // A random timeout in [min, 2*min) spreads re-watches of many informers over time (R2); the
  // minimum is never below client-go's 5 minutes (R17).
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const absl::Duration floor = std::max(config_.options.min_watch_timeout, kMinWatchTimeout);
  const double seconds = absl::ToDoubleSeconds(floor) * (1.0 + unit(rng_));
  return std::max<int64_t>(1, static_cast<int64_t>(seconds));
}

void Reflector::LogRecovery(absl::string_view message, const absl::Status& cause,
                            std::vector<std::pair<std::string, std::string>> fields) {
  LogFields line = {{"resource", config_.name}, {"resourceVersion", LastSyncResourceVersion()}};
  if (!cause.ok()) line.emplace_back("cause", std::string(cause.message()));
  for (auto& field : fields) line.push_back(std::move(field));
  LogLine(LogSeverity::kInfo, message, line);
}

bool Reflector::BackOff(absl::string_view why, const absl::Status& cause) {
  const absl::Duration delay = backoff_.NextDelay();
  CountStat(&InformerStats::backoffs);
  LogRecovery(why, cause, {{"backoff", absl::FormatDuration(delay)}});
  return clock_->SleepFor(delay, stop_);
}

std::string Reflector::RelistResourceVersion() const {
  if (rv_unavailable_) return "";
  const std::string last = LastSyncResourceVersion();
  return last.empty() ? "0" : last;
}

void Reflector::Run() {
  bool need_list = true;
  while (!stop_.HasBeenNotified()) {
    std::shared_ptr<WatchStream> stream;
    if (need_list) {
      absl::Status status = List(&stream);
      if (stop_.HasBeenNotified()) return;
      ReportAttempt(status);
      if (!status.ok()) {
        if (!BackOff("list failed; backing off before listing again", status)) return;
        continue;
      }
      need_list = false;
    }
    switch (Watch(std::move(stream))) {
      case WatchEnd::kStopped:
        return;
      case WatchEnd::kRewatch:
        CountStat(&InformerStats::watch_restarts);
        break;
      case WatchEnd::kRewatchAfterBackoff:
        CountStat(&InformerStats::watch_restarts);
        if (!BackOff("watch refused; backing off before watching again", absl::OkStatus())) {
          return;
        }
        break;
      case WatchEnd::kRelist:
        // client-go backs off between every two ListAndWatch runs, so a server that keeps
        // failing the watch never makes it spin.
        need_list = true;
        if (!BackOff("watch failed; backing off before relisting", absl::OkStatus())) return;
        break;
    }
  }
}

absl::Status Reflector::List(std::shared_ptr<WatchStream>* stream) {
  {
    absl::MutexLock lock(&mu_);
    ++stats_.lists;
    if (listed_once_) ++stats_.relists;
  }
  if (listed_once_) LogRecovery("relisting", absl::OkStatus(), {{"at", RelistResourceVersion()}});
  if (config_.options.use_streaming_list) {
    // A stream that ends before its initial-events-end bookmark is retried at once, once; a
    // 429 after a backoff; anything else falls back to LIST in the same cycle (R16).
    for (int attempt = 0;; ++attempt) {
      absl::Status status = StreamingList(stream);
      if (status.ok() || stop_.HasBeenNotified()) return status;
      if (IsResourceExpired(status) || IsTooLargeResourceVersion(status)) rv_unavailable_ = true;
      if (IsTooManyRequests(status)) {
        if (!BackOff("streaming list throttled (429); backing off", status)) return status;
        continue;
      }
      if (absl::IsAborted(status) && attempt == 0) {
        LogRecovery("streaming list ended before its initial events did; retrying", status);
        continue;
      }
      LogRecovery("streaming list failed; falling back to LIST", status);
      break;
    }
  }
  const std::string rv = RelistResourceVersion();
  absl::Status status = ListAll(rv);
  // The RV asked for is gone or not there yet: at once from "" (quorum) (R9).
  if ((IsResourceExpired(status) || IsTooLargeResourceVersion(status)) && !rv.empty()) {
    rv_unavailable_ = true;
    LogRecovery("list at the last resourceVersion refused; listing from the latest", status);
    status = ListAll("");
  }
  return status;
}

absl::Status Reflector::ListAll(const std::string& resource_version) {
  ListOptions options = BaseOptions();
  options.resource_version = resource_version;
  // At a known RV the watch cache answers unpaged; "0" and "" page (R1, R11).
  const bool at_version = !resource_version.empty() && resource_version != "0";
  options.limit = at_version && !server_pages_ ? 0 : config_.options.page_size;
  options.cancel = &stop_;  // Stop need not wait for a slow LIST
  std::vector<ObjectPtr> items;
  std::string list_rv;
  for (int page_number = 0;; ++page_number) {
    if (stop_.HasBeenNotified()) return absl::CancelledError("reflector stopped");
    absl::StatusOr<ListPage> page = lister_watcher_->List(options, *decoder_);
    if (!page.ok()) {
      // An expired continue token: one unpaged LIST at the same RV instead (R10).
      if (page_number > 0 && IsResourceExpired(page.status())) {
        LogRecovery("continue token expired; listing again unpaged", page.status());
        ListOptions full = BaseOptions();
        full.resource_version = resource_version;
        full.cancel = &stop_;
        page = lister_watcher_->List(full, *decoder_);
        if (!page.ok()) return page.status();
        items.clear();
        list_rv = page->resource_version;
        items = std::move(page->items);
        break;
      }
      return page.status();
    }
    // Every page of one list is a snapshot at the first page's RV.
    if (list_rv.empty()) list_rv = page->resource_version;
    items.insert(items.end(), std::make_move_iterator(page->items.begin()),
                 std::make_move_iterator(page->items.end()));
    if (page->continue_token.empty()) break;
    if (page_number == 0 && resource_version == "0") server_pages_ = true;
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
  rv_unavailable_ = false;
  return absl::OkStatus();
}

absl::Status Reflector::StreamingList(std::shared_ptr<WatchStream>* stream) {
  CountStat(&InformerStats::watches);
  ListOptions options = BaseOptions();
  options.send_initial_events = true;
  options.resource_version_match = "NotOlderThan";
  // "" only at the start or once the last RV is gone (R16).
  options.resource_version = rv_unavailable_ ? "" : LastSyncResourceVersion();
  options.allow_watch_bookmarks = true;
  options.timeout_seconds = RandomWatchTimeoutSeconds();
  options.cancel = &stop_;  // Stop need not wait for a hung connect or initial list
  absl::StatusOr<std::unique_ptr<WatchStream>> opened = lister_watcher_->Watch(options, *decoder_);
  if (!opened.ok()) return opened.status();
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
      return fail(absl::AbortedError(
          "streaming list: the watch ended before the initial-events-end bookmark"));
    }
    const WatchEvent& event = **next;
    CountStat(&InformerStats::events);
    if (!event.dropped.ok()) {
      // The initial events are a list: a transform's failure fails it, as on a LIST (I15).
      return fail(
          absl::InvalidArgumentError(absl::StrCat("streaming list: ", event.dropped.message())));
    }
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
        // A bookmark without the annotation only says how far the server is.
        if (end == annotations.end() || end->second != "true") break;
        std::vector<ObjectPtr> objects;
        objects.reserve(initial.size());
        for (auto& [key, object] : initial) objects.push_back(std::move(object));
        const std::string& rv = event.object->meta().resource_version;
        SetResourceVersion(rv);
        store_->Replace(std::move(objects), rv);
        listed_once_ = true;
        rv_unavailable_ = false;
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
    options.cancel = &stop_;  // Stop need not wait for a hung connect
    CountStat(&InformerStats::watches);
    absl::StatusOr<std::unique_ptr<WatchStream>> opened =
        lister_watcher_->Watch(options, *decoder_);
    if (stop_.HasBeenNotified()) return WatchEnd::kStopped;
    ReportAttempt(opened.status());
    if (!opened.ok()) {
      // 429 and connection refused keep the RV (R13); anything else relists (R9, R12).
      if (IsTooManyRequests(opened.status()) ||
          GetTransportFault(opened.status()) == TransportFault::kConnectionRefused) {
        LogRecovery("watch could not be opened; will watch again", opened.status());
        return WatchEnd::kRewatchAfterBackoff;
      }
      if (IsResourceExpired(opened.status())) CountStat(&InformerStats::expired);
      LogRecovery("watch could not be opened; will relist", opened.status());
      return WatchEnd::kRelist;
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
    // A lost connection ends the watch as a clean close does (client-go: a probable EOF), and
    // so does a connection found dead by the HTTP client's probe (R18): the next watch gets a
    // new connection.
    const TransportFault fault =
        next.ok() ? TransportFault::kNone : GetTransportFault(next.status());
    const bool lost =
        fault == TransportFault::kConnectionLost || fault == TransportFault::kConnectionDead;
    if (fault == TransportFault::kConnectionDead) CountStat(&InformerStats::dead_connections);
    if (!next.ok() && !lost) {
      ReportAttempt(next.status());
      LogRecovery("watch failed; will relist", next.status());
      return finish(WatchEnd::kRelist);
    }
    if (lost || !next->has_value()) {
      // A watch that ends within a second without an event is suspicious (a proxy closing
      // streams): back off and relist, so the loop never spins (R12, R14).
      if (events == 0 && clock_->Now() - start < kVeryShortWatch) {
        const absl::Status why = absl::UnavailableError(
            "very short watch: the watch ended within a second without an event");
        ReportAttempt(why);
        LogRecovery("watch ended at once; will relist", lost ? next.status() : why);
        return finish(WatchEnd::kRelist);
      }
      LogRecovery(fault == TransportFault::kConnectionDead ? "watch connection dead; watching again"
                  : lost                                   ? "watch connection lost; watching again"
                                                           : "watch closed; watching again",
                  lost ? next.status() : absl::OkStatus(), {{"events", absl::StrCat(events)}});
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
    if (IsTooManyRequests(status)) {
      // A 429 inside the stream keeps the RV (R13).
      LogRecovery("watch throttled (429); will watch again", status);
      *end = WatchEnd::kRewatchAfterBackoff;
      return false;
    }
    // A 410 inside the stream relists at the last RV (R6, R9); any other ERROR (a 500
    // StoreReadError for an unsafe-deleted object, say) relists too, so the cache drops what
    // the server no longer serves (R12).
    if (IsResourceExpired(status)) CountStat(&InformerStats::expired);
    LogRecovery(IsResourceExpired(status) ? "watch expired (410); will relist"
                                          : "watch sent an error; will relist",
                status);
    *end = WatchEnd::kRelist;
    return false;
  }
  if (!event.dropped.ok()) {
    // A transform refused the object: that event is lost to the cache, the watch goes on and
    // the RV moves past it, as client-go's watchHandler does (I15).
    CountStat(&InformerStats::dropped_events);
    LogRecovery("watch event dropped: a transform failed; watching on", event.dropped,
                {{"resource_version", event.dropped_resource_version}});
    if (!event.dropped_resource_version.empty()) {
      SetResourceVersion(event.dropped_resource_version);
      store_->Bookmark(event.dropped_resource_version);
    }
    return true;
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
