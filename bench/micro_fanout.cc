// Micro-benchmarks: fan-out of the informer's changes to many readers through the EventHistory
// ring, the path every Subscribe stream reads from.
#include <atomic>
#include <cstdint>
#include <vector>

#include "bench/micro_data.h"
#include "benchmark/benchmark.h"
#include "informer/history.h"

namespace bench {
namespace {

// One Append (which wakes every listener), then every reader reads what is new after its
// cursor, as each subscription does when woken. Arg: readers. Items = events delivered.
void BM_HistoryFanOut(benchmark::State& state) {
  const size_t readers = static_cast<size_t>(state.range(0));
  std::vector<informer::ObjectPtr> objects = MakePods(64, 0);
  informer::EventHistory history;
  std::atomic<int64_t> wakeups{0};
  std::vector<informer::EventHistory::ListenerId> listeners;
  for (size_t r = 0; r < readers; ++r) {
    listeners.push_back(history.AddListener([&wakeups] { wakeups.fetch_add(1); }));
  }
  std::vector<uint64_t> cursors(readers, 0);
  std::vector<informer::HistoryEvent> out;
  size_t i = 0;
  for (auto _ : state) {
    informer::HistoryEvent event;
    event.type = informer::EventType::kModified;
    event.object = objects[i % objects.size()];
    event.old_object = objects[(i + 1) % objects.size()];
    event.resource_version = event.object->meta().resource_version;
    history.Append(std::move(event));
    ++i;
    for (size_t r = 0; r < readers; ++r) {
      out.clear();
      if (!history.ReadAfter(cursors[r], 64, &out).ok()) {
        state.SkipWithError("reader fell out of the ring");
        return;
      }
      if (!out.empty()) cursors[r] = out.back().seq;
    }
  }
  for (auto id : listeners) history.RemoveListener(id);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(readers));
  state.counters["wakeups"] =
      benchmark::Counter(static_cast<double>(wakeups.load()), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_HistoryFanOut)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

// As BM_HistoryFanOut, but reader i selects only object i by name (a controller watching its
// own object, Subscribe with metadata.name=...): an append wakes only that object's reader, which
// skips the other names' changes since its last read without copying them. Arg: readers (one
// object each). Items = appends; each delivers one event.
void BM_HistoryNamedFanOut(benchmark::State& state) {
  const size_t readers = static_cast<size_t>(state.range(0));
  std::vector<informer::ObjectPtr> objects = MakePods(readers, 0);
  informer::HistoryOptions options;
  options.max_events = 2 * readers + 16;  // every reader's unread changes stay in the ring
  options.max_bytes = size_t{1} << 40;
  options.cache_fraction = 0;
  informer::EventHistory history(options);
  std::vector<size_t> woken;
  std::vector<informer::EventHistory::ListenerId> listeners;
  for (size_t r = 0; r < readers; ++r) {
    listeners.push_back(
        history.AddListener([&woken, r] { woken.push_back(r); }, objects[r]->meta().name));
  }
  std::vector<uint64_t> cursors(readers, 0);
  std::vector<informer::HistoryEvent> out;
  int64_t delivered = 0;
  size_t i = 0;
  for (auto _ : state) {
    informer::HistoryEvent event;
    event.type = informer::EventType::kModified;
    event.object = objects[i % readers];
    event.old_object = event.object;
    event.resource_version = event.object->meta().resource_version;
    history.Append(std::move(event));
    ++i;
    for (size_t r : woken) {
      out.clear();
      absl::StatusOr<informer::EventHistory::NamedRead> read =
          history.ReadNamedAfter(cursors[r], options.max_events, objects[r]->meta().name, &out);
      if (!read.ok()) {
        state.SkipWithError("reader fell out of the ring");
        return;
      }
      cursors[r] = read->through_seq;
      delivered += static_cast<int64_t>(out.size());
    }
    woken.clear();
  }
  for (auto id : listeners) history.RemoveListener(id);
  state.SetItemsProcessed(state.iterations());
  state.counters["delivered"] =
      benchmark::Counter(static_cast<double>(delivered), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_HistoryNamedFanOut)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

// Append alone into a full ring (eviction on every call): the informer's cost per change.
void BM_HistoryAppendFull(benchmark::State& state) {
  std::vector<informer::ObjectPtr> objects = MakePods(64, 0);
  informer::HistoryOptions options;
  options.max_events = 1000;
  informer::EventHistory history(options);
  size_t i = 0;
  for (auto _ : state) {
    informer::HistoryEvent event;
    event.type = informer::EventType::kModified;
    event.object = objects[i++ % objects.size()];
    event.resource_version = event.object->meta().resource_version;
    history.Append(std::move(event));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistoryAppendFull);

}  // namespace
}  // namespace bench
