#include "server/subscription.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace server {
namespace {

uint64_t VersionOf(const HistoryEvent& change) { return change.version; }

// The one metadata.name every object the filter matches has, or "" when it allows several.
std::string OnlyNameOf(const ObjectFilter& filter) {
  for (const FieldSelector::Requirement& requirement : filter.fields.requirements()) {
    if (requirement.equals && requirement.path == "metadata.name") return requirement.value;
  }
  return "";
}

// An object holding only the identity of a key the subscriber knows but the cache no longer
// has, so its DELETED event can still say which object went.
ObjectPtr KeyOnlyObject(const ResourceInfo& resource, absl::string_view key,
                        absl::string_view resource_version) {
  absl::string_view namespace_name;
  absl::string_view name = key;
  if (const size_t slash = key.find('/'); slash != absl::string_view::npos) {
    namespace_name = key.substr(0, slash);
    name = key.substr(slash + 1);
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  auto string = [&writer](absl::string_view text) {
    writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  };
  writer.StartObject();
  writer.Key("apiVersion");
  string(resource.gvr.ApiVersion());
  writer.Key("kind");
  string(resource.kind);
  writer.Key("metadata");
  writer.StartObject();
  if (!namespace_name.empty()) {
    writer.Key("namespace");
    string(namespace_name);
  }
  writer.Key("name");
  string(name.empty() ? key : name);
  writer.Key("resourceVersion");
  string(resource_version);
  writer.EndObject();
  writer.EndObject();
  absl::StatusOr<ObjectPtr> object =
      Object::FromJson(absl::string_view(buffer.GetString(), buffer.GetSize()));
  return object.ok() ? *object : nullptr;
}

}  // namespace

Subscription::Subscription(std::shared_ptr<SharedIndexInformer> informer,
                           SubscriptionRequest request, SubscriberLimits limits)
    : informer_(std::move(informer)),
      request_(std::move(request)),
      limits_(limits),
      only_name_(OnlyNameOf(request_.filter)) {}

absl::StatusOr<std::unique_ptr<Subscription>> Subscription::Create(
    std::shared_ptr<SharedIndexInformer> informer, SubscriptionRequest request,
    SubscriberLimits limits, absl::Time now, CutRegistry* cuts) {
  if (!request.resource_version.empty() && !request.known_objects.empty()) {
    return absl::InvalidArgumentError(
        "set resource_version (resume after it) or known_objects (diff against what you hold), "
        "not both");
  }
  const std::string resource = informer->resource().gvr.ToString();
  if (!informer->HasSynced()) {
    const absl::Status last_error = informer->LastError();
    return absl::FailedPreconditionError(absl::StrCat(
        resource, " has not finished its initial sync yet",
        last_error.ok() ? "" : absl::StrCat(" (last error: ", last_error.message(), ")"),
        "; retry shortly"));
  }
  std::unique_ptr<Subscription> subscription(
      new Subscription(std::move(informer), std::move(request), limits));
  subscription->last_sent_ = now;
  const std::string& rv = subscription->request_.resource_version;
  if (rv.empty()) {
    subscription->StartFromCut(cuts);
    return subscription;
  }
  const EventHistory& history = subscription->informer_->history();
  uint64_t number = 0;
  if (!absl::SimpleAtoi(rv, &number)) {
    return absl::InvalidArgumentError(absl::StrCat("resource_version \"", rv,
                                                   "\" is not a resourceVersion of ", resource,
                                                   " (a decimal number from an event or a List)"));
  }
  if (absl::Status s = subscription->StartFromResourceVersion(number, cuts); !s.ok()) return s;
  subscription->position_rv_ = rv;
  subscription->delivered_rv_ = rv;
  subscription->newest_read_ = number;
  subscription->skip_through_ = number;
  subscription->catch_up_seq_ = history.last_seq();
  return subscription;
}

void Subscription::StartFromCut(CutRegistry* cuts) {
  InformerSnapshot cut = informer_->Snapshot();
  if (cuts != nullptr) cuts->Record(informer_.get(), cut.resource_version, cut.history_seq);
  cursor_ = cut.history_seq;
  position_rv_ = cut.resource_version;
  absl::SimpleAtoi(cut.resource_version, &newest_read_);
  const ObjectFilter& filter = request_.filter;
  const auto& known = request_.known_objects;
  absl::flat_hash_set<std::string> still_matching;
  for (const ObjectPtr& object : cut.objects) {
    if (!filter.Matches(*object)) continue;
    SubscriptionEvent event;
    event.object = object;
    if (!known.empty()) {
      auto it = known.find(object->key());
      if (it != known.end()) {
        still_matching.insert(object->key());
        if (it->second == object->meta().resource_version) continue;  // the client has it
        event.type = SubscriptionEventType::kModified;
        initial_.push_back(std::move(event));
        continue;
      }
    }
    event.type = SubscriptionEventType::kAdded;
    initial_.push_back(std::move(event));
  }
  // Known keys that are gone or no longer match, in key order.
  std::vector<std::pair<std::string, std::string>> gone;
  for (const auto& [key, rv] : known) {
    if (!still_matching.contains(key)) gone.emplace_back(key, rv);
  }
  std::sort(gone.begin(), gone.end());
  for (const auto& [key, rv] : gone) {
    SubscriptionEvent event;
    event.type = SubscriptionEventType::kDeleted;
    auto it =
        std::lower_bound(cut.objects.begin(), cut.objects.end(), key,
                         [](const ObjectPtr& o, const std::string& k) { return o->key() < k; });
    if (it != cut.objects.end() && (*it)->key() == key) {
      event.object = *it;  // still cached, no longer matching: its current state
    } else {
      event.object = KeyOnlyObject(informer_->resource(), key, rv);
      event.final_state_unknown = true;
      if (event.object == nullptr) continue;  // a key no object could have (e.g. "a/b/c")
    }
    initial_.push_back(std::move(event));
  }
  SubscriptionEvent synced;
  synced.type = SubscriptionEventType::kSynced;
  synced.resource_version = cut.resource_version;
  initial_.push_back(std::move(synced));
}

bool Subscription::Translate(const HistoryEvent& change, SubscriptionEvent* out) const {
  if (change.object == nullptr) return false;
  if (skip_through_ != 0 && VersionOf(change) <= skip_through_) return false;  // it has it
  const ObjectFilter& filter = request_.filter;
  out->object = change.object;
  out->old_object = nullptr;
  out->final_state_unknown = false;
  out->coalesced = false;
  switch (change.type) {
    case EventType::kAdded:
      out->type = SubscriptionEventType::kAdded;
      return filter.Matches(*change.object);
    case EventType::kModified: {
      // Evaluated on both states, as the API server's filtered watch does.
      const bool matches_now = filter.Matches(*change.object);
      const bool matched_before =
          change.old_object == nullptr ? matches_now : filter.Matches(*change.old_object);
      if (matches_now && matched_before) {
        out->type = SubscriptionEventType::kModified;
        if (request_.include_old_object) out->old_object = change.old_object;
        return true;
      }
      if (matches_now) {
        out->type = SubscriptionEventType::kAdded;
        return true;
      }
      if (matched_before) {
        out->type = SubscriptionEventType::kDeleted;  // carries the new, non-matching state
        return true;
      }
      return false;
    }
    case EventType::kDeleted:
      out->type = SubscriptionEventType::kDeleted;
      out->final_state_unknown = change.final_state_unknown;
      return filter.Matches(*change.object);
  }
  return false;
}

absl::Status Subscription::StartFromResourceVersion(uint64_t rv, const CutRegistry* cuts) {
  const EventHistory& history = informer_->history();
  const std::string resource = informer_->resource().gvr.ToString();
  // A recorded cut at or below `rv` whose later changes are all retained: start there and skip
  // what the client already holds.
  if (cuts != nullptr) {
    std::optional<CutRegistry::Cut> cut = cuts->Floor(informer_.get(), rv);
    if (cut.has_value() && cut->seq + 1 >= history.first_seq() && cut->seq <= history.last_seq()) {
      cursor_ = cut->seq;
      return absl::OkStatus();
    }
  }
  // Else the first retained change newer than `rv`: everything before it is older, so the
  // client holds it (changes after it that are older still are skipped as it goes).
  for (int attempt = 0; attempt < 3; ++attempt) {
    const uint64_t first = history.first_seq();
    uint64_t after = first - 1;
    std::vector<HistoryEvent> changes;
    absl::Status status;
    for (;;) {
      changes.clear();
      status = history.ReadAfter(after, 4096, &changes);
      if (!status.ok() || changes.empty()) break;
      for (const HistoryEvent& change : changes) {
        if (VersionOf(change) <= rv) continue;
        if (change.seq == first) {
          return absl::OutOfRangeError(absl::StrCat(
              "resourceVersion ", rv, " of ", resource,
              " is too old: the server's history starts after it (at ", change.resource_version,
              "); resubscribe without resource_version (fresh) or with known_objects"));
        }
        cursor_ = change.seq - 1;
        return absl::OkStatus();
      }
      after = changes.back().seq;
    }
    if (absl::IsOutOfRange(status)) continue;  // evicted while scanning: again
    if (!status.ok()) return status;
    if (after < first) {
      // No change retained and no cut recorded at or below `rv`: nothing tells whether the
      // informer's first LIST came after it.
      return absl::OutOfRangeError(
          absl::StrCat("resourceVersion ", rv, " of ", resource,
                       " cannot be placed in the server's history (it holds no change since then); "
                       "resubscribe without resource_version (fresh) or with known_objects"));
    }
    cursor_ = after;  // nothing newer: the client is up to date
    return absl::OkStatus();
  }
  return absl::UnavailableError(
      absl::StrCat("the history of ", resource, " moves too fast to position a resume; retry"));
}

void Subscription::Advance(const HistoryEvent& change) {
  const uint64_t rv = VersionOf(change);
  if (rv > newest_read_) newest_read_ = rv;
}

void Subscription::UpdatePosition() {
  if (newest_read_ == 0) return;
  if (!unread_.empty() && unread_min_version_.front() <= newest_read_) return;
  if (cursor_ < informer_->history().last_seq()) return;  // unknown what follows
  const std::string candidate = absl::StrCat(newest_read_);
  if (candidate == position_rv_) return;
  // Applied means nothing older waits in the informer's queue to join the history later.
  if (!informer_->WaitForResourceVersion(candidate, absl::InfinitePast()).ok()) return;
  position_rv_ = candidate;
}

bool Subscription::SkipEvictedUnconcerned() {
  if (only_name_.empty()) return false;
  const EventHistory& history = informer_->history();
  const uint64_t first = history.first_seq();
  if (history.EvictedThrough(only_name_) > cursor_) return false;
  if (first > cursor_ + 1) cursor_ = first - 1;
  return true;
}

absl::Status Subscription::Read(size_t max, std::vector<HistoryEvent>* out) {
  const size_t before = out->size();
  absl::Status status = informer_->history().ReadAfter(cursor_, max, out);
  // The ring may move on between the skip and the read; a few tries settle it.
  for (int attempt = 0; attempt < 3 && absl::IsOutOfRange(status); ++attempt) {
    if (!SkipEvictedUnconcerned()) break;
    status = informer_->history().ReadAfter(cursor_, max, out);
  }
  if (absl::IsOutOfRange(status)) {
    return Exhausted("the changes it has not received yet have left the server's history ring");
  }
  if (!status.ok()) return status;
  if (out->size() > before) cursor_ = out->back().seq;
  return absl::OkStatus();
}

void Subscription::SetUnread(std::vector<HistoryEvent> changes) {
  unread_.clear();
  unread_min_version_.clear();
  uint64_t min_version = std::numeric_limits<uint64_t>::max();
  for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
    min_version = std::min(min_version, VersionOf(*it));
    unread_min_version_.push_front(min_version);
  }
  for (HistoryEvent& change : changes) unread_.push_back(std::move(change));
}

