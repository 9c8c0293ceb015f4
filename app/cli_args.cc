#include "app/cli_args.h"

#include <cstdio>
#include <set>

#include "config/config.h"
#include "model/timeparse.h"

namespace stoker::cli {

Result<Args> parse_args(int argc, char** argv, size_t start) {
  static const std::set<std::string> kValueFlags = {
      "--config",    "--storage.path", "--web.listen-address",
      "--log.level", "--log.format",   "--query",
      "--from",      "--until",        "--output",
      "-o",          "--max-nodes",    "--nodecount",
      "--step",      "--group-by",     "--web.config.file",
      "--span-id",   "--sample-rate",  "--focus",
      "--ignore",    "--hide",         "--show",
      "--show_from", "--tagfocus",     "--tagignore",
      "--granularity", "--nodefraction", "--edgefraction",
      "--diff-base", "--source-path"};
  static const std::set<std::string> kBoolFlags = {
      "--help", "-h", "--version", "--config.expand-env", "--icicle", "--bottom-up", "--cum",
      "--functions", "--filefunctions", "--lines", "--no-browser"};
  Args a;
  for (size_t i = start; i < static_cast<size_t>(argc); ++i) {
    std::string s = argv[i];
    if (s.size() > 1 && s[0] == '-') {
      std::string name = s, value;
      auto eq = s.find('=');
      if (eq != std::string::npos) {
        name = s.substr(0, eq);
        value = s.substr(eq + 1);
      }
      if (kBoolFlags.count(name)) {
        a.flags[name] = "true";
      } else if (kValueFlags.count(name)) {
        if (eq == std::string::npos) {
          if (i + 1 >= static_cast<size_t>(argc)) {
            return Status::invalid("flag " + name + " needs a value");
          }
          value = argv[++i];
        }
        a.flags[name] = value;
      } else {
        return Status::invalid("unknown flag " + name + " (see stoker --help)");
      }
    } else {
      a.positional.push_back(s);
    }
  }
  return a;
}

std::optional<std::string> flag(const Args& a, const std::string& name) {
  auto it = a.flags.find(name);
  if (it == a.flags.end()) return std::nullopt;
  return it->second;
}

int fail(const std::string& msg, int code) {
  std::fprintf(stderr, "stoker: %s\n", msg.c_str());
  return code;
}

Result<std::string> storage_path(const Args& a) {
  if (auto p = flag(a, "--storage.path")) return *p;
  if (auto c = flag(a, "--config")) {
    auto r = load_config_file(*c, flag(a, "--config.expand-env").has_value());
    if (!r.config) return Status::invalid(r.errors.front());
    return r.config->storage.path;
  }
  return StorageConfig{}.path;
}

Status parse_range(const Args& a, TimeRange* range) {
  int64_t now = now_unix_nanos();
  if (auto f = flag(a, "--from")) {
    auto t = parse_time(*f, now);
    if (!t) return t.status().context("--from");
    range->from_ns = *t;
  }
  if (auto u = flag(a, "--until")) {
    auto t = parse_time(*u, now);
    if (!t) return t.status().context("--until");
    range->until_ns = *t;
  }
  if (range->from_ns > range->until_ns) return Status::invalid("--from is after --until");
  return Status();
}

}  // namespace stoker::cli
