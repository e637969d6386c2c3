// Callbacks an informer makes for each change (client-go's ResourceEventHandler).
#ifndef INFORMER_EVENT_HANDLER_H_
#define INFORMER_EVENT_HANDLER_H_

#include "informer/object.h"

namespace informer {

// Receives an informer's notifications. Each registered handler has its own buffer and its
// own delivery thread, so a slow handler delays no other (I4). Calls to one handler are
// serial, in the order the informer processed the changes.
class ResourceEventHandler {
 public:
  virtual ~ResourceEventHandler() = default;
  // An object was added; `is_in_initial_list` is true for the objects of the informer's first
  // LIST and for the replay a late handler gets (I2, I3).
  virtual void OnAdd(const ObjectPtr& object, bool is_in_initial_list) = 0;
  // An object changed, or a resync is due for this handler (then old == new) (I5).
  virtual void OnUpdate(const ObjectPtr& old_object, const ObjectPtr& new_object) = 0;
  // An object was deleted: its last state, or a tombstone when the deletion was only seen by a
  // relist (K2).
  virtual void OnDelete(const DeltaObject& object) = 0;
};

// Returned by AddEventHandler; identifies the handler for RemoveEventHandler.
class HandlerRegistration {
 public:
  virtual ~HandlerRegistration() = default;
  // True once the handler has been handed every object of the informer's initial list (or,
  // for a late handler, of its replay) (I6).
  virtual bool HasSynced() const = 0;
};

}  // namespace informer

#endif  // INFORMER_EVENT_HANDLER_H_
