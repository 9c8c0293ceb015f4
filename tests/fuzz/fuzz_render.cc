// Fuzzes the /pyroscope/*, download and source endpoints with arbitrary query
// strings and paths against a real store (refine options, format=dot|graph and
// /api/v1/source's function regex included). Input: byte 0 picks the endpoint,
// the rest is the query string (or the profile id).
#include <cstddef>
#include <cstdint>
#include <string>

#include "tests/fuzz/fuzz_support.h"
#include "query/source.h"
#include "web/render_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kPaths[] = {"/pyroscope/render", "/pyroscope/render-diff",
                                 "/pyroscope/label-values", "/api/v1/profiles/merged",
                                 "/api/v1/source", "/api/v1/profiles/"};
  // The source view on, with a root that does not exist: nothing is readable.
  static const stoker::query::SourceLocator locator({}, {"/nonexistent/stoker-fuzz-root"});
  stoker::WebRequest req;
  req.method = "GET";
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  int which = data[0] % 6;
  req.path = kPaths[which];
  if (which == 5) {
    req.path += rest;
  } else {
    req.query = rest;
  }
  stoker::fuzz::check_answer(stoker::handle_render(req, stoker::fuzz::pool(), &locator), req.path);
  return 0;
}
