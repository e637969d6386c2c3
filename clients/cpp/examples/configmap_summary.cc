#include "examples/configmap_summary.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informerd {
namespace example {
namespace {

// Appends the member names of `obj[field]` when it is an object.
void AppendKeys(const rapidjson::Value& obj, const char* field, std::vector<std::string>* out) {
  auto it = obj.FindMember(field);
  if (it == obj.MemberEnd() || !it->value.IsObject()) return;
  for (const auto& m : it->value.GetObject()) out->emplace_back(m.name.GetString());
}

// metadata.annotations[name], or "" when absent.
std::string Annotation(const rapidjson::Value& obj, const char* name) {
  auto meta = obj.FindMember("metadata");
  if (meta == obj.MemberEnd() || !meta->value.IsObject()) return "";
  auto ann = meta->value.FindMember("annotations");
  if (ann == meta->value.MemberEnd() || !ann->value.IsObject()) return "";
  auto v = ann->value.FindMember(name);
  return v == ann->value.MemberEnd() || !v->value.IsString() ? "" : v->value.GetString();
}

}  // namespace

std::string Summary(const rapidjson::Value& configmap) {
  std::vector<std::string> keys;
  if (configmap.IsObject()) {
    AppendKeys(configmap, "data", &keys);
    AppendKeys(configmap, "binaryData", &keys);
  }
  std::sort(keys.begin(), keys.end());
  if (keys.empty()) return "0 keys";
  return absl::StrCat(keys.size(), " keys: ", absl::StrJoin(keys, ","));
}

absl::StatusOr<std::unique_ptr<ConfigMapSummaryController>> ConfigMapSummaryController::Create(
    ControllerOptions options) {
  informer::k8s::LoadOptions load;
  load.kubeconfig_path = options.kubeconfig;
  absl::StatusOr<informer::k8s::RestConfig> config = informer::k8s::LoadRestConfig(load);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::shared_ptr<informer::k8s::RestClient>> rest =
      informer::k8s::RestClient::Create(*config);
  if (!rest.ok()) return rest.status();
  absl::StatusOr<std::shared_ptr<Client>> client =
      Client::Connect(options.informerd, options.connect);
  if (!client.ok()) return client.status();
  return std::unique_ptr<ConfigMapSummaryController>(
      new ConfigMapSummaryController(std::move(options), *std::move(rest), *std::move(client)));
}

ConfigMapSummaryController::ConfigMapSummaryController(
    ControllerOptions options, std::shared_ptr<informer::k8s::RestClient> rest,
    std::shared_ptr<Client> client)
    : options_(std::move(options)), rest_(std::move(rest)), client_(std::move(client)) {
  InformerOptions io;
  io.namespace_name = options_.namespace_name;
  io.label_selector = options_.selector;
  informer_ = std::make_unique<Informer>(client_, "configmaps", io);
  auto handler = std::make_shared<ResourceEventHandlerFuncs>();
  handler->add = [this](const ObjectPtr& obj, bool) { queue_.Add(obj->key()); };
  handler->update = [this](const ObjectPtr&, const ObjectPtr& obj) { queue_.Add(obj->key()); };
  informer_->AddEventHandler(handler);
}

ConfigMapSummaryController::~ConfigMapSummaryController() { Stop(); }

absl::Status ConfigMapSummaryController::Start(absl::Duration sync_timeout) {
  informer_->Start();
  if (!informer_->WaitForSync(sync_timeout)) {
    return absl::DeadlineExceededError("the ConfigMap informer did not sync");
  }
  for (int i = 0; i < options_.workers; ++i) workers_.emplace_back([this] { Work(); });
  return absl::OkStatus();
}

void ConfigMapSummaryController::Stop() {
  queue_.ShutDown();
  for (std::thread& t : workers_) t.join();
  workers_.clear();
  informer_->Stop();
}

void ConfigMapSummaryController::Work() {
  while (std::optional<std::string> key = queue_.Get()) {
    if (absl::Status s = Reconcile(*key); s.ok()) {
      queue_.Forget(*key);
    } else {
      std::fprintf(stderr, "configmap-summary: %s: %s (retrying)\n", key->c_str(),
                   s.ToString().c_str());
      queue_.AddRateLimited(*key);
    }
    queue_.Done(*key);
  }
}

absl::Status ConfigMapSummaryController::Reconcile(const std::string& key) {
  ObjectPtr cm = informer_->store().GetByKey(key);
  if (!cm) return absl::OkStatus();  // deleted: nothing to write
  std::string want = Summary(cm->doc());
  if (Annotation(cm->doc(), kSummaryAnnotation) == want) return absl::OkStatus();
  // Only over the state we summarised: a newer one gets its own turn.
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("metadata");
  w.StartObject();
  w.Key("annotations");
  w.StartObject();
  w.Key(kSummaryAnnotation);
  w.String(want);
  w.EndObject();
  w.Key("resourceVersion");
  w.String(cm->resource_version());
  w.EndObject();
  w.EndObject();
  std::string path =
      absl::StrCat("/api/v1/namespaces/", cm->namespace_name(), "/configmaps/", cm->name());
  absl::StatusOr<std::string> resp = rest_->MergePatch(path, buf.GetString());
  return resp.status();
}

}  // namespace example
}  // namespace informerd
