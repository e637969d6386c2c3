// Pager::Next on hostile page tokens: raw bytes, and real tokens with one field replaced (the
// process-random instance field cannot be guessed, so the second form reaches the checks after
// it). Every answer must be a page or InvalidArgument/Aborted, never a crash or a wrong page.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "informer/object.h"
#include "server/pager.h"

namespace {

using informer::ObjectPtr;
using informer::server::Page;
using informer::server::Pager;

constexpr char kQuery[] = "pods||app=web|";

struct State {
  Pager pager;
  std::string token;  // of page 2 of a 10-object snapshot, 3 per page
  absl::Time now = absl::Now();
};

State& Shared() {
  static State* state = [] {
    auto* s = new State();
    std::vector<ObjectPtr> objects;
    for (int i = 0; i < 10; ++i) {
      objects.push_back(*informer::Object::FromJson(
          "{\"metadata\":{\"name\":\"p" + std::to_string(i) + "\",\"namespace\":\"n\"}}", "v1",
          "Pod"));
    }
    s->token = s->pager.First(kQuery, objects, "42", 3, s->now)->next_page_token;
    return s;
  }();
  return *state;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  State& state = Shared();
  FuzzedDataProvider provider(data, size);
  const int32_t limit = provider.ConsumeIntegral<int32_t>();
  const bool same_query = provider.ConsumeBool();
  std::string token;
  if (provider.ConsumeBool()) {
    token = provider.ConsumeRemainingBytesAsString();
  } else {
    std::string decoded;
    absl::WebSafeBase64Unescape(state.token, &decoded);
    std::vector<std::string> parts = absl::StrSplit(decoded, ':');
    const size_t field = provider.ConsumeIntegralInRange<size_t>(0, parts.size() - 1);
    parts[field] = provider.ConsumeRemainingBytesAsString();
    token = absl::WebSafeBase64Escape(absl::StrJoin(parts, ":"));
  }
  absl::StatusOr<Page> page =
      state.pager.Next(same_query ? kQuery : "pods||app=db|", token, limit, state.now);
  if (page.ok()) {
    if (page->objects.empty() || page->objects.size() > 10 || page->total_count != 10 ||
        page->resource_version != "42") {
      std::fprintf(stderr, "a bad page from token %s\n", token.c_str());
      std::abort();
    }
  } else if (!absl::IsInvalidArgument(page.status()) && !absl::IsAborted(page.status())) {
    std::fprintf(stderr, "unexpected status %s\n", page.status().ToString().c_str());
    std::abort();
  }
  return 0;
}
