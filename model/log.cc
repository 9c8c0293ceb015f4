#include "model/log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

#include "model/labels.h"
#include "model/timeparse.h"

namespace stoker::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<Format> g_format{Format::kLogfmt};
std::mutex g_mu;

const char* level_name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (unsigned char c : v) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

void append_logfmt(std::string& out, std::string_view k, std::string_view v) {
  out += ' ';
  out += k;
  out += '=';
  out += needs_quotes(v) ? quote(v) : std::string(v);
}

void append_json(std::string& out, std::string_view k, std::string_view v, bool first) {
  if (!first) out += ',';
  out += quote(k);
  out += ':';
  out += quote(v);  // Go-style quoting is valid JSON for the characters we emit
}
}  // namespace

bool set_level(std::string_view name) {
  for (int l = 0; l <= 3; ++l) {
    if (name == level_name(static_cast<Level>(l))) {
      g_level = l;
      return true;
    }
  }
  return false;
}

bool set_format(std::string_view name) {
  if (name == "logfmt") {
    g_format = Format::kLogfmt;
  } else if (name == "json") {
    g_format = Format::kJson;
  } else {
    return false;
  }
  return true;
}

bool enabled(Level level) {
  return static_cast<int>(level) >= g_level.load();
}

void write(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields) {
  if (!enabled(level)) return;
  std::string line;
  std::string ts = format_time(now_unix_nanos());
  if (g_format.load() == Format::kJson) {
    line.push_back('{');
    append_json(line, "ts", ts, true);
    append_json(line, "level", level_name(level), false);
    append_json(line, "component", component, false);
    append_json(line, "msg", msg, false);
    for (const auto& [k, v] : fields) append_json(line, k, v, false);
    line += "}\n";
  } else {
    line.reserve(128 + msg.size());
    line.append("ts=").append(ts);
    append_logfmt(line, "level", level_name(level));
    append_logfmt(line, "component", component);
    append_logfmt(line, "msg", msg);
    for (const auto& [k, v] : fields) append_logfmt(line, k, v);
    line += '\n';
  }
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace stoker::log
