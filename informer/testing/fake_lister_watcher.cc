#include "informer/testing/fake_lister_watcher.h"

#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "informer/reflector.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace testing {
namespace {

// One event waiting in a stream.
struct Pending {
  WatchEventType type = WatchEventType::kAdded;
  ObjectPtr object;  // as stored; decoded when handed out (bookmarks are not decoded)
  ApiStatus error;
};

// One watch stream as the server sees it.
struct StreamState {
  ListOptions options;
  std::deque<Pending> pending;
  bool ended = false;    // ends cleanly once `pending` is delivered
  absl::Status broken;   // non-OK: Next returns it, `pending` is lost
  bool stopped = false;  // the client called Stop
};

absl::Status Expired(absl::string_view what) {
  return ApiStatusToStatus(ApiStatus{410, "Expired", std::string(what)});
}

std::string Rv(uint64_t revision) { return absl::StrCat(revision); }

// `object` with metadata.resourceVersion set to `revision`.
ObjectPtr WithRevision(const ObjectPtr& object, uint64_t revision) {
  rapidjson::Document document;
  const std::string json = object->json();
  document.Parse(json.data(), json.size());
  auto& metadata = document["metadata"];
  const std::string rv = Rv(revision);
  auto it = metadata.FindMember("resourceVersion");
  if (it != metadata.MemberEnd()) {
    it->value.SetString(rv.data(), static_cast<rapidjson::SizeType>(rv.size()),
                        document.GetAllocator());
  } else {
    metadata.AddMember("resourceVersion",
                       rapidjson::Value(rv.data(), static_cast<rapidjson::SizeType>(rv.size()),
                                        document.GetAllocator()),
                       document.GetAllocator());
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  document.Accept(writer);
  absl::StatusOr<ObjectPtr> result =
      Object::FromJson(absl::string_view(buffer.GetString(), buffer.GetSize()));
  return result.ok() ? *result : nullptr;
}

ObjectPtr MakeBookmark(uint64_t revision, bool initial_events_end) {
  std::string json = absl::StrCat(
      R"({"apiVersion":"v1","kind":"Bookmark","metadata":{"name":"#bookmark","resourceVersion":")",
      revision, "\"");
  if (initial_events_end) {
    absl::StrAppend(&json, R"(,"annotations":{")", kInitialEventsEndAnnotation, R"(":"true"})");
  }
  json += "}}";
  return *Object::FromJson(json);
}

// Decodes a stored object with the caller's decoder, as the REST client decodes the wire.
absl::StatusOr<ObjectPtr> Decode(const ObjectPtr& stored, const ObjectDecoder& decoder) {
  rapidjson::Document document;
  const std::string json = stored->json();
  document.Parse(json.data(), json.size());
  if (document.HasParseError()) return absl::InternalError("fake: stored JSON does not parse");
  return decoder.Decode(document, document.GetAllocator());
}

}  // namespace

struct FakeListerWatcher::Core {
  struct LogEntry {
    uint64_t revision;
    WatchEventType type;
    ObjectPtr object;
  };
  struct Snapshot {
    uint64_t revision;
    std::vector<ObjectPtr> items;
  };

  mutable absl::Mutex mu;
  absl::btree_map<std::string, ObjectPtr> objects ABSL_GUARDED_BY(mu);
  uint64_t revision ABSL_GUARDED_BY(mu) = 1;
  uint64_t compacted ABSL_GUARDED_BY(mu) = 0;
  std::deque<LogEntry> log ABSL_GUARDED_BY(mu);
  std::vector<std::shared_ptr<StreamState>> streams ABSL_GUARDED_BY(mu);  // open ones
  std::deque<absl::Status> list_failures ABSL_GUARDED_BY(mu);
  std::deque<absl::Status> watch_failures ABSL_GUARDED_BY(mu);
  std::optional<std::pair<std::vector<WatchEvent>, bool>> stream_script ABSL_GUARDED_BY(mu);
  bool streaming ABSL_GUARDED_BY(mu) = false;
  bool ignores_limit ABSL_GUARDED_BY(mu) = true;
  bool expired_as_event ABSL_GUARDED_BY(mu) = false;
  std::function<void(const ListOptions&)> list_hook ABSL_GUARDED_BY(mu);
  std::vector<ListOptions> list_calls ABSL_GUARDED_BY(mu);
  std::vector<ListOptions> watch_calls ABSL_GUARDED_BY(mu);
  std::map<uint64_t, Snapshot> snapshots ABSL_GUARDED_BY(mu);
  uint64_t next_snapshot ABSL_GUARDED_BY(mu) = 1;

