#include "server/wire.h"

#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "informer/v1/informer.pb.h"

namespace informer {
namespace server {
namespace {

namespace pb = ::informer::v1;

// Protobuf's wire format, written by hand for the few fields of a SubscribeResponse: what
// protobuf would write for them, in field-number order (wire_test compares the two).
constexpr int kVarint = 0;
constexpr int kLengthDelimited = 2;

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

size_t VarintSize(uint64_t value) {
  size_t size = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++size;
  }
  return size;
}

void AppendKey(int field_number, int wire_type, std::string* out) {
  AppendVarint((static_cast<uint64_t>(field_number) << 3) | static_cast<uint64_t>(wire_type), out);
}

// A string field; proto3 leaves an empty one out.
void AppendStringField(int field_number, absl::string_view value, std::string* out) {
  if (value.empty()) return;
  AppendKey(field_number, kLengthDelimited, out);
  AppendVarint(value.size(), out);
  out->append(value.data(), value.size());
}

size_t StringFieldSize(int field_number, absl::string_view value) {
  if (value.empty()) return 0;
  return VarintSize(static_cast<uint64_t>(field_number) << 3) + VarintSize(value.size()) +
         value.size();
}

// A varint field (enum, bool); proto3 leaves a zero out.
void AppendVarintField(int field_number, uint64_t value, std::string* out) {
  if (value == 0) return;
  AppendKey(field_number, kVarint, out);
  AppendVarint(value, out);
}

int WireEventType(SubscriptionEventType type) {
  switch (type) {
    case SubscriptionEventType::kAdded:
      return pb::EVENT_TYPE_ADDED;
    case SubscriptionEventType::kModified:
      return pb::EVENT_TYPE_MODIFIED;
    case SubscriptionEventType::kDeleted:
      return pb::EVENT_TYPE_DELETED;
    case SubscriptionEventType::kBookmark:
      return pb::EVENT_TYPE_BOOKMARK;
    case SubscriptionEventType::kSynced:
      return pb::EVENT_TYPE_SYNCED;
  }
  return pb::EVENT_TYPE_UNSPECIFIED;
}

// Frees the reference a JSON-sharing slice holds (gRPC calls it once the slice is unused).
void ReleaseJson(void* json) { delete static_cast<std::shared_ptr<const std::string>*>(json); }
// Frees a run of response bytes handed to a slice.
void ReleaseString(void* bytes) { delete static_cast<std::string*>(bytes); }

// A SubscribeResponse under construction: the bytes around the objects' JSON collected in
// `pending`, each JSON a slice of its own that references its object.
class ResponseWriter {
 public:
  ResponseWriter() { pending_.reserve(256); }

  std::string* pending() { return &pending_; }

  // An informer.v1.Object field: json (1), then namespace, name, uid and resourceVersion (2-5),
  // as ToProto(Object) fills them.
  void AppendObjectField(int field_number, const ObjectPtr& object) {
    // The object's own bytes, or (kept compressed) its text decompressed once for every stream
    // sending it at the same time; a small one is copied below, so not kept.
    std::shared_ptr<const std::string> shared;
    std::string small;
    absl::string_view json;
    if (object->json_size() >= kReferencedJsonBytes) {
      shared = Object::SharedJson(object);
      json = *shared;
    } else {
      json = object->PlainJson(&small);
    }
    const ObjectMeta& meta = object->meta();
    const size_t size =
        StringFieldSize(pb::Object::kJsonFieldNumber, json) +
        StringFieldSize(pb::Object::kNamespaceFieldNumber, meta.namespace_name) +
        StringFieldSize(pb::Object::kNameFieldNumber, meta.name) +
        StringFieldSize(pb::Object::kUidFieldNumber, meta.uid) +
        StringFieldSize(pb::Object::kResourceVersionFieldNumber, meta.resource_version);
    AppendKey(field_number, kLengthDelimited, &pending_);
    AppendVarint(size, &pending_);
    if (json.size() >= kReferencedJsonBytes) {
      AppendKey(pb::Object::kJsonFieldNumber, kLengthDelimited, &pending_);
      AppendVarint(json.size(), &pending_);
      Flush();
      slices_.emplace_back(const_cast<char*>(json.data()), json.size(), &ReleaseJson,
                           new std::shared_ptr<const std::string>(std::move(shared)));
    } else {
      AppendStringField(pb::Object::kJsonFieldNumber, json, &pending_);
    }
    AppendStringField(pb::Object::kNamespaceFieldNumber, meta.namespace_name, &pending_);
    AppendStringField(pb::Object::kNameFieldNumber, meta.name, &pending_);
    AppendStringField(pb::Object::kUidFieldNumber, meta.uid, &pending_);
    AppendStringField(pb::Object::kResourceVersionFieldNumber, meta.resource_version, &pending_);
  }

