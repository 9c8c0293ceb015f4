// Replicas of the stoker binary sharing 300 targets through the project's
// fake Kubernetes API server: each target scraped by exactly one replica in
// steady state (the one rendezvous hashing names), a fourth joining takes
// about a quarter, a killed one's
// targets move within an interval, nothing stays unscraped longer than two
// intervals, deltas are never a bogus first window, and a replica that loses
// the API keeps its peers and says so. Counted at the targets (ProfileFarm).
#include <signal.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <thread>

#include "collector/cluster.h"
#include "model/labels.h"
#include "storage/reader.h"
#include "tests/support/cluster_rig.h"
#include "tests/support/profiles.h"

using namespace stoker;
using namespace stoker::test;
using namespace std::chrono_literals;

namespace {

constexpr int kTargets = 300;
constexpr int kIntervalS = 2;
constexpr int64_t kI = kIntervalS * 1000;  // ms

struct Replica {
  std::string name;
  int port = 0;
  std::string db;
  std::unique_ptr<Child> proc;
};

// Target → its only scraper in [from, to); fails the test for a target
// scraped by none or by several.
std::map<int, std::string> sole_scrapers(const ProfileFarm& farm, int64_t from, int64_t to) {
  std::map<int, std::string> out;
  auto who = farm.who(from, to);
  CHECK(who.size() == static_cast<size_t>(kTargets));
  size_t shared = 0;
  for (const auto& [k, replicas] : who) {
    if (replicas.size() != 1) {
      ++shared;
      continue;
    }
    out[k] = replicas.begin()->first;
  }
  INFO("targets scraped by more than one replica: " << shared);
  CHECK(shared == 0);
  return out;
}

// Each target is scraped by the replica rendezvous hashing names for it
// among `peers` (the test computes it from the target's public labels, as
// `stoker targets` prints them), and the hash spreads them: every replica
// has between half and one and a half fair shares. A share is binomial
// (300 targets, p = 1/replicas: sd 7.5 for four), so ±50 % is 5 sd; a
// tighter bound would fail now and then on a fair hash, since the keys
// name the farm's port, which changes every run.
void check_shares(const std::map<int, std::string>& owners, const std::map<int, std::string>& keys,
                  const std::vector<std::string>& peers) {
  std::map<std::string, int> share;
  int as_hashed = 0;
  for (const auto& [k, r] : owners) {
    ++share[r];
    as_hashed += keys.count(k) && cluster_owner(peers, keys.at(k)) == r;
  }
  CHECK(as_hashed == kTargets);
  CHECK(share.size() == peers.size());
  double fair = static_cast<double>(kTargets) / static_cast<double>(peers.size());
  for (const auto& [r, n] : share) {
    INFO(r << " scrapes " << n << " targets; a fair share is " << fair);
    CHECK(n >= fair * 0.5);
    CHECK(n <= fair * 1.5);
  }
}

}  // namespace

