// Per-request projections: a field mask (`fields` of List, Get, ByIndex and Subscribe) that
// prunes each object's JSON to the paths a client asked for. What is cached of a resource
// (`projection: metadata`) is projection.h; a mask only narrows what one call returns.
#ifndef SERVER_FIELD_MASK_H_
#define SERVER_FIELD_MASK_H_

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "informer/object.h"

namespace informer {
namespace server {

// The most paths one mask may hold, and the longest path (bytes). A path is a field path of
// member names; a label or annotation key after `metadata.labels.` or `metadata.annotations.`
// is at most 317 bytes (a 253-byte prefix, '/', a 63-byte name), which the length fits.
inline constexpr size_t kMaxFieldPaths = 64;
inline constexpr size_t kMaxFieldPathBytes = 512;

// What every masked object keeps whatever the mask says: the type and the identity a client
// keys its store by and resumes with.
//   apiVersion, kind, metadata.name, metadata.namespace, metadata.uid, metadata.resourceVersion
inline constexpr const char* kAlwaysKeptPaths[] = {"apiVersion",    "kind",
                                                   "metadata.name", "metadata.namespace",
                                                   "metadata.uid",  "metadata.resourceVersion"};

// One object pruned by a mask.
struct MaskedObject {
  // The pruned object (its json() is what the client receives).
  ObjectPtr object;
  // Its JSON with metadata.resourceVersion emptied (filled by FieldMask::Apply only when asked
  // for): two states of an object whose masked forms differ in nothing else have equal
  // `content`, which is how Subscribe tells a change the subscriber cannot see.
  std::string content;
};
using MaskedObjectPtr = std::shared_ptr<const MaskedObject>;

// A parsed, validated field mask.
//
// Semantics: a path names a member of the object (`spec`), of a member (`spec.nodeName`), and
// so on; it selects that member whole, with everything under it. A path that crosses an array
// applies to each element: `spec.containers.image` keeps, of every element of
// spec.containers, only `image` (elements keep their order; an element without it is `{}`,
// one that is not an object is dropped). A path naming nothing in an object selects nothing;
// members with nothing selected under them are left out (`spec` is absent when a Pod has no
// spec.nodeName). The paths of kAlwaysKeptPaths are always kept. Label and annotation keys
// follow `metadata.labels.` and `metadata.annotations.` as one key, dots and all
// (`metadata.labels.app.kubernetes.io/name`).
//
// Thread-safety: immutable; share it from any thread.
class FieldMask {
 public:
  // The mask of `paths`, or null when `paths` is empty (the whole object). InvalidArgument
  // naming the path when one is empty, longer than kMaxFieldPathBytes, does not parse, or
  // selects array elements (`[0]`, `[*]`: name the array or a field of its elements), and
  // when there are more than kMaxFieldPaths paths.
  static absl::StatusOr<std::shared_ptr<const FieldMask>> Parse(
      const std::vector<std::string>& paths);

  // The paths, sorted and without repeats, joined by ','; masks with the same key prune alike.
  const std::string& key() const { return key_; }

  // `object` pruned to the mask, with MaskedObject::content filled when `with_content`.
  // Internal when the cached JSON does not parse again (it always does: informerd wrote it).
  absl::StatusOr<MaskedObjectPtr> Apply(const Object& object, bool with_content = false) const;

  // The tree of selected members (for the pruning walk).
  struct Node {
    bool whole = false;  // the member is selected with everything under it
    std::map<std::string, Node> children;
  };

 private:
  FieldMask() = default;

  std::string key_;
  Node root_;
};

// The masked forms of recently sent object versions, per mask key, so that subscribers with
// the same mask prune each change once (and, since they then share one MaskedObject, its
// JSON is sent to all of them from one buffer, server/wire.h).
//
// Entries do not keep source objects alive: one whose source was freed is never returned (its
// address may be reused) and goes with the oldest.
//
// Thread-safety: thread-safe.
class MaskedObjectCache {
 public:
  // Keeps at most `max_entries` masked versions and about `max_bytes` of them.
  explicit MaskedObjectCache(size_t max_entries = 4096, size_t max_bytes = size_t{16} << 20);

  // `object` masked by `mask`, with content (FieldMask::Apply(object, true)); from the cache
  // when another subscriber with the same mask key asked for it recently.
  absl::StatusOr<MaskedObjectPtr> Get(const FieldMask& mask, const ObjectPtr& object);

  // Entries held now, and lookups answered from the cache (for tests).
  size_t size() const;
  uint64_t hits() const;

 private:
  using Key = std::pair<const Object*, std::string>;
  struct Entry {
    std::weak_ptr<const Object> source;
    MaskedObjectPtr masked;
    size_t bytes = 0;
  };
  const size_t max_entries_;
  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<Key> oldest_first_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t hits_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace server
}  // namespace informer

#endif  // SERVER_FIELD_MASK_H_
