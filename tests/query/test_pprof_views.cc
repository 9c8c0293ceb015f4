// pprof's views on small hand-made profiles: the refine options' rules
// (whole samples for focus/ignore/tags, frames for hide/show, show_from's cut,
// inlined frames, file and mapping matches), granularity names, the call
// graph's counting, the source locator's candidates and roots, the `source`
// config section and opening files. The same views against `go tool pprof` on
// real profiles are in tests/integration/test_pprof_views.cc.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>

#include "config/config.h"
#include "ingest/open_file.h"
#include "pprof/compress.h"
#include "proto/profile.pb.h"
#include "query/graph.h"
#include "query/refine.h"
#include "query/source.h"
#include "query/stack_set.h"
#include "tests/support/process.h"

using namespace stoker;
using namespace stoker::query;
using perftools::profiles::Profile;

namespace {

// A profile built frame by frame: functions with files, locations with one
// or more lines (inlined calls first), samples with string labels.
struct Builder {
  Profile p;
  std::map<std::string, int64_t> strings;
  int64_t str(const std::string& s) {
    auto [it, added] = strings.emplace(s, p.string_table_size());
    if (added) p.add_string_table(s);
    return it->second;
  }
  Builder() {
    str("");
    auto* st = p.add_sample_type();
    st->set_type(str("cpu"));
    st->set_unit(str("nanoseconds"));
  }
  uint64_t fn(const std::string& name, const std::string& file) {
    auto* f = p.add_function();
    f->set_id(static_cast<uint64_t>(p.function_size()));
    f->set_name(str(name));
    f->set_filename(str(file));
    return f->id();
  }
  // Lines innermost first: (function id, line).
  uint64_t loc(const std::vector<std::pair<uint64_t, int64_t>>& lines) {
    auto* l = p.add_location();
    l->set_id(static_cast<uint64_t>(p.location_size()));
    for (const auto& [f, n] : lines) {
      auto* ln = l->add_line();
      ln->set_function_id(f);
      ln->set_line(n);
    }
    return l->id();
  }
  void sample(const std::vector<uint64_t>& leaf_first, int64_t v,
              const std::vector<std::pair<std::string, std::string>>& labels = {}) {
    auto* s = p.add_sample();
    for (auto l : leaf_first) s->add_location_id(l);
    s->add_value(v);
    for (const auto& [k, val] : labels) {
      auto* lb = s->add_label();
      lb->set_key(str(k));
      lb->set_str(str(val));
    }
  }
};

// main (main.go:3) → [caller (b.go:7) with leaf (a.go:5) inlined] = 10, endpoint /a
// main (main.go:4) → runtime.gc (runtime/mgc.go:9) = 5, endpoint /b
Profile sample_profile() {
  Builder b;
  auto main = b.fn("main.main", "/src/app/main.go");
  auto caller = b.fn("main.caller", "/src/app/b.go");
  auto leaf = b.fn("main.leaf", "/src/app/a.go");
  auto gc = b.fn("runtime.gc", "/goroot/src/runtime/mgc.go");
  auto l1 = b.loc({{leaf, 5}, {caller, 7}});
  auto l2 = b.loc({{main, 3}});
  auto l3 = b.loc({{gc, 9}});
  auto l4 = b.loc({{main, 4}});
  b.sample({l1, l2}, 10, {{"endpoint", "/a"}});
  b.sample({l3, l4}, 5, {{"endpoint", "/b"}});
  return b.p;
}

// The refined stacks, root first, joined by ';' → value.
std::map<std::string, int64_t> refined(const RefineOptions& o,
                                       std::vector<std::string>* unmatched = nullptr) {
  Profile p = sample_profile();
  auto r = Refiner::compile(o);
  REQUIRE(r.ok());
  (*r)->apply(p, unmatched);
  StackSet s;
  stacks_of(p, o.granularity, {}, &s);
  std::map<std::string, int64_t> out;
  for (const auto& st : s.stacks()) {
    std::string k;
    for (auto f : s.frames(st)) k += (k.empty() ? "" : ";") + s.names()[f];
    out[k] += st.value;
  }
  return out;
}

RefineOptions opt(const std::string& name, const std::string& value) {
  RefineOptions o;
  REQUIRE(o.set(name, value).ok());
  return o;
}

using M = std::map<std::string, int64_t>;

}  // namespace

