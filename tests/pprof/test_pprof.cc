#include <catch2/catch.hpp>
#include <thread>

#include <zlib.h>

#include "pprof/compress.h"
#include "pprof/pprof_decode.h"
#include "pprof/view.h"
#include "tests/support/must.h"
#include "tests/support/profiles.h"

using namespace stoker;

namespace {

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void put_tag(std::string& out, int field, int wire) {
  put_varint(out, static_cast<uint64_t>(field << 3 | wire));
}
void put_bytes(std::string& out, int field, const std::string& b) {
  put_tag(out, field, 2);
  put_varint(out, b.size());
  out += b;
}

// A profile encoded by hand with the repeated scalars of each sample either
// packed (as Go does for more than two values) or unpacked.
std::string hand_encoded(bool packed) {
  std::string p;
  for (const char* s : {"", "samples", "count", "main", "cpu", "nanoseconds"}) put_bytes(p, 6, s);
  for (auto [t, u] : {std::pair{1, 2}, std::pair{4, 5}}) {
    std::string vt;
    put_tag(vt, 1, 0);
    put_varint(vt, static_cast<uint64_t>(t));
    put_tag(vt, 2, 0);
    put_varint(vt, static_cast<uint64_t>(u));
    put_bytes(p, 1, vt);
  }
  std::string fn;
  put_tag(fn, 1, 0);
  put_varint(fn, 1);
  put_tag(fn, 2, 0);
  put_varint(fn, 3);
  put_bytes(p, 5, fn);
  std::string loc, line;
  put_tag(loc, 1, 0);
  put_varint(loc, 7);
  put_tag(line, 1, 0);
  put_varint(line, 1);
  put_bytes(loc, 4, line);
  put_bytes(p, 4, loc);
  std::string sample;
  if (packed) {
    std::string ids, vals;
    put_varint(ids, 7);
    put_varint(ids, 7);
    put_bytes(sample, 1, ids);
    put_varint(vals, 3);
    put_varint(vals, 30000000);
    put_bytes(sample, 2, vals);
  } else {
    for (uint64_t id : {7, 7}) {
      put_tag(sample, 1, 0);
      put_varint(sample, id);
    }
    for (uint64_t v : {3, 30000000}) {
      put_tag(sample, 2, 0);
      put_varint(sample, v);
    }
  }
  put_bytes(p, 2, sample);
  return p;
}

}  // namespace

TEST_CASE("decodes raw and gzipped pprof", "[pprof]") {
  auto p = test::make_profile({{"samples", "count"}, {"cpu", "nanoseconds"}},
                              {{{"a", "b"}, {1, 10}}, {{"c"}, {2, 20}}});
  std::string raw = p.SerializeAsString();
  auto d1 = pprof::decode(raw);
  REQUIRE(d1.ok());
  CHECK(test::canonical(*(*d1)) == test::canonical(p));
  auto d2 = pprof::decode(pprof::encode_gzip(p));
  REQUIRE(d2.ok());
  CHECK(test::canonical(*(*d2)) == test::canonical(p));
}

TEST_CASE("gunzip overwrites what its output held, longer or shorter", "[pprof]") {
  // A reused buffer is overwritten, not cleared first (no zero-filling).
  std::string small = "short text", large(100000, 'x');
  for (size_t i = 0; i < large.size(); i += 7) large[i] = static_cast<char>('a' + i % 26);
  std::string out(300000, '#');
  REQUIRE(pprof::gunzip(pprof::gzip(large), 1 << 20, &out).ok());
  CHECK(out == large);
  REQUIRE(pprof::gunzip(pprof::gzip(small) + pprof::gzip(small), 1 << 20, &out).ok());
  CHECK(out == small + small);  // two members, into a longer buffer
  REQUIRE(pprof::gunzip(pprof::gzip(large), 1 << 20, &out).ok());
  CHECK(out == large);  // and longer again
  // Errors leave it empty.
  CHECK_FALSE(pprof::gunzip(pprof::gzip(large).substr(0, 50), 1 << 20, &out).ok());
  CHECK(out.empty());
  out = large;
  CHECK_FALSE(pprof::gunzip(pprof::gzip(large), 1000, &out).ok());
  CHECK(out.empty());
}

