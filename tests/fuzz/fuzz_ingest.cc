// Fuzzes what a pushing client controls on /ingest: the query string (name
// with labels, times, rates), multipart bodies and their boundary, the
// sample_type_config JSON and collapsed-stack text. The input's first line is
// the query string and the Content-Type, the rest is the body. Every parser
// must return a value or an error, never crash, overflow or loop.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/upload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string_view head = in.substr(0, nl);
  std::string_view body = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  using namespace stoker::ingest;
  Params params;
  if (parse_params(head, head, 1'700'000'000'000'000'000, &params).ok()) {
    stoker::pprof::Limits limits;
    limits.max_samples = 10'000;
    for (bool lines : {false, true}) {
      auto c = convert_collapsed(body, lines, params, limits);
      if (c) series_labels(params, c->series_name, c->app);
    }
  }
  std::vector<Part> parts;
  std::string content_type = "multipart/form-data; boundary=" + std::string(head.substr(0, 70));
  if (parse_multipart(body, content_type, &parts).ok()) {
    for (const auto& p : parts) {
      SampleTypeConfigs c;
      (void)parse_sample_type_config(p.data, &c);
    }
  }
  SampleTypeConfigs c;
  (void)parse_sample_type_config(body, &c);
  return 0;
}