  // Records a change and sends it to every open watch.
  void EmitLocked(WatchEventType type, ObjectPtr object) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    log.push_back(LogEntry{revision, type, object});
    for (const auto& stream : streams) stream->pending.push_back(Pending{type, object, {}});
  }

  // Removes the streams `fn` terminates from the open list after applying it.
  void TerminateStreamsLocked(const std::function<void(StreamState&)>& fn)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const auto& stream : streams) fn(*stream);
    streams.clear();
  }

  void CloseStreamLocked(const StreamState* state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (auto it = streams.begin(); it != streams.end(); ++it) {
      if (it->get() == state) {
        streams.erase(it);
        return;
      }
    }
  }
};

namespace {

class FakeWatchStream : public WatchStream {
 public:
  FakeWatchStream(std::shared_ptr<FakeListerWatcher::Core> core, std::shared_ptr<StreamState> state,
                  const ObjectDecoder* decoder)
      : core_(std::move(core)), state_(std::move(state)), decoder_(decoder) {}
  ~FakeWatchStream() override { Stop(); }

  absl::StatusOr<std::optional<WatchEvent>> Next() override {
    Pending pending;
    {
      absl::MutexLock lock(&core_->mu);
      StreamState& state = *state_;
      auto ready = [&state]() {
        return state.stopped || !state.broken.ok() || !state.pending.empty() || state.ended;
      };
      core_->mu.Await(absl::Condition(&ready));
      if (state.stopped) return std::optional<WatchEvent>();
      if (!state.broken.ok()) {
        state.pending.clear();
        return state.broken;
      }
      if (state.pending.empty()) return std::optional<WatchEvent>();  // ended
      pending = std::move(state.pending.front());
      state.pending.pop_front();
    }
    WatchEvent event;
    event.type = pending.type;
    event.error = std::move(pending.error);
    if (pending.type == WatchEventType::kBookmark) {
      event.object = std::move(pending.object);
    } else if (pending.type != WatchEventType::kError) {
      absl::StatusOr<ObjectPtr> decoded = Decode(pending.object, *decoder_);
      if (!decoded.ok() && IsTransformError(decoded.status())) {
        event.dropped = decoded.status();  // as the REST watch decoder does (I15)
        event.dropped_resource_version = pending.object->meta().resource_version;
        return std::optional<WatchEvent>(std::move(event));
      }
      if (!decoded.ok()) return decoded.status();
      event.object = *std::move(decoded);
    }
    return std::optional<WatchEvent>(std::move(event));
  }

  void Stop() override {
    absl::MutexLock lock(&core_->mu);
    state_->stopped = true;
    core_->CloseStreamLocked(state_.get());
  }

 private:
  std::shared_ptr<FakeListerWatcher::Core> core_;
  std::shared_ptr<StreamState> state_;
  const ObjectDecoder* decoder_;
};

}  // namespace

FakeListerWatcher::FakeListerWatcher() : core_(std::make_shared<Core>()) {}

FakeListerWatcher::~FakeListerWatcher() { EndWatches(); }

