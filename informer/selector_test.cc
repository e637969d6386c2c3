#include "informer/selector.h"

#include <chrono>
#include <cstdio>
#include <random>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "informer/field_path.h"
#include "informer/json.h"
#include "informer/selectable_fields.h"
#include "informer/testing/objects.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace informer {
namespace {

using ::informer::testing::MakeObject;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

using Labels = std::map<std::string, std::string>;

LabelSelector MustParseLabels(const std::string& text) {
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(text);
  EXPECT_TRUE(selector.ok()) << text << ": " << selector.status();
  return selector.ok() ? *selector : LabelSelector();
}

FieldSelector MustParseFields(const std::string& text) {
  absl::StatusOr<FieldSelector> selector = FieldSelector::Parse(text);
  EXPECT_TRUE(selector.ok()) << text << ": " << selector.status();
  return selector.ok() ? *selector : FieldSelector();
}

bool LabelsMatch(const std::string& selector, const Labels& labels) {
  return MustParseLabels(selector).Matches(labels);
}

// ----- LabelSelector -------------------------------------------------------------------------

TEST(LabelSelectorTest, EmptySelectorMatchesEverything) {
  for (const char* text : {"", "   ", "\t\n"}) {
    LabelSelector selector = MustParseLabels(text);
    EXPECT_TRUE(selector.Empty()) << text;
    EXPECT_TRUE(selector.Matches(Labels{}));
    EXPECT_TRUE(selector.Matches(Labels{{"a", "b"}}));
  }
  EXPECT_TRUE(LabelSelector().Matches(Labels{{"a", "b"}}));
}

TEST(LabelSelectorTest, EqualityOperators) {
  EXPECT_TRUE(LabelsMatch("app=web", {{"app", "web"}}));
  EXPECT_TRUE(LabelsMatch("app==web", {{"app", "web"}, {"x", "y"}}));
  EXPECT_FALSE(LabelsMatch("app=web", {{"app", "db"}}));
  EXPECT_FALSE(LabelsMatch("app=web", {}));
  EXPECT_TRUE(LabelsMatch("app!=web", {{"app", "db"}}));
  EXPECT_FALSE(LabelsMatch("app!=web", {{"app", "web"}}));
}

TEST(LabelSelectorTest, NotEqualsAndNotInMatchObjectsWithoutTheKey) {
  EXPECT_TRUE(LabelsMatch("app!=web", {}));
  EXPECT_TRUE(LabelsMatch("app notin (web,db)", {{"other", "web"}}));
  EXPECT_FALSE(LabelsMatch("app notin (web,db)", {{"app", "db"}}));
  EXPECT_TRUE(LabelsMatch("app notin (web,db)", {{"app", "api"}}));
}

TEST(LabelSelectorTest, SetOperators) {
  EXPECT_TRUE(LabelsMatch("env in (prod,staging)", {{"env", "staging"}}));
  EXPECT_FALSE(LabelsMatch("env in (prod,staging)", {{"env", "dev"}}));
  EXPECT_FALSE(LabelsMatch("env in (prod,staging)", {}));
}

TEST(LabelSelectorTest, EmptyValues) {
  // `a=` and `a in ()` select the empty value, as in Kubernetes.
  EXPECT_TRUE(LabelsMatch("a=", {{"a", ""}}));
  EXPECT_FALSE(LabelsMatch("a=", {{"a", "x"}}));
  EXPECT_FALSE(LabelsMatch("a=", {}));
  EXPECT_TRUE(LabelsMatch("a in ()", {{"a", ""}}));
  EXPECT_FALSE(LabelsMatch("a in ()", {{"a", "x"}}));
  EXPECT_THAT(MustParseLabels("a in ()").requirements()[0].values, ElementsAre(""));
  EXPECT_THAT(MustParseLabels("a in (x,)").requirements()[0].values, ElementsAre("", "x"));
  EXPECT_THAT(MustParseLabels("a in (,x)").requirements()[0].values, ElementsAre("", "x"));
  EXPECT_THAT(MustParseLabels("a in (x,,y)").requirements()[0].values, ElementsAre("", "x", "y"));
  EXPECT_THAT(MustParseLabels("a in (,)").requirements()[0].values, ElementsAre(""));
}

TEST(LabelSelectorTest, ExistenceOperators) {
  EXPECT_TRUE(LabelsMatch("app", {{"app", ""}}));
  EXPECT_FALSE(LabelsMatch("app", {{"other", "x"}}));
  EXPECT_TRUE(LabelsMatch("!app", {{"other", "x"}}));
  EXPECT_FALSE(LabelsMatch("!app", {{"app", "x"}}));
}

TEST(LabelSelectorTest, IntegerComparisons) {
  EXPECT_TRUE(LabelsMatch("replicas>2", {{"replicas", "3"}}));
  EXPECT_FALSE(LabelsMatch("replicas>2", {{"replicas", "2"}}));
  EXPECT_TRUE(LabelsMatch("replicas<2", {{"replicas", "1"}}));
  EXPECT_FALSE(LabelsMatch("replicas<2", {{"replicas", "10"}}));  // numeric, not lexical
  EXPECT_FALSE(LabelsMatch("replicas>2", {{"replicas", "many"}}));
  EXPECT_FALSE(LabelsMatch("replicas>2", {}));
  EXPECT_FALSE(LabelsMatch("replicas<2", {}));
}

TEST(LabelSelectorTest, AllRequirementsMustHold) {
  const std::string selector = "app=web,env in (prod),!canary,tier";
  EXPECT_TRUE(LabelsMatch(selector, {{"app", "web"}, {"env", "prod"}, {"tier", "x"}}));
  EXPECT_FALSE(LabelsMatch(selector, {{"app", "web"}, {"env", "prod"}}));
  EXPECT_FALSE(
      LabelsMatch(selector, {{"app", "web"}, {"env", "prod"}, {"tier", "x"}, {"canary", "1"}}));
  // Two requirements on one key both apply.
  EXPECT_FALSE(LabelsMatch("a=x,a=y", {{"a", "x"}}));
  EXPECT_TRUE(LabelsMatch("a,a!=y", {{"a", "x"}}));
}

TEST(LabelSelectorTest, ToleratesWhitespace) {
  LabelSelector selector =
      MustParseLabels("  app = web ,\tenv  in  ( prod , staging ) , ! canary , n > 1 ");
  EXPECT_EQ(selector.ToString(), "app=web,!canary,env in (prod,staging),n>1");
  EXPECT_TRUE(selector.Matches(Labels{{"app", "web"}, {"env", "prod"}, {"n", "2"}}));
}

TEST(LabelSelectorTest, KeywordsAreOrdinaryWordsOutsideTheOperatorPlace) {
  EXPECT_TRUE(LabelsMatch("in", {{"in", "x"}}));
  EXPECT_TRUE(LabelsMatch("!notin", {}));
  LabelSelector selector = MustParseLabels("in in (in,notin),notin=in");
  EXPECT_TRUE(selector.Matches(Labels{{"in", "notin"}, {"notin", "in"}}));
  EXPECT_FALSE(selector.Matches(Labels{{"in", "x"}, {"notin", "in"}}));
}

TEST(LabelSelectorTest, PrefixedKeys) {
  EXPECT_TRUE(LabelsMatch("app.kubernetes.io/name=web", {{"app.kubernetes.io/name", "web"}}));
  EXPECT_TRUE(LabelsMatch("!example.com/Legacy_Key.v2", {}));
  EXPECT_TRUE(LabelsMatch("x=A-b_c.9", {{"x", "A-b_c.9"}}));
}

TEST(LabelSelectorTest, RequirementsAreSortedByKeyWithSortedValues) {
  LabelSelector selector = MustParseLabels("z=1,a notin (c,b,c),m");
  ASSERT_EQ(selector.requirements().size(), 3u);
  EXPECT_EQ(selector.requirements()[0].key, "a");
  EXPECT_EQ(selector.requirements()[0].op, LabelSelector::Operator::kNotIn);
  EXPECT_THAT(selector.requirements()[0].values, ElementsAre("b", "c"));
  EXPECT_EQ(selector.requirements()[1].key, "m");
  EXPECT_EQ(selector.requirements()[1].op, LabelSelector::Operator::kExists);
  EXPECT_EQ(selector.requirements()[2].key, "z");
  EXPECT_EQ(selector.requirements()[2].op, LabelSelector::Operator::kEquals);
  EXPECT_THAT(selector.requirements()[2].values, ElementsAre("1"));
}

TEST(LabelSelectorTest, ToStringIsCanonicalAndParsesBack) {
  for (const char* text : {"b==x,a", "!z,y in (c,b),x notin (),w!=,v>5,u<3", "a=,b in (,x)"}) {
    std::string canonical = MustParseLabels(text).ToString();
    LabelSelector again = MustParseLabels(canonical);
    EXPECT_EQ(again.ToString(), canonical) << text;
  }
  EXPECT_EQ(MustParseLabels("b==x,a,!c").ToString(), "a,b=x,!c");
  EXPECT_EQ(MustParseLabels("k in (b,a,b)").ToString(), "k in (a,b)");
}

TEST(LabelSelectorTest, MatchesObjectLabels) {
  LabelSelector selector = MustParseLabels("app=web");
  EXPECT_TRUE(selector.Matches(*MakeObject("ns", "a", "1", {{"app", "web"}})));
  EXPECT_FALSE(selector.Matches(*MakeObject("ns", "a", "1", {{"app", "db"}})));
}

TEST(LabelSelectorTest, ErrorNamesPositionAndExpectation) {
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse("a in (b");
  ASSERT_FALSE(selector.ok());
  EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(selector.status().message(), "label selector \"a in (b\": expected ')' at position 7");

  selector = LabelSelector::Parse("a b");
  EXPECT_EQ(selector.status().message(),
            "label selector \"a b\": expected '=', '==', '!=', 'in', 'notin', '>', '<', ',' or "
            "end of string at position 2, found 'b'");

  selector = LabelSelector::Parse("a=b c");
  EXPECT_EQ(selector.status().message(),
            "label selector \"a=b c\": expected ',' or end of string at position 4, found 'c'");

  selector = LabelSelector::Parse("a,");
  EXPECT_THAT(selector.status().message(), HasSubstr("expected a label key or '!' after ','"));
  EXPECT_THAT(selector.status().message(), HasSubstr("position 2"));

  selector = LabelSelector::Parse("n>x");
  EXPECT_THAT(selector.status().message(), HasSubstr("expected an integer at position 2"));
}

TEST(LabelSelectorTest, InvalidKeysAreRejected) {
  const std::string long_name(64, 'a');
  const std::string long_prefix = std::string(254, 'a') + "/x";
  for (const std::string& key :
       {std::string("-a"), std::string("a-"), std::string("/a"), std::string("a/"),
        std::string("a/b/c"), std::string("Example.com/a"), std::string("exa_mple.com/a"),
        std::string("a..b/c"), std::string("a@b"), long_name, long_prefix, std::string("ä")}) {
    absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(key + "=x");
    ASSERT_FALSE(selector.ok()) << key;
    EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_THAT(selector.status().message(), HasSubstr("invalid label key")) << key;
    EXPECT_THAT(selector.status().message(), HasSubstr("position 0")) << key;
  }
  // The longest valid name: 63 characters.
  EXPECT_TRUE(LabelSelector::Parse(std::string(63, 'a') + "=x").ok());
}

TEST(LabelSelectorTest, InvalidValuesAreRejected) {
  for (const std::string& text : std::vector<std::string>{"a=-x", "a=x-", "a!=x/y", "a in (ok,b@d)",
                                                          "a notin (" + std::string(64, 'v') + ")",
                                                          "a=" + std::string(64, 'v'), "a>-1"}) {
    absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(text);
    ASSERT_FALSE(selector.ok()) << text;
    EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  absl::StatusOr<LabelSelector> selector = LabelSelector::Parse("a in (ok,b@d)");
  EXPECT_THAT(selector.status().message(), HasSubstr("invalid label value \"b@d\" at position 9"));
  EXPECT_TRUE(LabelSelector::Parse("a=" + std::string(63, 'v')).ok());
}

TEST(LabelSelectorTest, MalformedSelectorsAreInvalidArgument) {
  for (const char* text : {",",
                           ",a",
                           "a,",
                           "a,,b",
                           "!",
                           "!,",
                           "!a=b",
                           "!a in (b)",
                           "a!",
                           "=",
                           "=a",
                           "a=b=c",
                           "a==b==c",
                           "a in",
                           "a in b",
                           "a in (b",
                           "a in (b c)",
                           "a in ((b))",
                           "a in (b))",
                           "a notin",
                           "a notin ()x",
                           "a>",
                           "a<",
                           "a>b",
                           "a>=1",
                           "a<=1",
                           "a>1.5",
                           "a>1 2",
                           "a>99999999999999999999",
                           "(",
                           ")",
                           "a=(",
                           "a=)",
                           "a in ,",
                           "a b c",
                           "a!!=b",
                           "a=!b",
                           "a ! b",
                           "a b/c=x",
                           "a in (b,!)",
                           "a,!",
                           "a=b,",
                           "a=b ,, c"}) {
    absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(text);
    ASSERT_FALSE(selector.ok()) << text;
    EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(selector.status().message(), HasSubstr("position")) << text;
  }
}

// Every prefix of valid selectors and random strings over the selector alphabet either parse or
// fail with InvalidArgument; nothing crashes or loops.
TEST(LabelSelectorTest, ArbitraryInputNeverCrashes) {
  const std::string alphabet = "ab=!(),<> 1in-./_\\";
  std::mt19937 random(42);
  std::vector<std::string> inputs;
  for (const std::string& valid :
       {std::string("app.kubernetes.io/name in (web,db),!canary,n>3,tier!=front,x==y")}) {
    for (size_t i = 0; i <= valid.size(); ++i) inputs.push_back(valid.substr(0, i));
  }
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    for (int n = random() % 16; n > 0; --n) text.push_back(alphabet[random() % alphabet.size()]);
    inputs.push_back(text);
  }
  int parsed = 0;
  for (const std::string& text : inputs) {
    absl::StatusOr<LabelSelector> selector = LabelSelector::Parse(text);
    if (selector.ok()) {
      ++parsed;
      // What parses prints a canonical form that parses to itself.
      absl::StatusOr<LabelSelector> again = LabelSelector::Parse(selector->ToString());
      ASSERT_TRUE(again.ok()) << text << " -> " << selector->ToString();
      EXPECT_EQ(again->ToString(), selector->ToString());
    } else {
      EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << text;
    }
  }
  EXPECT_GT(parsed, 10);
}

// ----- FieldSelector -------------------------------------------------------------------------

ObjectPtr PodOnNode(const std::string& name, const std::string& node) {
  std::string spec = node.empty() ? R"("spec":{})" : R"("spec":{"nodeName":")" + node + "\"}";
  return MakeObject("ns", name, "1", {{"app.kubernetes.io/name", "web"}},
                    spec + R"(,"status":{"phase":"Running"})");
}

