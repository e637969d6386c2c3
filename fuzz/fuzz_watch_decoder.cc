// The watch decoder fed the same bytes whole and in random chunks: it must not crash, and the
// chunking must not change what it decodes (framing is by JSON structure, not by chunk).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "informer/k8s/watch_decoder.h"

namespace {

using informer::ObjectDecoder;
using informer::ResourceInfo;
using informer::WatchEvent;
using informer::WatchEventType;
using informer::k8s::WatchDecoder;

const ObjectDecoder& Decoder() {
  static const ObjectDecoder* decoder = [] {
    ResourceInfo info;
    info.gvr = {"", "v1", "configmaps"};
    info.kind = "ConfigMap";
    return new ObjectDecoder(info, informer::DefaultTransforms());
  }();
  return *decoder;
}

std::string Describe(const WatchEvent& event) {
  if (event.type == WatchEventType::kError) {
    return absl::StrCat("ERROR ", event.error.code, " ", event.error.reason);
  }
  return absl::StrCat(static_cast<int>(event.type), " ", event.object->key(), " ",
                      event.object->json());
}

// What decoding `chunks` produces: one line per event, then "ok" or "error" (codes only: the
// frame cap's message says whether the frame was complete, which depends on chunking).
std::vector<std::string> Decode(const std::vector<std::string>& chunks, size_t max_frame) {
  WatchDecoder decoder(&Decoder(), max_frame);
  std::deque<WatchEvent> events;
  std::vector<std::string> out;
  bool failed = false;
  for (const std::string& chunk : chunks) {
    if (!decoder.Feed(chunk, &events).ok()) {
      failed = true;
      break;
    }
  }
  for (const WatchEvent& event : events) out.push_back(Describe(event));
  out.push_back(failed ? "error" : decoder.Finish().ok() ? "ok" : "incomplete");
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider provider(data, size);
  const uint64_t seed = provider.ConsumeIntegral<uint64_t>();
  const std::string stream = provider.ConsumeRemainingBytesAsString();
  // Chunk sizes from the seed (a cheap LCG), 1..64 bytes each.
  std::vector<std::string> chunks;
  uint64_t state = seed | 1;
  for (size_t pos = 0; pos < stream.size();) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    const size_t length = std::min<size_t>(1 + (state >> 58), stream.size() - pos);
    chunks.push_back(stream.substr(pos, length));
    pos += length;
  }
  const std::vector<std::string> whole = Decode({stream}, 0);
  const std::vector<std::string> chunked = Decode(chunks, 0);
  if (whole != chunked) {
    std::fprintf(stderr, "chunking changed the decoded events: %zu vs %zu lines; last %s vs %s\n",
                 whole.size(), chunked.size(), whole.back().c_str(), chunked.back().c_str());
    std::abort();
  }
  // And under a small frame cap (its own paths: incomplete and complete frames over it).
  Decode(chunks, 256);
  return 0;
}
