#include "informer/k8s/watch_decoder.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "informer/k8s/status_body.h"
#include "rapidjson/error/en.h"

namespace informer {
namespace k8s {
namespace {

using JsonValue = rapidjson::Value;

// Bookmarks carry no name, but an Object needs one. This one is not a valid Kubernetes name,
// so a bookmark can never be mistaken for a real object's key.
constexpr char kBookmarkName[] = "#bookmark";

// The ERROR event's object should always carry a code; treat one that does not as a server
// error so the reflector restarts the watch rather than ignoring it.
constexpr int kUnknownErrorCode = 500;

bool IsJsonWhitespace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

absl::string_view StringOf(const JsonValue& value) {
  return absl::string_view(value.GetString(), value.GetStringLength());
}

// A bookmark as an Object: type meta, metadata.resourceVersion and metadata.annotations only
// (the API server sends nothing else of interest in it).
absl::StatusOr<ObjectPtr> DecodeBookmark(JsonValue& object,
                                         rapidjson::Document::AllocatorType& allocator,
                                         const ResourceInfo& resource) {
  if (!object.IsObject()) return absl::InvalidArgumentError("BOOKMARK object is not an object");
  JsonValue metadata(rapidjson::kObjectType);
  metadata.AddMember("name", JsonValue(rapidjson::StringRef(kBookmarkName)), allocator);
  auto source = object.FindMember("metadata");
  if (source != object.MemberEnd() && source->value.IsObject()) {
    auto rv = source->value.FindMember("resourceVersion");
    if (rv != source->value.MemberEnd() && rv->value.IsString()) {
      metadata.AddMember("resourceVersion", rv->value, allocator);
    }
    auto annotations = source->value.FindMember("annotations");
    if (annotations != source->value.MemberEnd() && annotations->value.IsObject()) {
      metadata.AddMember("annotations", annotations->value, allocator);
    }
  }
  JsonValue bookmark(rapidjson::kObjectType);
  for (const char* field : {"apiVersion", "kind"}) {
    auto it = object.FindMember(field);
    if (it != object.MemberEnd() && it->value.IsString()) {
      bookmark.AddMember(JsonValue(rapidjson::StringRef(field)), it->value, allocator);
    }
  }
  bookmark.AddMember("metadata", metadata, allocator);
  return Object::FromJsonValue(bookmark, allocator, resource.gvr.ApiVersion(), resource.kind);
}

}  // namespace

WatchDecoder::WatchDecoder(const ObjectDecoder* decoder) : decoder_(decoder) {}

absl::Status WatchDecoder::Feed(absl::string_view chunk, std::deque<WatchEvent>* out) {
  if (!error_.ok()) return error_;
  buffer_.append(chunk.data(), chunk.size());
  const size_t size = buffer_.size();
  for (size_t pos = scan_pos_; pos < size; ++pos) {
    const char c = buffer_[pos];
    if (depth_ == 0) {
      if (IsJsonWhitespace(c)) {
        frame_start_ = pos + 1;
        continue;
      }
      if (c != '{') {
        error_ = absl::InvalidArgumentError(
            absl::StrFormat("malformed watch stream: expected '{' to start an event, found "
                            "byte 0x%02x",
                            static_cast<unsigned char>(c)));
        return error_;
      }
      frame_start_ = pos;
      depth_ = 1;
      continue;
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
      } else if (c == '\\') {
        escaped_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string_ = true;
        break;
      case '{':
      case '[':
        ++depth_;
        break;
      case '}':
      case ']':
        if (--depth_ == 0) {
          if (absl::Status s = DecodeFrame(pos + 1, out); !s.ok()) {
            error_ = s;
            return error_;
          }
          frame_start_ = pos + 1;
        }
        break;
      default:
        break;
    }
  }
  // Drop what was decoded (or skipped) once per chunk, so a chunk of many events costs one move.
  buffer_.erase(0, frame_start_);
  scan_pos_ = buffer_.size();
  frame_start_ = 0;
  return absl::OkStatus();
}

absl::Status WatchDecoder::DecodeFrame(size_t end, std::deque<WatchEvent>* out) {
  const size_t length = end - frame_start_;
  rapidjson::Document document;
  // In situ: strings are unescaped in the buffer itself (within this frame), and the parse
  // stops at the end of the frame's object, so the rest of the buffer is untouched.
  document.ParseInsitu<rapidjson::kParseStopWhenDoneFlag | rapidjson::kParseFullPrecisionFlag>(
      &buffer_[frame_start_]);
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "malformed watch event (%d bytes) at offset %d: %s", length, document.GetErrorOffset(),
        rapidjson::GetParseError_En(document.GetParseError())));
  }
  if (!document.IsObject()) return absl::InvalidArgumentError("watch event is not an object");
  auto type = document.FindMember("type");
  auto object = document.FindMember("object");
  if (type == document.MemberEnd() || !type->value.IsString()) {
    return absl::InvalidArgumentError("watch event has no \"type\"");
  }
  if (object == document.MemberEnd()) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event ", StringOf(type->value), " has no \"object\""));
  }
  const absl::string_view type_name = StringOf(type->value);
  WatchEvent event;
  if (type_name == "ERROR") {
    event.type = WatchEventType::kError;
    event.error = ApiStatusFromJson(object->value, kUnknownErrorCode);
    out->push_back(std::move(event));
    return absl::OkStatus();
  }
  if (type_name == "BOOKMARK") {
    event.type = WatchEventType::kBookmark;
    absl::StatusOr<ObjectPtr> bookmark =
        DecodeBookmark(object->value, document.GetAllocator(), decoder_->resource());
    if (!bookmark.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("malformed BOOKMARK event: ", bookmark.status().message()));
    }
    event.object = *std::move(bookmark);
    out->push_back(std::move(event));
    return absl::OkStatus();
  }
  if (type_name == "ADDED") {
    event.type = WatchEventType::kAdded;
  } else if (type_name == "MODIFIED") {
    event.type = WatchEventType::kModified;
  } else if (type_name == "DELETED") {
    event.type = WatchEventType::kDeleted;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown watch event type \"", type_name, "\""));
  }
  absl::StatusOr<ObjectPtr> decoded = decoder_->Decode(object->value, document.GetAllocator());
  if (!decoded.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch event ", type_name, ": ", decoded.status().message()));
  }
  event.object = *std::move(decoded);
  out->push_back(std::move(event));
  return absl::OkStatus();
}

absl::Status WatchDecoder::Finish() const {
  if (!error_.ok()) return error_;
  if (depth_ != 0) {
    return absl::DataLossError(absl::StrFormat(
        "watch stream ended inside an event (%d bytes of it received)", buffered_bytes()));
  }
  return absl::OkStatus();
}

}  // namespace k8s
}  // namespace informer
