#include "informer/json.h"

#include <cmath>
#include <cstdint>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace informer {
namespace {

// Numbers arrive as text (kParseNumbersAsStringsFlag) and DepthLimiter converts them: RapidJSON
// 1.1.0's full-precision conversion passes 0 to clz() for some inputs (a long run of zeros
// after "0."; found by fuzz_object_json), which is undefined behaviour, while its default one
// may be off in the last digit. absl's conversion is exact and has neither problem.
constexpr unsigned kBaseFlags = rapidjson::kParseIterativeFlag |
                                rapidjson::kParseValidateEncodingFlag |
                                rapidjson::kParseNumbersAsStringsFlag;

// Forwards SAX events to a Document and stops the parse (kParseErrorTermination) when objects
// and arrays nest deeper than kMaxJsonDepth or a number does not fit a double. With
// `convert_numbers`, number text becomes numbers as RapidJSON types them (Int, Uint, Int64,
// Uint64, else Double); without, it stays text (ParseJsonNumbersAsStrings).
class DepthLimiter {
 public:
  DepthLimiter(rapidjson::Document* document, bool convert_numbers)
      : document_(document), convert_numbers_(convert_numbers) {}

  bool exceeded() const { return exceeded_; }
  bool number_too_big() const { return number_too_big_; }

  bool Null() { return document_->Null(); }
  bool Bool(bool b) { return document_->Bool(b); }
  bool Int(int i) { return document_->Int(i); }
  bool Uint(unsigned i) { return document_->Uint(i); }
  bool Int64(int64_t i) { return document_->Int64(i); }
  bool Uint64(uint64_t i) { return document_->Uint64(i); }
  bool Double(double d) { return document_->Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    if (!convert_numbers_) return document_->RawNumber(s, n, copy);
    const absl::string_view text(s, n);  // valid JSON number syntax: the reader checked it
    if (text.find_first_of(".eE") == absl::string_view::npos) {
      if (text.front() == '-') {
        int64_t value = 0;
        if (absl::SimpleAtoi(text, &value)) {
          return value >= std::numeric_limits<int32_t>::min()
                     ? document_->Int(static_cast<int32_t>(value))
                     : document_->Int64(value);
        }
      } else {
        uint64_t value = 0;
        if (absl::SimpleAtoi(text, &value)) {
          return value <= std::numeric_limits<uint32_t>::max()
                     ? document_->Uint(static_cast<uint32_t>(value))
                     : document_->Uint64(value);
        }
      }
      // Past 64 bits: a double, as RapidJSON makes it.
    }
    double value = 0;
    if (!absl::SimpleAtod(text, &value) || !std::isfinite(value)) {
      number_too_big_ = true;
      return false;
    }
    return document_->Double(value);
  }
  bool String(const char* s, rapidjson::SizeType n, bool copy) {
    return document_->String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) { return document_->Key(s, n, copy); }
  bool StartObject() { return Enter() && document_->StartObject(); }
  bool EndObject(rapidjson::SizeType members) {
    --depth_;
    return document_->EndObject(members);
  }
  bool StartArray() { return Enter() && document_->StartArray(); }
  bool EndArray(rapidjson::SizeType elements) {
    --depth_;
    return document_->EndArray(elements);
  }

 private:
  bool Enter() {
    if (++depth_ <= kMaxJsonDepth) return true;
    exceeded_ = true;
    return false;
  }

  rapidjson::Document* document_;
  const bool convert_numbers_;
  int depth_ = 0;
  bool exceeded_ = false;
  bool number_too_big_ = false;
};

absl::Status ErrorOf(const rapidjson::ParseResult& result, const DepthLimiter& limiter) {
  if (limiter.number_too_big()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "malformed JSON at offset %d: a number too big to be stored in double", result.Offset()));
  }
  if (limiter.exceeded()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "malformed JSON at offset %d: objects and arrays nested deeper than %d levels (the API "
        "server's own limit)",
        result.Offset(), kMaxJsonDepth));
  }
  return absl::InvalidArgumentError(absl::StrFormat("malformed JSON at offset %d: %s",
                                                    result.Offset(),
                                                    rapidjson::GetParseError_En(result.Code())));
}

template <unsigned kFlags, typename Stream>
absl::Status Run(Stream& stream, rapidjson::Document* document, bool convert_numbers) {
  rapidjson::ParseResult result;
  DepthLimiter limiter(document, convert_numbers);
  auto generate = [&](rapidjson::Document&) {  // fills `document`, which limiter feeds
    rapidjson::Reader reader;
    result = reader.Parse<kFlags>(stream, limiter);
    return !result.IsError();
  };
  document->SetNull();
  document->Populate(generate);
  if (result.IsError()) return ErrorOf(result, limiter);
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseJson(absl::string_view json, rapidjson::Document* document) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  return Run<kBaseFlags>(stream, document, /*convert_numbers=*/true);
}

absl::Status ParseJsonInsitu(char* text, rapidjson::Document* document, bool stop_when_done,
                             size_t* parsed_bytes) {
  rapidjson::InsituStringStream stream(text);
  absl::Status status =
      stop_when_done
          ? Run<kBaseFlags | rapidjson::kParseInsituFlag | rapidjson::kParseStopWhenDoneFlag>(
                stream, document, /*convert_numbers=*/true)
          : Run<kBaseFlags | rapidjson::kParseInsituFlag>(stream, document,
                                                          /*convert_numbers=*/true);
  if (parsed_bytes != nullptr) *parsed_bytes = stream.Tell();
  return status;
}

absl::Status ParseJsonNumbersAsStrings(absl::string_view json, rapidjson::Document* document) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  return Run<rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag>(
      stream, document, /*convert_numbers=*/false);
}

}  // namespace informer