  grpc::ByteBuffer Finish() {
    Flush();
    return grpc::ByteBuffer(slices_.data(), slices_.size());
  }

 private:
  // Ends the current run of bytes as a slice: copied when short (inline when tiny), else the
  // string itself handed to the slice (a List of small objects is mostly one long run).
  void Flush() {
    if (pending_.empty()) return;
    if (pending_.size() < kHandedOverBytes) {
      slices_.emplace_back(pending_.data(), pending_.size());
      pending_.clear();
      return;
    }
    auto* owned = new std::string(std::move(pending_));
    slices_.emplace_back(owned->data(), owned->size(), &ReleaseString, owned);
    pending_ = std::string();
    pending_.reserve(256);
  }

  static constexpr size_t kHandedOverBytes = 2048;

  std::string pending_;
  absl::InlinedVector<grpc::Slice, 5> slices_;
};

// A repeated informer.v1.Object field.
void AppendObjectList(int field_number, const std::vector<ObjectPtr>& objects,
                      ResponseWriter* writer) {
  for (const ObjectPtr& object : objects) writer->AppendObjectField(field_number, object);
}

}  // namespace

grpc::ByteBuffer EncodeSubscribeResponse(const SubscriptionEvent& event) {
  ResponseWriter writer;
  AppendVarintField(pb::SubscribeResponse::kTypeFieldNumber,
                    static_cast<uint64_t>(WireEventType(event.type)), writer.pending());
  if (event.object != nullptr) {
    writer.AppendObjectField(pb::SubscribeResponse::kObjectFieldNumber, event.object);
  }
  if (event.old_object != nullptr) {
    writer.AppendObjectField(pb::SubscribeResponse::kOldObjectFieldNumber, event.old_object);
  }
  AppendStringField(pb::SubscribeResponse::kResourceVersionFieldNumber, event.resource_version,
                    writer.pending());
  AppendVarintField(pb::SubscribeResponse::kFinalStateUnknownFieldNumber,
                    event.final_state_unknown ? 1 : 0, writer.pending());
  AppendVarintField(pb::SubscribeResponse::kCoalescedFieldNumber, event.coalesced ? 1 : 0,
                    writer.pending());
  return writer.Finish();
}

grpc::ByteBuffer EncodeGetResponse(const ObjectPtr& object) {
  ResponseWriter writer;
  if (object != nullptr) writer.AppendObjectField(pb::GetResponse::kObjectFieldNumber, object);
  return writer.Finish();
}

grpc::ByteBuffer EncodeListResponse(const std::vector<ObjectPtr>& objects,
                                    absl::string_view resource_version,
                                    absl::string_view next_page_token, int64_t total_count) {
  ResponseWriter writer;
  AppendObjectList(pb::ListResponse::kObjectsFieldNumber, objects, &writer);
  AppendStringField(pb::ListResponse::kResourceVersionFieldNumber, resource_version,
                    writer.pending());
  AppendStringField(pb::ListResponse::kNextPageTokenFieldNumber, next_page_token, writer.pending());
  // int64: a negative value is its two's complement as a ten-byte varint, as protobuf writes it.
  AppendVarintField(pb::ListResponse::kTotalCountFieldNumber, static_cast<uint64_t>(total_count),
                    writer.pending());
  return writer.Finish();
}

grpc::ByteBuffer EncodeByIndexResponse(const std::vector<ObjectPtr>& objects,
                                       absl::string_view next_page_token, int64_t total_count) {
  ResponseWriter writer;
  AppendObjectList(pb::ByIndexResponse::kObjectsFieldNumber, objects, &writer);
  AppendStringField(pb::ByIndexResponse::kNextPageTokenFieldNumber, next_page_token,
                    writer.pending());
  AppendVarintField(pb::ByIndexResponse::kTotalCountFieldNumber, static_cast<uint64_t>(total_count),
                    writer.pending());
  return writer.Finish();
}

}  // namespace server
}  // namespace informer
