// The request side of Subscribe: what a SubscribeRequest carries (selectors, resourceVersion,
// known_objects) turned into a Subscription over a synced informer, as the service does, then
// a bounded number of Next calls. Fields come from the bytes with FuzzedDataProvider rather
// than a serialized proto: protobuf's parser is not ours, and the fuzz build then needs no
// protobuf or gRPC.
#include <fuzzer/FuzzedDataProvider.h>

#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "informer/selector.h"
#include "informer/shared_informer.h"
#include "informer/testing/fake_lister_watcher.h"
#include "server/subscription.h"

namespace {

using informer::SharedIndexInformer;
using informer::server::Subscription;
using informer::server::SubscriptionEvent;
using informer::server::SubscriptionRequest;

struct State {
  std::shared_ptr<informer::testing::FakeListerWatcher> fake;
  std::shared_ptr<SharedIndexInformer> informer;
};

State& Shared() {
  static State* state = [] {
    auto* s = new State();
    s->fake = std::make_shared<informer::testing::FakeListerWatcher>();
    for (int i = 0; i < 8; ++i) {
      const std::string n = std::to_string(i);
      s->fake->Add(*informer::Object::FromJson(
          "{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"p" + n +
          "\",\"namespace\":\"ns" + std::to_string(i % 2) + "\",\"labels\":{\"app\":\"a" +
          std::to_string(i % 3) + "\"}},\"spec\":{\"nodeName\":\"node" + n + "\"}}"));
    }
    informer::InformerOptions options;
    options.resource.gvr = {"", "v1", "pods"};
    options.resource.kind = "Pod";
    s->informer = std::make_shared<SharedIndexInformer>(s->fake, options);
    (void)s->informer->Run();
    s->informer->WaitForSync(absl::Now() + absl::Seconds(30));
    // Some history to resume into.
    s->fake->Delete("ns0/p0");
    s->fake->Update(*informer::Object::FromJson(
        R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1","namespace":"ns1"}})"));
    (void)s->informer->WaitForResourceVersion(std::to_string(s->fake->revision()),
                                              absl::Now() + absl::Seconds(30));
    return s;
  }();
  return *state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  State& state = Shared();
  FuzzedDataProvider provider(data, size);
  SubscriptionRequest request;
  request.filter.namespace_name = provider.ConsumeRandomLengthString(16);
  absl::StatusOr<informer::LabelSelector> labels =
      informer::LabelSelector::Parse(provider.ConsumeRandomLengthString(128));
  absl::StatusOr<informer::FieldSelector> fields =
      informer::FieldSelector::Parse(provider.ConsumeRandomLengthString(128));
  if (!labels.ok() || !fields.ok()) return 0;  // the service answers INVALID_ARGUMENT
  request.filter.labels = *std::move(labels);
  request.filter.fields = *std::move(fields);
  request.resource_version = provider.ConsumeRandomLengthString(24);
  for (int i = provider.ConsumeIntegralInRange(0, 8); i > 0; --i) {
    std::string key = provider.ConsumeRandomLengthString(24);
    request.known_objects[key] = provider.ConsumeRandomLengthString(24);
  }
  request.include_old_object = provider.ConsumeBool();
  informer::server::SubscriberLimits limits;
  limits.soft_limit = provider.ConsumeIntegralInRange<size_t>(1, 8);
  limits.hard_limit = limits.soft_limit + provider.ConsumeIntegralInRange<size_t>(0, 16);
  const absl::Time now = absl::Now();
  absl::StatusOr<std::unique_ptr<Subscription>> subscription =
      Subscription::Create(state.informer, std::move(request), limits, now);
  if (!subscription.ok()) return 0;
  SubscriptionEvent event;
  for (int i = 0; i < 64; ++i) {
    absl::StatusOr<bool> next = (*subscription)->Next(now + absl::Seconds(i), &event);
    if (!next.ok() || !*next) break;
  }
  (void)(*subscription)->Lag();
  return 0;
}
