// Java Flight Recorder recordings made by the JDK (Debian's openjdk-17) while
// tests/java/Busy.java runs, read by stoker and by the JDK's own `jfr print
// --json`: totals and per-method totals must be equal, exactly, for CPU,
// allocation (sampled and, with TLAB events on, per TLAB) and monitor
// waits; two recordings concatenated read as one. Then the Java agent's
// upload shapes against the stoker binary, and bad uploads.
#include <signal.h>

#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <set>

#include "model/timeparse.h"
#include "pprof/compress.h"
#include "pprof/jfr.h"
#include "proto/jfr_labels.pb.h"
#include "storage/reader.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/stoker_api.h"

using namespace stoker;
using test::Child;
using test::TempDir;

namespace {

// Per method: how much of the value its stacks hold (each stack counts once
// per method), and as the leaf.
struct Totals {
  int64_t total = 0;
  int64_t no_frames = 0;  // the value of events without a stack trace
  size_t events = 0;
  std::map<std::string, int64_t> cum, self;
  bool operator==(const Totals&) const = default;
};

void add_stack(Totals* t, const std::vector<std::string>& leaf_first, int64_t v) {
  t->total += v;
  ++t->events;
  if (leaf_first.empty()) t->no_frames += v;
  if (!leaf_first.empty()) t->self[leaf_first.front()] += v;
  std::set<std::string> seen(leaf_first.begin(), leaf_first.end());
  for (const auto& f : seen) t->cum[f] += v;
}

// "PT0.016786918S", "PT1M2.5S", "PT0S" → nanoseconds.
int64_t iso_duration_ns(const std::string& s) {
  REQUIRE(s.rfind("PT", 0) == 0);
  int64_t ns = 0;
  size_t i = 2;
  while (i < s.size()) {
    int64_t whole = 0, frac = 0, scale = 1'000'000'000;
    while (i < s.size() && isdigit(static_cast<unsigned char>(s[i])))
      whole = whole * 10 + (s[i++] - '0');
    if (i < s.size() && s[i] == '.') {
      ++i;
      while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) {
        scale /= 10;
        frac += (s[i++] - '0') * scale;
      }
    }
    char unit = s[i++];
    if (unit == 'H') ns += whole * 3600'000'000'000;
    if (unit == 'M') ns += whole * 60'000'000'000;
    if (unit == 'S') ns += whole * 1'000'000'000 + frac;
  }
  return ns;
}

// What the JDK's reader says about `event` in `file`; `value` picks the
// number per event (a field, or a constant).
Totals jdk_totals(const std::string& file, const std::string& event,
                  const std::function<int64_t(const boost::json::object&)>& value) {
  int status = 0;
  std::string json = test::run_command(
      "jfr print --json --stack-depth 4096 --events " + event + " " + file + " 2>&1", &status);
  REQUIRE(status == 0);
  auto doc = boost::json::parse(json);
  Totals t;
  for (const auto& e : doc.at("recording").at("events").as_array()) {
    const auto& values = e.at("values").as_object();
    std::vector<std::string> frames;
    if (const auto* st = values.if_contains("stackTrace"); st && st->is_object()) {
      for (const auto& f : st->at("frames").as_array()) {
        const auto& m = f.at("method");
        frames.push_back(std::string(m.at("type").at("name").as_string()) + "." +
                         std::string(m.at("name").as_string()));
      }
    }
    add_stack(&t, frames, value(values));
  }
  return t;
}

// The same from a pprof profile stoker made, for sample type `column`.
Totals stoker_totals(const perftools::profiles::Profile& p, int column) {
  std::map<uint64_t, std::string> fn, loc;
  for (const auto& f : p.function()) fn[f.id()] = p.string_table(static_cast<int>(f.name()));
  for (const auto& l : p.location()) loc[l.id()] = fn[l.line(0).function_id()];
  Totals t;
  for (const auto& s : p.sample()) {
    std::vector<std::string> frames;
    for (uint64_t id : s.location_id()) frames.push_back(loc[id]);
    add_stack(&t, frames, s.value(column));
  }
  return t;
}

