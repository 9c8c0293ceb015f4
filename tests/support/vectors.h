// Readers for the Prometheus conformance vectors in tests/data/prometheus.
#pragma once

#include <boost/json.hpp>
#include <string>

#include "model/relabel.h"

namespace stoker::test {

// Parses tests/data/prometheus/<name>; fails the running test if it is missing.
boost::json::value load_vectors(const std::string& name);

// A relabel config as the vectors write it. `raw` configs are Go struct values
// without defaults (a null regex is not the default object); otherwise the
// harness defaults are applied already and "(.*)" stands for the default regex.
RelabelConfig relabel_config_from_json(const boost::json::object& o, bool raw);

}  // namespace stoker::test
