// The cost of reading a JFR recording (see BENCHMARKS.md, issue #19): for a
// recording file, the time zlib takes to inflate it gzipped (as the Java
// agent uploads it, level 6) against the time stoker's reader takes to turn
// it into profiles, both the median of 7 runs; and the reader's peak memory
// above what the process held before (the high-water mark is reset through
// /proc/self/clear_refs).
//
// Usage: jfr_bench RECORDING.jfr
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "pprof/compress.h"
#include "pprof/jfr.h"

using namespace stoker;
using Clock = std::chrono::steady_clock;

namespace {

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  }
  return 0;
}

double median_ms(const std::function<void()>& fn) {
  std::vector<double> t;
  for (int i = 0; i < 7; ++i) {
    auto start = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
  }
  std::sort(t.begin(), t.end());
  return t[3];
}

// Plain zlib (what the floor means: inflating the upload, nothing else).
std::string zlib_gunzip(const std::string& gz, size_t expect) {
  std::string out(expect, '\0');
  z_stream zs{};
  inflateInit2(&zs, 16 + MAX_WBITS);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
  zs.avail_in = static_cast<uInt>(gz.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  inflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: jfr_bench RECORDING.jfr\n");
    return 2;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::string jfr((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (argc == 3 && std::string(argv[2]) == "--peak") {
    // In a fresh process: the high-water mark of one read above the process
    // holding the recording.
    { std::ofstream("/proc/self/clear_refs") << "5"; }
    long before = status_kib("VmHWM:");
    auto ps = pprof::jfr_to_pprof(jfr, {});
    std::printf("%ld\n", status_kib("VmHWM:") - before);
    return ps.ok() ? 0 : 1;
  }
  std::string gz = pprof::gzip(jfr, 6);
  if (zlib_gunzip(gz, jfr.size()) != jfr) {
    std::fprintf(stderr, "zlib round trip failed\n");
    return 1;
  }
  size_t events = 0, samples = 0;
  std::string kinds;
  {
    auto ps = pprof::jfr_to_pprof(jfr, {});
    if (!ps) {
      std::fprintf(stderr, "%s\n", ps.status().message().c_str());
      return 1;
    }
    for (const auto& p : *ps) {
      events += p.events;
      samples += static_cast<size_t>(p.profile.sample_size());
      kinds += (kinds.empty() ? "" : ", ") + p.event + " " + std::to_string(p.events);
    }
  }
  double inflate_ms = median_ms([&] { zlib_gunzip(gz, jfr.size()); });
  double read_ms = median_ms([&] { (void)pprof::jfr_to_pprof(jfr, {}); });

  // Peak memory of one read, measured in a fresh process.
  std::string cmd = std::string(argv[0]) + " '" + argv[1] + "' --peak";
  FILE* f = popen(cmd.c_str(), "r");
  long peak_kib = 0;
  if (!f || std::fscanf(f, "%ld", &peak_kib) != 1) peak_kib = -1;
  if (f) pclose(f);
  std::printf("recording: %.2f MB, %.2f MB gzipped; %zu events read into %zu samples (%s)\n",
              static_cast<double>(jfr.size()) / 1e6, static_cast<double>(gz.size()) / 1e6, events,
              samples, kinds.c_str());
  std::printf("zlib inflate of the upload: %.2f ms; stoker's reader: %.2f ms (%.2fx)\n", inflate_ms,
              read_ms, read_ms / inflate_ms);
  std::printf("reader peak memory above the process before it: %.2f MB (%.2fx the recording)\n",
              static_cast<double>(peak_kib) / 1024.0,
              static_cast<double>(peak_kib) * 1024.0 / static_cast<double>(jfr.size()));
  return 0;
}
