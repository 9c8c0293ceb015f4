// Pyroscope's /ingest parameters, bodies and naming rules (collector/ingest.h).
#include <catch2/catch.hpp>

#include "config/config.h"
#include "ingest/upload.h"
#include "pprof/compress.h"
#include "tests/support/profiles.h"

using namespace stoker;
using namespace stoker::ingest;

namespace {

constexpr int64_t kNow = 1'764'600'000'000'000'000;  // 2025-12-01T14:40:00Z

std::shared_ptr<pprof::View> view_of_types(
    const std::vector<std::pair<std::string, std::string>>& types) {
  std::vector<int64_t> values(types.size(), 1);
  return pprof::view_of(test::make_profile(types, {{{"main.main"}, values}}));
}

}  // namespace

TEST_CASE("application names and their labels parse as Pyroscope's key parser reads them",
          "[ingest]") {
  std::string app;
  Labels labels;
  CHECK(parse_name("my.app.cpu", &app, &labels).ok());
  CHECK(app == "my.app.cpu");
  CHECK(labels.empty());
  CHECK(parse_name(" svc-1/api.wall { env = staging , region=eu,otel.scope.name=x/y } ", &app,
                   &labels)
            .ok());
  CHECK(app == "svc-1/api.wall");
  CHECK(labels == Labels{{"env", "staging"}, {"otel.scope.name", "x/y"}, {"region", "eu"}});
  CHECK(parse_name("app{}", &app, &labels).ok());
  CHECK(parse_name("app{a=1,}", &app, &labels).ok());
  CHECK(labels == Labels{{"a", "1"}});

  struct Bad {
    std::string name, says;
  };
  for (const auto& [name, says] : std::vector<Bad>{
           {"", "application name"},
           {"{env=dev}", "application name"},
           {"my app", "invalid application name"},
           {"app{env=dev", "no closing }"},
           {"app{env}", "has no =value"},
           {"app{en v=1}", "invalid label name"},
           {"app{=1}", "invalid label name"},
           {"app{a=1}tail", "after the labels"},
       }) {
    INFO(name);
    std::string err = parse_name(name, &app, &labels).message();
    CHECK(err.find(says) != std::string::npos);
  }
}

TEST_CASE("/ingest query parameters: defaults, time units, formats and bad values", "[ingest]") {
  Params p;
  REQUIRE(parse_params("name=app.cpu%7Benv%3Ddev%7D", "", kNow, &p).ok());
  CHECK(p.app == "app.cpu");
  CHECK(p.labels == Labels{{"env", "dev"}});
  CHECK(p.from_ns == kNow);
  CHECK(p.until_ns == kNow);
  CHECK(p.format == "folded");
  CHECK(p.spy_name == "unknown");
  CHECK(p.sample_rate == 100);
  CHECK(p.units == "samples");
  CHECK(p.aggregation == "sum");

  // from/until in seconds, ms, µs and ns all mean the same instant.
  for (std::string t : {"1764600000", "1764600000000", "1764600000000000", "1764600000000000000"}) {
    Params q;
    REQUIRE(parse_params("name=a&from=" + t + "&until=" + t, "", kNow, &q).ok());
    CHECK(q.from_ns == 1'764'600'000'000'000'000);
    CHECK(q.until_ns == 1'764'600'000'000'000'000);
  }
  Params q;
  REQUIRE(parse_params("name=a&format=PPROF&spyName=gospy&sampleRate=97&units=objects"
                       "&aggregationType=average",
                       "", kNow, &q)
              .ok());
  CHECK(q.format == "pprof");
  CHECK(q.spy_name == "gospy");
  CHECK(q.sample_rate == 97);
  CHECK(q.units == "objects");
  CHECK(q.aggregation == "average");
  // Without format, the content type decides.
  REQUIRE(parse_params("name=a", "multipart/form-data; boundary=x", kNow, &q).ok());
  CHECK(q.format == "pprof");
  REQUIRE(parse_params("name=a", "binary/octet-stream+trie", kNow, &q).ok());
  CHECK(q.format == "trie");

  struct Bad {
    std::string query, says;
  };
  for (const auto& [query, says] : std::vector<Bad>{
           {"", "name parameter is missing"},
           {"from=1", "name parameter is missing"},
           {"name=a%20b", "name: invalid application name"},
           {"name=a&from=yesterday", "from:"},
           {"name=a&until=0", "until:"},
           {"name=a&from=10130050", "out of range"},  // found by fuzz_ingest
           {"name=a&from=900000000000000", "out of range"},
           {"name=a&sampleRate=0", "sampleRate"},
           {"name=a&sampleRate=fast", "sampleRate"},
           {"name=a&aggregationType=max", "aggregationType"},
       }) {
    INFO(query);
    Params r;
    std::string err = parse_params(query, "", kNow, &r).message();
    CHECK(err.find(says) != std::string::npos);
  }
}

