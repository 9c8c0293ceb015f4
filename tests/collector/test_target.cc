#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>

#include "collector/target.h"
#include "discovery/static_sd.h"
#include "ingest/pipeline.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/vectors.h"

using namespace stoker;

namespace {

ScrapeConfig scrape_config(const std::string& yaml) {
  auto r = load_config_string(yaml, "t.yaml", "/tmp");
  std::string all;
  for (const auto& e : r.errors) all += e + "\n";
  INFO(all);
  REQUIRE(r.config);
  return r.config->scrape_configs.at(0);
}

}  // namespace

TEST_CASE("target labels are populated like Prometheus", "[target]") {
  auto sc = scrape_config(R"(
scrape_configs:
  - job_name: app
    scrape_interval: 30s
    params: {debug: ['0']}
    static_configs:
      - targets: ['h1:6060']
        labels: {env: prod, instance: custom}
      - targets: ['h2:6060']
)");
  auto targets = build_targets(sc, static_groups(sc.static_configs));
  REQUIRE(targets.size() == 2);
  const auto& t1 = targets[0];
  CHECK(t1.labels.get("job") == "app");
  CHECK(t1.labels.get("__scrape_interval__") == "30s");
  CHECK(t1.labels.get("__scrape_timeout__") == "10s");
  CHECK(t1.labels.get("__scheme__") == "http");
  CHECK(t1.labels.get("__param_debug") == "0");
  CHECK(t1.labels.get("instance") == "custom");  // the target's own instance wins
  CHECK(targets[1].labels.get("instance") == "h2:6060");
  CHECK(t1.endpoints.size() == 5);
  CHECK(t1.endpoints[0].url == "http://h1:6060/debug/pprof/profile?debug=0&seconds=29");
  CHECK(t1.endpoints[0].timeout == std::chrono::seconds(10 + 29));
  CHECK(t1.endpoints[1].url == "http://h1:6060/debug/pprof/allocs?debug=0");
  CHECK(t1.endpoints[1].timeout == std::chrono::seconds(10));
  ingest::LabelPolicy external;
  external.external = Labels{{"cluster", "c1"}};
  auto series =
      test::must(ingest::finish_labels(t1.profile_labels(t1.endpoints[1].type), external));
  REQUIRE(series);
  CHECK(*series == Labels{{"__name__", "memory"},
                          {"job", "app"},
                          {"instance", "custom"},
                          {"env", "prod"},
                          {"service_name", "app"},
                          {"cluster", "c1"}});
}

TEST_CASE("relabel_configs keep, drop and rewrite targets", "[target][relabel]") {
  auto sc = scrape_config(R"(
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['keep-1:6060', 'drop-1:6060', 'keep-2:7070']
        labels: {__meta_source: static}
    relabel_configs:
      - {action: drop, source_labels: [__address__], regex: 'drop-.*'}
      - {source_labels: [__address__], regex: '(.*):7070', target_label: __address__, replacement: '${1}:6061'}
      - {source_labels: [__meta_source], target_label: source}
      - {target_label: __scheme__, replacement: https}
      - {target_label: __profile_path_prefix__, replacement: /prefix}
)");
  auto targets = build_targets(sc, static_groups(sc.static_configs));
  REQUIRE(targets.size() == 3);
  CHECK_FALSE(targets[0].dropped);
  CHECK(targets[1].dropped);
  CHECK(targets[1].endpoints.empty());
  CHECK(targets[2].labels.get("__address__") == "keep-2:6061");
  CHECK(targets[2].labels.get("instance") ==
        "keep-2:6061");  // instance follows the rewritten address
  CHECK(targets[2].labels.get("source") == "static");
  CHECK_FALSE(targets[2].labels.has("__meta_source"));  // __meta_* removed after relabeling
  CHECK(targets[2].discovered.get("__meta_source") == "static");  // but kept as discovered
  CHECK(targets[2].endpoints[1].url == "https://keep-2:6061/prefix/debug/pprof/allocs");
}

TEST_CASE("an address with a path after relabeling is a target error", "[target][relabel]") {
  auto sc = scrape_config(R"(
scrape_configs:
  - job_name: app
    static_configs: [{targets: ['h:1']}]
    relabel_configs: [{target_label: __address__, replacement: 'h:1/x'}]
)");
  auto targets = build_targets(sc, static_groups(sc.static_configs));
  REQUIRE(targets.size() == 1);
  CHECK(targets[0].error == "\"h:1/x\" is not a valid hostname");
  CHECK(targets[0].endpoints.empty());
}

TEST_CASE("profile_relabel_configs rewrite or drop a profile's series", "[target][relabel]") {
  auto sc = scrape_config(R"(
scrape_configs:
  - job_name: app
    static_configs: [{targets: ['h:1'], labels: {team: core}}]
    profile_relabel_configs:
      - {action: drop, source_labels: [__name__], regex: goroutine}
      - {source_labels: [team], target_label: owner}
      - {action: labeldrop, regex: team}
      - {target_label: __tmp_x, replacement: y}
)");
  auto targets = build_targets(sc, static_groups(sc.static_configs));
  const auto& t = targets.at(0);
  ProfileTypeConfig goroutine{"goroutine", true, "/debug/pprof/goroutine", false};
  ProfileTypeConfig memory{"memory", true, "/debug/pprof/allocs", false};
  // The ingest pipeline's labels step applies profile_relabel_configs.
  ingest::LabelPolicy policy;
  policy.relabel = sc.profile_relabel;
  CHECK_FALSE(test::must(ingest::finish_labels(t.profile_labels(goroutine), policy)));
  auto labels = test::must(ingest::finish_labels(t.profile_labels(memory), policy));
  REQUIRE(labels);
  CHECK(*labels == Labels{{"__name__", "memory"},
                          {"job", "app"},
                          {"instance", "h:1"},
                          {"owner", "core"},
                          {"service_name", "app"}});
}

