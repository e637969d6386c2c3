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

// One watch event line. Arg: 1 = informerd's default transforms (strip managedFields), 0 = none,
// 2 = strip and extract spec.nodeName (as a field index on it makes the server do), 3 = strip and
// extract as the pods informer does (spec.nodeName and the API server's field-selector paths for
// Pods: nine paths once repeats are dropped).
void BM_WatchEventDecode(benchmark::State& state) {
  std::vector<informer::Transform> transforms;
  if (state.range(0) != 0) transforms = informer::DefaultTransforms();
  std::vector<std::string> extracted;
  if (state.range(0) == 2) extracted.push_back("spec.nodeName");
  if (state.range(0) >= 3) extracted = InformerExtractedPodPaths();
  // Arg 4: as the pods informer does by default, the JSON kept compressed (the dictionary is
  // trained on the first 256 events, then every event is compressed).
  informer::JsonCompressionOptions compression;
  informer::ObjectDecoder decoder(PodsResource(), transforms, extracted,
                                  state.range(0) == 4 ? &compression : nullptr);
  DecodeWatchLines(state, decoder);
  state.SetLabel(state.range(0) == 4 ? "strip managedFields, extract, compress as the pods informer"
                 : state.range(0) == 3 ? "strip managedFields, extract as the pods informer"
                 : state.range(0) == 2 ? "strip managedFields, extract spec.nodeName"
                 : state.range(0) == 1 ? "strip managedFields"
                                       : "no transform");
}
BENCHMARK(BM_WatchEventDecode)->Arg(1)->Arg(0)->Arg(2)->Arg(3)->Arg(4);

// What a read of a compressed Pod costs: Object::SharedJson's decompression (nothing shared:
// each call decompresses), over the sample Pods.
void BM_DecompressPodJson(benchmark::State& state) {
  std::vector<informer::ObjectPtr> pods = MakePods(1000, 0, Extraction::kAsInformerCompressed);
  size_t i = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    const informer::ObjectPtr& pod = pods[i++ % pods.size()];
    if (!pod->json_compressed()) {
      state.SkipWithError("a Pod was not kept compressed");
      break;
    }
    std::shared_ptr<const std::string> json = informer::Object::SharedJson(pod);
    bytes += json->size();
    benchmark::DoNotOptimize(json->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_DecompressPodJson);

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
