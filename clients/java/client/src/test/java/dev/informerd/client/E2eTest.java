package dev.informerd.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The informer and the direct reads against informerd over a real API server. */
class E2eTest {
  private E2eEnv env;
  private final List<AutoCloseable> closers = new ArrayList<>();

  /**
   * Keeps its own model (key -> resourceVersion) from the calls alone and flags any call that
   * contradicts it: an add of a held key, an update from a state it does not hold, a delete of a
   * key it lacks, or a state delivered twice.
   */
  static final class Checker implements ResourceEventHandler {
    final Map<String, String> model = new HashMap<>();
    final Set<String> seen = new HashSet<>();
    final List<String> errors = new ArrayList<>();
    final List<String> log = new ArrayList<>();

    private void state(KubeObject o) {
      if (!seen.add(o.key() + "@" + o.resourceVersion())) {
        errors.add("repeated state " + o.key() + "@" + o.resourceVersion());
      }
      model.put(o.key(), o.resourceVersion());
    }

    @Override
    public synchronized void onAdd(KubeObject obj, boolean initial) {
      if (model.containsKey(obj.key())) errors.add("add of a held key " + obj.key());
      log.add("add " + obj.name() + " " + initial);
      state(obj);
    }

    @Override
    public synchronized void onUpdate(KubeObject oldObj, KubeObject newObj) {
      if (!oldObj.resourceVersion().equals(model.get(newObj.key()))) {
        errors.add("update of " + newObj.key() + " from a state not held");
      }
      log.add("update " + newObj.name());
      state(newObj);
    }

    @Override
    public synchronized void onDelete(Object deleted) {
      KubeObject last = ResourceEventHandler.lastState(deleted);
      if (model.remove(last.key()) == null) errors.add("delete of a key not held " + last.key());
      log.add((deleted instanceof DeletedFinalStateUnknown ? "delete-unknown " : "delete ")
          + last.name());
    }

    synchronized Map<String, String> model() {
      return new HashMap<>(model);
    }

    synchronized List<String> log() {
      return new ArrayList<>(log);
    }

    synchronized List<String> errors() {
      return new ArrayList<>(errors);
    }
  }

