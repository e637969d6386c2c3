// Micro-benchmarks: encoding responses (server/wire.h). A Subscribe response is what every
// stream does per event it sends. Arg: distinct objects cycled through: 1 is a change fanned out
// to many streams (the same object again and again), 100 000 a Subscribe start sending the
// whole cache. Get and List (a page of 500 Pods, the default limit) side by side with what the
// generated message API costs: ToProto into the message, then gRPC's serialisation of it.
#include <cstdint>
#include <vector>

#include "bench/micro_data.h"
#include "benchmark/benchmark.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "informer/v1/informer.pb.h"
#include "server/convert.h"
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

const std::vector<informer::ObjectPtr>& Pods() {
  static const auto* pods = new std::vector<informer::ObjectPtr>(MakePods(10000, 0));
  return *pods;
}

// A message serialised as gRPC does for a generated (non-raw) method.
template <typename Message>
grpc::ByteBuffer SerializeAsGrpc(const Message& message) {
  grpc::ByteBuffer buffer;
  bool own_buffer = false;
  if (!grpc::SerializationTraits<Message>::Serialize(message, &buffer, &own_buffer).ok()) abort();
  return buffer;
}

void BM_EncodeGetResponse(benchmark::State& state) {
  const bool raw = state.range(0) == 1;
  const std::vector<informer::ObjectPtr>& pods = Pods();  // generated before the timing starts
  size_t i = 0;
  int64_t bytes = 0;
  for (auto _ : state) {
    const informer::ObjectPtr& pod = pods[i++ % pods.size()];
    grpc::ByteBuffer response;
    if (raw) {
      response = informer::server::EncodeGetResponse(pod);
    } else {
      informer::v1::GetResponse message;
      informer::server::ToProto(*pod, message.mutable_object());
      response = SerializeAsGrpc(message);
    }
    bytes += static_cast<int64_t>(response.Length());
    benchmark::DoNotOptimize(response);
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(raw ? "raw (wire.h)" : "message");
}
BENCHMARK(BM_EncodeGetResponse)->Arg(0)->Arg(1);

void BM_EncodeListResponse(benchmark::State& state) {
  const bool raw = state.range(0) == 1;
  constexpr size_t kPage = 500;
  const std::vector<informer::ObjectPtr>& pods = Pods();  // generated before the timing starts
  size_t first = 0;
  int64_t bytes = 0;
  std::vector<informer::ObjectPtr> page(kPage);
  for (auto _ : state) {
    for (size_t i = 0; i < kPage; ++i) page[i] = pods[(first + i) % pods.size()];
    first += kPage;
    grpc::ByteBuffer response;
    if (raw) {
      response = informer::server::EncodeListResponse(page, "12345", "token", 10000);
    } else {
      informer::v1::ListResponse message;
      for (const informer::ObjectPtr& pod : page) {
        informer::server::ToProto(*pod, message.add_objects());
      }
      message.set_resource_version("12345");
      message.set_next_page_token("token");
      message.set_total_count(10000);
      response = SerializeAsGrpc(message);
    }
    bytes += static_cast<int64_t>(response.Length());
    benchmark::DoNotOptimize(response);
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations() * kPage);
  state.SetLabel(raw ? "raw (wire.h)" : "message");
}
BENCHMARK(BM_EncodeListResponse)->Arg(0)->Arg(1);

}  // namespace
}  // namespace bench