const pprof::JfrProfile* find(const std::vector<pprof::JfrProfile>& ps, const std::string& event) {
  for (const auto& p : ps) {
    if (p.event == event) return &p;
  }
  return nullptr;
}

// Busy.java compiled and recorded once per build directory (the test cases
// run as separate processes; the recordings are kept next to the binary).
struct Recordings {
  std::string dir =
      (std::filesystem::path(STOKER_BINARY).parent_path() / "jfr-recordings").string();
  std::string profile_jfr = dir + "/profile.jfr";  // settings=profile, 4 threads, 3 s
  // + TLAB events, 8 threads, 3 s, in 3 chunks: a second recording that
  // starts after 1 s and stops after 2 makes the JVM rotate chunks twice.
  std::string tlab_jfr = dir + "/tlab.jfr";
  std::string both_jfr = dir + "/both.jfr";  // the two, concatenated
  Recordings() {
    if (std::filesystem::exists(both_jfr)) return;
    std::filesystem::create_directories(dir);
    int status = 0;
    std::string out = test::run_command(
        "javac -d " + dir + " " + STOKER_SOURCE_DIR + "/tests/java/Busy.java 2>&1", &status);
    INFO(out);
    REQUIRE(status == 0);
    record(profile_jfr, "", "4 3");
    record(
        tlab_jfr,
        ",jdk.ObjectAllocationInNewTLAB#enabled=true,jdk.ObjectAllocationOutsideTLAB#enabled=true"
        "' '-XX:StartFlightRecording=name=rotate,delay=1s,duration=1s,filename=" +
            dir + "/rotate.jfr",
        "8 3");
    std::string summary = test::run_command("jfr summary " + tlab_jfr, &status);
    INFO(summary);
    REQUIRE(summary.find("Chunks: 3") != std::string::npos);
    // Written last, under another name first: its presence means all are there.
    test::write_file(both_jfr + ".tmp", test::read_file(profile_jfr) + test::read_file(tlab_jfr));
    std::filesystem::rename(both_jfr + ".tmp", both_jfr);
  }
  void record(const std::string& file, const std::string& extra, const std::string& args) {
    int status = 0;
    std::string out =
        test::run_command("java '-XX:StartFlightRecording=filename=" + file + ",settings=profile" +
                              extra + "' -cp " + dir + " Busy " + args + " 2>&1",
                          &status);
    INFO(out);
    REQUIRE(status == 0);
  }
  static Recordings& get() {
    static Recordings r;
    return r;
  }
};

void check_same(const std::string& file, const std::vector<pprof::JfrProfile>& ps,
                const std::string& event, int column,
                const std::function<int64_t(const boost::json::object&)>& value) {
  INFO(file << " " << event);
  const auto* p = find(ps, event);
  REQUIRE(p);
  Totals jdk = jdk_totals(file, event, value);
  Totals ours = stoker_totals(p->profile, column);
  auto show = [](const std::map<std::string, int64_t>& m) {
    std::string out;
    for (const auto& [k, v] : m) out += "  " + k + " " + std::to_string(v) + "\n";
    return out;
  };
  INFO("stoker:\n" << show(ours.cum) << "jfr:\n" << show(jdk.cum));
  CHECK(p->events == jdk.events);  // (ours.events counts merged samples)
  CHECK(ours.total == jdk.total);
  CHECK(jdk.total > 0);
  if (jdk.no_frames == ours.no_frames) {
    CHECK(ours.cum == jdk.cum);
    CHECK(ours.self == jdk.self);
    return;
  }
  // At a chunk boundary the JVM can write an event's stack trace into the
  // checkpoint of the chunk before: stoker takes it from there, the jfr tool
  // prints some of those as null. Everything else is equal, and each such
  // event counts once, under its stack or under none.
  INFO("events without a stack trace: jfr " << jdk.no_frames << ", stoker " << ours.no_frames);
  CHECK(ours.no_frames < jdk.no_frames);
  int64_t moved = 0;
  for (const auto& [m, v] : ours.self) {
    CHECK(v >= jdk.self[m]);
    moved += v - jdk.self[m];
  }
  CHECK(moved == jdk.no_frames - ours.no_frames);
  for (const auto& [m, v] : ours.cum) {
    CHECK(v >= jdk.cum[m]);
    CHECK(v - jdk.cum[m] <= moved);
  }
  for (const auto& [m, v] : jdk.cum) CHECK(ours.cum.count(m));
}