TEST_CASE("multipart/form-data bodies split into their parts", "[ingest]") {
  std::string body =
      "preamble\r\n--XyZ\r\n"
      "Content-Disposition: form-data; name=\"profile\"; filename=\"profile.pprof\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n"
      "bin\r\nary\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=sample_type_config; "
      "filename=\"sample_type_config.json\"\r\n\r\n"
      "{}\r\n"
      "--XyZ--\r\n";
  std::vector<Part> parts;
  REQUIRE(parse_multipart(body, "multipart/form-data; boundary=\"XyZ\"", &parts).ok());
  REQUIRE(parts.size() == 2);
  CHECK(parts[0].name == "profile");
  CHECK(parts[0].filename == "profile.pprof");
  CHECK(parts[0].content_type == "application/octet-stream");
  CHECK(parts[0].data == "bin\r\nary");
  CHECK(parts[1].name == "sample_type_config");
  CHECK(parts[1].data == "{}");

  CHECK(parse_multipart(body, "multipart/form-data", &parts).message().find("no boundary") !=
        std::string::npos);
  CHECK(parse_multipart(body, "multipart/form-data; boundary=other", &parts)
            .message()
            .find("no boundary line") != std::string::npos);
  CHECK(
      parse_multipart(body.substr(0, body.find("ary")), "multipart/form-data; boundary=XyZ", &parts)
          .message()
          .find("truncated") != std::string::npos);
  CHECK(parse_multipart("--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--",
                        "multipart/form-data; boundary=XyZ", &parts)
            .message()
            .find("malformed header") != std::string::npos);
  CHECK(parse_multipart(body, "application/json", &parts).message().find("not multipart") !=
        std::string::npos);
}

TEST_CASE("sample_type_config parses as the SDKs send it", "[ingest]") {
  SampleTypeConfigs c;
  REQUIRE(parse_sample_type_config(
              R"({"alloc_space":{"units":"bytes","cumulative":true},
                  "contentions":{"units":"lock_samples","display-name":"mutex_count",
                                 "sampled":true,"aggregation":"sum"}})",
              &c)
              .ok());
  CHECK(c["alloc_space"].cumulative);
  CHECK(c["alloc_space"].units == "bytes");
  CHECK(c["contentions"].display_name == "mutex_count");
  CHECK(c["contentions"].sampled);
  CHECK(parse_sample_type_config("{not json", &c).message().find("not JSON") != std::string::npos);
  CHECK(parse_sample_type_config("[1]", &c).message().find("JSON object") != std::string::npos);
  CHECK(
      parse_sample_type_config(R"({"a":{"cumulative":"yes"}})", &c).message().find("wrong type") !=
      std::string::npos);
}

TEST_CASE("an uploaded pprof is named from its sample types as Pyroscope names it", "[ingest]") {
  const auto& d = default_sample_type_config();
  CHECK(pprof_series_name(*view_of_types({{"samples", "count"}, {"cpu", "nanoseconds"}}), d) ==
        "process_cpu");
  CHECK(pprof_series_name(*view_of_types({{"samples", "count"}, {"wall", "nanoseconds"}}), d) ==
        "wall");
  CHECK(pprof_series_name(*view_of_types({{"alloc_objects", "count"},
                                          {"alloc_space", "bytes"},
                                          {"inuse_objects", "count"},
                                          {"inuse_space", "bytes"}}),
                          d) == "memory");
  // The Node.js SDK's heap profile.
  CHECK(pprof_series_name(*view_of_types({{"objects", "count"}, {"space", "bytes"}}), d) ==
        "memory");
  // Go's goroutine profile keeps its own sample type as the name.
  CHECK(pprof_series_name(*view_of_types({{"goroutine", "count"}}), d) == "goroutine");
  // Display names from the Go SDK's sample_type_config.
  SampleTypeConfigs c;
  REQUIRE(parse_sample_type_config(R"({"contentions":{"display-name":"mutex_count"},
                                       "delay":{"display-name":"mutex_duration"}})",
                                   &c)
              .ok());
  auto mutex = view_of_types({{"contentions", "count"}, {"delay", "nanoseconds"}});
  CHECK(pprof_series_name(*mutex, c) == "mutex");
  CHECK(pprof_series_name(*mutex, d) == "delay");
  // Cumulative columns come from the config.
  auto heap = view_of_types({{"alloc_objects", "count"},
                             {"alloc_space", "bytes"},
                             {"inuse_objects", "count"},
                             {"inuse_space", "bytes"}});
  CHECK(cumulative_columns(*heap, d) == std::vector<size_t>{0, 1});
  CHECK(cumulative_columns(*heap, c).empty());
}

