#include "informer/store.h"

#include <algorithm>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace informer {
namespace {

using IndexValues = absl::flat_hash_map<std::string, absl::flat_hash_set<std::string>>;
using Indices = absl::flat_hash_map<std::string, IndexValues>;

std::vector<std::string> SortedUnique(std::vector<std::string> values) {
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  return values;
}

// Builds every index from scratch; used by Replace and AddIndexers.
IndexValues BuildIndex(const IndexFunc& fn, const absl::btree_map<std::string, ObjectPtr>& items) {
  IndexValues index;
  for (const auto& [key, object] : items) {
    for (std::string& value : fn(*object)) index[std::move(value)].insert(key);
  }
  return index;
}

Indices BuildIndices(const Indexers& indexers,
                     const absl::btree_map<std::string, ObjectPtr>& items) {
  Indices indices;
  for (const auto& [name, fn] : indexers) indices[name] = BuildIndex(fn, items);
  return indices;
}

std::vector<std::string> SortedKeys(const absl::flat_hash_set<std::string>& keys) {
  std::vector<std::string> sorted(keys.begin(), keys.end());
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

// LabelIndexFunc's function: a named type, so index upkeep can recognise it (IndexValueViews).
struct LabelIndexer {
  std::string label_key;

  std::vector<std::string> operator()(const Object& object) const {
    auto it = object.meta().labels.find(label_key);
    if (it == object.meta().labels.end()) return {};
    return {it->second};
  }
};

// FieldPathIndexFunc's function, likewise.
struct FieldPathIndexer {
  FieldPath path;

  std::vector<std::string> operator()(const Object& object) const {
    return object.FieldValues(path);
  }
};

using IndexFuncPointer = std::vector<std::string> (*)(const Object&);

// An object's values under one index, sorted and distinct, as views. Every index is computed
// for the old and the new object of every change, and usually nothing changed: so the built-in
// index functions are read without allocating.
using IndexValueViews = absl::InlinedVector<absl::string_view, 4>;

// Fills `out` with the values of `object` under `fn`: views into the object for the built-in
// index functions (metadata and extracted field values), else into `scratch`, which holds what
// the function returned. `out` is valid while `object` and `scratch` are.
void IndexValuesOf(const IndexFunc& fn, const Object& object, std::vector<std::string>* scratch,
                   IndexValueViews* out) {
  const FieldPathIndexer* field = fn.target<FieldPathIndexer>();
  if (const IndexFuncPointer* pointer = fn.target<IndexFuncPointer>();
      pointer != nullptr && *pointer == &MetaNamespaceIndexFunc) {
    out->push_back(object.meta().namespace_name);
  } else if (const LabelIndexer* label = fn.target<LabelIndexer>(); label != nullptr) {
    auto it = object.meta().labels.find(label->label_key);
    if (it != object.meta().labels.end()) out->push_back(it->second);
  } else if (field != nullptr &&
             object.VisitFieldValuesInMemory(
                 field->path, [out](absl::string_view value) { out->push_back(value); })) {
    // Views into the object.
  } else {
    *scratch = fn(object);
    out->assign(scratch->begin(), scratch->end());
  }
  if (out->size() > 1) {
    std::sort(out->begin(), out->end());
    out->erase(std::unique(out->begin(), out->end()), out->end());
  }
}

}  // namespace

std::vector<std::string> MetaNamespaceIndexFunc(const Object& object) {
  // As client-go: cluster-scoped objects are indexed under "".
  return {object.meta().namespace_name};
}

IndexFunc LabelIndexFunc(std::string label_key) { return LabelIndexer{std::move(label_key)}; }

IndexFunc FieldPathIndexFunc(std::string path) {
  absl::StatusOr<FieldPath> parsed = FieldPath::Parse(path);
  // A malformed path indexes nothing, as Object::FieldValues gives it nothing.
  if (!parsed.ok()) return [](const Object&) { return std::vector<std::string>(); };
  // Parsed once, so each call reads the object (extracted values from memory) and no more.
  return FieldPathIndexer{*std::move(parsed)};
}

Store::Store(Indexers indexers) {
  for (auto& [name, fn] : indexers) {
    if (fn) indexers_.emplace(name, std::move(fn));
  }
  indexers_.emplace(kNamespaceIndex, MetaNamespaceIndexFunc);  // no-op when given
  for (const auto& [name, fn] : indexers_) indices_[name];
}

void Store::Add(ObjectPtr object) {
  if (object == nullptr) return;
  ObjectPtr replaced;
  absl::MutexLock lock(&mu_);
  replaced = UpsertLocked(std::move(object));
  // `replaced` is declared before `lock`, so it is freed after the unlock.
}

void Store::Update(ObjectPtr object) { Add(std::move(object)); }

void Store::Delete(absl::string_view key) {
  ObjectPtr removed;
  absl::MutexLock lock(&mu_);
  removed = DeleteLocked(key);
}

ObjectPtr Store::UpsertLocked(ObjectPtr object) {
  const std::string& key = object->key();
  auto it = items_.find(key);
  bytes_ += object->ApproximateBytes();
  if (it == items_.end()) {
    IndexLocked(key, nullptr, object.get());
    items_.emplace(key, std::move(object));
    return nullptr;
  }
  IndexLocked(key, it->second.get(), object.get());
  std::swap(it->second, object);
  bytes_ -= object->ApproximateBytes();
  return object;
}

ObjectPtr Store::DeleteLocked(absl::string_view key) {
  auto it = items_.find(std::string(key));
  if (it == items_.end()) return nullptr;
  ObjectPtr removed = std::move(it->second);
  bytes_ -= removed->ApproximateBytes();
  IndexLocked(it->first, removed.get(), nullptr);
  items_.erase(it);
  return removed;
}

void Store::IndexLocked(const std::string& key, const Object* old_object,
                        const Object* new_object) {
  std::vector<std::string> old_scratch;
  std::vector<std::string> new_scratch;
  IndexValueViews old_values;
  IndexValueViews new_values;
  for (const auto& [name, fn] : indexers_) {
    old_values.clear();
    new_values.clear();
    if (old_object != nullptr) IndexValuesOf(fn, *old_object, &old_scratch, &old_values);
    if (new_object != nullptr) IndexValuesOf(fn, *new_object, &new_scratch, &new_values);
    if (old_values == new_values) continue;  // the usual update: nothing indexed changed
    IndexValues& index = indices_[name];
    // Both are sorted: walk them together, removing the key from values only the old object
    // had and adding it to values only the new one has.
    auto old_it = old_values.begin();
    auto new_it = new_values.begin();
    while (old_it != old_values.end() || new_it != new_values.end()) {
      if (new_it == new_values.end() || (old_it != old_values.end() && *old_it < *new_it)) {
        auto it = index.find(*old_it++);
        if (it == index.end()) continue;
        it->second.erase(key);
        // An emptied value must vanish from ListIndexFuncValues (S4).
        if (it->second.empty()) index.erase(it);
      } else if (old_it == old_values.end() || *new_it < *old_it) {
        auto it = index.find(*new_it);
        if (it == index.end()) it = index.try_emplace(std::string(*new_it)).first;
        ++new_it;
        it->second.insert(key);
      } else {
        ++old_it;
        ++new_it;
      }
    }
  }
}

ObjectPtr Store::GetByKey(absl::string_view key) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = items_.find(std::string(key));
  return it == items_.end() ? nullptr : it->second;
}

