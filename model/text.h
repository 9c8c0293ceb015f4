// Small text encodings shared by every layer: base64 (RFC 4648, standard
// alphabet) and escaping for HTML/XML text and attributes. Pure functions,
// thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace stoker {

// Decodes standard base64 with or without padding; whitespace is skipped.
// nullopt for any other character or data after padding.
std::optional<std::string> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

// Escapes & < > " ' for HTML and XML; control characters other than tab,
// newline and carriage return (not allowed in XML) become spaces.
std::string xml_escape(std::string_view s);

}  // namespace stoker
