#include "informer/k8s/watch_decoder.h"

#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "informer/json.h"
#include "informer/k8s/status_body.h"

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

WatchDecoder::WatchDecoder(const ObjectDecoder* decoder, size_t max_frame_bytes)
    : decoder_(decoder), max_frame_bytes_(max_frame_bytes) {}

absl::Status WatchDecoder::FrameTooLarge(size_t length, bool complete) const {
  return absl::InvalidArgumentError(absl::StrFormat(
      "watch event larger than the cap of %d bytes (informerd's --max_watch_frame_bytes): %s%d "
      "bytes; the watch is abandoned",
      max_frame_bytes_, complete ? "" : "still incomplete after ", length));
}

absl::Status WatchDecoder::Feed(absl::string_view chunk, std::deque<WatchEvent>* out) {
  if (!error_.ok()) return error_;
  if (buffer_.empty()) {
    // Whole events at the front of the chunk take the fast path straight from it, without
    // being copied into buffer_ first.
    size_t consumed = 0;
    while (true) {
      size_t start = consumed;
      while (start < chunk.size() && IsJsonWhitespace(chunk[start])) ++start;
      if (start == chunk.size()) {
        consumed = start;
        break;
      }
      if (chunk[start] != '{') break;
      const size_t end = chunk.find('\n', start);
      if (end == absl::string_view::npos) break;
      if (max_frame_bytes_ != 0 && end - start > max_frame_bytes_) break;
      if (!TryDecodeCompact(chunk.substr(start, end - start), out)) break;
      consumed = end;
    }
    chunk.remove_prefix(consumed);
  }
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
      // The API server ends each event with a newline and writes none inside one (strings
      // escape it): a whole event up to the next newline takes the fast path without the
      // framing scan below, which then runs only for what the fast path leaves.
      const char* newline =
          static_cast<const char*>(std::memchr(buffer_.data() + pos, '\n', size - pos));
      compact_tried_ = false;
      if (newline != nullptr) {
        const size_t end = static_cast<size_t>(newline - buffer_.data());
        if (max_frame_bytes_ == 0 || end - pos <= max_frame_bytes_) {
          compact_tried_ = true;
          if (TryDecodeCompact(absl::string_view(buffer_).substr(pos, end - pos), out)) {
            frame_start_ = end;
            pos = end - 1;  // the loop goes on at the newline
            continue;
          }
        }
      }
      frame_start_ = pos;
      depth_ = 1;
      continue;
    }
    if (in_string_) {
      if (escaped_) {
        escaped_ = false;
        continue;
      }
      // Inside a string only a quote or a backslash matters: jump to the next one (memchr
      // scans words at a time; strings are most of an object's bytes).
      const char* here = buffer_.data() + pos;
      const char* end = buffer_.data() + size;
      const char* quote = static_cast<const char*>(std::memchr(here, '"', end - here));
      const char* backslash = static_cast<const char*>(
          std::memchr(here, '\\', (quote != nullptr ? quote : end) - here));
      const char* next = backslash != nullptr ? backslash : quote;
      if (next == nullptr) {
        pos = size - 1;  // the rest of the buffer is inside the string
        continue;
      }
      pos = static_cast<size_t>(next - buffer_.data());
      if (*next == '\\') {
        escaped_ = true;
      } else {
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
  // An incomplete event already past the cap will not fit: fail now rather than buffer more.
  if (depth_ > 0 && max_frame_bytes_ != 0 && size - frame_start_ > max_frame_bytes_) {
    error_ = FrameTooLarge(size - frame_start_, /*complete=*/false);
    buffer_.clear();
    buffer_.shrink_to_fit();
    frame_start_ = scan_pos_ = 0;
    return error_;
  }
  // Drop what was decoded (or skipped) once per chunk, so a chunk of many events costs one move.
  buffer_.erase(0, frame_start_);
  scan_pos_ = buffer_.size();
  frame_start_ = 0;
  return absl::OkStatus();
}

bool WatchDecoder::TryDecodeCompact(absl::string_view frame, std::deque<WatchEvent>* out) {
  CompactEventType type;
  ObjectPtr object;
  if (!decoder_->DecodeCompactEvent(frame, &type, &object)) return false;
  WatchEvent event;
  event.type = type == CompactEventType::kAdded      ? WatchEventType::kAdded
               : type == CompactEventType::kModified ? WatchEventType::kModified
                                                     : WatchEventType::kDeleted;
  event.object = std::move(object);
  out->push_back(std::move(event));
  return true;
}

absl::Status WatchDecoder::DecodeFrame(size_t end, std::deque<WatchEvent>* out) {
  const size_t length = end - frame_start_;
  if (max_frame_bytes_ != 0 && length > max_frame_bytes_) {
    return FrameTooLarge(length, /*complete=*/true);
  }
  // Feed already tried the fast path on this frame when it ended in a newline.
  if (!compact_tried_ &&
      TryDecodeCompact(absl::string_view(buffer_).substr(frame_start_, length), out))
    return absl::OkStatus();
  rapidjson::Document document;
  // In situ: strings are unescaped in the buffer itself (within this frame), and the parse
  // stops at the end of the frame's object, so the rest of the buffer is untouched.
  if (absl::Status s = ParseJsonInsitu(&buffer_[frame_start_], &document,
                                       /*stop_when_done=*/true);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("malformed watch event (%d bytes): %s", length, s.message()));
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
  if (!decoded.ok() && IsTransformError(decoded.status())) {
    // One event lost to a transform; the stream goes on (I15).
    event.dropped = absl::InvalidArgumentError(
        absl::StrCat("watch event ", type_name, ": ", decoded.status().message()));
    event.dropped_resource_version = ResourceVersionOfJson(object->value);
    out->push_back(std::move(event));
    return absl::OkStatus();
  }
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
