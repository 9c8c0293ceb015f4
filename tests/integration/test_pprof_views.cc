// pprof's views over stored profiles, against `go tool pprof` itself on the
// same real profiles of the demo Go app (CPU with labelled requests, allocs):
// the refine options (focus, ignore, hide, show, show_from, tagfocus,
// tagignore) alone and combined give pprof's -top totals per function; the
// lines granularity gives -lines -top; the source listing gives -list's
// per-line numbers; the call graph gives -dot's nodes and edge weights. Also
// `stoker view` on files and the page's upload route, with bad files, and the
// source view's file access rules.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <chrono>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "pprof/compress.h"
#include "proto/profile.pb.h"
#include "tests/support/demo.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"

using namespace stoker;
using test::Child;
using test::TempDir;

namespace {

namespace json = boost::json;

const char* const kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const char* const kAllocSpace = "memory:alloc_space:bytes:space:bytes";

using Totals = std::map<std::string, std::pair<int64_t, int64_t>>;  // name → (flat, cum)

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += "'\\''";
    else out += c;
  }
  return out + "'";
}

// The demo app's CPU profile (3 s) and allocs profile, as files, opened by
// `stoker view` into a database that the CLI reads and whose page the API
// tests ask.
struct Files {
  TempDir dir;
  std::string cpu = dir.file("cpu.pb.gz"), allocs = dir.file("allocs.pb.gz");
  std::string db = dir.file("view.db");
  int port = test::free_port();
  std::unique_ptr<Child> view;

  explicit Files(const std::string& extra_flags = "") {
    {
      test::Demo demo;
      std::string body;
      // Let the demo app serve some labelled requests first.
      REQUIRE(test::http_get(demo.port, "/debug/pprof/profile?seconds=3", &body) == 200);
      test::write_file(cpu, body);
      REQUIRE(test::http_get(demo.port, "/debug/pprof/allocs", &body) == 200);
      test::write_file(allocs, body);
    }
    std::vector<std::string> args{STOKER_BINARY, "view", "--storage.path", db,
                                  "--web.listen-address", "127.0.0.1:" + std::to_string(port)};
    if (!extra_flags.empty()) args.push_back(extra_flags);
    args.push_back(cpu);
    args.push_back(allocs);
    view = std::make_unique<Child>(args, dir.file("view.log"));
    std::string out;
    bool up = test::wait_for([&] { return test::http_get(port, "/-/ready", &out) == 200; }, 20000);
    INFO(test::read_file(dir.file("view.log")));
    REQUIRE(up);
  }
  std::string log() const { return test::read_file(dir.file("view.log")); }
};

int64_t leading_number(const std::string& s) {
  return s == "0" ? 0 : std::stoll(s);
}

// `go tool pprof -top` with every node (nodefraction 0), values in the base
// unit: function → (flat, cum).
Totals pprof_top(const std::string& file, const std::string& flags) {
  int status = 0;
  std::string out = test::run_command(std::string(GO_EXECUTABLE) +
                                          " tool pprof -top -nodefraction=0 -nodecount=0 " + flags +
                                          " " + file + " 2>/dev/null",
                                      &status);
  REQUIRE(status == 0);
  Totals t;
  static const std::regex row(R"(^\s*(-?\d+)[a-zA-Z]*\s+\S+\s+\S+\s+(-?\d+)[a-zA-Z]*\s+\S+\s+(.+?)(?: \(inline\))?\s*$)");
  std::istringstream in(out);
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.find("flat%") != std::string::npos) {
      table = true;
      continue;
    }
    std::smatch m;
    if (table && std::regex_match(line, m, row)) {
      auto& v = t[m[3]];
      v.first += leading_number(m[1]);
      v.second += leading_number(m[2]);
    }
  }
  return t;
}

// `stoker top` (JSON, every function) with the same flags.
Totals stoker_top(const Files& f, const std::string& type, const std::string& flags,
                  std::string* warnings = nullptr) {
  int status = 0;
  // stderr apart: an option that matched nothing is warned of there.
  std::string out = test::run_command(std::string(STOKER_BINARY) + " top --storage.path " + f.db +
                                          " --query " + sh_quote(type + "{}") +
                                          " --nodecount 0 --output json " + flags + " 2>" +
                                          f.dir.file("warn.txt"),
                                      &status);
  INFO(out << test::read_file(f.dir.file("warn.txt")));
  REQUIRE(status == 0);
  if (warnings) *warnings = test::read_file(f.dir.file("warn.txt"));
  Totals t;
  auto doc = json::parse(out);
  for (const auto& fn : doc.at("functions").as_array()) {
    auto& v = t[std::string(fn.at("name").as_string())];
    v.first += fn.at("self").as_int64();
    v.second += fn.at("total").as_int64();
  }
  return t;
}