absl::StatusOr<ListPage> FakeListerWatcher::List(const ListOptions& options,
                                                 const ObjectDecoder& decoder) {
  std::function<void(const ListOptions&)> hook;
  {
    absl::MutexLock lock(&core_->mu);
    hook = core_->list_hook;
  }
  if (hook) hook(options);

  std::vector<ObjectPtr> raw;
  ListPage page;
  {
    absl::MutexLock lock(&core_->mu);
    core_->list_calls.push_back(options);
    if (!core_->list_failures.empty()) {
      absl::Status failure = std::move(core_->list_failures.front());
      core_->list_failures.pop_front();
      return failure;
    }
    uint64_t snapshot_id = 0;
    size_t offset = 0;
    if (!options.continue_token.empty()) {
      std::vector<std::string> parts = absl::StrSplit(options.continue_token, ':');
      if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &snapshot_id) ||
          !absl::SimpleAtoi(parts[1], &offset) || core_->snapshots.count(snapshot_id) == 0) {
        return ApiStatusToStatus(ApiStatus{400, "BadRequest", "invalid continue token"});
      }
      if (core_->snapshots[snapshot_id].revision < core_->compacted) {
        core_->snapshots.erase(snapshot_id);
        return Expired(
            "The provided continue parameter is too old to display a consistent list result.");
      }
    } else {
      const std::string& rv = options.resource_version;
      if (rv == "0" && core_->ignores_limit) {
        // The watch cache serves RV "0" whole, whatever the limit.
        for (const auto& [key, object] : core_->objects) raw.push_back(object);
        page.resource_version = Rv(core_->revision);
      } else {
        if (!rv.empty() && rv != "0") {
          uint64_t wanted = 0;
          if (!absl::SimpleAtoi(rv, &wanted)) {
            return ApiStatusToStatus(ApiStatus{400, "BadRequest", "invalid resourceVersion"});
          }
          if (wanted < core_->compacted) {
            return Expired(
                absl::StrCat("too old resource version: ", wanted, " (", core_->compacted, ")"));
          }
        }
        snapshot_id = core_->next_snapshot++;
        Core::Snapshot& snapshot = core_->snapshots[snapshot_id];
        snapshot.revision = core_->revision;
        for (const auto& [key, object] : core_->objects) snapshot.items.push_back(object);
      }
    }
    if (snapshot_id != 0) {
      Core::Snapshot& snapshot = core_->snapshots[snapshot_id];
      const size_t size = snapshot.items.size();
      const size_t end =
          options.limit > 0 ? std::min(size, offset + static_cast<size_t>(options.limit)) : size;
      for (size_t i = offset; i < end; ++i) raw.push_back(snapshot.items[i]);
      page.resource_version = Rv(snapshot.revision);
      if (end < size) {
        page.continue_token = absl::StrCat(snapshot_id, ":", end);
      } else {
        core_->snapshots.erase(snapshot_id);
      }
    }
  }
  for (const ObjectPtr& object : raw) {
    absl::StatusOr<ObjectPtr> decoded = Decode(object, decoder);
    if (!decoded.ok()) return decoded.status();
    page.items.push_back(*std::move(decoded));
  }
  return page;
}

absl::StatusOr<std::unique_ptr<WatchStream>> FakeListerWatcher::Watch(
    const ListOptions& options, const ObjectDecoder& decoder) {
  auto state = std::make_shared<StreamState>();
  state->options = options;
  absl::MutexLock lock(&core_->mu);
  core_->watch_calls.push_back(options);
  if (!core_->watch_failures.empty()) {
    absl::Status failure = std::move(core_->watch_failures.front());
    core_->watch_failures.pop_front();
    return failure;
  }
  const std::string& rv = options.resource_version;
  if (options.send_initial_events) {
    if (!core_->streaming) {
      return ApiStatusToStatus(
          ApiStatus{422, "Invalid", "resourceVersionMatch: Forbidden: not allowed for watch"});
    }
    if (core_->stream_script.has_value()) {
      auto [events, end_after] = std::move(*core_->stream_script);
      core_->stream_script.reset();
      for (const WatchEvent& event : events) {
        state->pending.push_back(Pending{event.type, event.object, event.error});
      }
      state->ended = end_after;
      core_->streams.push_back(state);
      return std::unique_ptr<WatchStream>(new FakeWatchStream(core_, state, &decoder));
    }
    for (const auto& [key, object] : core_->objects) {
      state->pending.push_back(Pending{WatchEventType::kAdded, object, {}});
    }
    state->pending.push_back(
        Pending{WatchEventType::kBookmark, MakeBookmark(core_->revision, true), {}});
  } else if (rv.empty() || rv == "0") {
    // "Get state and start at most recent": synthetic ADDEDs first.
    for (const auto& [key, object] : core_->objects) {
      state->pending.push_back(Pending{WatchEventType::kAdded, object, {}});
    }
  } else {
    uint64_t from = 0;
    if (!absl::SimpleAtoi(rv, &from)) {
      return ApiStatusToStatus(ApiStatus{400, "BadRequest", "invalid resourceVersion"});
    }
    if (from < core_->compacted) {
      absl::Status expired =
          Expired(absl::StrCat("too old resource version: ", from, " (", core_->compacted, ")"));
      if (!core_->expired_as_event) return expired;
      state->pending.push_back(Pending{WatchEventType::kError, nullptr,
                                       ApiStatus{410, "Expired", std::string(expired.message())}});
      state->ended = true;
      return std::unique_ptr<WatchStream>(new FakeWatchStream(core_, state, &decoder));
    }
    for (const Core::LogEntry& entry : core_->log) {
      if (entry.revision > from) {
        state->pending.push_back(Pending{entry.type, entry.object, {}});
      }
    }
  }
  core_->streams.push_back(state);
  return std::unique_ptr<WatchStream>(new FakeWatchStream(core_, state, &decoder));
}

