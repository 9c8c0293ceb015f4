// Labels inside profiles (issue #18), through the real pipeline into a real
// SQLite store and back out through the query engine and the exporter:
// Pyroscope's split rules, span ids per sample, relabeling per group, the
// series cap, label limits, deltas per group and the bytes forwarded.
#include <catch2/catch.hpp>

#include "ingest/pipeline.h"
#include "ingest/series_cap.h"
#include "model/selector.h"
#include "pprof/compress.h"
#include "pprof/pprof_decode.h"
#include "query/engine.h"
#include "storage/reader.h"
#include "storage/sample_block.h"
#include "storage/storage.h"
#include "tests/support/must.h"
#include "tests/support/process.h"
#include "tests/support/profiles.h"
#include "tests/support/store_fixture.h"

using namespace stoker;

namespace {

const std::string kCpu = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";
constexpr int64_t kTs = 1'700'000'000'000'000'000;

std::shared_ptr<const ingest::LabelPolicy> policy(const std::string& relabel_yaml = "",
                                                  ScrapeLimits limits = {}) {
  auto p = std::make_shared<ingest::LabelPolicy>();
  if (!relabel_yaml.empty()) {
    auto r = load_config_string(
        "scrape_configs:\n  - job_name: j\n    profile_relabel_configs: " + relabel_yaml + "\n",
        "t.yaml", "/tmp");
    INFO((r.errors.empty() ? std::string() : r.errors[0]));
    REQUIRE(r.config);
    p->relabel = r.config->scrape_configs[0].profile_relabel;
  }
  p->limits = limits;
  return p;
}

const Labels kSeries{{"__name__", "process_cpu"}, {"service_name", "app"}, {"job", "j"}};

struct Setup {
  test::TempDir dir;
  std::unique_ptr<Storage> storage;
  metrics::Registry reg;
  std::unique_ptr<ingest::Pipeline> pipeline;
  Setup() {
    StorageConfig c;
    c.path = dir.file("s.db");
    storage = test::must(Storage::open(c));
    pipeline = std::make_unique<ingest::Pipeline>(storage.get(), &reg);
  }
  ingest::Prepared prepare(const perftools::profiles::Profile& p,
                           std::shared_ptr<const ingest::LabelPolicy> pol = policy(),
                           std::shared_ptr<ingest::SeriesCap> cap = nullptr, int64_t ts = kTs) {
    ingest::Input in;
    in.body = pprof::encode_gzip(p);
    in.labels = kSeries;
    in.policy = std::move(pol);
    in.series_cap = std::move(cap);
    in.time_ns = ts;
    return test::must(pipeline->prepare(std::move(in)));
  }
  void store(ingest::Prepared p) {
    std::vector<ingest::Prepared> batch;
    batch.push_back(std::move(p));
    REQUIRE(pipeline->store(std::move(batch)).ok());
    REQUIRE(storage->flush(std::chrono::seconds(10)));
  }
  std::unique_ptr<query::Engine> engine() {
    return test::must(query::Engine::open(dir.file("s.db"), query::Limits{}));
  }
  // The CPU total of the samples selected by `selector` (and `spans`).
  int64_t total(const std::string& selector, std::vector<uint64_t> spans = {}) {
    query::Selection sel;
    sel.profile_type = kCpu;
    sel.label_selector = selector;
    sel.start_ms = kTs / 1'000'000 - 1000;
    sel.end_ms = kTs / 1'000'000 + 1000;
    sel.span_ids = std::move(spans);
    query::StackSet stacks;
    query::MergeInfo info;
    REQUIRE(engine()->merge_stacks(sel, &stacks, &info).ok());
    return stacks.total();
  }
  std::vector<std::string> label_names() {
    std::vector<std::string> names;
    REQUIRE(engine()->label_names({}, kTs / 1'000'000 - 1000, kTs / 1'000'000 + 1000, &names).ok());
    return names;
  }
  std::string metrics() { return reg.render(); }
};

// "leaf;caller|k=v,k=v" (string labels sorted) → summed values.
std::map<std::string, std::vector<int64_t>> summary(const perftools::profiles::Profile& p) {
  std::map<uint64_t, std::string> fn;
  for (const auto& f : p.function()) fn[f.id()] = p.string_table(static_cast<int>(f.name()));
  std::map<uint64_t, std::string> loc;
  for (const auto& l : p.location()) {
    for (const auto& line : l.line())
      loc[l.id()] += (loc[l.id()].empty() ? "" : ";") + fn[line.function_id()];
  }
  std::map<std::string, std::vector<int64_t>> out;
  for (const auto& s : p.sample()) {
    std::string key;
    for (uint64_t id : s.location_id()) key += (key.empty() ? "" : ";") + loc[id];
    std::vector<std::string> labels;
    for (const auto& l : s.label()) {
      if (l.str() == 0) continue;
      labels.push_back(p.string_table(static_cast<int>(l.key())) + "=" +
                       p.string_table(static_cast<int>(l.str())));
    }
    std::sort(labels.begin(), labels.end());
    for (size_t i = 0; i < labels.size(); ++i) key += (i == 0 ? "|" : ",") + labels[i];
    auto& v = out[key];
    if (v.empty()) v.assign(static_cast<size_t>(s.value_size()), 0);
    for (int i = 0; i < s.value_size(); ++i) v[static_cast<size_t>(i)] += s.value(i);
  }
  return out;
}

bool has_item(const std::vector<Labels>& v, const Labels& l) {
  return std::find(v.begin(), v.end(), l) != v.end();
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

// The label sets of a prepared profile's records.
std::vector<Labels> series_of(const ingest::Prepared& p) {
  std::vector<Labels> out;
  for (const auto& r : p.records) out.push_back(r.labels);
  return out;
}

Labels with(Labels base, std::initializer_list<Label> more) {
  for (const auto& l : more) base.set(l.name, l.value);
  return base;
}

}  // namespace

TEST_CASE("labels inside a profile split it into series as Pyroscope does", "[ingest][labels]") {
  Setup s;
  auto p = test::cpu_profile({
      {{"main.checkout", "main.main"},
       {1, 100},
       {{"endpoint", "/checkout"},
        {"span_id", "00000000000000a1"},
        {"span_name", "GET /checkout"}}},
      {{"main.checkout", "main.main"},
       {2, 200},
       {{"endpoint", "/checkout"},
        {"span_id", "00000000000000a2"},
        {"span_name", "GET /checkout"}}},
      // Older SDKs call it profile_id: it is a span id.
      {{"main.search", "main.main"}, {1, 50}, {{"endpoint", "/search"}, {"profile_id", "b1"}}},
      {{"main.gc"}, {1, 10}},
      // Names that are not valid label names are sanitized, not refused.
      {{"main.x"}, {1, 5}, {{"trace.kind", "a"}}},
      // Series labels win over sample labels of the same name.
      {{"main.y"}, {1, 7}, {{"service_name", "other"}, {"1st", "z"}}},
  });
  auto prepared = s.prepare(p);
  REQUIRE(prepared.disposition == ingest::Prepared::Disposition::kStore);
  auto series = series_of(prepared);
  REQUIRE(series.size() == 5);
  CHECK(
      has_item(series, with(kSeries, {{"endpoint", "/checkout"}, {"span_name", "GET /checkout"}})));
  CHECK(has_item(series, with(kSeries, {{"endpoint", "/search"}})));
  CHECK(has_item(series, kSeries));
  CHECK(has_item(series, with(kSeries, {{"trace_kind", "a"}})));
  CHECK(has_item(series, with(kSeries, {{"_1st", "z"}})));
  // Each series holds only its samples.
  for (const auto& r : prepared.records) {
    if (r.labels == kSeries) {
      REQUIRE(r.samples);
      CHECK(r.samples->size() == 1);
    }
  }
  s.store(std::move(prepared));
  CHECK_THAT(s.metrics(), Catch::Contains("stoker_ingest_label_groups_total{origin=\"scrape\","
                                          "outcome=\"series\"} 5"));
  CHECK_THAT(
      s.metrics(),
      Catch::Contains("stoker_ingest_profiles_total{origin=\"scrape\",outcome=\"stored\"} 1"));

  // The new labels are queryable; span_id never is a series label.
  auto names = s.label_names();
  CHECK(has(names, "endpoint"));
  CHECK(has(names, "span_name"));
  CHECK(has(names, "trace_kind"));
  CHECK(has(names, "_1st"));
  CHECK_FALSE(has(names, "span_id"));
  CHECK_FALSE(has(names, "profile_id"));
  CHECK(s.total("{}") == 372);
  CHECK(s.total("{endpoint=\"/checkout\"}") == 300);
  CHECK(s.total("{endpoint=\"/search\"}") == 50);
  CHECK(s.total("{endpoint=\"\"}") == 22);
  CHECK(s.total("{service_name=\"app\"}") == 372);
  // Span profiles: only the samples of the given spans.
  CHECK(s.total("{}", {0xa1}) == 100);
  CHECK(s.total("{}", {0xb1}) == 50);
  CHECK(s.total("{}", {0xa1, 0xb1, 0xdead}) == 150);
  CHECK(s.total("{endpoint=\"/search\"}", {0xa1}) == 0);
  CHECK(s.total("{}", {0xdead}) == 0);

  // Exported, the samples have their labels and span ids back, as go tool
  // pprof -tags shows them (span ids as 16 hex digits).
  auto reader = test::must(Reader::open(s.dir.file("s.db")));
  perftools::profiles::Profile out;
  TimeRange range{kTs - 1'000'000'000, kTs + 1'000'000'000};
  REQUIRE(test::must(reader->export_merged(*Selector::parse("{__name__=\"process_cpu\"}"), range,
                                           &out)) == 5);  // one per series
  auto content = summary(out);
  CHECK(content["main.checkout;main.main|endpoint=/checkout,span_id=00000000000000a1,span_name="
                "GET /checkout"] == std::vector<int64_t>{1, 100});
  CHECK(content["main.checkout;main.main|endpoint=/checkout,span_id=00000000000000a2,span_name="
                "GET /checkout"] == std::vector<int64_t>{2, 200});
  CHECK(content["main.search;main.main|endpoint=/search,span_id=00000000000000b1"] ==
        std::vector<int64_t>{1, 50});
  CHECK(content["main.gc"] == std::vector<int64_t>{1, 10});
  CHECK(content["main.x|trace.kind=a"] == std::vector<int64_t>{1, 5});
  // service_name=other lost to the series label; 1st is kept as the series has it.
  CHECK(content["main.y|1st=z"] == std::vector<int64_t>{1, 7});
}

TEST_CASE("a profile without sample labels is stored whole, as before", "[ingest][labels]") {
  Setup s;
  auto prepared = s.prepare(test::cpu_profile({{{"main.a"}, {1, 10}}, {{"main.b"}, {1, 20}}}));
  REQUIRE(prepared.records.size() == 1);
  CHECK(prepared.records[0].labels == kSeries);
  CHECK_FALSE(prepared.records[0].samples);
  CHECK_FALSE(prepared.records[0].split_labels);
  // Only span ids (no other string label): one series, span ids per sample.
  prepared = s.prepare(test::cpu_profile(
      {{{"main.a"}, {1, 10}, {{"span_id", "0000000000000001"}}}, {{"main.b"}, {1, 20}}}));
  REQUIRE(prepared.records.size() == 1);
  CHECK(prepared.records[0].labels == kSeries);
  s.store(std::move(prepared));
  CHECK(s.total("{}") == 30);
  CHECK(s.total("{}", {1}) == 10);
  CHECK_THAT(s.metrics(), Catch::Contains("stoker_ingest_label_groups_total{origin=\"scrape\","
                                          "outcome=\"series\"} 0"));
}

TEST_CASE("profile_relabel_configs apply to each group of samples", "[ingest][labels]") {
  Setup s;
  auto pol = policy(
      "[{source_labels: [endpoint], regex: /healthz, action: drop},"
      " {source_labels: [endpoint], target_label: route},"
      " {action: labeldrop, regex: endpoint|span_name}]");
  auto p = test::cpu_profile({
      {{"main.health"}, {1, 1000}, {{"endpoint", "/healthz"}}},
      {{"main.get"}, {1, 10}, {{"endpoint", "/a"}, {"span_name", "GET /a"}}},
      {{"main.post"}, {1, 20}, {{"endpoint", "/a"}, {"span_name", "POST /a"}}},
      {{"main.b"}, {1, 40}, {{"endpoint", "/b"}}},
      {{"main.idle"}, {1, 5}},
  });
  s.storage->forward_cache().register_endpoint("up", 0);
  auto prepared = s.prepare(p, pol);
  // /healthz is dropped; the two /a groups are alike once span_name is gone.
  auto series = series_of(prepared);
  REQUIRE(series.size() == 3);
  CHECK(has_item(series, with(kSeries, {{"route", "/a"}})));
  CHECK(has_item(series, with(kSeries, {{"route", "/b"}})));
  CHECK(has_item(series, kSeries));
  // What is forwarded is what is stored: each series' own samples, with the
  // labels its series carries; the dropped group nowhere.
  for (const auto& r : prepared.records) {
    REQUIRE(r.forward_gzip);
    auto fwd = test::must(pprof::decode(*r.forward_gzip));
    auto content = summary(*fwd);
    if (r.labels.get("route") == "/a") {
      CHECK(content == std::map<std::string, std::vector<int64_t>>{{"main.get", {1, 10}},
                                                                   {"main.post", {1, 20}}});
    } else if (r.labels.get("route") == "/b") {
      CHECK(content == std::map<std::string, std::vector<int64_t>>{{"main.b", {1, 40}}});
    } else {
      CHECK(content == std::map<std::string, std::vector<int64_t>>{{"main.idle", {1, 5}}});
    }
  }
  s.storage->forward_cache().unregister_endpoint("up");
  s.store(std::move(prepared));
  CHECK(s.total("{}") == 75);
  CHECK(s.total("{route=\"/a\"}") == 30);
  CHECK_FALSE(has(s.label_names(), "endpoint"));
  CHECK_FALSE(has(s.label_names(), "span_name"));
  CHECK_THAT(s.metrics(), Catch::Contains("stoker_ingest_label_groups_total{origin=\"scrape\","
                                          "outcome=\"dropped\"} 1"));

  // A rule that drops everything drops the profile.
  auto all = s.prepare(p, policy("[{action: drop, regex: .*, source_labels: [__name__]}]"));
  CHECK(all.disposition == ingest::Prepared::Disposition::kDropped);
}

TEST_CASE("the series cap folds what is over it into the unlabelled series", "[ingest][labels]") {
  Setup s;
  // A label with a new value per sample (a request counter).
  std::vector<test::SampleSpec> samples;
  for (int i = 0; i < 20; ++i) {
    samples.push_back({{"main.handle", "main.main"}, {1, 10}, {{"request", std::to_string(i)}}});
  }
  samples.push_back({{"main.idle"}, {1, 1}});
  auto cap = std::make_shared<ingest::SeriesCap>(5, "job=j instance=a");
  auto prepared = s.prepare(test::cpu_profile(samples), policy(), cap);
  REQUIRE(prepared.records.size() == 6);  // 5 labelled + the unlabelled one
  CHECK(cap->tracked() == 5);
  CHECK_FALSE(cap->first_refusal());  // the pipeline has taken the one log line
  for (const auto& r : prepared.records) {
    if (r.labels == kSeries) {
      REQUIRE(r.samples);
      CHECK(r.samples->size() == 16);  // 15 folded + main.idle
    }
  }
  s.store(std::move(prepared));
  CHECK(s.total("{}") == 201);  // nothing lost
  CHECK(s.total("{request=\"\"}") == 151);
  CHECK_THAT(s.metrics(), Catch::Contains("stoker_ingest_label_groups_total{origin=\"scrape\","
                                          "outcome=\"folded\"} 15"));
  // The series already admitted keep coming; new ones still fold.
  samples.push_back({{"main.handle", "main.main"}, {1, 10}, {{"request", "new"}}});
  auto again = s.prepare(test::cpu_profile(samples), policy(), cap, kTs + 1000);
  CHECK(again.records.size() == 6);
  CHECK(cap->tracked() == 5);

  // No cap (0): every value is a series.
  auto unlimited = std::make_shared<ingest::SeriesCap>(0);
  CHECK(s.prepare(test::cpu_profile(samples), policy(), unlimited).records.size() == 22);

  // Series not seen for longer than the window stop counting.
  ingest::SeriesCap window(2, "x", 1000);
  CHECK(window.admit(1, 0));
  CHECK(window.admit(2, 0));
  CHECK_FALSE(window.admit(3, 10));
  CHECK(window.admit(1, 10));
  CHECK(window.admit(3, 100'000));  // 1 and 2 are forgotten after the window
}

TEST_CASE("a sample label the label limits refuse costs the label, not the samples",
          "[ingest][labels]") {
  Setup s;
  ScrapeLimits limits;
  limits.label_value_length_limit = 16;
  auto prepared =
      s.prepare(test::cpu_profile({{{"main.a"}, {1, 10}, {{"endpoint", "/a"}}},
                                   {{"main.b"}, {1, 20}, {{"endpoint", std::string(100, 'x')}}}}),
                policy("", limits));
  auto series = series_of(prepared);
  REQUIRE(series.size() == 2);
  CHECK(has_item(series, with(kSeries, {{"endpoint", "/a"}})));
  CHECK(has_item(series, kSeries));
  s.store(std::move(prepared));
  CHECK(s.total("{}") == 30);
  CHECK_THAT(s.metrics(), Catch::Contains("stoker_ingest_label_groups_total{origin=\"scrape\","
                                          "outcome=\"folded\"} 1"));
}

TEST_CASE("cumulative profiles with labels are differenced per series", "[ingest][labels]") {
  Setup s;
  auto heap = [](int64_t a, int64_t b, int64_t idle) {
    return test::make_profile({{"alloc_objects", "count"}, {"alloc_space", "bytes"}},
                              {{{"main.a"}, {a, 100 * a}, {{"endpoint", "/a"}}},
                               {{"main.b"}, {b, 100 * b}, {{"endpoint", "/b"}}},
                               {{"main.idle"}, {idle, 100 * idle}}});
  };
  auto cell = std::make_shared<ingest::DeltaCell>();
  auto prepare = [&](const perftools::profiles::Profile& p) {
    ingest::Input in;
    in.body = pprof::encode_gzip(p);
    in.labels = Labels{{"__name__", "memory"}, {"service_name", "app"}};
    in.policy = policy();
    in.time_ns = kTs;
    in.delta = cell;
    in.delta_flag = "false";
    return test::must(s.pipeline->prepare(std::move(in)));
  };
  CHECK(prepare(heap(1, 10, 5)).disposition == ingest::Prepared::Disposition::kPrimed);
  // /a grew by 3, /b did not grow, the unlabelled samples by 1.
  auto second = prepare(heap(4, 10, 6));
  REQUIRE(second.disposition == ingest::Prepared::Disposition::kStore);
  std::map<std::string, std::vector<int64_t>> per_series;
  for (const auto& r : second.records) {
    std::vector<int64_t> sum(2, 0);
    for (uint32_t i = 0; i < r.view->samples.size(); ++i) {
      if (r.samples && !std::binary_search(r.samples->begin(), r.samples->end(), i)) continue;
      const int64_t* v = r.view->sample_values(r.view->samples[i]);
      sum[0] += v[0];
      sum[1] += v[1];
    }
    per_series[std::string(r.labels.get("endpoint"))] = sum;
  }
  CHECK(per_series ==
        std::map<std::string, std::vector<int64_t>>{{"/a", {3, 300}}, {"", {1, 100}}});
}

TEST_CASE("a sample block keeps one span id per row", "[storage][labels]") {
  SampleBlock b;
  b.num_values = 1;
  b.stack_ids = {3, 1, 3, 1};
  b.label_set_ids = {0, 0, 0, 0};
  b.values = {10, 20, 30, 40};
  b.span_ids = {7, 0, 7, 9};
  b.normalize();
  REQUIRE(b.rows() == 3);  // (1,0) (1,9) (3,7): the two (3,7) rows summed
  std::string enc = b.encode();
  CHECK(SampleBlock::has_spans(enc));
  SampleBlock back;
  REQUIRE(SampleBlock::decode(enc, 1, &back).ok());
  CHECK(back.stack_ids == std::vector<int64_t>{1, 1, 3});
  CHECK(back.span_ids == std::vector<uint64_t>{0, 9, 7});
  CHECK(back.values == std::vector<int64_t>{20, 40, 40});
  SampleColumnReader reader;
  std::vector<int64_t> stacks, values;
  std::vector<uint64_t> spans;
  REQUIRE(reader.read(enc, 1, 0, &stacks, &values, &spans).ok());
  CHECK(spans == std::vector<uint64_t>{0, 9, 7});
  // A span query skips the block unread unless one of its ids is there.
  CHECK(SampleBlock::has_any_span(enc, {9}));
  CHECK(SampleBlock::has_any_span(enc, {1, 2, 7}));
  CHECK_FALSE(SampleBlock::has_any_span(enc, {1, 8, 10}));
  CHECK_FALSE(SampleBlock::has_any_span(enc, {}));
  std::vector<uint64_t> many(1000);
  for (size_t i = 0; i < many.size(); ++i) many[i] = 100 + i;
  CHECK_FALSE(SampleBlock::has_any_span(enc, many));
  many.back() = 1u << 30;
  many.front() = 7;
  std::sort(many.begin(), many.end());
  CHECK(SampleBlock::has_any_span(enc, many));
  // Without span ids, the block is as it always was.
  b.span_ids.clear();
  std::string plain = b.encode();
  CHECK_FALSE(SampleBlock::has_spans(plain));
  REQUIRE(reader.read(plain, 1, 0, &stacks, &values, &spans).ok());
  CHECK(spans == std::vector<uint64_t>(3, 0));
  // A truncated block or span list is corrupt, not read past.
  CHECK_FALSE(SampleBlock::decode(enc.substr(0, enc.size() - 3), 1, &back).ok());
  CHECK_FALSE(SampleBlock::decode(enc.substr(0, 10), 1, &back).ok());
  CHECK_FALSE(reader.read(enc.substr(0, 10), 1, 0, &stacks, &values, &spans).ok());
  // A damaged span list is corrupt too.
  SampleBlock one;
  one.num_values = 1;
  one.stack_ids = {1};
  one.label_set_ids = {0};
  one.values = {5};
  one.span_ids = {42};
  std::string bad = one.encode();
  bad[1] = 0;  // the list now says it is empty
  CHECK_FALSE(SampleBlock::decode(bad, 1, &back).ok());
  // A row whose span index points past the list is corrupt.
  std::string raw = {1, 2, 0, 10, 2};  // 1 row: stack 1, no label set, value 5, span #2
  std::string crafted = {3, 1, 42, 0, 0, 0, 0, 0, 0, 0, static_cast<char>(raw.size())};
  crafted += pprof::zlib_compress(raw);
  REQUIRE(SampleBlock::decode(crafted.substr(0, crafted.size()), 1, &back).code() ==
          Status::Code::kInternal);
  raw.back() = 1;  // span #1: fine
  crafted = {3, 1, 42, 0, 0, 0, 0, 0, 0, 0, static_cast<char>(raw.size())};
  crafted += pprof::zlib_compress(raw);
  REQUIRE(SampleBlock::decode(crafted, 1, &back).ok());
  CHECK(back.span_ids == std::vector<uint64_t>{42});
}

TEST_CASE("span ids are read and written as OpenTelemetry writes them", "[model][labels]") {
  CHECK(parse_span_id("00f067aa0ba902b7") == 0x00f067aa0ba902b7ULL);
  CHECK(parse_span_id("00F067AA0BA902B7") == 0x00f067aa0ba902b7ULL);
  CHECK(parse_span_id("b1") == 0xb1);
  CHECK(parse_span_id("") == 0);
  CHECK(parse_span_id("00f067aa0ba902b7a") == 0);  // 17 digits
  CHECK(parse_span_id("xyz") == 0);
  CHECK(parse_span_id("0000000000000000") == 0);
  CHECK(format_span_id(0xb1) == "00000000000000b1");
  std::vector<uint64_t> ids;
  CHECK(parse_span_ids({"a1, b2", "c3"}, &ids).ok());
  CHECK(ids == std::vector<uint64_t>{0xa1, 0xb2, 0xc3});
  Status bad = parse_span_ids({"a1,,b2"}, &ids);
  CHECK(bad.code() == Status::Code::kInvalidArgument);
  CHECK_THAT(bad.message(), Catch::Contains("invalid span id \"\""));
  CHECK(sanitize_sample_label_name("trace.endpoint") == "trace_endpoint");
  CHECK(sanitize_sample_label_name("1st") == "_1st");
  CHECK(sanitize_sample_label_name("ok_name") == "ok_name");
}