void Subscription::Coalesce(const std::vector<HistoryEvent>& changes) {
  ++stats_.coalesce_rounds;
  const std::string position_before = position_rv_;
  // key -> index in pending_ of its newest not-yet-sent ADDED/MODIFIED.
  absl::flat_hash_map<std::string, size_t> live;
  for (size_t i = 0; i < pending_.size(); ++i) {
    const SubscriptionEvent& event = pending_[i];
    if (event.type == SubscriptionEventType::kAdded ||
        event.type == SubscriptionEventType::kModified) {
      live[event.object->key()] = i;
    } else if (event.object != nullptr) {
      live.erase(event.object->key());
    }
  }
  std::vector<bool> dropped(pending_.size(), false);
  for (size_t i = 0; i < changes.size(); ++i) {
    SubscriptionEvent event;
    const bool sends = Translate(changes[i], &event);
    Advance(changes[i]);
    if (!sends) continue;
    event.coalesced = true;
    event.resource_version = position_before;
    const std::string& key = event.object->key();
    auto it = live.find(key);
    if (event.type == SubscriptionEventType::kDeleted) {
      if (it != live.end()) {
        dropped[it->second] = true;  // the deletion replaces the pending state
        ++stats_.events_coalesced;
        live.erase(it);
      }
      pending_.push_back(std::move(event));
      dropped.push_back(false);
      continue;
    }
    if (it != live.end()) {
      // The latest state wins; the pending event keeps its type and old_object (what the
      // subscriber last saw).
      SubscriptionEvent& pending = pending_[it->second];
      pending.object = event.object;
      pending.coalesced = true;
      ++stats_.events_coalesced;
      continue;
    }
    live[key] = pending_.size();
    pending_.push_back(std::move(event));
    dropped.push_back(false);
  }
  std::deque<SubscriptionEvent> kept;
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (!dropped[i]) kept.push_back(std::move(pending_[i]));
  }
  pending_ = std::move(kept);
  UpdatePosition();
  // The position advances with the last event waiting: once it is delivered, every change read
  // is. Resuming from inside the group replays it, since its events no longer follow the
  // history's order.
  if (!pending_.empty()) pending_.back().resource_version = position_rv_;
}

