#include "informer/backoff.h"

#include <algorithm>

namespace informer {

Backoff::Backoff(BackoffOptions options, Clock* clock, uint64_t seed)
    : options_(options), clock_(clock), rng_(seed), current_(options.initial) {}

absl::Duration Backoff::NextDelay() {
  const absl::Time now = clock_->Now();
  if (now - last_delay_at_ > options_.reset_after) current_ = options_.initial;
  last_delay_at_ = now;

  absl::Duration delay = current_;
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    delay *= 1.0 + options_.jitter * unit(rng_);
  }
  // The cap holds after jitter too, so a caller never waits longer than `max`.
  delay = std::min(delay, options_.max);
  current_ = std::min(current_ * options_.factor, options_.max);
  return delay;
}

void Backoff::Reset() {
  current_ = options_.initial;
  last_delay_at_ = absl::InfinitePast();
}

}  // namespace informer