TEST(FieldSelectorTest, EmptySelectorMatchesEverything) {
  for (const char* text : {"", ",", ",,"}) {
    FieldSelector selector = MustParseFields(text);
    EXPECT_TRUE(selector.Empty()) << text;
    EXPECT_TRUE(selector.Matches(*PodOnNode("a", "n1")));
  }
}

TEST(FieldSelectorTest, EqualityOperators) {
  ObjectPtr pod = PodOnNode("a", "n1");
  EXPECT_TRUE(MustParseFields("spec.nodeName=n1").Matches(*pod));
  EXPECT_TRUE(MustParseFields("spec.nodeName==n1").Matches(*pod));
  EXPECT_FALSE(MustParseFields("spec.nodeName!=n1").Matches(*pod));
  EXPECT_FALSE(MustParseFields("spec.nodeName=n2").Matches(*pod));
  EXPECT_TRUE(MustParseFields("spec.nodeName!=n2").Matches(*pod));
  EXPECT_TRUE(
      MustParseFields("metadata.name=a,metadata.namespace=ns,status.phase=Running").Matches(*pod));
  EXPECT_FALSE(MustParseFields("metadata.name=a,status.phase=Pending").Matches(*pod));
}

TEST(FieldSelectorTest, MissingFieldComparesAsEmptyString) {
  ObjectPtr unscheduled = PodOnNode("a", "");
  ObjectPtr scheduled = PodOnNode("b", "n1");
  FieldSelector no_node = MustParseFields("spec.nodeName=");
  EXPECT_TRUE(no_node.Matches(*unscheduled));
  EXPECT_FALSE(no_node.Matches(*scheduled));
  FieldSelector some_node = MustParseFields("spec.nodeName!=");
  EXPECT_FALSE(some_node.Matches(*unscheduled));
  EXPECT_TRUE(some_node.Matches(*scheduled));
  EXPECT_TRUE(MustParseFields("metadata.namespace=").Matches(*MakeObject("", "node", "1")));
}

