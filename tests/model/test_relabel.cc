// Relabeling against the vectors transcribed from Prometheus' own tests
// (tests/data/prometheus, see its README for attribution).
#include <boost/json.hpp>
#include <catch2/catch.hpp>

#include "model/relabel.h"
#include "tests/support/vectors.h"

using namespace stoker;
namespace json = boost::json;

namespace {

Labels to_labels(const json::value& v) {
  Labels out;
  for (const auto& [k, val] : v.as_object()) out.set(std::string(k), std::string(val.as_string()));
  return out;
}

}  // namespace

TEST_CASE("relabeling passes Prometheus' TestRelabel vectors", "[relabel][conformance]") {
  auto cases = test::load_vectors("relabel_cases.json").as_array();
  REQUIRE(cases.size() == 34);
  for (const auto& cv : cases) {
    const auto& c = cv.as_object();
    std::string name(c.at("name").as_string());
    SECTION(name) {
      std::vector<RelabelConfig> configs;
      for (const auto& rc : c.at("configs").as_array())
        configs.push_back(test::relabel_config_from_json(rc.as_object(), false));
      auto rules = RelabelRules::compile(configs);
      INFO(rules.error());
      REQUIRE(rules);
      Labels labels = to_labels(c.at("input_labels"));
      bool kept = rules->apply(labels);
      if (c.contains("expected_drop") && c.at("expected_drop").as_bool()) {
        CHECK_FALSE(kept);
      } else {
        CHECK(kept);
        CHECK(labels.to_string() == to_labels(c.at("expected_labels")).to_string());
      }
    }
  }
}

TEST_CASE("relabel validation passes Prometheus' TestRelabelValidate vectors",
          "[relabel][conformance]") {
  auto doc = test::load_vectors("relabel_validate_cases.json").as_object();
  for (const auto& cv : doc.at("validate_cases").as_array()) {
    const auto& c = cv.as_object();
    const auto& o = c.at("config").as_object();
    RelabelConfig cfg = test::relabel_config_from_json(o, true);
    auto scheme = c.at("name_validation_scheme") == "legacy" ? NameValidation::kLegacy
                                                             : NameValidation::kUtf8;
    std::string err = validate_relabel(cfg, scheme).message();
    INFO("line " << c.at("source_line") << ": " << err);
    if (c.at("expected_error_contains").is_null()) {
      CHECK(err.empty());
    } else {
      CHECK(err.find(std::string(c.at("expected_error_contains").as_string())) !=
            std::string::npos);
    }
  }
  for (const auto& cv : doc.at("legacy_target_label_cases").as_array()) {
    const auto& c = cv.as_object();
    std::string label(c.at("target_label").as_string());
    INFO(label);
    CHECK(legacy_target_label_valid(label) == c.at("valid").as_bool());
  }
}

TEST_CASE("Go template expansion follows regexp.Expand", "[relabel]") {
  std::vector<std::optional<std::string>> groups = {std::string("foo-bar"), std::string("foo"),
                                                    std::nullopt, std::string("bar")};
  std::vector<std::string> names = {"", "first", "", "third"};
  CHECK(expand_template("$1", groups, names) == "foo");
  CHECK(expand_template("${1}x", groups, names) == "foox");
  CHECK(expand_template("$1x", groups, names) == "");  // greedy name "1x"
  CHECK(expand_template("${first}/${third}", groups, names) == "foo/bar");
  CHECK(expand_template("$first", groups, names) == "foo");
  CHECK(expand_template("$2", groups, names) == "");   // group did not match
  CHECK(expand_template("$9", groups, names) == "");   // out of range
  CHECK(expand_template("$01", groups, names) == "");  // leading zero: a name
  CHECK(expand_template("$0", groups, names) == "foo-bar");
  CHECK(expand_template("$$1", groups, names) == "$1");
  CHECK(expand_template("a${", groups, names) == "a${");
  CHECK(expand_template("${}", groups, names) == "${}");
  CHECK(expand_template("$-", groups, names) == "$-");
}

TEST_CASE("bad regexes and actions are rejected at compile time", "[relabel]") {
  std::string err;
  RelabelConfig c;
  c.target_label = "x";
  c.regex = "abc(def";
  c.regex_is_default = false;
  err = RelabelRules::compile({c}).error();
  CHECK(err.find("relabel rule 0: error parsing regexp") != std::string::npos);
  c.regex = "(.*)";
  c.action = "explode";
  err = RelabelRules::compile({c}).error();
  CHECK(err.find("unknown relabel action \"explode\"") != std::string::npos);
}

TEST_CASE("hashmod shards targets like Prometheus", "[relabel]") {
  RelabelConfig c;
  c.source_labels = {"__address__"};
  c.action = "hashmod";
  c.modulus = 1000;
  c.target_label = "__tmp_hash";
  auto rules = RelabelRules::compile({c});
  REQUIRE(rules);
  Labels l{{"__address__", "baz"}};
  REQUIRE(rules->apply(l));
  CHECK(l.get("__tmp_hash") == "976");  // md5("baz") bytes 8..15 big-endian % 1000
}
