// Clustering's pure parts: the owner of a target (rendezvous hashing), the
// peers a pod list yields, and the cluster section of the config.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "collector/cluster.h"
#include "config/config.h"
#include "discovery/target_group.h"

using namespace stoker;

namespace {

std::vector<std::string> keys(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back("{instance=\"10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250) +
                  ":6060\", job=\"apps\", service_name=\"svc-" + std::to_string(i) + "\"}");
  }
  return out;
}

std::string errors_of(const std::string& yaml) {
  auto r = load_config_string(yaml, "c.yaml", "/tmp");
  std::string all;
  for (const auto& e : r.errors) all += e + "\n";
  return all;
}

}  // namespace

TEST_CASE("cluster_owner is the same for the same labels whatever the process or peer order",
          "[cluster]") {
  // Golden values: computed once; a change here would move targets between
  // replicas running different stoker versions during a rolling update.
  std::vector<std::string> peers = {"stoker-0", "stoker-1", "stoker-2"};
  const char* want[] = {"stoker-1", "stoker-1", "stoker-2", "stoker-2", "stoker-0", "stoker-2"};
  for (int i = 0; i < 6; ++i) {
    std::string key = "{job=\"apps\", service_name=\"svc-" + std::to_string(i) + "\"}";
    CHECK(cluster_owner(peers, key) == want[i]);
  }
  std::vector<std::string> reversed(peers.rbegin(), peers.rend());
  for (const auto& k : keys(500)) CHECK(cluster_owner(peers, k) == cluster_owner(reversed, k));
  // A one-peer cluster owns everything.
  CHECK(cluster_owner({"only"}, "{job=\"x\"}") == "only");
}

TEST_CASE("targets spread evenly and a membership change moves only what it must", "[cluster]") {
  auto ks = keys(3000);
  std::vector<std::string> three = {"stoker-0", "stoker-1", "stoker-2"};
  std::vector<std::string> four = {"stoker-0", "stoker-1", "stoker-2", "stoker-3"};
  std::vector<std::string> two = {"stoker-0", "stoker-2"};  // stoker-1 left
  std::map<std::string, int> share;
  size_t to_new = 0, moved_to_old = 0, from_gone = 0, moved_other = 0;
  for (const auto& k : ks) {
    const auto& a = cluster_owner(three, k);
    ++share[a];
    const auto& b = cluster_owner(four, k);
    if (a != b) (b == "stoker-3" ? to_new : moved_to_old)++;
    const auto& c = cluster_owner(two, k);
    if (a != c) (a == "stoker-1" ? from_gone : moved_other)++;
  }
  for (const auto& [peer, n] : share) {
    INFO(peer);
    CHECK(n > 900);  // a third is 1000: within ±10 %
    CHECK(n < 1100);
  }
  // Joining: only targets that go to the new peer move; about a quarter.
  CHECK(moved_to_old == 0);
  CHECK(to_new > 3000 / 4 * 9 / 10);
  CHECK(to_new < 3000 / 4 * 11 / 10);
  // Leaving: only the departed peer's targets move.
  CHECK(moved_other == 0);
  CHECK(from_gone == static_cast<size_t>(share["stoker-1"]));
}

TEST_CASE("the peers of a pod list are the Ready pods with an address, and this replica",
          "[cluster]") {
  auto pod = [](const std::string& name, const std::string& ready, bool ip) {
    TargetGroup g;
    g.source = "pod/obs/" + name;
    g.labels.set("__meta_kubernetes_pod_name", name);
    g.labels.set("__meta_kubernetes_pod_ready", ready);
    if (ip) {
      Labels t;
      t.set("__address__", "10.0.0.1:4040");
      g.targets.push_back(t);
    }
    return g;
  };
  bool listed = false;
  auto peers = ClusterMembership::peers_from_pods(
      {pod("stoker-1", "true", true), pod("stoker-0", "true", true),
       pod("stoker-2", "false", true), pod("stoker-3", "true", false),
       pod("stoker-4", "unknown", true)},
      "stoker-0", &listed);
  CHECK(peers == std::vector<std::string>{"stoker-0", "stoker-1"});
  CHECK(listed);
  // Not Ready yet: it still counts itself (its share is scraped twice for a
  // while rather than not at all) and says it is not listed.
  peers = ClusterMembership::peers_from_pods({pod("stoker-1", "true", true)}, "stoker-9", &listed);
  CHECK(peers == std::vector<std::string>{"stoker-1", "stoker-9"});
  CHECK_FALSE(listed);
  // `stoker targets` lists the pods only.
  CHECK(ClusterMembership::peers_from_pods({pod("stoker-1", "true", true)}, "", nullptr) ==
        std::vector<std::string>{"stoker-1"});
}