TEST_CASE("replicas share targets through the Kubernetes API as peers join, die and the API goes",
          "[integration][cluster]") {
  ProfileFarm farm(kTargets);
  auto kube = std::make_unique<FakeKube>();
  const std::string kube_url = kube->url();
  TempDir dir;
  std::vector<Replica> reps(4);
  auto start = [&](int i) {
    auto& r = reps[static_cast<size_t>(i)];
    r.name = "stoker-" + std::to_string(i);
    r.port = free_port();
    r.db = dir.file(r.name + ".db");
    write_file(dir.file(r.name + ".yaml"),
               replica_config(r.name, kube_url, farm, r.port, r.db, kIntervalS));
    r.proc = std::make_unique<Child>(
        std::vector<std::string>{STOKER_BINARY, "--config", dir.file(r.name + ".yaml")},
        dir.file(r.name + ".log"));
  };
  auto status = [&](int i) { return cluster_status(reps[static_cast<size_t>(i)].port); };
  // Every replica in `live` sees `peers` peers, and they own all targets.
  auto settled = [&](const std::vector<int>& live, size_t peers) {
    int64_t owned = 0;
    for (int i : live) {
      auto s = status(i);
      if (!s.is_object() || s.at("peers").as_array().size() != peers) return false;
      owned += s.at("ownedTargets").to_number<int64_t>();
    }
    return owned == kTargets;
  };

  for (int i = 0; i < 3; ++i) {
    kube->create("Pod", replica_pod("stoker-" + std::to_string(i), "obs", true));
    start(i);
  }
  REQUIRE(wait_for([&] { return settled({0, 1, 2}, 3); }, 20000));
  auto s0 = status(0);
  CHECK(s0.at("name") == "stoker-0");
  CHECK(s0.at("source") == "kubernetes");
  CHECK(s0.at("selfListed") == true);
  CHECK(s0.at("membershipError") == "");

  // Steady state: each target scraped by exactly one replica, as hashed.
  std::this_thread::sleep_for(std::chrono::milliseconds(kI + kI / 2));
  int64_t w1 = ProfileFarm::now_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kI));
  auto owners3 = sole_scrapers(farm, w1, w1 + 2 * kI);
  // What each replica says it owns is what the targets saw.
  for (int i = 0; i < 3; ++i) {
    int64_t n = 0;
    for (const auto& [k, r] : owners3) n += r == reps[static_cast<size_t>(i)].name;
    CHECK(status(i).at("ownedTargets").to_number<int64_t>() == n);
  }
  // `stoker targets` names the same owners; their labels are the hash keys.
  std::map<int, std::string> keys;
  {
    int rc = 0;
    std::string out = run_command(std::string(STOKER_BINARY) + " targets --config " +
                                      dir.file("stoker-0.yaml") + " 2>&1",
                                  &rc);
    REQUIRE(rc == 0);
    auto doc = boost::json::parse(out);
    int matched = 0;
    for (const auto& t : doc.at("activeTargets").as_array()) {
      std::string svc(t.at("labels").at("service_name").as_string());
      int k = std::stoi(svc.substr(4));
      matched += owners3[k] == std::string(t.at("owner").as_string());
      Labels public_labels;
      for (const auto& [name, value] : t.at("labels").as_object()) {
        if (!name.starts_with("__")) public_labels.set(name, value.as_string());
      }
      keys[k] = public_labels.to_string();
    }
    CHECK(matched == kTargets);
  }
  check_shares(owners3, keys, {"stoker-0", "stoker-1", "stoker-2"});

  // A fourth replica: starts before its pod is Ready (it scrapes its share
  // meanwhile), then the pod turns Ready and the others let go.
  kube->create("Pod", replica_pod("stoker-3", "obs", false));
  start(3);
  REQUIRE(wait_for([&] { return status(3).is_object(); }, 10000));
  CHECK(wait_for([&] { return status(3).at("known") == true; }, 10000));
  CHECK(status(3).at("selfListed") == false);
  int64_t t_join = ProfileFarm::now_ms();
  kube->update("Pod", replica_pod("stoker-3", "obs", true));
  REQUIRE(wait_for([&] { return settled({0, 1, 2, 3}, 4); }, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(kI + kI / 2));  // drains end
  int64_t w2 = ProfileFarm::now_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kI));
  auto owners4 = sole_scrapers(farm, w2, w2 + 2 * kI);
  check_shares(owners4, keys, {"stoker-0", "stoker-1", "stoker-2", "stoker-3"});
  int moved = 0, moved_elsewhere = 0;
  for (const auto& [k, r] : owners4) {
    if (r == owners3[k]) continue;
    (r == "stoker-3" ? moved : moved_elsewhere)++;
  }
  INFO("targets that moved to the new replica: " << moved);
  CHECK(moved_elsewhere == 0);  // only what the newcomer takes moves
  CHECK(moved >= kTargets / 4 * 0.5);
  CHECK(moved <= kTargets / 4 * 1.5);
  for (auto gap : farm.longest_gaps(w1, w2 + 2 * kI)) CHECK(gap <= 2 * kI);
  (void)t_join;

  // kill -9 stoker-0 and mark its pod not Ready: its targets move to the
  // others within an interval plus the watch's delay.
  std::set<int> orphans;
  for (const auto& [k, r] : owners4) {
    if (r == "stoker-0") orphans.insert(k);
  }
  REQUIRE(!orphans.empty());
  reps[0].proc->stop(SIGKILL, 5000);
  int64_t t_kill = ProfileFarm::now_ms();
  kube->update("Pod", replica_pod("stoker-0", "obs", false));
  REQUIRE(wait_for([&] { return settled({1, 2, 3}, 3); }, 10000));
  int64_t seen = ProfileFarm::now_ms() - t_kill;
  std::this_thread::sleep_for(std::chrono::milliseconds(kI + kI / 2));
  std::map<int, int64_t> taken;  // orphan → first scrape by another replica
  for (const auto& s : farm.scrapes(t_kill)) {
    if (orphans.count(s.target) && s.replica != "stoker-0") taken.emplace(s.target, s.at_ms - t_kill);
  }
  CHECK(taken.size() == orphans.size());
  for (const auto& [k, at] : taken) {
    INFO("target " << k << " taken over after " << at << " ms (the survivors saw the pod go after "
                   << seen << " ms)");
    CHECK(at <= kI + 1000);
  }
  int64_t w3 = ProfileFarm::now_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kI));
  auto owners_after = sole_scrapers(farm, w3, w3 + 2 * kI);
  check_shares(owners_after, keys, {"stoker-1", "stoker-2", "stoker-3"});
  for (const auto& [k, r] : owners_after) {
    if (!orphans.count(k)) CHECK(r == owners4[k]);  // the others' targets stay put
  }
  for (auto gap : farm.longest_gaps(t_kill - kI, w3 + 2 * kI)) CHECK(gap <= 2 * kI);

  // The API server goes away: the replicas keep their peers, say so, and
  // keep scraping their shares.
  kube.reset();
  CHECK(wait_for(
      [&] {
        for (int i : {1, 2, 3}) {
          auto s = status(i);
          if (!s.is_object() || s.at("membershipError") == "") return false;
        }
        return true;
      },
      10000));
  for (int i : {1, 2, 3}) {
    auto s = status(i);
    CHECK(s.at("peers").as_array().size() == 3);
    CHECK(s.at("membershipErrorSince") != "");
  }
  int64_t w4 = ProfileFarm::now_ms();
  std::this_thread::sleep_for(std::chrono::milliseconds(2 * kI));
  CHECK(sole_scrapers(farm, w4, w4 + 2 * kI) == owners_after);
  std::string metrics;
  REQUIRE(http_get(reps[1].port, "/metrics", &metrics) == 200);
  CHECK(metrics.find("stoker_cluster_peers 3") != std::string::npos);
  CHECK(metrics.find("stoker_cluster_rebalances_total") != std::string::npos);
  CHECK(metrics.find("stoker_cluster_owned_targets " +
                     std::to_string(status(1).at("ownedTargets").to_number<int64_t>())) !=
        std::string::npos);

  for (int i : {1, 2, 3}) CHECK(reps[static_cast<size_t>(i)].proc->stop(SIGTERM, 15000) == 0);
  // Deltas: the farm's counters start at 1000 scrapes' worth, so a stored
  // first window (a whole cumulative profile) would hold ≥ 45,000 objects; a
  // real delta holds 45 per scrape since the replica's previous one (a few
  // during a hand-over's overlap).
  int64_t stored = 0;
  for (const auto& r : reps) {
    auto reader = Reader::open(r.db);
    REQUIRE(reader);
    auto ids = (*reader)->profile_ids(Selector(), TimeRange{});
    CHECK(!ids.empty());
    for (auto id : ids) {
      perftools::profiles::Profile p;
      REQUIRE((*reader)->build({id}, &p).ok());
      auto t = totals(p);
      INFO(r.name << " profile " << id);
      CHECK(t.at(0) > 0);
      CHECK(t.at(0) <= 45 * 6);
      ++stored;
    }
  }
  CHECK(stored > 4 * kTargets);
}

