// Tunables of the Reflector, with client-go's defaults.
#ifndef INFORMER_REFLECTOR_OPTIONS_H_
#define INFORMER_REFLECTOR_OPTIONS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace informer {

// Exponential backoff with jitter, as client-go's reflector (R5, R15): the n-th delay is
// d * (1 + jitter * rand[0,1)) with d = min(initial * factor^n, max), so delays at the cap fall
// in [max, 2 max); the sequence starts again at `initial` every `reset_after`, counted from
// the last restart.
struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(800);
  absl::Duration max = absl::Seconds(30);
  double factor = 2.0;
  double jitter = 1.0;
  absl::Duration reset_after = absl::Minutes(2);
};

struct ReflectorOptions {
  // LIST page size (limit); 0 = unpaged. client-go uses 500.
  int64_t page_size = 500;
  // Each WATCH asks the server to end it after a random time in [min, 2*min) (R2), with min
  // at least 5 minutes whatever is configured (R17).
  absl::Duration min_watch_timeout = absl::Minutes(5);
  BackoffOptions backoff;
  // List with a streaming list (WATCH with sendInitialEvents) first, falling back to LIST by
  // client-go's rules (R7, R16). On by default, as client-go's WatchListClient gate.
  bool use_streaming_list = true;
};

}  // namespace informer

#endif  // INFORMER_REFLECTOR_OPTIONS_H_