absl::Status Subscription::ReadOwnName() {
  // Bounds how long one scan holds the history's lock (appends wait for it).
  constexpr size_t kMaxScan = 4096;
  const EventHistory& history = informer_->history();
  std::vector<HistoryEvent> mine;
  absl::StatusOr<EventHistory::NamedRead> read;
  for (int attempt = 0; attempt < 3; ++attempt) {
    mine.clear();
    read = history.ReadNamedAfter(cursor_, kMaxScan, only_name_, &mine);
    if (read.ok() || !absl::IsOutOfRange(read.status()) || !SkipEvictedUnconcerned()) break;
  }
  if (!read.ok()) {
    if (absl::IsOutOfRange(read.status())) {
      return Exhausted("the changes it has not received yet have left the server's history ring");
    }
    return read.status();
  }
  // The changes skipped are read: none concerns the subscriber.
  if (read->max_skipped_version > newest_read_) newest_read_ = read->max_skipped_version;
  cursor_ = read->through_seq;
  if (!mine.empty()) SetUnread(std::move(mine));
  return absl::OkStatus();
}

absl::StatusOr<bool> Subscription::Refill() {
  if (!only_name_.empty()) {
    while (unread_.empty() && cursor_ < informer_->history().last_seq()) {
      if (absl::Status s = ReadOwnName(); !s.ok()) return s;
    }
  }
  const uint64_t last_seq = informer_->history().last_seq();
  const uint64_t backlog = (last_seq > cursor_ ? last_seq - cursor_ : 0) + unread_.size();
  if (backlog == 0) return false;
  // Changes already in unread_ were screened when read; the next look is once they are done,
  // so a long backlog is screened once, not once per change.
  if (unread_.empty() && backlog + pending_.size() > limits_.soft_limit) {
    // Behind in the history: take everything there is.
    std::vector<HistoryEvent> changes;
    if (absl::Status s = Read(backlog, &changes); !s.ok()) return s;
    // The soft limit counts what the subscriber would be sent: one whose selector matches few
    // objects skips most changes and is not behind. Past it, keep only the latest state per key.
    size_t sends = 0;
    SubscriptionEvent scratch;
    for (const HistoryEvent& change : changes) sends += Translate(change, &scratch) ? 1 : 0;
    if (sends + pending_.size() > limits_.soft_limit) {
      Coalesce(changes);
      return true;
    }
    SetUnread(std::move(changes));
  }
  if (unread_.empty()) {
    std::vector<HistoryEvent> changes;
    if (absl::Status s = Read(limits_.batch_size, &changes); !s.ok()) return s;
    if (changes.empty()) return false;
    SetUnread(std::move(changes));
  }
  HistoryEvent change = std::move(unread_.front());
  unread_.pop_front();
  unread_min_version_.pop_front();
  SubscriptionEvent event;
  const bool sends = Translate(change, &event);
  Advance(change);
  UpdatePosition();
  if (sends) {
    event.resource_version = position_rv_;
    pending_.push_back(std::move(event));
  }
  return true;
}