namespace {

namespace json = boost::json;

// Labels that only a metrics scraper has; the vectors include them, stoker does not.
bool metrics_only(std::string_view name) {
  return name == "__metrics_path__" || name == "__convert_classic_histograms_to_nhcb__" ||
         name == "__always_scrape_classic_histograms__" || name == "__scrape_native_histograms__";
}

Labels vector_labels(const json::value& v) {
  Labels out;
  for (const auto& [k, val] : v.as_object()) {
    if (!metrics_only(k)) out.set(std::string(k), std::string(val.as_string()));
  }
  return out;
}

Labels without_metrics_only(const Labels& in) {
  Labels out;
  for (const auto& l : in) {
    if (!metrics_only(l.name)) out.set(l.name, l.value);
  }
  return out;
}

}  // namespace

TEST_CASE("target label population passes Prometheus' TestPopulateLabels vectors",
          "[target][conformance]") {
  auto doc = test::load_vectors("populate_labels_cases.json");
  int checked = 0;
  for (const auto& cv : doc.at("cases").as_array()) {
    const auto& c = cv.as_object();
    std::string comment(c.at("comment").as_string());
    // Native/classic histogram flags exist only for metrics scraping.
    if (comment.find("histograms") != std::string::npos) continue;
    INFO("line " << c.at("source_line") << ": " << comment);
    const auto& scj = c.at("scrape_config").as_object();
    ScrapeConfig sc;
    sc.job_name = std::string(scj.at("job_name").as_string());
    sc.scheme = std::string(scj.at("scheme").as_string());
    sc.scrape_interval = *parse_duration(std::string(scj.at("scrape_interval").as_string()));
    sc.scrape_timeout = *parse_duration(std::string(scj.at("scrape_timeout").as_string()));
    for (const auto& [k, v] : scj.at("params").as_object()) {
      for (const auto& x : v.as_array()) sc.params[std::string(k)].emplace_back(x.as_string());
    }
    std::vector<RelabelConfig> rules;
    for (const auto& rv : scj.at("relabel_configs").as_array()) {
      rules.push_back(test::relabel_config_from_json(rv.as_object(), false));
    }
    auto compiled = RelabelRules::compile(rules);
    REQUIRE(compiled);
    sc.relabel = std::make_shared<RelabelRules>(std::move(*compiled));

    Labels target;
    for (const auto& [k, v] : c.at("target_labels").as_object()) {
      std::string value(v.as_string());
      if (value.rfind("\\xbd", 0) == 0) value = "\xbd";  // the one byte JSON cannot carry
      target.set(std::string(k), value);
    }
    Labels group = vector_labels(c.at("group_labels"));
    Populated p = populate_labels(target, group, sc);
    if (c.contains("expected_error")) {
      CHECK(p.error == std::string(c.at("expected_error").as_string()));
    } else {
      CHECK(p.error.empty());
      CHECK_FALSE(p.dropped);
      CHECK(without_metrics_only(p.labels).to_string() ==
            vector_labels(c.at("expected_labels")).to_string());
      CHECK(without_metrics_only(p.discovered).to_string() ==
            vector_labels(c.at("expected_discovered_labels")).to_string());
    }
    ++checked;
  }
  CHECK(checked == 15);
}

TEST_CASE("the README's hashmod sharding puts each target on exactly one replica",
          "[target][relabel]") {
  std::map<std::string, int> owners;
  for (int replica = 0; replica < 3; ++replica) {
    auto sc = scrape_config(
        "scrape_configs:\n  - job_name: fleet\n"
        "    static_configs:\n      - targets: [app-1:6060, app-2:6060, app-3:6060, app-4:6060, "
        "app-5:6060]\n"
        "    relabel_configs:\n"
        "      - {source_labels: [__address__], action: hashmod, modulus: 3, target_label: "
        "__tmp_shard}\n"
        "      - {source_labels: [__tmp_shard], action: keep, regex: '" +
        std::to_string(replica) + "'}\n");
    for (const auto& t : build_targets(sc, static_groups(sc.static_configs))) {
      if (t.dropped) continue;
      owners[std::string(t.labels.get("__address__"))]++;
      CHECK_FALSE(t.labels.without_reserved().has("__tmp_shard"));
    }
  }
  CHECK(owners.size() == 5);
  for (const auto& [addr, n] : owners) {
    INFO(addr);
    CHECK(n == 1);
  }
}

TEST_CASE("service_name follows Alloy's inference order", "[target]") {
  auto sc = scrape_config("scrape_configs:\n  - job_name: app\n");
  auto name_of = [&](const Labels& discovered) {
    auto p = populate_labels(discovered, {}, sc);
    REQUIRE(p.error.empty());
    Target t;
    t.job = sc.job_name;
    t.labels = p.labels;
    ProfileTypeConfig memory{"memory", true, "/debug/pprof/allocs", false};
    return std::string(t.profile_labels(memory).get("service_name"));
  };
  Labels base{{"__address__", "h:1"},
              {"__meta_kubernetes_namespace", "shop"},
              {"__meta_kubernetes_pod_container_name", "cart"}};
  CHECK(name_of(base) == "shop/cart");
  Labels annotated = base;
  annotated.set("__meta_kubernetes_pod_annotation_pyroscope_io_service_name", "checkout");
  CHECK(name_of(annotated) == "checkout");
  Labels own = annotated;
  own.set("service_name", "mine");
  CHECK(name_of(own) == "mine");
  CHECK(name_of(Labels{{"__address__", "h:1"}}) == "app");
}
