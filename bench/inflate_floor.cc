// inflate_floor: the CPU that only inflating a round of profiles costs — the
// floor under any collector that reads them. Reads every file given (gzipped
// pprof, e.g. one round of bench/fleet_farm.go -dump), inflates all of them
// `--repeat` times with zlib (streaming inflate into a growing string, as
// stoker did before libdeflate) and with libdeflate (what stoker uses), and
// prints the CPU seconds per round of each. It also prints what compressing
// again costs, at libdeflate's level 1 (what stoker's remote_write uses),
// for the files whose names contain one of the --recompress words (e.g. the
// cumulative types that a forwarding collector sends as differences, so must
// compress itself): the floor forwarding adds.
//
//   inflate_floor [--repeat N] [--recompress allocs,block,mutex] FILE...
#include <sys/resource.h>
#include <zlib.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "pprof/compress.h"
#include "pprof/pprof_decode.h"

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// zlib's streaming inflate of a whole gzip stream, 64 KiB at a time.
bool zlib_gunzip(const std::string& in, std::string* out) {
  out->clear();
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return false;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[64 * 1024];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out->append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK);
  inflateEnd(&zs);
  return rc == Z_STREAM_END;
}

}  // namespace

int main(int argc, char** argv) {
  int repeat = 5;
  std::vector<std::string> bodies;
  std::vector<std::string> recompress_words;
  std::vector<bool> recompress;  // per body
  size_t in_bytes = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--repeat" && i + 1 < argc) {
      repeat = std::max(1, std::stoi(argv[++i]));
      continue;
    }
    if (a == "--recompress" && i + 1 < argc) {
      std::stringstream words(argv[++i]);
      for (std::string w; std::getline(words, w, ',');) {
        if (!w.empty()) recompress_words.push_back(w);
      }
      continue;
    }
    std::ifstream f(a, std::ios::binary);
    if (!f) {
      std::cerr << "inflate_floor: cannot read " << a << "\n";
      return 1;
    }
    std::stringstream ss;
    ss << f.rdbuf();
    bodies.push_back(ss.str());
    in_bytes += bodies.back().size();
    std::string name = a.substr(a.find_last_of('/') + 1);
    bool again = false;
    for (const auto& w : recompress_words) again = again || name.find(w) != std::string::npos;
    recompress.push_back(again);
  }
  if (bodies.empty()) {
    std::cerr << "usage: inflate_floor [--repeat N] [--recompress WORD,...] FILE...\n";
    return 2;
  }
  size_t out_bytes = 0;
  std::string out;
  for (const auto& b : bodies) {
    if (!zlib_gunzip(b, &out)) {
      std::cerr << "inflate_floor: corrupt gzip\n";
      return 1;
    }
    out_bytes += out.size();
  }
  auto per_round = [&](auto inflate) {
    double start = cpu_seconds();
    for (int r = 0; r < repeat; ++r) {
      for (const auto& b : bodies) inflate(b, &out);
    }
    return (cpu_seconds() - start) / repeat;
  };
  double zlib = per_round([](const std::string& b, std::string* o) { zlib_gunzip(b, o); });
  double libdeflate = per_round(
      [](const std::string& b, std::string* o) { (void)stoker::pprof::gunzip(b, 1u << 30, o); });
  // The bodies to compress again, inflated once.
  std::vector<std::string> raw;
  size_t raw_bytes = 0;
  for (size_t i = 0; i < bodies.size(); ++i) {
    if (!recompress[i]) continue;
    raw.emplace_back();
    zlib_gunzip(bodies[i], &raw.back());
    raw_bytes += raw.back().size();
  }
  double deflate = 0;
  if (!raw.empty()) {
    double start = cpu_seconds();
    for (int r = 0; r < repeat; ++r) {
      for (const auto& b : raw) out = stoker::pprof::gzip(b, 1);
    }
    deflate = (cpu_seconds() - start) / repeat;
  }
  std::cout << "profiles=" << bodies.size() << " gzipped_bytes=" << in_bytes
            << " inflated_bytes=" << out_bytes << " zlib_cpu_seconds_per_round=" << zlib
            << " zlib_mb_per_s=" << static_cast<double>(out_bytes) / zlib / 1e6
            << " libdeflate_cpu_seconds_per_round=" << libdeflate
            << " libdeflate_mb_per_s=" << static_cast<double>(out_bytes) / libdeflate / 1e6
            << " recompressed_profiles=" << raw.size() << " recompressed_bytes=" << raw_bytes
            << " deflate1_cpu_seconds_per_round=" << deflate << "\n";
  return 0;
}