ObjectPtr FakeListerWatcher::Add(const ObjectPtr& object) {
  absl::MutexLock lock(&core_->mu);
  if (core_->objects.contains(object->key())) return nullptr;
  ObjectPtr stored = WithRevision(object, ++core_->revision);
  core_->objects[stored->key()] = stored;
  core_->EmitLocked(WatchEventType::kAdded, stored);
  return stored;
}

ObjectPtr FakeListerWatcher::Update(const ObjectPtr& object) {
  absl::MutexLock lock(&core_->mu);
  auto it = core_->objects.find(object->key());
  if (it == core_->objects.end()) return nullptr;
  ObjectPtr stored = WithRevision(object, ++core_->revision);
  it->second = stored;
  core_->EmitLocked(WatchEventType::kModified, stored);
  return stored;
}

ObjectPtr FakeListerWatcher::Delete(absl::string_view key) {
  absl::MutexLock lock(&core_->mu);
  auto it = core_->objects.find(key);
  if (it == core_->objects.end()) return nullptr;
  ObjectPtr final_state = WithRevision(it->second, ++core_->revision);
  core_->objects.erase(it);
  core_->EmitLocked(WatchEventType::kDeleted, final_state);
  return final_state;
}

std::map<std::string, ObjectPtr> FakeListerWatcher::Objects() const {
  absl::MutexLock lock(&core_->mu);
  return std::map<std::string, ObjectPtr>(core_->objects.begin(), core_->objects.end());
}

uint64_t FakeListerWatcher::revision() const {
  absl::MutexLock lock(&core_->mu);
  return core_->revision;
}

void FakeListerWatcher::BumpRevision(uint64_t by) {
  absl::MutexLock lock(&core_->mu);
  core_->revision += by;
}

void FakeListerWatcher::Compact() {
  absl::MutexLock lock(&core_->mu);
  core_->compacted = core_->revision;
  core_->log.clear();
}

uint64_t FakeListerWatcher::compacted_revision() const {
  absl::MutexLock lock(&core_->mu);
  return core_->compacted;
}

void FakeListerWatcher::BreakWatches(absl::Status status) {
  absl::MutexLock lock(&core_->mu);
  core_->TerminateStreamsLocked([&](StreamState& stream) {
    stream.broken = status;
    stream.pending.clear();
  });
}

void FakeListerWatcher::EndWatches() {
  absl::MutexLock lock(&core_->mu);
  core_->TerminateStreamsLocked([](StreamState& stream) { stream.ended = true; });
}

void FakeListerWatcher::SendError(ApiStatus status) {
  absl::MutexLock lock(&core_->mu);
  core_->TerminateStreamsLocked([&](StreamState& stream) {
    stream.pending.push_back(Pending{WatchEventType::kError, nullptr, status});
    stream.ended = true;
  });
}

void FakeListerWatcher::SendBookmark() {
  absl::MutexLock lock(&core_->mu);
  for (const auto& stream : core_->streams) {
    if (!stream->options.allow_watch_bookmarks) continue;
    stream->pending.push_back(
        Pending{WatchEventType::kBookmark, MakeBookmark(core_->revision, false), {}});
  }
}

void FakeListerWatcher::EmitEvent(WatchEventType type, ObjectPtr object) {
  absl::MutexLock lock(&core_->mu);
  for (const auto& stream : core_->streams) stream->pending.push_back(Pending{type, object, {}});
}

void FakeListerWatcher::FailNextList(absl::Status status) {
  absl::MutexLock lock(&core_->mu);
  core_->list_failures.push_back(std::move(status));
}

