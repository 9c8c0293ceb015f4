// A small JFR chunk writer for tests of stoker's reader: the format as the
// JDK and async-profiler write it (header, events, one checkpoint, the
// metadata event), with compressed or fixed-size integers, strings in every
// encoding, and event types shaped like async-profiler's (contextId, spanId,
// spanName after the JDK's fields, an extra field before weight) so that
// the reader must follow the metadata. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

namespace stoker::test {

class JfrWriter {
 public:
  struct Frame {
    std::string cls, method;
    int line = 0;
  };
  // String encodings the writer uses for symbols, in turn.
  explicit JfrWriter(bool compressed, int64_t key_base = 1);

  // A stack trace constant (leaf first); returns its key.
  int64_t stack(const std::vector<Frame>& frames);
  // jdk.ExecutionSample with async-profiler's fields (0 / "" for none) and a
  // thread state (STATE_RUNNABLE, STATE_SLEEPING).
  void cpu(int64_t stack, int64_t context_id, uint64_t span_id, const std::string& span_name,
           const std::string& state = "STATE_RUNNABLE");
  void alloc(int64_t stack, int64_t weight);
  void monitor(int64_t stack, int64_t duration_ticks);
  // jdk.ActiveSetting for event type `event` (jdk.ExecutionSample's id when
  // `for_cpu`).
  void setting(const std::string& name, const std::string& value, bool for_cpu = true);

  std::string chunk() const;

 private:
  std::string var(uint64_t v) const;
  std::string integer(int64_t v, int fixed_bytes) const;
  std::string str(const std::string& s, int encoding) const;
  std::string event(uint64_t type, const std::string& payload) const;

  bool compressed_;
  int64_t next_key_;
  std::string events_;
  // Constant pools: (type id, entries (key, encoded value)).
  std::vector<std::pair<int64_t, std::string>> symbols_, classes_, methods_, stacks_, states_,
      strings_;
  int encoding_turn_ = 0;
  int64_t symbol(const std::string& s);
  int64_t state(const std::string& s);
};

}  // namespace stoker::test
