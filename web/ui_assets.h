// The web page's files (ui/), embedded in the binary at build time by
// cmake/embed_ui.cmake, so stoker serves its page offline from one file.
#pragma once

#include <cstddef>
#include <string_view>

namespace stoker::ui {

struct Asset {
  const char* path;  // URL path, e.g. /ui/app.js
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

extern const Asset kAssets[];
extern const size_t kAssetCount;

// The asset at `path`, or nullptr.
inline const Asset* find(std::string_view path) {
  for (size_t i = 0; i < kAssetCount; ++i) {
    if (path == kAssets[i].path) return &kAssets[i];
  }
  return nullptr;
}

}  // namespace stoker::ui