TEST_CASE("a gzip stream of several members, as RFC 1952 allows, is one profile", "[pprof]") {
  // Go's gzip reader accepts concatenated members; so does stoker. The two
  // halves of a serialized profile are compressed separately.
  auto p = test::make_profile({{"samples", "count"}, {"cpu", "nanoseconds"}},
                              {{{"a", "b"}, {1, 10}}, {{"c"}, {2, 20}}, {{"d", "a"}, {5, 50}}});
  std::string raw = p.SerializeAsString();
  size_t half = raw.size() / 2;
  std::string two = pprof::gzip(raw.substr(0, half), 1) + pprof::gzip(raw.substr(half), 9);
  auto d = pprof::decode(two);
  REQUIRE(d.ok());
  CHECK(test::canonical(*(*d)) == test::canonical(p));
  // Trailing zeros after the last member (some writers pad) are ignored.
  auto padded = pprof::decode(pprof::gzip(raw) + std::string(8, '\0'));
  REQUIRE(padded.ok());
  CHECK(test::canonical(*(*padded)) == test::canonical(p));
  // A corrupt second member is an error, not half a profile.
  std::string bad = two;
  bad[bad.size() - 12] ^= 0x55;
  CHECK(pprof::decode(bad).error().rfind("corrupt gzip stream", 0) == 0);
}

namespace {

// Inflates one gzip member with zlib (not libdeflate, which made it): the
// bytes, or "" with `error` set; `rest` gets how many input bytes follow the
// member. zlib checks the trailer's CRC-32 and size.
std::string zlib_gunzip_member(const std::string& in, std::string* error, size_t* rest) {
  z_stream zs{};
  REQUIRE(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[65536];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof buf - zs.avail_out);
  } while (rc == Z_OK);
  *error = rc == Z_STREAM_END ? "" : (zs.msg ? zs.msg : "inflate failed");
  *rest = zs.avail_in;
  inflateEnd(&zs);
  return rc == Z_STREAM_END ? out : "";
}

std::string pseudo_random_bytes(size_t n, uint64_t seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    s[i] = static_cast<char>(seed >> 56);
  }
  return s;
}

}  // namespace

TEST_CASE("a part compressed once starts gzip members that hold the part and the rest", "[pprof]") {
  std::string text;
  for (int i = 0; text.size() < 300000; ++i) {
    text += "github.com/acme/svc/internal/store.(*Service).Handle" + std::to_string(i % 977) + "\n";
  }
  const std::string noise = pseudo_random_bytes(3 << 20, 7);  // incompressible: stored blocks
  struct Case {
    std::string first, rest;
  };
  std::vector<Case> cases = {{"", ""},
                             {"", "only the rest"},
                             {"only the part", ""},
                             {text, "a short rest"},
                             {"a short part", text},
                             {text, text},
                             {noise, noise.substr(0, 100000)},
                             {text.substr(0, 70000), noise.substr(5, 70000)}};
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto& c = cases[k];
    INFO("case " << k << ": " << c.first.size() << " + " << c.rest.size() << " bytes");
    for (int level : {1, 6, 9}) {
      const pprof::DeflatePart part = pprof::deflate_part(c.first, level);
      CHECK(part.size == c.first.size());
      for (int rest_level : {1, 6}) {
        const std::string gz = pprof::gzip_after(part, c.rest, rest_level);
        // One member (nothing follows it), read by zlib with its CRC-32 and
        // size checked, and by stoker's own reader.
        std::string error;
        size_t after = 0;
        CHECK(zlib_gunzip_member(gz, &error, &after) == c.first + c.rest);
        CHECK(error.empty());
        CHECK(after == 0);
        std::string back;
        REQUIRE(pprof::gunzip(gz, 8 << 20, &back).ok());
        CHECK(back == c.first + c.rest);
      }
    }
  }
  // One part starts any number of members.
  const pprof::DeflatePart part = pprof::deflate_part(text, 6);
  for (const std::string rest : {"one", "two, longer", ""}) {
    std::string error;
    size_t after = 0;
    CHECK(zlib_gunzip_member(pprof::gzip_after(part, rest, 1), &error, &after) == text + rest);
  }
  // A part whose CRC-32 does not match its bytes gives a stream both readers refuse.
  pprof::DeflatePart wrong = part;
  wrong.crc ^= 1;
  const std::string bad = pprof::gzip_after(wrong, "rest", 1);
  std::string error;
  size_t after = 0;
  CHECK(zlib_gunzip_member(bad, &error, &after).empty());
  CHECK(error == "incorrect data check");
  std::string back;
  CHECK_FALSE(pprof::gunzip(bad, 8 << 20, &back).ok());
}

