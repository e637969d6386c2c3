package dev.informerd.client;

import informer.v1.Informer.EventType;
import informer.v1.Informer.SubscribeRequest;
import informer.v1.Informer.SubscribeResponse;
import io.grpc.Context;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.MethodDescriptor;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * A shared informer over informerd's Subscribe: keeps a local {@link Store} of one resource
 * (namespace and selectors optional) and calls {@link ResourceEventHandler}s as client-go does.
 *
 * <p>Resume rules (as every informerd client; clients/README.md): after RESOURCE_EXHAUSTED,
 * UNAUTHENTICATED or PERMISSION_DENIED past SYNCED it resubscribes at resource_version = the
 * trailer {@code informer-resume-resource-version} (else the last position received) on the
 * same address; after anything else (UNAVAILABLE, CANCELLED, OUT_OF_RANGE, a silent server) with
 * known_objects = the store's versions, on the next address when the stream was lost. Backoff
 * 250 ms doubling to 30 s, ±20 % jitter, reset once events flowed. States the store already
 * holds (same or older resourceVersion) and deletions of unknown keys are dropped.
 *
 * <p>Watchdog: when nothing arrives for twice the interval the server announced in the initial
 * metadata {@code informer-bookmark-interval-ms} (60 s until it did), the stream is cancelled and
 * resumed with known_objects on the next address.
 *
 * <p>Threading: one reader thread (the stream), one dispatch thread (the handlers, in order).
 * Every public method is thread-safe.
 */
public final class Informer implements AutoCloseable {
  /** Trailer in which a stream ended by the server names the last position it delivered. */
  static final Metadata.Key<String> RESUME_TRAILER =
      Metadata.Key.of("informer-resume-resource-version", Metadata.ASCII_STRING_MARSHALLER);
  /** Initial metadata carrying the server's bookmark interval in milliseconds. */
  static final Metadata.Key<String> BOOKMARK_INTERVAL_HEADER =
      Metadata.Key.of("informer-bookmark-interval-ms", Metadata.ASCII_STRING_MARSHALLER);

  /** Settings of an informer; build with {@link #builder()}. */
  public static final class Options {
    String namespace = "";
    String labelSelector = "";
    String fieldSelector = "";
    Duration initialBackoff = Duration.ofMillis(250);
    Duration maxBackoff = Duration.ofSeconds(30);
    Duration watchdogFallback = Duration.ofSeconds(60);
    Consumer<Status> onError = null;
    List<String> fields = List.of();
    boolean waitForSync = false;

    /** Only objects of this namespace ("" = all). */
    public Options namespace(String v) {
      namespace = Objects.requireNonNull(v);
      return this;
    }

    /** A label selector ("" = all). */
    public Options labelSelector(String v) {
      labelSelector = Objects.requireNonNull(v);
      return this;
    }

    /** A field selector ("" = all). */
    public Options fieldSelector(String v) {
      fieldSelector = Objects.requireNonNull(v);
      return this;
    }

    /**
     * A field mask (e.g. "metadata.labels", "spec.nodeName"): the store holds objects pruned to
     * these paths (identity and resourceVersion kept) and a change outside them is not sent;
     * none = whole objects.
     */
    public Options fields(String... paths) {
      fields = List.of(paths);
      return this;
    }

    /**
     * On a resource informerd starts caching on demand, each subscription waits for its first
     * sync (within the server's --max_wait) instead of failing UNAVAILABLE and backing off.
     */
    public Options waitForSync(boolean v) {
      waitForSync = v;
      return this;
    }

    /** First delay before resubscribing (default 250 ms; doubles up to maxBackoff). */
    public Options initialBackoff(Duration v) {
      initialBackoff = v;
      return this;
    }

    /** Longest delay before resubscribing (default 30 s). */
    public Options maxBackoff(Duration v) {
      maxBackoff = v;
      return this;
    }

    /** Silence after which a stream is given up when the server announced no interval (60 s). */
    public Options watchdogFallback(Duration v) {
      watchdogFallback = v;
      return this;
    }

    /** Called (on the reader thread) each time a stream ends; default logs to stderr. */
    public Options onError(Consumer<Status> v) {
      onError = v;
      return this;
    }
  }

