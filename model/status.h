// Status and Result<T>: the one way fallible operations report failure, in
// every layer's public headers.
//
// An expected failure (a target is down, a profile is malformed, a config
// value is wrong, a database cannot be opened) is a value: a Status with a
// code and a message a user can act on. Success is the default-constructed
// Status. Result<T> holds either a T or a failed Status. The code says how a
// caller should treat the failure (the web layer maps it to an HTTP status or
// a Connect code); the message says what went wrong and, where the callee
// knows it, where. Exceptions stay for programming errors.
//
// Plain values; thread-compatible.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace stoker {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,     // the input is wrong; retrying the same input fails again
    kNotFound,            // what was asked for does not exist
    kResourceExhausted,   // a size or count limit was hit
    kDeadlineExceeded,    // it took longer than allowed
    kUnavailable,         // a transient condition (queue full, peer down): retry later
    kFailedPrecondition,  // the system is not in a state to do it (e.g. disabled)
    kUnimplemented,       // not supported
    kInternal,            // something that should not happen (I/O, database)
  };

  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status invalid(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status exhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
  static Status deadline(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
  static Status unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status precondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
  static Status unimplemented(std::string m) { return {Code::kUnimplemented, std::move(m)}; }
  static Status internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  // A failure of `code` when `message` is not empty, else OK: for helpers
  // that only produce a message.
  static Status from_message(std::string message, Code code = Code::kInvalidArgument) {
    return message.empty() ? Status() : Status(code, std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // The same failure with `prefix + ": "` before its message (OK stays OK).
  Status context(const std::string& prefix) const {
    if (ok()) return *this;
    return {code_, prefix.empty() ? message_ : prefix + ": " + message_};
  }
  // Lowercase code name (invalid_argument, unavailable, …) for logs and metrics.
  const char* code_name() const { return code_name(code_); }
  static const char* code_name(Code c) {
    switch (c) {
      case Code::kOk:
        return "ok";
      case Code::kInvalidArgument:
        return "invalid_argument";
      case Code::kNotFound:
        return "not_found";
      case Code::kResourceExhausted:
        return "resource_exhausted";
      case Code::kDeadlineExceeded:
        return "deadline_exceeded";
      case Code::kUnavailable:
        return "unavailable";
      case Code::kFailedPrecondition:
        return "failed_precondition";
      case Code::kUnimplemented:
        return "unimplemented";
      case Code::kInternal:
        return "internal";
    }
    return "unknown";
  }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a failed Status. Constructing one from an OK Status is a
// programming error.
template <typename T>
class [[nodiscard]] Result {
 public:
  // A failure saying there is no result yet (coroutine machinery needs a
  // default constructor).
  Result() : v_(std::in_place_index<1>, Status::internal("no result")) {}
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : v_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(v_).ok());
  }

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  // OK for a value, else the failure.
  Status status() const { return ok() ? Status() : std::get<1>(v_); }
  const std::string& error() const {
    static const std::string kNone;
    return ok() ? kNone : std::get<1>(v_).message();
  }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T value_or(T fallback) const& { return ok() ? value() : std::move(fallback); }

  friend bool operator==(const Result& r, const T& v) { return r.ok() && r.value() == v; }

 private:
  std::variant<T, Status> v_;
};

}  // namespace stoker
