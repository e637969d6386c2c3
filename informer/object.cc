#include "informer/object.h"

#include <algorithm>
#include <cstring>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "informer/field_path.h"
#include "informer/json.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace {

using JsonValue = rapidjson::Value;

const JsonValue* FindMember(const JsonValue& object, absl::string_view name) {
  auto it = object.FindMember(JsonValue(rapidjson::StringRef(name.data(), name.size())));
  return it == object.MemberEnd() ? nullptr : &it->value;
}

std::string StringOf(const JsonValue& value) {
  return std::string(value.GetString(), value.GetStringLength());
}

// Reads an optional string member; null counts as absent. InvalidArgument naming `field` when
// the member has another type.
absl::Status ReadString(const JsonValue& object, absl::string_view name, absl::string_view field,
                        std::string* out) {
  const JsonValue* value = FindMember(object, name);
  if (value == nullptr || value->IsNull()) return absl::OkStatus();
  if (!value->IsString()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not a string"));
  }
  *out = StringOf(*value);
  return absl::OkStatus();
}

absl::Status ReadStringMap(const JsonValue& object, absl::string_view name, absl::string_view field,
                           std::map<std::string, std::string>* out) {
  const JsonValue* value = FindMember(object, name);
  if (value == nullptr || value->IsNull()) return absl::OkStatus();
  if (!value->IsObject()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not an object"));
  }
  for (const auto& member : value->GetObject()) {
    if (!member.value.IsString()) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".", StringOf(member.name), " is not a string"));
    }
    (*out)[StringOf(member.name)] = StringOf(member.value);
  }
  return absl::OkStatus();
}

absl::Status ReadOwnerReferences(const JsonValue& metadata, std::vector<OwnerReference>* out) {
  const JsonValue* refs = FindMember(metadata, "ownerReferences");
  if (refs == nullptr || refs->IsNull()) return absl::OkStatus();
  if (!refs->IsArray()) {
    return absl::InvalidArgumentError("metadata.ownerReferences is not an array");
  }
  for (rapidjson::SizeType i = 0; i < refs->Size(); ++i) {
    const JsonValue& ref = (*refs)[i];
    std::string field = absl::StrCat("metadata.ownerReferences[", i, "]");
    if (!ref.IsObject())
      return absl::InvalidArgumentError(absl::StrCat(field, " is not an object"));
    OwnerReference owner;
    if (absl::Status s =
            ReadString(ref, "apiVersion", absl::StrCat(field, ".apiVersion"), &owner.api_version);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadString(ref, "kind", absl::StrCat(field, ".kind"), &owner.kind);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadString(ref, "name", absl::StrCat(field, ".name"), &owner.name);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = ReadString(ref, "uid", absl::StrCat(field, ".uid"), &owner.uid); !s.ok()) {
      return s;
    }
    if (const JsonValue* controller = FindMember(ref, "controller");
        controller != nullptr && !controller->IsNull()) {
      if (!controller->IsBool()) {
        return absl::InvalidArgumentError(absl::StrCat(field, ".controller is not a boolean"));
      }
      owner.controller = controller->GetBool();
    }
    out->push_back(std::move(owner));
  }
  return absl::OkStatus();
}

absl::Status ReadGeneration(const JsonValue& metadata, int64_t* out) {
  const JsonValue* value = FindMember(metadata, "generation");
  if (value == nullptr || value->IsNull()) return absl::OkStatus();
  if (value->IsInt64()) {
    *out = value->GetInt64();
    return absl::OkStatus();
  }
  // Documents parsed with kParseNumbersAsStringsFlag carry numbers as their text.
  if (value->IsString() && absl::SimpleAtoi(StringOf(*value), out)) return absl::OkStatus();
  return absl::InvalidArgumentError("metadata.generation is not an integer");
}