TEST_CASE("collapsed stacks become a pprof profile of the name's type", "[ingest]") {
  Params p;
  REQUIRE(parse_params("name=shop.api.cpu&from=1764600000&until=1764600010&sampleRate=100", "",
                       kNow, &p)
              .ok());
  auto c = convert_collapsed("main;work;compute 7\r\nmain;idle 3\n\nmain;work;compute 1\n", false,
                             p, {});
  REQUIRE(c.ok());
  CHECK(c->series_name == "process_cpu");
  CHECK(c->app == "shop.api");
  const auto prof = c->profile->to_proto();
  // Samples at 100 Hz are 10 ms of CPU each.
  CHECK(test::canonical(prof) ==
        std::map<std::string, std::vector<int64_t>>{{"compute:0;work:0;main:0;|", {80'000'000}},
                                                    {"idle:0;main:0;|", {30'000'000}}});
  CHECK(prof.string_table(prof.sample_type(0).type()) == "cpu");
  CHECK(prof.string_table(prof.sample_type(0).unit()) == "nanoseconds");
  CHECK(prof.period() == 10'000'000);
  CHECK(prof.time_nanos() == 1'764'600'000'000'000'000);
  CHECK(prof.duration_nanos() == 10'000'000'000);

  // lines: one stack per line, each counting one; no suffix means cpu.
  REQUIRE(parse_params("name=worker&sampleRate=50", "", kNow, &p).ok());
  c = convert_collapsed("a;b\na;b\na\n", true, p, {});
  REQUIRE(c.ok());
  CHECK(c->app == "worker");
  CHECK(test::canonical(c->profile->to_proto()) ==
        std::map<std::string, std::vector<int64_t>>{{"b:0;a:0;|", {40'000'000}},
                                                    {"a:0;|", {20'000'000}}});
  // Memory types keep their units and are not scaled.
  REQUIRE(parse_params("name=rb.alloc_space", "", kNow, &p).ok());
  c = convert_collapsed("main;alloc 4096\n", false, p, {});
  REQUIRE(c.ok());
  CHECK(c->series_name == "memory");
  auto mem = c->profile->to_proto();
  CHECK(mem.string_table(mem.sample_type(0).type()) == "alloc_space");
  CHECK(mem.string_table(mem.sample_type(0).unit()) == "bytes");
  CHECK(test::totals(mem) == std::vector<int64_t>{4096});

  REQUIRE(parse_params("name=app.bogus", "", kNow, &p).ok());
  CHECK(convert_collapsed("a 1\n", false, p, {}).error().find("unknown profile type \"bogus\"") !=
        std::string::npos);
  REQUIRE(parse_params("name=app.cpu", "", kNow, &p).ok());
  CHECK(convert_collapsed("a;b 1\nno-count-here\n", false, p, {}).error().find("line 2") !=
        std::string::npos);
  CHECK(convert_collapsed("a;b -5\n", false, p, {}).error().find("line 1") != std::string::npos);
  pprof::Limits small;
  small.max_samples = 2;
  CHECK(convert_collapsed("a 1\nb 1\nc 1\n", false, p, small).error().find("more than 2") !=
        std::string::npos);
}

TEST_CASE("an upload's series labels follow Pyroscope: service_name from the name", "[ingest]") {
  Params p;
  REQUIRE(parse_params("name=app{env=dev,__name__=x,__secret=y}&spyName=pyspy", "", kNow, &p).ok());
  CHECK(series_labels(p, "process_cpu", "app") == Labels{{"__name__", "process_cpu"},
                                                         {"env", "dev"},
                                                         {"pyroscope_spy", "pyspy"},
                                                         {"service_name", "app"}});
  REQUIRE(parse_params("name=app.cpu{service_name=checkout}", "", kNow, &p).ok());
  CHECK(series_labels(p, "process_cpu", "app") == Labels{{"__name__", "process_cpu"},
                                                         {"app_name", "app"},
                                                         {"pyroscope_spy", "unknown"},
                                                         {"service_name", "checkout"}});
}

TEST_CASE("receiving is on by default only on a loopback listen address", "[ingest][config]") {
  for (std::string a : {"127.0.0.1:4040", "127.1.2.3:1", "localhost:4040", "[::1]:4040"}) {
    INFO(a);
    CHECK(is_loopback_listen_address(a));
    CHECK(ReceiveConfig().active(a));
  }
  for (std::string a : {"0.0.0.0:4040", ":4040", "[::]:4040", "10.0.0.5:4040", "example:1"}) {
    INFO(a);
    CHECK_FALSE(is_loopback_listen_address(a));
    CHECK_FALSE(ReceiveConfig().active(a));
  }
  ReceiveConfig on;
  on.enabled = true;
  CHECK(on.active("0.0.0.0:4040"));
  ReceiveConfig off;
  off.enabled = false;
  CHECK_FALSE(off.active("127.0.0.1:4040"));
}
