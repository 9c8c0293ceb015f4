// Labels inside profiles, end to end: the stoker binary scrapes the demo Go
// app, which labels its requests with pprof.Do (endpoint, span_id, span_name,
// as otel-profiling-go does) and its idle pools with an endpoint only. Each
// label set is a series; span profiles agree with `go tool pprof -tagfocus`;
// Grafana's binary SelectMergeSpanProfile request (Tempo's "traces to
// profiles") is answered; a label with a new value per request is capped.
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <sstream>

#include "model/labels.h"
#include "model/timeparse.h"
#include "pprof/compress.h"
#include "pprof/view.h"
#include "proto/querier.pb.h"
#include "storage/reader.h"
#include "tests/support/demo.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/stoker_api.h"

using namespace stoker;
using test::Child;
using test::TempDir;

namespace {

const char* const kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
const char* const kEndpoints[] = {"/checkout", "/search", "/cart"};

std::string cmd(const std::string& args, int* status) {
  return test::run_command(std::string(STOKER_BINARY) + " " + args + " 2>&1", status);
}

// The stoker binary scraping the demo app every 2 s for CPU and goroutines.
struct Labelled {
  test::Demo demo;
  TempDir dir;
  int web_port = test::free_port();
  std::string db = dir.file("stoker.db");
  std::unique_ptr<Child> stoker;

  Labelled(std::vector<std::string> demo_flags, const std::string& extra)
      : demo(std::move(demo_flags)) {
    test::write_file(
        dir.file("stoker.yaml"),
        "global: {scrape_interval: 2s}\nstorage: {path: " + db +
            "}\nweb: {listen_address: '127.0.0.1:" + std::to_string(web_port) +
            "'}\nscrape_configs:\n  - job_name: demo\n" + extra +
            "    profiling_config:\n      memory: {enabled: false}\n      block: {enabled: false}\n"
            "      mutex: {enabled: false}\n    static_configs:\n"
            "      - targets: ['127.0.0.1:" +
            std::to_string(demo.port) + "']\n        labels: {service_name: demo}\n");
    stoker = std::make_unique<Child>(
        std::vector<std::string>{STOKER_BINARY, "--config", dir.file("stoker.yaml")},
        dir.file("stoker.log"));
  }
  int64_t cpu_profiles() const {
    auto r = Reader::open(db);  // not there until stoker has started
    return r ? test::profiles_of(**r, "process_cpu") : 0;
  }
  void wait_profiles(int64_t n) {
    bool ok = test::wait_for([&] { return cpu_profiles() >= n; }, 60000);
    INFO(log());
    REQUIRE(ok);
  }
  std::string log() const { return test::read_file(dir.file("stoker.log")); }
};

// A SelectSeries answer as group label value → points (protojson leaves out
// empty strings and zeros).
std::map<std::string, std::vector<double>> points_by(const std::string& body,
                                                     const std::string& label) {
  std::map<std::string, std::vector<double>> out;
  auto doc = boost::json::parse(body);
  for (const auto& x : doc.at("series").as_array()) {
    std::string group;
    const auto* labels = x.as_object().if_contains("labels");
    for (const auto& l : labels ? labels->as_array() : boost::json::array{}) {
      const auto* v = l.as_object().if_contains("value");
      if (l.at("name").as_string() == label && v) group = v->as_string().c_str();
    }
    auto& points = out[group];
    for (const auto& p : x.at("points").as_array()) {
      const auto* v = p.as_object().if_contains("value");
      points.push_back(v ? v->to_number<double>() : 0);
    }
  }
  return out;
}

int64_t json_total(const std::string& out) {
  auto v = boost::json::parse(out);
  return v.at("total").as_int64();
}

// Each span id in a pprof file with the CPU time of its samples.
std::map<std::string, int64_t> span_totals(const std::string& file) {
  auto v = test::must(pprof::decode_view(test::read_file(file)));
  std::map<std::string, int64_t> out;
  for (const auto& s : v->samples) {
    for (uint32_t i = 0; i < s.label_count; ++i) {
      const auto& l = v->labels[s.label_begin + i];
      if (v->str(l.key) == "span_id") out[std::string(v->str(l.str))] += v->sample_values(s)[1];
    }
  }
  return out;
}

int64_t cpu_total(const std::string& file) {
  auto v = test::must(pprof::decode_view(test::read_file(file)));
  int64_t t = 0;
  for (const auto& s : v->samples) t += v->sample_values(s)[1];
  return t;
}

}  // namespace

