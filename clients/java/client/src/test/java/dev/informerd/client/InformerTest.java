package dev.informerd.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import informer.v1.Informer.SubscribeRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The informer against a scripted in-process informerd: sync, events, resume rules, watchdog. */
class InformerTest {
  private final List<AutoCloseable> closers = new ArrayList<>();
  private FakeInformerd server;
  private final BlockingQueue<String> seen = new LinkedBlockingQueue<>();

  /** Records every callback as one line. */
  private final ResourceEventHandler recorder = new ResourceEventHandler() {
    @Override
    public void onAdd(KubeObject obj, boolean initial) {
      seen.add("add " + obj.key() + "@" + obj.resourceVersion() + (initial ? " initial" : ""));
    }

    @Override
    public void onUpdate(KubeObject oldObj, KubeObject newObj) {
      seen.add("update " + newObj.key() + "@" + oldObj.resourceVersion() + "->"
          + newObj.resourceVersion());
    }

    @Override
    public void onDelete(Object deleted) {
      if (deleted instanceof DeletedFinalStateUnknown d) {
        seen.add("delete-unknown " + d.key() + "@" + d.obj().resourceVersion());
      } else {
        KubeObject o = (KubeObject) deleted;
        seen.add("delete " + o.key() + "@" + o.resourceVersion());
      }
    }
  };

  @BeforeEach
  void setUp() throws Exception {
    server = new FakeInformerd();
    closers.add(server);
  }

  @AfterEach
  void tearDown() throws Exception {
    for (int i = closers.size() - 1; i >= 0; i--) closers.get(i).close();
  }

  private Client client(FakeInformerd... servers) {
    List<ManagedChannel> channels = new ArrayList<>();
    for (FakeInformerd s : servers) {
      ManagedChannel c = s.channel();
      channels.add(c);
      closers.add(c::shutdownNow);
    }
    return Client.forChannels(channels);
  }

  private Informer start(Informer.Options options, FakeInformerd... servers) {
    Informer inf = new Informer(client(servers.length == 0 ? new FakeInformerd[] {server} : servers),
        "configmaps", options.initialBackoff(Duration.ofMillis(10)).onError(s -> { }));
    inf.addEventHandler(recorder);
    inf.start();
    closers.add(inf);
    return inf;
  }

  private Informer start() {
    return start(Informer.builder());
  }

  private void expect(String... lines) throws InterruptedException {
    for (String want : lines) {
      String got = seen.poll(10, TimeUnit.SECONDS);
      assertEquals(want, got);
    }
  }

  /** Asserts no callback arrives; used after an event that must be dropped, behind a marker. */
  private void expectNothingBefore(String marker) throws InterruptedException {
    assertEquals(marker, seen.poll(10, TimeUnit.SECONDS));
  }

  private FakeInformerd.Stream syncedWithTwo(Informer inf) throws Exception {
    FakeInformerd.Stream s = server.nextStream();
    s.added("ns", "a", "1").added("ns", "b", "2").synced("2");
    expect("add ns/a@1 initial", "add ns/b@2 initial");
    assertTrue(inf.waitForSync(Duration.ofSeconds(10)));
    return s;
  }

  @Test
  void freshStartSyncsThenDeliversLiveEvents() throws Exception {
    Informer inf = start(Informer.builder().namespace("ns").labelSelector("app=demo"));
    FakeInformerd.Stream s = server.nextStream();
    assertEquals("ns", s.request.getNamespace());
    assertEquals("app=demo", s.request.getLabelSelector());
    assertEquals("", s.request.getResourceVersion());
    assertTrue(s.request.getKnownObjectsMap().isEmpty());
    assertEquals(List.of(), s.request.getFieldsList());
    assertFalse(s.request.getWaitForSync());
    assertFalse(inf.hasSynced());
    s.added("ns", "a", "1").added("ns", "b", "2");
    expect("add ns/a@1 initial", "add ns/b@2 initial");
    assertFalse(inf.hasSynced());
    s.synced("2");
    assertTrue(inf.waitForSync(Duration.ofSeconds(10)));
    s.modified("ns", "a", "3").deleted("ns", "b", "4").added("ns", "c", "5");
    expect("update ns/a@1->3", "delete ns/b@4", "add ns/c@5");
    assertEquals(List.of("ns/a", "ns/c"), inf.store().listKeys());
    assertEquals("3", inf.store().get("ns", "a").resourceVersion());
    assertEquals("a", inf.store().getByKey("ns/a").tree().path("metadata").path("name").asText());
    assertEquals(1, inf.stats().freshStarts());
  }

