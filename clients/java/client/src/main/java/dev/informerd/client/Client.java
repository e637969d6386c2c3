package dev.informerd.client;

import io.grpc.CallCredentials;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import informer.v1.Informer.ByIndexRequest;
import informer.v1.Informer.ByIndexResponse;
import informer.v1.Informer.GetRequest;
import informer.v1.Informer.ListRequest;
import informer.v1.Informer.ListResourcesRequest;
import informer.v1.Informer.ListResponse;
import informer.v1.Informer.ResourceStatus;
import informer.v1.InformerServiceGrpc;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A connection to informerd: one or more addresses of replicas to fail over between, each with
 * its own channel (gRPC keepalive 30 s, timeout 10 s). Unary calls (List/Get/ByIndex) go to the
 * current address and move to the next one on UNAVAILABLE; an {@link Informer} moves on when its
 * stream is lost (see its resume rules). Thread-safe; close it when done.
 */
public final class Client implements AutoCloseable {
  /** How often a paged read restarts after its snapshot expired (ABORTED). */
  static final int MAX_LIST_RESTARTS = 3;

  /** Optional settings of {@link #connect}. */
  public record Options(String caFile, String tokenFile, Duration deadline) {
    /** Plaintext, no token, 30 s per unary call. */
    public static Options defaults() {
      return new Options("", "", Duration.ofSeconds(30));
    }

    /** TLS with informerd's CA, and a ServiceAccount token file re-read every 30 s. */
    public static Options tls(String caFile, String tokenFile) {
      return new Options(caFile, tokenFile == null ? "" : tokenFile, Duration.ofSeconds(30));
    }
  }

  private final List<ManagedChannel> channels;
  private final List<InformerServiceGrpc.InformerServiceBlockingStub> stubs;
  private final List<String> targets;
  private final AtomicInteger current = new AtomicInteger();
  private final CallCredentials credentials;
  private final Duration deadline;
  private final boolean ownsChannels;

  private Client(List<String> targets, List<ManagedChannel> channels, CallCredentials credentials,
      Duration deadline, boolean ownsChannels) {
    if (channels.isEmpty()) throw new IllegalArgumentException("no informerd address");
    this.targets = List.copyOf(targets);
    this.channels = List.copyOf(channels);
    this.credentials = credentials;
    this.deadline = deadline;
    this.ownsChannels = ownsChannels;
    List<InformerServiceGrpc.InformerServiceBlockingStub> s = new ArrayList<>();
    for (ManagedChannel c : channels) {
      InformerServiceGrpc.InformerServiceBlockingStub stub = InformerServiceGrpc.newBlockingStub(c);
      if (credentials != null) stub = stub.withCallCredentials(credentials);
      s.add(stub);
    }
    this.stubs = List.copyOf(s);
  }

  /** Connects to one or more informerd addresses ("host:port", "unix:///path") in plaintext. */
  public static Client connect(String... targets) {
    return connect(List.of(targets), Options.defaults());
  }

  /** Connects to the addresses with options (TLS when caFile is set). */
  public static Client connect(List<String> targets, Options options) {
    ChannelCredentials creds;
    if (options.caFile().isEmpty()) {
      creds = InsecureChannelCredentials.create();
    } else {
      try {
        creds = TlsChannelCredentials.newBuilder().trustManager(new File(options.caFile())).build();
      } catch (IOException e) {
        throw new IllegalArgumentException("reading CA file " + options.caFile(), e);
      }
    }
    List<ManagedChannel> channels = new ArrayList<>();
    for (String t : targets) {
      channels.add(Grpc.newChannelBuilder(t, creds)
          .keepAliveTime(30, TimeUnit.SECONDS)
          .keepAliveTimeout(10, TimeUnit.SECONDS)
          .maxInboundMessageSize(64 << 20)
          .build());
    }
    CallCredentials cc = null;
    if (!options.tokenFile().isEmpty()) {
      // A bearer token never travels in plaintext over TCP.
      for (String t : targets) {
        if (options.caFile().isEmpty() && !t.startsWith("unix:")) {
          channels.forEach(ManagedChannel::shutdownNow);
          throw new IllegalArgumentException(
              "a token is sent only over TLS (set caFile) or a unix socket, not to " + t);
        }
      }
      cc = new TokenFileCredentials(Path.of(options.tokenFile()), Duration.ofSeconds(30));
    }
    return new Client(targets, channels, cc, options.deadline(), true);
  }

  /** A client over channels the caller made (and closes); for tests and custom transports. */
  public static Client forChannels(List<ManagedChannel> channels) {
    return forChannels(channels, null);
  }

  /** As forChannels, sending the token read from tokenFile (re-read every 30 s) on each call. */
  static Client forChannels(List<ManagedChannel> channels, Path tokenFile) {
    List<String> names = new ArrayList<>();
    for (ManagedChannel c : channels) names.add(c.authority());
    return new Client(names, channels, tokenFile == null ? null
        : new TokenFileCredentials(tokenFile, Duration.ofSeconds(30)), Duration.ofSeconds(30), false);
  }

