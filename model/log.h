// Process-wide structured logger writing logfmt (or JSON) lines to stderr:
//   ts=2026-11-25T10:00:00.000Z level=info component=scrape msg="…" key=value
// Thread-safe. Callers must never pass secrets as field values.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace stoker::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kLogfmt, kJson };

// Returns false for an unknown name.
bool set_level(std::string_view name);
bool set_format(std::string_view name);
bool enabled(Level level);

using Field = std::pair<std::string_view, std::string>;
void write(Level level, std::string_view component, std::string_view msg,
           std::initializer_list<Field> fields = {});

inline void debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kDebug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kInfo, c, m, f);
}
inline void warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kWarn, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
  write(Level::kError, c, m, f);
}

}  // namespace stoker::log