TEST(FieldSelectorTest, LabelKeysAndFanOutPaths) {
  ObjectPtr pod = MakeObject("ns", "a", "1", {{"app.kubernetes.io/name", "web"}},
                             R"("spec":{"containers":[{"name":"c1"},{"name":"c2"}]})");
  EXPECT_TRUE(MustParseFields("metadata.labels.app.kubernetes.io/name=web").Matches(*pod));
  EXPECT_TRUE(MustParseFields("spec.containers[*].name=c2").Matches(*pod));
  EXPECT_FALSE(MustParseFields("spec.containers[*].name!=c2").Matches(*pod));
  EXPECT_TRUE(MustParseFields("spec.containers[0].name=c1").Matches(*pod));
}

TEST(FieldSelectorTest, EscapedValues) {
  FieldSelector selector = MustParseFields(R"(metadata.labels.k=a\,b\=c\\d,metadata.name=x)");
  ASSERT_EQ(selector.requirements().size(), 2u);
  EXPECT_EQ(selector.requirements()[0].path, "metadata.labels.k");
  EXPECT_EQ(selector.requirements()[0].value, R"(a,b=c\d)");
  EXPECT_EQ(selector.requirements()[1].value, "x");
  EXPECT_EQ(selector.ToString(), R"(metadata.labels.k=a\,b\=c\\d,metadata.name=x)");
  EXPECT_TRUE(selector.Matches(*MakeObject("ns", "x", "1", {{"k", R"(a,b=c\d)"}})));
}

