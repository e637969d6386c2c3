#include "informer/backoff.h"

#include <algorithm>

namespace informer {

Backoff::Backoff(BackoffOptions options, Clock* clock, uint64_t seed)
    : options_(options), clock_(clock), rng_(seed), current_(options.initial) {}

absl::Duration Backoff::NextDelay() {
  const absl::Time now = clock_->Now();
  if (now > next_reset_) {
    next_reset_ = now + options_.reset_after;
    current_ = options_.initial;
  }
  absl::Duration delay = current_;
  current_ = std::min(current_ * options_.factor, options_.max);
  if (options_.jitter > 0) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    delay *= 1.0 + options_.jitter * unit(rng_);
  }
  return delay;
}

void Backoff::Reset() {
  current_ = options_.initial;
  next_reset_ = absl::InfinitePast();
}

}  // namespace informer
