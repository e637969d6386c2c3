#include "informer/json.h"

#include <cmath>
#include <cstdint>
#include <cstring>
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
// UTF-8 is checked on each string and key as the parser hands it over, unescaped: so a \u escape
// of a lone surrogate (which RapidJSON turns into invalid UTF-8; found by fuzz_object_json) is
// refused like a raw invalid byte. RapidJSON's own check (kParseValidateEncodingFlag) sees raw
// bytes only (and, per character, is no cheaper in bench/micro_decode.cc).
constexpr unsigned kBaseFlags =
    rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag;

}  // namespace

int Utf8SequenceLength(const char* p, const char* end) {
  const auto* s = reinterpret_cast<const unsigned char*>(p);
  const unsigned char c = s[0];
  int more;
  uint32_t code;
  uint32_t min;
  if ((c & 0xE0) == 0xC0) {
    more = 1, code = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    more = 2, code = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    more = 3, code = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (end - p <= more) return 0;
  for (int i = 1; i <= more; ++i) {
    if ((s[i] & 0xC0) != 0x80) return 0;
    code = (code << 6) | (s[i] & 0x3F);
  }
  if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return more + 1;
}

namespace {

// The offset of the first byte that is not valid UTF-8, or npos.
size_t FirstInvalidUtf8(absl::string_view text) {
  const auto* begin = reinterpret_cast<const unsigned char*>(text.data());
  const unsigned char* const end = begin + text.size();
  const unsigned char* p = begin;
  while (p < end) {
    // Eight ASCII bytes at a time: Kubernetes JSON is nearly all ASCII.
    if (end - p >= 8) {
      uint64_t word;
      std::memcpy(&word, p, sizeof(word));
      if ((word & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    const int length =
        Utf8SequenceLength(reinterpret_cast<const char*>(p), reinterpret_cast<const char*>(end));
    if (length == 0) return static_cast<size_t>(p - begin);
    p += length;
  }
  return absl::string_view::npos;
}

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
  bool invalid_utf8() const { return invalid_utf8_; }

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
    return Utf8(s, n) && document_->String(s, n, copy);
  }
  bool Key(const char* s, rapidjson::SizeType n, bool copy) {
    return Utf8(s, n) && document_->Key(s, n, copy);
  }
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
  bool Utf8(const char* s, rapidjson::SizeType n) {
    if (FirstInvalidUtf8(absl::string_view(s, n)) == absl::string_view::npos) return true;
    invalid_utf8_ = true;
    return false;
  }

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
  bool invalid_utf8_ = false;
};

absl::Status ErrorOf(const rapidjson::ParseResult& result, const DepthLimiter& limiter) {
  if (limiter.invalid_utf8()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("malformed JSON at offset %d: a string is not valid UTF-8 (invalid UTF-8)",
                        result.Offset()));
  }
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

bool IsValidUtf8(absl::string_view text) {
  return FirstInvalidUtf8(text) == absl::string_view::npos;
}

absl::Status ParseJson(absl::string_view json, rapidjson::Document* document) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  return Run<kBaseFlags>(stream, document, /*convert_numbers=*/true);
}

absl::Status ParseJsonInsitu(char* text, rapidjson::Document* document, bool stop_when_done) {
  rapidjson::InsituStringStream stream(text);
  return stop_when_done
             ? Run<kBaseFlags | rapidjson::kParseInsituFlag | rapidjson::kParseStopWhenDoneFlag>(
                   stream, document, /*convert_numbers=*/true)
             : Run<kBaseFlags | rapidjson::kParseInsituFlag>(stream, document,
                                                             /*convert_numbers=*/true);
}

absl::Status ParseJsonNumbersAsStrings(absl::string_view json, rapidjson::Document* document) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  return Run<rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag>(
      stream, document, /*convert_numbers=*/false);
}

}  // namespace informer