int64_t field(const boost::json::object& v, const char* name) {
  return v.at(name).to_number<int64_t>();
}

}  // namespace

TEST_CASE("JDK recordings read exactly as the JDK's jfr tool reads them", "[integration][jfr]") {
  auto& rec = Recordings::get();
  for (const std::string& file : {rec.profile_jfr, rec.tlab_jfr}) {
    auto ps = test::must(pprof::jfr_to_pprof(test::read_file(file), {}));
    // CPU: one period (10 ms, the profile settings) per sample.
    const auto* cpu = find(ps, "jdk.ExecutionSample");
    REQUIRE(cpu);
    CHECK(cpu->name == "process_cpu");
    CHECK(cpu->profile.period() == 10'000'000);
    check_same(file, ps, "jdk.ExecutionSample", 0,
               [](const boost::json::object&) { return int64_t{10'000'000}; });
    check_same(file, ps, "jdk.ObjectAllocationSample", 0,
               [](const boost::json::object&) { return int64_t{1}; });
    check_same(file, ps, "jdk.ObjectAllocationSample", 1,
               [](const boost::json::object& v) { return field(v, "weight"); });
    check_same(file, ps, "jdk.JavaMonitorEnter", 0,
               [](const boost::json::object&) { return int64_t{1}; });
    check_same(file, ps, "jdk.JavaMonitorEnter", 1, [](const boost::json::object& v) {
      return iso_duration_ns(std::string(v.at("duration").as_string()));
    });
    if (file != rec.profile_jfr) {
      check_same(file, ps, "jdk.ObjectAllocationInNewTLAB", 1,
                 [](const boost::json::object& v) { return field(v, "tlabSize"); });
      check_same(file, ps, "jdk.ObjectAllocationOutsideTLAB", 1,
                 [](const boost::json::object& v) { return field(v, "allocationSize"); });
    }
    // Pyroscope's names, units and period types.
    for (const auto& p : ps) {
      const auto& pr = p.profile;
      auto st = [&](int i) { return pr.string_table(static_cast<int>(i)); };
      if (p.event == "jdk.ObjectAllocationSample") {
        CHECK(p.name == "memory");
        CHECK(st(pr.sample_type(1).type()) == "alloc_sample_bytes");
        CHECK(st(pr.sample_type(1).unit()) == "bytes");
        CHECK(st(pr.period_type().type()) == "space");
      }
      if (p.event == "jdk.JavaMonitorEnter") {
        CHECK(p.name == "mutex");
        CHECK(st(pr.sample_type(1).type()) == "delay");
        CHECK(st(pr.sample_type(1).unit()) == "nanoseconds");
        CHECK(st(pr.period_type().type()) == "mutex");
      }
    }
    // Frames are class.method with line numbers.
    bool line = false;
    for (const auto& l : cpu->profile.location()) line |= l.line(0).line() > 0;
    CHECK(line);
  }
  // Two recordings concatenated (chunks of two JVMs, whose constant pool ids
  // collide: the jfr tool mixes them up, stoker reads each chunk on its own)
  // hold exactly both.
  auto both = test::must(pprof::jfr_to_pprof(test::read_file(rec.both_jfr), {}));
  auto cpu = [](const boost::json::object&) { return int64_t{10'000'000}; };
  Totals a = jdk_totals(rec.profile_jfr, "jdk.ExecutionSample", cpu);
  Totals b = jdk_totals(rec.tlab_jfr, "jdk.ExecutionSample", cpu);
  Totals sum = a;
  sum.total += b.total;
  for (const auto& [k, v] : b.cum) sum.cum[k] += v;
  for (const auto& [k, v] : b.self) sum.self[k] += v;
  sum.no_frames += b.no_frames;
  Totals ours = stoker_totals(find(both, "jdk.ExecutionSample")->profile, 0);
  CHECK(find(both, "jdk.ExecutionSample")->events == a.events + b.events);
  CHECK(ours.total == sum.total);
  if (ours.no_frames == sum.no_frames) {  // (see check_same)
    CHECK(ours.cum == sum.cum);
    CHECK(ours.self == sum.self);
  }
}

