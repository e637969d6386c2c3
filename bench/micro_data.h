// Inputs of the micro-benchmarks: the generated Pods of data/pods.jsonl (bench/go's generator,
// the same shape workload 1 streams).
#ifndef BENCH_MICRO_DATA_H_
#define BENCH_MICRO_DATA_H_

#include <cstddef>
#include <string>
#include <vector>

#include "informer/object.h"
#include "informer/resource.h"

namespace bench {

// Every line of data/pods.jsonl: watch events `{"type":..,"object":{..Pod..}}` and a newline.
// Aborts when the file is missing, since nothing can be measured without it.
const std::vector<std::string>& WatchLines();

// The Pod JSON of each watch line (the "object" member, compact).
const std::vector<std::string>& PodJsons();

// How MakePods decodes the Pods' field values.
enum class Extraction {
  // As an informer of pods made by SharedInformerFactory with the benchmarks' spec.nodeName
  // index: that path and the API server's pod field-selector paths extracted at decode.
  kAsInformer,
  // Nothing extracted: every field path other than metadata is read from the JSON.
  kNone,
  // kAsInformer with the JSON kept compressed, as the informer does by default: MakePods first
  // decodes 256 Pods to train the dictionary (not returned).
  kAsInformerCompressed,
};

// The paths kAsInformer extracts: spec.nodeName and SelectableFieldPaths(pods).
std::vector<std::string> InformerExtractedPodPaths();

// `count` distinct Pods (names made unique, spread over the sample shapes), decoded with the
// default transforms. `generation` changes each Pod's "app" label value and resourceVersion, so
// two generations differ in an indexed value.
std::vector<informer::ObjectPtr> MakePods(size_t count, int generation,
                                          Extraction extraction = Extraction::kAsInformer);

// The ResourceInfo of core/v1 pods.
const informer::ResourceInfo& PodsResource();

}  // namespace bench

#endif  // BENCH_MICRO_DATA_H_
