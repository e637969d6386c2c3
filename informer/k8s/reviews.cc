#include "informer/k8s/reviews.h"

#include "absl/strings/str_cat.h"
#include "informer/k8s/json_util.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace k8s {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& w, const char* key) { w.Key(key); }
void Str(Writer& w, absl::string_view text) {
  w.String(text.data(), static_cast<rapidjson::SizeType>(text.size()));
}
void Member(Writer& w, const char* key, absl::string_view text) {
  Key(w, key);
  Str(w, text);
}
void StrArray(Writer& w, const std::vector<std::string>& items) {
  w.StartArray();
  for (const std::string& item : items) Str(w, item);
  w.EndArray();
}

absl::StatusOr<rapidjson::Document> ParseReview(const std::string& body, const char* kind) {
  rapidjson::Document document;
  document.Parse(body.c_str(), body.size());
  if (document.HasParseError() || !document.IsObject() || StringMember(document, "kind") != kind) {
    return absl::InternalError(
        absl::StrCat("the API server's answer to a ", kind, " is not a ", kind));
  }
  return document;
}

bool BoolMember(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return false;
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsBool() && it->value.GetBool();
}

const rapidjson::Value* ObjectMember(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) return nullptr;
  auto it = object.FindMember(name);
  return it != object.MemberEnd() && it->value.IsObject() ? &it->value : nullptr;
}

}  // namespace

std::string TokenReviewJson(absl::string_view token, const std::vector<std::string>& audiences) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Member(w, "apiVersion", "authentication.k8s.io/v1");
  Member(w, "kind", "TokenReview");
  Key(w, "spec");
  w.StartObject();
  Member(w, "token", token);
  if (!audiences.empty()) {
    Key(w, "audiences");
    StrArray(w, audiences);
  }
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

std::string SubjectAccessReviewJson(const UserInfo& user, const AccessAttributes& attributes) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Member(w, "apiVersion", "authorization.k8s.io/v1");
  Member(w, "kind", "SubjectAccessReview");
  Key(w, "spec");
  w.StartObject();
  Member(w, "user", user.username);
  if (!user.uid.empty()) Member(w, "uid", user.uid);
  Key(w, "groups");
  StrArray(w, user.groups);
  if (!user.extra.empty()) {
    Key(w, "extra");
    w.StartObject();
    for (const auto& [key, values] : user.extra) {
      Key(w, key.c_str());
      StrArray(w, values);
    }
    w.EndObject();
  }
  if (!attributes.path.empty()) {
    Key(w, "nonResourceAttributes");
    w.StartObject();
    Member(w, "path", attributes.path);
    Member(w, "verb", attributes.verb);
    w.EndObject();
  } else {
    Key(w, "resourceAttributes");
    w.StartObject();
    Member(w, "verb", attributes.verb);
    Member(w, "group", attributes.group);
    if (!attributes.version.empty()) Member(w, "version", attributes.version);
    Member(w, "resource", attributes.resource);
    if (!attributes.namespace_name.empty()) Member(w, "namespace", attributes.namespace_name);
    if (!attributes.name.empty()) Member(w, "name", attributes.name);
    // Passed on so that selector-aware authorizers (webhooks, AuthorizeWithSelectors) see them;
    // RBAC ignores them.
    if (!attributes.field_selector.empty()) {
      Key(w, "fieldSelector");
      w.StartObject();
      Member(w, "rawSelector", attributes.field_selector);
      w.EndObject();
    }
    if (!attributes.label_selector.empty()) {
      Key(w, "labelSelector");
      w.StartObject();
      Member(w, "rawSelector", attributes.label_selector);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndObject();
  w.EndObject();
  return buffer.GetString();
}

absl::StatusOr<TokenReviewResult> ReviewToken(RestClient& client, absl::string_view token,
                                              const std::vector<std::string>& audiences) {
  absl::StatusOr<std::string> body =
      client.Post("/apis/authentication.k8s.io/v1/tokenreviews", TokenReviewJson(token, audiences));
  if (!body.ok()) return body.status();
  absl::StatusOr<rapidjson::Document> document = ParseReview(*body, "TokenReview");
  if (!document.ok()) return document.status();
  TokenReviewResult result;
  const rapidjson::Value* status = ObjectMember(*document, "status");
  if (status == nullptr) return result;  // nothing said: not authenticated
  result.authenticated = BoolMember(*status, "authenticated");
  result.error = StringMember(*status, "error");
  result.audiences = StringArrayMember(*status, "audiences");
  if (const rapidjson::Value* user = ObjectMember(*status, "user")) {
    result.user.username = StringMember(*user, "username");
    result.user.uid = StringMember(*user, "uid");
    result.user.groups = StringArrayMember(*user, "groups");
    if (const rapidjson::Value* extra = ObjectMember(*user, "extra")) {
      for (auto it = extra->MemberBegin(); it != extra->MemberEnd(); ++it) {
        result.user.extra[it->name.GetString()] = StringArrayMember(*extra, it->name.GetString());
      }
    }
  }
  return result;
}

absl::StatusOr<AccessDecision> ReviewAccess(RestClient& client, const UserInfo& user,
                                            const AccessAttributes& attributes) {
  absl::StatusOr<std::string> body =
      client.Post("/apis/authorization.k8s.io/v1/subjectaccessreviews",
                  SubjectAccessReviewJson(user, attributes));
  if (!body.ok()) return body.status();
  absl::StatusOr<rapidjson::Document> document = ParseReview(*body, "SubjectAccessReview");
  if (!document.ok()) return document.status();
  AccessDecision decision;
  if (const rapidjson::Value* status = ObjectMember(*document, "status")) {
    decision.allowed = BoolMember(*status, "allowed");
    decision.denied = BoolMember(*status, "denied");
    decision.reason = StringMember(*status, "reason");
    decision.evaluation_error = StringMember(*status, "evaluationError");
  }
  if (decision.denied) decision.allowed = false;
  return decision;
}

}  // namespace k8s
}  // namespace informer