TEST_CASE("refine options follow pprof: whole samples, frames, inlined lines, files, tags",
          "[query][refine]") {
  CHECK(refined({}) == M{{"main.main;main.caller;main.leaf", 10}, {"main.main;runtime.gc", 5}});
  // focus and ignore keep or drop whole samples, by function or file name.
  CHECK(refined(opt("focus", "leaf")) == M{{"main.main;main.caller;main.leaf", 10}});
  CHECK(refined(opt("focus", "mgc\\.go")) == M{{"main.main;runtime.gc", 5}});
  CHECK(refined(opt("ignore", "runtime")) == M{{"main.main;main.caller;main.leaf", 10}});
  // hide removes frames, even one line of an inlined location; show keeps only matches.
  CHECK(refined(opt("hide", "main\\.leaf")) ==
        M{{"main.main;main.caller", 10}, {"main.main;runtime.gc", 5}});
  CHECK(refined(opt("hide", "main\\.")) == M{{"runtime.gc", 5}});
  CHECK(refined(opt("show", "caller|main\\.main")) ==
        M{{"main.main;main.caller", 10}, {"main.main", 5}});
  // show_from: drop what is above the outermost match; samples without one go.
  CHECK(refined(opt("show_from", "caller")) == M{{"main.caller;main.leaf", 10}});
  CHECK(refined(opt("show_from", "leaf")) == M{{"main.leaf", 10}});
  // Tags: key=regex, or a regex over key:value; focus and ignore.
  CHECK(refined(opt("tagfocus", "endpoint=/b")) == M{{"main.main;runtime.gc", 5}});
  CHECK(refined(opt("tagfocus", "endpoint:/a")) == M{{"main.main;main.caller;main.leaf", 10}});
  CHECK(refined(opt("tagfocus", "other=.")) == M{});
  CHECK(refined(opt("tagignore", "endpoint=/a,/b")) == M{});
  // Combined, in pprof's order.
  RefineOptions both = opt("focus", "main");
  REQUIRE(both.set("hide", "leaf").ok());
  REQUIRE(both.set("tagignore", "endpoint=/b").ok());
  CHECK(refined(both) == M{{"main.main;main.caller", 10}});
  // Granularity names frames as pprof does.
  CHECK(refined(opt("granularity", "lines")) ==
        M{{"main.main /src/app/main.go:3;main.caller /src/app/b.go:7;main.leaf /src/app/a.go:5", 10},
          {"main.main /src/app/main.go:4;runtime.gc /goroot/src/runtime/mgc.go:9", 5}});
  CHECK(refined(opt("granularity", "filefunctions")) ==
        M{{"main.main /src/app/main.go;main.caller /src/app/b.go;main.leaf /src/app/a.go", 10},
          {"main.main /src/app/main.go;runtime.gc /goroot/src/runtime/mgc.go", 5}});
  // What matched nothing is reported.
  std::vector<std::string> unmatched;
  RefineOptions none = opt("focus", "zzz");
  REQUIRE(none.set("tagignore", "endpoint=/c").ok());
  CHECK(refined(none, &unmatched).empty());
  CHECK(unmatched == std::vector<std::string>{"focus", "tagignore"});
}

TEST_CASE("bad refine options are refused naming the option", "[query][refine]") {
  RefineOptions o;
  CHECK(o.set("granularity", "addresses").message().find("granularity") != std::string::npos);
  CHECK(Refiner::compile(opt("hide", "(")).status().message().find("hide: invalid regex") !=
        std::string::npos);
  auto numeric = Refiner::compile(opt("tagfocus", "bytes=1kb:2kb"));
  CHECK(!numeric.ok());
  CHECK(numeric.status().message().find("numeric range") != std::string::npos);
  CHECK(RefineOptions::is_option("show_from"));
  CHECK(!RefineOptions::is_option("prune_from"));
}

