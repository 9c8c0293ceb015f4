// Kubernetes discovery: the 19 pod-role conformance cases transcribed from
// Prometheus' discovery/kubernetes/pod_test.go, run through GroupBuilder with
// their create/update/delete steps, plus the other roles' labels.
#include <yaml-cpp/yaml.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "collector/target.h"
#include "discovery/kube_objects.h"
#include "tests/support/process.h"

using namespace stoker;
namespace json = boost::json;

namespace {

json::value load_cases() {
  std::ifstream in(STOKER_SOURCE_DIR "/tests/data/prometheus/k8s_pod_cases.json");
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

KubernetesSdConfig config_of(const json::object& c) {
  KubernetesSdConfig cfg;
  cfg.role = json::value_to<std::string>(c.at("role"));
  if (auto* ns = c.if_contains("namespaces")) {
    for (const auto& n : ns->at("names").as_array()) cfg.namespaces.emplace_back(n.as_string());
    cfg.own_namespace = ns->at("own_namespace").as_bool();
  }
  if (auto* am = c.if_contains("attach_metadata")) {
    const auto& o = am->as_object();
    auto b = [&](const char* k) { return o.contains(k) && o.at(k).as_bool(); };
    cfg.attach_metadata = {b("node"), b("namespace"), b("deployment"), b("job"), b("cronjob")};
  }
  if (auto* sels = c.if_contains("selectors")) {
    for (const auto& s : sels->as_array()) {
      KubernetesSdConfig::Selector sel;
      sel.role = json::value_to<std::string>(s.at("role"));
      if (auto* l = s.as_object().if_contains("label")) sel.label = json::value_to<std::string>(*l);
      cfg.selectors.push_back(sel);
    }
  }
  return cfg;
}

// What the API server would do for the harness: namespaces and the node label
// selector filter what the discoverer sees (equality terms only, as the cases use).
bool visible(const KubernetesSdConfig& cfg, const std::string& kind, const json::object& o) {
  if (kind == "Pod") {
    std::vector<std::string> names = cfg.namespaces;
    if (cfg.own_namespace) names.push_back("own-ns");
    if (names.empty()) return true;
    return std::find(names.begin(), names.end(), kube::namespace_of(o)) != names.end();
  }
  if (kind == "Node") {
    for (const auto& sel : cfg.selectors) {
      if (sel.role != "node" || sel.label.empty()) continue;
      auto eq = sel.label.find('=');
      std::string k = sel.label.substr(0, eq), v = sel.label.substr(eq + 1);
      const auto* labels = o.at("metadata").as_object().if_contains("labels");
      if (!labels || !labels->as_object().contains(k) || labels->as_object().at(k).as_string() != v)
        return false;
    }
  }
  return true;
}

std::string kind_of(const json::object& o) {
  auto* k = o.if_contains("kind");
  return k ? std::string(k->as_string()) : "Pod";
}

json::value to_json(const Labels& l) {
  json::object o;
  for (const auto& x : l) o[x.name] = x.value;
  return o;
}

}  // namespace

TEST_CASE("pod role: Prometheus' 19 pod_test.go cases, with their updates and deletes",
          "[kube][conformance]") {
  auto doc = load_cases();
  const auto& cases = doc.at("tests").as_array();
  REQUIRE(cases.size() == 19);
  for (const auto& cv : cases) {
    const auto& c = cv.as_object();
    std::string name(c.at("test").as_string());
    INFO(name);
    KubernetesSdConfig cfg = config_of(c.at("config").as_object());
    kube::GroupBuilder b(cfg);
    auto kinds = b.kinds();
    std::map<std::string, TargetGroup> result;
    auto record = [&](const std::vector<TargetGroup>& groups) {
      for (const auto& g : groups) result[g.source] = g;
    };
    // Before Run, objects only exist in the (fake) API server.
    kube::Store server;
    auto op = [&](const json::object& step, bool running) {
      const auto& o = step.at("object").as_object();
      std::string kind = kind_of(o);
      if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end()) return;  // not watched
      if (!visible(cfg, kind, o)) return;
      bool deleted = step.at("op").as_string() == "delete";
      if (!running) {
        if (deleted) {
          server.remove(kind, kube::namespace_of(o), kube::name_of(o));
        } else {
          server.put(kind, o);
        }
        return;
      }
      record(b.apply(kind, o, deleted));
    };
    for (const auto& o : c.at("initial_objects").as_array()) {
      op(json::object{{"op", "create"}, {"object", o}}, false);
    }
    for (const auto& s : c.at("before_run").as_array()) op(s.as_object(), false);
    // Run: list every watched kind (related kinds first), then watch.
    for (auto k = kinds.rbegin(); k != kinds.rend(); ++k) {
      std::vector<json::object> listed;
      server.each(*k, [&](const json::object& o) { listed.push_back(o); });
      record(b.replace(*k, "", listed));
    }
    for (const auto& s : c.at("after_start").as_array()) op(s.as_object(), true);

    const auto& expected = c.at("expected").as_object();
    for (const auto& [source, want] : expected) {
      INFO(std::string(source));
      auto it = result.find(std::string(source));
      if (want.at("Targets").is_null()) {
        CHECK((it == result.end() || it->second.targets.empty()));
        continue;
      }
      REQUIRE(it != result.end());
      json::array targets;
      for (const auto& t : it->second.targets) targets.push_back(to_json(t));
      INFO(json::serialize(targets));
      CHECK(json::value(targets) == want.at("Targets"));
      CHECK(to_json(it->second.labels) == want.at("Labels"));
    }
    for (const auto& [source, g] : result) {
      if (!expected.contains(source)) CHECK(g.targets.empty());
    }
  }
}

