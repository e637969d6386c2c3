#include "informer/json_compression.h"

#include <zdict.h>
#include <zstd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "informer/logging.h"

namespace informer {
namespace {

// zstd's working state, one per thread and direction: made on a thread's first use, freed
// when the thread ends.
struct CompressContextDeleter {
  void operator()(ZSTD_CCtx* context) const { ZSTD_freeCCtx(context); }
};
struct DecompressContextDeleter {
  void operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }
};

ZSTD_CCtx* ThreadCompressContext() {
  thread_local std::unique_ptr<ZSTD_CCtx, CompressContextDeleter> context(ZSTD_createCCtx());
  return context.get();
}

ZSTD_DCtx* ThreadDecompressContext() {
  thread_local std::unique_ptr<ZSTD_DCtx, DecompressContextDeleter> context(ZSTD_createDCtx());
  return context.get();
}

}  // namespace

absl::StatusOr<std::shared_ptr<const JsonDictionary>> JsonDictionary::Train(
    absl::string_view samples, const std::vector<size_t>& sizes,
    const JsonCompressionOptions& options) {
  std::string dictionary(options.dictionary_bytes, '\0');
  const size_t size = ZDICT_trainFromBuffer(dictionary.data(), dictionary.size(), samples.data(),
                                            sizes.data(), static_cast<unsigned>(sizes.size()));
  if (ZDICT_isError(size)) {
    return absl::InvalidArgumentError(absl::StrCat("zstd could not train a dictionary on ",
                                                   sizes.size(), " samples of ", samples.size(),
                                                   " bytes: ", ZDICT_getErrorName(size)));
  }
  dictionary.resize(size);
  dictionary.shrink_to_fit();
  std::shared_ptr<JsonDictionary> trained(new JsonDictionary());
  trained->dictionary_ = std::move(dictionary);
  trained->compress_tables_ =
      ZSTD_createCDict(trained->dictionary_.data(), trained->dictionary_.size(), options.level);
  trained->decompress_tables_ =
      ZSTD_createDDict(trained->dictionary_.data(), trained->dictionary_.size());
  if (trained->compress_tables_ == nullptr || trained->decompress_tables_ == nullptr) {
    return absl::InternalError("zstd could not prepare the trained dictionary (out of memory?)");
  }
  trained->bytes_ = trained->dictionary_.capacity() + ZSTD_sizeof_CDict(trained->compress_tables_) +
                    ZSTD_sizeof_DDict(trained->decompress_tables_);
  size_t plain = 0;
  size_t compressed = 0;
  std::string out;
  for (size_t i = 0, offset = 0; i < sizes.size(); offset += sizes[i], ++i) {
    const absl::string_view sample = samples.substr(offset, sizes[i]);
    plain += sample.size();
    compressed += trained->Compress(sample, &out) ? out.size() : sample.size();
  }
  trained->sample_ratio_ = compressed == 0 ? 0 : static_cast<double>(plain) / compressed;
  return std::shared_ptr<const JsonDictionary>(std::move(trained));
}

JsonDictionary::~JsonDictionary() {
  ZSTD_freeCDict(compress_tables_);
  ZSTD_freeDDict(decompress_tables_);
}

bool JsonDictionary::Compress(absl::string_view json, std::string* out) const {
  out->resize(ZSTD_compressBound(json.size()));
  const size_t size = ZSTD_compress_usingCDict(ThreadCompressContext(), out->data(), out->size(),
                                               json.data(), json.size(), compress_tables_);
  if (ZSTD_isError(size) || size >= json.size()) return false;
  out->resize(size);
  return true;
}

absl::Status JsonDictionary::Decompress(absl::string_view compressed, size_t plain_size,
                                        char* out) const {
  const size_t size =
      ZSTD_decompress_usingDDict(ThreadDecompressContext(), out, plain_size, compressed.data(),
                                 compressed.size(), decompress_tables_);
  if (ZSTD_isError(size)) {
    return absl::InternalError(
        absl::StrCat("cached object's compressed JSON is damaged: ", ZSTD_getErrorName(size)));
  }
  if (size != plain_size) {
    return absl::InternalError(absl::StrCat("cached object's compressed JSON gave ", size,
                                            " bytes instead of ", plain_size));
  }
  return absl::OkStatus();
}

JsonCompressor::JsonCompressor(JsonCompressionOptions options, std::string resource)
    : options_(std::move(options)), resource_(std::move(resource)) {
  absl::MutexLock lock(&mu_);
  if (!options_.enabled) {
    stats_.state = JsonCompressionStats::State::kOff;
    stats_.detail = "turned off";
    state_.store(stats_.state, std::memory_order_release);
  }
}

std::shared_ptr<const JsonDictionary> JsonCompressor::DictionaryFor(absl::string_view json) {
  if (json.size() < options_.min_object_bytes) return nullptr;
  switch (state_.load(std::memory_order_acquire)) {
    case JsonCompressionStats::State::kTrained:
      return trained_dictionary_;
    case JsonCompressionStats::State::kOff:
      return nullptr;
    case JsonCompressionStats::State::kSampling:
      break;
  }
  absl::MutexLock lock(&mu_);
  // Another thread trained (or gave up) while this one waited for the lock.
  if (stats_.state == JsonCompressionStats::State::kTrained) return trained_dictionary_;
  if (stats_.state == JsonCompressionStats::State::kOff) return nullptr;
  if (json.size() > options_.max_sample_object_bytes) return nullptr;
  samples_.append(json.data(), json.size());
  sample_sizes_.push_back(json.size());
  if (sample_sizes_.size() >= options_.training_objects ||
      samples_.size() >= options_.max_sample_bytes) {
    TrainLocked();
  }
  return nullptr;
}

void JsonCompressor::TrainLocked() {
  absl::StatusOr<std::shared_ptr<const JsonDictionary>> dictionary =
      JsonDictionary::Train(samples_, sample_sizes_, options_);
  const size_t sampled = sample_sizes_.size();
  const size_t sampled_bytes = samples_.size();
  samples_ = std::string();
  sample_sizes_ = std::vector<size_t>();
  if (!dictionary.ok()) {
    stats_.state = JsonCompressionStats::State::kOff;
    stats_.detail = std::string(dictionary.status().message());
  } else if ((*dictionary)->sample_ratio() < options_.min_ratio) {
    stats_.state = JsonCompressionStats::State::kOff;
    stats_.sample_ratio = (*dictionary)->sample_ratio();
    stats_.detail = absl::StrFormat(
        "the samples compress %.2fx, under the %.2fx that pays for the CPU: objects stay plain",
        stats_.sample_ratio, options_.min_ratio);
  } else {
    stats_.state = JsonCompressionStats::State::kTrained;
    stats_.sample_ratio = (*dictionary)->sample_ratio();
    stats_.dictionary_bytes = (*dictionary)->bytes();
    trained_dictionary_ = *std::move(dictionary);
  }
  state_.store(stats_.state, std::memory_order_release);
  LogLine(LogSeverity::kInfo,
          stats_.state == JsonCompressionStats::State::kTrained
              ? "cache compression dictionary trained"
              : "cache compression off for this resource",
          {{"resource", resource_},
           {"samples", absl::StrCat(sampled)},
           {"sample_bytes", absl::StrCat(sampled_bytes)},
           {"ratio", absl::StrFormat("%.2f", stats_.sample_ratio)},
           {"dictionary_bytes", absl::StrCat(stats_.dictionary_bytes)},
           {"detail", stats_.detail}});
}

JsonCompressionStats JsonCompressor::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace informer
