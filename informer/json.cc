#include "informer/json.h"

#include "absl/strings/str_format.h"
#include "rapidjson/error/en.h"
#include "rapidjson/memorystream.h"
#include "rapidjson/reader.h"

namespace informer {
namespace {

constexpr unsigned kBaseFlags = rapidjson::kParseIterativeFlag |
                                rapidjson::kParseValidateEncodingFlag |
                                rapidjson::kParseFullPrecisionFlag;

// Forwards SAX events to a Document and stops the parse (kParseErrorTermination) when objects
// and arrays nest deeper than kMaxJsonDepth.
class DepthLimiter {
 public:
  explicit DepthLimiter(rapidjson::Document* document) : document_(document) {}

  bool exceeded() const { return exceeded_; }

  bool Null() { return document_->Null(); }
  bool Bool(bool b) { return document_->Bool(b); }
  bool Int(int i) { return document_->Int(i); }
  bool Uint(unsigned i) { return document_->Uint(i); }
  bool Int64(int64_t i) { return document_->Int64(i); }
  bool Uint64(uint64_t i) { return document_->Uint64(i); }
  bool Double(double d) { return document_->Double(d); }
  bool RawNumber(const char* s, rapidjson::SizeType n, bool copy) {
    return document_->RawNumber(s, n, copy);
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
  int depth_ = 0;
  bool exceeded_ = false;
};

absl::Status ErrorOf(const rapidjson::ParseResult& result, bool exceeded) {
  if (exceeded) {
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
absl::Status Run(Stream& stream, rapidjson::Document* document) {
  rapidjson::ParseResult result;
  bool exceeded = false;
  auto generate = [&](rapidjson::Document& target) {
    DepthLimiter limiter(&target);
    rapidjson::Reader reader;
    result = reader.Parse<kFlags>(stream, limiter);
    exceeded = limiter.exceeded();
    return !result.IsError();
  };
  document->SetNull();
  document->Populate(generate);
  if (result.IsError()) return ErrorOf(result, exceeded);
  return absl::OkStatus();
}

}  // namespace

absl::Status ParseJson(absl::string_view json, rapidjson::Document* document) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  return Run<kBaseFlags>(stream, document);
}

absl::Status ParseJsonInsitu(char* text, rapidjson::Document* document, bool stop_when_done,
                             size_t* parsed_bytes) {
  rapidjson::InsituStringStream stream(text);
  absl::Status status =
      stop_when_done
          ? Run<kBaseFlags | rapidjson::kParseInsituFlag | rapidjson::kParseStopWhenDoneFlag>(
                stream, document)
          : Run<kBaseFlags | rapidjson::kParseInsituFlag>(stream, document);
  if (parsed_bytes != nullptr) *parsed_bytes = stream.Tell();
  return status;
}

absl::Status ParseJsonNumbersAsStrings(absl::string_view json, rapidjson::Document* document) {
  rapidjson::MemoryStream bytes(json.data(), json.size());
  rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> stream(bytes);
  return Run<rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag>(stream,
                                                                                     document);
}

}  // namespace informer