TEST(FieldSelectorTest, ToStringIsSortedAndParsesBack) {
  FieldSelector selector = MustParseFields("spec.b==2, spec.a!=1,spec.a=3");
  EXPECT_EQ(selector.ToString(), "spec.a=3,spec.a!=1,spec.b=2");
  EXPECT_EQ(MustParseFields(selector.ToString()).ToString(), selector.ToString());
}

TEST(FieldSelectorTest, PathWhitespaceIsIgnoredValueWhitespaceKept) {
  FieldSelector selector = MustParseFields(" metadata.name = a");
  ASSERT_EQ(selector.requirements().size(), 1u);
  EXPECT_EQ(selector.requirements()[0].path, "metadata.name");
  EXPECT_EQ(selector.requirements()[0].value, " a");  // as the API server compares it
}

TEST(FieldSelectorTest, ErrorsNamePosition) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : std::vector<Case>{
           {"metadata.name",
            "expected '=', '==' or '!=' (in term \"metadata.name\") at position 13"},
           {"a=1,=x", "expected a field path at position 4"},
           {"a=1, =x", "expected a field path at position 5"},
           {"a=b=c", "unescaped '=' in value (write '\\=') at position 3"},
           {"a=b\\qc", "invalid escape sequence '\\q'"},
           {"a=b\\", "unterminated escape sequence '\\' at position 3"},
           {"spec..x=1", "expected a field name in the field path at position 5"},
           {"a[=1", "expected ']' in the field path at position 2"},
       }) {
    absl::StatusOr<FieldSelector> selector = FieldSelector::Parse(c.text);
    ASSERT_FALSE(selector.ok()) << c.text;
    EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(selector.status().message(), HasSubstr(c.message)) << c.text;
    EXPECT_THAT(selector.status().message(), HasSubstr(absl::StrCat("\"", c.text, "\"")));
  }
}