TEST_CASE("a profile's tables and the rest, encoded apart, join into the same profile",
          "[pprof]") {
  auto p = test::make_profile(
      {{"alloc_objects", "count"}, {"alloc_space", "bytes"}},
      {{{"main.alloc", "main.work", "main.main"}, {3, 300}, {{"endpoint", "/a"}}},
       {{"main.other", "main.main"}, {5, 500}, {{"endpoint", "/b"}}, 64},
       {{"main.alloc", "main.main"}, {7, 700}}});
  // An inlined frame, a second mapping and a comment, so every table has more
  // than the plain case.
  auto* loc = p.mutable_location(0);
  auto* line = loc->add_line();
  line->set_function_id(p.function(1).id());
  line->set_line(42);
  auto* m = p.add_mapping();
  m->set_id(p.mapping_size());
  m->set_memory_start(0x7f0000000000);
  m->set_memory_limit(0x7f0000100000);
  p.add_string_table("libc.so.6");
  m->set_filename(p.string_table_size() - 1);
  p.mutable_location(1)->set_mapping_id(m->id());
  p.add_string_table("a comment");
  p.add_comment(p.string_table_size() - 1);
  const std::string raw = p.SerializeAsString();
  auto view = test::must(pprof::decode_view(raw));
  view->hash_symbols();
  std::string tables, rest;
  view->encode_tables_to(&tables);
  view->encode_without_tables_to(&rest);
  auto joined = test::must(pprof::decode_view(tables + rest));
  CHECK(joined->encode() == view->encode());
  CHECK(test::canonical(*joined) == test::canonical(p));
  // The rest first reads the same (protobuf fields come in any order).
  CHECK(test::must(pprof::decode_view(rest + tables))->encode() == view->encode());

  // The key: the same for the same tables, whatever the samples' values.
  auto key_of = [](perftools::profiles::Profile q) {
    auto v = test::must(pprof::decode_view(q.SerializeAsString()));
    v->hash_symbols();
    return v->tables_key();
  };
  const Hash128 key = key_of(p);
  CHECK(view->tables_key() == key);
  auto more = p;
  more.mutable_sample(0)->set_value(0, 1000);
  more.mutable_sample(2)->clear_label();
  CHECK(key_of(more) == key);
  // Different for any change to what the tables say.
  auto renamed = p;
  renamed.set_string_table(p.function(0).name(), "main.alloc2");
  CHECK_FALSE(key_of(renamed) == key);
  auto renumbered = p;
  renumbered.mutable_location(2)->set_id(99);
  for (auto& s : *renumbered.mutable_sample()) {
    for (auto& id : *s.mutable_location_id()) {
      if (id == p.location(2).id()) id = 99;
    }
  }
  CHECK_FALSE(key_of(renumbered) == key);
  auto moved = p;
  moved.mutable_mapping(1)->set_memory_start(0x7f0000001000);
  CHECK_FALSE(key_of(moved) == key);
  auto other_line = p;
  other_line.mutable_location(0)->mutable_line(0)->set_line(7);
  CHECK_FALSE(key_of(other_line) == key);
  auto extra_string = p;
  extra_string.add_string_table("unused");
  CHECK_FALSE(key_of(extra_string) == key);
}

TEST_CASE("a decoded view comes with its symbol hashes", "[pprof]") {
  auto p = test::make_profile({{"samples", "count"}},
                              {{{"main.a", "main.b"}, {1}}, {{"main.c", "main.b"}, {2}}});
  auto v = test::must(pprof::decode_view(pprof::encode_gzip(p)));
  REQUIRE(v->has_symbol_hashes());
  pprof::View::SymbolHashes fresh;
  CHECK(pprof::View::hash_symbols(*v, v->string_hashes, &fresh));
  CHECK(fresh.functions == v->symbol_hashes.functions);
  CHECK(fresh.locations == v->symbol_hashes.locations);
  CHECK(fresh.frame_sums == v->symbol_hashes.frame_sums);
  CHECK(v->symbol_hashes.every_location_used);
  // What the decoder would refuse, hashed anyway: the missing references
  // hash as empty and the answer says one was missing.
  v->sample_locations[0] = 99;
  CHECK_FALSE(pprof::View::hash_symbols(*v, v->string_hashes, &fresh));
  v->sample_locations[0] = v->locations[0].id;
  v->lines[0].function_id = 42;
  CHECK_FALSE(pprof::View::hash_symbols(*v, v->string_hashes, &fresh));
}