  /** A new options object with the defaults. */
  public static Options builder() {
    return new Options();
  }

  /**
   * Counters, for tests and metrics; watchdogLimitMillis is the silence the current stream is
   * allowed (twice the announced bookmark interval, or the fallback).
   */
  public record Stats(long freshStarts, long knownObjectsStarts, long resourceVersionStarts,
      long failures, long events, long watchdogTimeouts, long failovers,
      long watchdogLimitMillis) {}

  /** A handler's registration: {@link #hasSynced()} once it has seen the initial list. */
  public static final class Registration {
    final ResourceEventHandler handler;
    private boolean active;
    private boolean synced;
    private boolean removed;

    Registration(ResourceEventHandler handler) {
      this.handler = handler;
    }

    /** True once this handler has been given every object of the initial list. */
    public synchronized boolean hasSynced() {
      return synced;
    }
  }

  private enum Kind { ADD, UPDATE, DELETE, SYNCED, REPLAY }

  private record Notification(Kind kind, KubeObject obj, KubeObject old, Object deleted,
      boolean initial, Registration registration, List<KubeObject> snapshot) {}

  private final Client client;
  private final String resource;
  private final Options options;
  private final Store store = new Store();
  private final Object mu = new Object();
  // Guarded by mu:
  private final List<Registration> handlers = new ArrayList<>();
  private final ArrayDeque<Notification> queue = new ArrayDeque<>();
  private boolean started;
  private boolean stopping;
  private boolean synced;
  private Context.CancellableContext call;
  private long freshStarts, knownObjectsStarts, resourceVersionStarts, failures, events,
      watchdogTimeouts, failovers;
  private Watchdog watchdog;

  private Thread reader;
  private Thread dispatcher;
  private final ScheduledExecutorService timer;

