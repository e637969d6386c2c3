package dev.informerd.client;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Objects;

/**
 * One cached Kubernetes object as informerd serves it: its key fields and its JSON. Immutable;
 * the parsed tree is read-only by contract (callers must not modify it) and computed once.
 * Decode into a typed model with {@link #json()} and the model's own deserializer (for fabric8:
 * {@code Serialization.unmarshal(obj.json(), ConfigMap.class)}).
 */
public final class KubeObject {
  private static final ObjectMapper MAPPER = new ObjectMapper();

  private final String namespace;
  private final String name;
  private final String uid;
  private final String resourceVersion;
  private final String json;
  private volatile JsonNode tree;

  /** An object from its fields; json is the object's full JSON (may be "{}" for a tombstone). */
  public KubeObject(String namespace, String name, String uid, String resourceVersion, String json) {
    this.namespace = Objects.requireNonNull(namespace);
    this.name = Objects.requireNonNull(name);
    this.uid = Objects.requireNonNull(uid);
    this.resourceVersion = Objects.requireNonNull(resourceVersion);
    this.json = Objects.requireNonNull(json);
  }

  /** Converts the wire message. */
  public static KubeObject fromProto(informer.v1.Informer.Object o) {
    return new KubeObject(o.getNamespace(), o.getName(), o.getUid(), o.getResourceVersion(),
        o.getJson().isEmpty() ? "{}" : o.getJson());
  }

  /** The store key of namespace/name: "namespace/name", or "name" when cluster-scoped. */
  public static String key(String namespace, String name) {
    return namespace.isEmpty() ? name : namespace + "/" + name;
  }

  /** "namespace/name", or "name" for a cluster-scoped object. */
  public String key() {
    return key(namespace, name);
  }

  /** metadata.namespace ("" when cluster-scoped). */
  public String namespace() {
    return namespace;
  }

  /** metadata.name. */
  public String name() {
    return name;
  }

  /** metadata.uid. */
  public String uid() {
    return uid;
  }

  /** metadata.resourceVersion. */
  public String resourceVersion() {
    return resourceVersion;
  }

  /** The object's JSON as informerd sent it. */
  public String json() {
    return json;
  }

  /**
   * The parsed JSON (an empty object node when it does not parse). Shared: do not modify it.
   */
  public JsonNode tree() {
    JsonNode t = tree;
    if (t == null) {
      try {
        t = MAPPER.readTree(json);
      } catch (IOException e) {
        t = MAPPER.createObjectNode();
      }
      if (t == null || !t.isObject()) t = MAPPER.createObjectNode();
      tree = t;
    }
    return t;
  }

  /** The object decoded with Jackson 2 into type (a fresh copy each call). */
  public <T> T as(Class<T> type) {
    try {
      return MAPPER.readValue(json, type);
    } catch (IOException e) {
      throw new UncheckedIOException("decoding " + key() + " as " + type.getName(), e);
    }
  }

  /** A mutable deep copy of the tree, for building patches. */
  public ObjectNode mutableTree() {
    return ((ObjectNode) tree()).deepCopy();
  }

  /**
   * Whether resourceVersion a is newer than b: numerically when both are numbers (as informerd's
   * and the API server's are), else whenever they differ.
   */
  public static boolean resourceVersionNewer(String a, String b) {
    try {
      return Long.parseUnsignedLong(a) > Long.parseUnsignedLong(b);
    } catch (NumberFormatException e) {
      return !a.equals(b);
    }
  }

  @Override
  public String toString() {
    return "KubeObject{" + key() + "@" + resourceVersion + "}";
  }
}