TEST_CASE("accepts packed and unpacked repeated fields alike", "[pprof]") {
  auto packed = pprof::decode(hand_encoded(true));
  auto unpacked = pprof::decode(hand_encoded(false));
  REQUIRE(packed.ok());
  REQUIRE(unpacked.ok());
  CHECK(test::canonical(*(*packed)) == test::canonical(*(*unpacked)));
  CHECK(test::totals(*(*packed)) == std::vector<int64_t>{3, 30000000});
  CHECK((*packed)->sample(0).location_id_size() == 2);
}

TEST_CASE("rejects malformed profiles with a reason", "[pprof]") {
  auto p = test::make_profile({{"samples", "count"}}, {{{"a"}, {1}}});
  std::string gz = pprof::encode_gzip(p);
  // The collector's own wire decoder and protobuf's parser (plus validate())
  // agree on every case below, word for word.
  auto check_same = [](const std::string& body) {
    INFO(pprof::decode(body).error());
    CHECK(pprof::decode_view(body).error() == pprof::decode(body).error());
  };
  for (const std::string& b :
       {std::string(), gz.substr(0, gz.size() / 2), std::string("<html><body>404</body></html>")})
    check_same(b);

  CHECK(pprof::decode("").error() == "empty body");
  CHECK(pprof::decode(gz.substr(0, gz.size() / 2)).error() == "truncated gzip stream");
  CHECK(pprof::decode("<html><body>404</body></html>").error() ==
        "not a valid pprof protobuf message");

  auto raw = p.SerializeAsString();
  CHECK_FALSE(pprof::decode(raw.substr(0, raw.size() - 3)).ok());

  auto bad = p;
  bad.set_string_table(0, "x");
  CHECK(pprof::decode(bad.SerializeAsString()).error() == "string_table[0] must be ''");
  bad = p;
  bad.mutable_sample(0)->add_location_id(99);
  CHECK(pprof::decode(bad.SerializeAsString()).error() == "a sample refers to missing location 99");
  bad = p;
  bad.mutable_sample(0)->add_value(5);
  CHECK(pprof::decode(bad.SerializeAsString())
            .error()
            .find("values but the profile has 1 sample types") != std::string::npos);
  bad = p;
  bad.mutable_function(0)->set_name(1000);
  CHECK(pprof::decode(bad.SerializeAsString()).error() == "function refers to a missing string");
  bad = p;
  bad.mutable_location(0)->mutable_line(0)->set_function_id(42);
  CHECK(pprof::decode(bad.SerializeAsString()).error().find("missing function 42") !=
        std::string::npos);
  bad = p;
  bad.clear_sample_type();
  bad.mutable_sample(0)->clear_value();
  CHECK(pprof::decode(bad.SerializeAsString()).error() == "profile has no sample types");

  std::vector<perftools::profiles::Profile> broken;
  for (int k = 0; k < 8; ++k) broken.push_back(p);
  broken[0].set_string_table(0, "x");
  broken[1].mutable_sample(0)->add_location_id(99);
  broken[2].mutable_sample(0)->add_value(5);
  broken[3].mutable_function(0)->set_name(1000);
  broken[4].mutable_location(0)->mutable_line(0)->set_function_id(42);
  broken[5].mutable_location(0)->set_mapping_id(3);
  broken[6].add_string_table("\xff\xfe not UTF-8");  // proto3 strings are UTF-8
  broken[7].mutable_function(0)->set_id(0);
  // Two faults at once: the first is named, as protobuf's check names it
  // (decode_view() looks the references up while hashing the symbols, after
  // the other checks, and checks a profile that fails again in full).
  for (int k = 0; k < 3; ++k) broken.push_back(p);
  broken[8].mutable_sample(0)->add_location_id(99);
  *broken[8].add_sample() = p.sample(0);
  broken[8].mutable_sample(1)->add_value(5);
  broken[9].mutable_location(0)->mutable_line(0)->set_function_id(42);
  broken[9].mutable_sample(0)->add_location_id(99);
  broken[10].mutable_sample(0)->add_location_id(99);
  broken[10].mutable_function(0)->set_name(1000);
  for (const auto& b : broken) check_same(b.SerializeAsString());
  check_same(raw.substr(0, raw.size() - 3));
  // An unknown group must end with its own field number (found by fuzz_pprof).
  std::string group = raw;
  put_tag(group, 98, 3);
  put_tag(group, 97, 4);
  CHECK_FALSE(pprof::decode(group).ok());
  check_same(group);
}

