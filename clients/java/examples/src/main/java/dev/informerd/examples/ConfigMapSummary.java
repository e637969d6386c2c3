package dev.informerd.examples;

import dev.informerd.client.Client;
import dev.informerd.client.Informer;
import dev.informerd.client.KubeObject;
import dev.informerd.client.RateLimitingQueue;
import dev.informerd.client.ResourceEventHandler;
import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.ConfigMapBuilder;
import io.fabric8.kubernetes.client.Config;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.KubernetesClientBuilder;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.logging.Logger;

/**
 * Example controller of informerd's Java client: follows the ConfigMaps labelled app=demo through
 * informerd and writes a summary of each one's data keys into its annotation
 * informerd.dev/summary, through the API server with the fabric8 kubernetes-client.
 *
 * <pre>
 * java -cp ... dev.informerd.examples.ConfigMapSummary --informerd 127.0.0.1:50051 \
 *     --kubeconfig ~/.kube/config [--namespace NS] [--selector app=demo]
 * </pre>
 *
 * --informerd takes a comma-separated list of replicas to fail over between.
 */
public final class ConfigMapSummary implements AutoCloseable {
  /** The annotation it writes. */
  public static final String SUMMARY_ANNOTATION = "informerd.dev/summary";

  private static final Logger LOG = Logger.getLogger("configmap-summary");

  private final Client informerd;
  private final KubernetesClient kube;
  private final Informer informer;
  private final RateLimitingQueue<String> queue = new RateLimitingQueue<>();

  /** The annotation value: the data and binaryData keys, sorted ("2 keys: a,b"; "0 keys"). */
  public static String summary(ConfigMap cm) {
    TreeSet<String> keys = new TreeSet<>();
    if (cm.getData() != null) keys.addAll(cm.getData().keySet());
    if (cm.getBinaryData() != null) keys.addAll(cm.getBinaryData().keySet());
    return keys.isEmpty() ? "0 keys" : keys.size() + " keys: " + String.join(",", keys);
  }

  /**
   * informer -> work queue of keys -> workers that patch the annotation when it differs. With
   * caFile set it talks TLS to informerd, sending the token in tokenFile (re-read as the kubelet
   * rotates it).
   */
  public ConfigMapSummary(List<String> informerdTargets, String kubeconfig, String namespace,
      String selector, String caFile, String tokenFile) throws IOException {
    informerd = Client.connect(informerdTargets, caFile.isEmpty() ? Client.Options.defaults()
        : Client.Options.tls(caFile, tokenFile));
    Config config = kubeconfig.isEmpty() ? Config.autoConfigure(null)
        : Config.fromKubeconfig(Files.readString(Path.of(kubeconfig), StandardCharsets.UTF_8));
    kube = new KubernetesClientBuilder().withConfig(config).build();
    informer = new Informer(informerd, "configmaps",
        Informer.builder().namespace(namespace).labelSelector(selector));
    informer.addEventHandler(new ResourceEventHandler() {
      @Override
      public void onAdd(KubeObject obj, boolean isInInitialList) {
        queue.add(obj.key());
      }

      @Override
      public void onUpdate(KubeObject oldObj, KubeObject newObj) {
        queue.add(newObj.key());
      }
    });
  }

  /** Runs until stop counts down. */
  public void run(CountDownLatch stop, int workers) throws InterruptedException {
    informer.start();
    while (!informer.waitForSync(Duration.ofMillis(100))) {
      if (stop.getCount() == 0) return;
    }
    LOG.info("synced " + informer.store().size() + " ConfigMaps");
    List<Thread> threads = new ArrayList<>();
    for (int i = 0; i < workers; i++) {
      Thread t = new Thread(this::work, "worker-" + i);
      t.start();
      threads.add(t);
    }
    stop.await();
    queue.shutDown();
    for (Thread t : threads) t.join();
  }

  private void work() {
    while (true) {
      String key;
      try {
        key = queue.get();
      } catch (RateLimitingQueue.ShutDownException | InterruptedException e) {
        return;
      }
      try {
        reconcile(key);
        queue.forget(key);
      } catch (RuntimeException e) {  // retry with backoff, as a controller does
        LOG.warning(key + ": " + e + " (retrying)");
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  }

  /** Writes the summary of the ConfigMap at key when its annotation differs. */
  void reconcile(String key) {
    KubeObject obj = informer.store().getByKey(key);
    if (obj == null) return;  // deleted: nothing to write
    ConfigMap cm = Serialization.unmarshal(obj.json(), ConfigMap.class);
    String want = summary(cm);
    Map<String, String> annotations = cm.getMetadata().getAnnotations();
    if (annotations != null && want.equals(annotations.get(SUMMARY_ANNOTATION))) return;
    // Only over the state we summarised (resourceVersion in the patch): a newer one gets its own
    // turn, and a conflict is retried with backoff.
    ConfigMap patch = new ConfigMapBuilder().withNewMetadata()
        .withName(obj.name()).withNamespace(obj.namespace())
        .withResourceVersion(obj.resourceVersion())
        .addToAnnotations(SUMMARY_ANNOTATION, want).endMetadata().build();
    kube.configMaps().inNamespace(obj.namespace()).withName(obj.name())
        .patch(io.fabric8.kubernetes.client.dsl.base.PatchContext.of(
            io.fabric8.kubernetes.client.dsl.base.PatchType.STRATEGIC_MERGE), patch);
  }

  @Override
  public void close() {
    queue.shutDown();
    informer.stop();
    informerd.close();
    kube.close();
  }

  private static String env(String name) {
    String v = System.getenv(name);
    return v == null ? "" : v;
  }

  /** Flags: --informerd, --kubeconfig, --namespace, --selector, --ca_file, --token_file. */
  public static void main(String[] args) throws Exception {
    String informerd = "127.0.0.1:50051";
    String kubeconfig = env("KUBECONFIG");
    if (kubeconfig.isEmpty()) kubeconfig = System.getProperty("user.home") + "/.kube/config";
    String namespace = "";
    String selector = "app=demo";
    String caFile = env("INFORMERD_CA_FILE");
    String tokenFile = env("INFORMERD_TOKEN_FILE");
    for (int i = 0; i < args.length; i++) {
      String a = args[i];
      String flag = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
      String value = a.contains("=") ? a.substring(a.indexOf('=') + 1)
          : (i + 1 < args.length ? args[++i] : "");
      switch (flag.replaceFirst("^--?", "")) {
        case "informerd" -> informerd = value;
        case "kubeconfig" -> kubeconfig = value;
        case "namespace" -> namespace = value;
        case "selector" -> selector = value;
        case "ca_file" -> caFile = value;
        case "token_file" -> tokenFile = value;
        default -> {
          System.err.println("unknown flag " + a + "; flags: --informerd HOST:PORT[,HOST:PORT...]"
              + " --kubeconfig FILE --namespace NS --selector SEL --ca_file FILE --token_file FILE");
          System.exit(2);
        }
      }
    }
    CountDownLatch stop = new CountDownLatch(1);
    Thread main = Thread.currentThread();
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      stop.countDown();  // SIGTERM, Ctrl-C: let main stop the workers and close the clients
      try {
        main.join(10_000);
      } catch (InterruptedException ignored) {
        // Exiting anyway.
      }
    }));
    try (ConfigMapSummary c = new ConfigMapSummary(List.of(informerd.split(",")), kubeconfig,
        namespace, selector, caFile, tokenFile)) {
      c.run(stop, 2);
    }
  }
}
