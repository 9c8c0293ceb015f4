// Kubernetes discovery at scale, against the project's fake API server: how long the initial list
// of N pods takes to become target groups, how much memory the discoverer holds, and its CPU per
// watch event.
//
// Usage: kube_bench [PODS] [EVENTS_PER_SECOND] [SECONDS]   (default 5000 100 20)
// The fake API server runs in a forked child; this process holds only the
// discoverer, so its RSS and the discoverer thread's CPU are what is reported.
// Pods look like real ones (labels, annotations, two containers, statuses and
// a managedFields block), about 3 KB of JSON each. The discoverer thread is
// found by its name (stoker-k8s-sd) and its CPU read from /proc.
#include <dirent.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "discovery/kubernetes.h"
#include "tests/support/fake_kube.h"
#include "tests/support/io_thread.h"

namespace json = boost::json;
using Clock = std::chrono::steady_clock;

namespace {

// Resident memory after returning freed heap to the system, so transient
// buffers (the list response, the fake server's serialization) do not count.
long rss_kib() {
  malloc_trim(0);
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

// CPU seconds of the threads called `name`.
double thread_cpu(const std::string& name) {
  double ticks = static_cast<double>(sysconf(_SC_CLK_TCK)), total = 0;
  DIR* d = opendir("/proc/self/task");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::string base = std::string("/proc/self/task/") + e->d_name;
    std::ifstream comm(base + "/comm");
    std::string c;
    std::getline(comm, c);
    if (c != name) continue;
    std::ifstream st(base + "/stat");
    std::string all((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
    std::istringstream rest(all.substr(all.rfind(')') + 2));
    std::string f;
    double ut = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> f; ++i) {
      if (i == 14) ut = std::stod(f);
      if (i == 15) stime = std::stod(f);
    }
    total += (ut + stime) / ticks;
  }
  closedir(d);
  return total;
}

json::object make_pod(int i, int generation) {
  std::string name = "app-" + std::to_string(i / 10) + "-" + std::to_string(i);
  std::string ns = "ns-" + std::to_string(i % 50);
  json::array managed;
  for (int m = 0; m < 3; ++m) {
    managed.push_back(json::object{
        {"manager", "kube-controller-manager"},
        {"operation", "Update"},
        {"apiVersion", "v1"},
        {"time", "2026-11-25T10:00:00Z"},
        {"fieldsType", "FieldsV1"},
        {"fieldsV1", json::object{{"f:metadata", json::object{{"f:labels", json::object{}}}},
                                  {"f:spec", json::object{{"f:containers", json::object{}}}}}}});
  }
  auto container = [&](const char* n, int port) {
    return json::object{
        {"name", n},
        {"image", std::string("registry.example.com/") + n + ":1.2.3"},
        {"ports",
         json::array{
             json::object{{"name", "http"}, {"containerPort", port}, {"protocol", "TCP"}},
             json::object{{"name", "pprof"}, {"containerPort", 6060}, {"protocol", "TCP"}}}},
        {"resources",
         json::object{{"requests", json::object{{"cpu", "100m"}, {"memory", "128Mi"}}}}}};
  };
  return json::object{
      {"kind", "Pod"},
      {"apiVersion", "v1"},
      {"metadata",
       json::object{
           {"name", name},
           {"namespace", ns},
           {"uid", "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f" + std::to_string(i % 10)},
           {"labels", json::object{{"app.kubernetes.io/name", "app-" + std::to_string(i / 10)},
                                   {"pod-template-hash", "7f9c8d6b5"},
                                   {"generation", std::to_string(generation)}}},
           {"annotations",
            json::object{{"profiles.grafana.com/cpu.scrape", "true"},
                         {"profiles.grafana.com/cpu.port_name", "pprof"},
                         {"kubectl.kubernetes.io/restartedAt", "2026-11-20T08:00:00Z"}}},
           {"ownerReferences", json::array{json::object{{"apiVersion", "apps/v1"},
                                                        {"kind", "ReplicaSet"},
                                                        {"name", "app-rs"},
                                                        {"controller", true}}}},
           {"managedFields", std::move(managed)}}},
      {"spec", json::object{{"nodeName", "node-" + std::to_string(i % 100)},
                            {"containers",
                             json::array{container("app", 8080), container("sidecar", 9090)}}}},
      {"status",
       json::object{
           {"phase", "Running"},
           {"podIP", "10." + std::to_string(i / 65536 % 256) + "." + std::to_string(i / 256 % 256) +
                         "." + std::to_string(i % 256)},
           {"hostIP", "192.168.0." + std::to_string(i % 100)},
           {"conditions", json::array{json::object{{"type", "Ready"}, {"status", "True"}}}},
           {"containerStatuses",
            json::array{json::object{{"name", "app"}, {"containerID", "containerd://abc"}},
                        json::object{{"name", "sidecar"}, {"containerID", "containerd://def"}}}}}}};
}

}  // namespace

int main(int argc, char** argv) {
  int pods = argc > 1 ? std::stoi(argv[1]) : 5000;
  int rate = argc > 2 ? std::stoi(argv[2]) : 100;
  int seconds = argc > 3 ? std::stoi(argv[3]) : 20;
  // The fake API server runs in a child process, so that this process's memory
  // and CPU are the discoverer's alone.
  int to_parent[2], to_child[2];
  if (pipe(to_parent) != 0 || pipe(to_child) != 0) return 1;
  pid_t child = fork();
  if (child == 0) {
    close(to_child[1]);
    close(to_parent[0]);
    stoker::test::FakeKube api;
    size_t json_bytes = 0;
    for (int i = 0; i < pods; ++i) {
      auto p = make_pod(i, 0);
      json_bytes += json::serialize(p).size();
      api.create("Pod", std::move(p));
    }
    int msg[2] = {api.port(), static_cast<int>(json_bytes / 1000)};
    if (write(to_parent[1], msg, sizeof msg) != sizeof msg) _exit(1);
    char go;
    if (read(to_child[0], &go, 1) != 1) _exit(1);
    auto start = Clock::now();
    for (int e = 0; e < rate * seconds; ++e) {
      api.update("Pod", make_pod((e * 7919) % pods, e + 1));
      std::this_thread::sleep_until(start + std::chrono::microseconds(1000000LL * (e + 1) / rate));
    }
    if (read(to_child[0], &go, 1) != 1) _exit(0);  // until the parent is done
    _exit(0);
  }
  close(to_child[0]);
  close(to_parent[1]);
  int msg[2];
  if (read(to_parent[0], msg, sizeof msg) != sizeof msg) return 1;
  std::atomic<size_t> groups{0}, updates{0};
  std::atomic<int64_t> synced_ns{0};
  stoker::KubernetesSdConfig cfg;
  cfg.role = "pod";
  cfg.api_server = "http://127.0.0.1:" + std::to_string(msg[0]);
  long rss_before = rss_kib();
  auto t0 = Clock::now();
  // The discoverer runs on an io_context of its own thread, as it runs on the
  // process's I/O thread in stoker; its CPU is that thread's.
  stoker::test::IoThread io("stoker-k8s-sd");
  stoker::DiscoveryContext ctx;
  ctx.io = &io.io();
  auto made = stoker::KubernetesDiscoverer::make("bench", cfg, ctx);
  if (!made) {
    std::fprintf(stderr, "%s\n", made.error().c_str());
    return 1;
  }
  auto d = std::move(*made);
  io.sync([&] {
    d->start([&](std::vector<stoker::TargetGroup> gs) {
      size_t n = groups.fetch_add(gs.size()) + gs.size();
      updates.fetch_add(gs.size());
      if (n >= static_cast<size_t>(pods) && synced_ns.load() == 0)
        synced_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
    });
  });
  while (groups.load() < static_cast<size_t>(pods))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  double cpu_list = thread_cpu("stoker-k8s-sd");
  long rss_synced = rss_kib();
  std::printf(
      "pods=%d list_json=%.1f MB; initial list to %d groups: %.0f ms (discoverer CPU %.2f s)\n",
      pods, msg[1] / 1000.0, pods, static_cast<double>(synced_ns.load()) / 1e6, cpu_list);
  std::printf("RSS growth after the initial list: %.1f MB\n",
              static_cast<double>(rss_synced - rss_before) / 1024.0);

  // Watch events: the child updates random pods at `rate` per second.
  size_t before = updates.load();
  int total = rate * seconds;
  if (write(to_child[1], "g", 1) != 1) return 1;
  auto start = Clock::now();
  while (updates.load() - before < static_cast<size_t>(total) &&
         Clock::now() - start < std::chrono::seconds(seconds + 10))
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  double cpu_events = thread_cpu("stoker-k8s-sd") - cpu_list;
  std::printf(
      "watch: %d events at %d/s, %zu group updates delivered; discoverer CPU %.2f s = %.0f us per "
      "event (%.2f%% of a core)\n",
      total, rate, updates.load() - before, cpu_events, 1e6 * cpu_events / total,
      100.0 * cpu_events / seconds);
  std::printf("RSS growth at the end: %.1f MB\n",
              static_cast<double>(rss_kib() - rss_before) / 1024.0);
  io.sync([&] {
    d->stop();
    d.reset();
  });
  close(to_child[1]);
  int status = 0;
  waitpid(child, &status, 0);
  return 0;
}