  /** The address calls go to now. */
  public String currentTarget() {
    return targets.get(current.get() % targets.size());
  }

  /** How many addresses it fails over between. */
  public int targetCount() {
    return targets.size();
  }

  /** The stub for the current address, with no deadline (for streams). */
  InformerServiceGrpc.InformerServiceBlockingStub streamStub() {
    return stubs.get(current.get() % stubs.size());
  }

  /** Moves to the next address (no-op with one); from is the index the caller saw fail. */
  void failover(int from) {
    current.compareAndSet(from, (from + 1) % stubs.size());
  }

  /** Makes the next call re-read the token file (after UNAUTHENTICATED). */
  void tokenRejected() {
    if (credentials instanceof TokenFileCredentials t) t.invalidate();
  }

  int currentIndex() {
    return current.get() % stubs.size();
  }

  private interface Call<T> {
    T run(InformerServiceGrpc.InformerServiceBlockingStub stub);
  }

  /** Runs a unary call, trying each address once while they answer UNAVAILABLE. */
  private <T> T unary(Call<T> call) {
    StatusRuntimeException last = null;
    for (int i = 0; i < stubs.size(); i++) {
      int idx = currentIndex();
      try {
        return call.run(stubs.get(idx).withDeadlineAfter(deadline.toMillis(), TimeUnit.MILLISECONDS));
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.UNAVAILABLE) throw e;
        last = e;
        failover(idx);
      }
    }
    throw last;
  }

  /** The resources informerd caches and whether each has synced. */
  public List<ResourceStatus> listResources() {
    return unary(s -> s.listResources(ListResourcesRequest.getDefaultInstance())).getResourcesList();
  }

  /**
   * Options of List and ByIndex; every field may be empty/0/false. fields is a field mask (each
   * object pruned to these paths, identity and resourceVersion kept; selectors still see the
   * whole object); waitForSync waits for the resource's initial sync (an on-demand resource)
   * instead of failing UNAVAILABLE, until the call's deadline or the server's --max_wait.
   */
  public record ListOptions(String namespace, String labelSelector, String fieldSelector,
      int limit, String minResourceVersion, List<String> fields, boolean waitForSync) {
    public ListOptions {
      fields = List.copyOf(fields);
    }

    /** Without a field mask, not waiting for sync. */
    public ListOptions(String namespace, String labelSelector, String fieldSelector, int limit,
        String minResourceVersion) {
      this(namespace, labelSelector, fieldSelector, limit, minResourceVersion, List.of(), false);
    }

    /** Everything, default page size. */
    public static ListOptions all() {
      return new ListOptions("", "", "", 0, "");
    }

    /** In one namespace. */
    public static ListOptions inNamespace(String namespace) {
      return new ListOptions(namespace, "", "", 0, "");
    }

    /** A copy with a label selector. */
    public ListOptions withLabelSelector(String selector) {
      return new ListOptions(namespace, selector, fieldSelector, limit, minResourceVersion, fields,
          waitForSync);
    }

    /** A copy with a page size. */
    public ListOptions withLimit(int pageSize) {
      return new ListOptions(namespace, labelSelector, fieldSelector, pageSize, minResourceVersion,
          fields, waitForSync);
    }

    /** A copy that waits until the cache reached resourceVersion rv (read-your-writes). */
    public ListOptions withMinResourceVersion(String rv) {
      return new ListOptions(namespace, labelSelector, fieldSelector, limit, rv, fields,
          waitForSync);
    }

    /** A copy with a field mask. */
    public ListOptions withFields(String... paths) {
      return new ListOptions(namespace, labelSelector, fieldSelector, limit, minResourceVersion,
          List.of(paths), waitForSync);
    }

    /** A copy that waits (or not) for the resource's initial sync. */
    public ListOptions withWaitForSync(boolean wait) {
      return new ListOptions(namespace, labelSelector, fieldSelector, limit, minResourceVersion,
          fields, wait);
    }
  }

  /** Options of Get, as ListOptions' fields of the same names; every field may be empty/false. */
  public record GetOptions(String minResourceVersion, List<String> fields, boolean waitForSync) {
    public GetOptions {
      fields = List.copyOf(fields);
    }

    /** No wait, whole object. */
    public static GetOptions defaults() {
      return new GetOptions("", List.of(), false);
    }

    /** A copy that waits until the cache reached resourceVersion rv (read-your-writes). */
    public GetOptions withMinResourceVersion(String rv) {
      return new GetOptions(rv, fields, waitForSync);
    }

    /** A copy with a field mask. */
    public GetOptions withFields(String... paths) {
      return new GetOptions(minResourceVersion, List.of(paths), waitForSync);
    }

    /** A copy that waits (or not) for the resource's initial sync. */
    public GetOptions withWaitForSync(boolean wait) {
      return new GetOptions(minResourceVersion, fields, wait);
    }
  }

  /** Objects of one List: all pages, and the resourceVersion of its snapshot. */
  public record ObjectList(List<KubeObject> items, String resourceVersion) {}

  /**
   * Lists a resource, all pages of one snapshot. A snapshot that expires between pages (ABORTED)
   * restarts the list, up to 3 times. Throws StatusRuntimeException with informerd's code
   * (NOT_FOUND unknown resource, UNAVAILABLE not synced, DEADLINE_EXCEEDED min_resource_version).
   */
  public ObjectList list(String resource, ListOptions options) {
    for (int attempt = 0; ; attempt++) {
      ListRequest.Builder req = ListRequest.newBuilder().setResource(resource)
          .setNamespace(options.namespace()).setLabelSelector(options.labelSelector())
          .setFieldSelector(options.fieldSelector()).setLimit(options.limit())
          .setMinResourceVersion(options.minResourceVersion()).addAllFields(options.fields())
          .setWaitForSync(options.waitForSync());
      List<KubeObject> items = new ArrayList<>();
      try {
        while (true) {
          ListRequest r = req.build();
          ListResponse resp = unary(s -> s.list(r));
          resp.getObjectsList().forEach(o -> items.add(KubeObject.fromProto(o)));
          if (resp.getNextPageToken().isEmpty()) {
            return new ObjectList(items, resp.getResourceVersion());
          }
          req.setPageToken(resp.getNextPageToken());
        }
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.ABORTED || attempt >= MAX_LIST_RESTARTS) throw e;
      }
    }
  }

  /**
   * The object namespace/name ("" namespace when cluster-scoped); minResourceVersion may be "".
   * Throws StatusRuntimeException NOT_FOUND when absent.
   */
  public KubeObject get(String resource, String namespace, String name, String minResourceVersion) {
    return get(resource, namespace, name,
        GetOptions.defaults().withMinResourceVersion(minResourceVersion));
  }

  /** As {@link #get(String, String, String, String)}, with a field mask or waitForSync. */
  public KubeObject get(String resource, String namespace, String name, GetOptions options) {
    GetRequest req = GetRequest.newBuilder().setResource(resource).setNamespace(namespace)
        .setName(name).setMinResourceVersion(options.minResourceVersion())
        .addAllFields(options.fields()).setWaitForSync(options.waitForSync()).build();
    return KubeObject.fromProto(unary(s -> s.get(req)).getObject());
  }

  /** The objects whose index indexName holds value, all pages (restarts on ABORTED as list). */
  public List<KubeObject> byIndex(String resource, String indexName, String value,
      ListOptions options) {
    for (int attempt = 0; ; attempt++) {
      ByIndexRequest.Builder req = ByIndexRequest.newBuilder().setResource(resource)
          .setIndexName(indexName).setValue(value).setNamespace(options.namespace())
          .setLabelSelector(options.labelSelector()).setFieldSelector(options.fieldSelector())
          .setLimit(options.limit()).setMinResourceVersion(options.minResourceVersion())
          .addAllFields(options.fields()).setWaitForSync(options.waitForSync());
      List<KubeObject> items = new ArrayList<>();
      try {
        while (true) {
          ByIndexRequest r = req.build();
          ByIndexResponse resp = unary(s -> s.byIndex(r));
          resp.getObjectsList().forEach(o -> items.add(KubeObject.fromProto(o)));
          if (resp.getNextPageToken().isEmpty()) return items;
          req.setPageToken(resp.getNextPageToken());
        }
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() != Status.Code.ABORTED || attempt >= MAX_LIST_RESTARTS) throw e;
      }
    }
  }

  @Override
  public void close() {
    if (!ownsChannels) return;
    for (ManagedChannel c : channels) c.shutdownNow();
    for (ManagedChannel c : channels) {
      try {
        c.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        return;
      }
    }
  }

  /**
   * Sends "authorization: Bearer TOKEN" read from a file, re-read at most every refresh (the
   * kubelet rotates projected tokens). gRPC sends call credentials only over TLS.
   */
  static final class TokenFileCredentials extends CallCredentials {
    private static final Metadata.Key<String> AUTHORIZATION =
        Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
    private final Path file;
    private final long refreshNanos;
    private String token;
    private long readAt;

    TokenFileCredentials(Path file, Duration refresh) {
      this.file = file;
      this.refreshNanos = refresh.toNanos();
    }

    synchronized void invalidate() {
      token = null;
    }

    private synchronized String token() throws IOException {
      long now = System.nanoTime();
      if (token == null || now - readAt >= refreshNanos) {
        token = Files.readString(file, StandardCharsets.UTF_8).trim();
        readAt = now;
      }
      return token;
    }

    @Override
    public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
      try {
        Metadata md = new Metadata();
        md.put(AUTHORIZATION, "Bearer " + token());
        applier.apply(md);
      } catch (IOException e) {
        applier.fail(Status.UNAUTHENTICATED.withDescription("reading token file " + file)
            .withCause(e));
      }
    }
  }
}