  @BeforeEach
  void setUp() throws IOException {
    env = new E2eEnv();
  }

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closers.size() - 1; i >= 0; i--) closers.get(i).close();
    if (env != null) env.close();
  }

  private Informer follow(Client client, Checker chk) throws InterruptedException {
    Informer inf = new Informer(client, "configmaps", Informer.builder().namespace(env.namespace)
        .initialBackoff(Duration.ofMillis(50)).maxBackoff(Duration.ofMillis(500)).onError(s -> { }));
    Informer.Registration registration = inf.addEventHandler(chk);
    inf.start();
    closers.add(inf);
    assertTrue(inf.waitForSync(Duration.ofSeconds(30)), "informer did not sync in 30 s");
    // The store syncs first; the handler is handed the initial objects after it, on the
    // dispatcher: wait for that too (client-go's WaitForCacheSync(registration.HasSynced)).
    E2eEnv.eventually(registration::hasSynced,
        () -> "the handler was not handed the initial objects");
    return inf;
  }

  private void converged(Informer inf, Checker chk) throws InterruptedException {
    E2eEnv.eventually(() -> {
      Map<String, String> want = env.truth();
      return chk.model().equals(want) && inf.store().resourceVersions().equals(want);
    }, () -> "store " + inf.store().resourceVersions() + " / handlers " + chk.model()
        + ", API " + env.truth());
    assertEquals(List.of(), chk.errors());
  }

  @Test
  void syncThenLiveEvents() throws Exception {
    ConfigMap last = null;
    for (String n : List.of("a", "b", "c")) last = env.create(n, Map.of());
    try (Client client = Client.connect(env.addr)) {
      // Read-your-writes: informerd's cache has reached c before the informer subscribes, so its
      // initial list holds all three.
      client.get("configmaps", env.namespace, "c", last.getMetadata().getResourceVersion());
      Checker chk = new Checker();
      Informer inf = follow(client, chk);
      // kube-root-ca.crt may or may not be there yet: look at ours.
      List<String> initial = chk.log().stream().filter(l -> !l.contains("kube-root-ca")).toList();
      assertEquals(List.of("add a true", "add b true", "add c true"), initial);
      converged(inf, chk);
      int before = chk.log().size();
      env.create("d", Map.of());
      env.update("a", "1");
      env.delete("b");
      converged(inf, chk);
      List<String> live = chk.log().subList(before, chk.log().size()).stream()
          .filter(l -> !l.contains("kube-root-ca")).toList();
      assertEquals(List.of("add d false", "update a", "delete b"), live);
      KubeObject a = inf.store().get(env.namespace, "a");
      assertEquals("1", a.tree().path("data").path("v").asText());
      assertEquals("ConfigMap", a.tree().path("kind").asText());
    }
  }

  @Test
  void watchdogUsesTheAnnouncedIntervalAndTheServersBookmarksKeepAnIdleStream() throws Exception {
    try (Client client = Client.connect(env.addr)) {
      Checker chk = new Checker();
      Informer inf = follow(client, chk);
      // informerd announced its bookmark interval (not the 60 s fallback) ...
      E2eEnv.eventually(() -> inf.stats().watchdogLimitMillis() < 60_000,
          () -> "limit " + inf.stats().watchdogLimitMillis() + " ms");
      long limit = inf.stats().watchdogLimitMillis();
      // ... and its BOOKMARKs hold a stream that matches nothing open past that limit.
      Thread.sleep(limit + limit / 2);
      Informer.Stats s = inf.stats();
      assertEquals(0, s.watchdogTimeouts(), "stats " + s);
      assertEquals(0, s.failures(), "stats " + s);
    }
  }

  @Test
  void listGetByIndex() throws Exception {
    env.create("x1", Map.of("app", "demo"));
    env.create("x2", Map.of("app", "other"));
    ConfigMap last = env.create("x3", Map.of("app", "demo"));
    try (Client client = Client.connect(env.addr)) {
      KubeObject got = client.get("configmaps", env.namespace, "x3",
          last.getMetadata().getResourceVersion());
      assertEquals(last.getMetadata().getUid(), got.uid());
      Client.ObjectList listed = client.list("configmaps", Client.ListOptions
          .inNamespace(env.namespace).withLabelSelector("app=demo").withLimit(1));
      assertEquals(List.of("x1", "x3"), listed.items().stream().map(KubeObject::name).toList());
      assertTrue(!listed.resourceVersion().isEmpty());
      StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
          () -> client.get("configmaps", env.namespace, "missing", ""));
      assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
      e = assertThrows(StatusRuntimeException.class,
          () -> client.list("no-such-resource", Client.ListOptions.all()));
      assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
      assertTrue(client.listResources().stream().anyMatch(
          r -> r.getResource().equals("configmaps") && r.getIndexNamesList().contains("namespace")));
      List<String> byNs = client.byIndex("configmaps", "namespace", env.namespace,
          Client.ListOptions.all().withLimit(1)).stream().map(KubeObject::name)
          .filter(n -> !n.equals("kube-root-ca.crt")).toList();
      assertEquals(List.of("x1", "x2", "x3"), byNs);
    }
  }

  /**
   * A field mask prunes every read's objects and the informer's store (identity and
   * resourceVersion kept; selectors still see the whole object); waitForSync is accepted on each
   * (configmaps are synced, so they answer at once).
   */
  @Test
  void fieldMaskAndWaitForSyncOnReadsAndTheInformer() throws Exception {
    ConfigMap created = env.create("m1", Map.of("app", "demo"));
    String rv = created.getMetadata().getResourceVersion();
    java.util.function.Predicate<KubeObject> pruned = o -> o.tree().path("data").has("v")
        && o.tree().path("data").size() == 1 && !o.tree().path("metadata").has("labels");
    try (Client client = Client.connect(env.addr)) {
      KubeObject got = client.get("configmaps", env.namespace, "m1",
          Client.GetOptions.defaults().withMinResourceVersion(rv).withFields("data.v")
              .withWaitForSync(true));
      assertTrue(pruned.test(got), got.json());
      assertEquals("m1", got.name());
      assertEquals(rv, got.resourceVersion());
      Client.ListOptions masked = Client.ListOptions.inNamespace(env.namespace)
          .withLabelSelector("app=demo").withFields("data.v").withWaitForSync(true);
      List<KubeObject> listed = client.list("configmaps", masked).items();
      assertEquals(List.of("m1"), listed.stream().map(KubeObject::name).toList());
      assertTrue(listed.stream().allMatch(pruned));
      List<KubeObject> byNs = client.byIndex("configmaps", "namespace", env.namespace, masked);
      assertEquals(List.of("m1"), byNs.stream().map(KubeObject::name).toList());
      assertTrue(byNs.stream().allMatch(pruned));
      try (Informer inf = new Informer(client, "configmaps", Informer.builder()
          .namespace(env.namespace).fields("data.v").waitForSync(true)
          .initialBackoff(Duration.ofMillis(50)))) {
        inf.start();
        assertTrue(inf.waitForSync(Duration.ofSeconds(30)), "informer did not sync in 30 s");
        KubeObject held = inf.store().get(env.namespace, "m1");
        assertTrue(held != null && pruned.test(held), held == null ? "absent" : held.json());
      }
    }
  }

  /** An informerd process of the test's own, on a port it picks, caching configmaps. */
  private final class OwnServer implements AutoCloseable {
    final String target;
    final Path log;
    Process proc;

    OwnServer(Path dir) throws IOException {
      try (ServerSocket s = new ServerSocket(0)) {
        target = "127.0.0.1:" + s.getLocalPort();
      }
      log = dir.resolve("informerd.log");
    }

    void start() throws Exception {
      proc = new ProcessBuilder(env.bin, "--kubeconfig=" + env.kubeconfig, "--listen=" + target,
          "--metrics_listen=", "--resources=configmaps", "--bookmark_interval=1s",
          "--log_format=text")
          .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()))
          .start();
      try (Client c = Client.connect(target)) {
        E2eEnv.eventually(() -> {
          try {
            return c.listResources().get(0).getSynced();
          } catch (RuntimeException e) {
            return false;
          }
        }, () -> "informerd not synced:\n" + readLog());
      }
    }

    String readLog() {
      try {
        return Files.readString(log);
      } catch (IOException e) {
        return e.toString();
      }
    }

    void kill() throws InterruptedException {
      proc.destroyForcibly();  // SIGKILL: no goodbye to subscribers
      proc.waitFor();
    }

    @Override
    public void close() throws InterruptedException {
      if (proc != null && proc.isAlive()) {
        proc.destroy();
        if (!proc.waitFor(10, TimeUnit.SECONDS)) proc.destroyForcibly().waitFor();
      }
    }
  }

  /**
   * informerd is killed while changes flow; objects change while it is down; once it is back the
   * informer converges to the API server, and what changed meanwhile arrives as exactly one add,
   * update or tombstone delete each; unchanged objects produce no call.
   */
  @Test
  void serverRestartMidStreamResumesWithKnownObjects(@TempDir Path dir) throws Exception {
    assumeTrue(env.bin != null && !env.bin.isEmpty(),
        "set INFORMERD_TEST_BIN to the informerd binary to run the restart test");
    for (int i = 0; i < 6; i++) env.create("cm-" + i, Map.of());
    env.create("hot", Map.of());
    OwnServer server = new OwnServer(dir);
    closers.add(server);
    server.start();
    try (Client client = Client.connect(server.target)) {
      Checker chk = new Checker();
      Informer inf = follow(client, chk);
      AtomicBoolean stop = new AtomicBoolean();
      Thread writer = new Thread(() -> {
        for (int i = 1; !stop.get(); i++) {
          env.update("hot", String.valueOf(i));
          try {
            Thread.sleep(15);
          } catch (InterruptedException e) {
            return;
          }
        }
      });
      writer.start();
      int before;
      try {
        E2eEnv.eventually(() -> chk.log().stream().filter(l -> l.equals("update hot")).count() >= 3,
            () -> chk.log().toString());
        server.kill();
        before = chk.log().size();
        env.create("new-0", Map.of());
        env.create("new-1", Map.of());
        env.update("cm-0", "1");
        env.update("cm-1", "1");
        env.update("cm-1", "2");
        env.delete("cm-2");
        env.delete("cm-3");
        server.start();
      } finally {
        stop.set(true);
        writer.join();
      }
      converged(inf, chk);
      List<String> after = new ArrayList<>(chk.log().subList(before, chk.log().size()).stream()
          .filter(l -> !l.endsWith(" hot")).toList());
      after.sort(null);
      assertEquals(List.of("add new-0 false", "add new-1 false", "delete-unknown cm-2",
          "delete-unknown cm-3", "update cm-0", "update cm-1"), after);
      assertEquals(1, inf.stats().freshStarts());
      assertTrue(inf.stats().knownObjectsStarts() >= 1);
    }
  }
}