TEST_CASE("stoker convert turns a recording into pprof files go tool pprof reads",
          "[integration][jfr]") {
  auto& rec = Recordings::get();
  TempDir dir;
  int status = 0;
  std::string out = test::run_command(std::string(STOKER_BINARY) + " convert " + rec.tlab_jfr +
                                          " -o " + dir.file("rec.pb.gz") + " 2>&1",
                                      &status);
  INFO(out);
  REQUIRE(status == 0);
  for (const char* part :
       {"cpu", "alloc_sample", "alloc_in_new_tlab", "alloc_outside_tlab", "mutex"}) {
    std::string file = dir.file(std::string("rec.") + part + ".pb.gz");
    std::string top = test::run_command(
        std::string(GO_EXECUTABLE) + " tool pprof -top " + file + " 2>&1", &status);
    INFO(part << ": " << top);
    CHECK(status == 0);
    CHECK_THAT(top, Catch::Contains("Busy."));
  }
  // A gzipped recording converts the same; garbage is refused with a reason.
  test::write_file(dir.file("rec.jfr.gz"), pprof::gzip(test::read_file(rec.profile_jfr)));
  CHECK(test::run_command(std::string(STOKER_BINARY) + " convert " + dir.file("rec.jfr.gz") +
                              " -o " + dir.file("gz.pb.gz") + " 2>&1",
                          &status)
            .find("wrote") != std::string::npos);
  test::write_file(dir.file("bad.jfr"), std::string("FLR\0\0\2\0\0", 8) + std::string(100, 'x'));
  out = test::run_command(std::string(STOKER_BINARY) + " convert " + dir.file("bad.jfr") + " -o " +
                              dir.file("bad.pb.gz") + " 2>&1",
                          &status);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("JFR chunk 1"));
}

