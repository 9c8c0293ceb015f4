#include "app/cli.h"

#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include "app/cli_args.h"
#include "app/cli_query.h"
#include "app/process.h"
#include "collector/cluster.h"
#include "collector/scrape_manager.h"
#include "config/config.h"
#include "discovery/manager.h"
#include "model/log.h"
#include "model/selector.h"
#include "model/timeparse.h"
#include "net/asio_pch.h"
#include "net/http_server.h"
#include "net/web_security.h"
#include "pprof/compress.h"
#include "pprof/jfr.h"
#include "pprof/pprof_decode.h"
#include "pprof/transform.h"
#include "query/refine.h"
#include "storage/reader.h"
#include "storage/storage.h"
#include "web/api.h"

namespace stoker {

using namespace cli;

namespace {

const char* kUsage = R"(stoker — a pull-based continuous-profiling collector

Usage:
  stoker [run] [--config FILE] [flags]       scrape targets and store profiles (default command)
  stoker check config FILE...                 validate config files
  stoker check web-config FILE...             validate web config files (--web.config.file)
  stoker targets --config FILE [--output json|table]
                                              discover once, relabel, print what would be scraped
  stoker profiles [--storage.path DB] [--query SELECTOR] [--from T] [--until T] [--output table|json]
                                              list stored series with profile counts and time ranges
  stoker export [--storage.path DB] --query SELECTOR [--from T] [--until T] [--span-id ID,...] -o FILE
                                              merge matching profiles of one type into a gzipped pprof
  stoker convert RECORDING.jfr [--sample-rate HZ] -o OUT.pb.gz
                                              a Java Flight Recorder file as pprof files, one per
                                              profile type (OUT.cpu.pb.gz, OUT.alloc_sample.pb.gz, …)
  stoker flamegraph [--storage.path DB] --query SELECTOR [--from T] [--until T] [--max-nodes N]
                    [--span-id ID,...] [--icicle] [--bottom-up] -o FILE.svg|.html|.folded|.json
                                              a merged flame graph: interactive SVG or HTML page,
                                              folded stacks (speedscope, flamegraph.pl) or flamebearer JSON
  stoker top [--storage.path DB] --query SELECTOR [--from T] [--until T] [--nodecount N] [--cum]
             [--span-id ID,...] [--output table|json]            the hottest functions, like go tool pprof -top
  stoker view [--diff-base FILE] [--storage.path DB] [--web.listen-address A] [--source-path FROM=TO,…] FILE...
                                              open pprof, JFR or folded files in the page (go tool pprof -http)
  stoker graph [--storage.path DB] --query SELECTOR [--nodecount N] [--nodefraction F] [--edgefraction F] -o FILE.dot
                                              pprof's call graph as Graphviz text (go tool pprof -dot)
  stoker list REGEX [--storage.path DB] --query SELECTOR [--source-path FROM=TO,…] [--output text|json]
                                              source lines with self and total (go tool pprof -list)
  refine flags, on flamegraph, top, export, graph and list (pprof's, regexes):
    --focus --ignore --hide --show --show_from --tagfocus --tagignore, --granularity functions|filefunctions|lines
  stoker query series [--storage.path DB] --query SELECTOR [--from T] [--until T] [--step D]
                      [--group-by L,...] [--output table|json]
                                              per-step sums over time, as the API's SelectSeries
  stoker --help | --version

Flags:
  --config FILE             YAML scrape config (default: embedded config scraping localhost:6060)
  --config.expand-env       replace $VAR and ${VAR} in the config file by environment values
  --storage.path DB         SQLite database (default: storage.path of the config, ./data/stoker.db)
  --web.listen-address A    override web.listen_address (default 127.0.0.1:4040)
  --web.config.file F       TLS and basic auth for the HTTP server (Prometheus' web config format)
  --log.level L             debug, info, warn, error (default info)
  --log.format F            logfmt or json (default logfmt)

SELECTOR is TYPE{label="v",label=~"re",label!="v",label!~"re"}, TYPE the profile type
(process_cpu, memory, block, mutex, goroutine, ...). flamegraph, top and query series also
take a full profile type id (process_cpu:cpu:nanoseconds:cpu:nanoseconds{...}); a short type
means its default sample type, as pprof picks it. They read the last hour unless --from/--until
say otherwise. T is RFC 3339, unix seconds, or now-1h.

Examples:
  stoker --config examples/local.yaml
  stoker check config examples/local.yaml
  stoker targets --config examples/local.yaml --output table
  stoker profiles --storage.path data/stoker.db
  stoker profiles --query 'memory{service_name="demo"}' --from now-1h --output json
  stoker export --query 'process_cpu{job="local"}' --from now-15m -o cpu.pb.gz
  go tool pprof -top cpu.pb.gz
  stoker flamegraph --query 'process_cpu{service_name="demo"}' --from now-15m -o cpu.svg
  stoker top --query 'memory:alloc_space:bytes:space:bytes' --nodecount 10
  stoker query series --query 'process_cpu' --step 1m --group-by instance
)";

int cmd_check_config(const Args& a) {
  if (a.positional.size() < 3) return fail("usage: stoker check config FILE...", 2);
  bool failed = false;
  for (size_t i = 2; i < a.positional.size(); ++i) {
    const std::string& file = a.positional[i];
    std::printf("Checking %s\n", file.c_str());
    auto r = load_config_file(file, flag(a, "--config.expand-env").has_value());
    if (r.config) {
      size_t targets = 0;
      for (const auto& sc : r.config->scrape_configs) {
        for (const auto& st : sc.static_configs) targets += st.targets.size();
      }
      const auto& c = *r.config;
      std::printf("  SUCCESS: %zu scrape configs, %zu static targets, receiving pushes %s\n",
                  c.scrape_configs.size(), targets,
                  c.receive.active(c.web.listen_address)
                      ? ("on (" + c.receive.path_prefix + "/ingest)").c_str()
                      : "off");
      for (const auto& f : c.scrape_config_files) {
        std::printf("  included %s (scrape_config_files)\n", f.c_str());
      }
    } else {
      failed = true;
      std::printf("  FAILED:\n");
      for (const auto& e : r.errors) std::printf("    %s\n", e.c_str());
    }
  }
  return failed ? 1 : 0;
}

int cmd_check_web_config(const Args& a) {
  if (a.positional.size() < 3) return fail("usage: stoker check web-config FILE...", 2);
  bool failed = false;
  for (size_t i = 2; i < a.positional.size(); ++i) {
    std::printf("Checking %s\n", a.positional[i].c_str());
    std::vector<std::string> errors;
    auto sec = WebSecurity::open(a.positional[i], &errors);
    if (sec) {
      auto st = sec->current();
      std::printf("  SUCCESS: %s, %zu basic auth users\n", st->ssl ? "TLS" : "plain HTTP",
                  st->config.basic_auth_users.size());
    } else {
      failed = true;
      std::printf("  FAILED:\n");
      for (const auto& e : errors) std::printf("    %s\n", e.c_str());
    }
  }
  return failed ? 1 : 0;
}

std::string human_bytes(int64_t b) {
  char buf[32];
  if (b >= (1 << 20)) {
    std::snprintf(buf, sizeof buf, "%.1fMiB", static_cast<double>(b) / (1 << 20));
  } else if (b >= 1024) {
    std::snprintf(buf, sizeof buf, "%.1fKiB", static_cast<double>(b) / 1024);
  } else {
    std::snprintf(buf, sizeof buf, "%lldB", static_cast<long long>(b));
  }
  return buf;
}

int cmd_profiles(const Args& a) {
  auto path = storage_path(a);
  if (!path) return fail(path.error());
  auto sel = Selector::parse(flag(a, "--query").value_or(""));
  if (!sel) return fail(sel.error(), 2);
  TimeRange range;
  if (Status s = parse_range(a, &range); !s.ok()) return fail(s.message(), 2);
  std::string output = flag(a, "--output").value_or("table");
  if (output != "table" && output != "json") return fail("--output must be table or json", 2);
  auto reader = Reader::open(*path);
  if (!reader) return fail(reader.error());
  auto series = (*reader)->series(*sel, range);
  if (output == "json") {
    boost::json::array arr;
    for (const auto& s : series) {
      boost::json::object o, labels;
      for (const auto& l : s.labels) labels[l.name] = l.value;
      o["labels"] = std::move(labels);
      o["profiles"] = s.profiles;
      o["first"] = format_time(s.first_ns);
      o["last"] = format_time(s.last_ns);
      o["storedBytes"] = s.stored_bytes;
      o["receivedBytes"] = s.wire_bytes;
      arr.push_back(std::move(o));
    }
    std::cout << boost::json::serialize(arr) << "\n";
    return 0;
  }
  if (series.empty()) {
    std::printf("no stored profiles match (database %s)\n", path->c_str());
    return 0;
  }
  std::printf("%-8s  %-24s  %-24s  %9s  %9s  %s\n", "PROFILES", "FIRST", "LAST", "STORED",
              "RECEIVED", "SERIES");
  for (const auto& s : series) {
    std::printf("%-8lld  %-24s  %-24s  %9s  %9s  %s\n", static_cast<long long>(s.profiles),
                format_time(s.first_ns).c_str(), format_time(s.last_ns).c_str(),
                human_bytes(s.stored_bytes).c_str(), human_bytes(s.wire_bytes).c_str(),
                s.labels.to_string().c_str());
  }
  return 0;
}

int cmd_export(const Args& a) {
  auto out_path = flag(a, "-o");
  auto query = flag(a, "--query");
  if (!out_path || !query)
    return fail("usage: stoker export --query SELECTOR [--from T] [--until T] -o FILE", 2);
  auto path = storage_path(a);
  if (!path) return fail(path.error());
  // A full profile type id names the profile (the export has all its sample
  // types): its name is what is selected.
  std::string text = *query;
  size_t colon = text.find(':');
  if (colon != std::string::npos && colon < text.find('{')) {
    text.erase(colon,
               text.find('{') == std::string::npos ? std::string::npos : text.find('{') - colon);
  }
  auto sel = Selector::parse(text);
  if (!sel) return fail(sel.error(), 2);
  TimeRange range;
  if (Status s = parse_range(a, &range); !s.ok()) return fail(s.message(), 2);
  auto reader = Reader::open(*path);
  if (!reader) return fail(reader.error());
  pprof::Profile profile;
  std::vector<uint64_t> spans;
  if (auto list = flag(a, "--span-id")) {
    if (Status s = parse_span_ids({*list}, &spans); !s.ok()) {
      return fail("--span-id: " + s.message(), 2);
    }
    std::sort(spans.begin(), spans.end());
  }
  std::shared_ptr<const query::Refiner> refine;
  if (int rc = refine_flags(a, &refine)) return rc;
  auto merged = (*reader)->export_merged(*sel, range, &profile);
  if (!merged) return fail(merged.error());
  size_t count = *merged;
  if (refine) {
    // pprof's filters; the granularity does not apply to a profile file.
    std::vector<std::string> unmatched;
    refine->apply(profile, &unmatched);
    warn_unmatched(unmatched);
  }
  if (!spans.empty()) {
    pprof::keep_span_ids(profile, spans);
    if (profile.sample_size() == 0) {
      return fail("no samples of the given span ids in the " + std::to_string(count) +
                  " profiles matching " + *query);
    }
  }
  std::string data = pprof::encode_gzip(profile);
  std::ofstream out(*out_path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return fail("cannot write " + *out_path + ": " + std::strerror(errno));
  std::printf("wrote %s: %zu profiles merged, %d samples, %zu bytes\n", out_path->c_str(), count,
              profile.sample_size(), data.size());
  return 0;
}

// A file name's part for a JFR profile: its first sample type without
// "_objects" (cpu, wall, alloc_sample, alloc_in_new_tlab, live, …), or the
// profile's name for lock profiles (mutex, block).
std::string jfr_part(const pprof::JfrProfile& p) {
  const auto& pr = p.profile;
  std::string first =
      pr.sample_type_size() ? pr.string_table(static_cast<int>(pr.sample_type(0).type())) : p.name;
  if (first == "contentions") return p.name;
  if (first.ends_with("_objects")) first = first.substr(0, first.size() - 8);
  return first;
}

int cmd_convert(const Args& a) {
  auto out_path = flag(a, "-o");
  if (a.positional.size() != 2 || !out_path) {
    return fail("usage: stoker convert RECORDING.jfr [--sample-rate HZ] -o OUT.pb.gz", 2);
  }
  const std::string& in_path = a.positional[1];
  pprof::JfrOptions opts;
  if (auto rate = flag(a, "--sample-rate")) {
    char* end = nullptr;
    long long v = std::strtoll(rate->c_str(), &end, 10);
    if (*end != '\0' || v <= 0 || v > 1'000'000) {
      return fail("--sample-rate must be a whole number of Hz between 1 and 1000000", 2);
    }
    opts.sample_rate_hz = v;
  }
  std::ifstream in(in_path, std::ios::binary);
  if (!in) return fail("cannot read " + in_path + ": " + std::strerror(errno));
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (pprof::is_gzip(data)) {
    std::string raw;
    if (Status s = pprof::gunzip(data, size_t{4} << 30, &raw); !s.ok()) {
      return fail(in_path + ": " + s.message());
    }
    data = std::move(raw);
  }
  auto profiles = pprof::jfr_to_pprof(data, opts);
  if (!profiles) return fail(in_path + ": " + profiles.status().message());
  if (profiles->empty()) {
    return fail(in_path +
                " holds no events stoker turns into profiles (CPU, wall, allocation, "
                "lock): record with settings=profile or enable them");
  }
  // out.pb.gz → out.cpu.pb.gz, out.alloc_sample.pb.gz, …
  std::string base = *out_path;
  for (std::string_view ext : {".pb.gz", ".pprof", ".pb"}) {
    if (base.ends_with(ext)) {
      base = base.substr(0, base.size() - ext.size());
      break;
    }
  }
  for (const auto& p : *profiles) {
    std::string file = base + "." + jfr_part(p) + ".pb.gz";
    std::string bytes = pprof::encode_gzip(p.profile);
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) return fail("cannot write " + file + ": " + std::strerror(errno));
    std::printf("wrote %s: %s from %zu %s events, %d samples\n", file.c_str(), p.name.c_str(),
                p.events, p.event.c_str(), p.profile.sample_size());
  }
  return 0;
}

// How this binary was invoked, so printed hints can be pasted as they are.
std::string g_self = "stoker";

int cmd_targets(const Args& a) {
  auto c = flag(a, "--config");
  if (!c) return fail("usage: stoker targets --config FILE [--output json|table]", 2);
  std::string output = flag(a, "--output").value_or("json");
  if (output != "table" && output != "json") return fail("--output must be table or json", 2);
  auto r = load_config_file(*c, flag(a, "--config.expand-env").has_value());
  if (!r.config) {
    std::fprintf(stderr, "stoker: invalid config %s:\n", c->c_str());
    for (const auto& e : r.errors) std::fprintf(stderr, "  %s\n", e.c_str());
    return 1;
  }
  std::vector<Status> problems;
  auto groups = DiscoveryManager::discover_once(*r.config, &problems);
  for (const auto& p : problems) std::fprintf(stderr, "stoker: %s\n", p.message().c_str());
  // Clustered jobs: which replica owns each target, by the peers a list finds now.
  std::vector<std::string> peers;
  const auto& cluster = r.config->cluster;
  if (cluster.enabled) {
    auto listed = ClusterMembership::list_peers(cluster);
    if (!listed) {
      std::fprintf(stderr, "stoker: cannot list the cluster's peers: %s\n",
                   listed.status().message().c_str());
    } else {
      peers = std::move(*listed);
      if (peers.empty()) std::fprintf(stderr, "stoker: the cluster has no Ready peer\n");
    }
  }
  std::vector<TargetStatus> statuses;
  bool owners = false;
  for (const auto& sc : r.config->scrape_configs) {
    for (auto& t : build_targets(sc, groups[sc.job_name])) {
      if (sc.clustering && !peers.empty() && !t.dropped && t.error.empty()) {
        t.owner = cluster_owner(peers, cluster_key(t));
        owners = true;
      }
      statuses.push_back(target_status(t));
    }
  }
  if (output == "json") {
    std::cout << targets_json(statuses, false) << "\n";
    return 0;
  }
  std::printf("%-12s %-8s ", "JOB", "STATE");
  if (owners) std::printf("%-16s ", "OWNER");
  std::printf("%-40s %s\n", "LABELS", "PROFILE URLS / REASON");
  for (const auto& s : statuses) {
    std::string state = s.dropped ? "dropped" : !s.error.empty() ? "error" : "active";
    std::string what = s.dropped ? s.discovered.to_string() : s.error;
    if (state == "active") {
      for (const auto& ep : s.endpoints) what += (what.empty() ? "" : " ") + ep.url;
    }
    std::printf("%-12s %-8s ", s.job.c_str(), state.c_str());
    if (owners) std::printf("%-16s ", s.owner.empty() ? "-" : s.owner.c_str());
    std::printf("%-40s %s\n", s.dropped ? "-" : s.labels.to_string().c_str(), what.c_str());
  }
  return 0;
}

int cmd_run(const Args& a) {
  ProcessOptions opts;
  opts.config_file = flag(a, "--config");
  opts.expand_env = flag(a, "--config.expand-env").has_value();
  opts.storage_path = flag(a, "--storage.path");
  opts.listen_address = flag(a, "--web.listen-address");
  opts.web_config_file = flag(a, "--web.config.file");
  opts.self = g_self;
  Process process(std::move(opts));
  return process.run();
}

}  // namespace

int run_cli(int argc, char** argv) {
  if (argc > 0 && std::strchr(argv[0], '/')) g_self = argv[0];
  std::string cmd = "run";
  size_t start = 1;
  if (argc > 1 && argv[1][0] != '-') {
    cmd = argv[1];
    start = 1;  // positional[0] is the command itself
  }
  auto parsed = parse_args(argc, argv, start);
  if (!parsed) return fail(parsed.error(), 2);
  const Args& a = *parsed;
  if (flag(a, "--help") || flag(a, "-h") || cmd == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (flag(a, "--version")) {
    std::printf("stoker %s\n", STOKER_VERSION_STRING);
    return 0;
  }
  if (auto l = flag(a, "--log.level"); l && !log::set_level(*l))
    return fail("unknown --log.level " + *l, 2);
  if (auto f = flag(a, "--log.format"); f && !log::set_format(*f))
    return fail("unknown --log.format " + *f, 2);
  if (cmd == "run") {
    if (a.positional.size() > 1) return fail("unexpected argument " + a.positional[1], 2);
    return cmd_run(a);
  }
  if (cmd == "check") {
    if (a.positional.size() >= 2 && a.positional[1] == "web-config") return cmd_check_web_config(a);
    if (a.positional.size() < 2 || a.positional[1] != "config")
      return fail("usage: stoker check config FILE... | stoker check web-config FILE...", 2);
    return cmd_check_config(a);
  }
  if (cmd == "profiles") return cmd_profiles(a);
  if (cmd == "flamegraph") return cmd_flamegraph(a);
  if (cmd == "top") return cmd_top(a);
  if (cmd == "list") return cmd_list(a);
  if (cmd == "graph") return cmd_graph(a);
  if (cmd == "view") return cmd_view(a, g_self);
  if (cmd == "query") {
    if (a.positional.size() < 2 || a.positional[1] != "series")
      return fail("usage: stoker query series --query SELECTOR ... (see stoker --help)", 2);
    return cmd_query_series(a);
  }
  if (cmd == "targets") return cmd_targets(a);
  if (cmd == "export") return cmd_export(a);
  if (cmd == "convert") return cmd_convert(a);
  return fail("unknown command \"" + cmd + "\" (see stoker --help)", 2);
}

}  // namespace stoker
