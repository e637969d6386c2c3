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
                           SubscriptionRequest request, SubscriberLimits limits,
                           MaskedObjectCache* masked)
    : informer_(std::move(informer)),
      request_(std::move(request)),
      limits_(limits),
      only_name_(OnlyNameOf(request_.filter)),
      masked_(masked) {}

absl::StatusOr<std::unique_ptr<Subscription>> Subscription::Create(
    std::shared_ptr<SharedIndexInformer> informer, SubscriptionRequest request,
    SubscriberLimits limits, absl::Time now, MaskedObjectCache* masked) {
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
  // Used by the start only, and freed when Create returns.
  const absl::flat_hash_map<std::string, std::string> known = std::move(request.known_objects);
  request.known_objects.clear();
  std::unique_ptr<Subscription> subscription(
      new Subscription(std::move(informer), std::move(request), limits, masked));
  subscription->last_sent_ = now;
  const std::string& rv = subscription->request_.resource_version;
  if (rv.empty()) {
    subscription->StartFromCut(known);
    return subscription;
  }
  uint64_t number = 0;
  if (!absl::SimpleAtoi(rv, &number)) {
    return absl::InvalidArgumentError(absl::StrCat("resource_version \"", rv,
                                                   "\" is not a resourceVersion of ", resource,
                                                   " (a decimal number from an event or a List)"));
  }
  const EventHistory& history = subscription->informer_->history();
  absl::StatusOr<EventHistory::ResumePoint> point = history.ResumeAfter(rv);
  if (!point.ok()) {
    if (!absl::IsOutOfRange(point.status())) return point.status();
    return absl::OutOfRangeError(absl::StrCat(
        "cannot resume ", resource, " after resourceVersion ", rv, ": ", point.status().message(),
        "; resubscribe with known_objects (the objects you hold) or fresh"));
  }
  subscription->cursor_ = point->after_seq;
  if (point->ahead) subscription->skip_through_ = number;
  subscription->read_version_ = number;
  subscription->read_rv_ = rv;
  subscription->tail_rv_ = rv;
  subscription->delivered_rv_ = rv;
  subscription->catch_up_seq_ = history.last_seq();
  return subscription;
}

void Subscription::StartFromCut(const absl::flat_hash_map<std::string, std::string>& known) {
  // Only the namespace asked for is copied (a namespace is one range of keys), or fewer objects
  // still when an index entry holds every match (Store::Candidates); the filter below decides.
  std::vector<std::string> scope;
  if (!request_.filter.namespace_name.empty()) scope = {request_.filter.namespace_name};
  InformerSnapshot cut = informer_->Snapshot(scope, request_.filter);
  cursor_ = cut.history_seq;
  read_rv_ = cut.resource_version;
  tail_rv_ = cut.resource_version;
  absl::SimpleAtoi(cut.resource_version, &read_version_);
  const ObjectFilter& filter = request_.filter;
  absl::flat_hash_set<std::string> still_matching;
  for (const ObjectPtr& object : cut.objects) {
    if (!filter.Matches(*object)) continue;
    bool client_holds_older = false;
    if (!known.empty()) {
      auto it = known.find(object->key());
      if (it != known.end()) {
        still_matching.insert(object->key());
        if (it->second == object->meta().resource_version) continue;  // the client has it
        client_holds_older = true;
      }
    }
    initial_objects_.push_back({object, client_holds_older});
  }
  // Known keys that are gone or no longer match, in key order. The server cannot know the
  // state the client holds (nor whether the cached object with that key is the same one), so
  // the deletion names the key and the client's version only, never the cached object.
  std::vector<std::pair<std::string, std::string>> gone;
  for (const auto& [key, rv] : known) {
    if (!still_matching.contains(key)) gone.emplace_back(key, rv);
  }
  std::sort(gone.begin(), gone.end());
  for (const auto& [key, rv] : gone) {
    ObjectPtr object = KeyOnlyObject(informer_->resource(), key, rv);
    if (object == nullptr) continue;  // a key no object could have (e.g. "a/b/c")
    initial_deletions_.push_back(std::move(object));
  }
  synced_rv_ = cut.resource_version;
  synced_pending_ = true;
}