TEST_CASE("the DaemonSet example's relabel rules honour profiles.grafana.com annotations",
          "[kube][examples]") {
  // The config embedded in examples/kubernetes/daemonset.yaml, as the pod sees it.
  YAML::Node cm;
  for (const auto& doc :
       YAML::LoadAllFromFile(STOKER_SOURCE_DIR "/examples/kubernetes/daemonset.yaml")) {
    if (doc["kind"].as<std::string>() == "ConfigMap") cm = doc;
  }
  REQUIRE(cm);
  test::TempDir dir;
  test::write_file(dir.file("stoker.yaml"), cm["data"]["stoker.yaml"].as<std::string>());
  ::setenv("NODE_NAME", "node-a", 1);
  auto r = load_config_file(dir.file("stoker.yaml"), true);
  ::unsetenv("NODE_NAME");
  REQUIRE(r.config);
  const auto& jobs = r.config->scrape_configs;
  REQUIRE(jobs.size() == 12);
  CHECK(jobs[0].kubernetes_sd_configs[0].selectors[0].field == "spec.nodeName=node-a");

  // A pod asking for CPU on port 6060 and memory on the port named "pprof" at a
  // custom path; goroutine not asked for.
  auto pod = json::parse(R"({
    "metadata": {"name": "checkout-1", "namespace": "shop", "labels": {"app": "checkout"},
      "annotations": {
        "profiles.grafana.com/cpu.scrape": "true", "profiles.grafana.com/cpu.port": "6060",
        "profiles.grafana.com/memory.scrape": "true", "profiles.grafana.com/memory.port_name": "pprof",
        "profiles.grafana.com/memory.path": "/custom/heap",
        "profiles.grafana.com/service_name": "checkout-svc"}},
    "spec": {"nodeName": "node-a", "containers": [{"name": "app", "ports": [
      {"name": "http", "containerPort": 8080}, {"name": "pprof", "containerPort": 6060}]}]},
    "status": {"podIP": "10.1.2.3", "phase": "Running"}})")
                 .as_object();
  std::map<std::string, std::vector<std::string>> urls;  // job → scrape URLs
  std::map<std::string, Labels> labels;
  for (const auto& sc : jobs) {
    kube::GroupBuilder b(sc.kubernetes_sd_configs[0]);
    auto groups = b.apply("Pod", pod, false);
    for (const auto& t : build_targets(sc, groups)) {
      if (t.dropped || !t.error.empty()) continue;
      for (const auto& ep : t.endpoints) urls[sc.job_name].push_back(ep.url);
      labels[sc.job_name] = t.labels.without_reserved();
    }
  }
  CHECK(urls.size() == 2);
  CHECK(urls["pods-process_cpu-by-port"] ==
        std::vector<std::string>{"http://10.1.2.3:6060/debug/pprof/profile?seconds=14"});
  CHECK(urls["pods-memory-by-port-name"] ==
        std::vector<std::string>{"http://10.1.2.3:6060/custom/heap"});
  const Labels& l = labels["pods-memory-by-port-name"];
  CHECK(l.get("namespace") == "shop");
  CHECK(l.get("pod") == "checkout-1");
  CHECK(l.get("container") == "app");
  CHECK(l.get("app") == "checkout");
  CHECK(l.get("service_name") == "checkout-svc");
}

