#include "web/connect.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <boost/json.hpp>

#include "pprof/pprof_decode.h"

namespace stoker::connect {

namespace {

constexpr size_t kMaxInflated = 16u << 20;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The media type without parameters, lower-case.
std::string media_type(const std::string& content_type) {
  std::string t = lower(content_type.substr(0, content_type.find(';')));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  return t;
}

}  // namespace

const char* code_name(Code c) {
  switch (c) {
    case Code::kCanceled:
      return "canceled";
    case Code::kUnknown:
      return "unknown";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kDeadlineExceeded:
      return "deadline_exceeded";
    case Code::kNotFound:
      return "not_found";
    case Code::kResourceExhausted:
      return "resource_exhausted";
    case Code::kFailedPrecondition:
      return "failed_precondition";
    case Code::kUnimplemented:
      return "unimplemented";
    case Code::kInternal:
      return "internal";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kUnauthenticated:
      return "unauthenticated";
  }
  return "unknown";
}

int http_status(Code c) {
  switch (c) {
    case Code::kCanceled:
      return 499;
    case Code::kInvalidArgument:
    case Code::kFailedPrecondition:
      return 400;
    case Code::kDeadlineExceeded:
      return 504;
    case Code::kNotFound:
      return 404;
    case Code::kResourceExhausted:
      return 429;
    case Code::kUnimplemented:
      return 501;
    case Code::kUnavailable:
      return 503;
    case Code::kUnauthenticated:
      return 401;
    case Code::kUnknown:
    case Code::kInternal:
      return 500;
  }
  return 500;
}

WebResponse error(Code code, const std::string& message) {
  boost::json::object o;
  o["code"] = code_name(code);
  o["message"] = message;
  WebResponse r;
  r.status = http_status(code);
  r.content_type = "application/json";
  r.body = boost::json::serialize(o);
  return r;
}

Code code_of(Status::Code c) {
  switch (c) {
    case Status::Code::kOk:
    case Status::Code::kInternal:
      return Code::kInternal;
    case Status::Code::kInvalidArgument:
      return Code::kInvalidArgument;
    case Status::Code::kNotFound:
      return Code::kNotFound;
    case Status::Code::kResourceExhausted:
      return Code::kResourceExhausted;
    case Status::Code::kDeadlineExceeded:
      return Code::kDeadlineExceeded;
    case Status::Code::kUnavailable:
      return Code::kUnavailable;
    case Status::Code::kFailedPrecondition:
      return Code::kFailedPrecondition;
    case Status::Code::kUnimplemented:
      return Code::kUnimplemented;
  }
  return Code::kUnknown;
}

WebResponse error(const Status& s) {
  return error(code_of(s.code()), s.message());
}

std::optional<WebResponse> decode(const WebRequest& req, google::protobuf::Message* msg,
                                  Codec* codec) {
  if (req.method != "POST") {
    WebResponse r = error(Code::kUnimplemented, req.method + " is not allowed; use POST");
    r.status = 405;
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  std::string type = media_type(req.header("content-type"));
  if (type == "application/json") {
    codec->json = true;
  } else if (type == "application/proto") {
    codec->json = false;
  } else {
    WebResponse r =
        error(Code::kUnknown, "unsupported content type \"" + req.header("content-type") +
                                  "\"; use application/proto or application/json");
    r.status = 415;
    r.headers.emplace_back("Accept-Post", "application/json, application/proto");
    return r;
  }
  std::string version = req.header("connect-protocol-version");
  if (!version.empty() && version != "1") {
    return error(Code::kInvalidArgument,
                 "connect-protocol-version must be \"1\": got \"" + version + "\"");
  }
  const std::string* body = &req.body;
  std::string inflated;
  std::string encoding = lower(req.header("content-encoding"));
  if (encoding == "gzip") {
    if (Status s = pprof::gunzip(req.body, kMaxInflated, &inflated); !s.ok()) {
      return error(Code::kInvalidArgument, "invalid gzip request body: " + s.message());
    }
    body = &inflated;
  } else if (!encoding.empty() && encoding != "identity") {
    return error(Code::kUnimplemented,
                 "unsupported request compression \"" + encoding + "\" (supported: gzip)");
  }
  if (codec->json) {
    if (body->empty()) {
      return error(Code::kInvalidArgument, "zero-length payload is not a valid JSON object");
    }
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    auto st = google::protobuf::util::JsonStringToMessage(*body, msg, opts);
    if (!st.ok()) {
      return error(Code::kInvalidArgument,
                   "cannot read the JSON request: " + std::string(st.message()));
    }
  } else if (!msg->ParseFromString(*body)) {
    return error(Code::kInvalidArgument, "cannot read the protobuf request body");
  }
  return std::nullopt;
}

WebResponse encode(const google::protobuf::Message& msg, const Codec& codec) {
  WebResponse r;
  if (codec.json) {
    r.content_type = "application/json";
    google::protobuf::util::JsonPrintOptions opts;
    auto st = google::protobuf::util::MessageToJsonString(msg, &r.body, opts);
    if (!st.ok()) return error(Code::kInternal, "cannot encode the answer as JSON");
  } else {
    r.content_type = "application/proto";
    msg.SerializeToString(&r.body);
  }
  return r;
}

}  // namespace stoker::connect
