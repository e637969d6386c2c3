// Micro-benchmarks: decoding watch events and objects, the first step of every ingest.
#include <deque>
#include <string>
#include <vector>

#include "bench/micro_data.h"
#include "benchmark/benchmark.h"
#include "informer/k8s/watch_decoder.h"
#include "informer/object.h"
#include "informer/object_decoder.h"
#include "informer/transform.h"

namespace bench {
namespace {

// Watch event lines, one per iteration, through the streaming WatchDecoder and `decoder`, as the
// REST ListerWatcher does it.
void DecodeWatchLines(benchmark::State& state, const informer::ObjectDecoder& decoder) {
  informer::k8s::WatchDecoder watch(&decoder);
  const std::vector<std::string>& lines = WatchLines();
  std::deque<informer::WatchEvent> events;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const std::string& line = lines[i++ % lines.size()];
    absl::Status status = watch.Feed(line, &events);
    if (!status.ok()) {
      state.SkipWithError(status.ToString().c_str());
      break;
    }
    bytes += static_cast<int64_t>(line.size());
    events.clear();
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
}

// One watch event line, nothing extracted. Arg: 1 = informerd's default transforms (strip
// managedFields), 0 = none.
void BM_WatchEventDecode(benchmark::State& state) {
  std::vector<informer::Transform> transforms;
  if (state.range(0) == 1) transforms = informer::DefaultTransforms();
  informer::ObjectDecoder decoder(PodsResource(), transforms);
  DecodeWatchLines(state, decoder);
  state.SetLabel(state.range(0) == 1 ? "strip managedFields" : "no transform");
}
BENCHMARK(BM_WatchEventDecode)->Arg(1)->Arg(0);

// BM_WatchEventDecode/1 decoding as the pods informer does: default transforms, and the values
// of spec.nodeName (a field index) and of the pods' field-selector paths extracted.
void BM_WatchEventDecodeExtracting(benchmark::State& state) {
  informer::ObjectDecoder decoder(PodsResource(), informer::DefaultTransforms(),
                                  InformerExtractedPodPaths());
  DecodeWatchLines(state, decoder);
  state.SetLabel("strip managedFields, extract");
}
BENCHMARK(BM_WatchEventDecodeExtracting);

// The same event delivered in 4 KiB chunks, as a socket read hands it over.
void BM_WatchEventDecodeChunked(benchmark::State& state) {
  informer::ObjectDecoder decoder(PodsResource(), informer::DefaultTransforms());
  informer::k8s::WatchDecoder watch(&decoder);
  const std::vector<std::string>& lines = WatchLines();
  std::deque<informer::WatchEvent> events;
  size_t i = 0;
  for (auto _ : state) {
    absl::string_view line = lines[i++ % lines.size()];
    while (!line.empty()) {
      absl::string_view chunk = line.substr(0, 4096);
      line.remove_prefix(chunk.size());
      if (!watch.Feed(chunk, &events).ok()) state.SkipWithError("feed failed");
    }
    events.clear();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WatchEventDecodeChunked);

// A bare Pod (a LIST item) through Object::FromJson: parse, type meta, metadata, freeze.
void BM_ObjectFromJson(benchmark::State& state) {
  const std::vector<std::string>& pods = PodJsons();
  size_t i = 0;
  for (auto _ : state) {
    auto object = informer::Object::FromJson(pods[i++ % pods.size()], "v1", "Pod");
    benchmark::DoNotOptimize(object);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ObjectFromJson);

}  // namespace
}  // namespace bench
