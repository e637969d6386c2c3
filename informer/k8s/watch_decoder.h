// Incremental decoding of a WATCH response body into WatchEvents.
#ifndef INFORMER_K8S_WATCH_DECODER_H_
#define INFORMER_K8S_WATCH_DECODER_H_

#include <cstddef>
#include <deque>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "informer/lister_watcher.h"
#include "informer/object_decoder.h"

namespace informer {
namespace k8s {

// A push parser for the API server's watch stream: a sequence of JSON objects
// `{"type":"ADDED","object":{...}}`, each normally followed by a newline. Bytes arrive in chunks
// of any size; an event may be split across chunks and one chunk may hold several events.
// Framing does not rely on the newlines: a frame ends where its top-level object closes, so
// pretty-printed or newline-free streams decode too.
//
// ADDED/MODIFIED/DELETED objects go through the ObjectDecoder; BOOKMARK objects become
// objects with only type meta, resourceVersion and annotations; ERROR events become
// WatchEvent{kError, ApiStatus}.
//
// Thread-safety: not thread-safe; one stream, one reader.
class WatchDecoder {
 public:
  // `decoder` must outlive this object. An event (frame) longer than `max_frame_bytes` fails
  // the stream (0 = no cap; HttpOptions::max_watch_frame_bytes).
  explicit WatchDecoder(const ObjectDecoder* decoder, size_t max_frame_bytes = 0);

  // Consumes `chunk` and appends every event it completes to `out`. InvalidArgument when the
  // stream is malformed (bad JSON, nesting deeper than kMaxJsonDepth, invalid UTF-8 in a
  // string, a frame that is not an object, an unknown event type, an object the ObjectDecoder
  // rejects) or an event is longer than the frame cap (the message names the cap and the flag);
  // after an error every call fails with that error. The buffer never holds more than the cap
  // plus one chunk.
  absl::Status Feed(absl::string_view chunk, std::deque<WatchEvent>* out);

  // OK when the stream ended on a frame boundary; DataLoss when it ended inside an event
  // (the connection broke mid-object).
  absl::Status Finish() const;

  // Bytes buffered for an incomplete event.
  size_t buffered_bytes() const { return buffer_.size() - frame_start_; }

 private:
  // Decodes the frame buffer_[frame_start_, end) into `out`.
  absl::Status DecodeFrame(size_t end, std::deque<WatchEvent>* out);

  // Decodes the whole frame `frame` into `out` by the fast path
  // (ObjectDecoder::DecodeCompactEvent); false when that path does not take it.
  bool TryDecodeCompact(absl::string_view frame, std::deque<WatchEvent>* out);

  // InvalidArgument for a frame of `length` bytes (`complete` or still arriving) over the cap.
  absl::Status FrameTooLarge(size_t length, bool complete) const;

  const ObjectDecoder* decoder_;
  const size_t max_frame_bytes_;
  std::string buffer_;
  size_t frame_start_ = 0;  // where the current (incomplete) frame starts in buffer_
  size_t scan_pos_ = 0;     // next byte of buffer_ to scan
  int depth_ = 0;           // brace/bracket depth inside the current frame
  bool in_string_ = false;
  bool escaped_ = false;
  bool compact_tried_ = false;  // the fast path already refused the current frame
  absl::Status error_;
};

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_WATCH_DECODER_H_