void Subscription::TakeInitial(SubscriptionEvent* event) {
  *event = SubscriptionEvent();
  if (!initial_objects_.empty()) {
    InitialObject& next = initial_objects_.front();
    event->type =
        next.client_holds_older ? SubscriptionEventType::kModified : SubscriptionEventType::kAdded;
    event->object = std::move(next.object);
    initial_objects_.pop_front();
    if (request_.fields != nullptr) {
      // Pruned as sent, once per start, outside the shared cache (whose entries are for live
      // changes many subscribers send).
      absl::StatusOr<MaskedObjectPtr> masked = request_.fields->Apply(*event->object);
      if (masked.ok()) event->object = (*masked)->object;
    }
    return;
  }
  if (!initial_deletions_.empty()) {
    event->type = SubscriptionEventType::kDeleted;
    event->object = std::move(initial_deletions_.front());
    event->final_state_unknown = true;
    initial_deletions_.pop_front();
    return;
  }
  event->type = SubscriptionEventType::kSynced;
  event->resource_version = std::move(synced_rv_);
  synced_pending_ = false;
  // Nothing of the start is kept past SYNCED (an empty std::deque would still hold a block).
  initial_objects_.Release();
  initial_deletions_.Release();
}

MaskedObjectPtr Subscription::Mask(const ObjectPtr& object, bool with_content) const {
  absl::StatusOr<MaskedObjectPtr> masked = masked_ != nullptr
                                               ? masked_->Get(*request_.fields, object)
                                               : request_.fields->Apply(*object, with_content);
  return masked.ok() ? *std::move(masked) : nullptr;
}

bool Subscription::Translate(const HistoryEvent& change, SubscriptionEvent* out,
                             bool* unchanged) const {
  if (unchanged != nullptr) *unchanged = false;
  if (!TranslateUnmasked(change, out)) return false;
  if (request_.fields == nullptr) return true;
  // Masked: a MODIFIED the subscriber cannot see is not sent. The subscriber holds the masked
  // previous state (it was sent, or equal to what was), so comparing with the cache's previous
  // state is comparing with what it holds.
  const bool compare =
      out->type == SubscriptionEventType::kModified && change.old_object != nullptr;
  MaskedObjectPtr now = Mask(out->object, compare);
  if (now == nullptr) return true;  // cannot happen (see FieldMask::Apply): send it whole
  if (compare) {
    MaskedObjectPtr before = Mask(change.old_object, /*with_content=*/true);
    if (before != nullptr && before->content == now->content) {
      if (unchanged != nullptr) *unchanged = true;
      return false;
    }
    if (out->old_object != nullptr) out->old_object = before != nullptr ? before->object : nullptr;
  }
  out->object = now->object;
  return true;
}

