#include "server/wire.h"

#include <string>
#include <utility>
#include <vector>

#include "informer/v1/informer.pb.h"
#include "server/convert.h"

namespace informer {
namespace server {
namespace {

namespace pb = ::informer::v1;

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

// Appends the key and length of a length-delimited field (wire type 2) of `size` bytes.
void AppendMessageFieldHeader(int field_number, size_t size, std::string* out) {
  AppendVarint((static_cast<uint64_t>(field_number) << 3) | 2, out);
  AppendVarint(size, out);
}

}  // namespace

ObjectWireCache::ObjectWireCache(size_t max_entries, size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {}

grpc::Slice ObjectWireCache::Get(const ObjectPtr& object) {
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(object.get());
    if (it != entries_.end() && it->second.object.lock() == object) return it->second.bytes;
  }
  // Serialised outside the lock; two streams racing on one version both serialise it, once.
  pb::Object message;
  ToProto(*object, &message);
  grpc::Slice bytes(message.SerializeAsString());
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.try_emplace(object.get());
  if (!inserted) {
    bytes_ -= it->second.bytes.size();  // a freed object's entry, or the race above
  } else {
    oldest_first_.push_back(object.get());
  }
  it->second = Entry{object, bytes};
  bytes_ += bytes.size();
  while (oldest_first_.size() > 1 && (oldest_first_.size() > max_entries_ || bytes_ > max_bytes_)) {
    auto oldest = entries_.find(oldest_first_.front());
    bytes_ -= oldest->second.bytes.size();
    entries_.erase(oldest);
    oldest_first_.pop_front();
  }
  return bytes;
}

size_t ObjectWireCache::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

grpc::ByteBuffer EncodeSubscribeResponse(const SubscriptionEvent& event, ObjectWireCache* cache) {
  // Everything but the objects, serialised by protobuf; then the objects' fields from the
  // cache. Protobuf accepts fields in any order.
  SubscriptionEvent head_only = event;
  head_only.object = nullptr;
  head_only.old_object = nullptr;
  pb::SubscribeResponse head;
  ToProto(head_only, &head);
  std::string prefix = head.SerializeAsString();
  std::vector<grpc::Slice> slices;
  slices.reserve(4);
  auto append_object = [&](int field_number, const ObjectPtr& object) {
    grpc::Slice bytes = cache->Get(object);
    AppendMessageFieldHeader(field_number, bytes.size(), &prefix);
    slices.emplace_back(prefix);
    slices.push_back(std::move(bytes));
    prefix.clear();
  };
  if (event.object != nullptr) {
    append_object(pb::SubscribeResponse::kObjectFieldNumber, event.object);
  }
  if (event.old_object != nullptr) {
    append_object(pb::SubscribeResponse::kOldObjectFieldNumber, event.old_object);
  }
  if (!prefix.empty()) slices.emplace_back(prefix);
  return grpc::ByteBuffer(slices.data(), slices.size());
}

}  // namespace server
}  // namespace informer
