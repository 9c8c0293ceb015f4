// Kubernetes objects → target groups, the way Prometheus' kubernetes_sd builds
// them (shared/reference/prometheus-model.md §3.3–3.4): meta label names,
// sanitization, one group per object with source "<role>/<namespace>/<name>".
//
// The Store holds the objects a discoverer has listed and watched, as the API's
// JSON; builders read what they need from it (a pod's node, namespace, owning
// ReplicaSet or Job for attach_metadata). Pure and single-threaded.
#pragma once

#include <boost/json/object.hpp>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "config/config.h"
#include "discovery/target_group.h"

namespace stoker::kube {

using stoker::sanitize_label_name;  // model/labels.h

// Objects by kind ("Pod", "Node", "Namespace", "ReplicaSet", "Job", …) and
// "namespace/name" (cluster-scoped objects: "/name"), slimmed and kept as
// compact JSON text.
class Store {
 public:
  using Object = boost::json::object;
  // Inserts or replaces; returns false if the object has no metadata.name.
  bool put(const std::string& kind, Object obj);
  // Removes; returns the removed object's existence.
  bool remove(const std::string& kind, const std::string& ns, const std::string& name);
  // A copy of the stored (slim) object, parsed from its compact form.
  std::optional<Object> get(const std::string& kind, const std::string& ns,
                            const std::string& name) const;
  void each(const std::string& kind, const std::function<void(const Object&)>& fn) const;
  size_t size(const std::string& kind) const;
  void clear(const std::string& kind);

 private:
  std::map<std::string, std::map<std::string, std::string>> objects_;  // serialized
};

// The parts of an API object that the group builders read (names, labels,
// annotations, owner references, the fields each role uses); managedFields,
// resource requests, probes and the like are dropped, which keeps a large
// cluster's store small.
boost::json::object slim(const std::string& kind, const boost::json::object& obj);

// "namespace/name" of an object, from its metadata.
std::string key_of(const boost::json::object& obj);
std::string namespace_of(const boost::json::object& obj);
std::string name_of(const boost::json::object& obj);

// role: pod. An empty group (no targets, no labels) when the pod has no IP yet,
// or when attach_metadata.node is on and its node is not in the store.
TargetGroup pod_group(const boost::json::object& pod, const Store& store,
                      const KubernetesSdConfig& cfg);
// role: node (kubelet endpoint), service, endpoints, endpointslice, ingress.
TargetGroup node_group(const boost::json::object& node);
TargetGroup service_group(const boost::json::object& svc);
TargetGroup endpoints_group(const boost::json::object& eps, const Store& store);
TargetGroup endpointslice_group(const boost::json::object& slice, const Store& store);
TargetGroup ingress_group(const boost::json::object& ing);

// The source of the group an object of `role` produces: "pod/ns/name", …
std::string source_of(const std::string& role, const boost::json::object& obj);

// Turns object events of one kubernetes_sd_config into target-group updates:
// keeps the Store, rebuilds the groups an event affects (a pod's own group; the
// pods on a node, in a namespace or under a ReplicaSet/Job for attach_metadata;
// the endpoints of a service or pod) and returns only groups that differ from
// what it returned before, so a relist that changes nothing causes no churn.
class GroupBuilder {
 public:
  explicit GroupBuilder(KubernetesSdConfig cfg);
  // The kinds to list and watch for this config, the role's own kind first.
  std::vector<std::string> kinds() const;
  // ADDED/MODIFIED (`deleted` false) or DELETED of one object.
  std::vector<TargetGroup> apply(const std::string& kind, const boost::json::object& obj,
                                 bool deleted);
  // Replaces every object of `kind` in namespace `ns` ("" = all namespaces)
  // with `objects` (a full list), as a series of events; returns the changed
  // groups. Unchanged objects produce nothing.
  std::vector<TargetGroup> replace(const std::string& kind, const std::string& ns,
                                   std::vector<boost::json::object> objects);
  // Every non-empty group, rebuilt from the store.
  std::vector<TargetGroup> current() const;
  const Store& store() const { return store_; }
  size_t groups() const { return last_.size(); }

 private:
  TargetGroup build(const boost::json::object& obj) const;
  void rebuild(const std::string& kind, const boost::json::object& obj, bool deleted,
               std::vector<TargetGroup>* out);
  void emit(TargetGroup g, std::vector<TargetGroup>* out);

  KubernetesSdConfig cfg_;
  std::string kind_;  // the role's own kind: Pod, Service, Endpoints, …
  Store store_;
  // What was last returned per source, as a hash of labels and targets (the
  // consumer keeps the groups themselves); empty groups are not kept.
  std::map<std::string, uint64_t> last_;
};

// The API kind behind a role ("pod" → "Pod").
std::string kind_of_role(const std::string& role);

}  // namespace stoker::kube
