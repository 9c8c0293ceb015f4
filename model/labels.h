// Labels: an immutable-by-convention, name-sorted set of (name, value) pairs.
//
// This is the label vocabulary shared by every stage: discovered target labels,
// series labels on stored profiles and selector matching. Setting a label to the
// empty string removes it, as in Prometheus. Not thread-safe for concurrent
// mutation; copies are independent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/status.h"

namespace stoker {

struct Label {
  std::string name;
  std::string value;
  bool operator==(const Label&) const = default;
  bool operator<(const Label& o) const {
    return name < o.name || (name == o.name && value < o.value);
  }
};

class Labels {
 public:
  Labels() = default;
  Labels(std::initializer_list<Label> init);

  // Returns the value of `name`, or "" when absent.
  std::string_view get(std::string_view name) const;
  bool has(std::string_view name) const;
  // Sets `name` to `value`; an empty value removes the label.
  void set(std::string_view name, std::string_view value);
  void erase(std::string_view name);

  const std::vector<Label>& items() const { return items_; }
  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

  // Labels whose names do not start with "__".
  Labels without_reserved() const;

  // Canonical text form `{a="1", b="2"}` with Go-style string escaping, as
  // Prometheus prints label sets. Stable: equal sets give equal strings.
  std::string to_string() const;
  // 64-bit FNV-1a over names and values; stable across runs.
  uint64_t hash() const;

  bool operator==(const Labels&) const = default;

 private:
  std::vector<Label> items_;  // sorted by name, unique names, no empty values
};

// Quotes `s` as a Go string literal would (%q): backslash escapes for quotes,
// backslashes, control characters and bytes that are not valid UTF-8.
std::string quote(std::string_view s);
bool valid_utf8(std::string_view s);

// Prometheus' strutil.SanitizeLabelName: every character outside
// [a-zA-Z0-9_] (a multi-byte UTF-8 character counts as one) becomes '_'.
std::string sanitize_label_name(std::string_view name);
// The same, and a leading digit gets a '_' before it: a valid (legacy)
// Prometheus label name for any non-empty input. What a sample label's name
// becomes as a series label ("trace.endpoint" → "trace_endpoint").
std::string sanitize_sample_label_name(std::string_view name);

// The span id a sample's `span_id` label value stands for (OpenTelemetry's
// 16 hex digits; 1 to 16 accepted, either case); 0 when it is not one.
uint64_t parse_span_id(std::string_view hex);
// A span id as OpenTelemetry writes it: 16 lower-case hex digits.
std::string format_span_id(uint64_t id);
// The span ids of a span filter: each item one id or several separated by
// commas (blanks around them ignored); invalid_argument naming the first id
// that is not one.
Status parse_span_ids(const std::vector<std::string>& items, std::vector<uint64_t>* out);

// Whether a series carries the sample label `key`=`value` (under its
// sanitized name): the sample labels a profile was split by.
bool series_carries(const Labels& series, std::string_view key, std::string_view value);

// 64-bit FNV-1a.
uint64_t fnv1a64(std::string_view data, uint64_t seed = 14695981039346656037ull);

}  // namespace stoker
