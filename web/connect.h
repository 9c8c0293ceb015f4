// The Connect protocol for unary calls, as Grafana's data source (binary
// protobuf), Pyroscope's UI and Grafana's Profiles Drilldown app (JSON) speak it
// to a Pyroscope server: POST only, `application/proto` or `application/json`,
// optional gzip request bodies, an empty proto body is an empty message, the
// answer in the request's codec, errors as `{"code": "...", "message": "..."}`
// with Connect's HTTP statuses. See shared/reference/pyroscope-query-api.md §3.
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>

#include "model/status.h"
#include "net/http_server.h"

namespace google::protobuf {
class Message;
}

namespace stoker::connect {

enum class Code {
  kCanceled,
  kUnknown,
  kInvalidArgument,
  kDeadlineExceeded,
  kNotFound,
  kResourceExhausted,
  kFailedPrecondition,
  kUnimplemented,
  kInternal,
  kUnavailable,
  kUnauthenticated,
};

// "invalid_argument", … and the HTTP status Connect maps each code to.
const char* code_name(Code c);
int http_status(Code c);

// A Connect error response (also used by the /pyroscope/* handlers).
WebResponse error(Code code, const std::string& message);
// The Connect code for a Status code (same names), and the error response
// for a failed Status.
Code code_of(Status::Code c);
WebResponse error(const Status& s);

struct Codec {
  bool json = false;
};

// Checks the method, content type, protocol version and request encoding, and
// parses the body into `msg`. Returns the refusal to send (a response, since
// Connect prescribes its status and headers: 405 with Allow, 415 with
// Accept-Post) when the request cannot be taken; nullopt when `msg` and
// `codec` are ready.
std::optional<WebResponse> decode(const WebRequest& req, google::protobuf::Message* msg,
                                  Codec* codec);
// `msg` in the request's codec, with the matching Content-Type.
WebResponse encode(const google::protobuf::Message& msg, const Codec& codec);

}  // namespace stoker::connect
