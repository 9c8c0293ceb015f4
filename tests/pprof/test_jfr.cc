// stoker's JFR reader on recordings written by tests/support/jfr_writer.h:
// the layouts the metadata describes (async-profiler's extra fields), both
// integer encodings, every string encoding, labels from contexts and span
// fields, several chunks whose constant pool keys collide, and broken input
// of every kind (each truncation, byte flips, nesting, absurd counts). The
// JDK's own recordings are read in tests/integration/test_java.cc.
#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "ingest/upload.h"
#include "model/labels.h"
#include "pprof/compress.h"
#include "pprof/jfr.h"
#include "proto/jfr_labels.pb.h"
#include "tests/support/jfr_writer.h"
#include "tests/support/must.h"

using namespace stoker;
using test::JfrWriter;

namespace {

const pprof::JfrProfile* find(const std::vector<pprof::JfrProfile>& ps, const std::string& event) {
  for (const auto& p : ps) {
    if (p.event == event) return &p;
  }
  return nullptr;
}

// "leaf:line;caller:line|k=v,…" → values, for one profile.
std::map<std::string, std::vector<int64_t>> contents(const perftools::profiles::Profile& p) {
  std::map<uint64_t, std::string> fn, loc;
  for (const auto& f : p.function()) fn[f.id()] = p.string_table(static_cast<int>(f.name()));
  for (const auto& l : p.location()) {
    loc[l.id()] = fn[l.line(0).function_id()] + ":" + std::to_string(l.line(0).line());
  }
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& s : p.sample()) {
    std::string key;
    for (uint64_t id : s.location_id()) key += (key.empty() ? "" : ";") + loc[id];
    std::vector<std::string> labels;
    for (const auto& l : s.label()) {
      labels.push_back(p.string_table(static_cast<int>(l.key())) + "=" +
                       p.string_table(static_cast<int>(l.str())));
    }
    std::sort(labels.begin(), labels.end());
    for (size_t i = 0; i < labels.size(); ++i) key += (i ? "," : "|") + labels[i];
    auto& v = out[key];
    v.resize(static_cast<size_t>(s.value_size()));
    for (int i = 0; i < s.value_size(); ++i) v[static_cast<size_t>(i)] += s.value(i);
  }
  return out;
}

std::string recording(bool compressed) {
  JfrWriter w(compressed);
  w.setting("period", "20 ms");
  w.setting("period", "1 s", false);  // another event type's: not CPU's
  int64_t a = w.stack({{"com/example/Shop", "checkout", 42}, {"java/lang/Thread", "run", 840}});
  int64_t b = w.stack({{"com/example/Caf\xc3\xa9", "br\xc3\xbbl\xc3\xa9", 7},      // Latin-1 fits
                       {"com/example/\xe2\x82\xac\xf0\x9f\x94\xa5", "euro", 8}});  // UTF-16, a pair
  w.cpu(a, 0, 0, "");
  w.cpu(a, 0, 0, "");
  w.cpu(a, 5, 0x00f067aa0ba902b7ULL, "GET /checkout");
  w.cpu(b, 5, 0, "");
  w.cpu(b, 0, 0, "", "STATE_SLEEPING");  // not CPU time
  w.alloc(a, 1000);
  w.alloc(a, 24);
  w.alloc(b, 1ll << 40);
  w.monitor(b, 2'500'000);
  return w.chunk();
}

}  // namespace

