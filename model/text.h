// Small text encodings shared by every layer: base64 (RFC 4648, standard
// alphabet), strict UTF-8, escaping for HTML/XML text and attributes, URL query strings. Pure functions,
// thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/status.h"

namespace stoker {

// Decodes standard base64 with or without padding; whitespace is skipped.
// A failure for any other character or data after padding.
Result<std::string> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

// The length (1–4) of the valid UTF-8 character `s` starts with, or 0 when
// none starts there: a stray continuation byte, a truncated or overlong
// sequence, a surrogate or a code point past U+10FFFF (what protobuf refuses
// in a string). 0 for an empty `s`.
size_t utf8_char_length(std::string_view s);

// Escapes & < > " ' for HTML and XML; control characters other than tab,
// newline and carriage return (not allowed in XML) become spaces.
std::string xml_escape(std::string_view s);

// URL query parameters: `a=1&b=x%20y&a=2` → {a: [1, 2], b: ["x y"]} ('+' is a
// space). Malformed escapes are kept as they are.
std::map<std::string, std::vector<std::string>> parse_query_string(std::string_view query);

}  // namespace stoker