TEST_CASE("packed runs of every length and varint width decode as protobuf does", "[pprof]") {
  // Runs are sized by counting their last bytes eight at a time.
  perftools::profiles::Profile p;
  p.add_string_table("");
  p.add_string_table("samples");
  p.add_string_table("count");
  auto* st = p.add_sample_type();
  st->set_type(1);
  st->set_unit(2);
  for (uint64_t id = 1; id <= 40; ++id) {
    auto* loc = p.add_location();
    loc->set_id(id * id * id * 977);  // one to five varint bytes
  }
  for (int n = 1; n <= 40; ++n) {
    auto* s = p.add_sample();
    for (int k = 0; k < n; ++k) s->add_location_id(p.location((n * 7 + k) % 40).id());
    s->add_value(int64_t{1} << (n % 60));
  }
  auto v = pprof::decode_view(p.SerializeAsString());
  REQUIRE(v.ok());
  auto back = (*v)->to_proto();
  REQUIRE(back.sample_size() == 40);
  for (int n = 0; n < 40; ++n) {
    INFO("sample " << n);
    CHECK(std::vector<uint64_t>(back.sample(n).location_id().begin(),
                                back.sample(n).location_id().end()) ==
          std::vector<uint64_t>(p.sample(n).location_id().begin(),
                                p.sample(n).location_id().end()));
    CHECK(back.sample(n).value(0) == p.sample(n).value(0));
  }
}

TEST_CASE("strings are checked as UTF-8 at every position and length", "[pprof]") {
  // The check reads eight bytes at a time, and a string's last eight as one
  // word: what is wrong must be found wherever it sits.
  auto p = test::make_profile({{"samples", "count"}}, {{{"main.a"}, {1}}});
  auto decodes = [&](const std::string& str) {
    auto q = p;
    q.add_string_table(str);
    return pprof::decode_view(q.SerializeAsString()).ok();
  };
  // The decoder hashes the strings in the pass that checks them: the same
  // hashes as hash_bytes, ASCII or not.
  auto q = p;
  q.add_string_table("r\xc3\xa9sum\xc3\xa9 of a longer function name");
  q.add_string_table("ascii");
  auto v = pprof::decode_view(q.SerializeAsString());
  REQUIRE(v.ok());
  REQUIRE((*v)->string_hashes.size() == (*v)->strings.size());
  for (size_t i = 0; i < (*v)->strings.size(); ++i) {
    CHECK((*v)->string_hashes[i] == hash_bytes((*v)->strings[i], process_hash_seed()));
  }
  // Cut inside the last string (here the string table ends the encoding):
  // an error, and nothing hashed from beyond the bytes (found by UBSan).
  perftools::profiles::Profile only_strings;
  only_strings.add_string_table("");
  only_strings.add_string_table("a string long enough to be cut");
  std::string cut = only_strings.SerializeAsString();
  CHECK_FALSE(pprof::decode_view(cut.substr(0, cut.size() - 5)).ok());
  for (size_t len = 1; len <= 20; ++len) {
    for (size_t at = 0; at < len; ++at) {
      INFO("length " << len << ", at " << at);
      std::string s(len, 'a');
      CHECK(decodes(s));
      s[at] = '\xff';
      CHECK_FALSE(decodes(s));
      s[at] = '\x80';  // a continuation byte on its own
      CHECK_FALSE(decodes(s));
      std::string two = std::string(len, 'a').replace(at, 1, "\xc3\xa9");  // é
      CHECK(decodes(two));
      CHECK_FALSE(decodes(two.substr(0, at + 1)));  // é cut short at the end
      std::string four = std::string(len, 'a').replace(at, 1, "\xf0\x9f\x94\xa5");
      CHECK(decodes(four));
      CHECK_FALSE(decodes(four.substr(0, four.size() - (len - at - 1) - 1)));
    }
  }
}

