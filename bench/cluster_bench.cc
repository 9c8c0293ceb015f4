// cluster_bench: replicas of the stoker binary sharing a simulated fleet
// through the project's fake Kubernetes API (issue #21). Measures, on this
// machine:
//   1. one replica owning every target: CPU (cores) and peak RSS over a
//      steady window;
//   2. three replicas sharing them: the same per replica;
//   3. kill -9 of one replica (and its pod marked not Ready): how long until
//      every target it owned was scraped by another replica, and the longest
//      time any target went unscraped;
//   4. a replica joining again: how many scrapes were duplicates (a target
//      scraped by its old owner after its new owner had begun).
// Targets are counted at the targets (tests/support/cluster_rig.h).
//
//   build/bench/cluster_bench [--targets 1000] [--interval 10] [--window 60] [--stacks 200]
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster_rig.h"

using namespace stoker::test;

namespace {

int g_targets = 1000, g_interval = 10, g_window = 60, g_stacks = 200;

struct Replica {
  std::string name;
  int port = 0;
  std::unique_ptr<Child> proc;
};

// CPU seconds (user + system) of a process, from /proc/PID/stat.
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(in)), {});
  auto close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(s.substr(close + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {
    if (i == 14 || i == 15) ticks += std::stod(f);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long status_kib(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) return std::atol(line.c_str() + std::strlen(key));
  }
  return 0;
}

void sleep_s(double s) {
  std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int64_t>(s * 1000)));
}

class Fleet {
 public:
  explicit Fleet(ProfileFarm& farm) : farm_(farm) {}
  FakeKube& kube() { return kube_; }
  // Its pod is listed from the start, Ready or (as a new pod is until its
  // readiness probe passes) not.
  Replica& start(const std::string& name, bool ready = true) {
    kube_.create("Pod", replica_pod(name, "obs", ready));
    auto& r = reps_[name];
    r.name = name;
    r.port = free_port();
    write_file(dir_.file(name + ".yaml"), replica_config(name, kube_.url(), farm_, r.port,
                                                         dir_.file(name + ".db"), g_interval));
    r.proc = std::make_unique<Child>(
        std::vector<std::string>{STOKER_BINARY, "--config", dir_.file(name + ".yaml")},
        dir_.file(name + ".log"));
    return r;
  }
  void set_ready(const std::string& name) { kube_.update("Pod", replica_pod(name, "obs", true)); }
  void kill(const std::string& name) {
    reps_[name].proc->stop(SIGKILL, 5000);
    kube_.update("Pod", replica_pod(name, "obs", false));
  }
  void stop_all() {
    for (auto& [n, r] : reps_) {
      if (r.proc && r.proc->running()) r.proc->stop(SIGTERM, 15000);
    }
  }
  // Every replica in `names` sees `peers` peers and together they own every target.
  bool settled(const std::vector<std::string>& names, size_t peers) {
    int64_t owned = 0;
    for (const auto& n : names) {
      auto s = cluster_status(reps_[n].port);
      if (!s.is_object() || s.at("peers").as_array().size() != peers) return false;
      owned += s.at("ownedTargets").to_number<int64_t>();
    }
    return owned == g_targets;
  }
  Replica& operator[](const std::string& n) { return reps_[n]; }

 private:
  ProfileFarm& farm_;
  FakeKube kube_;
  TempDir dir_;
  std::map<std::string, Replica> reps_;
};

