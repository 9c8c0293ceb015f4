// Opening a profile file someone hands over — `stoker view FILE…` and the
// page's "Open a profile" — as profiles for the ingest pipeline.
//
// The format is read from the bytes, not the name: pprof (raw or gzipped
// protobuf), Java Flight Recorder (raw or gzipped, one profile per event
// type) or folded stacks ("a;b;c 12" per line, root first; a `.suffix` before
// the extension names the type as Pyroscope's collapsed uploads do, e.g.
// app.alloc_space.folded; none means cpu). Each profile is stored with
// service_name = the file name without its extensions, source="upload",
// file = the file name, and its own __name__ (Pyroscope's naming of an
// uploaded pprof). Pure functions but prepare_file(), which uses a Pipeline.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ingest/pipeline.h"
#include "model/labels.h"
#include "model/status.h"
#include "pprof/view.h"

namespace stoker::ingest {

struct FileProfile {
  std::shared_ptr<pprof::View> view;
  std::string series_name;  // __name__
};

struct OpenedFile {
  std::string format;  // pprof, jfr, folded
  std::vector<FileProfile> profiles;
};

// Reads `bytes` (the content of file `name`). A failure names the file and
// says what it is not; inflated data is limited to `max_inflated` bytes.
Result<OpenedFile> open_profile_file(std::string_view name, std::string_view bytes,
                                     const pprof::Limits& limits, size_t max_inflated);

// The service_name a file's profiles get: its name without directory and
// extensions, up to the first dot (cpu.pb.gz → cpu).
std::string file_service_name(std::string_view name);

// The series labels of a file's profile (see above), then `extra` over them.
Labels file_labels(std::string_view name, const std::string& series_name, const Labels& extra);

// The file's profiles prepared for the store, all or none, at `now_ns` (the
// time of the upload: what the page shows first, and retention never drops a
// file the moment it is opened); the profiles keep their own time inside.
struct FileInput {
  std::string_view name, bytes;
  Labels extra;                                // over the file's labels
  std::shared_ptr<const LabelPolicy> policy;  // never null
  int64_t now_ns = 0;
  pprof::Limits limits;
  size_t max_inflated = 64u << 20;
};
Result<std::vector<Prepared>> prepare_file(Pipeline& pipeline, const FileInput& in,
                                           std::string* format);

}  // namespace stoker::ingest
