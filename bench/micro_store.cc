// Micro-benchmarks: the indexed Store, as the informer updates and readers query it.
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "bench/micro_data.h"
#include "benchmark/benchmark.h"
#include "informer/store.h"

namespace bench {
namespace {

// The indexes every benchmark side uses: namespace, the "app" label, spec.nodeName.
informer::Indexers BenchIndexers() {
  informer::Indexers indexers;
  indexers[informer::kNamespaceIndex] = informer::MetaNamespaceIndexFunc;
  indexers["by-app"] = informer::LabelIndexFunc("app");
  indexers["by-node"] = informer::FieldPathIndexFunc("spec.nodeName");
  return indexers;
}

void StoreUpdateIndexed(benchmark::State& state, Extraction extraction) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<informer::ObjectPtr> generations[2] = {MakePods(n, 0, extraction),
                                                     MakePods(n, 1, extraction)};
  informer::Store store(BenchIndexers());
  store.Replace(generations[0]);
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i % n;
    store.Update(generations[(i / n + 1) % 2][k]);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

// Update of an existing key whose "app" label changes, so the by-app index moves the key
// between values; Pods decoded as the informer decodes them (spec.nodeName extracted). Arg:
// objects in the store.
void BM_StoreUpdateIndexed(benchmark::State& state) {
  StoreUpdateIndexed(state, Extraction::kAsInformer);
}
BENCHMARK(BM_StoreUpdateIndexed)->Arg(1000)->Arg(100000);

// The same with nothing extracted: the by-node index parses the old and the new object's JSON.
void BM_StoreUpdateIndexedFromJson(benchmark::State& state) {
  StoreUpdateIndexed(state, Extraction::kNone);
}
BENCHMARK(BM_StoreUpdateIndexedFromJson)->Arg(1000);

// Delete then Add of one key: index entries removed and re-created.
void BM_StoreDeleteAdd(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<informer::ObjectPtr> objects = MakePods(n, 0);
  informer::Store store(BenchIndexers());
  store.Replace(objects);
  size_t i = 0;
  for (auto _ : state) {
    const informer::ObjectPtr& object = objects[i++ % n];
    store.Delete(object->key());
    store.Add(object);
  }
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_StoreDeleteAdd)->Arg(100000);

// GetByKey, what a Get RPC does. Arg: objects in the store.
void BM_StoreGetByKey(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<informer::ObjectPtr> objects = MakePods(n, 0);
  informer::Store store(BenchIndexers());
  store.Replace(objects);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.GetByKey(objects[i++ % n]->key()));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StoreGetByKey)->Arg(100000);

// ByIndex on spec.nodeName (100 nodes, so about n/100 objects per call).
void BM_StoreByIndexNode(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<informer::ObjectPtr> objects = MakePods(n, 0);
  informer::Store store(BenchIndexers());
  store.Replace(objects);
  absl::StatusOr<std::vector<std::string>> nodes = store.ListIndexFuncValues("by-node");
  if (!nodes.ok() || nodes->empty()) {
    state.SkipWithError("no by-node values");
    return;
  }
  size_t i = 0;
  int64_t returned = 0;
  for (auto _ : state) {
    auto result = store.ByIndex("by-node", (*nodes)[i++ % nodes->size()]);
    returned += result.ok() ? static_cast<int64_t>(result->size()) : 0;
  }
  state.counters["objects_per_call"] =
      benchmark::Counter(static_cast<double>(returned), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_StoreByIndexNode)->Arg(10000);

// Replace of the whole store: what a relist costs.
void BM_StoreReplace(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  std::vector<informer::ObjectPtr> objects = MakePods(n, 0);
  informer::Store store(BenchIndexers());
  for (auto _ : state) store.Replace(objects);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n));
}
BENCHMARK(BM_StoreReplace)->Arg(10000)->Unit(benchmark::kMillisecond);

// What extraction costs in memory: 10 000 Pods decoded as the pods informer decodes them (Arg 0)
// or with nothing extracted (Arg 1); Arg 2 as the informer with their JSON kept compressed.
// Counters: Object::ApproximateBytes and RSS growth per Pod (RSS after freeing what malloc holds
// spare, so the two runs compare; noisy by a few %).
void BM_PodsMemory(benchmark::State& state) {
  const Extraction extraction = state.range(0) == 0   ? Extraction::kAsInformer
                                : state.range(0) == 1 ? Extraction::kNone
                                                      : Extraction::kAsInformerCompressed;
  constexpr size_t kPods = 10000;
  double approximate = 0;
  double rss = 0;
  for (auto _ : state) {
    ReleaseFreeMemory();
    const int64_t before = RssBytes();
    std::vector<informer::ObjectPtr> pods = MakePods(kPods, 0, extraction);
    ReleaseFreeMemory();
    rss = static_cast<double>(RssBytes() - before) / kPods;
    size_t bytes = 0;
    for (const informer::ObjectPtr& pod : pods) bytes += pod->ApproximateBytes();
    approximate = static_cast<double>(bytes) / kPods;
  }
  state.counters["approx_bytes_per_pod"] = approximate;
  state.counters["rss_bytes_per_pod"] = rss;
}
BENCHMARK(BM_PodsMemory)->Arg(0)->Arg(1)->Arg(2)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace bench
