#include "model/metrics.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace stoker::metrics {

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(bounds), counts_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_->size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_->size() && v > (*bounds_)[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.inc(v);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_->size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(acc);
  }
  s.sum = sum_.value();
  s.count = acc;  // consistent with the buckets even while observations race
  return s;
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest of %.15g..%.17g that reads back as the same double.
  char buf[32];
  for (int precision = 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

namespace {

const char* type_name(Kind k) {
  switch (k) {
    case Kind::kCounter:
      return "counter";
    case Kind::kGauge:
      return "gauge";
    case Kind::kHistogram:
      return "histogram";
  }
  return "untyped";
}

void header(std::string& out, const std::string& name, const std::string& help, Kind kind) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type_name(kind) + "\n";
}

std::string label_block(const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) return "";
  std::string s = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) s += ",";
    s += labels[i].first + "=\"" + escape_label_value(labels[i].second) + "\"";
  }
  return s + "}";
}

std::vector<std::pair<std::string, std::string>> zip(const std::vector<std::string>& names,
                                                     const std::vector<std::string>& values) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i)
    out.emplace_back(names[i], values[i]);
  return out;
}

}  // namespace

template <>
std::shared_ptr<Counter> Family<Counter>::handle(const std::vector<std::string>& values) {
  std::lock_guard lock(mu_);
  auto& slot = children_[values];
  if (!slot) slot = std::make_shared<Counter>();
  return slot;
}

template <>
std::shared_ptr<Histogram> Family<Histogram>::handle(const std::vector<std::string>& values) {
  std::lock_guard lock(mu_);
  auto& slot = children_[values];
  if (!slot) slot = std::make_shared<Histogram>(&bounds_);
  return slot;
}

template <typename T>
T& Family<T>::with(const std::vector<std::string>& values) {
  return *handle(values);
}

template <typename T>
void Family<T>::remove(const std::vector<std::string>& values) {
  std::lock_guard lock(mu_);
  children_.erase(values);
}

template <>
void Family<Counter>::render(std::string& out) const {
  header(out, name_, help_, kind_);
  std::lock_guard lock(mu_);
  for (const auto& [values, c] : children_) {
    out += name_ + label_block(zip(label_names_, values)) + " " + format_value(c->value()) + "\n";
  }
}

template <>
void Family<Histogram>::render(std::string& out) const {
  header(out, name_, help_, kind_);
  std::lock_guard lock(mu_);
  for (const auto& [values, h] : children_) {
    auto labels = zip(label_names_, values);
    auto snap = h->snapshot();
    for (size_t i = 0; i <= bounds_.size(); ++i) {
      auto with_le = labels;
      with_le.emplace_back("le", i < bounds_.size() ? format_value(bounds_[i]) : "+Inf");
      out += name_ + "_bucket" + label_block(with_le) + " " +
             format_value(static_cast<double>(snap.cumulative[i])) + "\n";
    }
    out += name_ + "_sum" + label_block(labels) + " " + format_value(snap.sum) + "\n";
    out += name_ + "_count" + label_block(labels) + " " +
           format_value(static_cast<double>(snap.count)) + "\n";
  }
}

template class Family<Counter>;
template class Family<Histogram>;

CounterFamily& Registry::counter(const std::string& name, const std::string& help,
                                 std::vector<std::string> label_names) {
  return value_family(name, help, Kind::kCounter, std::move(label_names));
}

CounterFamily& Registry::gauge(const std::string& name, const std::string& help,
                               std::vector<std::string> label_names) {
  return value_family(name, help, Kind::kGauge, std::move(label_names));
}

CounterFamily& Registry::value_family(const std::string& name, const std::string& help, Kind kind,
                                      std::vector<std::string> label_names) {
  std::lock_guard lock(mu_);
  counters_.push_back(std::make_unique<CounterFamily>(name, help, kind, std::move(label_names)));
  auto* f = counters_.back().get();
  order_.push_back([f](std::string& out) { f->render(out); });
  return *f;
}

HistogramFamily& Registry::histogram(const std::string& name, const std::string& help,
                                     std::vector<std::string> label_names,
                                     std::vector<double> bounds) {
  std::lock_guard lock(mu_);
  histograms_.push_back(std::make_unique<HistogramFamily>(
      name, help, Kind::kHistogram, std::move(label_names), std::move(bounds)));
  auto* f = histograms_.back().get();
  order_.push_back([f](std::string& out) { f->render(out); });
  return *f;
}

void Registry::collect(const std::string& name, const std::string& help, Kind kind,
                       std::function<std::vector<Sample>()> fn) {
  std::lock_guard lock(mu_);
  order_.push_back([name, help, kind, fn = std::move(fn)](std::string& out) {
    header(out, name, help, kind);
    for (const auto& s : fn())
      out += name + label_block(s.labels) + " " + format_value(s.value) + "\n";
  });
}

std::string Registry::render() const {
  std::vector<std::function<void(std::string&)>> order;
  {
    std::lock_guard lock(mu_);
    order = order_;
  }
  std::string out;
  for (const auto& f : order) f(out);
  return out;
}

ProcessStats read_process_stats() {
  ProcessStats ps;
  std::ifstream in("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may contain spaces.
  auto close = content.rfind(')');
  if (close != std::string::npos) {
    std::istringstream rest(content.substr(close + 2));
    std::vector<std::string> f;
    std::string tok;
    while (rest >> tok) f.push_back(tok);
    // f[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
    auto field = [&](size_t n) -> double {
      size_t i = n - 3;
      return i < f.size() ? std::strtod(f[i].c_str(), nullptr) : 0.0;
    };
    double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    ps.cpu_seconds = (field(14) + field(15)) / ticks;
    ps.virtual_bytes = field(23);
    ps.resident_bytes = field(24) * static_cast<double>(sysconf(_SC_PAGESIZE));
    std::ifstream up("/proc/stat");
    std::string line;
    while (std::getline(up, line)) {
      if (line.rfind("btime ", 0) == 0) {
        ps.start_time_seconds = std::strtod(line.c_str() + 6, nullptr) + field(22) / ticks;
        break;
      }
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ps.open_fds += 1;
  }
  return ps;
}

}  // namespace stoker::metrics
