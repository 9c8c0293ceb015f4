#include "tests/support/push_receiver.h"

#include "pprof/pprof_decode.h"
#include "proto/push.pb.h"

namespace stoker::test {

PushReceiver::PushReceiver(int port, Policy policy) : policy_(std::move(policy)) {
  server_ =
      std::make_unique<TestServer>([this](const RecordedRequest& r) { return handle(r); }, port);
}

void PushReceiver::set_policy(Policy p) {
  std::lock_guard lock(mu_);
  policy_ = std::move(p);
}

std::vector<ReceivedProfile> PushReceiver::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

std::vector<std::string> PushReceiver::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

std::vector<PushReceiver::Attempt> PushReceiver::attempts() const {
  std::lock_guard lock(mu_);
  return attempts_;
}

RawResponse PushReceiver::handle(const RecordedRequest& req) {
  auto invalid = [&](const std::string& why) {
    std::lock_guard lock(mu_);
    errors_.push_back(why);
    attempts_.push_back({400, 0, {}});
    return RawResponse{TestServer::response(
        400, "application/json", "{\"code\":\"invalid_argument\",\"message\":\"" + why + "\"}")};
  };
  if (req.method != "POST" || req.target != "/push.v1.PusherService/Push")
    return invalid("unexpected request " + req.method + " " + req.target);
  if (req.header("content-type") != "application/proto")
    return invalid("content-type " + req.header("content-type"));
  if (req.header("connect-protocol-version") != "1") return invalid("no connect-protocol-version");
  push::v1::PushRequest pr;
  if (!pr.ParseFromString(req.body)) return invalid("body is not a PushRequest");
  std::vector<ReceivedProfile> got;
  std::vector<Labels> series;
  for (const auto& s : pr.series()) {
    Labels labels;
    for (const auto& l : s.labels()) {
      if (labels.has(l.name())) return invalid("duplicate label " + l.name());
      labels.set(l.name(), l.value());
    }
    if (labels.get("__name__").empty()) return invalid("series without __name__");
    if (s.samples_size() == 0) return invalid("series without samples");
    series.push_back(labels);
    for (const auto& sample : s.samples()) {
      if (!pprof::is_gzip(sample.raw_profile())) return invalid("raw_profile is not gzipped");
      auto d = pprof::decode(sample.raw_profile());
      if (!d.ok()) return invalid("invalid pprof: " + d.error());
      got.push_back({labels, std::shared_ptr<perftools::profiles::Profile>(std::move(*d)), 0});
    }
  }
  Policy policy;
  {
    std::lock_guard lock(mu_);
    policy = policy_;
  }
  int status = policy ? policy(series) : 200;
  std::lock_guard lock(mu_);
  attempts_.push_back({status, got.size(), series});
  if (status != 200) {
    return RawResponse{TestServer::response(status, "text/plain",
                                            "status " + std::to_string(status) + " by policy")};
  }
  for (auto& g : got) {
    g.request = accepted_requests_;
    received_.push_back(std::move(g));
  }
  ++accepted_requests_;
  return RawResponse{TestServer::response(200, "application/proto", "")};
}

}  // namespace stoker::test
