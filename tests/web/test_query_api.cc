// The read API over real HTTP on 127.0.0.1, answered from a real store: the
// requests Grafana's Pyroscope data source sends (binary protobuf, decoded with
// the project's protos and checked as Grafana reads them), the JSON calls of
// Pyroscope's UI and Grafana's Profiles Drilldown, /pyroscope/render(-diff),
// downloads, and Pyroscope's status-code matrix (TestStatusCodes).
#include <boost/asio.hpp>
#include <boost/json.hpp>
#include <catch2/catch.hpp>
#include <thread>

#include "net/http_server.h"
#include "pprof/pprof_decode.h"
#include "proto/querier.pb.h"
#include "proto/settings.pb.h"
#include "query/engine.h"
#include "tests/support/store_fixture.h"
#include "web/api.h"

using namespace stoker;
namespace json = boost::json;

namespace {

const std::string kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

// stoker's API (read side) on an ephemeral port, queries on their own pool.
struct ApiServer {
  test::StoreFixture store;
  query::EnginePool pool{store.path, query::Limits{}};
  boost::asio::io_context io;
  boost::asio::thread_pool query_threads{2};
  std::unique_ptr<WebServer> web;
  std::thread thread;
  int port = 0;

  ApiServer() {
    ApiContext ctx;
    ctx.queries = &pool;
    WebServerOptions opts;
    opts.auth_pool = &query_threads;
    opts.offload = [this](const WebRequest& r) {
      return is_query_request(r) ? &query_threads : nullptr;
    };
    web = std::make_unique<WebServer>(
        io, [ctx](const WebRequest& r) { return handle_request(r, ctx); }, opts);
    REQUIRE(web->start("127.0.0.1:0").ok());
    port = web->port();
    thread = std::thread([this] { io.run(); });
  }
  ~ApiServer() {
    web->stop();
    io.stop();
    thread.join();
    query_threads.join();
  }

  test::HttpReply proto(const std::string& method, const google::protobuf::Message& req) {
    return test::http_request(port, "POST", "/querier.v1.QuerierService/" + method,
                              {{"Content-Type", "application/proto"},
                               {"Connect-Protocol-Version", "1"},
                               {"Accept-Encoding", "gzip"}},
                              req.SerializeAsString());
  }
  test::HttpReply post_json(const std::string& path, const std::string& body) {
    return test::http_request(port, "POST", path, {{"Content-Type", "application/json"}}, body);
  }
  test::HttpReply get(const std::string& target) {
    return test::http_request(port, "GET", target, {}, "");
  }
};

// The body of a reply, gunzipped when the server compressed it.
std::string body(const test::HttpReply& r) {
  if (r.header("content-encoding") != "gzip") return r.body;
  std::string out;
  REQUIRE(pprof::gunzip(r.body, 64 << 20, &out).ok());
  return out;
}

template <typename Msg>
Msg decode(const test::HttpReply& r) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(r.header("content-type") == "application/proto");
  Msg m;
  REQUIRE(m.ParseFromString(body(r)));
  return m;
}

// Checks a flame graph as Grafana's levelsToTree reads it: level 0 is one
// `total` node at x = 0; every level is sorted by absolute x, and each node
// lies inside a node of the level above. Returns the self values by name.
std::map<std::string, int64_t> check_as_grafana(const querier::v1::FlameGraph& fg) {
  std::map<std::string, int64_t> self;
  REQUIRE(fg.levels_size() >= 1);
  REQUIRE(fg.levels(0).values_size() == 4);
  CHECK(fg.levels(0).values(0) == 0);
  CHECK(fg.names(static_cast<int>(fg.levels(0).values(3))) == "total");
  CHECK(fg.levels(0).values(1) == fg.total());
  std::vector<std::pair<int64_t, int64_t>> above{{0, fg.total()}};
  for (int l = 0; l < fg.levels_size(); ++l) {
    const auto& v = fg.levels(l).values();
    REQUIRE(v.size() % 4 == 0);
    std::vector<std::pair<int64_t, int64_t>> here;
    int64_t x = 0;
    for (int i = 0; i < v.size(); i += 4) {
      x += v[i];
      bool inside = false;
      for (const auto& [px, pt] : above) inside = inside || (x >= px && x + v[i + 1] <= px + pt);
      CHECK(inside);
      if (!here.empty()) CHECK(x >= here.back().first + here.back().second);
      here.emplace_back(x, v[i + 1]);
      self[fg.names(static_cast<int>(v[i + 3]))] += v[i + 2];
      x += v[i + 1];
    }
    above = here;
  }
  return self;
}

}  // namespace

