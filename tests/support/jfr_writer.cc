#include "tests/support/jfr_writer.h"

namespace stoker::test {

namespace {

// Type ids of the metadata this writer describes.
enum : int64_t {
  kLong = 1,
  kInt = 2,
  kBoolean = 3,
  kString = 4,
  kSymbol = 10,
  kClass = 11,
  kMethod = 12,
  kStackFrame = 13,
  kStackTrace = 14,
  kThreadState = 15,
  kExecutionSample = 100,
  kAllocationSample = 101,
  kMonitorEnter = 102,
  kActiveSetting = 103,
};

std::vector<uint32_t> code_points(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int n = c < 0x80 ? 0 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
    uint32_t cp = n == 0 ? c : c & (0x3f >> n);
    for (int k = 1; k <= n && i + k < s.size(); ++k) cp = cp << 6 | (s[i + k] & 0x3f);
    out.push_back(cp);
    i += n + 1;
  }
  return out;
}

}  // namespace

JfrWriter::JfrWriter(bool compressed, int64_t key_base)
    : compressed_(compressed), next_key_(key_base) {}

std::string JfrWriter::var(uint64_t v) const {
  std::string out;
  for (int b = 0; b < 8; ++b) {
    if (v < 0x80) {
      out += static_cast<char>(v);
      return out;
    }
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v & 0xff);
  return out;
}

std::string JfrWriter::integer(int64_t v, int fixed_bytes) const {
  if (compressed_) return var(static_cast<uint64_t>(v));
  std::string out;
  for (int b = fixed_bytes - 1; b >= 0; --b)
    out += static_cast<char>((static_cast<uint64_t>(v) >> (8 * b)) & 0xff);
  return out;
}

// Encodings: 3 UTF-8, 4 UTF-16 chars, 5 Latin-1 (code points < 256 only).
std::string JfrWriter::str(const std::string& s, int encoding) const {
  if (s.empty()) return std::string(1, '\1');
  std::string out(1, static_cast<char>(encoding));
  if (encoding == 3) return out + integer(static_cast<int64_t>(s.size()), 4) + s;
  auto cps = code_points(s);
  if (encoding == 5) {
    out += integer(static_cast<int64_t>(cps.size()), 4);
    for (uint32_t c : cps) out += static_cast<char>(c);
    return out;
  }
  std::vector<uint32_t> units;
  for (uint32_t c : cps) {
    if (c >= 0x10000) {
      units.push_back(0xd800 + ((c - 0x10000) >> 10));
      units.push_back(0xdc00 + ((c - 0x10000) & 0x3ff));
    } else {
      units.push_back(c);
    }
  }
  out += integer(static_cast<int64_t>(units.size()), 4);
  for (uint32_t u : units) out += integer(u, 2);
  return out;
}

std::string JfrWriter::event(uint64_t type, const std::string& payload) const {
  std::string body = integer(static_cast<int64_t>(type), 8) + payload;
  if (!compressed_) return integer(static_cast<int64_t>(body.size() + 4), 4) + body;
  for (size_t len = 1;; ++len) {
    std::string size = var(body.size() + len);
    if (size.size() == len) return size + body;
  }
}

int64_t JfrWriter::symbol(const std::string& s) {
  int64_t key = next_key_++;
  static const int kEncodings[] = {3, 4, 5};
  int enc = kEncodings[encoding_turn_++ % 3];
  for (uint32_t c : code_points(s)) {
    if (enc == 5 && c > 0xff) enc = 3;
  }
  symbols_.emplace_back(key, str(s, enc));
  return key;
}

int64_t JfrWriter::state(const std::string& s) {
  int64_t key = next_key_++;
  states_.emplace_back(key, str(s, 3));
  return key;
}

int64_t JfrWriter::stack(const std::vector<Frame>& frames) {
  std::string value(1, '\0');  // truncated: false
  value += integer(static_cast<int64_t>(frames.size()), 4);
  for (const auto& f : frames) {
    int64_t cls = next_key_++;
    classes_.emplace_back(cls, integer(symbol(f.cls), 8));
    int64_t method = next_key_++;
    methods_.emplace_back(method, integer(cls, 8) + integer(symbol(f.method), 8));
    value += integer(method, 8) + integer(f.line, 4);
  }
  int64_t key = next_key_++;
  stacks_.emplace_back(key, value);
  return key;
}

void JfrWriter::cpu(int64_t stack, int64_t context_id, uint64_t span_id,
                    const std::string& span_name, const std::string& st) {
  std::string p = integer(1000, 8) + integer(stack, 8) + integer(state(st), 8) +
                  integer(context_id, 8) + integer(static_cast<int64_t>(span_id), 8);
  if (span_name.empty()) {
    p += std::string(1, '\0');  // null
  } else {
    int64_t key = next_key_++;
    strings_.emplace_back(key, str(span_name, 3));
    p += std::string(1, '\2') + integer(key, 8);  // a constant pool string
  }
  events_ += event(kExecutionSample, p);
}

void JfrWriter::alloc(int64_t stack, int64_t weight) {
  events_ += event(kAllocationSample,
                   integer(1000, 8) + integer(stack, 8) + integer(-7, 4) + integer(weight, 8));
}

void JfrWriter::monitor(int64_t stack, int64_t duration_ticks) {
  events_ +=
      event(kMonitorEnter, integer(1000, 8) + integer(duration_ticks, 8) + integer(stack, 8));
}

