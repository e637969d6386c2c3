package informer

import (
	"sync"
	"testing"
	"time"
)

func TestQueueDeduplicatesByKey(t *testing.T) {
	q := NewRateLimitingQueue[string](DefaultControllerRateLimiter[string]())
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if q.Len() != 2 {
		t.Fatalf("Len = %d, want 2", q.Len())
	}
	if got, _ := q.Get(); got != "a" {
		t.Fatalf("first = %q, want a (FIFO)", got)
	}
}

func TestItemAddedWhileProcessingIsQueuedAgainOnlyAfterDone(t *testing.T) {
	q := NewRateLimitingQueue[string](DefaultControllerRateLimiter[string]())
	q.Add("a")
	item, _ := q.Get()
	q.Add("a")
	q.Add("a")
	if q.Len() != 0 {
		t.Fatalf("a is handed to a second worker while processing: Len = %d", q.Len())
	}
	q.Done(item)
	if q.Len() != 1 {
		t.Fatalf("after Done, Len = %d, want 1", q.Len())
	}
	q.Get()
	q.Done("a")
	if q.Len() != 0 {
		t.Fatalf("processed twice: Len = %d", q.Len())
	}
}

func TestAddAfterQueuesOnceTheDelayPassedAndEarliestWins(t *testing.T) {
	q := NewRateLimitingQueue[string](DefaultControllerRateLimiter[string]())
	start := time.Now()
	q.AddAfter("a", time.Hour)
	q.AddAfter("a", 20*time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("queued before its delay")
	}
	got, _ := q.Get()
	if got != "a" || time.Since(start) < 15*time.Millisecond {
		t.Fatalf("Get = %q after %v", got, time.Since(start))
	}
	q.Done("a")
	time.Sleep(30 * time.Millisecond)
	if q.Len() != 0 {
		t.Fatal("the superseded delay queued the item again")
	}
}

func TestRateLimitedRetriesGrowExponentiallyUntilForgotten(t *testing.T) {
	rl := NewItemExponentialFailureRateLimiter[string](time.Millisecond, 8*time.Millisecond)
	var got []time.Duration
	for i := 0; i < 5; i++ {
		got = append(got, rl.When("a"))
	}
	want := []time.Duration{1, 2, 4, 8, 8}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays = %v, want %v ms", got, want)
		}
	}
	if rl.NumRequeues("a") != 5 || rl.When("b") != time.Millisecond {
		t.Fatal("failures are not per item")
	}
	rl.Forget("a")
	if rl.NumRequeues("a") != 0 || rl.When("a") != time.Millisecond {
		t.Fatal("Forget did not reset")
	}
}

func TestQueueAddRateLimitedCountsRequeues(t *testing.T) {
	q := NewRateLimitingQueue[string](NewItemExponentialFailureRateLimiter[string](time.Millisecond, time.Second))
	q.AddRateLimited("a")
	q.AddRateLimited("a")
	if q.NumRequeues("a") != 2 {
		t.Fatalf("NumRequeues = %d", q.NumRequeues("a"))
	}
	got, _ := q.Get()
	q.Done(got)
	q.Forget(got)
	if q.NumRequeues("a") != 0 {
		t.Fatal("Forget")
	}
}

func TestShutDownReleasesBlockedWorkersAfterDraining(t *testing.T) {
	q := NewRateLimitingQueue[string](DefaultControllerRateLimiter[string]())
	q.Add("a")
	q.AddAfter("late", time.Millisecond)
	q.ShutDown()
	if item, shutdown := q.Get(); item != "a" || shutdown {
		t.Fatalf("queued item lost on shutdown: %q %v", item, shutdown)
	}
	var wg sync.WaitGroup
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, shutdown := q.Get(); !shutdown {
				t.Error("Get after shutdown handed out an item")
			}
		}()
	}
	wg.Wait()
	q.Add("b")
	if q.Len() != 0 || !q.ShuttingDown() {
		t.Fatal("Add after ShutDown queued")
	}
}
