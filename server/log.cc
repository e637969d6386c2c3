#include "server/log.h"

#include <atomic>
#include <cstdio>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "informer/logging.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace server {
namespace {

std::atomic<int> min_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<bool> json_lines{true};
absl::Mutex write_mu;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

// `text` quoted when it holds spaces, quotes or '=' (logfmt).
std::string TextValue(absl::string_view text) {
  if (!text.empty() && text.find_first_of(" \"=\t\n") == absl::string_view::npos) {
    return std::string(text);
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace

std::string FormatLogLine(LogLevel level, absl::string_view message,
                          absl::Span<const LogField> fields, bool json) {
  const std::string ts = absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone());
  if (!json) {
    std::string line = absl::StrCat(ts, " ", LevelName(level), " ", message);
    for (const LogField& field : fields) {
      absl::StrAppend(&line, " ", field.first, "=", TextValue(field.second));
    }
    return line;
  }
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  writer.StartObject();
  writer.Key("ts");
  writer.String(ts);
  writer.Key("level");
  writer.String(LevelName(level));
  writer.Key("msg");
  writer.String(message.data(), static_cast<rapidjson::SizeType>(message.size()));
  for (const LogField& field : fields) {
    writer.Key(field.first.data(), static_cast<rapidjson::SizeType>(field.first.size()));
    writer.String(field.second);
  }
  writer.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::string FormatLogLine(LogLevel level, absl::string_view message,
                          std::initializer_list<LogField> fields, bool json) {
  return FormatLogLine(level, message, absl::Span<const LogField>(fields), json);
}

void Log(LogLevel level, absl::string_view message, std::initializer_list<LogField> fields) {
  Log(level, message, absl::Span<const LogField>(fields));
}

void Log(LogLevel level, absl::string_view message, absl::Span<const LogField> fields) {
  if (static_cast<int>(level) < min_level.load(std::memory_order_relaxed)) return;
  std::string line = FormatLogLine(level, message, fields, json_lines.load());
  line += '\n';
  absl::MutexLock lock(&write_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

void InstallCoreLogSink() {
  SetLogSink([](LogSeverity severity, absl::string_view message, const LogFields& fields) {
    std::vector<LogField> converted;
    converted.reserve(fields.size());
    for (const auto& [key, value] : fields) converted.emplace_back(key, value);
    LogLevel level = LogLevel::kInfo;
    switch (severity) {
      case LogSeverity::kDebug:
        level = LogLevel::kDebug;
        break;
      case LogSeverity::kInfo:
        level = LogLevel::kInfo;
        break;
      case LogSeverity::kWarning:
        level = LogLevel::kWarning;
        break;
      case LogSeverity::kError:
        level = LogLevel::kError;
        break;
    }
    Log(level, message, absl::Span<const LogField>(converted));
  });
}

void SetMinLogLevel(LogLevel level) { min_level.store(static_cast<int>(level)); }

void SetLogJson(bool json) { json_lines.store(json); }

}  // namespace server
}  // namespace informer
