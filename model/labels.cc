#include "model/labels.h"

#include <algorithm>
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

}  // namespace stoker