void drop_zero(Totals& t) {
  for (auto it = t.begin(); it != t.end();) {
    if (it->second.first == 0 && it->second.second == 0) it = t.erase(it);
    else ++it;
  }
}

void same_totals(Totals mine, Totals theirs) {
  drop_zero(mine);
  drop_zero(theirs);
  for (const auto& [name, v] : theirs) {
    INFO(name);
    auto it = mine.find(name);
    REQUIRE(it != mine.end());
    CHECK(it->second == v);
  }
  CHECK(mine.size() == theirs.size());
}

// One pprof option as both programs spell it: stoker's --name=value, pprof's -name=value.
struct Option {
  std::string name, value;
};

std::string flags(const std::vector<Option>& opts, const char* dash) {
  std::string out;
  for (const auto& o : opts) out += std::string(" ") + dash + o.name + "=" + sh_quote(o.value);
  return out;
}

}  // namespace

TEST_CASE("refine options alone and combined give the totals per function of go tool pprof -top",
          "[integration][pprof_views][pprof_oracle]") {
  Files f;
  const std::vector<std::vector<Option>> cases = {
      {},
      {{"focus", "burnCPU"}},
      {{"ignore", "runtime\\."}},
      {{"hide", "runtime\\."}},
      {{"show", "main\\.|sha256"}},
      {{"show_from", "burnCPU|serveRequests"}},
      {{"tagfocus", "endpoint=/cart|/search"}},
      {{"tagignore", "endpoint=checkout"}},
      {{"tagfocus", "endpoint:/search"}},
      {{"focus", "main\\."}, {"ignore", "allocate"}, {"hide", "sha256\\.block"}},
      {{"focus", "sha256"}, {"tagignore", "endpoint=/cart"}, {"show_from", "hashRounds|burnCPU"}},
      {{"show", "main"}, {"hide", "worker"}},
  };
  for (const auto& c : cases) {
    INFO("options:" << flags(c, "-"));
    auto theirs = pprof_top(f.cpu, "-unit=ns" + flags(c, "-"));
    REQUIRE(theirs.size() >= 2);  // every case keeps something to compare
    same_totals(stoker_top(f, kCpu, flags(c, "--")), theirs);
  }
  // The allocation profile, by allocated bytes and by objects.
  for (const auto& c : std::vector<std::vector<Option>>{{}, {{"focus", "allocate"}},
                                                        {{"hide", "runtime"}}}) {
    INFO("allocs, options:" << flags(c, "-"));
    same_totals(stoker_top(f, kAllocSpace, flags(c, "--")),
                pprof_top(f.allocs, "-sample_index=alloc_space -unit=B" + flags(c, "-")));
    same_totals(stoker_top(f, "memory:alloc_objects:count:space:bytes", flags(c, "--")),
                pprof_top(f.allocs, "-sample_index=alloc_objects" + flags(c, "-")));
  }
  // An option that matches nothing is said, as pprof warns of it.
  std::string warnings;
  auto none = stoker_top(f, kCpu, "--focus=no_such_function_anywhere", &warnings);
  CHECK(none.empty());
  CHECK(warnings.find("--focus matched nothing") != std::string::npos);
  // A bad regex is refused naming the option.
  int status = 0;
  std::string out = test::run_command(std::string(STOKER_BINARY) + " top --storage.path " + f.db +
                                          " --query 'process_cpu{}' --hide='(' 2>&1",
                                      &status);
  CHECK(status != 0);
  CHECK(out.find("--hide: invalid regex") != std::string::npos);
  // The same options on the API: /pyroscope/render's table total is pprof's.
  std::string body;
  REQUIRE(test::http_get(f.port,
                         std::string("/pyroscope/render?query=") + kCpu +
                             "%7B%7D&from=now-1h&until=now&timeline=false&focus=burnCPU&hide=" +
                             "runtime%5C.",
                         &body) == 200);
  auto theirs = pprof_top(f.cpu, "-unit=ns -focus=burnCPU -hide=runtime\\.");
  int64_t total = 0;
  for (const auto& [name, v] : theirs) total += v.first;
  CHECK(json::parse(body).at("flamebearer").at("numTicks").as_int64() == total);
  // An option that matched nothing is listed, as the page marks its chip.
  REQUIRE(test::http_get(f.port,
                         std::string("/pyroscope/render?query=") + kCpu +
                             "%7B%7D&from=now-1h&until=now&timeline=false&hide=zzz_matches_nothing",
                         &body) == 200);
  CHECK(body.find("\"unmatched\":[\"hide\"]") != std::string::npos);
}