TEST_CASE("the Java agent's uploads are stored as Pyroscope stores them, bad ones are refused",
          "[integration][jfr]") {
  auto& rec = Recordings::get();
  TempDir dir;
  int port = test::free_port();
  std::string db = dir.file("s.db");
  Child stoker({STOKER_BINARY, "--storage.path", db, "--web.listen-address",
                "127.0.0.1:" + std::to_string(port), "--config", "/dev/null"},
               dir.file("stoker.log"));
  REQUIRE(test::wait_for([&] { return test::ready(port); }, 15000));
  const std::string jfr = test::read_file(rec.profile_jfr);
  const std::string now = std::to_string(now_unix_nanos() / 1'000'000'000);
  const std::string query =
      "/ingest?name=busy%7Benv%3Dprod%7D&units=samples&aggregationType=sum"
      "&from=" +
      now + "&until=" + now + "&spyName=javaspy&sampleRate=100&format=jfr";
  // As the agent sends it: multipart, the recording gzipped, with a labels
  // part, a tenant and credentials.
  jfr::v1::LabelsSnapshot labels;
  (*labels.mutable_strings())[1] = "region";
  (*labels.mutable_strings())[2] = "eu";
  (*(*labels.mutable_contexts())[7].mutable_labels())[1] = 2;
  const std::string boundary = "----stoker0123";
  auto multipart = [&](const std::string& jfr_bytes, const std::string& labels_bytes) {
    std::string b = "--" + boundary +
                    "\r\nContent-Disposition: form-data; name=\"jfr\"; filename=\"jfr\"\r\n"
                    "Content-Type: application/octet-stream\r\n\r\n" +
                    jfr_bytes + "\r\n";
    if (!labels_bytes.empty()) {
      b += "--" + boundary +
           "\r\nContent-Disposition: form-data; name=\"labels\"; filename=\"labels\"\r\n"
           "Content-Type: application/x-protobuf\r\n\r\n" +
           labels_bytes + "\r\n";
    }
    return b + "--" + boundary + "--\r\n";
  };
  const std::vector<std::pair<std::string, std::string>> headers = {
      {"Content-Type", "multipart/form-data; boundary=" + boundary},
      {"X-Scope-OrgID", "team-a"},
      {"Authorization", "Bearer s3cret-token"},
      {"User-Agent", "pyroscope-java/0.14"}};
  auto r = test::http_request(port, "POST", query, headers,
                              multipart(pprof::gzip(jfr), pprof::gzip(labels.SerializeAsString())));
  INFO(r.body);
  REQUIRE(r.status == 200);
  // Not gzipped, no labels part; and the recording as the whole body.
  r = test::http_request(port, "POST", query, headers, multipart(jfr, ""));
  REQUIRE(r.status == 200);
  r = test::http_request(port, "POST", query, {{"Content-Type", "application/octet-stream"}}, jfr);
  REQUIRE(r.status == 200);

  // Three uploads of the same recording: three times the JDK's totals.
  auto reader = test::must(Reader::open(db));
  std::map<std::string, int64_t> profiles;
  for (const auto& s : reader->series(*Selector::parse("{service_name=\"busy\"}"), {})) {
    CHECK(s.labels.get("env") == "prod");
    CHECK(s.labels.get("pyroscope_spy") == "javaspy");
    profiles[std::string(s.labels.get("__name__"))] += s.profiles;
  }
  CHECK(profiles ==
        std::map<std::string, int64_t>{{"process_cpu", 3}, {"memory", 3}, {"mutex", 3}});
  Totals cpu = jdk_totals(rec.profile_jfr, "jdk.ExecutionSample",
                          [](const boost::json::object&) { return int64_t{10'000'000}; });
  int status = 0;
  std::string top = test::run_command(std::string(STOKER_BINARY) + " top --storage.path " + db +
                                          " --query 'process_cpu{service_name=\"busy\"}' "
                                          "--output json --from now-1h 2>&1",
                                      &status);
  INFO(top);
  REQUIRE(status == 0);
  CHECK(boost::json::parse(top).at("total").as_int64() == 3 * cpu.total);
  Totals mutex =
      jdk_totals(rec.profile_jfr, "jdk.JavaMonitorEnter", [](const boost::json::object& v) {
        return iso_duration_ns(std::string(v.at("duration").as_string()));
      });
  top =
      test::run_command(std::string(STOKER_BINARY) + " top --storage.path " + db +
                            " --query 'mutex:delay:nanoseconds:mutex:count{service_name=\"busy\"}' "
                            "--output json --from now-1h 2>&1",
                        &status);
  CHECK(boost::json::parse(top).at("total").as_int64() == 3 * mutex.total);

  // Bad uploads: a reason, a 4xx, nothing stored, the process alive.
  const std::string cut = jfr.substr(0, jfr.size() / 2);
  const std::string bomb = pprof::gzip(std::string(size_t{100} << 20, '\0'));  // > 64 MiB
  struct Bad {
    std::string what, body, expect;
  };
  for (const auto& bad : std::vector<Bad>{
           {"truncated", multipart(cut, ""), "truncated"},
           {"garbage", multipart(std::string("FLR\0\0\2\0\1", 8) + std::string(200, '\x7f'), ""),
            "JFR chunk 1"},
           {"not jfr", multipart("hello", ""), "not a JFR recording"},
           {"no jfr part",
            "--" + boundary + "\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nx\r\n--" +
                boundary + "--\r\n",
            "no \"jfr\" part"},
           {"bad labels", multipart(jfr, "\xff\xff\xff"), "LabelsSnapshot"},
           {"bomb", multipart(bomb, ""), "exceeds"},
       }) {
    INFO(bad.what);
    r = test::http_request(port, "POST", query, headers, bad.body);
    CHECK(r.status >= 400);
    CHECK(r.status < 500);
    CHECK_THAT(r.body, Catch::Contains(bad.expect));
  }
  CHECK(test::ready(port));
  reader = test::must(Reader::open(db));
  int64_t stored = 0;
  for (const auto& s : reader->series(*Selector::parse("{service_name=\"busy\"}"), {}))
    stored += s.profiles;
  CHECK(stored == 9);
  CHECK(stoker.stop(SIGTERM, 10000) == 0);
  std::string log = test::read_file(dir.file("stoker.log"));
  CHECK(log.find("s3cret-token") == std::string::npos);
}