namespace {

json::object fixture(const std::string& name) {
  std::ifstream in(STOKER_SOURCE_DIR "/tests/data/kubernetes/" + name);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str()).as_object();
}

KubernetesSdConfig role(const std::string& r) {
  KubernetesSdConfig c;
  c.role = r;
  return c;
}

}  // namespace

TEST_CASE("pod role on a real-shaped pod: containers, init containers, statuses", "[kube]") {
  kube::GroupBuilder b(role("pod"));
  auto groups = b.apply("Pod", fixture("pod.json"), false);
  REQUIRE(groups.size() == 1);
  const auto& g = groups[0];
  CHECK(g.source == "pod/shop/checkout-6d5f8c7b9-x2kqp");
  CHECK(g.labels.get("__meta_kubernetes_pod_ready") == "true");
  CHECK(g.labels.get("__meta_kubernetes_pod_phase") == "Running");
  CHECK(g.labels.get("__meta_kubernetes_pod_ip") == "10.244.3.42");
  CHECK(g.labels.get("__meta_kubernetes_pod_host_ip") == "10.0.3.17");
  CHECK(g.labels.get("__meta_kubernetes_pod_node_name") == "worker-3");
  CHECK(g.labels.get("__meta_kubernetes_pod_controller_kind") == "ReplicaSet");
  CHECK(g.labels.get("__meta_kubernetes_pod_controller_name") == "checkout-6d5f8c7b9");
  CHECK(g.labels.get("__meta_kubernetes_pod_label_app_kubernetes_io_name") == "checkout");
  CHECK(g.labels.get("__meta_kubernetes_pod_annotation_pyroscope_io_service_name") ==
        "shop-checkout");
  REQUIRE(g.targets.size() == 3);
  CHECK(g.targets[0].get("__address__") == "10.244.3.42:8080");
  CHECK(g.targets[1].get("__address__") == "10.244.3.42:6060");
  CHECK(g.targets[1].get("__meta_kubernetes_pod_container_port_name") == "pprof");
  CHECK(g.targets[1].get("__meta_kubernetes_pod_container_id") == "containerd://2222bbbb");
  CHECK(g.targets[2].get("__address__") == "10.244.3.42");  // init container, no ports
  CHECK(g.targets[2].get("__meta_kubernetes_pod_container_init") == "true");
  CHECK(g.targets[2].get("__meta_kubernetes_pod_container_id") == "containerd://1111aaaa");
  // Nothing changed: nothing sent again; the store keeps only what labels need.
  CHECK(b.apply("Pod", fixture("pod.json"), false).empty());
  auto stored = b.store().get("Pod", "shop", "checkout-6d5f8c7b9-x2kqp");
  REQUIRE(stored);
  CHECK_FALSE(stored->at("metadata").as_object().contains("managedFields"));
  CHECK(json::serialize(*stored).size() < json::serialize(fixture("pod.json")).size() / 2);
}

TEST_CASE("node role: kubelet address, address types, provider id", "[kube]") {
  auto g = kube::node_group(fixture("node.json"));
  CHECK(g.source == "node/worker-3");
  CHECK(g.labels.get("__meta_kubernetes_node_name") == "worker-3");
  CHECK(g.labels.get("__meta_kubernetes_node_provider_id") == "aws:///eu-west-1a/i-0abc123");
  CHECK(g.labels.get("__meta_kubernetes_node_label_node_kubernetes_io_instance_type") ==
        "m6i.large");
  REQUIRE(g.targets.size() == 1);
  CHECK(g.targets[0].get("__address__") == "10.0.3.17:10250");
  CHECK(g.targets[0].get("instance") == "worker-3");
  CHECK(g.targets[0].get("__meta_kubernetes_node_address_InternalIP") == "10.0.3.17");
  CHECK(g.targets[0].get("__meta_kubernetes_node_address_Hostname") == "worker-3");
}

