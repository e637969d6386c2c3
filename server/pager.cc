#include "server/pager.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace informer {
namespace server {
namespace {

constexpr char kTokenVersion[] = "p1";

uint64_t HashQuery(absl::string_view query) { return absl::Hash<absl::string_view>()(query); }

uint64_t RandomInstance() {
  absl::BitGen gen;
  return absl::Uniform<uint64_t>(gen) | 1;  // never 0
}

}  // namespace

Pager::Pager(PagerOptions options) : options_(options), instance_(RandomInstance()) {}

absl::StatusOr<int32_t> Pager::CheckLimit(int32_t limit) const {
  if (limit < 0 || limit > options_.max_limit) {
    return absl::InvalidArgumentError(absl::StrCat("limit ", limit, " is out of range: use 1..",
                                                   options_.max_limit, ", or 0 for the default ",
                                                   options_.default_limit));
  }
  return limit == 0 ? options_.default_limit : limit;
}

std::string Pager::Token(uint64_t snapshot_id, size_t offset, uint64_t query_hash) const {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kTokenVersion, ":", instance_, ":", snapshot_id, ":", offset, ":", query_hash));
}

Page Pager::Cut(const Snapshot& snapshot, size_t offset, int32_t limit) const {
  Page page;
  page.resource_version = snapshot.resource_version;
  page.total_count = static_cast<int64_t>(snapshot.objects.size());
  size_t bytes = 0;
  size_t end = offset;
  while (end < snapshot.objects.size() && end - offset < static_cast<size_t>(limit)) {
    const size_t size = snapshot.objects[end]->json_size();
    if (end > offset && bytes + size > options_.max_page_bytes) break;
    bytes += size;
    ++end;
  }
  page.objects.assign(snapshot.objects.begin() + offset, snapshot.objects.begin() + end);
  if (end < snapshot.objects.size()) {
    page.next_page_token = Token(snapshot.id, end, snapshot.query_hash);
  }
  return page;
}

absl::StatusOr<Page> Pager::First(absl::string_view query, std::vector<ObjectPtr> objects,
                                  std::string resource_version, int32_t limit, absl::Time now,
                                  const std::string& caller, const std::string& resource) {
  absl::StatusOr<int32_t> checked = CheckLimit(limit);
  if (!checked.ok()) return checked.status();
  auto snapshot = std::make_shared<Snapshot>();
  snapshot->query_hash = HashQuery(query);
  snapshot->objects = std::move(objects);
  snapshot->resource_version = std::move(resource_version);
  snapshot->last_used = now;
  snapshot->caller = caller;
  snapshot->resource = resource;
  Page page;
  {
    absl::MutexLock lock(&mu_);
    ExpireLocked(now);
    snapshot->id = next_id_++;
    page = Cut(*snapshot, 0, *checked);
    if (page.next_page_token.empty()) return page;
    // Room for one more: past a cap the caller's own finished snapshots go first, never
    // another caller's.
    auto mine = [this, &caller]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      auto it = per_caller_.find(caller);
      return it == per_caller_.end() ? size_t{0} : it->second;
    };
    while (mine() >= options_.max_snapshots_per_caller && DropFinishedLocked(caller)) {
    }
    while (lru_.size() >= options_.max_snapshots && DropFinishedLocked(caller)) {
    }
    const bool caller_full = mine() >= options_.max_snapshots_per_caller;
    if (caller_full || lru_.size() >= options_.max_snapshots) {
      ++refused_;
      const std::string ttl = absl::FormatDuration(options_.snapshot_ttl);
      if (caller_full) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "caller ", caller, " holds ", options_.max_snapshots_per_caller,
            " unfinished paged lists, the limit per caller (--max_page_snapshots_per_caller); "
            "read your lists to their last page (an abandoned one is dropped ",
            ttl, " after its last page request), or ask the operator to raise the flag"));
      }
      return absl::ResourceExhaustedError(absl::StrCat(
          "informerd holds ", options_.max_snapshots,
          " unfinished paged lists of all callers, the limit (--max_page_snapshots); retry in a "
          "while with backoff (each is dropped ",
          ttl, " after its last page request), or list with a limit large enough for one page"));
    }
    lru_.push_back(snapshot);
    by_id_[snapshot->id] = std::prev(lru_.end());
    ++per_caller_[caller];
  }
  return page;
}