// Cores and peak RSS of each replica over `window` seconds of steady state.
void steady(Fleet& fleet, const std::vector<std::string>& names, const char* what) {
  std::map<std::string, double> before;
  for (const auto& n : names) before[n] = cpu_seconds(fleet[n].proc->pid());
  auto t0 = std::chrono::steady_clock::now();
  sleep_s(g_window);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  double total = 0;
  for (const auto& n : names) {
    pid_t pid = fleet[n].proc->pid();
    double cores = (cpu_seconds(pid) - before[n]) / secs;
    total += cores;
    auto s = cluster_status(fleet[n].port);
    std::printf("  %-22s %-10s owns %4lld targets: %.4f cores, RSS %ld KiB (peak %ld KiB)\n", what,
                n.c_str(), static_cast<long long>(s.at("ownedTargets").to_number<int64_t>()),
                cores, status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
  }
  std::printf("  %-22s total %.4f cores over %.0f s\n", what, total, secs);
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    int v = std::atoi(argv[i + 1]);
    if (k == "--targets") g_targets = v;
    else if (k == "--interval") g_interval = v;
    else if (k == "--window") g_window = v;
    else if (k == "--stacks") g_stacks = v;
  }
  const int64_t I = g_interval * 1000;
  std::printf("cluster_bench: %d targets, scrape_interval %d s, %d stacks per profile, %d s windows\n",
              g_targets, g_interval, g_stacks, g_window);
  ProfileFarm farm(g_targets, g_stacks);

  {  // 1. one replica owning everything (a one-pod cluster)
    Fleet fleet(farm);
    fleet.start("solo-0");
    if (!wait_for([&] { return fleet.settled({"solo-0"}, 1); }, 30000)) {
      std::fprintf(stderr, "the single replica did not take the targets\n");
      return 1;
    }
    sleep_s(g_interval * 1.5);
    steady(fleet, {"solo-0"}, "one replica");
    fleet.stop_all();
  }

  Fleet fleet(farm);
  std::vector<std::string> three = {"stoker-0", "stoker-1", "stoker-2"};
  for (const auto& n : three) fleet.start(n);
  if (!wait_for([&] { return fleet.settled(three, 3); }, 30000)) {
    std::fprintf(stderr, "the three replicas did not settle\n");
    return 1;
  }
  sleep_s(g_interval * 1.5);
  int64_t w = ProfileFarm::now_ms();
  steady(fleet, three, "three replicas");
  {
    auto who = farm.who(w, ProfileFarm::now_ms());
    size_t shared = 0;
    for (const auto& [k, r] : who) shared += r.size() > 1;
    std::printf("  steady state: %zu of %d targets scraped by more than one replica, %zu scraped\n",
                shared, g_targets, who.size());
  }

  // 3. kill -9 stoker-2.
  auto owners = [&](int64_t from, int64_t to) {
    std::map<int, std::string> out;
    for (const auto& [k, r] : farm.who(from, to)) {
      if (r.size() == 1) out[k] = r.begin()->first;
    }
    return out;
  };
  int64_t now = ProfileFarm::now_ms();
  auto before = owners(now - I, now);
  std::set<int> orphans;
  for (const auto& [k, r] : before) {
    if (r == "stoker-2") orphans.insert(k);
  }
  int64_t t_kill = ProfileFarm::now_ms();
  fleet.kill("stoker-2");
  std::vector<std::string> two = {"stoker-0", "stoker-1"};
  if (!wait_for([&] { return fleet.settled(two, 2); }, 30000)) {
    std::fprintf(stderr, "the survivors did not settle\n");
    return 1;
  }
  int64_t seen = ProfileFarm::now_ms() - t_kill;
  sleep_s(g_interval * 2.5);
  std::map<int, int64_t> taken;
  for (const auto& s : farm.scrapes(t_kill)) {
    if (orphans.count(s.target) && s.replica != "stoker-2") taken.emplace(s.target, s.at_ms - t_kill);
  }
  int64_t last_taken = 0;
  std::vector<int64_t> times;
  for (const auto& [k, at] : taken) times.push_back(at);
  std::sort(times.begin(), times.end());
  if (!times.empty()) last_taken = times.back();
  auto gaps = farm.longest_gaps(t_kill - I, ProfileFarm::now_ms());
  std::printf(
      "  kill -9 of stoker-2 (owned %zu targets): survivors saw the pod go after %lld ms; "
      "%zu/%zu targets taken over, median %lld ms, last %lld ms after the kill; longest unscraped "
      "time of any target %lld ms (interval %lld ms)\n",
      orphans.size(), static_cast<long long>(seen), taken.size(), orphans.size(),
      static_cast<long long>(times.empty() ? 0 : times[times.size() / 2]),
      static_cast<long long>(last_taken),
      static_cast<long long>(*std::max_element(gaps.begin(), gaps.end())),
      static_cast<long long>(I));

  // 4. a replica joins (stoker-3): it starts while its pod is not Ready yet
  // (and scrapes its share meanwhile), then the pod turns Ready and the old
  // owners let go. Duplicates: scrapes of a moved target by its old owner
  // after stoker-3 had begun scraping it.
  int64_t t_join = ProfileFarm::now_ms();
  fleet.start("stoker-3", false);
  if (!wait_for([&] {
        auto s = cluster_status(fleet["stoker-3"].port);
        return s.is_object() && s.at("known") == true;
      }, 30000)) {
    std::fprintf(stderr, "stoker-3 did not start\n");
    return 1;
  }
  sleep_s(g_interval * 1.5);  // as if its readiness probe took that long
  int64_t t_ready = ProfileFarm::now_ms();
  fleet.set_ready("stoker-3");
  std::vector<std::string> next = {"stoker-0", "stoker-1", "stoker-3"};
  if (!wait_for([&] { return fleet.settled(next, 3); }, 30000)) {
    std::fprintf(stderr, "the join did not settle\n");
    return 1;
  }
  int64_t seen_ready = ProfileFarm::now_ms() - t_ready;
  sleep_s(g_interval * 2.5);
  std::map<int, int64_t> first_new;  // moved target → first scrape by stoker-3
  auto log = farm.scrapes(t_join);
  for (const auto& s : log) {
    if (s.replica == "stoker-3") first_new.emplace(s.target, s.at_ms);
  }
  size_t before_ready = 0, after_ready = 0;
  std::set<int> dup_targets;
  int64_t last_dup = 0;
  for (const auto& s : log) {
    auto it = first_new.find(s.target);
    if (it == first_new.end() || s.replica == "stoker-3" || s.at_ms <= it->second) continue;
    (s.at_ms < t_ready ? before_ready : after_ready)++;
    if (s.at_ms >= t_ready) {
      dup_targets.insert(s.target);
      last_dup = std::max(last_dup, s.at_ms - t_ready);
    }
  }
  gaps = farm.longest_gaps(t_join, ProfileFarm::now_ms());
  std::printf(
      "  stoker-3 joins: %zu targets moved to it (%.1f %%); while its pod was not Ready: %zu "
      "duplicate scrapes; after it turned Ready (seen by all after %lld ms): %zu duplicate scrapes "
      "of %zu targets, the last %lld ms after; longest unscraped time %lld ms\n",
      first_new.size(), 100.0 * static_cast<double>(first_new.size()) / g_targets, before_ready,
      static_cast<long long>(seen_ready), after_ready, dup_targets.size(),
      static_cast<long long>(last_dup),
      static_cast<long long>(*std::max_element(gaps.begin(), gaps.end())));
  fleet.stop_all();
  return 0;
}