TEST_CASE("a reload applies a changed cluster section, and without one a clustered job scrapes all",
          "[integration][cluster]") {
  ProfileFarm farm(30);
  TempDir dir;
  int port = free_port();
  auto config = [&](const std::string& cluster) {
    std::string y = replica_config("b", "http://127.0.0.1:1", farm, port, dir.file("s.db"), 2);
    // Replace the Kubernetes cluster section with `cluster` (static peers or nothing).
    auto from = y.find("cluster:\n"), to = y.find("scrape_configs:");
    y.replace(from, to - from, cluster);
    write_file(dir.file("s.yaml"), y);
  };
  config("cluster: {name: b, static_peers: [a, b, c]}\n");
  Child stoker({STOKER_BINARY, "--config", dir.file("s.yaml")}, dir.file("s.log"));
  REQUIRE(wait_for([&] { return cluster_status(port).is_object(); }, 10000));
  auto s = cluster_status(port);
  CHECK(s.at("source") == "static");
  CHECK(s.at("peers").as_array().size() == 3);
  int64_t third = s.at("ownedTargets").to_number<int64_t>();
  CHECK(third > 0);
  CHECK(third < 30);

  config("cluster: {name: b, static_peers: [b]}\n");
  auto reload = http_request(port, "POST", "/-/reload", {}, "");
  REQUIRE(reload.status == 200);
  s = cluster_status(port);
  CHECK(s.at("peers").as_array().size() == 1);
  CHECK(s.at("ownedTargets") == 30);
  CHECK(s.at("rebalances") == 2);

  // No cluster section: the clustered job scrapes every target (a warning says so).
  config("");
  REQUIRE(http_request(port, "POST", "/-/reload", {}, "").status == 200);
  s = cluster_status(port);
  CHECK(s.at("enabled") == false);
  CHECK(s.at("peers").as_array().empty());
  int64_t t = ProfileFarm::now_ms();
  std::this_thread::sleep_for(2500ms);
  CHECK(farm.who(t, ProfileFarm::now_ms()).size() == 30u);
  CHECK(read_file(dir.file("s.log")).find("no cluster section") != std::string::npos);

  // A config whose name is not among its static peers is refused, naming the line.
  config("cluster: {name: z, static_peers: [a, b]}\n");
  auto bad = http_request(port, "POST", "/-/reload", {}, "");
  CHECK(bad.status == 500);
  INFO(bad.body);
  CHECK(bad.body.find("s.yaml:3:") != std::string::npos);
  CHECK(bad.body.find("is not in static_peers") != std::string::npos);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
}