absl::StatusOr<Page> Pager::Next(absl::string_view query, absl::string_view token, int32_t limit,
                                 absl::Time now) {
  absl::StatusOr<int32_t> checked = CheckLimit(limit);
  if (!checked.ok()) return checked.status();
  const absl::Status malformed = absl::InvalidArgumentError(
      "page_token is malformed; pass the next_page_token of the previous page unchanged");
  std::string decoded;
  if (!absl::WebSafeBase64Unescape(token, &decoded)) return malformed;
  std::vector<absl::string_view> parts = absl::StrSplit(decoded, ':');
  uint64_t instance = 0, id = 0, offset = 0, query_hash = 0;
  if (parts.size() != 5 || parts[0] != kTokenVersion || !absl::SimpleAtoi(parts[1], &instance) ||
      !absl::SimpleAtoi(parts[2], &id) || !absl::SimpleAtoi(parts[3], &offset) ||
      !absl::SimpleAtoi(parts[4], &query_hash)) {
    return malformed;
  }
  if (instance != instance_) {
    return absl::AbortedError(
        "page_token comes from an earlier informerd process (restarted, or another replica); "
        "restart the list without a page_token");
  }
  if (query_hash != HashQuery(query)) {
    return absl::InvalidArgumentError(
        "page_token was issued for a different query; resource, namespace, selectors and index "
        "must stay the same across the pages of one list");
  }
  absl::MutexLock lock(&mu_);
  if (id >= next_id_) return malformed;
  ExpireLocked(now);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) {
    return absl::AbortedError(
        absl::StrCat("the snapshot of this page_token has expired (snapshots are kept ",
                     absl::FormatDuration(options_.snapshot_ttl),
                     " after the last page request); restart the list without a page_token"));
  }
  std::shared_ptr<Snapshot> snapshot = *it->second;
  if (offset == 0 || offset >= snapshot->objects.size()) return malformed;
  snapshot->last_used = now;
  lru_.splice(lru_.end(), lru_, it->second);
  // The snapshot stays after its last page too, so a retried request gets the same answer (until
  // its caller needs the room: DropFinishedLocked).
  Page page = Cut(*snapshot, offset, *checked);
  if (page.next_page_token.empty()) snapshot->finished = true;
  return page;
}

void Pager::ExpireLocked(absl::Time now) {
  while (!lru_.empty() && now - lru_.front()->last_used > options_.snapshot_ttl) {
    EraseLocked(lru_.begin());
  }
}

void Pager::DropResource(absl::string_view resource) {
  absl::MutexLock lock(&mu_);
  for (auto it = lru_.begin(); it != lru_.end();) {
    auto next = std::next(it);
    if ((*it)->resource == resource) EraseLocked(it);
    it = next;
  }
}

void Pager::EraseLocked(LruList::iterator it) {
  const std::shared_ptr<Snapshot>& snapshot = *it;
  by_id_.erase(snapshot->id);
  if (auto owner = per_caller_.find(snapshot->caller); owner != per_caller_.end()) {
    if (--owner->second == 0) per_caller_.erase(owner);
  }
  lru_.erase(it);
}

bool Pager::DropFinishedLocked(const std::string& caller) {
  for (auto it = lru_.begin(); it != lru_.end(); ++it) {
    if ((*it)->finished && (*it)->caller == caller) {
      EraseLocked(it);
      return true;
    }
  }
  return false;
}

size_t Pager::snapshot_count() const {
  absl::MutexLock lock(&mu_);
  return lru_.size();
}

size_t Pager::snapshot_count(const std::string& caller) const {
  absl::MutexLock lock(&mu_);
  auto it = per_caller_.find(caller);
  return it == per_caller_.end() ? 0 : it->second;
}

uint64_t Pager::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

}  // namespace server
}  // namespace informer