TEST_CASE("labels inside the demo app's profiles are series, and span profiles match go tool pprof",
          "[integration][labels]") {
  Labelled s({}, "");
  s.wait_profiles(3);
  // Every endpoint has CPU samples stored (the lightest, /cart, can miss a
  // 1 s CPU profile on a busy machine).
  bool every_endpoint = test::wait_for(
      [&] {
        auto r = Reader::open(s.db);
        if (!r) return false;
        std::set<std::string> seen;
        for (const auto& x : (*r)->series(*Selector::parse("process_cpu"), {})) {
          seen.insert(std::string(x.labels.get("endpoint")));
        }
        return seen.count("/checkout") && seen.count("/search") && seen.count("/cart");
      },
      60000);
  INFO(s.log());
  REQUIRE(every_endpoint);
  // One fixed range for every question below (stoker keeps storing).
  const int64_t until_s = now_unix_nanos() / 1'000'000'000;
  const int64_t from_s = until_s - 600;
  const int64_t stored = s.cpu_profiles();
  REQUIRE(test::wait_for([&] { return s.cpu_profiles() >= stored + 2; }, 30000));
  const std::string range = " --storage.path " + s.db + " --from " + std::to_string(from_s) +
                            " --until " + std::to_string(until_s);
  int status = 0;

  // The label names and values Grafana's query editor offers.
  auto names = test::http_request(s.web_port, "POST", "/querier.v1.QuerierService/LabelNames",
                                  {{"Content-Type", "application/json"}}, "{}");
  REQUIRE(names.status == 200);
  CHECK_THAT(names.body, Catch::Contains("\"endpoint\"") && Catch::Contains("\"span_name\""));
  CHECK_THAT(names.body, !Catch::Contains("\"span_id\""));  // per sample, not a series label
  auto values =
      test::http_request(s.web_port, "POST", "/querier.v1.QuerierService/LabelValues",
                         {{"Content-Type", "application/json"}}, "{\"name\":\"endpoint\"}");
  REQUIRE(values.status == 200);
  for (const char* e : kEndpoints) CHECK_THAT(values.body, Catch::Contains(e));

  // Each endpoint's flame graph holds its own handler only; the endpoints and
  // the unlabelled series add up to the whole.
  const std::map<std::string, std::string> handler = {{"/checkout", "main.handleCheckout"},
                                                      {"/search", "main.handleSearch"},
                                                      {"/cart", "main.handleCart"}};
  int64_t whole = json_total(cmd("top" + range + " --query " + kCpu + " --output json", &status));
  REQUIRE(status == 0);
  int64_t parts = json_total(
      cmd("top" + range + " --query '" + kCpu + "{endpoint=\"\"}' --output json", &status));
  std::map<std::string, int64_t> per_endpoint;
  for (const auto& [endpoint, fn] : handler) {
    std::string folded = s.dir.file("e.folded");
    std::string q = std::string(kCpu) + "{endpoint=\"" + endpoint + "\"}";
    std::string out = cmd("flamegraph" + range + " --query '" + q + "' -o " + folded, &status);
    INFO(endpoint << ": " << out);
    REQUIRE(status == 0);
    std::string text = test::read_file(folded);
    CHECK(text.find(fn) != std::string::npos);
    for (const auto& [other, other_fn] : handler) {
      if (other != endpoint) CHECK(text.find(other_fn) == std::string::npos);
    }
    per_endpoint[endpoint] =
        json_total(cmd("top" + range + " --query '" + q + "' --output json", &status));
    parts += per_endpoint[endpoint];
  }
  CHECK(per_endpoint["/checkout"] > 0);
  CHECK(parts == whole);

  // SelectSeries grouped by endpoint sums to the same per-endpoint totals.
  auto series = test::http_request(
      s.web_port, "POST", "/querier.v1.QuerierService/SelectSeries",
      {{"Content-Type", "application/json"}},
      "{\"profileTypeID\":\"" + std::string(kCpu) + "\",\"labelSelector\":\"{}\",\"start\":" +
          std::to_string(from_s * 1000) + ",\"end\":" + std::to_string(until_s * 1000) +
          ",\"step\":60,\"groupBy\":[\"endpoint\"]}");
  INFO(series.body);
  REQUIRE(series.status == 200);
  std::map<std::string, int64_t> by_group;
  for (const auto& [endpoint, points] : points_by(series.body, "endpoint")) {
    for (double v : points) by_group[endpoint] += static_cast<int64_t>(v);
  }
  for (const char* e : kEndpoints) CHECK(by_group[e] == per_endpoint[e]);

  // The merged export carries the labels on its samples: go tool pprof sees
  // them, and span ids as 16 hex digits.
  std::string all = s.dir.file("all.pb.gz");
  REQUIRE(cmd("export" + range + " --query " + kCpu + " -o " + all, &status).find("wrote") !=
          std::string::npos);
  std::string tags =
      test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -tags " + all + " 2>&1", &status);
  INFO(tags);
  REQUIRE(status == 0);
  CHECK_THAT(tags, Catch::Contains("endpoint:") && Catch::Contains("span_id:") &&
                       Catch::Contains("/checkout"));
  auto spans = span_totals(all);
  REQUIRE(spans.size() >= 2);
  // The two spans that cost most.
  std::vector<std::pair<int64_t, std::string>> ranked;
  for (const auto& [id, t] : spans) {
    CHECK(id.size() == 16);
    ranked.emplace_back(t, id);
  }
  std::sort(ranked.rbegin(), ranked.rend());
  const std::string a = ranked[0].second, b = ranked[1].second;

  // A span profile: go tool pprof's -tagfocus on the export is the reference.
  std::string sub = s.dir.file("sub.pb.gz");
  std::string out =
      test::run_command(std::string(GO_EXECUTABLE) + " tool pprof -proto -tagfocus 'span_id=^(" +
                            a + "|" + b + ")$' -output " + sub + " " + all + " 2>&1",
                        &status);
  INFO(out);
  REQUIRE(status == 0);
  const int64_t expected = cpu_total(sub);
  CHECK(expected == ranked[0].first + ranked[1].first);
  CHECK(json_total(
            cmd("top" + range + " --query " + kCpu + " --span-id " + a + "," + b + " --output json",
                &status)) == expected);
  std::string sub2 = s.dir.file("sub2.pb.gz");
  REQUIRE(cmd("export" + range + " --query process_cpu --span-id " + a + "," + b + " -o " + sub2,
              &status)
              .find("wrote") != std::string::npos);
  CHECK(cpu_total(sub2) == expected);
  CHECK(span_totals(sub2).size() == 2);

  // Grafana (Tempo's "traces to profiles") asks in binary Connect, as it does.
  querier::v1::SelectMergeSpanProfileRequest req;
  req.set_profile_typeid(kCpu);
  req.set_label_selector("{service_name=\"demo\"}");
  req.add_span_selector(a);
  req.add_span_selector(b);
  req.set_start(from_s * 1000);
  req.set_end(until_s * 1000);
  req.set_max_nodes(16384);
  auto r =
      test::http_request(s.web_port, "POST", "/querier.v1.QuerierService/SelectMergeSpanProfile",
                         {{"Content-Type", "application/proto"},
                          {"Connect-Protocol-Version", "1"},
                          {"Accept-Encoding", "gzip"}},
                         req.SerializeAsString());
  REQUIRE(r.status == 200);
  std::string body = r.body;
  if (r.header("content-encoding") == "gzip") {
    REQUIRE(pprof::gunzip(r.body, 64 << 20, &body).ok());
  }
  querier::v1::SelectMergeSpanProfileResponse resp;
  REQUIRE(resp.ParseFromString(body));
  CHECK(resp.flamegraph().total() == expected);
  bool handler_named = false;
  for (const auto& n : resp.flamegraph().names()) handler_named |= n.rfind("main.handle", 0) == 0;
  CHECK(handler_named);

  // The render API (the web page's span filter) answers the same.
  std::string rendered;
  REQUIRE(test::http_get(s.web_port,
                         "/pyroscope/render?query=" + std::string(kCpu) +
                             "%7B%7D&format=json&from=" + std::to_string(from_s) +
                             "&until=" + std::to_string(until_s) + "&spanSelector=" + a + "," + b,
                         &rendered) == 200);
  CHECK(boost::json::parse(rendered).at("flamebearer").at("numTicks").as_int64() == expected);

  // Goroutines: the idle pools are labelled by endpoint only (1, 2 and 3 of
  // them); on average over time that is what each group holds.
  auto gor = test::http_request(
      s.web_port, "POST", "/querier.v1.QuerierService/SelectSeries",
      {{"Content-Type", "application/json"}},
      "{\"profileTypeID\":\"goroutine:goroutine:count:goroutine:count\",\"labelSelector\":"
      "\"{span_name=\\\"\\\"}\",\"start\":" +
          std::to_string(from_s * 1000) + ",\"end\":" + std::to_string(until_s * 1000) +
          ",\"step\":600,\"groupBy\":[\"endpoint\"],\"aggregation\":"
          "\"TIME_SERIES_AGGREGATION_TYPE_AVERAGE\"}");
  INFO(gor.body);
  REQUIRE(gor.status == 200);
  std::map<std::string, double> goroutines;
  for (const auto& [endpoint, points] : points_by(gor.body, "endpoint")) {
    REQUIRE(points.size() == 1);  // one step covers the range
    goroutines[endpoint] = points[0];
  }
  CHECK(goroutines["/checkout"] == 1);
  CHECK(goroutines["/search"] == 2);
  CHECK(goroutines["/cart"] == 3);
}

TEST_CASE("a label with a new value per request is capped at sample_label_series_limit",
          "[integration][labels]") {
  Labelled s({"-counter-label"}, "    sample_label_series_limit: 10\n");
  s.wait_profiles(4);
  auto r = test::must(Reader::open(s.db));
  size_t with_request = 0;
  for (const auto& x : r->series(*Selector::parse("process_cpu"), {})) {
    with_request += x.labels.has("request");
  }
  CHECK(with_request > 0);
  CHECK(with_request <= 10);
  CHECK(test::metric(s.web_port,
                     "stoker_ingest_label_groups_total{origin=\"scrape\",outcome=\"folded\"}") > 0);
  // Said once, with the target it is about.
  std::string log = s.log();
  INFO(log);
  auto first = log.find("would make more series than allowed");
  REQUIRE(first != std::string::npos);
  CHECK(log.find("would make more series than allowed", first + 1) == std::string::npos);
  CHECK_THAT(log, Catch::Contains("source=\"job=demo instance=127.0.0.1:"));
}
