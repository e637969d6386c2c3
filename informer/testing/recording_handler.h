// A ResourceEventHandler for tests: records every call and the state it was told of.
#ifndef INFORMER_TESTING_RECORDING_HANDLER_H_
#define INFORMER_TESTING_RECORDING_HANDLER_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "informer/event_handler.h"

namespace informer {
namespace testing {

// Records calls as text ("add ns/a@5 initial", "update ns/a@5->6", "delete ns/a@7",
// "delete ns/a@5 tombstone") and rebuilds the state the handler was told (key -> RV), noting
// anomalies: an add for a key it already holds, an update or delete for one it does not.
//
// Thread-safety: every method may be called from any thread.
class RecordingHandler : public ResourceEventHandler {
 public:
  void OnAdd(const ObjectPtr& object, bool is_in_initial_list) override {
    std::function<void()> on_call;
    {
      absl::MutexLock lock(&mu_);
      const std::string& key = object->key();
      calls_.push_back(absl::StrCat("add ", key, "@", object->meta().resource_version,
                                    is_in_initial_list ? " initial" : ""));
      if (state_.count(key) != 0) anomalies_.push_back("duplicate add of " + key);
      state_[key] = object->meta().resource_version;
      on_call = on_call_;
    }
    if (on_call) on_call();
  }

  void OnUpdate(const ObjectPtr& old_object, const ObjectPtr& new_object) override {
    std::function<void()> on_call;
    {
      absl::MutexLock lock(&mu_);
      const std::string& key = new_object->key();
      calls_.push_back(absl::StrCat("update ", key, "@", old_object->meta().resource_version, "->",
                                    new_object->meta().resource_version));
      if (state_.count(key) == 0) anomalies_.push_back("update of unknown " + key);
      state_[key] = new_object->meta().resource_version;
      on_call = on_call_;
    }
    if (on_call) on_call();
  }

  void OnDelete(const DeltaObject& object) override {
    std::function<void()> on_call;
    {
      absl::MutexLock lock(&mu_);
      const std::string& key = KeyOf(object);
      const bool tombstone = std::holds_alternative<DeletedFinalStateUnknown>(object);
      calls_.push_back(absl::StrCat("delete ", key, "@", ObjectOf(object)->meta().resource_version,
                                    tombstone ? " tombstone" : ""));
      if (state_.erase(key) == 0) anomalies_.push_back("delete of unknown " + key);
      on_call = on_call_;
    }
    if (on_call) on_call();
  }

  std::vector<std::string> calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  size_t call_count() const {
    absl::MutexLock lock(&mu_);
    return calls_.size();
  }
  // key -> RV as the handler was told.
  std::map<std::string, std::string> state() const {
    absl::MutexLock lock(&mu_);
    return state_;
  }
  std::vector<std::string> anomalies() const {
    absl::MutexLock lock(&mu_);
    return anomalies_;
  }
  // Waits (real time) until at least `count` calls were recorded.
  bool WaitForCalls(size_t count, absl::Duration timeout = absl::Seconds(10)) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return calls_.size() >= count; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  // Runs `fn` inside every call, after recording it, without the handler's lock (e.g. to
  // block the handler while the test inspects it).
  void set_on_call(std::function<void()> fn) {
    absl::MutexLock lock(&mu_);
    on_call_ = std::move(fn);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::string> state_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> anomalies_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_call_ ABSL_GUARDED_BY(mu_);
};

}  // namespace testing
}  // namespace informer

#endif  // INFORMER_TESTING_RECORDING_HANDLER_H_
