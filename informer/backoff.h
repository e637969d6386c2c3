// Exponential backoff with jitter for the reflector's retries (R5).
#ifndef INFORMER_BACKOFF_H_
#define INFORMER_BACKOFF_H_

#include <cstdint>
#include <random>

#include "absl/time/time.h"
#include "informer/clock.h"
#include "informer/reflector_options.h"

namespace informer {

// Computes the delay before each retry as client-go's reflector does (R15, BackoffOptions):
// `initial`, growing by `factor` per call up to `max`, times 1 + jitter * rand[0,1) (after the
// cap, so delays at the cap fall in [max, 2 max)); the sequence starts again at `initial`
// every `reset_after`, counted from its last restart (wait.Backoff.DelayWithReset).
//
// Thread-safety: not thread-safe; one retry loop owns it.
class Backoff {
 public:
  // `clock` must outlive the Backoff. `seed` makes the jitter reproducible in tests.
  Backoff(BackoffOptions options, Clock* clock, uint64_t seed);

  // The delay to wait before the next attempt; each call advances the sequence.
  absl::Duration NextDelay();

  // Starts the sequence again at `initial`.
  void Reset();

 private:
  BackoffOptions options_;
  Clock* clock_;
  std::mt19937_64 rng_;
  absl::Duration current_;  // the un-jittered delay the next call starts from
  absl::Time next_reset_ = absl::InfinitePast();
};

}  // namespace informer

#endif  // INFORMER_BACKOFF_H_
