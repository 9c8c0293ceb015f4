#include "model/timeparse.h"

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include "model/units.h"

namespace stoker {

int64_t now_unix_nanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string format_time(int64_t ns) {
  std::time_t secs = static_cast<std::time_t>(ns / 1'000'000'000);
  int ms = static_cast<int>((ns / 1'000'000) % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

Result<int64_t> parse_time(std::string_view text, int64_t now_ns) {
  auto bad = [&]() -> Result<int64_t> {
    return Status::invalid("cannot parse time \"" + std::string(text) +
                           "\": use RFC 3339 (2026-11-25T10:00:00Z), unix seconds, or now-1h");
  };
  if (text == "now") return now_ns;
  if (text.rfind("now-", 0) == 0 || text.rfind("now+", 0) == 0) {
    auto d = parse_duration(text.substr(4));
    if (!d || d->count() > INT64_MAX / 1'000'000) return bad();
    int64_t delta = d->count() * 1'000'000, t;
    if (text[3] == '-' ? __builtin_sub_overflow(now_ns, delta, &t)
                       : __builtin_add_overflow(now_ns, delta, &t)) {
      return bad();
    }
    return t;
  }
  bool digits = !text.empty();
  for (char c : text) digits = digits && c >= '0' && c <= '9';
  if (digits) {
    if (text.size() > 12) return bad();
    int64_t secs = std::stoll(std::string(text));
    if (secs > INT64_MAX / 1'000'000'000LL) return bad();  // after 2262
    return secs * 1'000'000'000LL;
  }
  // RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  std::tm tm{};
  int consumed = 0;
  std::string s(text);
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return bad();
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t frac_ns = 0;
  size_t i = static_cast<size_t>(consumed);
  if (i < s.size() && s[i] == '.') {
    ++i;
    int64_t scale = 100'000'000;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      frac_ns += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
  }
  int64_t offset_s = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d", &oh, &om) != 2) return bad();
    offset_s = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return bad();
  }
  if (i != s.size()) return bad();
  int64_t secs = static_cast<int64_t>(timegm(&tm)) - offset_s;
  // Nanoseconds since 1970 in int64 cover 1677 to 2262.
  if (secs >= INT64_MAX / 1'000'000'000LL || secs <= INT64_MIN / 1'000'000'000LL) return bad();
  return secs * 1'000'000'000LL + frac_ns;
}

Result<int64_t> parse_attime_ms(std::string_view s, int64_t now_ms) {
  if (s.empty() || s == "now") return now_ms;
  bool digits = s.find_first_not_of("0123456789") == std::string_view::npos;
  if (digits) {
    errno = 0;
    long long v = std::strtoll(std::string(s).c_str(), nullptr, 10);
    if (s.size() > 19 || errno == ERANGE) {
      return Status::invalid("\"" + std::string(s) + "\" is not a time");
    }
    if (v == 0) {
      return Status::invalid("0 is not a valid time");
    }
    switch (s.size()) {
      case 8: {  // YYYYMMDD, UTC
        std::tm tm{};
        tm.tm_year = static_cast<int>(v / 10000) - 1900;
        tm.tm_mon = static_cast<int>(v / 100 % 100) - 1;
        tm.tm_mday = static_cast<int>(v % 100);
        return static_cast<int64_t>(timegm(&tm)) * 1000;
      }
      case 13:
        return v;
      case 16:
        return v / 1000;
      case 19:
        return v / 1'000'000;
      default:
        if (v > INT64_MAX / 1000) {
          return Status::invalid("\"" + std::string(s) + "\" is not a time");
        }
        return v * 1000;
    }
  }
  if (s.substr(0, 4) == "now-" || s.substr(0, 4) == "now+") {
    auto d = parse_duration(s.substr(4));
    if (!d) return d.status();
    int64_t t;
    if (s[3] == '-' ? __builtin_sub_overflow(now_ms, d->count(), &t)
                    : __builtin_add_overflow(now_ms, d->count(), &t)) {
      return Status::invalid("\"" + std::string(s) + "\" is out of range");
    }
    return t;
  }
  auto t = parse_time(s, now_ms * 1'000'000);
  if (!t) return t.status();
  return *t / 1'000'000;
}

}  // namespace stoker