absl::Status ReadMeta(const JsonValue& value, ObjectMeta* meta) {
  const JsonValue* metadata = FindMember(value, "metadata");
  if (metadata == nullptr || !metadata->IsObject()) {
    return absl::InvalidArgumentError("object has no metadata");
  }
  if (absl::Status s = ReadString(*metadata, "name", "metadata.name", &meta->name); !s.ok()) {
    return s;
  }
  if (meta->name.empty()) return absl::InvalidArgumentError("object has no metadata.name");
  if (absl::Status s =
          ReadString(*metadata, "namespace", "metadata.namespace", &meta->namespace_name);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(*metadata, "uid", "metadata.uid", &meta->uid); !s.ok()) return s;
  if (absl::Status s = ReadString(*metadata, "resourceVersion", "metadata.resourceVersion",
                                  &meta->resource_version);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadGeneration(*metadata, &meta->generation); !s.ok()) return s;
  if (absl::Status s = ReadStringMap(*metadata, "labels", "metadata.labels", &meta->labels);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ReadStringMap(*metadata, "annotations", "metadata.annotations", &meta->annotations);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadOwnerReferences(*metadata, &meta->owner_references); !s.ok()) return s;
  return ReadString(*metadata, "deletionTimestamp", "metadata.deletionTimestamp",
                    &meta->deletion_timestamp);
}

// True when the member is missing or an empty string, i.e. when a default should fill it.
absl::StatusOr<bool> TypeFieldMissing(const JsonValue& value, absl::string_view name) {
  const JsonValue* field = FindMember(value, name);
  if (field == nullptr || field->IsNull()) return true;
  if (!field->IsString()) return absl::InvalidArgumentError(absl::StrCat(name, " is not a string"));
  return field->GetStringLength() == 0;
}

size_t StringBytes(const std::string& s) { return s.capacity() + 1; }

// What a std::map node costs beyond its payload: three pointers and a colour.
constexpr size_t kMapNodeOverhead = 4 * sizeof(void*);

size_t StringMapBytes(const std::map<std::string, std::string>& map) {
  size_t bytes = 0;
  for (const auto& [key, value] : map) {
    bytes += kMapNodeOverhead + sizeof(std::pair<const std::string, std::string>) +
             StringBytes(key) + StringBytes(value);
  }
  return bytes;
}

}  // namespace

std::string ObjectKey(absl::string_view namespace_name, absl::string_view name) {
  if (namespace_name.empty()) return std::string(name);
  return absl::StrCat(namespace_name, "/", name);
}

absl::Status Object::SetTypeMeta(rapidjson::Value& value,
                                 rapidjson::Document::AllocatorType& allocator,
                                 absl::string_view default_api_version,
                                 absl::string_view default_kind) {
  if (!value.IsObject()) return absl::InvalidArgumentError("object is not a JSON object");
  bool set_api_version = false;
  bool set_kind = false;
  if (!default_api_version.empty()) {
    absl::StatusOr<bool> missing = TypeFieldMissing(value, "apiVersion");
    if (!missing.ok()) return missing.status();
    set_api_version = *missing;
  }
  if (!default_kind.empty()) {
    absl::StatusOr<bool> missing = TypeFieldMissing(value, "kind");
    if (!missing.ok()) return missing.status();
    set_kind = *missing;
  }
  if (!set_api_version && !set_kind) return absl::OkStatus();

  // RapidJSON can only append members, so rebuild the object with the type fields first: the
  // JSON then reads as the API server would have written it.
  JsonValue rebuilt(rapidjson::kObjectType);
  if (set_api_version) {
    rebuilt.AddMember(
        "apiVersion",
        JsonValue(default_api_version.data(),
                  static_cast<rapidjson::SizeType>(default_api_version.size()), allocator),
        allocator);
  }
  if (set_kind) {
    rebuilt.AddMember("kind",
                      JsonValue(default_kind.data(),
                                static_cast<rapidjson::SizeType>(default_kind.size()), allocator),
                      allocator);
  }
  for (auto& member : value.GetObject()) {
    absl::string_view name(member.name.GetString(), member.name.GetStringLength());
    // Drop the empty or null placeholders that the defaults replace.
    if ((set_api_version && name == "apiVersion") || (set_kind && name == "kind")) continue;
    rebuilt.AddMember(member.name, member.value, allocator);  // moves both
  }
  value.Swap(rebuilt);
  return absl::OkStatus();
}

