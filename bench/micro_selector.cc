// Micro-benchmarks: label and field selectors, evaluated per object by List and per change and
// subscriber by Subscribe.
#include <string>
#include <vector>

#include "bench/micro_data.h"
#include "benchmark/benchmark.h"
#include "informer/selector.h"

namespace bench {
namespace {

// Decoded as the pods informer decodes them (field-selector paths extracted).
const std::vector<informer::ObjectPtr>& Pods() {
  static const auto* pods = new std::vector<informer::ObjectPtr>(MakePods(256, 0));
  return *pods;
}

// Decoded without extraction: field paths are read from the JSON.
const std::vector<informer::ObjectPtr>& PodsNotExtracted() {
  static const auto* pods =
      new std::vector<informer::ObjectPtr>(MakePods(256, 0, Extraction::kNone));
  return *pods;
}

void BM_LabelSelectorParse(benchmark::State& state) {
  for (auto _ : state) {
    auto selector = informer::LabelSelector::Parse(
        "app=checkout-api,tier in (frontend,backend),environment!=canary,!rollout");
    benchmark::DoNotOptimize(selector);
  }
}
BENCHMARK(BM_LabelSelectorParse);

// Arg 0: one equality; 1: equality + set + inequality + absence (four requirements).
void BM_LabelSelectorMatch(benchmark::State& state) {
  auto selector = informer::LabelSelector::Parse(
      state.range(0) == 0 ? "tier=backend"
                          : "tier in (frontend,backend),environment!=canary,!rollout,app");
  if (!selector.ok()) {
    state.SkipWithError(selector.status().ToString().c_str());
    return;
  }
  const auto& pods = Pods();
  size_t i = 0;
  int64_t matched = 0;
  for (auto _ : state) matched += selector->Matches(*pods[i++ % pods.size()]);
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LabelSelectorMatch)->Arg(0)->Arg(1);

void FieldSelectorMatch(benchmark::State& state, const std::vector<informer::ObjectPtr>& pods) {
  auto selector = informer::FieldSelector::Parse("spec.nodeName=node-042,status.phase=Running");
  if (!selector.ok()) {
    state.SkipWithError(selector.status().ToString().c_str());
    return;
  }
  size_t i = 0;
  int64_t matched = 0;
  for (auto _ : state) matched += selector->Matches(*pods[i++ % pods.size()]);
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
}

// A field selector on two of the pods' API-server selector paths (spec.nodeName,
// status.phase), extracted at decode: read from memory.
void BM_FieldSelectorMatch(benchmark::State& state) { FieldSelectorMatch(state, Pods()); }
BENCHMARK(BM_FieldSelectorMatch);

// The same selector on Pods decoded without extraction: each match parses the object's JSON
// (what any path outside the extracted ones costs).
void BM_FieldSelectorMatchFromJson(benchmark::State& state) {
  FieldSelectorMatch(state, PodsNotExtracted());
}
BENCHMARK(BM_FieldSelectorMatchFromJson);

// What a Subscribe filter does per change: namespace, labels and a field.
void BM_ObjectFilterMatch(benchmark::State& state) {
  informer::ObjectFilter filter;
  filter.namespace_name = "team-07";
  filter.labels = *informer::LabelSelector::Parse("tier=backend");
  filter.fields = *informer::FieldSelector::Parse("status.phase=Running");
  const auto& pods = Pods();
  size_t i = 0;
  int64_t matched = 0;
  for (auto _ : state) matched += filter.Matches(*pods[i++ % pods.size()]);
  benchmark::DoNotOptimize(matched);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ObjectFilterMatch);

}  // namespace
}  // namespace bench