absl::Status Subscription::Exhausted(absl::string_view why) const {
  return absl::ResourceExhaustedError(
      absl::StrCat("subscriber too slow: ", why, "; ",
                   delivered_rv_.empty()
                       ? "resubscribe with known_objects (what you received) or fresh"
                       : absl::StrCat("resume with resource_version \"", delivered_rv_, "\"")));
}

void Subscription::Sent(absl::Time now, SubscriptionEvent* event) {
  last_sent_ = now;
  if (!event->resource_version.empty()) delivered_rv_ = event->resource_version;
  ++stats_.events_sent;
}

uint64_t Subscription::Lag() const {
  const uint64_t last_seq = informer_->history().last_seq();
  return (last_seq > cursor_ ? last_seq - cursor_ : 0) + unread_.size() + pending_.size();
}

absl::StatusOr<bool> Subscription::Next(absl::Time now, SubscriptionEvent* event) {
  if (informer_->IsStopped()) {
    return absl::UnavailableError(absl::StrCat(informer_->resource().gvr.ToString(),
                                               " is no longer cached (informer stopped)"));
  }
  if (!initial_done()) {
    if (informer_->history().first_seq() > cursor_ + 1 && !SkipEvictedUnconcerned()) {
      return Exhausted(
          "the changes since its initial snapshot left the server's history ring before the "
          "initial objects were all sent");
    }
    *event = initial_[initial_next_++];
    if (initial_done()) catch_up_seq_ = informer_->history().last_seq();
    Sent(now, event);
    return true;
  }
  for (;;) {
    if (!caught_up_ && pending_.empty() && unread_.empty() && cursor_ >= catch_up_seq_) {
      caught_up_ = true;
    }
    if (caught_up_ && pending_.size() > limits_.hard_limit) {
      return Exhausted(absl::StrCat(pending_.size(), " events wait to be sent after coalescing (",
                                    "limit ", limits_.hard_limit, ")"));
    }
    if (!pending_.empty()) {
      *event = std::move(pending_.front());
      pending_.pop_front();
      Sent(now, event);
      return true;
    }
    absl::StatusOr<bool> progressed = Refill();
    if (!progressed.ok()) return progressed.status();
    if (!*progressed) break;
  }
  UpdatePosition();  // the informer may have applied everything since the last change
  if (now - last_sent_ >= limits_.bookmark_interval && !position_rv_.empty()) {
    *event = SubscriptionEvent();
    event->type = SubscriptionEventType::kBookmark;
    event->resource_version = position_rv_;
    Sent(now, event);
    return true;
  }
  return false;
}

}  // namespace server
}  // namespace informer
