// Metrics: the collector's own counters, gauges and histograms, rendered in the
// Prometheus text exposition format (version 0.0.4) for GET /metrics.
//
// A family is registered once with its label names; `with(values…)` returns a
// child (`handle(values…)` a shared pointer to it), so hot paths keep it and
// update it with one atomic operation; remove() forgets a child whose job,
// target or endpoint is gone, as Prometheus deletes such series. Gauges whose value lives
// elsewhere (database size, outbox depth, RSS) are collected by callbacks at
// render time. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace stoker::metrics {

class Counter {
 public:
  void inc(double v = 1) {
    double cur = v_.load(std::memory_order_relaxed);
    while (!v_.compare_exchange_weak(cur, cur + v, std::memory_order_relaxed)) {
    }
  }
  void set(double v) { v_.store(v, std::memory_order_relaxed); }  // for gauges
  double value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> v_{0};
};

class Histogram {
 public:
  explicit Histogram(const std::vector<double>* bounds);
  void observe(double v);
  struct Snapshot {
    std::vector<uint64_t> cumulative;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double>* bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket (not cumulative), +Inf last
  Counter sum_;
  std::atomic<uint64_t> count_{0};
};

enum class Kind { kCounter, kGauge, kHistogram };

// One metric family with a fixed set of label names.
template <typename T>
class Family {
 public:
  Family(std::string name, std::string help, Kind kind, std::vector<std::string> label_names,
         std::vector<double> bounds = {})
      : name_(std::move(name)),
        help_(std::move(help)),
        kind_(kind),
        label_names_(std::move(label_names)),
        bounds_(std::move(bounds)) {}
  // The child for these label values (created on first use). The reference
  // stays valid until remove(); hot paths that may outlive that hold a handle().
  T& with(const std::vector<std::string>& values);
  // The child, kept alive by the handle even after remove().
  std::shared_ptr<T> handle(const std::vector<std::string>& values);
  // Forgets a child (e.g. an endpoint removed by a reload): it is no longer
  // rendered, and a later with() starts a new one from zero.
  void remove(const std::vector<std::string>& values);
  void render(std::string& out) const;

 private:
  std::string name_, help_;
  Kind kind_;
  std::vector<std::string> label_names_;
  std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::shared_ptr<T>> children_;
};

using CounterFamily = Family<Counter>;
using HistogramFamily = Family<Histogram>;

// A sample produced by a callback at render time.
struct Sample {
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

class Registry {
 public:
  CounterFamily& counter(const std::string& name, const std::string& help,
                         std::vector<std::string> label_names = {});
  CounterFamily& gauge(const std::string& name, const std::string& help,
                       std::vector<std::string> label_names = {});
  HistogramFamily& histogram(const std::string& name, const std::string& help,
                             std::vector<std::string> label_names, std::vector<double> bounds);
  // A gauge or counter family whose samples a callback produces on every render.
  void collect(const std::string& name, const std::string& help, Kind kind,
               std::function<std::vector<Sample>()> fn);
  std::string render() const;

 private:
  CounterFamily& value_family(const std::string& name, const std::string& help, Kind kind,
                              std::vector<std::string> label_names);
  mutable std::mutex mu_;
  std::deque<std::unique_ptr<CounterFamily>> counters_;
  std::deque<std::unique_ptr<HistogramFamily>> histograms_;
  std::vector<std::function<void(std::string&)>> order_;  // render in registration order
};

// Escapes a label value for the text format (backslash, quote, newline).
std::string escape_label_value(const std::string& v);
// Formats a sample value the way Prometheus clients do (integers without ".0",
// +Inf/-Inf/NaN spelled out).
std::string format_value(double v);

// Process CPU seconds, resident memory and start time from /proc/self.
struct ProcessStats {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double start_time_seconds = 0;
  double open_fds = 0;
};
ProcessStats read_process_stats();

}  // namespace stoker::metrics
