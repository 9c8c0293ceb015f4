#include "tests/support/vectors.h"

#include <catch2/catch.hpp>

#include "tests/support/process.h"

namespace stoker::test {

boost::json::value load_vectors(const std::string& name) {
  std::string text = read_file(STOKER_SOURCE_DIR "/tests/data/prometheus/" + name);
  INFO("tests/data/prometheus/" << name);
  REQUIRE_FALSE(text.empty());
  return boost::json::parse(text);
}

RelabelConfig relabel_config_from_json(const boost::json::object& o, bool raw) {
  auto str = [&](const char* key) {
    const auto& v = o.at(key);
    return v.is_string() ? std::string(v.as_string()) : std::string();
  };
  RelabelConfig c;
  c.source_labels.clear();
  for (const auto& s : o.at("source_labels").as_array())
    c.source_labels.emplace_back(s.as_string());
  c.separator = str("separator");
  c.regex = str("regex");
  c.regex_is_default = !raw && c.regex == "(.*)";
  c.modulus = static_cast<uint64_t>(o.at("modulus").to_number<int64_t>());
  c.target_label = str("target_label");
  c.replacement = str("replacement");
  c.action = str("action");
  return c;
}

}  // namespace stoker::test