TEST_CASE("the wire decoder reads what protobuf reads", "[pprof]") {
  // Field order, packed and unpacked repeats, unknown fields (also groups),
  // repeated singular fields (last wins) and negative numbers.
  auto p = test::make_profile(
      {{"alloc_objects", "count"}, {"alloc_space", "bytes"}},
      {{{"malloc", "main.a", "main.main"}, {3, -300}, {{"k", "v"}}, 64}, {{"main.b"}, {1, 100}}});
  p.set_period(-7);
  p.add_comment(1);
  p.set_drop_frames(2);
  p.set_doc_url(1);  // newer pprof.proto field 15 (found by fuzz_pprof)
  p.mutable_location(0)->set_is_folded(true);
  p.mutable_location(0)->mutable_line(0)->set_column(12);
  p.mutable_mapping()->Add()->set_id(9);
  std::string raw = p.SerializeAsString();
  std::string extra = raw;
  put_tag(extra, 99, 0);  // an unknown varint field
  put_varint(extra, 12345);
  put_tag(extra, 98, 3);  // an unknown group holding a field
  put_tag(extra, 1, 0);
  put_varint(extra, 1);
  put_tag(extra, 98, 4);
  put_tag(extra, 12, 0);  // period again: the last one counts
  put_varint(extra, 77);
  // A 5-byte tag with bits past 32 (found by fuzz_pprof): protobuf reads it
  // modulo 2^32, here an unknown varint field with a large number.
  extra += std::string("\xf8\xf8\x80\xe5\x18", 5);
  put_varint(extra, 5);
  for (const std::string& body : {raw, extra, hand_encoded(true), hand_encoded(false)}) {
    auto v = pprof::decode_view(body);
    auto q = pprof::decode(body);
    REQUIRE(v.ok());
    REQUIRE(q.ok());
    (*q)->DiscardUnknownFields();
    CHECK((*v)->to_proto().SerializeAsString() == (*q)->SerializeAsString());
  }
  CHECK((*pprof::decode_view(extra))->period == 77);
}

TEST_CASE("packed varints of every length, and broken runs, read as protobuf reads them",
          "[pprof]") {
  // One value of each varint length (1 to 10 bytes, negative numbers take
  // ten) in one packed run, and location ids of one and two bytes.
  const std::vector<int64_t> values = {0,          1,           127,          128,
                                       16383,      16384,       (1LL << 21),  (1LL << 35) + 5,
                                       (1LL << 56) + 1, INT64_MAX, -1,          -300};
  std::vector<std::pair<std::string, std::string>> types;
  for (size_t i = 0; i < values.size(); ++i) types.push_back({"t" + std::to_string(i), "count"});
  std::vector<std::string> frames;
  for (int i = 0; i < 200; ++i) frames.push_back("f" + std::to_string(i));
  auto p = test::make_profile(types, {{frames, values}});
  std::string raw = p.SerializeAsString();
  auto v = pprof::decode_view(raw);
  REQUIRE(v.ok());
  CHECK((*v)->to_proto().SerializeAsString() == p.SerializeAsString());
  REQUIRE((*v)->samples.size() == 1);
  CHECK(std::vector<int64_t>((*v)->values.begin(), (*v)->values.end()) == values);
  CHECK((*v)->sample_locations.size() == 200);

  // A sample whose packed run ends inside a varint, or holds one of eleven
  // bytes: both refused, with protobuf's words.
  auto with_sample_run = [&](const std::string& run) {
    std::string sample, body = raw;
    put_bytes(sample, 2, run);
    put_bytes(body, 2, sample);
    return body;
  };
  for (const std::string& run : {std::string("\x05\x85", 2), std::string(10, '\xff') + "\x01",
                                 std::string("\x85")}) {
    std::string body = with_sample_run(run);
    CHECK_FALSE(pprof::decode_view(body).ok());
    CHECK(pprof::decode_view(body).error() == pprof::decode(body).error());
  }
  // Location ids 1..N, or with a gap: a sample that names a missing one (in
  // the gap, past the last or zero) is refused by name.
  for (bool gap : {false, true}) {
    for (uint64_t missing : {2, 0, 500}) {
      if (!gap && missing == 2) continue;
      auto q = test::make_profile({{"samples", "count"}}, {{{"a", "b"}, {1}}});
      REQUIRE(q.location(0).id() == 1);
      REQUIRE(q.location(1).id() == 2);
      if (gap) {
        q.mutable_location(1)->set_id(3);
        q.mutable_sample(0)->set_location_id(1, 3);
      }
      REQUIRE(pprof::decode_view(q.SerializeAsString()).ok());
      q.mutable_sample(0)->add_location_id(missing);
      CHECK(pprof::decode_view(q.SerializeAsString()).error() ==
            "a sample refers to missing location " + std::to_string(missing));
      q.mutable_location(0)->mutable_line(0)->set_function_id(missing + 1000);
      CHECK(pprof::decode_view(q.SerializeAsString()).error() ==
            "location 1 refers to missing function " + std::to_string(missing + 1000));
    }
  }
}