TEST(FieldSelectorTest, MalformedSelectorsAreInvalidArgument) {
  for (const char* text : {"a", "=", "==", "!=", "=x", "!=x", "a=b,c", "a==b=c", "a[=1", "a.=1",
                           ".a=1", "a[x]=1", "a=\\", "a=\\x", "a!==b", " = "}) {
    absl::StatusOr<FieldSelector> selector = FieldSelector::Parse(text);
    ASSERT_FALSE(selector.ok()) << text;
    EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(selector.status().message(), HasSubstr("position")) << text;
  }
}

TEST(FieldSelectorTest, ArbitraryInputNeverCrashes) {
  const std::string alphabet = "ab.=!,\\[]*0 ";
  std::mt19937 random(7);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text;
    for (int n = random() % 14; n > 0; --n) text.push_back(alphabet[random() % alphabet.size()]);
    absl::StatusOr<FieldSelector> selector = FieldSelector::Parse(text);
    if (selector.ok()) {
      ++parsed;
      absl::StatusOr<FieldSelector> again = FieldSelector::Parse(selector->ToString());
      ASSERT_TRUE(again.ok()) << text << " -> " << selector->ToString();
      EXPECT_EQ(again->ToString(), selector->ToString());
      selector->Matches(*PodOnNode("a", "n1"));
    } else {
      EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << text;
    }
  }
  EXPECT_GT(parsed, 10);
}

// ----- ObjectFilter --------------------------------------------------------------------------

TEST(ObjectFilterTest, CombinesNamespaceAndBothSelectors) {
  ObjectFilter filter;
  EXPECT_TRUE(filter.MatchesEverything());
  filter.namespace_name = "ns";
  filter.labels = MustParseLabels("app.kubernetes.io/name=web");
  filter.fields = MustParseFields("spec.nodeName=n1");
  EXPECT_FALSE(filter.MatchesEverything());
  EXPECT_TRUE(filter.Matches(*PodOnNode("a", "n1")));
  EXPECT_FALSE(filter.Matches(*PodOnNode("a", "n2")));
  EXPECT_FALSE(filter.Matches(*MakeObject("other", "a", "1", {{"app.kubernetes.io/name", "web"}},
                                          R"("spec":{"nodeName":"n1"})")));
  EXPECT_FALSE(filter.Matches(*MakeObject("ns", "a", "1", {{"app.kubernetes.io/name", "db"}},
                                          R"("spec":{"nodeName":"n1"})")));
}

