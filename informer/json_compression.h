// Cached objects' JSON compressed with a dictionary trained on the resource's own objects.
//
// Objects of one resource repeat the same keys and most of the same values (a Pod's container
// spec, tolerations, volume mounts), so zstd with a dictionary trained on a few hundred of them
// stores a 4 KB Pod in ~0.5 KB and gives it back in ~2 µs. Each informer has one JsonCompressor:
// it keeps its first objects' JSON as samples, trains a dictionary from them, and from then on
// hands every object a JsonDictionary to compress its JSON with. Objects decoded before that stay
// as they came, as do objects too small to gain and resources whose samples do not compress
// (random payloads): the compressor turns itself off for them.
#ifndef INFORMER_JSON_COMPRESSION_H_
#define INFORMER_JSON_COMPRESSION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

struct ZSTD_CDict_s;
struct ZSTD_DDict_s;

namespace informer {

// How an informer compresses its cached objects' JSON.
struct JsonCompressionOptions {
  // Off: every object keeps its JSON as it came.
  bool enabled = true;
  // Objects whose JSON is kept as training samples before the dictionary is trained; the
  // dictionary comes after this many objects of at least min_object_bytes.
  size_t training_objects = 256;
  // Largest dictionary trained (zstd's advice: ~100× smaller than the samples).
  size_t dictionary_bytes = 16 * 1024;
  // JSON shorter than this stays plain (a compressed frame's overhead would eat the gain).
  size_t min_object_bytes = 256;
  // Bounds on what sampling holds: objects larger than max_sample_object_bytes are not kept as
  // samples (they are compressed once the dictionary exists), and the dictionary is trained as
  // soon as the samples reach max_sample_bytes, however few they are.
  size_t max_sample_object_bytes = 64 * 1024;
  size_t max_sample_bytes = 4 * 1024 * 1024;
  // When the samples compress by less than this (plain bytes / compressed bytes), the
  // resource's objects stay plain: the CPU would buy too little memory.
  double min_ratio = 1.5;
  // zstd's compression level: 1 is its fastest with full ratio.
  int level = 1;
};

// A trained dictionary with zstd's prepared compression and decompression tables.
//
// Thread-safety: immutable; Compress and Decompress may run on any thread at once.
class JsonDictionary {
 public:
  // Trains on `samples` (the samples back to back, `sizes` their lengths). InvalidArgument
  // when zstd cannot train on them (too few or too small), Internal when it fails otherwise.
  static absl::StatusOr<std::shared_ptr<const JsonDictionary>> Train(
      absl::string_view samples, const std::vector<size_t>& sizes,
      const JsonCompressionOptions& options);
  ~JsonDictionary();
  JsonDictionary(const JsonDictionary&) = delete;
  JsonDictionary& operator=(const JsonDictionary&) = delete;

  // Compresses `json` into `*out` (replacing it); false, leaving `*out` unspecified, when the
  // result would not be smaller.
  bool Compress(absl::string_view json, std::string* out) const;
  // Writes the `plain_size` bytes `compressed` came from into `out` (which must hold them).
  // Internal when the bytes are not a frame this dictionary wrote, or not of that size.
  absl::Status Decompress(absl::string_view compressed, size_t plain_size, char* out) const;

  // The dictionary's own bytes and zstd's tables for it.
  size_t bytes() const { return bytes_; }
  // Plain bytes / compressed bytes over the samples it was trained on.
  double sample_ratio() const { return sample_ratio_; }

 private:
  JsonDictionary() = default;

  std::string dictionary_;
  ZSTD_CDict_s* compress_tables_ = nullptr;
  ZSTD_DDict_s* decompress_tables_ = nullptr;
  size_t bytes_ = 0;
  double sample_ratio_ = 0;
};

// The state of a JsonCompressor, for logs and metrics.
struct JsonCompressionStats {
  enum class State { kSampling, kTrained, kOff };
  State state = State::kSampling;
  // While sampling: why it may still be off afterwards; when off: why.
  std::string detail;
  double sample_ratio = 0;      // when trained or off after training
  size_t dictionary_bytes = 0;  // when trained
};

// Samples one resource's objects, trains its dictionary, then hands it out.
//
// Thread-safety: every method may be called from any thread.
class JsonCompressor {
 public:
  // `resource` names the resource in log lines.
  JsonCompressor(JsonCompressionOptions options, std::string resource);

  // The dictionary to compress `json` with; null when `json` stays plain (compression off,
  // too small, or the dictionary not trained yet: then `json` may be kept as a sample, and the
  // call that completes the samples, by count or by bytes, trains the dictionary, ~30-150 ms
  // once, and logs it).
  std::shared_ptr<const JsonDictionary> DictionaryFor(absl::string_view json);

  JsonCompressionStats stats() const;

 private:
  // Trains from samples_ and publishes the dictionary, or turns compression off.
  void TrainLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const JsonCompressionOptions options_;
  const std::string resource_;
  // stats_.state, read without the lock: set (release) once it leaves kSampling, after
  // trained_dictionary_ is final.
  std::atomic<JsonCompressionStats::State> state_{JsonCompressionStats::State::kSampling};
  // Written once under mu_ before state_ becomes kTrained, never after: read without the lock
  // once state_ is seen kTrained.
  std::shared_ptr<const JsonDictionary> trained_dictionary_;

  mutable absl::Mutex mu_;
  JsonCompressionStats stats_ ABSL_GUARDED_BY(mu_);
  std::string samples_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> sample_sizes_ ABSL_GUARDED_BY(mu_);
};

}  // namespace informer

#endif  // INFORMER_JSON_COMPRESSION_H_