namespace {

// `go tool pprof -dot` in the base unit: node name → (flat, cum) and
// (caller, callee) → weight.
struct Dot {
  Totals nodes;
  std::map<std::pair<std::string, std::string>, int64_t> edges;
};

Dot pprof_dot(const std::string& file, const std::string& flags, const std::string& unit) {
  std::string out = test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -dot -unit=" +
                                      unit + " " + flags + " " + file + " 2>/dev/null");
  Dot d;
  std::map<std::string, std::string> ids;
  const std::regex node("^N(\\d+) \\[label=\"(.*?)\" id=\"node\\d+\".*tooltip=\"(.*) \\((-?\\d+)" +
                        unit + "\\)\"");
  const std::regex edge("^N(\\d+) -> N(\\d+) \\[label=\" (-?\\d+)" + unit);
  const std::regex flat_part("^(-?\\d+)" + unit + " \\(");
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, node)) {
      ids[m[1]] = m[3];
      int64_t flat = 0;
      std::string label = m[2];
      for (size_t at = 0; at != std::string::npos;) {
        size_t next = label.find("\\n", at);
        std::string part = label.substr(at, next == std::string::npos ? next : next - at);
        std::smatch pm;
        if (part.rfind("0 of", 0) == 0) break;
        if (std::regex_search(part, pm, flat_part)) {
          flat = std::stoll(pm[1]);
          break;
        }
        at = next == std::string::npos ? next : next + 2;
      }
      d.nodes[m[3]] = {flat, std::stoll(m[4])};
    } else if (std::regex_search(line, m, edge)) {
      d.edges[{ids.at(m[1]), ids.at(m[2])}] = std::stoll(m[3]);
    }
  }
  return d;
}

Dot stoker_graph(const Files& f, const std::string& type, const std::string& params) {
  std::string body;
  REQUIRE(test::http_get(f.port,
                         "/pyroscope/render?query=" + type +
                             "%7B%7D&from=now-1h&until=now&format=graph" + params,
                         &body) == 200);
  auto doc = json::parse(body);
  Dot d;
  std::vector<std::string> names;
  for (const auto& n : doc.at("nodes").as_array()) {
    names.emplace_back(n.at("name").as_string());
    d.nodes[names.back()] = {n.at("flat").as_int64(), n.at("cum").as_int64()};
  }
  for (const auto& e : doc.at("edges").as_array()) {
    d.edges[{names.at(static_cast<size_t>(e.at("from").as_int64())),
             names.at(static_cast<size_t>(e.at("to").as_int64()))}] = e.at("weight").as_int64();
  }
  return d;
}

}  // namespace

