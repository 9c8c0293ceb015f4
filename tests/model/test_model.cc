#include <catch2/catch.hpp>

#include <memory>
#include <set>

#include "model/hash.h"
#include "model/labels.h"
#include "model/metrics.h"
#include "model/selector.h"
#include "model/text.h"
#include "model/timeparse.h"
#include "model/units.h"

using namespace stoker;
using namespace std::chrono_literals;

TEST_CASE("labels are sorted, unique, and empty values remove them", "[model]") {
  Labels l{{"b", "2"}, {"a", "1"}};
  CHECK(l.to_string() == R"({a="1", b="2"})");
  l.set("a", "");
  CHECK_FALSE(l.has("a"));
  l.set("__name__", "memory");
  CHECK(l.without_reserved().to_string() == R"({b="2"})");
  CHECK(Labels{{"x", "q\"\n"}}.to_string() == R"({x="q\"\n"})");
  CHECK(Labels{{"a", "1"}}.hash() != Labels{{"a", "2"}}.hash());
}

TEST_CASE("durations parse like Prometheus", "[model]") {
  CHECK(parse_duration("15s") == Duration(15000));
  CHECK(parse_duration("1m30s") == Duration(90000));
  CHECK(parse_duration("1h") == Duration(3600000));
  CHECK(parse_duration("500ms") == Duration(500));
  CHECK(parse_duration("0") == Duration(0));
  CHECK(parse_duration("1d2h") == Duration((24 + 2) * 3600000LL));
  CHECK_THAT(parse_duration("15").error(), Catch::Contains("missing unit"));
  CHECK_FALSE(parse_duration("30s1m"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK(format_duration(Duration(90000)) == "1m30s");
  CHECK(format_duration(Duration(0)) == "0s");
  CHECK(format_duration(Duration(15000)) == "15s");
}

TEST_CASE("sizes parse with binary units", "[model]") {
  CHECK(parse_size("50MiB") == 50ull << 20);
  CHECK(parse_size("1GB") == 1ull << 30);
  CHECK(parse_size("1024B") == 1024u);
  CHECK(parse_size("0") == 0u);
  CHECK_FALSE(parse_size("1024"));  // Prometheus requires a unit
  CHECK(parse_size("10KiB") == 10240u);
  CHECK_THAT(parse_size("10XB").error(), Catch::Contains("10XB"));
  CHECK_FALSE(parse_size("MiB"));
  CHECK(format_size(50ull << 20) == "50MiB");
}

TEST_CASE("selectors match label sets", "[model]") {
  auto s = Selector::parse(R"(memory{job="a", instance=~"host-.*", env!="prod", zone!~"eu.*"})");
  REQUIRE(s);
  CHECK(s->profile_type() == "memory");
  Labels l{{"__name__", "memory"}, {"job", "a"}, {"instance", "host-1"}, {"zone", "us"}};
  CHECK(s->matches(l));
  l.set("zone", "eu-1");
  CHECK_FALSE(s->matches(l));
  // Regexes are fully anchored.
  auto anchored = Selector::parse(R"({job=~"a"})");
  REQUIRE(anchored);
  CHECK_FALSE(anchored->matches(Labels{{"job", "ab"}}));
  CHECK(Selector::parse("")->matches(l));
  CHECK(Selector::parse("process_cpu")->profile_type() == "process_cpu");
  CHECK_FALSE(Selector::parse(R"(memory{job="a")"));
  CHECK_THAT(Selector::parse(R"(memory{job="a")").error(), Catch::Contains("position"));
  CHECK_FALSE(Selector::parse(R"({job=~"(")"));
  CHECK_FALSE(Selector::parse(R"({job~"a"})"));
}

TEST_CASE("times parse as RFC 3339, unix seconds and relative", "[model]") {
  int64_t now = 1'764'064'800LL * 1'000'000'000LL;
  CHECK(parse_time("now", now) == now);
  CHECK(parse_time("now-1h", now) == now - 3600LL * 1'000'000'000LL);
  CHECK(parse_time("1764064800", now) == now);
  CHECK(parse_time("2025-11-25T10:00:00Z", now) == now);
  CHECK(parse_time("2025-11-25T11:00:00+01:00", now) == now);
  CHECK(parse_time("2025-11-25T10:00:00.5Z", now) == now + 500'000'000);
  CHECK_FALSE(parse_time("yesterday", now));
  CHECK(format_time(now) == "2025-11-25T10:00:00.000Z");
}

TEST_CASE("metrics render in the Prometheus text format", "[model][metrics]") {
  metrics::Registry reg;
  auto& c = reg.counter("t_total", "A counter.", {"job"});
  auto& g = reg.gauge("t_gauge", "A gauge.");
  auto& h = reg.histogram("t_seconds", "A histogram.", {"job"}, {0.1, 1});
  reg.collect("t_collected", "From a callback.", metrics::Kind::kGauge, [] {
    return std::vector<metrics::Sample>{{{{"endpoint", "a\"b\\c\nd"}}, 2.5}};
  });
  c.with({"x"}).inc();
  c.with({"x"}).inc(2);
  g.with({}).set(7);
  h.with({"x"}).observe(0.05);
  h.with({"x"}).observe(0.5);
  h.with({"x"}).observe(5);
  std::string out = reg.render();
  CHECK(out.find("# HELP t_total A counter.\n# TYPE t_total counter\nt_total{job=\"x\"} 3\n") !=
        std::string::npos);
  CHECK(out.find("# TYPE t_gauge gauge\nt_gauge 7\n") != std::string::npos);
  CHECK(out.find("t_seconds_bucket{job=\"x\",le=\"0.1\"} 1\n") != std::string::npos);
  CHECK(out.find("t_seconds_bucket{job=\"x\",le=\"1\"} 2\n") != std::string::npos);
  CHECK(out.find("t_seconds_bucket{job=\"x\",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(out.find("t_seconds_sum{job=\"x\"} 5.55\n") != std::string::npos);
  CHECK(out.find("t_seconds_count{job=\"x\"} 3\n") != std::string::npos);
  CHECK(out.find("t_collected{endpoint=\"a\\\"b\\\\c\\nd\"} 2.5\n") != std::string::npos);
  // Families appear in registration order.
  CHECK(out.find("t_total") < out.find("t_gauge"));
  CHECK(out.find("t_seconds") < out.find("t_collected"));
  auto ps = metrics::read_process_stats();
  CHECK(ps.resident_bytes > 0);
  CHECK(ps.open_fds > 0);
  CHECK(ps.start_time_seconds > 1.6e9);
}

TEST_CASE("strict UTF-8: the length of the character a string starts with or 0", "[model]") {
  CHECK(utf8_char_length("a") == 1);
  CHECK(utf8_char_length("\xc3\xa9x") == 2);          // é
  CHECK(utf8_char_length("\xe2\x82\xac") == 3);      // €
  CHECK(utf8_char_length("\xf0\x9f\x94\xa5") == 4);  // U+1F525
  CHECK(utf8_char_length("\xf4\x8f\xbf\xbf") == 4);  // U+10FFFF, the last
  for (std::string_view bad : {std::string_view(), std::string_view("\x80"),  // stray continuation
                               std::string_view("\xe2\x82"),                  // truncated
                               std::string_view("\xe2\x45\x82"),              // not continued
                               std::string_view("\xc0\xaf"),                  // overlong '/'
                               std::string_view("\xe0\x80\xaf"),              // overlong '/'
                               std::string_view("\xed\xa0\x80"),              // surrogate U+D800
                               std::string_view("\xf4\x90\x80\x80"),          // past U+10FFFF
                               std::string_view("\xf8\x88\x80\x80\x80")}) {
    INFO(quote(bad));
    CHECK(utf8_char_length(bad) == 0);
  }
}

TEST_CASE("base64 round-trips and refuses what is not base64", "[model]") {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff\x10", 3)}) {
    auto back = base64_decode(base64_encode(s));
    REQUIRE(back);
    CHECK(*back == s);
  }
  CHECK(base64_encode("main") == "bWFpbg==");
  CHECK(base64_decode("bWFp\nbg==").value_or("") == "main");
  CHECK(!base64_decode("bW*p"));
  CHECK(!base64_decode("bQ==bQ"));
  CHECK(xml_escape("<a href=\"x\">&'\x01") == "&lt;a href=&quot;x&quot;&gt;&amp;&#39; ");
}

TEST_CASE("times and durations out of int64 range are errors, not overflows", "[model]") {
  // Inputs the fuzzers found: each used to overflow a signed multiplication.
  int64_t now = 1'700'000'000'000'000'000;
  CHECK(!parse_time("710077710077", now));          // seconds past 2262
  CHECK(!parse_time("now-999999999999y", now));     // duration past int64 ns
  CHECK(!parse_time("9999-01-01T00:00:00Z", now));  // RFC 3339 past 2262
  CHECK(!parse_duration("999999999999y"));
  CHECK(parse_time("now-1h", now) == now - 3'600'000'000'000);
  CHECK(parse_time("2200-01-01T00:00:00Z", now).ok());
}

TEST_CASE("string hashes depend on every byte and read none beyond the string", "[model]") {
  // Every length up to a few words, every byte position flipped: a new hash
  // each time (the tail word is read with loads that must cover each of the
  // last bytes exactly once). Each string sits in an allocation of exactly its
  // size, so that ASan would see a read past its end.
  std::set<std::pair<uint64_t, uint64_t>> seen;
  size_t made = 0;
  for (size_t len = 0; len <= 40; ++len) {
    auto buf = std::make_unique<char[]>(len ? len : 1);
    for (size_t i = 0; i < len; ++i) buf[i] = static_cast<char>('a' + i % 26);
    auto add = [&](size_t flip) {
      Hash128 h = hash_bytes(std::string_view(buf.get(), len), 7);
      bool ascii = false;
      Hash128 h2 = hash_bytes_ascii(std::string_view(buf.get(), len), 7, &ascii);
      CHECK(h == h2);
      CHECK(ascii == (flip == SIZE_MAX || (buf[flip] & 0x80) == 0));
      seen.insert({h.a, h.b});
      ++made;
    };
    add(SIZE_MAX);
    for (size_t at = 0; at < len; ++at) {
      for (unsigned char bit : {0x01, 0x80}) {
        buf[at] = static_cast<char>(buf[at] ^ bit);
        INFO("length " << len << ", byte " << at << ", bit " << int(bit));
        add(at);
        buf[at] = static_cast<char>(buf[at] ^ bit);
      }
    }
  }
  CHECK(seen.size() == made);
  // The same bytes hash alike wherever they are; the length counts (a
  // trailing zero byte is not nothing).
  std::string text = "xxxgithub.com/grafana/pyroscope/pkg/ingest.(*Pipeline).prepare";
  CHECK(hash_bytes(std::string_view(text).substr(3), 1) ==
        hash_bytes(std::string(text.substr(3)), 1));
  CHECK_FALSE(hash_bytes(std::string_view("ab", 2), 1) == hash_bytes(std::string_view("ab\0", 3), 1));
  CHECK_FALSE(hash_bytes("abc", 1) == hash_bytes("abc", 2));
  CHECK(hash_bytes(std::string_view(), 3) == hash_bytes(std::string_view(""), 3));
}
