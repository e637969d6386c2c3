package dev.informerd.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The example controller: summary format, and against informerd and the API server. */
class ConfigMapSummaryTest {
  @Test
  void summaryListsSortedKeys() {
    ConfigMap cm = new ConfigMapBuilder().addToData("b", "").addToData("a", "")
        .addToBinaryData("c", "").build();
    assertEquals("3 keys: a,b,c", ConfigMapSummary.summary(cm));
    assertEquals("0 keys", ConfigMapSummary.summary(new ConfigMap()));
  }

  @Test
  void controllerAnnotatesLabelledConfigMaps() throws Exception {
    String addr = System.getenv("INFORMERD_TEST_ADDR");
    String kubeconfig = System.getenv("INFORMERD_TEST_KUBECONFIG");
    assumeTrue(addr != null && !addr.isEmpty() && kubeconfig != null && !kubeconfig.isEmpty(),
        "set INFORMERD_TEST_ADDR and INFORMERD_TEST_KUBECONFIG to run the end-to-end tests");
    String ns = "java-example-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);
    try (KubernetesClient kube = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(
        Files.readString(Path.of(kubeconfig), StandardCharsets.UTF_8))).build()) {
      kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(ns)
          .endMetadata().build()).create();
      CountDownLatch stop = new CountDownLatch(1);
      AtomicReference<Throwable> failed = new AtomicReference<>();
      ConfigMapSummary ctrl = new ConfigMapSummary(List.of(addr), kubeconfig, ns, "app=demo", "",
          "");
      Thread t = new Thread(() -> {
        try {
          ctrl.run(stop, 2);
        } catch (Throwable e) {
          failed.set(e);
        }
      });
      t.start();
      try {
        create(kube, ns, "plain", Map.of(), Map.of("x", "1"));
        create(kube, ns, "demo-1", Map.of("app", "demo"), Map.of("b", "1", "a", "2"));
        waitFor(kube, ns, "demo-1", "2 keys: a,b");
        kube.configMaps().inNamespace(ns).withName("demo-1")
            .edit(cm -> new ConfigMapBuilder(cm).addToData("c", "3").build());
        waitFor(kube, ns, "demo-1", "3 keys: a,b,c");
        create(kube, ns, "demo-2", Map.of("app", "demo"), Map.of());
        waitFor(kube, ns, "demo-2", "0 keys");
        assertEquals("", annotation(kube, ns, "plain"));
      } finally {
        stop.countDown();
        t.join(10_000);
        ctrl.close();
        kube.namespaces().withName(ns).delete();
      }
      assertFalse(t.isAlive());
      assertEquals(null, failed.get());
    }
  }

  private static void create(KubernetesClient kube, String ns, String name,
      Map<String, String> labels, Map<String, String> data) {
    kube.configMaps().inNamespace(ns).resource(new ConfigMapBuilder().withNewMetadata()
        .withName(name).withLabels(labels).endMetadata().withData(data).build()).create();
  }

  private static String annotation(KubernetesClient kube, String ns, String name) {
    ConfigMap cm = kube.configMaps().inNamespace(ns).withName(name).get();
    Map<String, String> a = cm.getMetadata().getAnnotations();
    return a == null ? "" : a.getOrDefault(ConfigMapSummary.SUMMARY_ANNOTATION, "");
  }

  private static void waitFor(KubernetesClient kube, String ns, String name, String want)
      throws InterruptedException {
    long deadline = System.nanoTime() + 30_000_000_000L;
    String got;
    while (!(got = annotation(kube, ns, name)).equals(want)) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(name + ": '" + got + "', want '" + want + "'");
      }
      Thread.sleep(20);
    }
  }
}