void FakeListerWatcher::FailNextWatch(absl::Status status) {
  absl::MutexLock lock(&core_->mu);
  core_->watch_failures.push_back(std::move(status));
}

void FakeListerWatcher::ScriptNextStreamingList(std::vector<WatchEvent> events, bool end_after) {
  absl::MutexLock lock(&core_->mu);
  core_->stream_script.emplace(std::move(events), end_after);
}

ObjectPtr FakeListerWatcher::MakeBookmarkObject(uint64_t resource_version,
                                                bool initial_events_end) {
  return MakeBookmark(resource_version, initial_events_end);
}

void FakeListerWatcher::set_streaming_list_supported(bool supported) {
  absl::MutexLock lock(&core_->mu);
  core_->streaming = supported;
}

void FakeListerWatcher::set_watch_cache_ignores_limit(bool ignores) {
  absl::MutexLock lock(&core_->mu);
  core_->ignores_limit = ignores;
}

void FakeListerWatcher::set_expired_watch_as_error_event(bool as_event) {
  absl::MutexLock lock(&core_->mu);
  core_->expired_as_event = as_event;
}

void FakeListerWatcher::SetListHook(std::function<void(const ListOptions&)> hook) {
  absl::MutexLock lock(&core_->mu);
  core_->list_hook = std::move(hook);
}

std::vector<ListOptions> FakeListerWatcher::list_calls() const {
  absl::MutexLock lock(&core_->mu);
  return core_->list_calls;
}

std::vector<ListOptions> FakeListerWatcher::watch_calls() const {
  absl::MutexLock lock(&core_->mu);
  return core_->watch_calls;
}

int FakeListerWatcher::open_watches() const {
  absl::MutexLock lock(&core_->mu);
  return static_cast<int>(core_->streams.size());
}

bool FakeListerWatcher::WaitForOpenWatches(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&core_->mu);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(core_->mu) {
    return static_cast<int>(core_->streams.size()) >= count;
  };
  return core_->mu.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool FakeListerWatcher::WaitForWatchCalls(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&core_->mu);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(core_->mu) {
    return static_cast<int>(core_->watch_calls.size()) >= count;
  };
  return core_->mu.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool FakeListerWatcher::WaitForListCalls(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&core_->mu);
  auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(core_->mu) {
    return static_cast<int>(core_->list_calls.size()) >= count;
  };
  return core_->mu.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool Eventually(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return condition();
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

absl::StatusOr<std::shared_ptr<ListerWatcher>> FakeListerWatcherFactory::ForResource(
    const ResourceInfo& resource, absl::string_view namespace_name) {
  return Make(resource, namespace_name, "");
}

absl::StatusOr<std::shared_ptr<ListerWatcher>> FakeListerWatcherFactory::ForMetadata(
    const ResourceInfo& resource, absl::string_view namespace_name) {
  return Make(resource, namespace_name, " metadata");
}

absl::StatusOr<std::shared_ptr<ListerWatcher>> FakeListerWatcherFactory::Make(
    const ResourceInfo& resource, absl::string_view namespace_name, absl::string_view suffix) {
  absl::MutexLock lock(&mu_);
  const std::string gvr = resource.gvr.ToString();
  requests_.push_back(absl::StrCat(gvr, "@", namespace_name, suffix));
  auto failure = failures_.find(gvr);
  if (failure != failures_.end()) return failure->second;
  std::shared_ptr<FakeListerWatcher>& fake = fakes_[{gvr, std::string(namespace_name)}];
  if (fake == nullptr) fake = std::make_shared<FakeListerWatcher>();
  return std::shared_ptr<ListerWatcher>(fake);
}

std::shared_ptr<FakeListerWatcher> FakeListerWatcherFactory::Get(
    const GroupVersionResource& gvr, absl::string_view namespace_name) const {
  absl::MutexLock lock(&mu_);
  auto it = fakes_.find({gvr.ToString(), std::string(namespace_name)});
  return it == fakes_.end() ? nullptr : it->second;
}

std::vector<std::string> FakeListerWatcherFactory::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

void FakeListerWatcherFactory::FailFor(const GroupVersionResource& gvr, absl::Status status) {
  absl::MutexLock lock(&mu_);
  failures_[gvr.ToString()] = std::move(status);
}

}  // namespace testing
}  // namespace informer
