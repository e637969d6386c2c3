package dev.informerd.client;

/**
 * Callbacks of an {@link Informer}, shaped as fabric8's and client-go's ResourceEventHandler. All
 * are called on the informer's single dispatch thread, in the order the changes happened; a
 * handler that blocks delays the later notifications (hand work to a {@link RateLimitingQueue}).
 * Every method has an empty default, so a handler overrides only what it needs.
 */
public interface ResourceEventHandler {
  /**
   * An object entered the store. isInInitialList is true for the objects of the initial state
   * (before the first SYNCED, or replayed to a handler added later).
   */
  default void onAdd(KubeObject obj, boolean isInInitialList) {}

  /** An object the store held changed to a newer resourceVersion. */
  default void onUpdate(KubeObject oldObj, KubeObject newObj) {}

  /**
   * An object left the store. deleted is a {@link KubeObject} (its final state) or a {@link
   * DeletedFinalStateUnknown} (deleted while disconnected: holds the last state the store held).
   */
  default void onDelete(Object deleted) {}

  /** The final state of deleted: the object itself, or the tombstone's last known state. */
  static KubeObject lastState(Object deleted) {
    if (deleted instanceof DeletedFinalStateUnknown d) return d.obj();
    return (KubeObject) deleted;
  }
}