bool Subscription::TranslateUnmasked(const HistoryEvent& change, SubscriptionEvent* out) const {
  if (change.object == nullptr) return false;
  if (skip_through_ != 0 && change.version <= skip_through_) return false;  // it has it
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

absl::Status Subscription::CheckRelistSpan(const HistoryEvent& change) const {
  // A subscriber placed ahead of this server holds the state at skip_through_; a relist that
  // jumps over it leads from a state older than the client's, so its changes cannot be told
  // apart into those the client has and those it lacks.
  if (skip_through_ == 0 || !change.from_relist || change.version <= skip_through_ ||
      change.relist_from >= skip_through_) {
    return absl::OkStatus();
  }
  return absl::OutOfRangeError(absl::StrCat(
      "this server relisted ", informer_->resource().gvr.ToString(), " from ", change.relist_from,
      " to ", change.resource_version, ", across the resourceVersion ", skip_through_,
      " this subscription resumed from; resubscribe with known_objects (the objects you hold)"));
}

void Subscription::ReadThrough(uint64_t version) {
  if (version <= read_version_) return;
  read_version_ = version;
  read_rv_ = absl::StrCat(version);
}

void Subscription::CatchUpWithHead() {
  if (!unread_.empty()) return;
  const EventHistory::Head head = informer_->history().head();
  if (cursor_ >= head.seq && head.version > read_version_) {
    read_version_ = head.version;
    read_rv_ = head.resource_version;
  }
}

bool Subscription::SkipEvictedUnconcerned() {
  if (only_name_.empty()) return false;
  const EventHistory& history = informer_->history();
  const uint64_t first = history.first_seq();
  if (history.EvictedThrough(only_name_) > cursor_) return false;
  if (first > cursor_ + 1) cursor_ = first - 1;
  return true;
}

absl::Status Subscription::ReadRetryingEvicted(const std::function<absl::Status()>& read) {
  absl::Status status = read();
  // The ring may move on between the skip and the read; a few tries settle it.
  for (int attempt = 0; attempt < 3 && absl::IsOutOfRange(status); ++attempt) {
    if (!SkipEvictedUnconcerned()) break;
    status = read();
  }
  if (absl::IsOutOfRange(status)) {
    return Exhausted("the changes it has not received yet have left the server's history ring",
                     /*ring_moved=*/true);
  }
  return status;
}

absl::Status Subscription::Read(size_t max, std::vector<HistoryEvent>* out) {
  const EventHistory& history = informer_->history();
  const size_t before = out->size();
  absl::Status status = ReadRetryingEvicted([&] { return history.ReadAfter(cursor_, max, out); });
  if (!status.ok()) return status;
  // On to the end of the last change's version: a relist commits all of its changes at once,
  // so they are all there, and a group is never split between two reads.
  while (out->size() > before && !out->back().completes_version) {
    const size_t size = out->size();
    absl::Status more = history.ReadAfter(out->back().seq, 64, out);
    if (!more.ok() || out->size() == size) {
      return Exhausted("the changes it has not received yet have left the server's history ring",
                       /*ring_moved=*/true);
    }
  }
  if (out->size() > before) cursor_ = out->back().seq;
  return absl::OkStatus();
}

absl::Status Subscription::TakeGroup() {
  const uint64_t version = unread_.front().version;
  std::vector<SubscriptionEvent> events;
  while (!unread_.empty() && unread_.front().version == version) {
    const HistoryEvent& change = unread_.front();
    if (absl::Status s = CheckRelistSpan(change); !s.ok()) return s;
    SubscriptionEvent event;
    bool unchanged = false;
    if (Translate(change, &event, &unchanged)) events.push_back(std::move(event));
    if (unchanged) ++stats_.events_unchanged;
    unread_.pop_front();
  }
  // Every change up to `version` has been read (reads end at the end of a version).
  ReadThrough(version);
  if (events.empty()) return absl::OkStatus();
  const std::string position = absl::StrCat(version);
  for (size_t i = 0; i < events.size(); ++i) {
    events[i].resource_version = i + 1 == events.size() ? position : tail_rv_;
    pending_.push_back(std::move(events[i]));
  }
  tail_rv_ = position;
  return absl::OkStatus();
}

absl::Status Subscription::Coalesce(const std::vector<HistoryEvent>& changes) {
  ++stats_.coalesce_rounds;
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
  for (const HistoryEvent& change : changes) {
    if (absl::Status s = CheckRelistSpan(change); !s.ok()) return s;
    SubscriptionEvent event;
    bool unchanged = false;
    const bool sends = Translate(change, &event, &unchanged);
    if (unchanged) ++stats_.events_unchanged;
    if (change.completes_version) ReadThrough(change.version);
    if (!sends) continue;
    event.coalesced = true;
    const std::string& key = event.object->key();
    auto it = live.find(key);
    if (event.type == SubscriptionEventType::kDeleted) {
      if (it != live.end()) {
        // An unsent ADDED means the subscriber never held the object: both go (client-go
        // never calls OnDelete for an object it never added). Else the deletion replaces the
        // pending state.
        const bool never_held = pending_[it->second].type == SubscriptionEventType::kAdded;
        dropped[it->second] = true;
        stats_.events_coalesced += never_held ? 2 : 1;
        live.erase(it);
        if (never_held) continue;
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
  std::deque<SubscriptionEvent>& pending = pending_.storage();
  std::deque<SubscriptionEvent> kept;
  for (size_t i = 0; i < pending.size(); ++i) {
    if (!dropped[i]) kept.push_back(std::move(pending[i]));
  }
  pending = std::move(kept);
  // Nothing of the group is sent yet, and its events no longer follow the history's order: it
  // is one step, complete only at its last event, which carries the position read through.
  for (SubscriptionEvent& event : pending) event.resource_version = delivered_rv_;
  if (!pending.empty()) {
    pending.back().resource_version = read_rv_;
    tail_rv_ = read_rv_;
  }
  return absl::OkStatus();
}

absl::Status Subscription::ReadOwnName() {
  // Bounds how long one scan holds the history's lock (appends wait for it).
  constexpr size_t kMaxScan = 4096;
  const EventHistory& history = informer_->history();
  std::vector<HistoryEvent> mine;
  absl::StatusOr<EventHistory::NamedRead> read;
  absl::Status status = ReadRetryingEvicted([&] {
    mine.clear();
    read = history.ReadNamedAfter(cursor_, kMaxScan, only_name_, &mine);
    return read.status();
  });
  if (!status.ok()) return status;
  cursor_ = read->through_seq;
  for (HistoryEvent& change : mine) unread_.push_back(std::move(change));
  // The changes skipped are read: none concerns the subscriber. With its own changes queued,
  // the position moves with them (TakeGroup); else to the end of the scan.
  if (unread_.empty()) ReadThrough(read->through_version);
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
      if (absl::Status s = Coalesce(changes); !s.ok()) return s;
      return true;
    }
    for (HistoryEvent& change : changes) unread_.push_back(std::move(change));
  }
  if (unread_.empty()) {
    std::vector<HistoryEvent> changes;
    if (absl::Status s = Read(limits_.batch_size, &changes); !s.ok()) return s;
    if (changes.empty()) return false;
    for (HistoryEvent& change : changes) unread_.push_back(std::move(change));
  }
  if (absl::Status s = TakeGroup(); !s.ok()) return s;
  return true;
}

absl::Status Subscription::Exhausted(absl::string_view why, bool ring_moved) {
  const std::string resource = informer_->resource().gvr.ToString();
  // A position that the ring no longer places would only get OUT_OF_RANGE: say known_objects.
  if (ring_moved || delivered_rv_.empty() ||
      !informer_->history().ResumeAfter(delivered_rv_).ok()) {
    delivered_rv_.clear();
    return absl::ResourceExhaustedError(absl::StrCat(
        "subscriber too slow: ", why,
        "; its position is gone from the server's history, so resubscribe with known_objects "
        "(the objects you hold) or fresh"));
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "subscriber too slow: ", why, "; resume with resource_version \"", delivered_rv_, "\""));
}

void Subscription::Sent(absl::Time now, SubscriptionEvent* event) {
  last_sent_ = now;
  // An event that repeats the delivered position leaves its group open (see the class comment).
  group_closed_ = event->resource_version != delivered_rv_ || event->object == nullptr;
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
          "initial objects were all sent",
          /*ring_moved=*/true);
    }
    // Released as sent: after its initial objects a subscription holds no copy of the cache.
    TakeInitial(event);
    if (initial_done()) catch_up_seq_ = informer_->history().last_seq();
    Sent(now, event);
    return true;
  }
  for (;;) {
    if (!caught_up_ && pending_.empty() && unread_.empty() && cursor_ >= catch_up_seq_) {
      caught_up_ = true;
    }
    // Only between groups, so the position it names is complete: inside a group the rest of
    // the group is sent first.
    if (caught_up_ && group_closed_ && pending_.size() > limits_.hard_limit) {
      return Exhausted(absl::StrCat(pending_.size(), " events wait to be sent after coalescing (",
                                    "limit ", limits_.hard_limit, ")"),
                       /*ring_moved=*/false);
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
  CatchUpWithHead();
  // A bookmark only between groups (nothing pending), so it always closes a position.
  if (now - last_sent_ >= limits_.bookmark_interval && !read_rv_.empty()) {
    *event = SubscriptionEvent();
    event->type = SubscriptionEventType::kBookmark;
    event->resource_version = read_rv_;
    tail_rv_ = read_rv_;
    Sent(now, event);
    return true;
  }
  return false;
}

}  // namespace server
}  // namespace informer
