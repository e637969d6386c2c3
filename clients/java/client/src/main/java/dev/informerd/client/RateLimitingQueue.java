package dev.informerd.client;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A work queue of keys as client-go's {@code workqueue.RateLimitingInterface}: an item queued
 * several times before a worker takes it is handed out once; an item is never given to two
 * workers at once (one added while it is processed is queued again at {@link #done}); {@link
 * #addRateLimited} delays by the larger of a per-item exponential backoff (5 ms doubling to
 * 1000 s) and an overall token bucket (10 per second, burst 100). Thread-safe.
 */
public final class RateLimitingQueue<T> implements AutoCloseable {
  /** Thrown by {@link #get} once the queue is shut down and empty. */
  public static final class ShutDownException extends Exception {
    ShutDownException() {
      super("work queue shut down");
    }
  }

  private final Duration baseDelay;
  private final Duration maxDelay;
  private final double qps;
  private final int burst;

  private final Object mu = new Object();
  private final ArrayDeque<T> queue = new ArrayDeque<>();
  private final Set<T> dirty = new HashSet<>();
  private final Set<T> processing = new HashSet<>();
  private final Map<T, Integer> failures = new HashMap<>();
  private double tokens;
  private long lastRefill = System.nanoTime();
  private boolean shuttingDown;
  private final ScheduledExecutorService delayer = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "informerd-workqueue-delay");
    t.setDaemon(true);
    return t;
  });

  /** client-go's default controller rate limiter. */
  public RateLimitingQueue() {
    this(Duration.ofMillis(5), Duration.ofSeconds(1000), 10, 100);
  }

  /** Per-item backoff from baseDelay doubling to maxDelay; overall qps with burst. */
  public RateLimitingQueue(Duration baseDelay, Duration maxDelay, double qps, int burst) {
    this.baseDelay = baseDelay;
    this.maxDelay = maxDelay;
    this.qps = qps;
    this.burst = burst;
    this.tokens = burst;
  }

  /** Queues item unless it is queued already (ignored after shutDown). */
  public void add(T item) {
    synchronized (mu) {
      if (shuttingDown || dirty.contains(item)) return;
      dirty.add(item);
      if (processing.contains(item)) return;  // queued again by done()
      queue.add(item);
      mu.notify();
    }
  }

  /** Queues item after delay. */
  public void addAfter(T item, Duration delay) {
    if (delay.isZero() || delay.isNegative()) {
      add(item);
      return;
    }
    synchronized (mu) {
      if (shuttingDown) return;
    }
    try {
      delayer.schedule(() -> add(item), delay.toNanos(), TimeUnit.NANOSECONDS);
    } catch (RejectedExecutionException e) {
      // Shut down meanwhile.
    }
  }

  /** Queues item after its rate-limited delay (a failed item's retry). */
  public void addRateLimited(T item) {
    addAfter(item, when(item));
  }

  /** The delay addRateLimited would use now, counting one more failure of item. */
  Duration when(T item) {
    synchronized (mu) {
      int n = failures.merge(item, 1, Integer::sum) - 1;
      double backoff = baseDelay.toNanos() * Math.pow(2, Math.min(n, 62));
      long perItem = (long) Math.min(backoff, (double) maxDelay.toNanos());
      // Token bucket: take one token; the wait is how long until it would be there.
      long now = System.nanoTime();
      tokens = Math.min(burst, tokens + (now - lastRefill) / 1e9 * qps);
      lastRefill = now;
      tokens -= 1;
      long bucket = tokens >= 0 ? 0 : (long) (-tokens / qps * 1e9);
      return Duration.ofNanos(Math.max(perItem, bucket));
    }
  }

  /** Forgets item's failures (call after it succeeded). */
  public void forget(T item) {
    synchronized (mu) {
      failures.remove(item);
    }
  }

  /** How often item failed since it was last forgotten. */
  public int numRequeues(T item) {
    synchronized (mu) {
      return failures.getOrDefault(item, 0);
    }
  }

  /**
   * Takes the next item, waiting for one; call {@link #done} with it when finished. Throws
   * ShutDownException once shut down and drained.
   */
  public T get() throws InterruptedException, ShutDownException {
    synchronized (mu) {
      while (queue.isEmpty() && !shuttingDown) mu.wait();
      if (queue.isEmpty()) throw new ShutDownException();
      T item = queue.poll();
      processing.add(item);
      dirty.remove(item);
      return item;
    }
  }

  /** Marks item finished; if it was added meanwhile it is queued again now. */
  public void done(T item) {
    synchronized (mu) {
      processing.remove(item);
      if (dirty.contains(item)) {
        queue.add(item);
        mu.notify();
      }
    }
  }

  /** How many items wait (not counting those being processed). */
  public int len() {
    synchronized (mu) {
      return queue.size();
    }
  }

  /** Stops accepting items; get() drains what is queued, then throws ShutDownException. */
  public void shutDown() {
    synchronized (mu) {
      shuttingDown = true;
      mu.notifyAll();
    }
    delayer.shutdownNow();
  }

  /** True after shutDown. */
  public boolean isShuttingDown() {
    synchronized (mu) {
      return shuttingDown;
    }
  }

  @Override
  public void close() {
    shutDown();
  }
}
