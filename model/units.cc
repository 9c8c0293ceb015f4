#include "model/units.h"

#include <cctype>
#include <cstdio>

namespace stoker {
namespace {

struct Unit {
  std::string_view name;
  int64_t ms;
};
constexpr Unit kDurationUnits[] = {
    {"y", 365LL * 24 * 3600 * 1000},
    {"w", 7LL * 24 * 3600 * 1000},
    {"d", 24LL * 3600 * 1000},
    {"h", 3600LL * 1000},
    {"m", 60LL * 1000},
    {"s", 1000},
    {"ms", 1},
};

}  // namespace

Result<Duration> parse_duration(std::string_view text) {
  auto bad = [&](std::string why) -> Result<Duration> {
    return Status::invalid("not a valid duration string: \"" + std::string(text) + "\"" +
                           (why.empty() ? "" : " (" + why + ")"));
  };
  if (text == "0") return Duration(0);
  if (text.empty()) return bad("empty");
  size_t i = 0;
  int last_unit = -1;
  int64_t total = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      return bad("expected a number, for example 15s or 1m30s");
    }
    int64_t n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      n = n * 10 + (text[i] - '0');
      if (n > 1'000'000'000'000LL) return bad("too large");
      ++i;
    }
    size_t j = i;
    while (j < text.size() && std::isalpha(static_cast<unsigned char>(text[j]))) ++j;
    std::string_view unit = text.substr(i, j - i);
    int idx = -1;
    for (int k = 0; k < 7; ++k) {
      if (kDurationUnits[k].name == unit) idx = k;
    }
    if (idx < 0 && !unit.empty()) {  // Prometheus' exact wording
      return Status::invalid("unknown unit \"" + std::string(unit) + "\" in duration \"" +
                             std::string(text) + "\"");
    }
    if (idx < 0) return bad("missing unit");
    if (idx <= last_unit) return bad("units must go from largest to smallest, each at most once");
    last_unit = idx;
    int64_t part;
    if (__builtin_mul_overflow(n, kDurationUnits[idx].ms, &part) ||
        __builtin_add_overflow(total, part, &total)) {
      return bad("too large");
    }
    i = j;
  }
  return Duration(total);
}

std::string format_duration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  for (const auto& u : kDurationUnits) {
    if (ms >= u.ms) {
      out += std::to_string(ms / u.ms) + std::string(u.name);
      ms %= u.ms;
    }
  }
  return out;
}

Result<uint64_t> parse_size(std::string_view text) {
  size_t i = 0;
  uint64_t n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (n > (1ULL << 60) / 10) {
      return Status::invalid("size too large: \"" + std::string(text) + "\"");
    }
    n = n * 10 + static_cast<uint64_t>(text[i] - '0');
    ++i;
  }
  if (i == 0) {
    return Status::invalid("not a valid size: \"" + std::string(text) +
                           "\" (expected for example 50MiB)");
  }
  std::string_view unit = text.substr(i);
  if (unit.empty() && n != 0) {
    return Status::invalid("not a valid size: \"" + std::string(text) +
                           "\" has no unit (use for example " + std::string(text) +
                           "MiB; units B, KiB, MiB, GiB, TiB, PiB)");
  }
  static constexpr std::pair<std::string_view, int> kUnits[] = {
      {"", 0},    {"B", 0},    {"KB", 10}, {"KiB", 10}, {"MB", 20}, {"MiB", 20},
      {"GB", 30}, {"GiB", 30}, {"TB", 40}, {"TiB", 40}, {"PB", 50}, {"PiB", 50}};
  for (const auto& [name, shift] : kUnits) {
    if (unit == name) {
      if (shift && n > (~0ULL >> shift)) break;
      return n << shift;
    }
  }
  return Status::invalid("not a valid size: \"" + std::string(text) +
                         "\" (units: B, KiB, MiB, GiB, TiB, PiB; KB/MB/GB are read as 1024-based)");
}

std::string format_size(uint64_t bytes) {
  static constexpr std::pair<const char*, int> kUnits[] = {
      {"PiB", 50}, {"TiB", 40}, {"GiB", 30}, {"MiB", 20}, {"KiB", 10}};
  if (bytes == 0) return "0B";
  for (const auto& [name, shift] : kUnits) {
    uint64_t unit = 1ULL << shift;
    if (bytes % unit == 0) return std::to_string(bytes / unit) + name;
  }
  return std::to_string(bytes) + "B";
}

}  // namespace stoker