  @Test
  void fieldMaskAndWaitForSyncReachEverySubscription() throws Exception {
    start(Informer.builder().fields("metadata.labels", "data").waitForSync(true));
    FakeInformerd.Stream s = server.nextStream();
    assertEquals(List.of("metadata.labels", "data"), s.request.getFieldsList());
    assertTrue(s.request.getWaitForSync());
    s.added("ns", "a", "1").synced("1");
    expect("add ns/a@1 initial");
    s.end(Status.UNAVAILABLE, null);
    FakeInformerd.Stream again = server.nextStream();
    assertEquals(List.of("metadata.labels", "data"), again.request.getFieldsList());
    assertTrue(again.request.getWaitForSync());
  }

  @Test
  void dropsStatesTheStoreHoldsAndDeletionsOfUnknownKeys() throws Exception {
    Informer inf = start();
    FakeInformerd.Stream s = syncedWithTwo(inf);
    s.modified("ns", "a", "1")       // the state it holds
        .added("ns", "b", "1")       // older than the one it holds
        .deleted("ns", "zz", "6")    // never held
        .modified("ns", "a", "7");   // marker
    expectNothingBefore("update ns/a@1->7");
    assertEquals(2, inf.store().size());
  }

  @Test
  void handlerAddedLaterGetsTheStoreAsInitialListThenLiveEvents() throws Exception {
    Informer inf = start();
    FakeInformerd.Stream s = syncedWithTwo(inf);
    BlockingQueue<String> late = new LinkedBlockingQueue<>();
    Informer.Registration reg = inf.addEventHandler(new ResourceEventHandler() {
      @Override
      public void onAdd(KubeObject obj, boolean initial) {
        late.add(obj.key() + (initial ? " initial" : " live"));
      }
    });
    assertEquals("ns/a initial", late.poll(10, TimeUnit.SECONDS));
    assertEquals("ns/b initial", late.poll(10, TimeUnit.SECONDS));
    s.added("ns", "c", "3");
    assertEquals("ns/c live", late.poll(10, TimeUnit.SECONDS));
    assertTrue(reg.hasSynced());
  }

  @ParameterizedTest
  @EnumSource(names = {"UNAVAILABLE", "CANCELLED", "OUT_OF_RANGE", "INTERNAL"})
  void resumesWithKnownObjectsAfterOtherEnds(Status.Code code) throws Exception {
    Informer inf = start();
    FakeInformerd.Stream s = syncedWithTwo(inf);
    s.modified("ns", "a", "5");
    expect("update ns/a@1->5");
    s.end(Status.fromCode(code), "5");  // a trailer does not count after these
    FakeInformerd.Stream r = server.nextStream();
    assertEquals("", r.request.getResourceVersion());
    assertEquals(Map.of("ns/a", "5", "ns/b", "2"), r.request.getKnownObjectsMap());
    // The server sends only the difference: b deleted while away, c added.
    r.deletedUnknown("ns", "b", "2", "8").added("ns", "c", "7").synced("8");
    expect("delete-unknown ns/b@2", "add ns/c@7");  // live: the store was synced
    assertEquals(1, inf.stats().knownObjectsStarts());
    assertEquals(0, inf.stats().resourceVersionStarts());
  }

  @Test
  void resumesFromTheTrailerAfterResourceExhausted() throws Exception {
    Informer inf = start();
    FakeInformerd.Stream s = syncedWithTwo(inf);
    s.modified("ns", "a", "5");
    expect("update ns/a@1->5");
    s.end(Status.RESOURCE_EXHAUSTED.withDescription("too slow"), "9");
    SubscribeRequest r = server.nextStream().request;
    assertEquals("9", r.getResourceVersion());
    assertTrue(r.getKnownObjectsMap().isEmpty());
    assertEquals(1, inf.stats().resourceVersionStarts());
  }

