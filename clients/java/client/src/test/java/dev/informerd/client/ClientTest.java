package dev.informerd.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import informer.v1.Informer.ByIndexRequest;
import informer.v1.Informer.ByIndexResponse;
import informer.v1.Informer.GetRequest;
import informer.v1.Informer.GetResponse;
import informer.v1.Informer.ListRequest;
import informer.v1.Informer.ListResponse;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** List/ByIndex paging and restarts against a scripted in-process informerd. */
class ClientTest {
  private FakeInformerd server;
  private ManagedChannel channel;
  private Client client;

  @BeforeEach
  void setUp() throws Exception {
    server = new FakeInformerd();
    channel = server.channel();
    client = Client.forChannels(List.of(channel));
  }

  @AfterEach
  void tearDown() throws Exception {
    channel.shutdownNow();
    server.close();
  }

  private static ListResponse page(String token, String... names) {
    ListResponse.Builder b = ListResponse.newBuilder().setResourceVersion("10")
        .setNextPageToken(token);
    for (String n : names) b.addObjects(FakeInformerd.obj("ns", n, "1"));
    return b.build();
  }

  private static List<String> names(List<KubeObject> objs) {
    return objs.stream().map(KubeObject::name).toList();
  }

  @Test
  void listReadsEveryPageWithTheOptions() {
    server.list = req -> req.getPageToken().isEmpty() ? page("p2", "a", "b") : page("", "c");
    Client.ObjectList out = client.list("configmaps",
        Client.ListOptions.inNamespace("ns").withLabelSelector("app=demo").withLimit(2)
            .withMinResourceVersion("9"));
    assertEquals(List.of("a", "b", "c"), names(out.items()));
    assertEquals("10", out.resourceVersion());
    ListRequest first = server.listRequests.get(0);
    assertEquals("ns", first.getNamespace());
    assertEquals("app=demo", first.getLabelSelector());
    assertEquals(2, first.getLimit());
    assertEquals("9", first.getMinResourceVersion());
    assertEquals("p2", server.listRequests.get(1).getPageToken());
  }

  @Test
  void listRestartsWithoutTokenWhenTheSnapshotExpired() {
    AtomicInteger aborted = new AtomicInteger();
    server.list = req -> {
      if (req.getPageToken().isEmpty()) return page("p2", "a");
      if (aborted.getAndIncrement() == 0) throw Status.ABORTED.asRuntimeException();
      return page("", "b");
    };
    assertEquals(List.of("a", "b"), names(client.list("configmaps", Client.ListOptions.all()).items()));
    assertEquals(4, server.listRequests.size());
    assertEquals("", server.listRequests.get(2).getPageToken());
  }

  @Test
  void listGivesUpAfterThreeRestarts() {
    server.list = req -> {
      if (req.getPageToken().isEmpty()) return page("p2", "a");
      throw Status.ABORTED.asRuntimeException();
    };
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> client.list("configmaps", Client.ListOptions.all()));
    assertEquals(Status.Code.ABORTED, e.getStatus().getCode());
    assertEquals(2 * (Client.MAX_LIST_RESTARTS + 1), server.listRequests.size());
  }

  @Test
  void byIndexReadsEveryPage() {
    server.byIndex = req -> {
      assertEquals("namespace", req.getIndexName());
      assertEquals("ns", req.getValue());
      ByIndexResponse.Builder b = ByIndexResponse.newBuilder();
      if (req.getPageToken().isEmpty()) {
        b.addObjects(FakeInformerd.obj("ns", "a", "1")).setNextPageToken("x");
      } else {
        b.addObjects(FakeInformerd.obj("ns", "b", "2"));
      }
      return b.build();
    };
    assertEquals(List.of("a", "b"),
        names(client.byIndex("configmaps", "namespace", "ns", Client.ListOptions.all())));
  }

  @Test
  void errorsKeepInformerdsCode() {
    server.list = req -> {
      throw Status.NOT_FOUND.withDescription("unknown resource").asRuntimeException();
    };
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
        () -> client.list("widgets", Client.ListOptions.all()));
    assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
  }

  @Test
  void fieldMaskAndWaitForSyncReachEveryRead() {
    server.list = req -> page("", "a");
    List<ByIndexRequest> byIndexRequests = new ArrayList<>();
    server.byIndex = req -> {
      byIndexRequests.add(req);
      return ByIndexResponse.getDefaultInstance();
    };
    List<GetRequest> getRequests = new ArrayList<>();
    server.get = req -> {
      getRequests.add(req);
      return GetResponse.newBuilder().setObject(FakeInformerd.obj("ns", "a", "1")).build();
    };
    Client.ListOptions masked =
        Client.ListOptions.inNamespace("ns").withFields("data.v", "metadata.labels")
            .withWaitForSync(true);
    client.list("configmaps", masked);
    client.list("configmaps", Client.ListOptions.all());
    client.byIndex("configmaps", "namespace", "ns", masked);
    client.get("configmaps", "ns", "a",
        Client.GetOptions.defaults().withFields("data.v").withWaitForSync(true));
    client.get("configmaps", "ns", "a", "");

    ListRequest first = server.listRequests.get(0);
    assertEquals(List.of("data.v", "metadata.labels"), first.getFieldsList());
    assertEquals(true, first.getWaitForSync());
    ListRequest plain = server.listRequests.get(1);
    assertEquals(List.of(), plain.getFieldsList());
    assertEquals(false, plain.getWaitForSync());
    assertEquals(List.of("data.v", "metadata.labels"), byIndexRequests.get(0).getFieldsList());
    assertEquals(true, byIndexRequests.get(0).getWaitForSync());
    assertEquals(List.of("data.v"), getRequests.get(0).getFieldsList());
    assertEquals(true, getRequests.get(0).getWaitForSync());
    assertEquals(false, getRequests.get(1).getWaitForSync());
  }
}
