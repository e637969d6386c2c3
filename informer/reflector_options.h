// Tunables of the Reflector, with client-go's defaults.
#ifndef INFORMER_REFLECTOR_OPTIONS_H_
#define INFORMER_REFLECTOR_OPTIONS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace informer {

// Exponential backoff with jitter (R5).
struct BackoffOptions {
  absl::Duration initial = absl::Milliseconds(800);
  absl::Duration max = absl::Seconds(30);
  double factor = 2.0;
  double jitter = 1.0;                            // delay *= 1 + jitter * rand[0,1)
  absl::Duration reset_after = absl::Minutes(2);  // healthy this long: back to `initial`
};

struct ReflectorOptions {
  // LIST page size (limit); 0 = unpaged. client-go uses 500.
  int64_t page_size = 500;
  // Each WATCH asks the server to end it after a random time in [min, 2*min] (R2).
  absl::Duration min_watch_timeout = absl::Minutes(5);
  BackoffOptions backoff;
  // Try a streaming list (sendInitialEvents) first, falling back to LIST when the server
  // refuses it (R7).
  bool use_streaming_list = false;
};

}  // namespace informer

#endif  // INFORMER_REFLECTOR_OPTIONS_H_
