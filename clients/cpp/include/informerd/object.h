// A Kubernetes object as informerd serves it, parsed once into a RapidJSON document and shared.
#ifndef INFORMERD_OBJECT_H_
#define INFORMERD_OBJECT_H_

#include <memory>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "informer/v1/informer.pb.h"
#include "rapidjson/document.h"

namespace informerd {

class Object;
// Objects are immutable and shared by the store, handlers and callers.
using ObjectPtr = std::shared_ptr<const Object>;

// One cached object: the API server's JSON (with kind and apiVersion), parsed, plus the
// metadata that keys and versions it. Read fields with RapidJSON, e.g.
// `rapidjson::Pointer("/data/key").Get(obj->doc())`.
//
// Thread-safety: immutable after construction; share it from any thread.
class Object {
 public:
  // Builds an Object from the wire form. The JSON must be a JSON object; an empty `json` (a
  // deletion the server knows only by key) gives an empty document. InvalidArgument when the
  // JSON does not parse, saying where.
  static absl::StatusOr<ObjectPtr> FromProto(const informer::v1::Object& proto);

  // Builds an Object from JSON text alone, taking namespace, name, uid and resourceVersion from
  // its metadata. InvalidArgument when it does not parse or has no metadata.name.
  static absl::StatusOr<ObjectPtr> FromJson(absl::string_view json);

  // metadata.namespace; empty for cluster-scoped objects.
  const std::string& namespace_name() const { return namespace_name_; }
  // metadata.name.
  const std::string& name() const { return name_; }
  // metadata.uid.
  const std::string& uid() const { return uid_; }
  // metadata.resourceVersion of this state.
  const std::string& resource_version() const { return resource_version_; }
  // The cache key: "namespace/name", or "name" when cluster-scoped.
  const std::string& key() const { return key_; }
  // The compact JSON text.
  const std::string& json() const { return json_; }
  // The parsed JSON (an object; empty for a key-only deletion).
  const rapidjson::Document& doc() const { return doc_; }

 private:
  Object() = default;
  // Parses json_ into doc_.
  absl::Status Parse();

  std::string namespace_name_;
  std::string name_;
  std::string uid_;
  std::string resource_version_;
  std::string key_;
  std::string json_;
  rapidjson::Document doc_;
};

// The cache key of a namespace and name: "namespace/name", or "name" when namespace is empty.
std::string ObjectKey(absl::string_view namespace_name, absl::string_view name);

// A deletion the informer did not see itself (the object was gone when it resynchronised after
// a reconnect): the key and the last state it held. client-go's DeletedFinalStateUnknown.
struct DeletedFinalStateUnknown {
  std::string key;
  ObjectPtr obj;  // never null
};

// What OnDelete receives: the deleted object's last state, or a tombstone.
using DeletedObject = std::variant<ObjectPtr, DeletedFinalStateUnknown>;

// The key of either alternative.
const std::string& KeyOf(const DeletedObject& deleted);
// The object itself, or the tombstone's last known state.
const ObjectPtr& ObjectOf(const DeletedObject& deleted);

// Whether resourceVersion `a` is newer than `b`. They are decimal numbers (informerd compares
// them so too); unparsable ones count as newer when they differ, so no update is dropped.
bool ResourceVersionNewer(absl::string_view a, absl::string_view b);

}  // namespace informerd

#endif  // INFORMERD_OBJECT_H_
