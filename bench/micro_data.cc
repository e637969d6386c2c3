#include "bench/micro_data.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "informer/object_decoder.h"
#include "informer/selectable_fields.h"
#include "informer/transform.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace bench {

const std::vector<std::string>& WatchLines() {
  static const std::vector<std::string>* lines = [] {
    auto* out = new std::vector<std::string>;
    const std::string path = std::string(BENCH_DATA_DIR) + "/pods.jsonl";
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) out->push_back(line + "\n");
    }
    if (out->empty()) {
      std::fprintf(stderr, "no watch events in %s (regenerate: benchgo gen --out %s)\n",
                   path.c_str(), path.c_str());
      std::abort();
    }
    return out;
  }();
  return *lines;
}

const std::vector<std::string>& PodJsons() {
  static const std::vector<std::string>* pods = [] {
    auto* out = new std::vector<std::string>;
    for (const std::string& line : WatchLines()) {
      rapidjson::Document doc;
      doc.Parse(line.data(), line.size());
      if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("object")) std::abort();
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      doc["object"].Accept(writer);
      out->emplace_back(buffer.GetString(), buffer.GetSize());
    }
    return out;
  }();
  return *pods;
}

const informer::ResourceInfo& PodsResource() {
  static const informer::ResourceInfo* resource = [] {
    auto* r = new informer::ResourceInfo;
    r->gvr = {"", "v1", "pods"};
    r->kind = "Pod";
    r->namespaced = true;
    r->verbs = {"list", "watch", "get"};
    return r;
  }();
  return *resource;
}

std::vector<std::string> InformerExtractedPodPaths() {
  std::vector<std::string> paths = {"spec.nodeName"};
  for (std::string& path : informer::SelectableFieldPaths(PodsResource().gvr)) {
    paths.push_back(std::move(path));
  }
  return paths;
}

std::vector<informer::ObjectPtr> MakePods(size_t count, int generation, Extraction extraction) {
  informer::JsonCompressionOptions compression;
  informer::ObjectDecoder decoder(
      PodsResource(), informer::DefaultTransforms(),
      extraction != Extraction::kNone ? InformerExtractedPodPaths() : std::vector<std::string>(),
      extraction == Extraction::kAsInformerCompressed ? &compression : nullptr);
  const std::vector<std::string>& jsons = PodJsons();
  std::vector<informer::ObjectPtr> out;
  out.reserve(count);
  const size_t trained = extraction == Extraction::kAsInformerCompressed
                             ? compression.training_objects
                             : 0;  // the first ones only train the dictionary
  for (size_t j = 0; j < count + trained; ++j) {
    const size_t i = j < trained ? count + j : j - trained;
    rapidjson::Document doc;
    const std::string& json = jsons[i % jsons.size()];
    doc.Parse(json.data(), json.size());
    auto& allocator = doc.GetAllocator();
    rapidjson::Value& metadata = doc["metadata"];
    std::string name = absl::StrCat(metadata["name"].GetString(), "-", i);
    metadata["name"].SetString(name.data(), static_cast<rapidjson::SizeType>(name.size()),
                               allocator);
    std::string rv = absl::StrCat(1000 + generation * count + i);
    metadata["resourceVersion"].SetString(rv.data(), static_cast<rapidjson::SizeType>(rv.size()),
                                          allocator);
    rapidjson::Value& labels = metadata["labels"];
    std::string app = absl::StrCat(labels["app"].GetString(), "-g", generation);
    labels["app"].SetString(app.data(), static_cast<rapidjson::SizeType>(app.size()), allocator);
    auto object = decoder.Decode(doc, allocator);
    if (!object.ok()) {
      std::fprintf(stderr, "MakePods: %s\n", object.status().ToString().c_str());
      std::abort();
    }
    if (j >= trained) out.push_back(*std::move(object));
  }
  return out;
}

}  // namespace bench
