// Process measurements and result lines shared by the C++ benchmark programs.
#ifndef BENCH_BENCH_UTIL_H_
#define BENCH_BENCH_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace bench {

// User + system CPU seconds this process has used (getrusage).
double CpuSeconds();

// Resident set size of this process in bytes (VmRSS of /proc/self/status); 0 if unreadable.
int64_t RssBytes();

// Returns freed heap memory to the OS (malloc_trim), the C++ counterpart of Go's
// debug.FreeOSMemory, so that "settled" RSS means the same on both sides.
void ReleaseFreeMemory();

// One result as a JSON object on one line, the format scripts/bench collects. Keys are written
// in the order added.
class JsonLine {
 public:
  JsonLine& Add(absl::string_view key, absl::string_view value);
  JsonLine& Add(absl::string_view key, const char* value) {
    return Add(key, absl::string_view(value));
  }
  JsonLine& Add(absl::string_view key, double value);
  JsonLine& Add(absl::string_view key, int64_t value);
  JsonLine& Add(absl::string_view key, uint64_t value) {
    return Add(key, static_cast<int64_t>(value));
  }
  JsonLine& Add(absl::string_view key, int value) { return Add(key, static_cast<int64_t>(value)); }
  JsonLine& Add(absl::string_view key, bool value);
  // Adds `json` verbatim: it must be a valid JSON value.
  JsonLine& AddRaw(absl::string_view key, absl::string_view json);
  // `{...}` without a newline.
  std::string ToString() const;
  // Writes the line to stdout and flushes, so a driver reading a pipe sees it at once.
  void Print() const;

 private:
  std::string body_;
};

// {"n":..,"p50_ms":..,"p90_ms":..,"p99_ms":..,"max_ms":..} of `samples` (sorted in place).
std::string LatencyJson(std::vector<absl::Duration>* samples);

}  // namespace bench

#endif  // BENCH_BENCH_UTIL_H_
