// Fuzzes the text parsers of the read side: label selectors, profile type ids,
// query strings, render times, CLI times and durations. They must return a
// value or an error, never crash, overflow or loop.
#include <cstddef>
#include <cstdint>
#include <string>

#include "model/profile_type.h"
#include "model/selector.h"
#include "model/text.h"
#include "model/timeparse.h"
#include "model/units.h"
#include "web/render_api.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  if (auto sel = stoker::Selector::parse(s)) {
    stoker::Labels l{{"__name__", "process_cpu"}, {"service_name", s}};
    sel->matches(l);
  }
  (void)stoker::ProfileTypeId::parse(s);
  stoker::parse_query_string(s);
  (void)stoker::parse_attime_ms(s, 1'700'000'000'000);
  (void)stoker::parse_time(s, 1'700'000'000'000'000'000);
  (void)stoker::parse_duration(s);
  (void)stoker::base64_decode(s);
  stoker::xml_escape(s);
  return 0;
}
