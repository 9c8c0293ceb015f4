// KubernetesOptions: knobs of Kubernetes discovery that are not in the config
// (tests and benchmarks shorten them). Plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace stoker {

struct KubernetesOptions {
  std::string service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  std::chrono::milliseconds min_backoff{800}, max_backoff{30000};
  // Watch timeoutSeconds is random in [min, 2·min) like client-go's reflector.
  std::chrono::seconds min_watch_timeout{300};
  uint64_t max_list_bytes = 512ull << 20;  // a LIST response larger than this fails
};

}  // namespace stoker