TEST_CASE("Grafana's health check: ProfileTypes over 1970 and with a 0-byte body", "[api]") {
  ApiServer s;
  // Body bytes 08 e8 07 10 a0 1f: start=1000, end=4000.
  auto r = test::http_request(s.port, "POST", "/querier.v1.QuerierService/ProfileTypes",
                              {{"Content-Type", "application/proto"}},
                              std::string("\x08\xe8\x07\x10\xa0\x1f", 6));
  auto types = decode<querier::v1::ProfileTypesResponse>(r);
  CHECK(types.profile_types_size() == 0);
  r = test::http_request(s.port, "POST", "/querier.v1.QuerierService/ProfileTypes",
                         {{"Content-Type", "application/proto"}}, "");
  types = decode<querier::v1::ProfileTypesResponse>(r);  // no range: the last hour
  REQUIRE(types.profile_types_size() == 4);
  for (const auto& t : types.profile_types()) {
    CHECK(std::count(t.id().begin(), t.id().end(), ':') >= 2);  // Grafana's getUnits needs parts[2]
  }
  CHECK(types.profile_types(2).id() == kCpu);
  CHECK(types.profile_types(2).name() == "process_cpu");
  CHECK(types.profile_types(2).sample_type() == "cpu");
  CHECK(types.profile_types(2).period_unit() == "nanoseconds");
}