TEST_CASE("lines, the source listing and the call graph match go tool pprof -lines, -list and -dot",
          "[integration][pprof_views][pprof_oracle]") {
  Files f;
  SECTION("lines granularity is -lines -top") {
    same_totals(stoker_top(f, kCpu, "--lines"), pprof_top(f.cpu, "-unit=ns -lines"));
    same_totals(stoker_top(f, kCpu, "--granularity=lines --focus=burnCPU"),
                pprof_top(f.cpu, "-unit=ns -lines -focus=burnCPU"));
    same_totals(stoker_top(f, kCpu, "--filefunctions"), pprof_top(f.cpu, "-unit=ns -filefunctions"));
  }
  SECTION("the source listing is -list, line by line") {
    for (const std::string fn : {"main.burnCPU", "sha256.block", "main\\.(handle|serve)"}) {
      INFO(fn);
      int status = 0;
      std::string out = test::run_command(std::string(STOKER_BINARY) + " list " + sh_quote(fn) +
                                              " --storage.path " + f.db +
                                              " --query 'process_cpu{}' --output json 2>&1",
                                          &status);
      INFO(out);
      REQUIRE(status == 0);
      std::map<std::pair<std::string, int64_t>, std::pair<int64_t, int64_t>> mine, theirs;
      auto doc = json::parse(out);
      for (const auto& l : doc.at("listings").as_array()) {
        CHECK(!l.at("path").as_string().empty());  // the demo's source and GOROOT are here
        for (const auto& x : l.at("lines").as_array()) {
          if (x.at("flat").as_int64() == 0 && x.at("cum").as_int64() == 0) continue;
          mine[{std::string(l.at("function").as_string()), x.at("line").as_int64()}] = {
              x.at("flat").as_int64(), x.at("cum").as_int64()};
        }
      }
      std::string listing = test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -unit=ns -list " +
                                              sh_quote(fn) + " " + f.cpu + " 2>/dev/null");
      static const std::regex routine(R"(^ROUTINE =+ (\S+) in )");
      static const std::regex row(R"(^\s*(\.|\d+ns)\s+(\.|\d+ns)\s+(\d+):)");
      std::string current;
      std::istringstream in(listing);
      std::string line;
      while (std::getline(in, line)) {
        std::smatch m;
        if (std::regex_search(line, m, routine)) {
          current = m[1];
        } else if (std::regex_search(line, m, row) && (m[1] != "." || m[2] != ".")) {
          auto num = [](const std::string& s) { return s == "." ? 0 : std::stoll(s); };
          auto& v = theirs[{current, std::stoll(m[3])}];
          v.first += num(m[1]);
          v.second += num(m[2]);
        }
      }
      REQUIRE(!theirs.empty());
      CHECK(mine == theirs);
    }
  }
  SECTION("the call graph is -dot: the same nodes, flat and cum, and edge weights") {
    struct Case {
      std::string type, params, pprof_flags, unit;
      const std::string* file;
    };
    const std::vector<Case> cases = {
        {kCpu, "", "", "ns", &f.cpu},
        {kCpu, "&nodecount=10", "-nodecount=10", "ns", &f.cpu},
        {kCpu, "&nodecount=25&nodefraction=0.02&edgefraction=0.01",
         "-nodecount=25 -nodefraction=0.02 -edgefraction=0.01", "ns", &f.cpu},
        {kCpu, "&focus=main&hide=runtime", "-focus=main -hide=runtime", "ns", &f.cpu},
        {kCpu, "&granularity=lines&nodecount=30", "-lines -nodecount=30", "ns", &f.cpu},
        {kAllocSpace, "", "-sample_index=alloc_space", "B", &f.allocs},
    };
    for (const auto& c : cases) {
      INFO(c.type << c.params);
      auto mine = stoker_graph(f, c.type, c.params);
      auto theirs = pprof_dot(*c.file, c.pprof_flags, c.unit);
      REQUIRE(!theirs.nodes.empty());
      CHECK(mine.nodes == theirs.nodes);
      CHECK(mine.edges == theirs.edges);
    }
    // DOT text for Graphviz, from the API and the CLI, with the same nodes.
    std::string dot;
    REQUIRE(test::http_get(f.port,
                           std::string("/pyroscope/render?query=") + kCpu +
                               "%7B%7D&from=now-1h&until=now&format=dot",
                           &dot) == 200);
    CHECK(dot.rfind("digraph ", 0) == 0);
    // Grafana's Connect API with format DOT (max_nodes as the nodecount).
    auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    auto connect = test::http_request(
        f.port, "POST", "/querier.v1.QuerierService/SelectMergeStacktraces",
        {{"Content-Type", "application/json"}},
        std::string("{\"profileTypeID\":\"") + kCpu +
            "\",\"labelSelector\":\"{}\",\"start\":" + std::to_string(now_ms - 3'600'000) +
            ",\"end\":" + std::to_string(now_ms) +
            ",\"maxNodes\":10,\"format\":\"PROFILE_FORMAT_DOT\"}");
    INFO(connect.body);
    REQUIRE(connect.status == 200);
    std::string connect_dot(json::parse(connect.body).at("dot").as_string());
    CHECK(connect_dot.rfind("digraph ", 0) == 0);
    int status = 0;
    std::string out = test::run_command(std::string(STOKER_BINARY) + " graph --storage.path " +
                                            f.db + " --query 'process_cpu{}' -o " +
                                            f.dir.file("cpu.dot") + " 2>&1",
                                        &status);
    INFO(out);
    REQUIRE(status == 0);
    std::string file = test::read_file(f.dir.file("cpu.dot"));
    auto count_nodes = [](const std::string& text) {
      static const std::regex n("\nN\\d+ \\[label=");
      return std::distance(std::sregex_iterator(text.begin(), text.end(), n), std::sregex_iterator());
    };
    CHECK(count_nodes(file) == static_cast<long>(pprof_dot(f.cpu, "", "ns").nodes.size()));
    CHECK(count_nodes(dot) == count_nodes(file));
    CHECK(count_nodes(connect_dot) == static_cast<long>(pprof_dot(f.cpu, "-nodecount=10", "ns").nodes.size()));
    // Graphviz reads it, when it is installed.
    if (test::run_command("command -v dot") != "") {
      test::run_command("dot -Tsvg -o " + f.dir.file("cpu.svg") + " " + f.dir.file("cpu.dot"),
                        &status);
      CHECK(status == 0);
    }
  }
}

