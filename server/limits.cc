#include "server/limits.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "informer/clock.h"

namespace informer {
namespace server {
namespace {

bool IsNamespaceChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

// A short, printable prefix of a hostile key for messages.
std::string Shown(absl::string_view key) {
  std::string out;
  for (char c : key.substr(0, 80)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  if (key.size() > 80) absl::StrAppend(&out, "... (", key.size(), " bytes)");
  return out;
}

}  // namespace

absl::Status CheckKnownObjectEntry(absl::string_view key, absl::string_view resource_version,
                                   bool namespaced) {
  absl::string_view name = key;
  if (namespaced) {
    const size_t slash = key.find('/');
    absl::string_view ns = slash == absl::string_view::npos ? "" : key.substr(0, slash);
    bool ns_ok = !ns.empty() && ns.size() <= kMaxNamespaceBytes;
    for (char c : ns) ns_ok = ns_ok && IsNamespaceChar(c);
    if (!ns_ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "known_objects key \"", Shown(key), "\" is not NAMESPACE/NAME with a namespace of 1 to ",
          kMaxNamespaceBytes, " bytes of a-z, 0-9 and '-'; send the keys of the objects you hold"));
    }
    name = key.substr(slash + 1);
  }
  if (name.empty() || name.size() > kMaxNameBytes || absl::StrContains(name, '/')) {
    return absl::InvalidArgumentError(
        absl::StrCat("known_objects key \"", Shown(key), "\" is not ",
                     namespaced ? "NAMESPACE/NAME" : "NAME (the resource is cluster-scoped)",
                     " with a name of 1 to ", kMaxNameBytes, " bytes without '/'"));
  }
  if (resource_version.empty() || resource_version.size() > kMaxResourceVersionBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "known_objects[\"", Shown(key), "\"] has a resourceVersion of ", resource_version.size(),
        " bytes; send the object's metadata.resourceVersion (1 to ", kMaxResourceVersionBytes,
        " bytes)"));
  }
  return absl::OkStatus();
}

absl::Status CheckKnownObjectCount(size_t entries, size_t limit) {
  if (entries <= limit) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "known_objects has ", entries, " entries, over the limit of ", limit,
      " (--max_known_objects); subscribe with narrower selectors or per namespace, or ask the "
      "operator to raise --max_known_objects"));
}

CallerQuota::CallerQuota(std::string what, size_t per_caller, std::string per_caller_flag,
                         size_t total, std::string total_flag)
    : what_(std::move(what)),
      per_caller_(per_caller),
      per_caller_flag_(std::move(per_caller_flag)),
      total_cap_(total),
      total_flag_(std::move(total_flag)) {}

CallerQuota::Lease::Lease(Lease&& other) noexcept
    : quota_(other.quota_), caller_(std::move(other.caller_)) {
  other.quota_ = nullptr;
}

CallerQuota::Lease& CallerQuota::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    quota_ = other.quota_;
    caller_ = std::move(other.caller_);
    other.quota_ = nullptr;
  }
  return *this;
}

void CallerQuota::Lease::Release() {
  if (quota_ == nullptr) return;
  quota_->Release(caller_);
  quota_ = nullptr;
}

absl::StatusOr<CallerQuota::Lease> CallerQuota::Acquire(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  size_t& mine = held_[caller];
  if (mine >= per_caller_) {
    ++refused_;
    if (mine == 0) held_.erase(caller);
    return absl::ResourceExhaustedError(
        absl::StrCat("too many ", what_, " for caller ", caller, ": it holds ", per_caller_,
                     ", the limit per caller (--", per_caller_flag_,
                     "); end some of them, or ask the operator to raise the flag"));
  }
  if (total_ >= total_cap_) {
    ++refused_;
    if (mine == 0) held_.erase(caller);
    return absl::ResourceExhaustedError(absl::StrCat(
        "too many ", what_, " on this informerd: ", total_cap_, " are held, the limit (--",
        total_flag_, "); retry with backoff, or use another replica"));
  }
  ++mine;
  ++total_;
  return Lease(this, caller);
}

void CallerQuota::Release(const std::string& caller) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(caller);
  if (it == held_.end()) return;
  --total_;
  if (--it->second == 0) held_.erase(it);
}

size_t CallerQuota::total() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

size_t CallerQuota::held_by(const std::string& caller) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(caller);
  return it == held_.end() ? 0 : it->second;
}

uint64_t CallerQuota::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

AdmissionGate::AdmissionGate(size_t slots, absl::Duration wait) : slots_(slots), wait_(wait) {}

AdmissionGate::Ticket& AdmissionGate::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Release();
    gate_ = other.gate_;
    other.gate_ = nullptr;
  }
  return *this;
}

void AdmissionGate::Ticket::Release() {
  if (gate_ == nullptr) return;
  gate_->Leave();
  gate_ = nullptr;
}

absl::StatusOr<AdmissionGate::Ticket> AdmissionGate::Enter(absl::Time deadline) {
  const absl::Time until = std::min(deadline, MonotonicNow() + wait_);
  absl::MutexLock lock(&mu_);
  auto free = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return in_use_ < slots_; };
  if (!AwaitWithMonotonicDeadline(&mu_, absl::Condition(&free), until)) {
    ++refused_;
    return absl::ResourceExhaustedError(absl::StrCat(
        "informerd is building the initial state of ", slots_,
        " other Subscribe starts (fresh or known_objects), the limit (--max_concurrent_starts), "
        "and none finished within ",
        absl::FormatDuration(wait_),
        " (--start_queue_wait); retry after a second or two with jittered backoff (the "
        "informerd clients do)"));
  }
  ++in_use_;
  return Ticket(this);
}

void AdmissionGate::Leave() {
  absl::MutexLock lock(&mu_);
  --in_use_;
}

size_t AdmissionGate::in_use() const {
  absl::MutexLock lock(&mu_);
  return in_use_;
}

uint64_t AdmissionGate::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

std::string CallerKey(absl::string_view username, absl::string_view peer) {
  if (!username.empty()) return absl::StrCat("user:", username);
  absl::string_view address = peer;
  if (absl::ConsumePrefix(&address, "ipv4:") || absl::ConsumePrefix(&address, "ipv6:")) {
    const size_t colon = address.rfind(':');
    if (colon != absl::string_view::npos) address = address.substr(0, colon);
    absl::ConsumePrefix(&address, "[");
    absl::ConsumePrefix(&address, "%5B");
    absl::ConsumeSuffix(&address, "]");
    absl::ConsumeSuffix(&address, "%5D");
    return absl::StrCat("ip:", address);
  }
  if (absl::StartsWith(peer, "unix:")) return "ip:unix";
  return absl::StrCat("ip:", peer);
}

}  // namespace server
}  // namespace informer
