#include "model/labels.h"

#include <algorithm>
#include <cctype>
#include <cstdio>

namespace stoker {

Labels::Labels(std::initializer_list<Label> init) {
  for (const auto& l : init) set(l.name, l.value);
}

template <typename Vec>
static auto find_pos(Vec& v, std::string_view name) {
  return std::lower_bound(v.begin(), v.end(), name,
                          [](const Label& l, std::string_view n) { return l.name < n; });
}

std::string_view Labels::get(std::string_view name) const {
  auto it = find_pos(items_, name);
  if (it != items_.end() && it->name == name) return it->value;
  return {};
}

bool Labels::has(std::string_view name) const {
  auto it = find_pos(items_, name);
  return it != items_.end() && it->name == name;
}

void Labels::set(std::string_view name, std::string_view value) {
  auto it = find_pos(items_, name);
  bool present = it != items_.end() && it->name == name;
  if (value.empty()) {
    if (present) items_.erase(it);
    return;
  }
  if (present) {
    it->value = std::string(value);
  } else {
    items_.insert(it, Label{std::string(name), std::string(value)});
  }
}

void Labels::erase(std::string_view name) {
  set(name, "");
}

Labels Labels::without_reserved() const {
  Labels out;
  for (const auto& l : items_) {
    if (l.name.rfind("__", 0) != 0) out.items_.push_back(l);
  }
  return out;
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the byte there starts none.
static size_t utf8_seq(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 0;
  }
  return n;
}

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = utf8_seq(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = utf8_seq(s, i);
    if (n > 1) {  // valid multi-byte character: as is
      out.append(s.substr(i, n));
      i += n;
      continue;
    }
    ++i;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20 || c == 0x7f || n == 0) {  // control or invalid UTF-8 byte
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

std::string Labels::to_string() const {
  std::string out = "{";
  for (size_t i = 0; i < items_.size(); ++i) {
    if (i) out += ", ";
    out += items_[i].name;
    out += '=';
    out += quote(items_[i].value);
  }
  out += '}';
  return out;
}

uint64_t fnv1a64(std::string_view data, uint64_t h) {
  for (unsigned char c : data) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t Labels::hash() const {
  uint64_t h = 14695981039346656037ull;
  for (const auto& l : items_) {
    h = fnv1a64(l.name, h);
    h = fnv1a64(std::string_view("\xff", 1), h);
    h = fnv1a64(l.value, h);
    h = fnv1a64(std::string_view("\xfe", 1), h);
  }
  return h;
}

std::string sanitize_label_name(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size();) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    if (std::isalnum(c) || c == '_') {
      out += static_cast<char>(c);
      ++i;
      continue;
    }
    out += '_';
    // One '_' per UTF-8 character: skip its continuation bytes.
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xe  ? 3
                 : (c >> 3) == 0x1e ? 4
                                    : 1;
    i += len;
  }
  return out;
}

bool series_carries(const Labels& series, std::string_view key, std::string_view value) {
  return !value.empty() && series.get(sanitize_sample_label_name(key)) == value;
}

std::string sanitize_sample_label_name(std::string_view name) {
  std::string out = sanitize_label_name(name);
  if (!out.empty() && std::isdigit(static_cast<unsigned char>(out[0])))
    out.insert(out.begin(), '_');
  return out;
}

uint64_t parse_span_id(std::string_view hex) {
  if (hex.empty() || hex.size() > 16) return 0;
  uint64_t id = 0;
  for (char c : hex) {
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return 0;
    id = id << 4 | static_cast<uint64_t>(d);
  }
  return id;
}

std::string format_span_id(uint64_t id) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4) out[static_cast<size_t>(i)] = kDigits[id & 0xf];
  return out;
}

Status parse_span_ids(const std::vector<std::string>& items, std::vector<uint64_t>* out) {
  for (const auto& item : items) {
    std::string_view rest = item;
    while (true) {
      size_t comma = rest.find(',');
      std::string_view id = rest.substr(0, comma);
      while (!id.empty() && (id.front() == ' ' || id.front() == '\t')) id.remove_prefix(1);
      while (!id.empty() && (id.back() == ' ' || id.back() == '\t')) id.remove_suffix(1);
      uint64_t v = parse_span_id(id);
      if (v == 0) {
        return Status::invalid("invalid span id " + quote(id) +
                               " (expected 16 hex digits, as OpenTelemetry writes span ids)");
      }
      out->push_back(v);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return {};
}

}  // namespace stoker