TEST_CASE("the cluster section and clustering in jobs are read and checked", "[cluster][config]") {
  auto r = load_config_string(R"(
cluster:
  name: stoker-1
  kubernetes:
    api_server: https://10.0.0.1:6443
    namespace: observability
    label_selector: app.kubernetes.io/name=stoker
    authorization: {credentials: secret-token}
scrape_configs:
  - job_name: apps
    clustering: {enabled: true}
    static_configs: [{targets: ['a:1']}]
  - job_name: node
    static_configs: [{targets: ['b:1']}]
)",
                              "c.yaml", "/tmp");
  REQUIRE(r.config);
  const auto& c = r.config->cluster;
  CHECK(c.enabled);
  CHECK(c.name == "stoker-1");
  REQUIRE(c.kubernetes);
  CHECK(c.kubernetes->role == "pod");
  CHECK(c.kubernetes->namespaces == std::vector<std::string>{"observability"});
  REQUIRE(c.kubernetes->selectors.size() == 1);
  CHECK(c.kubernetes->selectors[0].role == "pod");
  CHECK(c.kubernetes->selectors[0].label == "app.kubernetes.io/name=stoker");
  CHECK(c.kubernetes->http.authorization);
  CHECK(r.config->scrape_configs[0].clustering);
  CHECK_FALSE(r.config->scrape_configs[1].clustering);
  CHECK(r.config->redacted_yaml.find("secret-token") == std::string::npos);

  auto s = load_config_string(
      "cluster: {name: b, static_peers: [a, b, c]}\nscrape_configs: []\n", "c.yaml", "/tmp");
  REQUIRE(s.config);
  CHECK(s.config->cluster.static_peers == std::vector<std::string>{"a", "b", "c"});
  CHECK_FALSE(s.config->cluster.kubernetes);

  // In a pod, the name comes from $POD_NAME (the Downward API).
  setenv("POD_NAME", "stoker-7", 1);
  auto e = load_config_string("cluster: {kubernetes: {label_selector: app=stoker}}\n", "c.yaml",
                              "/tmp");
  unsetenv("POD_NAME");
  REQUIRE(e.config);
  CHECK(e.config->cluster.name == "stoker-7");
  CHECK(e.config->cluster.kubernetes->own_namespace);  // in-cluster: the pods' own namespace

  CHECK(errors_of("cluster: {name: a}\n")
            .find("c.yaml:1:10: cluster: the cluster section needs kubernetes") !=
        std::string::npos);
  CHECK(errors_of("cluster: {name: a, static_peers: [a], kubernetes: {namespace: x}}\n")
            .find("use either kubernetes or static_peers") != std::string::npos);
  CHECK(errors_of("cluster: {name: z, static_peers: [a, b]}\n")
            .find("cluster.static_peers: this replica's name \"z\"") != std::string::npos);
  CHECK(errors_of("cluster: {name: a, static_peers: [a, a]}\n").find("peer \"a\" is listed twice") !=
        std::string::npos);
  CHECK(errors_of("cluster:\n  name: a\n  kubernetes: {api_server: 'http://k:1'}\n")
            .find("c.yaml:3:15: cluster.kubernetes: namespace is required with api_server") !=
        std::string::npos);
  CHECK(errors_of("cluster:\n  name: a\n  kubernetes: {namespace: x, label_selector: 'a=(b'}\n")
            .find("cluster.kubernetes.label_selector: invalid selector") != std::string::npos);
  CHECK(errors_of("cluster:\n  name: a\n  kubernetes: {namespace: x, role: node}\n")
            .find("cluster.kubernetes.role: unknown key \"role\"") != std::string::npos);
  CHECK(errors_of("scrape_configs:\n  - job_name: a\n    clustering: {enabled: maybe}\n")
            .find("scrape_configs[0].clustering.enabled") != std::string::npos);
  CHECK(errors_of("scrape_configs:\n  - job_name: a\n    clustering: {enable: true}\n")
            .find("unknown key \"enable\"") != std::string::npos);
}
