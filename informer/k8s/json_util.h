// Reading members of parsed JSON without repeating the type checks at every call.
#ifndef INFORMER_K8S_JSON_UTIL_H_
#define INFORMER_K8S_JSON_UTIL_H_

#include <string>
#include <vector>

#include "rapidjson/document.h"

namespace informer {
namespace k8s {

// The string member `name` of `object`; "" when `object` is not an object or the member is
// missing or not a string.
std::string StringMember(const rapidjson::Value& object, const char* name);

// The strings of the array member `name` (other elements skipped); empty when it is missing.
std::vector<std::string> StringArrayMember(const rapidjson::Value& object, const char* name);

}  // namespace k8s
}  // namespace informer

#endif  // INFORMER_K8S_JSON_UTIL_H_