  @Test
  void resourceExhaustedWithoutTrailerResumesWithKnownObjects() throws Exception {
    start();
    FakeInformerd.Stream s = server.nextStream();
    s.added("ns", "a", "1").synced("1");
    expect("add ns/a@1 initial");
    s.end(Status.RESOURCE_EXHAUSTED.withDescription("position left the history"), null);
    SubscribeRequest r = server.nextStream().request;
    assertEquals("", r.getResourceVersion());
    assertEquals(Map.of("ns/a", "1"), r.getKnownObjectsMap());
  }

  @ParameterizedTest
  @EnumSource(names = {"UNAUTHENTICATED", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED"})
  void resumesFromTheLastPositionWhenTheTrailerIsAbsent(Status.Code code) throws Exception {
    Informer inf = start();
    FakeInformerd.Stream s = syncedWithTwo(inf);
    s.bookmark("11");
    // A bookmark calls no handler: wait for a marker behind it.
    s.added("ns", "c", "12");
    expect("add ns/c@12");
    if (code == Status.Code.RESOURCE_EXHAUSTED) {
      s.end(Status.fromCode(code), "12");
    } else {
      s.end(Status.fromCode(code), null);
    }
    SubscribeRequest r = server.nextStream().request;
    assertEquals("12", r.getResourceVersion());
    assertTrue(r.getKnownObjectsMap().isEmpty());
    assertEquals(1, inf.stats().resourceVersionStarts());
  }

  @Test
  void unauthenticatedRereadsTheTokenFileAndResumesByVersion(@TempDir Path dir) throws Exception {
    Path token = dir.resolve("token");
    Files.writeString(token, "first\n");
    ManagedChannel channel = server.channel();
    closers.add(channel::shutdownNow);
    Informer inf = new Informer(Client.forChannels(List.of(channel), token), "configmaps",
        Informer.builder().initialBackoff(Duration.ofMillis(10)).onError(s -> { }));
    inf.addEventHandler(recorder);
    inf.start();
    closers.add(inf);
    FakeInformerd.Stream s = syncedWithTwo(inf);
    // The kubelet rotated the token; the server revoked the old one. The refresh period (30 s)
    // has not passed: the rejection itself must make the client read the file again.
    Files.writeString(token, "second\n");
    s.end(Status.UNAUTHENTICATED.withDescription("token expired"), "2");
    FakeInformerd.Stream r = server.nextStream();
    assertEquals("2", r.request.getResourceVersion());
    assertEquals(List.of("Bearer first", "Bearer second"), server.authorizations);
  }

  @Test
  void aTokenIsNeverSentInPlaintextOverTcp() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> Client.connect(List.of("127.0.0.1:1"), new Client.Options("", "/dev/null",
            Duration.ofSeconds(1))));
    assertTrue(e.getMessage().contains("only over TLS"), e.getMessage());
  }

  @Test
  void endBeforeSyncedNeverResumesByVersion() throws Exception {
    start();
    FakeInformerd.Stream s = server.nextStream();
    s.added("ns", "a", "1");
    expect("add ns/a@1 initial");
    s.end(Status.RESOURCE_EXHAUSTED, "1");
    SubscribeRequest r = server.nextStream().request;
    assertEquals("", r.getResourceVersion());
    assertEquals(Map.of("ns/a", "1"), r.getKnownObjectsMap());
  }