ExtractedFieldPaths::ExtractedFieldPaths(const std::vector<std::string>& paths) {
  for (const std::string& path : paths) {
    if (paths_.size() == kMaxPaths) break;
    if (index_.contains(path)) continue;
    absl::StatusOr<FieldPath> parsed = FieldPath::Parse(path);
    // Metadata paths are answered from the parsed metadata: extracting them would only cost.
    if (!parsed.ok() || parsed->source() != FieldPath::Source::kJson) continue;
    index_.emplace(path, paths_.size());
    paths_.push_back(*std::move(parsed));
  }
}

size_t ExtractedFieldPaths::Find(absl::string_view path) const {
  auto it = index_.find(path);
  return it == index_.end() ? kNotExtracted : it->second;
}

void PackedFieldValues::Builder::Add(absl::string_view value) {
  chars_.insert(chars_.end(), value.begin(), value.end());
  value_ends_.push_back(static_cast<uint32_t>(chars_.size()));
}

void PackedFieldValues::Builder::DropPath() {
  const uint32_t kept = path_ends_.empty() ? 0 : path_ends_.back();
  value_ends_.resize(kept);
  chars_.resize(kept == 0 ? 0 : value_ends_.back());
}

void PackedFieldValues::Builder::EndPath() {
  path_ends_.push_back(static_cast<uint32_t>(value_ends_.size()));
}

PackedFieldValues PackedFieldValues::Builder::Build() const {
  PackedFieldValues packed;
  if (value_ends_.empty()) return packed;  // no values: nothing to keep
  const size_t words = 1 + path_ends_.size() + value_ends_.size();
  packed.bytes_ = words * sizeof(uint32_t) + chars_.size();
  packed.data_ = std::make_unique<char[]>(packed.bytes_);
  char* out = packed.data_.get();
  const uint32_t path_count = static_cast<uint32_t>(path_ends_.size());
  std::memcpy(out, &path_count, sizeof(path_count));
  out += sizeof(path_count);
  std::memcpy(out, path_ends_.data(), path_ends_.size() * sizeof(uint32_t));
  out += path_ends_.size() * sizeof(uint32_t);
  std::memcpy(out, value_ends_.data(), value_ends_.size() * sizeof(uint32_t));
  out += value_ends_.size() * sizeof(uint32_t);
  if (!chars_.empty()) std::memcpy(out, chars_.data(), chars_.size());
  return packed;
}

void PackedFieldValues::Visit(size_t i, absl::FunctionRef<void(absl::string_view)> visit) const {
  if (data_ == nullptr) return;
  const char* data = data_.get();
  auto word = [data](size_t index) {
    uint32_t value;
    std::memcpy(&value, data + index * sizeof(uint32_t), sizeof(value));
    return value;
  };
  const uint32_t path_count = word(0);
  const uint32_t first = i == 0 ? 0 : word(i);  // word(1 + i - 1): the end of path i - 1
  const uint32_t end = word(1 + i);
  const uint32_t value_count = word(path_count);  // the end of the last path
  const size_t value_ends = 1 + path_count;
  const char* chars = data + (value_ends + value_count) * sizeof(uint32_t);
  uint32_t begin = first == 0 ? 0 : word(value_ends + first - 1);
  for (uint32_t v = first; v < end; ++v) {
    const uint32_t value_end = word(value_ends + v);
    visit(absl::string_view(chars + begin, value_end - begin));
    begin = value_end;
  }
}

void Object::ExtractFieldValues(const rapidjson::Value& value,
                                std::shared_ptr<const ExtractedFieldPaths> extract) {
  PackedFieldValues::Builder builder;
  for (size_t i = 0; i < extract->size(); ++i) {
    if (VisitFieldValuesExactly(value, extract->steps(i),
                                [&builder](absl::string_view v) { builder.Add(v); })) {
      extracted_mask_ |= uint64_t{1} << i;
    } else {
      builder.DropPath();
    }
    builder.EndPath();
  }
  extracted_ = builder.Build();
  extract_ = std::move(extract);
}