TEST_CASE("Grafana's query editor, metrics, profile and 'both' queries in binary protobuf",
          "[api]") {
  ApiServer s;
  int64_t start = s.store.start_ms(), end = s.store.end_ms();
  std::string sel = "{__profile_type__=\"" + kCpu + "\"}";

  types::v1::LabelNamesRequest ln;
  ln.add_matchers(sel);
  ln.set_start(start);
  ln.set_end(end);
  auto names = decode<types::v1::LabelNamesResponse>(s.proto("LabelNames", ln));
  std::vector<std::string> visible;  // Grafana hides __* names
  for (const auto& n : names.names()) {
    if (n.rfind("__", 0) != 0) visible.push_back(n);
  }
  CHECK(visible == std::vector<std::string>{"job", "pod", "service_name"});

  types::v1::LabelValuesRequest lv;
  lv.set_name("service_name");
  lv.add_matchers(sel);
  lv.set_start(start);
  lv.set_end(end);
  auto values = decode<types::v1::LabelValuesResponse>(s.proto("LabelValues", lv));
  CHECK(std::vector<std::string>(values.names().begin(), values.names().end()) ==
        std::vector<std::string>{"api", "web"});

  querier::v1::SelectSeriesRequest ss;
  ss.set_profile_typeid(kCpu);
  ss.set_label_selector("{}");
  ss.set_start(start);
  ss.set_end(end);
  ss.add_group_by("service_name");
  ss.set_step(15);
  ss.set_exemplar_type(types::v1::EXEMPLAR_TYPE_NONE);
  querier::v1::SelectMergeStacktracesRequest ms;
  ms.set_profile_typeid(kCpu);
  ms.set_label_selector("{service_name=\"api\"}");
  ms.set_start(start);
  ms.set_end(end);

  // "both": the two queries at once, as Grafana runs them.
  test::HttpReply series_reply, profile_reply;
  std::thread t1([&] { series_reply = s.proto("SelectSeries", ss); });
  std::thread t2([&] { profile_reply = s.proto("SelectMergeStacktraces", ms); });
  t1.join();
  t2.join();
  auto series = decode<querier::v1::SelectSeriesResponse>(series_reply);
  REQUIRE(series.series_size() == 2);
  CHECK(series.series(0).labels(0).value() == "api");
  double total = 0;
  for (const auto& p : series.series(0).points()) total += p.value();
  CHECK(total == 8 * 25 + 360);
  auto merged = decode<querier::v1::SelectMergeStacktracesResponse>(profile_reply);
  REQUIRE(merged.has_flamegraph());
  auto self = check_as_grafana(merged.flamegraph());
  CHECK(merged.flamegraph().total() == 8 * 25 + 360);
  CHECK(self["runtime.leaf"] == 360);
  CHECK(self["main.idle"] == 160);
  CHECK(self["main.main"] == 40);

  // max_nodes folds into `other`; the same data in the tree format.
  ms.set_max_nodes(2);
  merged =
      decode<querier::v1::SelectMergeStacktracesResponse>(s.proto("SelectMergeStacktraces", ms));
  self = check_as_grafana(merged.flamegraph());
  CHECK(self.count("other") == 1);
  ms.clear_max_nodes();
  ms.set_format(querier::v1::PROFILE_FORMAT_TREE);
  merged =
      decode<querier::v1::SelectMergeStacktracesResponse>(s.proto("SelectMergeStacktraces", ms));
  CHECK(merged.tree().substr(0, 3) == std::string("\x00\x00\x01", 3));  // virtual root, 1 child
  // profilecli's PPROF format.
  ms.set_format(querier::v1::PROFILE_FORMAT_PPROF);
  merged =
      decode<querier::v1::SelectMergeStacktracesResponse>(s.proto("SelectMergeStacktraces", ms));
  CHECK(merged.pprof().profile().sample_type_size() == 1);
}

TEST_CASE("Pyroscope UI's JSON calls: int64 as strings, camelCase keys", "[api]") {
  ApiServer s;
  std::string range = "\"start\":\"" + std::to_string(s.store.start_ms()) +
                      "\",\"end\":" + std::to_string(s.store.end_ms());
  auto r = s.post_json(
      "/querier.v1.QuerierService/Series",
      "{\"matchers\":[],\"labelNames\":[\"service_name\",\"__profile_type__\"]," + range + "}");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "application/json");
  auto doc = json::parse(body(r)).as_object();
  CHECK(doc["labelsSet"].as_array().size() == 6);
  CHECK(doc["labelsSet"].as_array()[0].at("labels").as_array()[0].at("name") == "__profile_type__");

  r = s.post_json("/querier.v1.QuerierService/SelectMergeStacktraces",
                  "{\"profileTypeID\":\"" + kCpu +
                      "\",\"labelSelector\":\"{service_name=\\\"api\\\"}\"," + range + "}");
  REQUIRE(r.status == 200);
  doc = json::parse(body(r)).as_object();
  auto& fg = doc["flamegraph"].as_object();
  CHECK(fg["total"] == "560");  // int64 as a string
  CHECK(fg["levels"].as_array()[0].at("values").as_array()[1] == "560");
  CHECK(fg["names"].as_array()[0] == "total");

  r = s.post_json(
      "/querier.v1.QuerierService/SelectSeries",
      "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\",\"step\":15," + range + "}");
  REQUIRE(r.status == 200);
  doc = json::parse(body(r)).as_object();
  auto& p0 = doc["series"].as_array()[0].at("points").as_array()[0].as_object();
  CHECK(p0["value"].is_number());
  CHECK(p0["timestamp"].is_string());

  // No data: an empty message is `{}`.
  r = s.post_json("/querier.v1.QuerierService/SelectSeries",
                  "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\",\"step\":15," +
                      "\"start\":1000,\"end\":4000}");
  CHECK(r.status == 200);
  CHECK(r.body == "{}");
}