TEST_CASE("the call graph counts a sample once per node and edge, recursion without self-edges",
          "[query][graph]") {
  Builder b;
  auto m = b.fn("main", "m.go");
  auto f = b.fn("f", "f.go");
  auto g = b.fn("g", "g.go");
  auto lm = b.loc({{m, 1}});
  auto lf = b.loc({{f, 2}});
  auto lf2 = b.loc({{f, 3}});
  auto lg = b.loc({{g, 4}});
  b.sample({lg, lf2, lf, lm}, 10);  // main → f → f → g
  b.sample({lf, lm}, 5);            // main → f
  GraphOptions o;
  o.nodefraction = 0;
  o.edgefraction = 0;
  Graph gr = build_graph(b.p, o);
  CHECK(gr.total == 15);
  std::map<std::string, std::pair<int64_t, int64_t>> nodes;
  for (const auto& n : gr.nodes) nodes[n.label] = {n.flat, n.cum};
  CHECK(nodes == std::map<std::string, std::pair<int64_t, int64_t>>{
                     {"main", {0, 15}}, {"f", {5, 15}}, {"g", {10, 10}}});
  std::map<std::pair<std::string, std::string>, int64_t> edges;
  for (const auto& e : gr.edges) edges[{gr.nodes[e.from].label, gr.nodes[e.to].label}] = e.weight;
  CHECK(edges == std::map<std::pair<std::string, std::string>, int64_t>{{{"main", "f"}, 15},
                                                                        {{"f", "g"}, 10}});
  // At line granularity f:2 and f:3 are two nodes, with an edge between them.
  o.granularity = Granularity::kLines;
  gr = build_graph(b.p, o);
  CHECK(gr.nodes.size() == 4);
  std::string dot = graph_dot(gr, "t", "nanoseconds");
  CHECK(dot.rfind("digraph \"t\" {", 0) == 0);
  CHECK(dot.find("f f.go:2 -> f f.go:3") != std::string::npos);
}

TEST_CASE("the source locator tries rewrites, the path, GOROOT and the module cache, within roots",
          "[query][source]") {
  test::TempDir dir;
  std::string src = dir.file("src"), mod = dir.file("mod");
  REQUIRE(mkdir(src.c_str(), 0755) == 0);
  REQUIRE(mkdir(mod.c_str(), 0755) == 0);
  REQUIRE(mkdir((mod + "/example.com").c_str(), 0755) == 0);
  REQUIRE(mkdir((mod + "/example.com/lib@v1.2.3").c_str(), 0755) == 0);
  test::write_file(src + "/main.go", "package main\n");
  test::write_file(mod + "/example.com/lib@v1.2.3/lib.go", "package lib\n");
  setenv("GOMODCACHE", mod.c_str(), 1);
  SourceLocator any({{"/build/app", src}}, {});
  any.add_go_defaults();
  std::string text;
  std::vector<std::string> tried;
  CHECK(any.read("/build/app/main.go", &text, &tried));
  CHECK(text == "package main\n");
  CHECK(tried == std::vector<std::string>{src + "/main.go"});
  // A -trimpath module path and one recorded under another machine's module cache.
  tried.clear();
  CHECK(any.read("example.com/lib@v1.2.3/lib.go", &text, &tried));
  CHECK(text == "package lib\n");
  tried.clear();
  CHECK(any.read("/home/ci/go/pkg/mod/example.com/lib@v1.2.3/lib.go", &text, &tried));
  // The standard library as another GOROOT recorded it (Debian's golang-go is here).
  if (access("/usr/lib/go/src/runtime/proc.go", R_OK) == 0) {
    tried.clear();
    CHECK(any.read("/usr/local/go/src/runtime/proc.go", &text, &tried));
    CHECK(tried.back() == "/usr/lib/go/src/runtime/proc.go");
  }
  // Not found: every candidate is listed.
  tried.clear();
  CHECK(!any.read("/nowhere/x.go", &text, &tried));
  CHECK(!tried.empty());
  CHECK(tried.front() == "/nowhere/x.go");
  // With roots, only files under them (after resolving links and "..").
  SourceLocator rooted({}, {src});
  tried.clear();
  CHECK(rooted.read(src + "/main.go", &text, &tried));
  CHECK(!rooted.read(src + "/../mod/example.com/lib@v1.2.3/lib.go", &text, &tried));
  REQUIRE(symlink((mod + "/example.com/lib@v1.2.3/lib.go").c_str(), (src + "/link.go").c_str()) ==
          0);
  CHECK(!rooted.read(src + "/link.go", &text, &tried));
  CHECK(!rooted.read("/etc/passwd", &text, &tried));
  // Roots that do not exist do not mean "no restriction".
  SourceLocator gone({}, {dir.file("no-such-dir")});
  CHECK(!gone.read(src + "/main.go", &text, &tried));
  unsetenv("GOMODCACHE");
}