TEST_CASE("JFR events become Pyroscope's profiles, read by the layout the metadata gives",
          "[pprof][jfr]") {
  for (bool compressed : {true, false}) {
    INFO("compressed integers: " << compressed);
    pprof::JfrOptions opts;
    opts.contexts[5] = {{"region", "eu"}, {"tenant", "a"}};
    auto ps = test::must(pprof::jfr_to_pprof(recording(compressed), opts));
    REQUIRE(ps.size() == 3);
    CHECK(ps[0].name == "process_cpu");  // the table's order
    CHECK(ps[1].name == "memory");
    CHECK(ps[2].name == "mutex");

    // CPU: the recording's own period (20 ms) per sample; the sleeping
    // sample left out; context labels and span fields on the samples.
    const auto* cpu = find(ps, "jdk.ExecutionSample");
    REQUIRE(cpu);
    CHECK(cpu->events == 4);
    CHECK(cpu->profile.period() == 20'000'000);
    const std::string shop = "com/example/Shop.checkout:42;java/lang/Thread.run:840";
    const std::string cafe =
        "com/example/Caf\xc3\xa9.br\xc3\xbbl\xc3\xa9:7;com/example/"
        "\xe2\x82\xac\xf0\x9f\x94\xa5.euro:8";
    CHECK(contents(cpu->profile) ==
          std::map<std::string, std::vector<int64_t>>{
              {shop, {40'000'000}},
              {shop + "|region=eu,span_id=00f067aa0ba902b7,span_name=GET /checkout,tenant=a",
               {20'000'000}},
              {cafe + "|region=eu,tenant=a", {20'000'000}}});
    const auto& st = cpu->profile;
    CHECK(st.string_table(static_cast<int>(st.sample_type(0).type())) == "cpu");
    CHECK(st.string_table(static_cast<int>(st.period_type().type())) == "cpu");
    CHECK(st.time_nanos() == 1'700'000'000'000'000'000);
    CHECK(st.duration_nanos() == 5'000'000'000);

    // Allocation samples: 1 and the weight (after a field stoker does not know).
    const auto* mem = find(ps, "jdk.ObjectAllocationSample");
    REQUIRE(mem);
    CHECK(contents(mem->profile) ==
          std::map<std::string, std::vector<int64_t>>{{shop, {2, 1024}}, {cafe, {1, 1ll << 40}}});
    // Monitor waits: 1 and the duration in nanoseconds (ticks at 1 GHz).
    CHECK(contents(find(ps, "jdk.JavaMonitorEnter")->profile) ==
          std::map<std::string, std::vector<int64_t>>{{cafe, {1, 2'500'000}}});

    // sampleRate wins over the recording's period.
    opts.sample_rate_hz = 97;
    ps = test::must(pprof::jfr_to_pprof(recording(compressed), opts));
    CHECK(find(ps, "jdk.ExecutionSample")->profile.period() == 1'000'000'000 / 97);
  }
}

TEST_CASE("strings that are not valid UTF-8 or UTF-16 are read with U+FFFD in their place",
          "[pprof][jfr]") {
  // The writer's symbols take encodings 3 (UTF-8 bytes), 4 (UTF-16 units)
  // and 5 (Latin-1, or 3 when a character does not fit) in turn; its input
  // is decoded leniently, so "\xed\xa0\x80" is the surrogate U+D800.
  const std::string fffd = "\xef\xbf\xbd";
  for (bool compressed : {true, false}) {
    JfrWriter w(compressed);
    int64_t st = w.stack({
        {"Bad\xe2\x45\x82\xacName", "m\xed\xa0\x80x", 1},  // 3: a broken sequence; 4: U+D800 'x'
        {"Low", "a\xed\xb0\x80", 2},                     // 5; 3: an encoded surrogate
        // 4: a lone low, a trailing high; 3 (€ is not Latin-1): an overlong '/'
        {"Z\xed\xb0\x80\xed\xa0\x80", "ok\xc0\xaf\xe2\x82\xac", 3},
    });
    w.cpu(st, 0, 0, "");
    auto ps = test::must(pprof::jfr_to_pprof(w.chunk(), {}));
    const auto* cpu = find(ps, "jdk.ExecutionSample");
    REQUIRE(cpu);
    // What the reader makes is a profile protobuf accepts.
    REQUIRE(pprof::decode(cpu->profile.SerializeAsString()).ok());
    const std::string stack = "Bad" + fffd + "E" + fffd + fffd + "Name.m" + fffd + "x:1;" +
                              "Low.a" + fffd + fffd + fffd + ":2;" +                      //
                              "Z" + fffd + fffd + ".ok" + fffd + fffd + "\xe2\x82\xac:3";
    auto got = contents(cpu->profile);
    REQUIRE(got.size() == 1);
    CHECK(got.begin()->first == stack);
  }
}

TEST_CASE("a recording's `event` setting of wall makes ExecutionSample wall time", "[pprof][jfr]") {
  JfrWriter w(true);
  w.setting("event", "wall", false);
  int64_t a = w.stack({{"A", "sleep", 1}});
  w.cpu(a, 0, 0, "", "STATE_SLEEPING");  // counted: wall time includes sleeping
  auto ps = test::must(pprof::jfr_to_pprof(w.chunk(), {}));
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].name == "wall");
  CHECK(ps[0].profile.sample(0).value(0) == 10'000'000);  // no period setting: 100 Hz
}

TEST_CASE("several chunks read completely, each with its own constant pools", "[pprof][jfr]") {
  // Both chunks use the same keys for different stacks, as two JVMs would.
  JfrWriter one(true), two(false);
  int64_t a = one.stack({{"One", "work", 1}});
  int64_t b = two.stack({{"Two", "work", 2}});
  REQUIRE(a == b);
  one.cpu(a, 0, 0, "");
  two.cpu(b, 0, 0, "");
  two.cpu(b, 0, 0, "");
  auto ps = test::must(pprof::jfr_to_pprof(one.chunk() + two.chunk(), {}));
  REQUIRE(ps.size() == 1);
  CHECK(ps[0].events == 3);
  CHECK(contents(ps[0].profile) == std::map<std::string, std::vector<int64_t>>{
                                       {"One.work:1", {10'000'000}}, {"Two.work:2", {20'000'000}}});
}