TEST_CASE("stoker view opens files, the page's upload stores one, bad files store nothing",
          "[integration][pprof_views]") {
  Files f;
  // The URL it prints shows the files.
  std::string log = f.log();
  CHECK(log.find("Serving the page at http://127.0.0.1:" + std::to_string(f.port) + "/?type=") !=
        std::string::npos);
  CHECK(log.find("cpu.pb.gz: pprof, 1 profile(s)") != std::string::npos);
  std::string body;
  REQUIRE(test::http_get(f.port, "/pyroscope/label-values?label=file", &body) == 200);
  CHECK(body.find("cpu.pb.gz") != std::string::npos);
  CHECK(body.find("allocs.pb.gz") != std::string::npos);

  auto upload = [&](const std::string& name, const std::string& data) {
    return test::http_request(f.port, "POST", "/api/v1/upload?name=" + name, {}, data);
  };
  auto files = [&] {
    // Until a minute ahead: an upload in this very millisecond counts too.
    const auto ahead = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() +
                       60'000;
    std::string b;
    test::http_get(f.port,
                   "/pyroscope/label-values?label=file&from=now-1h&until=" + std::to_string(ahead),
                   &b);
    return b;
  };
  // A good upload: stored under source="upload" with its file name, answered
  // with the type and selector that show it.
  auto r = upload("again.pb.gz", test::read_file(f.cpu));
  INFO(r.body);
  REQUIRE(r.status == 200);
  auto doc = json::parse(r.body);
  CHECK(doc.at("query").as_string() == "{service_name=\"again\",file=\"again.pb.gz\"}");
  CHECK(doc.at("types").as_array().at(0).as_string() == kCpu);
  CHECK(files().find("again.pb.gz") != std::string::npos);

  // Folded stacks are a profile too.
  r = upload("stacks.folded", "main;work;hash 30\nmain;idle 10\n");
  CHECK(r.status == 200);

  // Not a profile, truncated, empty: a clear message, nothing stored.
  const std::string before = files();
  r = upload("notes.txt", "these are not the profiles you are looking for\n");
  CHECK(r.status == 400);
  CHECK(r.body.find("\"notes.txt\" is not a profile stoker can read") != std::string::npos);
  std::string cpu = test::read_file(f.cpu);
  r = upload("cut.pb.gz", cpu.substr(0, cpu.size() / 2));
  CHECK(r.status == 400);
  CHECK(r.body.find("\"cut.pb.gz\"") != std::string::npos);
  CHECK(r.body.find("truncated") != std::string::npos);
  std::string raw;
  REQUIRE(pprof::gunzip(cpu, 64 << 20, &raw).ok());
  r = upload("cut.pb", raw.substr(0, raw.size() - 7));
  CHECK(r.status == 400);
  CHECK(r.body.find("\"cut.pb\"") != std::string::npos);
  r = upload("empty.pb", "");
  CHECK(r.status == 400);
  CHECK(r.body.find("is empty") != std::string::npos);
  // 1 GB: refused by its Content-Length before the body is sent (curl asks
  // with Expect: 100-continue and gets the 413 instead).
  std::string big = f.dir.file("big.pb.gz");
  REQUIRE(truncate((test::write_file(big, ""), big.c_str()), (1LL << 30) + 1) == 0);
  std::string code = test::run_command(
      "curl -s -o " + f.dir.file("big.out") + " -w '%{http_code}' -X POST -T " + big +
      " 'http://127.0.0.1:" + std::to_string(f.port) + "/api/v1/upload?name=big.pb.gz'");
  CHECK(code == "413");
  CHECK(files() == before);
  // --diff-base opens the Diff view: the base against the files.
  {
    std::string newer = f.dir.file("new.pb.gz");
    test::write_file(newer, test::read_file(f.cpu));
    int port = test::free_port();
    Child diff({STOKER_BINARY, "view", "--web.listen-address", "127.0.0.1:" + std::to_string(port),
                "--diff-base", f.cpu, newer},
               f.dir.file("diff.log"));
    std::string b;
    REQUIRE(test::wait_for([&] { return test::http_get(port, "/-/ready", &b) == 200; }, 20000));
    std::string dlog = test::read_file(f.dir.file("diff.log"));
    INFO(dlog);
    CHECK(dlog.find("/diff?type=process_cpu") != std::string::npos);
    CHECK(dlog.find("rightQuery=%7Bservice_name%3D%22new%22%2Cfile%3D%22new.pb.gz%22%7D") !=
          std::string::npos);
    const auto ahead = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() +
                       60'000;
    auto q = [](const std::string& file) {
      return std::string(kCpu) + "%7Bservice_name%3D%22new%22%2Cfile%3D%22" + file + "%22%7D";
    };
    REQUIRE(test::http_get(port,
                           "/pyroscope/render-diff?leftQuery=" + q("cpu.pb.gz") +
                               "&rightQuery=" + q("new.pb.gz") + "&leftFrom=now-5m&rightFrom=now-5m" +
                               "&leftUntil=" + std::to_string(ahead) +
                               "&rightUntil=" + std::to_string(ahead),
                           &b) == 200);
    auto doc2 = json::parse(b);
    CHECK(doc2.at("leftTicks").as_int64() > 0);
    CHECK(doc2.at("leftTicks").as_int64() == doc2.at("rightTicks").as_int64());
    CHECK(diff.stop(SIGTERM, 10000) == 0);
  }
  // stoker view refuses it too, before reading it.
  int status = 0;
  std::string out = test::run_command(std::string(STOKER_BINARY) + " view " + big + " 2>&1", &status);
  CHECK(status != 0);
  CHECK(out.find("opens files up to 1 GiB") != std::string::npos);
  // Without --storage.path the database is temporary: gone after a refusal
  // as after a stop (TMPDIR is where it is made).
  std::string tmp = f.dir.file("tmp");
  std::filesystem::create_directories(tmp);
  out = test::run_command("TMPDIR=" + tmp + " " + STOKER_BINARY + " view " +
                              f.dir.file("missing.pb.gz") + " 2>&1",
                          &status);
  CHECK(status != 0);
  CHECK(out.find("missing.pb.gz") != std::string::npos);
  test::write_file(f.dir.file("notes.txt"), "not a profile\n");
  out = test::run_command(
      "TMPDIR=" + tmp + " " + STOKER_BINARY + " view " + f.dir.file("notes.txt") + " 2>&1", &status);
  CHECK(status != 0);
  CHECK(out.find("notes.txt") != std::string::npos);
  {
    int port = test::free_port();
    Child temp({"/usr/bin/env", "TMPDIR=" + tmp, STOKER_BINARY, "view", "--web.listen-address",
                "127.0.0.1:" + std::to_string(port), f.cpu},
               f.dir.file("temp.log"));
    std::string b;
    REQUIRE(test::wait_for([&] { return test::http_get(port, "/-/ready", &b) == 200; }, 20000));
    CHECK(!std::filesystem::is_empty(tmp));  // its database, while it serves
    CHECK(temp.stop(SIGTERM, 10000) == 0);
  }
  CHECK(std::filesystem::is_empty(tmp));
}