std::vector<ObjectPtr> Store::List() const { return ListNamespaces({}); }

std::vector<ObjectPtr> Store::ListNamespaces(absl::Span<const std::string> namespaces) const {
  absl::ReaderMutexLock lock(&mu_);
  return ListNamespacesLocked(namespaces);
}

std::vector<ObjectPtr> Store::ListNamespacesLocked(absl::Span<const std::string> namespaces) const {
  std::vector<ObjectPtr> objects;
  if (namespaces.empty()) {
    objects.reserve(items_.size());
    for (const auto& [key, object] : items_) objects.push_back(object);
    return objects;
  }
  // Sorted and distinct, so the ranges come out in key order.
  std::vector<std::string> prefixes;
  prefixes.reserve(namespaces.size());
  for (const std::string& ns : namespaces) {
    if (!ns.empty()) prefixes.push_back(absl::StrCat(ns, "/"));
  }
  std::sort(prefixes.begin(), prefixes.end());
  prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
  for (const std::string& prefix : prefixes) {
    for (auto it = items_.lower_bound(prefix);
         it != items_.end() && absl::StartsWith(it->first, prefix); ++it) {
      objects.push_back(it->second);
    }
  }
  return objects;
}

const absl::flat_hash_set<std::string>* Store::NarrowestIndexEntryLocked(
    const ObjectFilter& filter) const {
  static const absl::flat_hash_set<std::string>* const kNone =
      new absl::flat_hash_set<std::string>();
  const absl::flat_hash_set<std::string>* narrowest = nullptr;
  // The entry of `index_name` under `value` (the empty set when no object has that value).
  auto consider = [&](const std::string& index_name, absl::string_view value) {
    auto index = indices_.find(index_name);
    if (index == indices_.end()) return;
    auto entry = index->second.find(value);
    const absl::flat_hash_set<std::string>* keys =
        entry == index->second.end() ? kNone : &entry->second;
    if (narrowest == nullptr || keys->size() < narrowest->size()) narrowest = keys;
  };
  for (const auto& [name, fn] : indexers_) {
    if (const LabelIndexer* label = fn.target<LabelIndexer>(); label != nullptr) {
      // `key=value`, `key==value` and `key in (value)` need the label with that value, which is
      // what the index holds the object under.
      for (const LabelSelector::Requirement& r : filter.labels.requirements()) {
        const bool fixes_value = r.op == LabelSelector::Operator::kEquals ||
                                 (r.op == LabelSelector::Operator::kIn && r.values.size() == 1);
        if (fixes_value && r.key == label->label_key && !r.values.empty()) {
          consider(name, r.values.front());
        }
      }
    } else if (const FieldPathIndexer* field = fn.target<FieldPathIndexer>(); field != nullptr) {
      // An empty value also matches objects without the field, which no entry holds.
      for (const FieldSelector::Requirement& r : filter.fields.requirements()) {
        if (r.equals && !r.value.empty() && r.path == field->path.text()) consider(name, r.value);
      }
    }
  }
  return narrowest;
}