TEST_CASE("the source section: paths, roots, on by default only on loopback", "[config][source]") {
  auto r = load_config_string(
      "source:\n  paths:\n    - {from: /build, to: /home/me/src}\n  roots: [/opt/src]\n"
      "scrape_configs: []\n",
      "s.yaml", "/tmp");
  REQUIRE(r.errors.empty());
  const auto& sc = r.config->source_view;
  REQUIRE(sc.paths.size() == 1);
  CHECK(sc.paths[0].from == "/build");
  CHECK(sc.paths[0].to == "/home/me/src");
  CHECK(sc.roots == std::vector<std::string>{"/opt/src"});
  CHECK(sc.active("127.0.0.1:4040"));
  CHECK(sc.active("localhost:4040"));
  CHECK(!sc.active("0.0.0.0:4040"));
  CHECK(!sc.active(":4040"));
  SourceConfig on;
  on.enabled = true;
  CHECK(on.active("0.0.0.0:4040"));
  auto bad = load_config_string("source:\n  paths:\n    - {from: /x}\n  enable: true\n", "s.yaml", "/tmp");
  REQUIRE(bad.errors.size() == 2);
  CHECK(bad.errors[0].find("s.yaml:") == 0);
}

TEST_CASE("opening a file: pprof raw or gzipped, folded stacks, anything else named and refused",
          "[ingest][open_file]") {
  Profile p = sample_profile();
  p.mutable_period_type()->set_type(1);
  p.mutable_period_type()->set_unit(2);
  const std::string raw = p.SerializeAsString();
  for (const std::string& bytes : {raw, pprof::gzip(raw)}) {
    auto f = ingest::open_profile_file("dir/cpu.pb.gz", bytes, {}, 1 << 20);
    REQUIRE(f.ok());
    CHECK(f->format == "pprof");
    REQUIRE(f->profiles.size() == 1);
    CHECK(f->profiles[0].series_name == "process_cpu");
  }
  auto folded = ingest::open_profile_file("app.alloc_space.folded", "main;work 300\nmain 5\n", {},
                                          1 << 20);
  REQUIRE(folded.ok());
  CHECK(folded->format == "folded");
  CHECK(folded->profiles[0].series_name == "memory");
  CHECK(ingest::open_profile_file("x.txt", "a;b;c 12\n", {}, 1 << 20)->profiles[0].series_name ==
        "process_cpu");
  auto labels = ingest::file_labels("/tmp/a/cpu.pb.gz", "process_cpu", {});
  CHECK(labels.get("service_name") == "cpu");
  CHECK(labels.get("source") == "upload");
  CHECK(labels.get("file") == "cpu.pb.gz");
  // Refusals name the file and say what is wrong.
  auto msg = [](std::string_view name, std::string_view bytes) {
    auto r = ingest::open_profile_file(name, bytes, {}, 1 << 20);
    REQUIRE(!r.ok());
    return r.status().message();
  };
  CHECK(msg("e.pb", "") == "\"e.pb\" is empty");
  CHECK(msg("notes.md", "# hello\nworld\n").find("\"notes.md\" is not a profile stoker can read") == 0);
  std::string gz = pprof::gzip(raw);
  CHECK(msg("cut.pb.gz", gz.substr(0, gz.size() / 2)).find("\"cut.pb.gz\"") == 0);
  CHECK(msg("cut.pb", raw.substr(0, raw.size() - 3)).find("\"cut.pb\"") == 0);
  CHECK(msg("big.pb.gz", pprof::gzip(std::string(2 << 20, 'x'))).find("exceeds") !=
        std::string::npos);
}
