package dev.informerd.client;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The informer's local cache: key ("namespace/name") to the latest object. Read-only for users
 * (only the informer writes it); thread-safe; reads never block the informer for long.
 */
public final class Store {
  private final ConcurrentHashMap<String, KubeObject> items = new ConcurrentHashMap<>();

  /** The object at key, or null. */
  public KubeObject getByKey(String key) {
    return items.get(key);
  }

  /** The object namespace/name ("" namespace for cluster-scoped), or null. */
  public KubeObject get(String namespace, String name) {
    return items.get(KubeObject.key(namespace, name));
  }

  /** Every object, sorted by key. */
  public List<KubeObject> list() {
    List<KubeObject> out = new ArrayList<>(items.values());
    out.sort(Comparator.comparing(KubeObject::key));
    return out;
  }

  /** Every key, sorted. */
  public List<String> listKeys() {
    List<String> out = new ArrayList<>(items.keySet());
    out.sort(null);
    return out;
  }

  /** key to resourceVersion of every object: what a known_objects resume sends. */
  public Map<String, String> resourceVersions() {
    Map<String, String> out = new HashMap<>();
    items.forEach((k, v) -> out.put(k, v.resourceVersion()));
    return out;
  }

  /** How many objects it holds. */
  public int size() {
    return items.size();
  }

  void put(KubeObject obj) {
    items.put(obj.key(), obj);
  }

  void remove(String key) {
    items.remove(key);
  }
}