TEST_CASE("Profiles Drilldown: stats, settings, mixed-case JSON, render and render-diff", "[api]") {
  ApiServer s;
  auto r = s.post_json("/querier.v1.QuerierService/GetProfileStats", "{}");
  REQUIRE(r.status == 200);
  auto doc = json::parse(r.body).as_object();
  CHECK(doc["dataIngested"] == true);
  CHECK(doc["oldestProfileTime"].as_string() == std::to_string(s.store.t0 / 1'000'000).c_str());
  r = s.post_json("/settings.v1.SettingsService/Get", "{}");
  CHECK(r.status == 200);
  CHECK(r.body == "{}");

  // snake_case and camelCase mixed, as the app's pprof client sends them.
  r = s.post_json("/querier.v1.QuerierService/SelectMergeProfile",
                  "{\"profile_typeID\":\"" + kCpu +
                      "\",\"label_selector\":\"{service_name=\\\"api\\\"}\",\"start\":" +
                      std::to_string(s.store.start_ms()) +
                      ",\"end\":" + std::to_string(s.store.end_ms()) +
                      ",\"stackTraceSelector\":{\"call_site\":[{\"name\":\"main.main\"},{\"name\":"
                      "\"main.work\"}]},\"maxNodes\":100}");
  REQUIRE(r.status == 200);
  doc = json::parse(body(r)).as_object();
  CHECK(doc["sample"].as_array().size() == 1);

  std::string q = "process_cpu:cpu:nanoseconds:cpu:nanoseconds%7Bservice_name%3D%22api%22%7D";
  std::string range =
      "&from=" + std::to_string(s.store.start_ms()) + "&until=" + std::to_string(s.store.end_ms());
  r = s.get("/pyroscope/render?query=" + q + range + "&groupBy=pod");
  REQUIRE(r.status == 200);
  doc = json::parse(body(r)).as_object();
  CHECK(doc["version"] == 1);
  CHECK(doc["flamebearer"].at("numTicks") == 560);
  CHECK(doc["flamebearer"].at("names").as_array()[0] == "total");
  CHECK(doc["metadata"].at("format") == "single");
  CHECK(doc["metadata"].at("units") == "samples");
  CHECK(doc["metadata"].at("sampleRate") == 1'000'000'000);
  CHECK(doc["timeline"].at("durationDelta") == 15);
  int64_t tl = 0;
  for (const auto& v : doc["timeline"].at("samples").as_array()) tl += v.as_int64();
  CHECK(tl == 560);
  CHECK(doc["groups"].as_object().contains("p1"));

  std::string left = "leftQuery=" + q + "&leftFrom=" + std::to_string(s.store.start_ms()) +
                     "&leftUntil=" + std::to_string(s.store.start_ms() + 30'000);
  std::string right = "&rightQuery=" + q + "&rightFrom=" + std::to_string(s.store.start_ms()) +
                      "&rightUntil=" + std::to_string(s.store.end_ms());
  r = s.get("/pyroscope/render-diff?" + left + right);
  REQUIRE(r.status == 200);
  doc = json::parse(body(r)).as_object();
  CHECK(doc["metadata"].at("format") == "double");
  CHECK(doc["leftTicks"] == 2 * 25 + 10 + 20);
  CHECK(doc["rightTicks"] == 560);
  CHECK(doc["flamebearer"].at("levels").as_array()[0].as_array().size() == 7);

  r = s.get("/pyroscope/label-values?label=__name__");
  REQUIRE(r.status == 200);
  CHECK(json::parse(r.body).as_array().size() == 4);
}

TEST_CASE("stoker's render extensions: bottom-up, sandwich, one profile, folded, SVG", "[api]") {
  ApiServer s;
  std::string q = "process_cpu:cpu:nanoseconds:cpu:nanoseconds%7Bservice_name%3D%22api%22%7D";
  std::string base = "/pyroscope/render?query=" + q +
                     "&from=" + std::to_string(s.store.start_ms()) +
                     "&until=" + std::to_string(s.store.end_ms());
  auto names_at = [](const json::object& fb, size_t level) {
    std::vector<std::string> out;
    auto& row = fb.at("levels").as_array()[level].as_array();
    for (size_t i = 3; i < row.size(); i += 4)
      out.emplace_back(
          fb.at("names").as_array()[static_cast<size_t>(row[i].as_int64())].as_string());
    return out;
  };
  auto r = s.get(base + "&bottomUp=true&timeline=false");
  REQUIRE(r.status == 200);
  auto doc = json::parse(body(r)).as_object();
  CHECK(doc["timeline"].is_null());
  CHECK(names_at(doc["flamebearer"].as_object(), 1) ==
        std::vector<std::string>{"main.idle", "main.main", "runtime.leaf"});
  r = s.get(base + "&sandwich=main.work");
  REQUIRE(r.status == 200);
  doc = json::parse(body(r)).as_object();
  CHECK(names_at(doc["callers"].as_object(), 1) == std::vector<std::string>{"main.work"});
  CHECK(names_at(doc["callers"].as_object(), 2) == std::vector<std::string>{"main.main"});
  CHECK(names_at(doc["callees"].as_object(), 2) == std::vector<std::string>{"runtime.leaf"});
  CHECK(doc["callees"].at("numTicks") == 360);
  r = s.get(base + "&format=folded");
  REQUIRE(r.status == 200);
  CHECK(r.body.find("main.main;main.work;runtime.leaf 360\n") != std::string::npos);
  CHECK(r.header("content-disposition") == "attachment; filename=\"process_cpu.folded\"");
  r = s.get(base + "&format=svg");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "image/svg+xml");
  CHECK(body(r).find("runtime.leaf") != std::string::npos);
  CHECK(s.get(base + "&format=png").status == 400);
  // One profile, as a click on a timeline point asks for it.
  r = s.get(base + "&profileId=3&timeline=false");  // ids alternate api, web, …
  REQUIRE(r.status == 200);
  CHECK(json::parse(body(r)).at("profiles") == 1);
  CHECK(s.get(base + "&profileId=x").status == 400);
  r = s.get("/api/v1/function_series?query=" + q + "&from=" + std::to_string(s.store.start_ms()) +
            "&until=" + std::to_string(s.store.end_ms()) + "&step=15&function=main.work");
  REQUIRE(r.status == 200);
  doc = json::parse(r.body).as_object();
  CHECK(doc["total"].as_array().size() == 8);
  CHECK(doc["total"].as_array()[0].as_array()[1].to_number<double>() == 10);
}

TEST_CASE("the read API answers bad requests as Pyroscope does (TestStatusCodes)", "[api]") {
  ApiServer s;
  const std::string pt = "/querier.v1.QuerierService/ProfileTypes";
  for (const char* m : {"GET", "PUT", "DELETE", "PATCH"}) {
    auto r = test::http_request(s.port, m, pt, {{"Content-Type", "application/json"}}, "{}");
    CHECK(r.status == 405);
    CHECK(r.header("allow") == "POST");
  }
  auto r = test::http_request(s.port, "POST", pt, {{"Content-Type", "text/plain"}}, "{}");
  CHECK(r.status == 415);
  CHECK(r.header("accept-post") == "application/json, application/proto");
  r = s.post_json(pt, "{not json");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body).at("code") == "invalid_argument");
  r = s.post_json(pt, "");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body).at("message") == "zero-length payload is not a valid JSON object");
  r = s.post_json(pt, "{\"start\":\"now-1h\"}");
  CHECK(r.status == 400);
  CHECK(s.post_json(pt, "{\"start\":\"-5\",\"end\":\"-1\"}").status == 200);
  r = test::http_request(s.port, "POST", pt,
                         {{"Content-Type", "application/json"}, {"Connect-Protocol-Version", "2"}},
                         "{}");
  CHECK(r.status == 400);

  const std::string sms = "/querier.v1.QuerierService/SelectMergeStacktraces";
  std::string ok_range = ",\"start\":" + std::to_string(s.store.start_ms()) +
                         ",\"end\":" + std::to_string(s.store.end_ms());
  CHECK(s.post_json(sms, "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\"" + ok_range +
                             ",\"maxNodes\":1024,\"format\":2}")
            .status == 200);
  r = s.post_json(sms, "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\"}");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body).at("message") == "missing time range in the query");
  r = s.post_json(sms, "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\",\"start\":" +
                           std::to_string(s.store.end_ms()) +
                           ",\"end\":" + std::to_string(s.store.start_ms()) + "}");
  CHECK(json::parse(r.body).at("message") == "query start time is after end time");
  CHECK(s.post_json(sms, "{\"labelSelector\":\"{}\"" + ok_range + "}").status == 400);
  CHECK(s.post_json(sms, "{\"profileTypeID\":\"cpu\",\"labelSelector\":\"{}\"" + ok_range + "}")
            .status == 400);
  CHECK(s.post_json(sms, "{\"profileTypeID\":\"" + kCpu + "\"" + ok_range + "}").status == 400);
  r = s.post_json(sms,
                  "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{a=\"" + ok_range + "}");
  CHECK(r.status == 400);
  r = s.post_json(sms, "{\"profileTypeID\":\"" + kCpu +
                           "\",\"labelSelector\":\"{foo=\\\"bar\\\"\"" + ok_range + "}");
  CHECK(r.status == 400);
  CHECK_THAT(std::string(json::parse(r.body).at("message").as_string()),
             Catch::Contains("position"));
  r = s.post_json(sms, "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\"" + ok_range +
                           ",\"maxNodes\":2000000}");
  CHECK(r.status == 400);

  CHECK(s.post_json("/querier.v1.QuerierService/LabelValues", "{\"matchers\":[]}").status == 400);
  CHECK(s.post_json("/querier.v1.QuerierService/LabelValues", "{\"name\":\"\"}").status == 400);
  r = s.post_json("/querier.v1.QuerierService/SelectSeries",
                  "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\"" + ok_range + "}");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body).at("message") == "step must be non-zero");
  CHECK(s.post_json("/querier.v1.QuerierService/SelectSeries",
                    "{\"profileTypeID\":\"" + kCpu + "\",\"labelSelector\":\"{}\",\"step\":15.0," +
                        "\"groupBy\":[\"pod\"],\"limit\":\"1\"" + ok_range + "}")
            .status == 200);

  r = s.post_json("/querier.v1.QuerierService/SelectMergeSpanProfile", "{}");
  CHECK(r.status == 400);
  CHECK(json::parse(r.body).at("message") == "missing label selector (use {} for all series)");
  r = s.post_json("/querier.v1.QuerierService/SelectMergeSpanProfile",
                  "{\"profileTypeID\":\"" + kCpu +
                      "\",\"labelSelector\":\"{}\",\"spanSelector\":[\"nothex\"]" + ok_range + "}");
  CHECK(r.status == 400);
  CHECK_THAT(std::string(json::parse(r.body).at("message").as_string()),
             Catch::Contains("invalid span id \"nothex\""));
  r = s.post_json("/querier.v1.QuerierService/SelectMergeSpanProfile",
                  "{\"profileTypeID\":\"" + kCpu +
                      "\",\"labelSelector\":\"{}\",\"format\":\"PROFILE_FORMAT_PPROF\"" + ok_range +
                      "}");
  CHECK(r.status == 400);
  CHECK(s.post_json("/querier.v1.QuerierService/SelectHeatmap", "{}").status == 501);
  CHECK(s.post_json("/querier.v1.QuerierService/NoSuchMethod", "{}").status == 404);

  std::string q = "process_cpu:cpu:nanoseconds:cpu:nanoseconds%7B%7D";
  CHECK(s.get("/pyroscope/render?query=" + q + "&from=0").status == 400);
  CHECK(s.get("/pyroscope/render?from=now-1h").status == 400);
  CHECK(s.get("/pyroscope/render?query=%7Bservice_name%3D%22x%22%7D").status == 400);
  CHECK(s.get("/pyroscope/render?query=" + q + "&maxNodes=10&aggregation=avg").status == 200);
  CHECK(s.get("/pyroscope/render?query=" + q + "&max-nodes=10&groupBy=job").status == 200);
  r = test::http_request(s.port, "POST", "/pyroscope/render?query=" + q, {}, "");
  CHECK(r.status == 405);
  CHECK(s.get("/pyroscope/render-diff?leftQuery=" + q +
              "&rightQuery=memory:alloc_space:bytes:space:bytes%7B%7D")
            .status == 400);
}