std::vector<ObjectPtr> Store::Candidates(absl::Span<const std::string> namespaces,
                                         const ObjectFilter& filter) const {
  absl::ReaderMutexLock lock(&mu_);
  const absl::flat_hash_set<std::string>* entry = NarrowestIndexEntryLocked(filter);
  if (entry == nullptr) return ListNamespacesLocked(namespaces);
  // What the namespaces' ranges would return, from the namespace index.
  size_t range_size = items_.size();
  if (!namespaces.empty()) {
    range_size = 0;
    auto by_namespace = indices_.find(kNamespaceIndex);
    if (by_namespace == indices_.end()) return ListNamespacesLocked(namespaces);
    absl::flat_hash_set<absl::string_view> counted;
    for (const std::string& ns : namespaces) {
      if (!counted.insert(ns).second) continue;
      auto keys = by_namespace->second.find(ns);
      if (keys != by_namespace->second.end()) range_size += keys->second.size();
    }
  }
  if (entry->size() >= range_size) return ListNamespacesLocked(namespaces);
  return ObjectsLocked(SortedKeys(*entry));
}

std::vector<std::string> Store::ListKeys() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> keys;
  keys.reserve(items_.size());
  for (const auto& [key, object] : items_) keys.push_back(key);
  return keys;
}

size_t Store::Size() const {
  absl::ReaderMutexLock lock(&mu_);
  return items_.size();
}

size_t Store::ApproximateBytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return bytes_;
}

void Store::Replace(std::vector<ObjectPtr> objects) {
  // Build the new content without the lock, so readers are blocked only for the swap.
  Indexers indexers;
  uint64_t generation = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    indexers = indexers_;
    generation = indexers_generation_;
  }
  absl::btree_map<std::string, ObjectPtr> items;
  for (ObjectPtr& object : objects) {
    if (object == nullptr) continue;
    std::string key = object->key();
    items[std::move(key)] = std::move(object);  // a repeated key: the later object wins
  }
  Indices indices = BuildIndices(indexers, items);
  size_t bytes = 0;
  for (const auto& [key, object] : items) bytes += object->ApproximateBytes();
  {
    absl::MutexLock lock(&mu_);
    // AddIndexers ran meanwhile: the indexes built above miss the new ones.
    if (generation != indexers_generation_) indices = BuildIndices(indexers_, items);
    items_.swap(items);
    indices_.swap(indices);
    bytes_ = bytes;
  }
  // The old content is freed here, outside the lock.
}

