#include "bench/bench_util.h"

#include <malloc.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"

namespace bench {
namespace {

double Seconds(const timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

std::string Quote(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

double CpuSeconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return Seconds(usage.ru_utime) + Seconds(usage.ru_stime);
}

int64_t RssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, "VmRSS:")) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, "kB");
    int64_t kb = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &kb)) return kb * 1024;
  }
  return 0;
}

void ReleaseFreeMemory() { malloc_trim(0); }

JsonLine& JsonLine::Add(absl::string_view key, absl::string_view value) {
  return AddRaw(key, Quote(value));
}

JsonLine& JsonLine::Add(absl::string_view key, double value) {
  return AddRaw(key, absl::StrFormat("%.6g", value));
}

JsonLine& JsonLine::Add(absl::string_view key, int64_t value) {
  return AddRaw(key, absl::StrCat(value));
}

JsonLine& JsonLine::Add(absl::string_view key, bool value) {
  return AddRaw(key, value ? "true" : "false");
}

JsonLine& JsonLine::AddRaw(absl::string_view key, absl::string_view json) {
  absl::StrAppend(&body_, body_.empty() ? "" : ",", Quote(key), ":", json);
  return *this;
}

std::string JsonLine::ToString() const { return absl::StrCat("{", body_, "}"); }

void JsonLine::Print() const {
  std::string line = ToString() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

std::string LatencyJson(std::vector<absl::Duration>* samples) {
  if (samples->empty()) return "{\"n\":0}";
  std::sort(samples->begin(), samples->end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(samples->size() - 1));
    return absl::ToDoubleMilliseconds((*samples)[i]);
  };
  return absl::StrFormat(R"({"n":%d,"p50_ms":%.4f,"p90_ms":%.4f,"p99_ms":%.4f,"max_ms":%.4f})",
                         samples->size(), at(0.5), at(0.9), at(0.99), at(1.0));
}

}  // namespace bench
