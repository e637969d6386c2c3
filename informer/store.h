// The thread-safe indexed cache of one resource (client-go's cache.Indexer).
#ifndef INFORMER_STORE_H_
#define INFORMER_STORE_H_

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "informer/object.h"
#include "informer/selector.h"

namespace informer {

// Computes the values an object is indexed under (zero or more). Runs with the store's lock
// held (as in client-go), so it must be a pure function of the object and never call the store.
using IndexFunc = std::function<std::vector<std::string>(const Object&)>;
// Named index functions.
using Indexers = std::map<std::string, IndexFunc>;

// The name of the built-in namespace index (client-go's cache.NamespaceIndex).
inline constexpr char kNamespaceIndex[] = "namespace";

// Indexes by metadata.namespace.
std::vector<std::string> MetaNamespaceIndexFunc(const Object& object);
// Indexes by the value of one label key; objects without the label are not indexed.
IndexFunc LabelIndexFunc(std::string label_key);
// Indexes by every value at a field path (see Object::FieldValues).
IndexFunc FieldPathIndexFunc(std::string path);

// A map from key (K1) to ObjectPtr plus named indexes, all behind one lock so that readers
// never see an object without its index entries (S7). Keys iterate in sorted order, so List
// returns objects sorted by key (the service pages over that order).
// Index upkeep costs O(index values of the changed object), not O(store).
//
// Thread-safety: every method may be called from any thread.
class Store {
 public:
  explicit Store(Indexers indexers = {});
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Add and Update both insert or replace by key (S1).
  void Add(ObjectPtr object);
  void Update(ObjectPtr object);
  // Removes the key; a missing key is a no-op (S1).
  void Delete(absl::string_view key);

  // The object under `key`, or null.
  ObjectPtr GetByKey(absl::string_view key) const;
  // Every object, sorted by key.
  std::vector<ObjectPtr> List() const;
  // The objects of these namespaces, sorted by key, in O(log n + returned): a namespace's keys
  // ("namespace/name", K1) are one range of the sorted map. Empty `namespaces` = List().
  std::vector<ObjectPtr> ListNamespaces(absl::Span<const std::string> namespaces) const;
  // A superset of the objects of `namespaces` (empty = all) that `filter` matches, sorted by
  // key, from the narrowest lookup the indexes allow: the namespaces' ranges, or the entry of a
  // label index (LabelIndexFunc) under a value an equality requirement of `filter` fixes, or of
  // a field-path index (FieldPathIndexFunc) under the non-empty value of a `path=value`
  // requirement, whichever holds fewest objects. Callers still apply `filter` (and the
  // namespaces, when an index entry was used); this only bounds the cost by what is returned.
  std::vector<ObjectPtr> Candidates(absl::Span<const std::string> namespaces,
                                    const ObjectFilter& filter) const;
  // Every key, sorted.
  std::vector<std::string> ListKeys() const;
  size_t Size() const;
  // Sum of Object::ApproximateBytes over the stored objects (the objects only, not keys or
  // indexes), kept up to date by every change; for metrics and the history's bound.
  size_t ApproximateBytes() const;

  // Swaps the whole content for `objects` atomically and rebuilds every index (S2).
  void Replace(std::vector<ObjectPtr> objects);

  // Objects that share any index value with `object` under index `index_name`.
  // InvalidArgument naming the known indexes when the index does not exist (S5).
  absl::StatusOr<std::vector<ObjectPtr>> Index(absl::string_view index_name,
                                               const Object& object) const;
  // Keys of the objects indexed under `value`, sorted. InvalidArgument for an unknown index.
  absl::StatusOr<std::vector<std::string>> IndexKeys(absl::string_view index_name,
                                                     absl::string_view value) const;
  // Every value present in the index, sorted (S3, S4). InvalidArgument for an unknown index.
  absl::StatusOr<std::vector<std::string>> ListIndexFuncValues(absl::string_view index_name) const;
  // Objects indexed under `value`, sorted by key (S3). InvalidArgument for an unknown index.
  absl::StatusOr<std::vector<ObjectPtr>> ByIndex(absl::string_view index_name,
                                                 absl::string_view value) const;

  // Adds index functions, indexing the objects already stored (S6). AlreadyExists naming the
  // index when a name is taken; then nothing is added.
  absl::Status AddIndexers(Indexers indexers);
  // Names of every index, sorted.
  std::vector<std::string> IndexNames() const;

  // Runs `fn` with the lock held, for callers that must read the store and something else
  // (e.g. the event history) as one consistent cut. `fn` must not call back into the store.
  void WithReadLock(
      const std::function<void(const absl::btree_map<std::string, ObjectPtr>&)>& fn) const;

 private:
  using IndexValues = absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>;

  // Both return the replaced/removed object so the caller can drop it after unlocking.
  ObjectPtr UpsertLocked(ObjectPtr object) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ObjectPtr DeleteLocked(absl::string_view key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void IndexLocked(const std::string& key, const Object* old_object, const Object* new_object)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Status UnknownIndexLocked(absl::string_view index_name) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // ListNamespaces with the lock held (every object when `namespaces` is empty).
  std::vector<ObjectPtr> ListNamespacesLocked(absl::Span<const std::string> namespaces) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The keys of the smallest index entry that holds every object `filter` matches (see
  // Candidates), or null when no index narrows it.
  const absl::flat_hash_set<std::string>* NarrowestIndexEntryLocked(
      const ObjectFilter& filter) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The stored objects under `keys`, in that order; keys no longer stored are skipped.
  std::vector<ObjectPtr> ObjectsLocked(const std::vector<std::string>& keys) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::btree_map<std::string, ObjectPtr> items_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;  // see ApproximateBytes
  Indexers indexers_ ABSL_GUARDED_BY(mu_);
  // index name -> index value -> keys
  absl::flat_hash_map<std::string, IndexValues> indices_ ABSL_GUARDED_BY(mu_);
  // Bumped by AddIndexers, so Replace knows whether the indexes it built unlocked are complete.
  uint64_t indexers_generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace informer

#endif  // INFORMER_STORE_H_