TEST_CASE("the read API takes gzip and chunked request bodies and gzips large answers", "[api]") {
  ApiServer s;
  querier::v1::SelectMergeStacktracesRequest ms;
  ms.set_profile_typeid(kCpu);
  ms.set_label_selector("{}");
  ms.set_start(s.store.start_ms());
  ms.set_end(s.store.end_ms());
  auto r = test::http_request(s.port, "POST", "/querier.v1.QuerierService/SelectMergeStacktraces",
                              {{"Content-Type", "application/proto"}, {"Content-Encoding", "gzip"}},
                              pprof::gzip(ms.SerializeAsString()));
  auto merged = decode<querier::v1::SelectMergeStacktracesResponse>(r);
  CHECK(merged.flamegraph().total() == 560 + 8 * 7);
  r = test::http_request(s.port, "POST", "/querier.v1.QuerierService/SelectMergeStacktraces",
                         {{"Content-Type", "application/proto"}}, ms.SerializeAsString(), true);
  merged = decode<querier::v1::SelectMergeStacktracesResponse>(r);
  CHECK(merged.flamegraph().total() == 560 + 8 * 7);
  r = test::http_request(s.port, "POST", "/querier.v1.QuerierService/ProfileTypes",
                         {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}},
                         "not gzip");
  CHECK(r.status == 400);
  r = test::http_request(s.port, "POST", "/querier.v1.QuerierService/ProfileTypes",
                         {{"Content-Type", "application/json"}, {"Content-Encoding", "br"}}, "{}");
  CHECK(r.status == 501);
}

