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

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
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
        if (c < 0x20 || c == 0x7f) {
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
