#include "informer/logging.h"

#include <memory>

#include "absl/synchronization/mutex.h"

namespace informer {
namespace {

absl::Mutex sink_mu(absl::kConstInit);
std::shared_ptr<const LogSink>& Sink() ABSL_EXCLUSIVE_LOCKS_REQUIRED(sink_mu) {
  static auto* sink = new std::shared_ptr<const LogSink>();
  return *sink;
}

}  // namespace

void SetLogSink(LogSink sink) {
  auto installed = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  absl::MutexLock lock(&sink_mu);
  Sink() = std::move(installed);
}

void LogLine(LogSeverity severity, absl::string_view message, const LogFields& fields) {
  std::shared_ptr<const LogSink> sink;
  {
    absl::MutexLock lock(&sink_mu);
    sink = Sink();
  }
  if (sink != nullptr) (*sink)(severity, message, fields);
}

}  // namespace informer
