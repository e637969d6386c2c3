// Structured logs: one JSON object per line on stderr, e.g.
// {"ts":"2024-05-01T10:00:00.123Z","level":"info","msg":"synced","resource":"pods.v1"}.
#ifndef SERVER_LOG_H_
#define SERVER_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace informer {
namespace server {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// One key/value of a log line.
using LogField = std::pair<absl::string_view, std::string>;

// Writes one log line (thread-safe; lines never interleave). Lines below the minimum level are
// dropped.
void Log(LogLevel level, absl::string_view message, std::initializer_list<LogField> fields = {});
// The same with fields built at run time.
void Log(LogLevel level, absl::string_view message, absl::Span<const LogField> fields);

// Routes the core's log lines (informer/logging.h: the reflector's recoveries) to Log.
void InstallCoreLogSink();

// Lines below `level` are dropped; the default is kInfo.
void SetMinLogLevel(LogLevel level);

// Whether lines are JSON (the default) or `key=value` text for people at a terminal.
void SetLogJson(bool json);

// The line Log would write, without the trailing newline (for tests).
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields, bool json);
std::string FormatLogLine(LogLevel level, absl::string_view message,
                          absl::Span<const LogField> fields, bool json);

}  // namespace server
}  // namespace informer

#endif  // SERVER_LOG_H_