  @Test
  void watchdogResumesAfterTwoSilentBookmarkIntervals() throws Exception {
    server.bookmarkIntervalMs = "100";
    Informer inf = start(Informer.builder().watchdogFallback(Duration.ofSeconds(60)));
    FakeInformerd.Stream s = syncedWithTwo(inf);
    long silentSince = System.nanoTime();
    FakeInformerd.Stream r = server.nextStream();  // nothing more sent on s
    long waitedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - silentSince);
    assertTrue(waitedMs >= 150, "resumed after only " + waitedMs + " ms");
    assertTrue(s.cancelled());
    assertEquals(Map.of("ns/a", "1", "ns/b", "2"), r.request.getKnownObjectsMap());
    assertEquals(1, inf.stats().watchdogTimeouts());
  }

  @Test
  void watchdogKeepsAStreamThatReceivesBookmarks() throws Exception {
    server.bookmarkIntervalMs = "300";
    Informer inf = start();
    FakeInformerd.Stream s = syncedWithTwo(inf);
    for (int i = 0; i < 16; i++) {
      s.bookmark(String.valueOf(3 + i));
      Thread.sleep(50);  // the server's pace: 800 ms in all, each gap far below the 600 ms limit
    }
    assertNull(server.streams.poll(0, TimeUnit.SECONDS));
    assertFalse(s.cancelled());
    assertEquals(0, inf.stats().watchdogTimeouts());
  }

  @Test
  void watchdogFallsBackWhenNoIntervalIsAnnounced() throws Exception {
    Informer inf = start(Informer.builder().watchdogFallback(Duration.ofMillis(300)));
    syncedWithTwo(inf);
    FakeInformerd.Stream r = server.nextStream();
    assertEquals(2, r.request.getKnownObjectsCount());
    assertEquals(1, inf.stats().watchdogTimeouts());
  }

  @Test
  void failsOverToTheNextAddressWhenTheStreamIsLost() throws Exception {
    FakeInformerd other = new FakeInformerd();
    closers.add(other);
    Informer inf = start(Informer.builder(), server, other);
    FakeInformerd.Stream s = syncedWithTwo(inf);
    s.end(Status.UNAVAILABLE, null);
    FakeInformerd.Stream r = other.nextStream();
    assertEquals(Map.of("ns/a", "1", "ns/b", "2"), r.request.getKnownObjectsMap());
    r.modified("ns", "a", "4").synced("4");
    expect("update ns/a@1->4");
    assertEquals(1, inf.stats().failovers());
    // And back to the first when the second goes.
    r.end(Status.CANCELLED.withDescription("shutting down"), null);
    assertEquals(Map.of("ns/a", "4", "ns/b", "2"), server.nextStream().request.getKnownObjectsMap());
  }

  @Test
  void staysOnTheAddressWhenResumingByVersion() throws Exception {
    FakeInformerd other = new FakeInformerd();
    closers.add(other);
    Informer inf = start(Informer.builder(), server, other);
    FakeInformerd.Stream s = syncedWithTwo(inf);
    s.end(Status.RESOURCE_EXHAUSTED, "2");
    assertEquals("2", server.nextStream().request.getResourceVersion());
    assertTrue(other.streams.isEmpty());
    assertEquals(0, inf.stats().failovers());
  }

  @Test
  void backoffDoublesWhileStreamsFailAndResetsOnceEventsFlow() throws Exception {
    // Built directly: start() sets a 10 ms backoff.
    Informer inf = new Informer(client(server), "configmaps", Informer.builder()
        .initialBackoff(Duration.ofMillis(40)).maxBackoff(Duration.ofSeconds(5)).onError(x -> { }));
    closers.add(inf);
    inf.start();
    long[] gaps = new long[4];
    server.nextStream().end(Status.UNAVAILABLE, null);
    long last = System.nanoTime();
    for (int i = 0; i < gaps.length; i++) {
      FakeInformerd.Stream s = server.nextStream();
      long now = System.nanoTime();
      gaps[i] = TimeUnit.NANOSECONDS.toMillis(now - last);
      if (i < gaps.length - 1) s.end(Status.UNAVAILABLE, null);
      else s.synced("1").end(Status.UNAVAILABLE, null);  // this one progressed
      last = System.nanoTime();
    }
    for (int i = 0; i < gaps.length; i++) {
      long min = (long) (0.8 * 40 * (1L << i)) - 2;
      assertTrue(gaps[i] >= min, "gap " + i + " = " + gaps[i] + " ms, want >= " + min);
    }
    server.nextStream();
    long reset = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - last);
    // Back to 40 ms (±20 %) instead of 640 ms; generous for a loaded machine.
    assertTrue(reset < 400, "after progress the delay was " + reset + " ms");
  }
}
