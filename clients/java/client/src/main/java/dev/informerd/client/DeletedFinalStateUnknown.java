package dev.informerd.client;

/**
 * A deletion whose final state the informer did not see (it happened while disconnected, or the
 * server sent only the key): {@code obj} is the last state the store held, as client-go's
 * {@code cache.DeletedFinalStateUnknown}.
 */
public record DeletedFinalStateUnknown(String key, KubeObject obj) {}
