#include "server/runtime_indexes.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/config.h"
#include "server/log.h"

namespace informer {
namespace server {

absl::StatusOr<AddedIndex> RuntimeIndexes::Add(const CachedResource& resource,
                                               absl::string_view spec_text) {
  const std::string gvr = resource.info.gvr.ToString();
  auto refuse = [&](absl::Status status) {
    absl::MutexLock lock(&mu_);
    ++refused_;
    Log(LogLevel::kInfo, "runtime index refused",
        {{"resource", gvr},
         {"index", std::string(spec_text)},
         {"cause", std::string(status.message())}});
    return status;
  };
  if (!limits_.allowed) {
    return refuse(absl::FailedPreconditionError(
        "adding indexes at run time is off on this server; its operator can turn it on with "
        "--allow_runtime_indexes (config: allow_runtime_indexes: true), or configure the index "
        "at start (--index)"));
  }
  absl::StatusOr<IndexSpec> spec = ParseIndexSpec(spec_text);
  if (!spec.ok()) return absl::InvalidArgumentError(spec.status().message());
  AddedIndex added;
  added.name = spec->name;
  added.definition =
      absl::StrCat(spec->kind == IndexSpec::Kind::kLabel ? "label:" : "field:", spec->key);

  absl::MutexLock lock(&mu_);
  auto& mine = added_[gvr];
  const std::vector<std::string> names = resource.informer->store().IndexNames();
  if (std::find(names.begin(), names.end(), added.name) != names.end()) {
    auto it = mine.find(added.name);
    // A default name says its definition; an index added here remembers its own.
    const std::string existing = it != mine.end()                            ? it->second
                                 : added.name.find(':') != std::string::npos ? added.name
                                                                             : "";
    if (existing == added.definition) return added;  // created: false
    ++refused_;
    return absl::AlreadyExistsError(absl::StrCat(
        "index \"", added.name, "\" of ", gvr, " exists already",
        existing.empty() ? " (configured at start, or built in)" : absl::StrCat(" as ", existing),
        "; choose another name (NAME=", added.definition, ")"));
  }
  if (mine.size() >= limits_.max_per_resource) {
    ++refused_;
    Log(LogLevel::kInfo, "runtime index refused",
        {{"resource", gvr},
         {"index", std::string(spec_text)},
         {"cause", "max_runtime_indexes reached"}});
    std::vector<std::string> held;
    for (const auto& [name, definition] : mine) held.push_back(name);
    std::sort(held.begin(), held.end());
    return absl::ResourceExhaustedError(absl::StrCat(
        gvr, " has ", mine.size(), " indexes added at run time (", absl::StrJoin(held, ", "),
        "), the most --max_runtime_indexes allows; use one of them or ask the operator"));
  }
  // Builds the index over the cached objects under the store's lock: ingestion and reads of
  // this resource wait for it, and no change is missed (Store::AddIndexers).
  if (absl::Status s = resource.informer->AddIndexers(BuildIndexers({*spec})); !s.ok()) {
    return s;
  }
  mine[added.name] = added.definition;
  ++count_;
  added.created = true;
  Log(LogLevel::kInfo, "index added at run time",
      {{"resource", gvr},
       {"index", added.name},
       {"definition", added.definition},
       {"objects", absl::StrCat(resource.informer->store().Size())}});
  return added;
}

absl::Status RuntimeIndexes::Reapply(const CachedResource& resource) {
  const std::string gvr = resource.info.gvr.ToString();
  absl::MutexLock lock(&mu_);
  auto it = added_.find(gvr);
  if (it == added_.end() || it->second.empty()) return absl::OkStatus();
  std::vector<IndexSpec> specs;
  for (const auto& [name, definition] : it->second) {
    // A default name is the definition itself; a name of its own comes as NAME=DEFINITION.
    absl::StatusOr<IndexSpec> spec =
        ParseIndexSpec(name == definition ? definition : absl::StrCat(name, "=", definition));
    if (!spec.ok()) return spec.status();  // cannot happen: it parsed when it was added
    specs.push_back(*std::move(spec));
  }
  const std::vector<std::string> existing = resource.informer->store().IndexNames();
  std::vector<IndexSpec> missing;
  for (IndexSpec& spec : specs) {
    if (std::find(existing.begin(), existing.end(), spec.name) == existing.end()) {
      missing.push_back(std::move(spec));
    }
  }
  if (missing.empty()) return absl::OkStatus();
  if (absl::Status s = resource.informer->AddIndexers(BuildIndexers(missing)); !s.ok()) return s;
  std::vector<std::string> names;
  for (const IndexSpec& spec : missing) names.push_back(spec.name);
  std::sort(names.begin(), names.end());
  Log(LogLevel::kInfo, "runtime indexes registered again",
      {{"resource", gvr},
       {"indexes", absl::StrJoin(names, ",")},
       {"cause", "its cache started again (on demand, after an idle stop)"}});
  return absl::OkStatus();
}

size_t RuntimeIndexes::count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

uint64_t RuntimeIndexes::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

}  // namespace server
}  // namespace informer
