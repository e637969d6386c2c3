package dev.informerd.client;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

/**
 * The end-to-end environment: INFORMERD_TEST_ADDR (an informerd caching configmaps),
 * INFORMERD_TEST_KUBECONFIG (its API server) and INFORMERD_TEST_BIN (the binary, for the restart
 * test). Tests skip when they are unset; tests/e2e/clients_e2e_test.sh sets them.
 */
final class E2eEnv implements AutoCloseable {
  final String addr = System.getenv("INFORMERD_TEST_ADDR");
  final String kubeconfig = System.getenv("INFORMERD_TEST_KUBECONFIG");
  final String bin = System.getenv("INFORMERD_TEST_BIN");
  final KubernetesClient kube;
  final String namespace;

  E2eEnv() throws IOException {
    assumeTrue(addr != null && !addr.isEmpty() && kubeconfig != null && !kubeconfig.isEmpty(),
        "set INFORMERD_TEST_ADDR and INFORMERD_TEST_KUBECONFIG to run the end-to-end tests");
    kube = new KubernetesClientBuilder().withConfig(Config.fromKubeconfig(
        Files.readString(Path.of(kubeconfig), StandardCharsets.UTF_8))).build();
    namespace = "java-e2e-" + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 16);
    kube.namespaces().resource(new NamespaceBuilder().withNewMetadata().withName(namespace)
        .endMetadata().build()).create();
  }

  ConfigMap create(String name, Map<String, String> labels) {
    return kube.configMaps().inNamespace(namespace).resource(new ConfigMapBuilder()
        .withNewMetadata().withName(name).withLabels(labels).endMetadata()
        .addToData("v", "0").build()).create();
  }

  ConfigMap update(String name, String v) {
    return kube.configMaps().inNamespace(namespace).withName(name)
        .edit(cm -> new ConfigMapBuilder(cm).addToData("v", v).build());
  }

  void delete(String name) {
    kube.configMaps().inNamespace(namespace).withName(name).delete();
  }

  /** key -> resourceVersion of every ConfigMap of the namespace, as the API server has them. */
  Map<String, String> truth() {
    Map<String, String> out = new HashMap<>();
    for (ConfigMap cm : kube.configMaps().inNamespace(namespace).list().getItems()) {
      out.put(namespace + "/" + cm.getMetadata().getName(), cm.getMetadata().getResourceVersion());
    }
    return out;
  }

  /** Waits up to 30 s for cond; fails with msg's text. */
  static void eventually(BooleanSupplier cond, Supplier<String> msg) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) throw new AssertionError("not within 30 s: " + msg.get());
      Thread.sleep(20);
    }
  }

  @Override
  public void close() {
    kube.namespaces().withName(namespace).delete();
    kube.close();
  }
}