TEST_CASE("service role: one target per port at <name>.<namespace>.svc", "[kube]") {
  auto g = kube::service_group(fixture("service.json"));
  CHECK(g.source == "svc/shop/checkout");
  CHECK(g.labels.get("__meta_kubernetes_service_name") == "checkout");
  CHECK(g.labels.get("__meta_kubernetes_service_annotation_profiles_grafana_com_cpu_scrape") ==
        "true");
  REQUIRE(g.targets.size() == 2);
  CHECK(g.targets[0].get("__address__") == "checkout.shop.svc:80");
  CHECK(g.targets[1].get("__address__") == "checkout.shop.svc:6060");
  CHECK(g.targets[1].get("__meta_kubernetes_service_port_name") == "pprof");
  CHECK(g.targets[1].get("__meta_kubernetes_service_cluster_ip") == "10.96.12.34");
  CHECK(g.targets[1].get("__meta_kubernetes_service_type") == "ClusterIP");
}

TEST_CASE("endpointslice role: endpoints with their pod, container and service", "[kube]") {
  kube::GroupBuilder b(role("endpointslice"));
  b.apply("Pod", fixture("pod.json"), false);
  b.apply("Service", fixture("service.json"), false);
  auto groups = b.apply("EndpointSlice", fixture("endpointslice.json"), false);
  REQUIRE(groups.size() == 1);
  const auto& g = groups[0];
  CHECK(g.source == "endpointslice/shop/checkout-abcde");
  CHECK(g.labels.get("__meta_kubernetes_endpointslice_address_type") == "IPv4");
  CHECK(g.labels.get("__meta_kubernetes_service_name") == "checkout");
  REQUIRE(g.targets.size() == 2);
  const auto& t = g.targets[0];
  CHECK(t.get("__address__") == "10.244.3.42:6060");
  CHECK(t.get("__meta_kubernetes_endpointslice_port_name") == "pprof");
  CHECK(t.get("__meta_kubernetes_endpointslice_endpoint_conditions_ready") == "true");
  CHECK(t.get("__meta_kubernetes_endpointslice_endpoint_zone") == "eu-west-1a");
  CHECK(t.get("__meta_kubernetes_endpointslice_address_target_kind") == "Pod");
  CHECK(t.get("__meta_kubernetes_pod_name") == "checkout-6d5f8c7b9-x2kqp");
  CHECK(t.get("__meta_kubernetes_pod_container_name") == "app");
  CHECK(t.get("__meta_kubernetes_pod_container_port_name") == "pprof");
  // The pod's other port, not behind the service, is a target of its own.
  CHECK(g.targets[1].get("__address__") == "10.244.3.42:8080");
  CHECK(g.targets[1].get("__meta_kubernetes_pod_container_port_name") == "http");
}

TEST_CASE("ingress role: one target per rule and path, https for TLS hosts", "[kube]") {
  auto g = kube::ingress_group(fixture("ingress.json"));
  CHECK(g.source == "ingress/shop/shop");
  CHECK(g.labels.get("__meta_kubernetes_ingress_class_name") == "nginx");
  REQUIRE(g.targets.size() == 2);
  CHECK(g.targets[0].get("__address__") == "www.shop.example.com");
  CHECK(g.targets[0].get("__meta_kubernetes_ingress_scheme") == "https");  // *.shop.example.com
  CHECK(g.targets[0].get("__meta_kubernetes_ingress_path") == "/");
  CHECK(g.targets[1].get("__meta_kubernetes_ingress_scheme") == "http");
  CHECK(g.targets[1].get("__meta_kubernetes_ingress_path") == "/v1");
}

TEST_CASE("label names are sanitized as Prometheus does", "[kube]") {
  CHECK(kube::sanitize_label_name("app.kubernetes.io/name") == "app_kubernetes_io_name");
  CHECK(kube::sanitize_label_name("node-type") == "node_type");
  CHECK(kube::sanitize_label_name("é-x") == "__x");  // one '_' per character, not per byte
  CHECK(kube::sanitize_label_name("ok_9") == "ok_9");
}
