#include "server/convert.h"

namespace informer {
namespace server {

namespace pb = ::informer::v1;

void ToProto(const Object& object, pb::Object* out) {
  out->set_json(object.json());
  out->set_namespace_(object.meta().namespace_name);
  out->set_name(object.meta().name);
  out->set_uid(object.meta().uid);
  out->set_resource_version(object.meta().resource_version);
}

void ToProto(const SubscriptionEvent& event, pb::SubscribeResponse* out) {
  out->Clear();
  switch (event.type) {
    case SubscriptionEventType::kAdded:
      out->set_type(pb::EVENT_TYPE_ADDED);
      break;
    case SubscriptionEventType::kModified:
      out->set_type(pb::EVENT_TYPE_MODIFIED);
      break;
    case SubscriptionEventType::kDeleted:
      out->set_type(pb::EVENT_TYPE_DELETED);
      break;
    case SubscriptionEventType::kBookmark:
      out->set_type(pb::EVENT_TYPE_BOOKMARK);
      break;
    case SubscriptionEventType::kSynced:
      out->set_type(pb::EVENT_TYPE_SYNCED);
      break;
  }
  if (event.object != nullptr) ToProto(*event.object, out->mutable_object());
  if (event.old_object != nullptr) ToProto(*event.old_object, out->mutable_old_object());
  out->set_resource_version(event.resource_version);
  out->set_final_state_unknown(event.final_state_unknown);
  out->set_coalesced(event.coalesced);
}

void ToProto(const ResourceSummary& summary, pb::ResourceStatus* out) {
  const GroupVersionResource& gvr = summary.info.gvr;
  out->set_group(gvr.group);
  out->set_version(gvr.version);
  out->set_resource(gvr.resource);
  out->set_kind(summary.info.kind);
  out->set_namespaced(summary.info.namespaced);
  out->set_synced(summary.synced);
  out->set_object_count(summary.object_count);
  out->set_resource_version(summary.resource_version);
  for (const std::string& name : summary.index_names) out->add_index_names(name);
  out->set_name(gvr.ToString());
  out->set_namespace_(summary.namespace_name);
  out->set_label_selector(summary.label_selector);
  out->set_field_selector(summary.field_selector);
  out->set_last_error(summary.last_error);
  out->set_stale(summary.stale);
  out->set_stale_seconds(absl::ToDoubleSeconds(summary.stale_for));
  out->set_projection(std::string(ProjectionName(summary.projection)));
  out->set_started_by(summary.started_by == StartedBy::kOnDemand ? pb::STARTED_BY_ON_DEMAND
                                                                 : pb::STARTED_BY_CONFIG);
}

}  // namespace server
}  // namespace informer
