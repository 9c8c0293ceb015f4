// file_sd against the fixtures and expectations transcribed from Prometheus'
// discovery/file tests (tests/data/prometheus/file_sd_cases.json).
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>

#include "discovery/file_sd.h"
#include "discovery/http_sd.h"
#include "tests/support/process.h"
#include "tests/support/vectors.h"

using namespace stoker;
namespace json = boost::json;

namespace {

struct Vectors {
  json::object doc;
  Vectors() : doc(test::load_vectors("file_sd_cases.json").as_object()) {}
  std::string fixture(const std::string& name) const {
    return std::string(doc.at("fixtures").at(name).as_string());
  }
  const json::object& test(const std::string& name, const std::string& file = "") const {
    for (const auto& t : doc.at("tests").as_array()) {
      const auto& o = t.as_object();
      if (o.at("test") == name.c_str() &&
          (file.empty() || (o.contains("file") && o.at("file") == file.c_str()))) {
        return o;
      }
    }
    FAIL("no vector " << name);
    return doc;
  }
};

// The expected groups with <FILE> replaced by the real path.
std::vector<TargetGroup> expected(const json::value& groups, const std::string& path) {
  std::vector<TargetGroup> out;
  for (const auto& gv : groups.as_array()) {
    const auto& g = gv.as_object();
    TargetGroup tg;
    std::string source(g.at("Source").as_string());
    tg.source = path + source.substr(std::string("<FILE>").size());
    if (g.at("Targets").is_array()) {
      for (const auto& t : g.at("Targets").as_array()) {
        tg.targets.push_back(Labels{{"__address__", std::string(t.at("__address__").as_string())}});
      }
    }
    if (g.at("Labels").is_object()) {
      for (const auto& [k, v] : g.at("Labels").as_object()) {
        std::string value(v.as_string());
        tg.labels.set(std::string(k), value == "<FILE>" ? path : value);
      }
    }
    out.push_back(std::move(tg));
  }
  return out;
}

std::string describe(const std::vector<TargetGroup>& groups) {
  std::string out;
  for (const auto& g : groups) {
    out += g.source + " " + g.labels.to_string() + " [";
    for (const auto& t : g.targets) out += t.to_string();
    out += "]\n";
  }
  return out;
}

std::vector<TargetGroup> refresh(FileSdState& state, const std::string& pattern,
                                 std::vector<std::string>* errors) {
  std::vector<TargetGroup> updates;
  state.refresh({pattern}, &updates, errors);
  return updates;
}

}  // namespace

TEST_CASE("file_sd: initial update from YAML and JSON", "[discovery][conformance]") {
  Vectors v;
  for (const std::string name : {"valid.yml", "valid.json"}) {
    test::TempDir dir;
    std::string path = dir.file(name);
    test::write_file(path, v.fixture(name));
    FileSdState state;
    std::vector<std::string> errors;
    auto got = refresh(state, dir.file("*" + name.substr(name.find('.'))), &errors);
    INFO(name);
    CHECK(errors.empty());
    CHECK(describe(got) ==
          describe(expected(v.test("TestInitialUpdate", name).at("expected_groups"), path)));
  }
}

TEST_CASE("file_sd: an invalid file gives no update and an error naming it",
          "[discovery][conformance]") {
  Vectors v;
  for (const std::string name : {"invalid_nil.yml", "invalid_nil.json"}) {
    test::TempDir dir;
    test::write_file(dir.file(name), v.fixture(name));
    FileSdState state;
    std::vector<std::string> errors;
    CHECK(refresh(state, dir.file(name), &errors).empty());
    REQUIRE(errors.size() == 1);
    CHECK(errors[0].find(dir.file(name)) != std::string::npos);
    CHECK(errors[0].find("nil target group item found") != std::string::npos);
  }
}