TEST_CASE("a gzip bomb stops at the decompression limit", "[pprof]") {
  std::string zeros(64u << 20, '\0');
  std::string bomb = pprof::gzip(zeros, 9);
  CHECK(bomb.size() < 200u << 10);
  pprof::Limits limits;
  limits.max_decompressed = 8u << 20;
  auto d = pprof::decode(bomb, limits);
  CHECK(d.error().find("exceeds 8388608 bytes") != std::string::npos);
  CHECK_FALSE(d.ok());
}

TEST_CASE("sample and location counts are bounded", "[pprof]") {
  std::vector<test::SampleSpec> samples;
  for (int i = 0; i < 50; ++i) samples.push_back({{"f" + std::to_string(i)}, {1}});
  auto p = test::make_profile({{"samples", "count"}}, samples);
  pprof::Limits limits;
  limits.max_samples = 10;
  CHECK(pprof::decode(p.SerializeAsString(), limits).error().find("50 samples") !=
        std::string::npos);
  // The wire decoder stops reading at the limit.
  CHECK(pprof::decode_view(p.SerializeAsString(), limits).error() ==
        "profile has more than 10 samples (the limit)");
}

TEST_CASE("describes bodies that are not pprof", "[pprof]") {
  CHECK(pprof::describe_body("text/html; charset=utf-8", "<p>x</p>") == "text/html");
  CHECK(pprof::describe_body("", "<!DOCTYPE html><html>") == "text/html");
  CHECK(pprof::describe_body("application/json", "{}") == "JSON");
  CHECK(pprof::describe_body("text/plain", "404 page not found\n") ==
        "plain text \"404 page not found\"");
  CHECK(pprof::describe_body("", "") == "an empty body");
}

TEST_CASE("decoded views are reused and the ones left unused for a period are freed",
          "[pprof]") {
  std::vector<std::string> frames;
  for (int i = 0; i < 50; ++i) frames.push_back("f" + std::to_string(i));
  const std::string raw =
      test::make_profile({{"samples", "count"}}, {{frames, {3}}}).SerializeAsString();
  pprof::set_view_pool_trim_period(std::chrono::milliseconds(300));
  // A burst: 20 profiles decoded at once go back to the pool together.
  {
    std::vector<std::shared_ptr<pprof::View>> burst;
    for (int i = 0; i < 20; ++i) burst.push_back(test::must(pprof::decode_view(raw)));
  }
  const size_t after_burst = pprof::view_pool_stats().views;
  CHECK(after_burst >= 20);
  CHECK(pprof::view_pool_stats().bytes > 0);
  // Then one at a time: a decode takes a pooled view (the pool does not grow)
  // and, a period on, the views nothing took are freed.
  for (int period = 0; period < 3; ++period) {
    for (int i = 0; i < 5; ++i) {
      auto v = test::must(pprof::decode_view(raw));
      CHECK(pprof::view_pool_stats().views <= after_burst - 1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(350));
  }
  test::must(pprof::decode_view(raw));  // a release after the period trims
  CHECK(pprof::view_pool_stats().views <= 2);
  pprof::set_view_pool_trim_period(std::chrono::seconds(10));
}