TEST_CASE("a broken recording is an error that says where, never a crash", "[pprof][jfr]") {
  const std::string good = recording(true) + recording(false);
  const size_t first = recording(true).size();
  // Every truncation: refused (a cut inside the second chunk names it).
  for (size_t n = 0; n < good.size(); ++n) {
    auto r = pprof::jfr_to_pprof(std::string_view(good).substr(0, n), {});
    if (n == first) {
      CHECK(r.ok());  // exactly the first chunk
      continue;
    }
    INFO("cut at " << n);
    REQUIRE_FALSE(r.ok());
    if (n >= 4) CHECK_THAT(r.status().message(), Catch::Contains("JFR chunk"));
    if (n > first + 4) CHECK_THAT(r.status().message(), Catch::Contains("JFR chunk 2"));
  }
  // Every single byte changed: an answer either way, nothing else.
  size_t refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    refused += !pprof::jfr_to_pprof(bad, {}).ok();
  }
  CHECK(refused > 0);
  CHECK_THAT(pprof::jfr_to_pprof("hello", {}).status().message(),
             Catch::Contains("not a JFR recording"));
  // A header whose offsets point outside the chunk.
  std::string header = good.substr(0, first);
  header[31] = static_cast<char>(0x7f);  // metadata offset, low byte
  header[24] = static_cast<char>(0x7f);  // metadata offset, high byte
  CHECK_THAT(pprof::jfr_to_pprof(header, {}).status().message(),
             Catch::Contains("outside the chunk"));
  // A version stoker does not read.
  header = good.substr(0, first);
  header[5] = 1;
  CHECK_THAT(pprof::jfr_to_pprof(header, {}).status().message(),
             Catch::Contains("format version 1"));
}

TEST_CASE("the Java agent's upload: multipart jfr and labels parts, gzipped or not",
          "[ingest][jfr]") {
  JfrWriter w(true);
  int64_t a = w.stack({{"App", "handle", 3}});
  w.cpu(a, 9, 0, "");
  w.cpu(a, 0, 0, "");
  const std::string jfr = w.chunk();
  jfr::v1::LabelsSnapshot snap;
  (*snap.mutable_strings())[1] = "endpoint";
  (*snap.mutable_strings())[2] = "/api";
  (*(*snap.mutable_contexts())[9].mutable_labels())[1] = 2;
  auto body = [](const std::string& j, const std::string& l) {
    std::string b =
        "--X\r\nContent-Disposition: form-data; name=\"jfr\"; filename=\"jfr\"\r\n\r\n" + j +
        "\r\n";
    if (!l.empty()) {
      b += "--X\r\nContent-Disposition: form-data; name=\"labels\"; filename=\"labels\"\r\n\r\n" +
           l + "\r\n";
    }
    return b + "--X--\r\n";
  };
  ingest::Params params;
  params.sample_rate = 100;
  params.sample_rate_given = true;
  for (bool gz : {false, true}) {
    auto z = [&](const std::string& s) { return gz ? pprof::gzip(s) : s; };
    auto ps = test::must(ingest::convert_jfr(body(z(jfr), z(snap.SerializeAsString())),
                                             "multipart/form-data; boundary=X", params, 1 << 20));
    REQUIRE(ps.size() == 1);
    CHECK(contents(ps[0].profile) ==
          std::map<std::string, std::vector<int64_t>>{
              {"App.handle:3", {10'000'000}}, {"App.handle:3|endpoint=/api", {10'000'000}}});
  }
  // The recording as the whole body.
  CHECK(test::must(ingest::convert_jfr(jfr, "application/octet-stream", params, 1 << 20)).size() ==
        1);
  // A context that names a string the snapshot lacks; no jfr part; a bomb.
  (*(*snap.mutable_contexts())[9].mutable_labels())[1] = 77;
  CHECK_THAT(ingest::convert_jfr(body(jfr, snap.SerializeAsString()),
                                 "multipart/form-data; boundary=X", params, 1 << 20)
                 .status()
                 .message(),
             Catch::Contains("string id"));
  CHECK_THAT(ingest::convert_jfr("--X--\r\n", "multipart/form-data; boundary=X", params, 1 << 20)
                 .status()
                 .message(),
             Catch::Contains("no \"jfr\" part"));
  CHECK_THAT(ingest::convert_jfr(body(pprof::gzip(std::string(2 << 20, 'x')), ""),
                                 "multipart/form-data; boundary=X", params, 1 << 20)
                 .status()
                 .message(),
             Catch::Contains("exceeds"));
}
