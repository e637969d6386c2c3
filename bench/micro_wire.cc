// Micro-benchmark: encoding one Subscribe response (server/wire.h), what every stream does per
// event it sends. Arg: distinct objects cycled through: 1 is a change fanned out to many streams
// (the same object again and again), 100 000 a Subscribe start sending the whole cache.
#include <cstdint>
#include <vector>

#include "bench/micro_data.h"
#include "benchmark/benchmark.h"
#include "server/wire.h"

namespace bench {
namespace {

void BM_EncodeSubscribeResponse(benchmark::State& state) {
  const size_t distinct = static_cast<size_t>(state.range(0));
  static const auto* pods = new std::vector<informer::ObjectPtr>(MakePods(100000, 0));
  informer::server::SubscriptionEvent event;
  event.type = informer::server::SubscriptionEventType::kAdded;
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    event.object = (*pods)[i++ % distinct];
    event.resource_version = event.object->meta().resource_version;
    grpc::ByteBuffer response = informer::server::EncodeSubscribeResponse(event);
    bytes += static_cast<int64_t>(response.Length());
    benchmark::DoNotOptimize(response);
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeSubscribeResponse)->Arg(1)->Arg(100000);

}  // namespace
}  // namespace bench