TEST_CASE("stored profiles download as gzipped pprof with a file name", "[api]") {
  ApiServer s;
  auto r = s.get("/api/v1/profiles/1");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-disposition") == "attachment; filename=\"api_process_cpu_1.pb.gz\"");
  auto decoded = pprof::decode(r.body);
  REQUIRE(decoded.ok());
  CHECK((*decoded)->sample_type_size() == 2);
  CHECK(s.get("/api/v1/profiles/999999").status == 404);
  CHECK(s.get("/api/v1/profiles/abc").status == 400);
  r = s.get(
      "/api/v1/profiles/merged?query=process_cpu:cpu:nanoseconds:cpu:nanoseconds%7B%7D&from=" +
      std::to_string(s.store.start_ms()) + "&until=" + std::to_string(s.store.end_ms()));
  REQUIRE(r.status == 200);
  decoded = pprof::decode(r.body);
  REQUIRE(decoded.ok());
  int64_t total = 0;
  for (const auto& smp : (*decoded)->sample()) total += smp.value(0);
  CHECK(total == 560 + 8 * 7);
  CHECK(s.get("/api/v1/profiles/"
              "merged?query=process_cpu:cpu:nanoseconds:cpu:nanoseconds%7B%7D&from=1000&until=4000")
            .status == 404);
}