TEST_CASE("file_sd: updates, no-op rewrites, partial writes and removal",
          "[discovery][conformance]") {
  Vectors v;
  test::TempDir dir;
  std::string path = dir.file("targets.yml");
  FileSdState state;
  std::vector<std::string> errors;
  auto valid = expected(v.test("TestFileUpdate").at("expected_groups_initial"), path);

  test::write_file(path, v.fixture("valid.yml"));
  CHECK(describe(refresh(state, path, &errors)) == describe(valid));

  // Same structure, different bytes: nothing changed for the consumer.
  test::write_file(path, v.fixture("valid3.yml"));
  CHECK(refresh(state, path, &errors).empty());

  test::write_file(path, v.fixture("valid2.yml"));
  CHECK(describe(refresh(state, path, &errors)) ==
        describe(expected(v.test("TestFileUpdate").at("expected_groups_after"), path)));

  // Gibberish keeps the previous groups and reports the file.
  test::write_file(path, v.fixture("valid.yml"));
  refresh(state, path, &errors);
  errors.clear();
  test::write_file(path, "]gibberish\n][");
  CHECK(refresh(state, path, &errors).empty());
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].rfind(path + ":", 0) == 0);

  // A partial write, then the rest of it.
  errors.clear();
  test::write_file(path, "- targets");
  CHECK(refresh(state, path, &errors).empty());
  CHECK(errors.size() == 1);
  test::write_file(path, "- targets: [\"localhost:9091\"]");
  CHECK(describe(refresh(state, path, &errors)) ==
        describe(
            expected(v.test("TestUpdateFileWithPartialWrites").at("expected_groups_after"), path)));

  // Removal empties every group the file had.
  test::write_file(path, v.fixture("valid.yml"));
  refresh(state, path, &errors);
  std::filesystem::remove(path);
  CHECK(describe(refresh(state, path, &errors)) ==
        describe(expected(v.test("TestRemoveFile").at("expected_groups_after"), path)));
}

TEST_CASE("file_sd: unknown keys are rejected", "[discovery]") {
  CHECK(parse_sd_file("/x.json", R"([{"targets": ["a:1"], "lables": {}}])").error() ==
        "/x.json: unknown field \"lables\" in target group");
  CHECK(parse_sd_file("/x.yml", "- targets: [a:1]\n  lables: {}\n").error() ==
        "/x.yml:2:3: unknown key \"lables\" in target group");
}

TEST_CASE("http_sd: answers are checked and parsed as Prometheus does", "[discovery][http_sd]") {
  const std::string url = "http://sd.internal/targets";
  std::vector<TargetGroup> g;
  std::string body =
      R"([{"targets": ["10.0.0.1:6060", "10.0.0.2:6060"], "labels": {"env": "prod"}},
          {"targets": ["10.0.0.3:6060"]}])";
  REQUIRE(parse_http_sd_response(url, 200, "OK", "application/json", body, &g).ok());
  REQUIRE(g.size() == 2);
  CHECK(g[0].source == url + ":0");
  CHECK(g[1].source == url + ":1");
  CHECK(g[0].labels == Labels{{"__meta_url", url}, {"env", "prod"}});
  CHECK(g[1].labels == Labels{{"__meta_url", url}});
  CHECK(g[0].targets.size() == 2);
  CHECK(g[0].targets[1].get("__address__") == "10.0.0.2:6060");
  for (std::string ct : {"application/json; charset=utf-8", "Application/JSON",
                         "application/json;charset=\"utf-8\""}) {
    INFO(ct);
    CHECK(parse_http_sd_response(url, 200, "OK", ct, "[]", &g).ok());
  }
  struct Bad {
    int status;
    std::string ct, body, says;
  };
  for (const auto& b : std::vector<Bad>{
           {404, "text/plain", "nope", "server returned HTTP status 404 Not Found"},
           {200, "text/plain", "[]", "unsupported content type \"text/plain\""},
           {200, "application/json; charset=latin1", "[]", "unsupported content type"},
           {200, "application/json", "{\"targets\": []}", "expected a JSON list"},
           {200, "application/json", "[null]", "nil target group item found"},
           {200, "application/json", "[{\"targets\": [1]}]", "must be a list of strings"},
           {200, "application/json", "[{", "invalid JSON"},
       }) {
    INFO(b.body);
    CHECK_THAT(parse_http_sd_response(url, b.status, b.status == 404 ? "Not Found" : "OK", b.ct,
                                      b.body, &g)
                   .message(),
               Catch::Contains(b.says));
  }
  // Groups that vanish from the answer are sent empty, once.
  HttpSdState state;
  REQUIRE(parse_http_sd_response(url, 200, "OK", "application/json", body, &g).ok());
  CHECK(state.update(url, g).size() == 2);
  REQUIRE(parse_http_sd_response(url, 200, "OK", "application/json",
                                 R"([{"targets": ["10.0.0.9:6060"]}])", &g)
              .ok());
  auto u = state.update(url, g);
  REQUIRE(u.size() == 2);
  CHECK(u[1].source == url + ":1");
  CHECK(u[1].targets.empty());
  CHECK(state.update(url, g).size() == 1);
}