absl::StatusOr<std::shared_ptr<const Object>> Object::FromJsonValue(
    rapidjson::Value& value, rapidjson::Document::AllocatorType& allocator,
    absl::string_view default_api_version, absl::string_view default_kind,
    std::shared_ptr<const ExtractedFieldPaths> extract, JsonCompressor* compressor) {
  if (absl::Status s = SetTypeMeta(value, allocator, default_api_version, default_kind); !s.ok()) {
    return s;
  }
  std::shared_ptr<Object> object(new Object());
  if (absl::Status s = ReadMeta(value, &object->meta_); !s.ok()) return s;
  if (absl::Status s = ReadString(value, "apiVersion", "apiVersion", &object->api_version_);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ReadString(value, "kind", "kind", &object->kind_); !s.ok()) return s;

  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  if (!value.Accept(writer)) {
    return absl::InvalidArgumentError("object cannot be written as JSON (NaN or infinity?)");
  }
  object->json_.assign(buffer.GetString(), buffer.GetSize());
  object->Finish(&value, std::move(extract));
  object->MaybeCompress(compressor);
  return std::shared_ptr<const Object>(std::move(object));
}

std::shared_ptr<const Object> Object::FromDecoded(
    std::string json, std::string api_version, std::string kind, ObjectMeta meta,
    std::shared_ptr<const ExtractedFieldPaths> extract,
    std::vector<std::vector<std::string>>* extracted_values, JsonCompressor* compressor) {
  std::shared_ptr<Object> object(new Object());
  object->json_ = std::move(json);
  object->json_.shrink_to_fit();  // a decoder may have reserved room for what it cut out
  object->api_version_ = std::move(api_version);
  object->kind_ = std::move(kind);
  object->meta_ = std::move(meta);
  if (extract == nullptr || extract->size() == 0) {
    object->Finish(nullptr, nullptr);
  } else if (extracted_values != nullptr && extracted_values->size() == extract->size()) {
    // Every path was read exactly (the fast path leaves non-integer numbers to the DOM path).
    PackedFieldValues::Builder builder;
    for (const std::vector<std::string>& values : *extracted_values) {
      for (const std::string& value : values) builder.Add(value);
      builder.EndPath();
    }
    object->extracted_ = builder.Build();
    object->extracted_mask_ =
        extract->size() == 64 ? ~uint64_t{0} : (uint64_t{1} << extract->size()) - 1;
    object->extract_ = std::move(extract);
    object->Finish(nullptr, nullptr);  // keeps the values just set
  } else {
    rapidjson::Document document;
    const bool parsed = ParseJson(object->json_, &document).ok();
    object->Finish(parsed ? &document : nullptr, std::move(extract));
  }
  object->MaybeCompress(compressor);
  return std::shared_ptr<const Object>(std::move(object));
}

void Object::Finish(const rapidjson::Value* value,
                    std::shared_ptr<const ExtractedFieldPaths> extract) {
  json_size_ = json_.size();
  key_ = ObjectKey(meta_.namespace_name, meta_.name);
  uint64_t rv = 0;
  if (absl::SimpleAtoi(meta_.resource_version, &rv)) resource_version_number_ = rv;
  if (value != nullptr && extract != nullptr && extract->size() > 0) {
    ExtractFieldValues(*value, std::move(extract));
  }
  approximate_bytes_ = ComputeApproximateBytes();
}

void Object::MaybeCompress(JsonCompressor* compressor) {
  if (compressor == nullptr) return;
  std::shared_ptr<const JsonDictionary> dictionary = compressor->DictionaryFor(json_);
  if (dictionary == nullptr) return;
  std::string compressed;
  if (!dictionary->Compress(json_, &compressed)) return;
  compressed.shrink_to_fit();
  json_ = std::move(compressed);
  dictionary_ = std::move(dictionary);
  approximate_bytes_ = ComputeApproximateBytes();
}

