// Helpers for tests that run real processes and files: spawn/kill child
// processes, capture command output, temporary directories, free ports.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace stoker::test {

// A child process, killed (SIGKILL) on destruction if still running.
class Child {
 public:
  // Starts argv[0] with stdout/stderr appended to `log_path` ("" = inherit).
  Child(const std::vector<std::string>& argv, const std::string& log_path = "");
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  pid_t pid() const { return pid_; }
  // Sends `sig` and waits up to `timeout_ms`; returns the exit status, or -1 if
  // it did not exit in time, or 128+signal if killed by a signal.
  int stop(int sig, int timeout_ms);
  bool running();

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Runs a shell command and returns its stdout; `status` receives the exit status.
std::string run_command(const std::string& cmd, int* status = nullptr);

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

void write_file(const std::string& path, const std::string& data);
std::string read_file(const std::string& path);

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port();

// A listening socket on 127.0.0.1:`port` (0: ephemeral); `*bound` receives the
// port. Throws std::runtime_error naming `who` when it cannot listen.
int listen_loopback(int port, int backlog, int* bound, const char* who);

// Polls `pred` every 50 ms until it holds or `timeout_ms` passes.
bool wait_for(const std::function<bool()>& pred, int timeout_ms);

// A blocking HTTP GET on 127.0.0.1 that returns the status and body ("" body on error).
int http_get(int port, const std::string& target, std::string* body);

struct HttpReply {
  int status = 0;                                            // 0: no answer
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-case
  std::string body;
  std::string header(const std::string& name) const;
};
// A blocking HTTP/1.1 request on 127.0.0.1 (Connection: close). With `chunked`
// the body is sent with Transfer-Encoding: chunked, in two chunks.
HttpReply http_request(int port, const std::string& method, const std::string& target,
                       const std::vector<std::pair<std::string, std::string>>& headers,
                       const std::string& body, bool chunked = false);

}  // namespace stoker::test