TEST(ObjectFilterTest, EachPartAloneMakesItSelective) {
  ObjectFilter by_namespace;
  by_namespace.namespace_name = "ns";
  EXPECT_FALSE(by_namespace.MatchesEverything());
  ObjectFilter by_labels;
  by_labels.labels = MustParseLabels("a");
  EXPECT_FALSE(by_labels.MatchesEverything());
  ObjectFilter by_fields;
  by_fields.fields = MustParseFields("metadata.name=x");
  EXPECT_FALSE(by_fields.MatchesEverything());
  EXPECT_TRUE(by_fields.Matches(*MakeObject("any", "x", "1")));
  EXPECT_FALSE(by_fields.Matches(*MakeObject("any", "y", "1")));
}

// "a! =b" would print as "a!=b", a different selector; found by fuzz_selector.
TEST(FieldSelectorTest, APathEndingInBangIsRefused) {
  for (const char* text : {"a! =b", "a!\v=b", "spec.x ! = b"}) {
    absl::StatusOr<FieldSelector> selector = FieldSelector::Parse(text);
    EXPECT_EQ(selector.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(selector.status().message(), HasSubstr("does not end in '!'")) << text;
  }
  EXPECT_TRUE(FieldSelector::Parse("a!=b").ok());
}

// --- Limits (issue 16): a hostile selector is refused before any term is parsed.

// "k0=v,k1=v,...": `terms` valid terms, the last one broken when `break_last` (so a parse that
// ran before the limit check would report a syntax error instead).
std::string ManyTerms(int terms, bool break_last) {
  std::string text;
  for (int i = 0; i < terms; ++i) {
    if (i > 0) text += ',';
    text += "k" + std::to_string(i) + "=v";
  }
  if (break_last) text += "(((";
  return text;
}

TEST(SelectorLimitsTest, TenThousandTermsAreRefusedBeforeParsingAnyTerm) {
  const std::string label_text = ManyTerms(10000, /*break_last=*/true);
  std::string field_text = label_text;
  SelectorLimits roomy;  // a length cap that lets the text through, to reach the term cap
  roomy.max_bytes = size_t{1} << 20;
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<LabelSelector> labels = LabelSelector::Parse(label_text, roomy);
  const auto took = std::chrono::steady_clock::now() - start;
  std::printf("10000-term label selector (%zu bytes) refused in %.1f us\n", label_text.size(),
              std::chrono::duration<double, std::micro>(took).count());
  // The limit's error, not the syntax error in the last term: no term was parsed.
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(labels.status().message(), HasSubstr("10000 comma-separated terms"));
  EXPECT_THAT(labels.status().message(), HasSubstr("limit of 256 (--max_selector_terms)"));
  absl::StatusOr<FieldSelector> fields = FieldSelector::Parse(field_text, roomy);
  EXPECT_EQ(fields.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fields.status().message(), HasSubstr("--max_selector_terms"));
}

TEST(SelectorLimitsTest, DefaultLengthCapRefusesALongSelectorBeforeParsing) {
  const std::string text = ManyTerms(10000, /*break_last=*/true);  // ~88 KB
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<LabelSelector> labels = LabelSelector::Parse(text);
  const auto took = std::chrono::steady_clock::now() - start;
  std::printf("10000-term label selector refused by the default caps in %.1f us\n",
              std::chrono::duration<double, std::micro>(took).count());
  EXPECT_EQ(labels.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(labels.status().message(),
              HasSubstr("over the limit of 16384 bytes (--max_selector_bytes)"));
  EXPECT_EQ(FieldSelector::Parse(text).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(SelectorLimitsTest, SetValuesCountAsTerms) {
  SelectorLimits limits;
  limits.max_terms = 3;
  EXPECT_TRUE(LabelSelector::Parse("a in (x,y,z)", limits).ok());
  absl::StatusOr<LabelSelector> over = LabelSelector::Parse("a in (w,x,y,z)", limits);
  EXPECT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(over.status().message(), HasSubstr("4 comma-separated terms, over the limit of 3"));
}

TEST(SelectorLimitsTest, SelectorsAtTheCapsParse) {
  SelectorLimits limits;
  const std::string text = ManyTerms(256, /*break_last=*/false);
  ASSERT_LE(text.size(), limits.max_bytes);
  absl::StatusOr<LabelSelector> labels = LabelSelector::Parse(text, limits);
  ASSERT_TRUE(labels.ok()) << labels.status();
  EXPECT_EQ(labels->requirements().size(), 256u);
  EXPECT_TRUE(FieldSelector::Parse(text, limits).ok());
}

// ----- Extracted field values ----------------------------------------------------------------

// Sets `path` (member steps only) of `root` to `value`, creating objects on the way; false when
// a step on the way is already something else than an object (two paths that conflict).
bool SetPath(rapidjson::Document& root, const FieldPath& path, const std::string& value_json) {
  rapidjson::Value* at = &root;
  auto& allocator = root.GetAllocator();
  const std::vector<FieldPathStep>& steps = path.steps();
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind != FieldPathStep::Kind::kMember || !at->IsObject()) return false;
    rapidjson::Value name(steps[i].member.c_str(), allocator);
    auto it = at->FindMember(name);
    if (it == at->MemberEnd()) {
      rapidjson::Value next(rapidjson::kObjectType);
      if (i + 1 == steps.size()) {
        rapidjson::Document value(&allocator);
        value.Parse(value_json.c_str());
        next.CopyFrom(value, allocator);
      }
      at->AddMember(name, next, allocator);
      it = at->FindMember(rapidjson::Value(steps[i].member.c_str(), allocator));
    } else if (i + 1 == steps.size()) {
      return false;
    }
    at = &it->value;
  }
  return true;
}

// Every resource SelectableFieldPaths knows, and one it does not.
const GroupVersionResource kSelectableResources[] = {
    {"", "v1", "pods"},
    {"", "v1", "events"},
    {"events.k8s.io", "v1", "events"},
    {"", "v1", "secrets"},
    {"", "v1", "nodes"},
    {"", "v1", "namespaces"},
    {"", "v1", "services"},
    {"", "v1", "replicationcontrollers"},
    {"apps", "v1", "replicasets"},
    {"batch", "v1", "jobs"},
    {"certificates.k8s.io", "v1", "certificatesigningrequests"},
    {"certificates.k8s.io", "v1beta1", "clustertrustbundles"},
    {"certificates.k8s.io", "v1beta1", "podcertificaterequests"},
    {"resource.k8s.io", "v1", "resourceslices"},
};

// For every path the API server supports on every resource, and every kind of JSON value
// there (strings, the empty string, bools, integers, a non-integer number, null, arrays,
// objects, nothing), an object decoded with the paths extracted answers FieldValues and field
// selectors exactly as one decoded without: extraction only changes where the values come from.
TEST(FieldSelectorTest, ExtractedAndJsonAnswersAgreeForEverySelectablePath) {
  const std::vector<std::string> values_json = {R"("x")",
                                                R"("")",
                                                "true",
                                                "false",
                                                "0",
                                                "-7",
                                                "18446744073709551615",
                                                "1.5",
                                                "null",
                                                R"(["a","b"])",
                                                R"([{"ip":"10.0.0.1"}])",
                                                R"({"k":"v"})"};
  for (const GroupVersionResource& gvr : kSelectableResources) {
    const std::vector<std::string> paths = SelectableFieldPaths(gvr);
    ASSERT_FALSE(paths.empty()) << gvr.ToString();
    auto extract = std::make_shared<const ExtractedFieldPaths>(paths);
    EXPECT_EQ(extract->size(), paths.size()) << gvr.ToString();
    // One object per value kind with every path set to it (where paths do not conflict), and
    // one with nothing set.
    for (size_t kind = 0; kind <= values_json.size(); ++kind) {
      rapidjson::Document document;
      document.Parse(R"({"metadata":{"name":"o","namespace":"ns","resourceVersion":"5"}})");
      std::set<std::string> set_paths;
      if (kind < values_json.size()) {
        for (const std::string& path : paths) {
          if (SetPath(document, *FieldPath::Parse(path), values_json[kind])) set_paths.insert(path);
        }
      }
      rapidjson::StringBuffer buffer;
      rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
      document.Accept(writer);
      const std::string json(buffer.GetString(), buffer.GetSize());
      rapidjson::Document parsed;
      ASSERT_TRUE(ParseJson(json, &parsed).ok()) << json;
      absl::StatusOr<ObjectPtr> extracted =
          Object::FromJsonValue(parsed, parsed.GetAllocator(), "v1", "Thing", extract);
      ASSERT_TRUE(extracted.ok()) << extracted.status();
      absl::StatusOr<ObjectPtr> plain = Object::FromJson(json, "v1", "Thing");
      ASSERT_TRUE(plain.ok()) << plain.status();
      for (const std::string& path : paths) {
        const std::vector<std::string> from_json = (*plain)->FieldValues(path);
        EXPECT_EQ((*extracted)->FieldValues(path), from_json) << path << " in " << json;
        // Selectors: each value there, the empty value and one that is nowhere, = and !=.
        std::vector<std::string> compared = from_json;
        compared.push_back("");
        compared.push_back("nowhere");
        for (const std::string& value : compared) {
          for (const char* op : {"=", "!="}) {
            std::string escaped;
            for (char c : value) {
              if (c == '\\' || c == ',' || c == '=') escaped.push_back('\\');
              escaped.push_back(c);
            }
            const FieldSelector selector = MustParseFields(absl::StrCat(path, op, escaped));
            EXPECT_EQ(selector.Matches(**extracted), selector.Matches(**plain))
                << path << op << value << " in " << json;
          }
        }
      }
      // Every path is answered from memory, except one set to a non-integer number.
      for (const std::string& path : paths) {
        const bool in_memory =
            (*extracted)->VisitFieldValuesInMemory(*FieldPath::Parse(path), [](absl::string_view) {
            });
        EXPECT_EQ(in_memory, set_paths.count(path) == 0 || values_json[kind] != "1.5")
            << path << " in " << json;
      }
    }
  }
  EXPECT_THAT(SelectableFieldPaths({"example.com", "v1", "widgets"}), ::testing::IsEmpty());
  EXPECT_THAT(SelectableFieldPaths({"apps", "v1", "deployments"}), ::testing::IsEmpty());
}

// The answers hold for several values per path (arrays fanned out by [*]) and for a path that
// reached an integer and then a non-integer number (dropped from the extracted values, read from
// the JSON).
TEST(FieldSelectorTest, ExtractedArraysAnswerAsTheJsonDoes) {
  const std::string json =
      R"({"metadata":{"name":"o"},"spec":{"c":[{"n":"a","p":1},{"n":"","p":2.5},{"n":"b"}],)"
      R"("tags":["x","y","x"],"empty":[]}})";
  const std::vector<std::string> paths = {"spec.c[*].n",  "spec.c[*].p",   "spec.tags[*]",
                                          "spec.tags[1]", "spec.empty[*]", "spec.c[9].n"};
  auto extract = std::make_shared<const ExtractedFieldPaths>(paths);
  rapidjson::Document parsed;
  ASSERT_TRUE(ParseJson(json, &parsed).ok());
  ObjectPtr extracted = *Object::FromJsonValue(parsed, parsed.GetAllocator(), "v1", "T", extract);
  ObjectPtr plain = *Object::FromJson(json, "v1", "T");
  for (const std::string& path : paths) {
    EXPECT_EQ(extracted->FieldValues(path), plain->FieldValues(path)) << path;
  }
  EXPECT_THAT(extracted->FieldValues("spec.c[*].n"), ElementsAre("a", "", "b"));
  EXPECT_THAT(extracted->FieldValues("spec.c[*].p"), ElementsAre("1", "2.5"));
  EXPECT_FALSE(extracted->VisitFieldValuesInMemory(*FieldPath::Parse("spec.c[*].p"),
                                                   [](absl::string_view) {}));
  EXPECT_TRUE(MustParseFields("spec.tags[*]=y").Matches(*extracted));
  EXPECT_TRUE(MustParseFields("spec.c[*].n=").Matches(*extracted));
  EXPECT_TRUE(MustParseFields("spec.empty[*]=").Matches(*extracted));
  EXPECT_FALSE(MustParseFields("spec.empty[*]!=").Matches(*extracted));
  EXPECT_TRUE(MustParseFields("spec.c[*].p=2.5").Matches(*extracted));
}

// Extraction keeps little per object: nothing when no path has a value.
TEST(FieldSelectorTest, ExtractionCostsFewBytesAndNoneWhenEmpty) {
  auto extract =
      std::make_shared<const ExtractedFieldPaths>(SelectableFieldPaths({"", "v1", "pods"}));
  const std::string bare = R"({"metadata":{"name":"o","namespace":"ns"}})";
  rapidjson::Document document;
  ASSERT_TRUE(ParseJson(bare, &document).ok());
  ObjectPtr empty = *Object::FromJsonValue(document, document.GetAllocator(), "v1", "Pod", extract);
  EXPECT_EQ(empty->ApproximateBytes(), (*Object::FromJson(bare, "v1", "Pod"))->ApproximateBytes());
  const std::string full =
      R"({"metadata":{"name":"o","namespace":"ns"},"spec":{"nodeName":"node-042"},)"
      R"("status":{"phase":"Running"}})";
  ASSERT_TRUE(ParseJson(full, &document).ok());
  ObjectPtr two = *Object::FromJsonValue(document, document.GetAllocator(), "v1", "Pod", extract);
  // Two values of 8 and 7 bytes: a count, one end per path (9), one end per value (2), chars.
  EXPECT_EQ(two->ApproximateBytes() - (*Object::FromJson(full, "v1", "Pod"))->ApproximateBytes(),
            (1 + 9 + 2) * sizeof(uint32_t) + 15);
}

}  // namespace
}  // namespace informer
