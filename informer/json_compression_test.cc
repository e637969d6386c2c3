#include "informer/json_compression.h"

#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/object.h"
#include "informer/testing/objects.h"

namespace informer {
namespace {

using ::informer::testing::PodLikeJson;
using ::informer::testing::TrainedPodCompressor;
using ::testing::HasSubstr;
using State = JsonCompressionStats::State;

std::string Decompressed(const JsonDictionary& dictionary, const std::string& compressed,
                         size_t plain_size) {
  std::string plain(plain_size, '\0');
  absl::Status s = dictionary.Decompress(compressed, plain_size, plain.data());
  EXPECT_TRUE(s.ok()) << s;
  return plain;
}

JsonCompressionOptions SmallTraining() {
  JsonCompressionOptions options;
  options.training_objects = 64;
  options.dictionary_bytes = 8 * 1024;
  return options;
}

TEST(JsonCompressionTest, TrainsOnTheFirstObjectsThenCompressesEveryLaterOne) {
  JsonCompressor compressor(SmallTraining(), "pods");
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(compressor.DictionaryFor(PodLikeJson(i)), nullptr) << "sample " << i;
  }
  const JsonCompressionStats stats = compressor.stats();
  ASSERT_EQ(stats.state, State::kTrained) << stats.detail;
  EXPECT_GT(stats.dictionary_bytes, 0u);
  EXPECT_GT(stats.sample_ratio, 3.0);

  size_t plain_bytes = 0;
  size_t compressed_bytes = 0;
  for (int i = 64; i < 200; ++i) {
    const std::string json = PodLikeJson(i);
    std::shared_ptr<const JsonDictionary> dictionary = compressor.DictionaryFor(json);
    ASSERT_NE(dictionary, nullptr);
    std::string compressed;
    ASSERT_TRUE(dictionary->Compress(json, &compressed));
    EXPECT_EQ(Decompressed(*dictionary, compressed, json.size()), json);
    plain_bytes += json.size();
    compressed_bytes += compressed.size();
  }
  // Objects the dictionary never saw compress as well as its samples did.
  EXPECT_LT(compressed_bytes * 4, plain_bytes) << compressed_bytes << " of " << plain_bytes;
}

TEST(JsonCompressionTest, SmallObjectsStayPlainAndAreNotSampled) {
  JsonCompressor compressor(SmallTraining(), "configmaps");
  const std::string small = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}})";
  for (int i = 0; i < 500; ++i) EXPECT_EQ(compressor.DictionaryFor(small), nullptr);
  EXPECT_EQ(compressor.stats().state, State::kSampling);
}

TEST(JsonCompressionTest, SamplingHoldsBoundedBytesWhateverTheObjectsSize) {
  JsonCompressionOptions options = SmallTraining();
  options.max_sample_object_bytes = 2000;
  options.max_sample_bytes = 20 * 1200;
  JsonCompressor compressor(options, "configmaps");
  // Larger than max_sample_object_bytes: never a sample, so never trains.
  const std::string huge = absl::StrCat(R"({"data":{"k":")", std::string(5000, 'h'), R"("}})");
  for (int i = 0; i < 100; ++i) EXPECT_EQ(compressor.DictionaryFor(huge), nullptr);
  EXPECT_EQ(compressor.stats().state, State::kSampling);
  // ~1.2 KB samples: trained once they reach 24 000 bytes, well before 64 of them.
  int fed = 0;
  while (compressor.stats().state == State::kSampling && fed < 64) {
    compressor.DictionaryFor(PodLikeJson(fed++));
  }
  EXPECT_LT(fed, 30);
  ASSERT_EQ(compressor.stats().state, State::kTrained) << compressor.stats().detail;
  EXPECT_NE(compressor.DictionaryFor(huge), nullptr) << "large objects are compressed once trained";
}

TEST(JsonCompressionTest, ObjectsThatDoNotCompressTurnItOffForTheResource) {
  JsonCompressor compressor(SmallTraining(), "secrets");
  std::mt19937_64 random(7);
  std::string bytes(600, '\0');
  for (int i = 0; i < 64; ++i) {
    for (char& c : bytes) c = static_cast<char>(random());
    compressor.DictionaryFor(absl::StrCat(R"({"data":{"k":")", absl::Base64Escape(bytes), "\"}}"));
  }
  const JsonCompressionStats stats = compressor.stats();
  EXPECT_EQ(stats.state, State::kOff);
  EXPECT_THAT(stats.detail, HasSubstr("objects stay plain"));
  EXPECT_EQ(compressor.DictionaryFor(PodLikeJson(1)), nullptr);
}

TEST(JsonCompressionTest, TurnedOffNeverSamplesOrCompresses) {
  JsonCompressionOptions options = SmallTraining();
  options.enabled = false;
  JsonCompressor compressor(options, "pods");
  for (int i = 0; i < 200; ++i) EXPECT_EQ(compressor.DictionaryFor(PodLikeJson(i)), nullptr);
  EXPECT_EQ(compressor.stats().state, State::kOff);
}

TEST(JsonCompressionTest, DecompressRefusesAFrameOfAnotherSizeOrNotAFrame) {
  std::shared_ptr<JsonCompressor> compressor = TrainedPodCompressor();
  const std::string json = PodLikeJson(5);
  std::shared_ptr<const JsonDictionary> dictionary = compressor->DictionaryFor(json);
  ASSERT_NE(dictionary, nullptr);
  std::string compressed;
  ASSERT_TRUE(dictionary->Compress(json, &compressed));
  std::string out(json.size() + 10, '\0');
  absl::Status longer = dictionary->Decompress(compressed, json.size() + 10, out.data());
  EXPECT_EQ(longer.code(), absl::StatusCode::kInternal) << longer;
  absl::Status shorter = dictionary->Decompress(compressed, json.size() - 1, out.data());
  EXPECT_EQ(shorter.code(), absl::StatusCode::kInternal) << shorter;
  absl::Status garbage = dictionary->Decompress("not a zstd frame", json.size(), out.data());
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInternal) << garbage;
}

// Decoder threads sample, train and compress at once while readers decompress (run under
// ThreadSanitizer in CI).
TEST(JsonCompressionTest, ManyThreadsSampleTrainCompressAndDecompressAtOnce) {
  JsonCompressor compressor(SmallTraining(), "pods");
  std::vector<std::thread> threads;
  std::atomic<int> compressed_objects{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string json = PodLikeJson(t * 1000 + i);
        absl::StatusOr<ObjectPtr> object = Object::FromJson(json, "", "", &compressor);
        ASSERT_TRUE(object.ok()) << object.status();
        if ((*object)->json_compressed()) compressed_objects.fetch_add(1);
        ASSERT_EQ((*object)->json(), json);
        ASSERT_EQ(*Object::SharedJson(*object), json);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(compressor.stats().state, State::kTrained);
  EXPECT_GE(compressed_objects.load(), 800 - 64);
}

}  // namespace
}  // namespace informer
