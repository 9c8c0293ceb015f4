// Fuzzes the Connect API end to end below HTTP: any body, in either codec,
// gzipped or not, to any querier.v1 / settings.v1 method, against a real store.
// Input: byte 0 picks the method, byte 1 the codec and encoding, the rest is
// the body.
#include <cstddef>
#include <cstdint>
#include <string>

#include "pprof/pprof_decode.h"
#include "tests/fuzz/fuzz_support.h"
#include "web/querier_api.h"

namespace {
const char* kMethods[] = {"/querier.v1.QuerierService/ProfileTypes",
                          "/querier.v1.QuerierService/LabelNames",
                          "/querier.v1.QuerierService/LabelValues",
                          "/querier.v1.QuerierService/Series",
                          "/querier.v1.QuerierService/SelectMergeStacktraces",
                          "/querier.v1.QuerierService/SelectSeries",
                          "/querier.v1.QuerierService/SelectMergeProfile",
                          "/querier.v1.QuerierService/Diff",
                          "/querier.v1.QuerierService/GetProfileStats",
                          "/settings.v1.SettingsService/Get",
                          "/querier.v1.QuerierService/SelectHeatmap"};
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  stoker::WebRequest req;
  req.method = "POST";
  req.path = kMethods[data[0] % (sizeof kMethods / sizeof kMethods[0])];
  uint8_t flags = data[1];
  req.body.assign(reinterpret_cast<const char*>(data + 2), size - 2);
  req.headers.emplace_back("content-type", flags & 1 ? "application/json" : "application/proto");
  if (flags & 2) {
    req.body = stoker::pprof::gzip(req.body, 1);
    req.headers.emplace_back("content-encoding", "gzip");
  }
  if (flags & 4) req.headers.emplace_back("connect-protocol-version", "1");
  stoker::fuzz::check_answer(stoker::handle_connect(req, stoker::fuzz::pool()), req.path);
  return 0;
}