  /** An informer of resource ("configmaps", "deployments.apps") over client; call start(). */
  public Informer(Client client, String resource, Options options) {
    this.client = Objects.requireNonNull(client);
    this.resource = Objects.requireNonNull(resource);
    this.options = options;
    if (options.onError == null) {
      options.onError = s -> System.err.printf(
          "informerd: subscription of %s ended: %s; resubscribing%n", resource, s);
    }
    this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "informerd-watchdog-" + resource);
      t.setDaemon(true);
      return t;
    });
  }

  /** The local cache. */
  public Store store() {
    return store;
  }

  /**
   * Adds a handler. It first gets onAdd(obj, true) for every object the store holds now, then
   * every later change, each exactly once.
   */
  public Registration addEventHandler(ResourceEventHandler handler) {
    Registration reg = new Registration(Objects.requireNonNull(handler));
    synchronized (mu) {
      handlers.add(reg);
      // Queued behind every notification already queued, with the store as of now.
      queue.add(new Notification(Kind.REPLAY, null, null, null, synced, reg, store.list()));
      mu.notifyAll();
    }
    return reg;
  }

  /** Stops calling the handler (a call in progress finishes). */
  public void removeEventHandler(Registration reg) {
    synchronized (mu) {
      handlers.remove(reg);
    }
    synchronized (reg) {
      reg.removed = true;
      reg.active = false;
    }
  }

  /** Starts the reader and dispatch threads; a second call does nothing. */
  public void start() {
    synchronized (mu) {
      if (started || stopping) return;
      started = true;
      reader = new Thread(this::run, "informerd-reader-" + resource);
      dispatcher = new Thread(this::dispatch, "informerd-dispatch-" + resource);
      reader.setDaemon(true);
      dispatcher.setDaemon(true);
      reader.start();
      dispatcher.start();
    }
  }

  /** Stops both threads and waits for them (a handler call in progress returns first). */
  public void stop() {
    Thread r, d;
    synchronized (mu) {
      stopping = true;
      if (call != null) call.cancel(null);
      mu.notifyAll();
      r = reader;
      d = dispatcher;
    }
    timer.shutdownNow();
    try {
      if (r != null && r != Thread.currentThread()) r.join();
      if (d != null && d != Thread.currentThread()) d.join();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }

  @Override
  public void close() {
    stop();
  }

  /** True once the first SYNCED arrived: the store holds the complete initial state. */
  public boolean hasSynced() {
    synchronized (mu) {
      return synced;
    }
  }

  /** Waits up to timeout for {@link #hasSynced()}; returns it. */
  public boolean waitForSync(Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    synchronized (mu) {
      while (!synced && !stopping) {
        long left = deadline - System.nanoTime();
        if (left <= 0) break;
        TimeUnit.NANOSECONDS.timedWait(mu, left);
      }
      return synced;
    }
  }

  /** The counters so far. */
  public Stats stats() {
    synchronized (mu) {
      long limit = watchdog == null ? options.watchdogFallback.toMillis()
          : TimeUnit.NANOSECONDS.toMillis(watchdog.limitNanos());
      return new Stats(freshStarts, knownObjectsStarts, resourceVersionStarts, failures, events,
          watchdogTimeouts, failovers, limit);
    }
  }

  // --- reader --------------------------------------------------------------------------------

  /** How one stream ended. */
  private record Outcome(Status status, boolean progressed, String resumeRv) {}

  private boolean sleepUnlessStopped(long nanos) {
    long deadline = System.nanoTime() + nanos;
    synchronized (mu) {
      while (!stopping) {
        long left = deadline - System.nanoTime();
        if (left <= 0) return true;
        try {
          TimeUnit.NANOSECONDS.timedWait(mu, left);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
          return false;
        }
      }
      return false;
    }
  }

  private void run() {
    long delay = options.initialBackoff.toNanos();
    String resumeRv = "";
    while (true) {
      Outcome out = subscribe(resumeRv);
      synchronized (mu) {
        if (stopping) return;
        failures++;
      }
      options.onError.accept(out.status);
      if (out.progressed) delay = options.initialBackoff.toNanos();
      Status.Code code = out.status.getCode();
      // Only these end a stream of a server that still holds our position in its history;
      // after anything else (a restart, OUT_OF_RANGE, a lost connection) the store's versions
      // are the safe start.
      resumeRv = "";
      if (code == Status.Code.RESOURCE_EXHAUSTED || code == Status.Code.UNAUTHENTICATED
          || code == Status.Code.PERMISSION_DENIED) {
        resumeRv = out.resumeRv;
      }
      if (code == Status.Code.UNAUTHENTICATED) client.tokenRejected();
      double jitter = ThreadLocalRandom.current().nextDouble(0.8, 1.2);
      if (!sleepUnlessStopped((long) (delay * jitter))) return;
      delay = Math.min(2 * delay, options.maxBackoff.toNanos());
    }
  }

  private Outcome subscribe(String resumeRv) {
    SubscribeRequest.Builder req = SubscribeRequest.newBuilder().setResource(resource)
        .setNamespace(options.namespace).setLabelSelector(options.labelSelector)
        .setFieldSelector(options.fieldSelector).addAllFields(options.fields)
        .setWaitForSync(options.waitForSync);
    // Until SYNCED of a fresh or known_objects start no position is complete.
    boolean positioned = !resumeRv.isEmpty();
    Context.CancellableContext ctx = Context.current().withCancellation();
    synchronized (mu) {
      if (stopping) return new Outcome(Status.CANCELLED, false, "");
      if (positioned) {
        req.setResourceVersion(resumeRv);
        resourceVersionStarts++;
      } else {
        req.putAllKnownObjects(store.resourceVersions());
        if (req.getKnownObjectsCount() == 0) freshStarts++; else knownObjectsStarts++;
      }
      call = ctx;
    }
    AtomicReference<Metadata> headers = new AtomicReference<>();
    AtomicReference<Metadata> trailers = new AtomicReference<>();
    int target = client.currentIndex();
    Watchdog watchdog = new Watchdog(ctx, headers);
    synchronized (mu) {
      this.watchdog = watchdog;
    }
    boolean progressed = false;
    String rv = resumeRv;
    Status status;
    Context previous = ctx.attach();
    try {
      Iterator<SubscribeResponse> it = client.streamStub()
          .withInterceptors(new CaptureMetadata(headers, trailers, watchdog))
          .subscribe(req.build());
      watchdog.arm();
      while (it.hasNext()) {
        SubscribeResponse event = it.next();
        watchdog.received();
        progressed = true;
        apply(event);
        if (event.getType() == EventType.EVENT_TYPE_SYNCED) positioned = true;
        if (positioned && !event.getResourceVersion().isEmpty()) rv = event.getResourceVersion();
      }
      status = Status.UNAVAILABLE.withDescription("informerd ended the subscription");
    } catch (StatusRuntimeException e) {
      status = e.getStatus();
      Metadata t = e.getTrailers();
      if (t != null) trailers.compareAndSet(null, t);
    } finally {
      ctx.detach(previous);
      watchdog.disarm();
      ctx.cancel(null);
      synchronized (mu) {
        call = null;
      }
    }
    boolean silent = watchdog.fired();
    if (silent) {
      status = Status.UNAVAILABLE.withDescription("informerd sent nothing for "
          + watchdog.limitMillis() + " ms (watchdog)");
    }
    Metadata t = trailers.get();
    String trailerRv = t == null ? null : t.get(RESUME_TRAILER);
    if (trailerRv != null && !trailerRv.isEmpty()) {
      rv = trailerRv;
    } else if (status.getCode() == Status.Code.RESOURCE_EXHAUSTED) {
      // Its position left the server's history: a resume by version would get OUT_OF_RANGE.
      rv = "";
    }
    if (!positioned) rv = "";
    // A stream lost with the server (down, shutting down, silent) moves to the next address.
    Status.Code code = status.getCode();
    boolean lost = code == Status.Code.UNAVAILABLE || code == Status.Code.CANCELLED
        || code == Status.Code.DEADLINE_EXCEEDED;
    synchronized (mu) {
      if (silent) watchdogTimeouts++;
      if (lost && !stopping && client.targetCount() > 1) {
        client.failover(target);
        failovers++;
      }
    }
    return new Outcome(status, progressed, rv);
  }

  /** Keeps a call's headers and trailers, and re-arms the watchdog when the headers arrive. */
  private static final class CaptureMetadata implements ClientInterceptor {
    private final AtomicReference<Metadata> headers;
    private final AtomicReference<Metadata> trailers;
    private final Watchdog watchdog;

    CaptureMetadata(AtomicReference<Metadata> headers, AtomicReference<Metadata> trailers,
        Watchdog watchdog) {
      this.headers = headers;
      this.trailers = trailers;
      this.watchdog = watchdog;
    }

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method,
        CallOptions options, Channel next) {
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
        @Override
        public void start(Listener<R> listener, Metadata md) {
          super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(
              listener) {
            @Override
            public void onHeaders(Metadata h) {
              headers.set(h);
              watchdog.received();
              watchdog.arm();  // with the announced interval now
              super.onHeaders(h);
            }

            @Override
            public void onClose(Status status, Metadata t) {
              trailers.set(t);
              super.onClose(status, t);
            }
          }, md);
        }
      };
    }
  }

  /**
   * Cancels the stream when nothing arrived for twice the announced bookmark interval (or the
   * fallback before the server announced one).
   */
  private final class Watchdog {
    private final Context.CancellableContext ctx;
    private final AtomicReference<Metadata> headers;
    private volatile long lastNanos = System.nanoTime();
    private volatile boolean fired;
    private volatile long firedLimitNanos;
    private ScheduledFuture<?> task;
    private boolean disarmed;

    Watchdog(Context.CancellableContext ctx, AtomicReference<Metadata> headers) {
      this.ctx = ctx;
      this.headers = headers;
    }

    long limitNanos() {
      Metadata h = headers.get();
      String v = h == null ? null : h.get(BOOKMARK_INTERVAL_HEADER);
      if (v != null) {
        try {
          long ms = Long.parseLong(v.trim());
          if (ms > 0) return TimeUnit.MILLISECONDS.toNanos(2 * ms);
        } catch (NumberFormatException ignored) {
          // Fall back below.
        }
      }
      return options.watchdogFallback.toNanos();
    }

    long limitMillis() {
      return TimeUnit.NANOSECONDS.toMillis(firedLimitNanos);
    }

    /** (Re)starts the timer from the last receipt; no-op once disarmed. */
    synchronized void arm() {
      if (disarmed) return;
      if (task != null) task.cancel(false);
      schedule(Math.max(limitNanos() - (System.nanoTime() - lastNanos), 0));
    }

    void received() {
      lastNanos = System.nanoTime();
    }

    synchronized void disarm() {
      disarmed = true;
      if (task != null) task.cancel(false);
      task = null;
    }

    boolean fired() {
      return fired;
    }

    private void schedule(long afterNanos) {
      try {
        task = timer.schedule(this::check, Math.max(afterNanos, 1), TimeUnit.NANOSECONDS);
      } catch (java.util.concurrent.RejectedExecutionException e) {
        // Stopping.
      }
    }

    private synchronized void check() {
      if (disarmed) return;
      long limit = limitNanos();
      long silentFor = System.nanoTime() - lastNanos;
      if (silentFor >= limit) {
        firedLimitNanos = limit;
        fired = true;
        ctx.cancel(null);
        return;
      }
      schedule(limit - silentFor);
    }
  }

  private void apply(SubscribeResponse event) {
    KubeObject obj = event.hasObject() ? KubeObject.fromProto(event.getObject()) : null;
    synchronized (mu) {
      events++;
      Notification n;
      switch (event.getType()) {
        case EVENT_TYPE_ADDED, EVENT_TYPE_MODIFIED -> {
          if (obj == null) return;
          KubeObject old = store.getByKey(obj.key());
          // A state the store already holds (or a newer one) is never repeated.
          if (old != null
              && !KubeObject.resourceVersionNewer(obj.resourceVersion(), old.resourceVersion())) {
            return;
          }
          store.put(obj);
          n = new Notification(old == null ? Kind.ADD : Kind.UPDATE, obj, old, null, !synced,
              null, null);
        }
        case EVENT_TYPE_DELETED -> {
          if (obj == null) return;
          KubeObject old = store.getByKey(obj.key());
          if (old == null) return;
          store.remove(obj.key());
          Object deleted = event.getFinalStateUnknown()
              ? new DeletedFinalStateUnknown(obj.key(), old) : obj;
          n = new Notification(Kind.DELETE, null, null, deleted, false, null, null);
        }
        case EVENT_TYPE_SYNCED -> {
          synced = true;
          n = new Notification(Kind.SYNCED, null, null, null, false, null, null);
        }
        default -> {
          return;
        }
      }
      queue.add(n);
      mu.notifyAll();
    }
  }

  // --- dispatcher ----------------------------------------------------------------------------

  private void dispatch() {
    while (true) {
      Notification n;
      List<Registration> regs;
      synchronized (mu) {
        while (!stopping && queue.isEmpty()) {
          try {
            mu.wait();
          } catch (InterruptedException e) {
            return;
          }
        }
        if (stopping) return;
        n = queue.poll();
        regs = List.copyOf(handlers);
      }
      deliver(n, regs);
    }
  }

  private void deliver(Notification n, List<Registration> regs) {
    if (n.kind == Kind.REPLAY) {
      for (KubeObject o : n.snapshot) call(n.registration, h -> h.onAdd(o, true));
      synchronized (n.registration) {
        if (!n.registration.removed) {
          n.registration.active = true;
          if (n.initial) n.registration.synced = true;
        }
      }
      return;
    }
    for (Registration reg : regs) {
      synchronized (reg) {
        if (!reg.active) continue;
        if (n.kind == Kind.SYNCED) {
          reg.synced = true;
          continue;
        }
      }
      switch (n.kind) {
        case ADD -> call(reg, h -> h.onAdd(n.obj, n.initial));
        case UPDATE -> call(reg, h -> h.onUpdate(n.old, n.obj));
        case DELETE -> call(reg, h -> h.onDelete(n.deleted));
        default -> { }
      }
    }
  }

  /** Calls a handler; an exception it throws is reported and does not stop the informer. */
  private void call(Registration reg, Consumer<ResourceEventHandler> f) {
    try {
      f.accept(reg.handler);
    } catch (RuntimeException e) {
      System.err.printf("informerd: a handler of %s threw: %s%n", resource, e);
    }
  }
}