absl::Status Store::UnknownIndexLocked(absl::string_view index_name) const {
  std::vector<std::string> names;
  for (const auto& [name, fn] : indexers_) names.push_back(name);
  return absl::InvalidArgumentError(absl::StrFormat("unknown index \"%s\"; known indexes: %s",
                                                    index_name, absl::StrJoin(names, ", ")));
}

std::vector<ObjectPtr> Store::ObjectsLocked(const std::vector<std::string>& keys) const {
  std::vector<ObjectPtr> objects;
  objects.reserve(keys.size());
  for (const std::string& key : keys) {
    auto it = items_.find(key);
    if (it != items_.end()) objects.push_back(it->second);
  }
  return objects;
}

absl::StatusOr<std::vector<ObjectPtr>> Store::Index(absl::string_view index_name,
                                                    const Object& object) const {
  IndexFunc fn;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = indexers_.find(std::string(index_name));
    if (it == indexers_.end()) return UnknownIndexLocked(index_name);
    fn = it->second;
  }
  // The index function runs unlocked: `object` need not be in the store.
  std::vector<std::string> values = SortedUnique(fn(object));
  absl::ReaderMutexLock lock(&mu_);
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return UnknownIndexLocked(index_name);
  absl::flat_hash_set<std::string> keys;
  for (const std::string& value : values) {
    auto it = index->second.find(value);
    if (it != index->second.end()) keys.insert(it->second.begin(), it->second.end());
  }
  return ObjectsLocked(SortedKeys(keys));
}

absl::StatusOr<std::vector<std::string>> Store::IndexKeys(absl::string_view index_name,
                                                          absl::string_view value) const {
  absl::ReaderMutexLock lock(&mu_);
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return UnknownIndexLocked(index_name);
  auto it = index->second.find(value);
  if (it == index->second.end()) return std::vector<std::string>();
  return SortedKeys(it->second);
}

absl::StatusOr<std::vector<std::string>> Store::ListIndexFuncValues(
    absl::string_view index_name) const {
  absl::ReaderMutexLock lock(&mu_);
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return UnknownIndexLocked(index_name);
  std::vector<std::string> values;
  values.reserve(index->second.size());
  for (const auto& [value, keys] : index->second) values.push_back(value);
  std::sort(values.begin(), values.end());
  return values;
}

absl::StatusOr<std::vector<ObjectPtr>> Store::ByIndex(absl::string_view index_name,
                                                      absl::string_view value) const {
  absl::ReaderMutexLock lock(&mu_);
  auto index = indices_.find(index_name);
  if (index == indices_.end()) return UnknownIndexLocked(index_name);
  auto it = index->second.find(value);
  if (it == index->second.end()) return std::vector<ObjectPtr>();
  return ObjectsLocked(SortedKeys(it->second));
}

absl::Status Store::AddIndexers(Indexers indexers) {
  absl::MutexLock lock(&mu_);
  for (const auto& [name, fn] : indexers) {
    if (indexers_.count(name) > 0) {
      return absl::AlreadyExistsError(absl::StrFormat("index \"%s\" already exists", name));
    }
    if (!fn)
      return absl::InvalidArgumentError(absl::StrFormat("index \"%s\" has no function", name));
  }
  for (auto& [name, fn] : indexers) {
    indices_[name] = BuildIndex(fn, items_);
    indexers_.emplace(name, std::move(fn));
  }
  ++indexers_generation_;
  return absl::OkStatus();
}

std::vector<std::string> Store::IndexNames() const {
  absl::ReaderMutexLock lock(&mu_);
  std::vector<std::string> names;
  for (const auto& [name, fn] : indexers_) names.push_back(name);
  return names;
}

void Store::WithReadLock(
    const std::function<void(const absl::btree_map<std::string, ObjectPtr>&)>& fn) const {
  absl::ReaderMutexLock lock(&mu_);
  fn(items_);
}

}  // namespace informer
