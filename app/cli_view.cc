// `stoker view FILE…`: the `go tool pprof -http` habit. The files are stored
// (a temporary database unless --storage.path names one) and stoker serves its
// page on them, printing the URL that shows them: one file alone, several
// merged, or with --diff-base the diff of the files against the base.
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "app/cli.h"
#include "app/cli_args.h"
#include "app/cli_query.h"
#include "app/process.h"
#include "ingest/open_file.h"
#include "model/selector.h"
#include "net/asio_pch.h"
#include "query/engine.h"
#include "storage/storage.h"

namespace stoker::cli {

namespace {

constexpr uint64_t kMaxFileBytes = 1ULL << 30;

Status read_whole(const std::string& path, std::string* out) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::not_found("cannot read " + path + ": " + ec.message());
  if (size > kMaxFileBytes) {
    return Status::exhausted(path + " is " + std::to_string(size >> 20) +
                             " MiB; stoker view opens files up to 1 GiB");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found("cannot read " + path + ": " + std::strerror(errno));
  out->resize(size);
  in.read(out->data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in.gcount()) != size) return Status::internal("short read of " + path);
  return {};
}

std::string regex_quote(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (std::strchr("\\.+*?()|[]{}^$", c) != nullptr) out += '\\';
    out += c;
  }
  return out;
}

// A selector value in double quotes.
std::string selector_quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string file_selector(const std::string& service, const std::vector<std::string>& names) {
  std::string svc = "{service_name=" + selector_quote(service) + ",";
  if (names.size() == 1) return svc + "file=" + selector_quote(names[0]) + "}";
  std::string re;
  for (const auto& n : names) re += (re.empty() ? "" : "|") + regex_quote(n);
  return svc + "file=~" + selector_quote(re) + "}";
}

std::string url_escape(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || std::strchr("-_.~:", c) != nullptr) {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

int free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acc(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return acc.local_endpoint().port();
}

}  // namespace

int cmd_view(const Args& a, const std::string& self) {
  const char* usage =
      "usage: stoker view [--diff-base FILE] [--storage.path DB] [--web.listen-address A] "
      "[--source-path FROM=TO,DIR,…] FILE...";
  std::vector<std::string> files(a.positional.begin() + 1, a.positional.end());
  auto base = flag(a, "--diff-base");
  if (files.empty()) return fail(usage, 2);
  std::string db;
  // Without --storage.path the files are only opened, not kept: the
  // temporary database goes on every way out (a bad file included).
  struct TempDir {
    std::string path;
    ~TempDir() {
      std::error_code ec;
      if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
  } temp_dir;
  if (auto p = flag(a, "--storage.path")) {
    db = *p;
  } else {
    std::string tmpl = (std::filesystem::temp_directory_path() / "stoker-view-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) return fail("cannot create a temporary directory");
    temp_dir.path = tmpl;
    db = tmpl + "/stoker.db";
  }
  std::vector<std::string> names, base_names;
  int64_t first_ns = 0;
  std::string first_type;
  {
    StorageConfig sc;
    sc.path = db;
    sc.retention = std::chrono::hours(24 * 365 * 100);
    sc.max_size = 0;
    auto storage = Storage::open(sc);
    if (!storage) return fail(storage.status().message());
    ingest::Pipeline pipeline(storage->get(), nullptr);
    auto policy = std::make_shared<ingest::LabelPolicy>();
    // One service for the files of one invocation: the page shows them together.
    const std::string service = ingest::file_service_name(files[0]);
    std::vector<ingest::Prepared> batch;
    auto load = [&](const std::string& path, std::vector<std::string>* into) -> Status {
      std::string bytes;
      if (Status s = read_whole(path, &bytes); !s.ok()) return s;
      ingest::FileInput in;
      in.name = path;
      in.bytes = bytes;
      in.policy = policy;
      in.extra.set("service_name", service);
      in.now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
      in.max_inflated = kMaxFileBytes;
      std::string format;
      auto prepared = ingest::prepare_file(pipeline, in, &format);
      if (!prepared) return prepared.status();
      into->push_back(std::filesystem::path(path).filename().string());
      for (auto& p : *prepared) {
        for (const auto& r : p.records) {
          if (first_type.empty()) {
            first_type = r.labels.get("__name__");
            first_ns = r.scrape_time_ns;
          }
        }
        batch.push_back(std::move(p));
      }
      std::printf("%s: %s, %zu profile(s)\n", path.c_str(), format.c_str(), prepared->size());
      return {};
    };
    for (const auto& f : files) {
      if (Status s = load(f, &names); !s.ok()) return fail(s.message());
    }
    if (base) {
      if (Status s = load(*base, &base_names); !s.ok()) return fail(s.message());
    }
    if (batch.empty()) return fail("the files hold no samples to show");
    auto ticket = pipeline.store(std::move(batch));
    if (!ticket) return fail(ticket.status().message());
    if (Status s = pipeline.wait_committed(*ticket, std::chrono::minutes(10)); !s.ok()) {
      return fail(s.message());
    }
  }
  // The page's URL: the profiles' type and a range around them.
  const std::string service = ingest::file_service_name(files[0]);
  std::string selector = file_selector(service, names);
  std::string type_id = first_type;
  {
    auto engine = query::Engine::open(db, query::Limits{});
    if (!engine) return fail(engine.status().message());
    const int64_t ms = first_ns / 1'000'000;
    (void)(*engine)->default_profile_type(first_type, selector, ms - 60'000, ms + 60'000,
                                          &type_id);
  }
  const int64_t ms = first_ns / 1'000'000;
  std::string range = "&from=" + std::to_string(ms - 60'000) + "&until=" + std::to_string(ms + 60'000);
  std::string listen = flag(a, "--web.listen-address").value_or("127.0.0.1:" + std::to_string(free_port()));
  std::string host = listen.substr(0, listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  std::string port = listen.substr(listen.rfind(':') + 1);
  std::string path =
      base ? "/diff?type=" + url_escape(type_id) + "&query=" + url_escape(file_selector(service, base_names)) +
                 range + "&rightQuery=" + url_escape(selector) + "&rightFrom=" +
                 std::to_string(ms - 60'000) + "&rightUntil=" + std::to_string(ms + 60'000)
           : "/?type=" + url_escape(type_id) + "&query=" + url_escape(selector) + range;
  // A config of its own: no scraping, this database, kept as long as it lives.
  std::string config = std::filesystem::path(db).parent_path().string();
  config = (config.empty() ? std::string(".") : config) + "/stoker-view.yaml";
  {
    std::ofstream c(config, std::ios::trunc);
    c << "storage:\n  path: " << selector_quote(std::filesystem::absolute(db).string())
      << "\n  retention: 36500d\n  max_size: 0\nweb:\n  listen_address: " << selector_quote(listen)
      << "\nscrape_configs: []\n";
    auto paths = source_path_pairs(flag(a, "--source-path").value_or(""));
    if (!paths.empty()) {
      c << "source:\n  paths:\n";
      for (const auto& [from, to] : paths) {
        c << "    - from: " << selector_quote(from) << "\n      to: "
          << selector_quote(std::filesystem::absolute(to).string()) << "\n";
      }
    }
    if (!c) return fail("cannot write " + config);
  }
  std::printf("Serving the page at http://%s:%s%s\n", host.c_str(), port.c_str(), path.c_str());
  std::fflush(stdout);
  ProcessOptions opts;
  opts.config_file = config;
  opts.self = self;
  return Process(std::move(opts)).run();
}

}  // namespace stoker::cli