void JfrWriter::setting(const std::string& name, const std::string& value, bool for_cpu) {
  events_ +=
      event(kActiveSetting, integer(1000, 8) +
                                integer(for_cpu ? int64_t{kExecutionSample} : int64_t{999}, 8) +
                                str(name, 3) + str(value, 5));
}

std::string JfrWriter::chunk() const {
  // The checkpoint: every pool.
  std::string cp = integer(1000, 8) + integer(0, 8) + integer(0, 8) + std::string(1, '\1');
  std::vector<std::pair<int64_t, const std::vector<std::pair<int64_t, std::string>>*>> pools = {
      {kSymbol, &symbols_},    {kClass, &classes_},      {kMethod, &methods_},
      {kStackTrace, &stacks_}, {kThreadState, &states_}, {kString, &strings_}};
  std::string body;
  int n = 0;
  for (const auto& [type, entries] : pools) {
    if (entries->empty()) continue;
    ++n;
    body += integer(type, 8) + integer(static_cast<int64_t>(entries->size()), 4);
    for (const auto& [key, value] : *entries) body += integer(key, 8) + value;
  }
  cp += integer(n, 4) + body;
  std::string checkpoint = event(1, cp);

  // The metadata: a string table and the element tree.
  std::vector<std::string> strings;
  auto s = [&](const std::string& v) {
    for (size_t i = 0; i < strings.size(); ++i) {
      if (strings[i] == v) return integer(static_cast<int64_t>(i), 4);
    }
    strings.push_back(v);
    return integer(static_cast<int64_t>(strings.size() - 1), 4);
  };
  struct F {
    std::string name;
    int64_t type;
    bool cp = false, array = false;
  };
  auto element = [&](const std::string& name,
                     const std::vector<std::pair<std::string, std::string>>& attrs,
                     const std::string& children, int nchildren) {
    std::string e = s(name) + integer(static_cast<int64_t>(attrs.size()), 4);
    for (const auto& [k, v] : attrs) e += s(k) + s(v);
    return e + integer(nchildren, 4) + children;
  };
  auto cls = [&](int64_t id, const std::string& name, const std::vector<F>& fields) {
    std::string children;
    for (const auto& f : fields) {
      std::vector<std::pair<std::string, std::string>> attrs = {{"name", f.name},
                                                                {"class", std::to_string(f.type)}};
      if (f.cp) attrs.emplace_back("constantPool", "true");
      if (f.array) attrs.emplace_back("dimension", "1");
      children += element("field", attrs, "", 0);
    }
    return element("class", {{"id", std::to_string(id)}, {"name", name}}, children,
                   static_cast<int>(fields.size()));
  };
  std::string classes;
  classes += cls(kLong, "long", {});
  classes += cls(kInt, "int", {});
  classes += cls(kBoolean, "boolean", {});
  classes += cls(kString, "java.lang.String", {});
  classes += cls(kSymbol, "jdk.types.Symbol", {{"string", kString}});
  classes += cls(kClass, "java.lang.Class", {{"name", kSymbol, true}});
  classes += cls(kMethod, "jdk.types.Method", {{"type", kClass, true}, {"name", kSymbol, true}});
  classes +=
      cls(kStackFrame, "jdk.types.StackFrame", {{"method", kMethod, true}, {"lineNumber", kInt}});
  classes += cls(kStackTrace, "jdk.types.StackTrace",
                 {{"truncated", kBoolean}, {"frames", kStackFrame, false, true}});
  classes += cls(kThreadState, "jdk.types.ThreadState", {{"name", kString}});
  classes += cls(kExecutionSample, "jdk.ExecutionSample",
                 {{"startTime", kLong},
                  {"stackTrace", kStackTrace, true},
                  {"state", kThreadState, true},
                  {"contextId", kLong},
                  {"spanId", kLong},
                  {"spanName", kString}});
  classes += cls(kAllocationSample, "jdk.ObjectAllocationSample",
                 {{"startTime", kLong},
                  {"stackTrace", kStackTrace, true},
                  {"extra", kInt},
                  {"weight", kLong}});
  classes += cls(kMonitorEnter, "jdk.JavaMonitorEnter",
                 {{"startTime", kLong}, {"duration", kLong}, {"stackTrace", kStackTrace, true}});
  classes += cls(kActiveSetting, "jdk.ActiveSetting",
                 {{"startTime", kLong}, {"id", kLong}, {"name", kString}, {"value", kString}});
  std::string root =
      element("root", {}, element("metadata", {}, classes, 14) + element("region", {}, "", 0), 2);
  std::string table = integer(static_cast<int64_t>(strings.size()), 4);
  for (const auto& v : strings) table += str(v, 3);
  std::string metadata = event(0, integer(1000, 8) + integer(0, 8) + integer(1, 8) + table + root);

  // Header, events, checkpoint, metadata.
  const size_t cp_offset = 68 + events_.size();
  const size_t meta_offset = cp_offset + checkpoint.size();
  const size_t size = meta_offset + metadata.size();
  auto be = [](uint64_t v, int bytes) {
    std::string out;
    for (int b = bytes - 1; b >= 0; --b) out += static_cast<char>((v >> (8 * b)) & 0xff);
    return out;
  };
  std::string out = std::string("FLR\0", 4) + be(2, 2) + be(1, 2) + be(size, 8) + be(cp_offset, 8) +
                    be(meta_offset, 8) + be(1'700'000'000'000'000'000, 8) + be(5'000'000'000, 8) +
                    be(1000, 8) + be(1'000'000'000, 8) + be(compressed_ ? 1 : 0, 4);
  return out + events_ + checkpoint + metadata;
}

}  // namespace stoker::test