absl::string_view Object::PlainJson(std::string* buffer) const {
  if (dictionary_ == nullptr) return json_;
  buffer->resize(json_size_);
  // The frame was written by this dictionary from json_size_ bytes and never changes: a failure
  // is memory corruption, and serving a damaged object would be worse than stopping.
  if (absl::Status s = dictionary_->Decompress(json_, json_size_, buffer->data()); !s.ok()) {
    std::fprintf(stderr, "informerd: %s (object %s)\n", std::string(s.message()).c_str(),
                 key_.c_str());
    std::abort();
  }
  return *buffer;
}

std::string Object::json() const {
  if (dictionary_ == nullptr) return json_;
  std::string plain;
  PlainJson(&plain);
  return plain;
}

namespace {

// The texts SharedJson decompressed last, kept alive longer than their first reader needs
// them: the streams a change is fanned out to read it at different times (a stream behind by up
// to its soft limit reads it hundreds of changes later), often after the first stream's write
// has let go of it, and each would decompress it again. Bounded: the last kRecentTexts texts,
// at most kRecentBytes in all, none over kRecentTextBytes; their objects stay alive with them.
constexpr size_t kRecentTexts = 4096;
constexpr size_t kRecentBytes = 16 << 20;
constexpr size_t kRecentTextBytes = 256 << 10;

class RecentTexts {
 public:
  void Keep(std::shared_ptr<const std::string> text) {
    if (text->size() > kRecentTextBytes) return;
    std::vector<std::shared_ptr<const std::string>> evicted;
    {
      absl::MutexLock lock(&mu_);
      bytes_ += text->size();
      texts_.push_back(std::move(text));
      while (texts_.size() > kRecentTexts || bytes_ > kRecentBytes) {
        bytes_ -= texts_.front()->size();
        evicted.push_back(std::move(texts_.front()));
        texts_.pop_front();
      }
    }
    // `evicted` is let go here, outside mu_: each deleter takes its object's lock.
  }