namespace {

// A profile whose one function claims to live in `file`.
std::string profile_in(const std::string& file) {
  perftools::profiles::Profile p;
  p.add_string_table("");
  p.add_string_table("cpu");
  p.add_string_table("nanoseconds");
  p.add_string_table("main.secret");
  p.add_string_table(file);
  auto* st = p.add_sample_type();
  st->set_type(1);
  st->set_unit(2);
  p.mutable_period_type()->set_type(1);
  p.mutable_period_type()->set_unit(2);
  p.set_period(10'000'000);
  auto* fn = p.add_function();
  fn->set_id(1);
  fn->set_name(3);
  fn->set_filename(4);
  auto* loc = p.add_location();
  loc->set_id(1);
  auto* line = loc->add_line();
  line->set_function_id(1);
  line->set_line(2);
  auto* s = p.add_sample();
  s->add_location_id(1);
  s->add_value(10'000'000);
  return p.SerializeAsString();
}

}  // namespace

TEST_CASE("the source view reads only files the profiles name under its roots, off when disabled",
          "[integration][pprof_views]") {
  TempDir dir;
  // Roots: the working directory of stoker (here `root`) and source.paths.
  std::string root = dir.file("root"), outside = dir.file("outside");
  REQUIRE(mkdir(root.c_str(), 0755) == 0);
  REQUIRE(mkdir(outside.c_str(), 0755) == 0);
  test::write_file(root + "/ok.go", "package main\n// line 2 of ok.go\n");
  test::write_file(outside + "/secret.go", "package main\n// the secret line\n");
  REQUIRE(symlink((outside + "/secret.go").c_str(), (root + "/link.go").c_str()) == 0);
  int port = test::free_port();
  auto start = [&](const std::string& extra) {
    test::write_file(dir.file("stoker.yaml"),
                     "storage: {path: " + dir.file("s.db") + "}\nweb: {listen_address: '127.0.0.1:" +
                         std::to_string(port) + "'}\nscrape_configs: []\n" + extra);
    auto c = std::make_unique<Child>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 "cd " + root + " && exec " + STOKER_BINARY + " --config " +
                                     dir.file("stoker.yaml")},
        dir.file("stoker.log"));
    std::string b;
    REQUIRE(test::wait_for([&] { return test::http_get(port, "/-/ready", &b) == 200; }, 20000));
    return c;
  };
  int uploads = 0;
  auto source = [&](const std::string& recorded, std::string* body) {
    std::string name = "x" + std::to_string(++uploads) + ".pb";
    auto up = test::http_request(port, "POST", "/api/v1/upload?name=" + name, {},
                                 profile_in(recorded));
    INFO(up.body);
    REQUIRE(up.status == 200);
    // Until a minute ahead: an upload in the same millisecond as "now" is
    // after it by some nanoseconds.
    const auto ahead = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count() +
                       60'000;
    return test::http_get(port,
                          std::string("/api/v1/source?query=") + kCpu + "%7Bfile%3D%22" + name +
                              "%22%7D&from=now-5m&until=" + std::to_string(ahead) +
                              "&function=secret",
                          body);
  };
  auto text_of = [](const std::string& body) {
    std::string all;
    auto doc = json::parse(body);
    for (const auto& l : doc.at("listings").as_array()) {
      for (const auto& x : l.at("lines").as_array()) all += std::string(x.at("text").as_string());
    }
    return all;
  };
  {
    auto stoker = start("");
    std::string body;
    // A file under the root is read.
    REQUIRE(source(root + "/ok.go", &body) == 200);
    CHECK(text_of(body).find("line 2 of ok.go") != std::string::npos);
    // Outside it, by absolute path, by "..", or through a symlink: not read,
    // the costs are still listed and the tried paths said.
    for (const std::string& hostile :
         {outside + "/secret.go", root + "/../outside/secret.go", root + "/link.go",
          std::string("../outside/secret.go"), std::string("/etc/passwd")}) {
      INFO(hostile);
      REQUIRE(source(hostile, &body) == 200);
      CHECK(text_of(body).find("secret line") == std::string::npos);
      CHECK(text_of(body).find("root:") == std::string::npos);
      auto doc = json::parse(body);
      for (const auto& l : doc.at("listings").as_array()) {
        CHECK(!l.at("found").as_bool());
        CHECK(!l.at("tried").as_array().empty());
        CHECK(l.at("lines").as_array().size() == 1);
      }
    }
  }
  {
    // source.paths rewrites a recorded prefix into a root of its own.
    auto stoker = start("source:\n  paths:\n    - {from: /build/src, to: " + outside + "}\n");
    std::string body;
    REQUIRE(source("/build/src/secret.go", &body) == 200);
    CHECK(text_of(body).find("secret line") != std::string::npos);
  }
  {
    auto stoker = start("source: {enabled: false}\n");
    std::string body;
    CHECK(source(root + "/ok.go", &body) == 403);
    CHECK(body.find("the source view is off") != std::string::npos);
  }
}
