// The core's log lines (recoveries: cut watches, 410s, relists, backoffs) go through one sink
// the embedding program installs; the core itself writes nothing.
#ifndef INFORMER_LOGGING_H_
#define INFORMER_LOGGING_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace informer {

enum class LogSeverity { kDebug, kInfo, kWarning, kError };

// Key/value pairs of one line, e.g. {"resource", "pods.v1"}, {"cause", "410 Gone"}.
using LogFields = std::vector<std::pair<std::string, std::string>>;

using LogSink =
    std::function<void(LogSeverity severity, absl::string_view message, const LogFields& fields)>;

// Installs `sink` for every later line (thread-safe); an empty sink drops lines (the default).
void SetLogSink(LogSink sink);

// Writes one line through the installed sink, if any. Thread-safe; must not be called with a
// lock held that the sink could need.
void LogLine(LogSeverity severity, absl::string_view message, const LogFields& fields);

}  // namespace informer

#endif  // INFORMER_LOGGING_H_