 private:
  absl::Mutex mu_;
  std::deque<std::shared_ptr<const std::string>> texts_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

RecentTexts& Recent() {
  static RecentTexts* const recent = new RecentTexts();
  return *recent;
}

}  // namespace

std::shared_ptr<const std::string> Object::SharedJson(const std::shared_ptr<const Object>& object) {
  if (object->dictionary_ == nullptr) {
    return std::shared_ptr<const std::string>(object, &object->json_);
  }
  bool decompressed = false;
  std::shared_ptr<const std::string> shared = DecompressShared(object, &decompressed);
  // A text just made, after the object's lock is let go (see RecentTexts::Keep); one found
  // held is not kept again, so the ring holds different texts and a fan-out's readers do not
  // all take its lock.
  if (decompressed) Recent().Keep(shared);
  return shared;
}

std::shared_ptr<const std::string> Object::DecompressShared(
    const std::shared_ptr<const Object>& object, bool* decompressed) {
  absl::MutexLock lock(&object->shared_json_mu_);
  if (std::shared_ptr<const std::string> shared = object->shared_json_.lock()) return shared;
  *decompressed = true;
  auto* plain = new std::string();
  object->PlainJson(plain);
  // The deleter forgets the text in the object when the last holder lets it go, so the weak
  // pointer does not keep the control block alive, and then lets go of the object (a weak
  // pointer to the text elsewhere keeps the deleter, which must not keep the object). It checks
  // expired() rather than comparing: a newer text may have replaced this one.
  struct Forget {
    mutable ObjectPtr object;
    void operator()(const std::string* text) const {
      {
        absl::MutexLock forget(&object->shared_json_mu_);
        if (object->shared_json_.expired()) object->shared_json_.reset();
      }
      delete text;
      object.reset();
    }
  };
  std::shared_ptr<const std::string> shared(plain, Forget{object});
  object->shared_json_ = shared;
  return shared;
}

absl::StatusOr<std::shared_ptr<const Object>> Object::FromJson(
    absl::string_view json, absl::string_view default_api_version, absl::string_view default_kind,
    JsonCompressor* compressor) {
  rapidjson::Document document;
  // Full precision, so a double written back out reads as the API server sent it; iterative,
  // nesting-capped and UTF-8-checked, as for every JSON from outside.
  if (absl::Status s = ParseJson(json, &document); !s.ok()) return s;
  return FromJsonValue(document, document.GetAllocator(), default_api_version, default_kind,
                       nullptr, compressor);
}

std::vector<std::string> Object::FieldValues(absl::string_view path) const {
  absl::StatusOr<FieldPath> parsed = FieldPath::Parse(path);
  if (!parsed.ok()) return {};
  return FieldValues(*parsed);
}

std::vector<std::string> Object::FieldValues(const FieldPath& path) const {
  std::vector<std::string> values;
  VisitFieldValues(path, [&values](absl::string_view value) { values.emplace_back(value); });
  return values;
}

size_t Object::ExtractedIndex(const FieldPath& path) const {
  if (extract_ == nullptr) return ExtractedFieldPaths::kNotExtracted;
  const size_t i = extract_->Find(path.text());
  if (i == ExtractedFieldPaths::kNotExtracted || (extracted_mask_ >> i & 1) == 0) {
    return ExtractedFieldPaths::kNotExtracted;
  }
  return i;
}

bool Object::VisitFieldValuesInMemory(const FieldPath& path,
                                      absl::FunctionRef<void(absl::string_view)> visit) const {
  // The common metadata fields come from the parsed metadata, without re-parsing the JSON.
  switch (path.source()) {
    case FieldPath::Source::kName:
      visit(meta_.name);
      return true;
    case FieldPath::Source::kNamespace:
      if (!meta_.namespace_name.empty()) visit(meta_.namespace_name);
      return true;
    case FieldPath::Source::kLabel:
    case FieldPath::Source::kAnnotation: {
      const auto& map =
          path.source() == FieldPath::Source::kLabel ? meta_.labels : meta_.annotations;
      auto it = map.find(path.key());
      if (it != map.end()) visit(it->second);
      return true;
    }
    case FieldPath::Source::kJson:
      break;
  }
  const size_t i = ExtractedIndex(path);
  if (i == ExtractedFieldPaths::kNotExtracted) return false;
  extracted_.Visit(i, visit);
  return true;
}

void Object::VisitFieldValues(const FieldPath& path,
                              absl::FunctionRef<void(absl::string_view)> visit) const {
  if (VisitFieldValuesInMemory(path, visit)) return;
  // Numbers as their original text, so "1.0" stays "1.0" and large integers stay exact.
  rapidjson::Document document;
  std::string buffer;
  // json_ was written by RapidJSON from a capped parse: an error cannot happen.
  if (!ParseJsonNumbersAsStrings(PlainJson(&buffer), &document).ok()) return;
  std::vector<std::string> values;
  CollectFieldValues(document, path.steps(), &values);
  for (const std::string& value : values) visit(value);
}

size_t Object::ComputeApproximateBytes() const {
  size_t bytes = sizeof(Object) + StringBytes(json_) + StringBytes(api_version_) +
                 StringBytes(kind_) + StringBytes(key_) + StringBytes(meta_.namespace_name) +
                 StringBytes(meta_.name) + StringBytes(meta_.uid) +
                 StringBytes(meta_.resource_version) + StringBytes(meta_.deletion_timestamp) +
                 StringMapBytes(meta_.labels) + StringMapBytes(meta_.annotations);
  bytes += extracted_.bytes();
  for (const OwnerReference& ref : meta_.owner_references) {
    bytes += sizeof(OwnerReference) + StringBytes(ref.api_version) + StringBytes(ref.kind) +
             StringBytes(ref.name) + StringBytes(ref.uid);
  }
  return bytes;
}

const std::string& KeyOf(const DeltaObject& object) {
  if (const auto* tombstone = std::get_if<DeletedFinalStateUnknown>(&object)) return tombstone->key;
  return std::get<ObjectPtr>(object)->key();
}

const ObjectPtr& ObjectOf(const DeltaObject& object) {
  if (const auto* tombstone = std::get_if<DeletedFinalStateUnknown>(&object)) return tombstone->obj;
  return std::get<ObjectPtr>(object);
}

}  // namespace informer
