package dev.informerd.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The work queue's client-go semantics. */
class RateLimitingQueueTest {
  @Test
  void deduplicatesItemsQueuedBeforeAWorkerTakesThem() throws Exception {
    try (RateLimitingQueue<String> q = new RateLimitingQueue<>()) {
      q.add("a");
      q.add("b");
      q.add("a");
      assertEquals(2, q.len());
      assertEquals("a", q.get());
      assertEquals("b", q.get());
    }
  }

  @Test
  void anItemAddedWhileProcessedIsQueuedAgainOnlyAtDone() throws Exception {
    try (RateLimitingQueue<String> q = new RateLimitingQueue<>()) {
      q.add("a");
      String item = q.get();
      q.add("a");
      assertEquals(0, q.len());  // not handed to a second worker
      q.done(item);
      assertEquals(1, q.len());
      assertEquals("a", q.get());
    }
  }

  @Test
  void rateLimitedDelaysGrowPerItemUntilForgotten() throws Exception {
    try (RateLimitingQueue<String> q =
        new RateLimitingQueue<>(Duration.ofMillis(5), Duration.ofSeconds(1), 1000, 1000)) {
      assertEquals(Duration.ofMillis(5), q.when("a"));
      assertEquals(Duration.ofMillis(10), q.when("a"));
      assertEquals(Duration.ofMillis(20), q.when("a"));
      assertEquals(Duration.ofMillis(5), q.when("b"));
      assertEquals(3, q.numRequeues("a"));
      q.forget("a");
      assertEquals(0, q.numRequeues("a"));
      assertEquals(Duration.ofMillis(5), q.when("a"));
      for (int i = 0; i < 20; i++) q.when("c");
      assertEquals(Duration.ofSeconds(1), q.when("c"));  // capped
    }
  }

  @Test
  void theTokenBucketDelaysPastTheBurst() throws Exception {
    try (RateLimitingQueue<String> q =
        new RateLimitingQueue<>(Duration.ofMillis(1), Duration.ofMillis(1), 10, 2)) {
      q.when("a");
      q.when("b");
      Duration third = q.when("c");  // one token short at 10 per second: ~100 ms
      assertTrue(third.toMillis() > 50 && third.toMillis() <= 100, "delay " + third);
    }
  }

  @Test
  void addRateLimitedQueuesTheItemAfterItsDelay() throws Exception {
    try (RateLimitingQueue<String> q =
        new RateLimitingQueue<>(Duration.ofMillis(50), Duration.ofSeconds(1), 1000, 1000)) {
      long start = System.nanoTime();
      q.addRateLimited("a");
      assertEquals(0, q.len());
      assertEquals("a", q.get());
      assertTrue(System.nanoTime() - start >= Duration.ofMillis(50).toNanos());
    }
  }

  @Test
  void shutDownDrainsThenEnds() throws Exception {
    RateLimitingQueue<String> q = new RateLimitingQueue<>();
    q.add("a");
    q.shutDown();
    q.add("b");  // ignored
    assertEquals("a", q.get());
    assertThrows(RateLimitingQueue.ShutDownException.class, q::get);
  }
}
