#include "discovery/kube_objects.h"

#include <boost/json.hpp>
#include <set>

namespace stoker::kube {

namespace json = boost::json;

namespace {

const json::object kEmpty;
const json::array kNoItems;

const json::object& obj(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_object() ? v->get_object() : kEmpty;
}
const json::array& arr(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_array() ? v->get_array() : kNoItems;
}
std::string str(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (!v) return "";
  if (v->is_string()) return std::string(v->get_string());
  if (v->is_int64()) return std::to_string(v->get_int64());
  if (v->is_uint64()) return std::to_string(v->get_uint64());
  if (v->is_bool()) return v->get_bool() ? "true" : "false";
  return "";
}
bool flag(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_bool() && v->get_bool();
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// net.JoinHostPort: IPv6 addresses are bracketed.
std::string join_host_port(const std::string& host, const std::string& port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port;
  return host + ":" + port;
}

// Labels and annotations of `meta` as <prefix>label_<name>, <prefix>labelpresent_<name>, …
void add_meta_labels(Labels& out, const json::object& meta, const std::string& prefix) {
  for (const auto& [k, v] : obj(meta, "labels")) {
    std::string name = sanitize_label_name(k);
    out.set(prefix + "label_" + name, v.is_string() ? std::string(v.get_string()) : "");
    out.set(prefix + "labelpresent_" + name, "true");
  }
  for (const auto& [k, v] : obj(meta, "annotations")) {
    std::string name = sanitize_label_name(k);
    out.set(prefix + "annotation_" + name, v.is_string() ? std::string(v.get_string()) : "");
    out.set(prefix + "annotationpresent_" + name, "true");
  }
}

// The ownerReference with controller: true, if any.
const json::object* controller_of(const json::object& o) {
  for (const auto& ref : arr(obj(o, "metadata"), "ownerReferences")) {
    if (ref.is_object() && flag(ref.get_object(), "controller")) return &ref.get_object();
  }
  return nullptr;
}

const std::string kPrefix = "__meta_kubernetes_";
// Marks an object slim() already produced (not an API field).
constexpr const char* kSlimMark = "_stoker_slim";

// podLabels: the pod's group labels.
Labels pod_labels(const json::object& pod) {
  const auto& meta = obj(pod, "metadata");
  const auto& status = obj(pod, "status");
  Labels ls;
  ls.set(kPrefix + "namespace", str(meta, "namespace"));
  ls.set(kPrefix + "pod_name", str(meta, "name"));
  ls.set(kPrefix + "pod_ip", str(status, "podIP"));
  std::string ready = "unknown";
  for (const auto& c : arr(status, "conditions")) {
    if (c.is_object() && str(c.get_object(), "type") == "Ready")
      ready = lower(str(c.get_object(), "status"));
  }
  ls.set(kPrefix + "pod_ready", ready);
  ls.set(kPrefix + "pod_phase", str(status, "phase"));
  ls.set(kPrefix + "pod_node_name", str(obj(pod, "spec"), "nodeName"));
  ls.set(kPrefix + "pod_host_ip", str(status, "hostIP"));
  ls.set(kPrefix + "pod_uid", str(meta, "uid"));
  add_meta_labels(ls, meta, kPrefix + "pod_");
  if (const auto* ctl = controller_of(pod)) {
    ls.set(kPrefix + "pod_controller_kind", str(*ctl, "kind"));
    ls.set(kPrefix + "pod_controller_name", str(*ctl, "name"));
  }
  return ls;
}

// Container labels of a pod target (without the address and port labels).
void container_labels(Labels& t, const json::object& c, const std::string& id, bool init) {
  t.set(kPrefix + "pod_container_name", str(c, "name"));
  t.set(kPrefix + "pod_container_id", id);
  t.set(kPrefix + "pod_container_image", str(c, "image"));
  t.set(kPrefix + "pod_container_init", init ? "true" : "false");
}

void port_labels(Labels& t, const json::object& port) {
  t.set(kPrefix + "pod_container_port_name", str(port, "name"));
  t.set(kPrefix + "pod_container_port_number", str(port, "containerPort"));
  t.set(kPrefix + "pod_container_port_protocol", str(port, "protocol"));
}

std::string container_id(const json::object& status, bool init, const std::string& name) {
  for (const auto& s : arr(status, init ? "initContainerStatuses" : "containerStatuses")) {
    if (s.is_object() && str(s.get_object(), "name") == name)
      return str(s.get_object(), "containerID");
  }
  return "";
}

// Calls fn(container, is_init) for spec.containers then spec.initContainers.
template <typename F>
void each_container(const json::object& pod, F&& fn) {
  const auto& spec = obj(pod, "spec");
  for (const auto& c : arr(spec, "containers")) {
    if (c.is_object()) fn(c.get_object(), false);
  }
  for (const auto& c : arr(spec, "initContainers")) {
    if (c.is_object()) fn(c.get_object(), true);
  }
}

}  // namespace

std::string namespace_of(const json::object& o) {
  return str(obj(o, "metadata"), "namespace");
}
std::string name_of(const json::object& o) {
  return str(obj(o, "metadata"), "name");
}
std::string key_of(const json::object& o) {
  return namespace_of(o) + "/" + name_of(o);
}

bool Store::put(const std::string& kind, Object o) {
  if (name_of(o).empty()) return false;
  std::string key = key_of(o);
  // slim() of a slim object is the same object: lists arrive slimmed already.
  // Kept serialized: a few hundred bytes per pod instead of a JSON tree.
  objects_[kind][key] = json::serialize(o.contains(kSlimMark) ? o : slim(kind, o));
  return true;
}

json::object slim(const std::string& kind, const json::object& o) {
  if (o.contains(kSlimMark)) return o;
  // Copies the listed keys of `from` (those present) into a new object.
  auto pick = [](const json::object& from, std::initializer_list<const char*> keys) {
    json::object out;
    for (const char* k : keys) {
      if (auto* v = from.if_contains(k)) out[k] = *v;
    }
    return out;
  };
  json::object out;
  const auto& meta = obj(o, "metadata");
  json::object m = pick(meta, {"name", "namespace", "uid", "labels", "annotations"});
  json::array owners;
  for (const auto& r : arr(meta, "ownerReferences")) {
    if (r.is_object()) owners.push_back(pick(r.get_object(), {"kind", "name", "controller"}));
  }
  if (!owners.empty()) m["ownerReferences"] = std::move(owners);
  out["metadata"] = std::move(m);
  if (kind == "Pod") {
    const auto& spec = obj(o, "spec");
    json::object sp = pick(spec, {"nodeName"});
    for (const char* list : {"containers", "initContainers"}) {
      json::array cs;
      for (const auto& c : arr(spec, list)) {
        if (!c.is_object()) continue;
        json::object x = pick(c.get_object(), {"name", "image"});
        json::array ports;
        for (const auto& p : arr(c.get_object(), "ports")) {
          if (p.is_object())
            ports.push_back(pick(p.get_object(), {"name", "containerPort", "protocol"}));
        }
        if (!ports.empty()) x["ports"] = std::move(ports);
        cs.push_back(std::move(x));
      }
      if (!cs.empty()) sp[list] = std::move(cs);
    }
    out["spec"] = std::move(sp);
    const auto& status = obj(o, "status");
    json::object st = pick(status, {"podIP", "hostIP", "phase"});
    json::array conds;
    for (const auto& c : arr(status, "conditions")) {
      if (c.is_object() && str(c.get_object(), "type") == "Ready")
        conds.push_back(pick(c.get_object(), {"type", "status"}));
    }
    if (!conds.empty()) st["conditions"] = std::move(conds);
    for (const char* list : {"containerStatuses", "initContainerStatuses"}) {
      json::array ss;
      for (const auto& c : arr(status, list)) {
        if (c.is_object()) ss.push_back(pick(c.get_object(), {"name", "containerID"}));
      }
      if (!ss.empty()) st[list] = std::move(ss);
    }
    out["status"] = std::move(st);
  } else if (kind == "Node") {
    out["spec"] = pick(obj(o, "spec"), {"providerID"});
    out["status"] = pick(obj(o, "status"), {"addresses", "daemonEndpoints"});
  } else if (kind == "Namespace" || kind == "ReplicaSet" || kind == "Job") {
    // metadata is all the builders read
  } else {
    // Services, endpoints, endpoint slices and ingresses are read in full.
    for (const auto& [k, v] : o) {
      if (k != "metadata") out[k] = v;
    }
  }
  out[kSlimMark] = true;
  return out;
}

bool Store::remove(const std::string& kind, const std::string& ns, const std::string& name) {
  auto it = objects_.find(kind);
  return it != objects_.end() && it->second.erase(ns + "/" + name) > 0;
}

namespace {
json::object parse_stored(const std::string& text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return !ec && v.is_object() ? std::move(v.as_object()) : json::object{};
}
}  // namespace

std::optional<Store::Object> Store::get(const std::string& kind, const std::string& ns,
                                        const std::string& name) const {
  auto it = objects_.find(kind);
  if (it == objects_.end()) return std::nullopt;
  auto o = it->second.find(ns + "/" + name);
  if (o == it->second.end()) return std::nullopt;
  return parse_stored(o->second);
}

void Store::each(const std::string& kind, const std::function<void(const Object&)>& fn) const {
  auto it = objects_.find(kind);
  if (it == objects_.end()) return;
  for (const auto& [k, text] : it->second) fn(parse_stored(text));
}

size_t Store::size(const std::string& kind) const {
  auto it = objects_.find(kind);
  return it == objects_.end() ? 0 : it->second.size();
}

void Store::clear(const std::string& kind) {
  objects_.erase(kind);
}

std::string source_of(const std::string& role, const json::object& o) {
  if (role == "node") return "node/" + name_of(o);
  static const std::map<std::string, std::string> kPrefixOf = {{"pod", "pod"},
                                                               {"service", "svc"},
                                                               {"endpoints", "endpoints"},
                                                               {"ingress", "ingress"},
                                                               {"endpointslice", "endpointslice"}};
  auto it = kPrefixOf.find(role);
  return (it == kPrefixOf.end() ? role : it->second) + "/" + namespace_of(o) + "/" + name_of(o);
}

TargetGroup pod_group(const json::object& pod, const Store& store, const KubernetesSdConfig& cfg) {
  TargetGroup tg;
  tg.source = source_of("pod", pod);
  const auto& status = obj(pod, "status");
  std::string ip = str(status, "podIP");
  if (ip.empty()) return tg;  // not scheduled or no network yet
  tg.labels = pod_labels(pod);
  const auto& am = cfg.attach_metadata;
  std::string ns = namespace_of(pod);
  if (am.node) {
    auto node = store.get("Node", "", str(obj(pod, "spec"), "nodeName"));
    if (!node) return TargetGroup{tg.source, {}, {}};  // filtered out by node selectors
    tg.labels.set(kPrefix + "node_name", name_of(*node));
    add_meta_labels(tg.labels, obj(*node, "metadata"), kPrefix + "node_");
  }
  if (am.namespace_) {
    if (auto n = store.get("Namespace", "", ns)) {
      add_meta_labels(tg.labels, obj(*n, "metadata"), kPrefix + "namespace_");
    }
  }
  if (const auto* ctl = controller_of(pod)) {
    std::string kind = str(*ctl, "kind"), name = str(*ctl, "name");
    if (am.deployment && kind == "ReplicaSet") {
      if (auto rs = store.get("ReplicaSet", ns, name)) {
        const auto* owner = controller_of(*rs);
        if (owner && str(*owner, "kind") == "Deployment")
          tg.labels.set(kPrefix + "pod_deployment_name", str(*owner, "name"));
      }
    }
    if (kind == "Job") {
      if (am.job) tg.labels.set(kPrefix + "pod_job_name", name);
      if (am.cronjob) {
        if (auto job = store.get("Job", ns, name)) {
          const auto* owner = controller_of(*job);
          if (owner && str(*owner, "kind") == "CronJob")
            tg.labels.set(kPrefix + "pod_cronjob_name", str(*owner, "name"));
        }
      }
    }
  }
  each_container(pod, [&](const json::object& c, bool init) {
    std::string id = container_id(status, init, str(c, "name"));
    const auto& ports = arr(c, "ports");
    if (ports.empty()) {
      // A port-free target, for adding a port by relabeling.
      Labels t;
      t.set("__address__", ip);
      container_labels(t, c, id, init);
      tg.targets.push_back(std::move(t));
      return;
    }
    for (const auto& p : ports) {
      if (!p.is_object()) continue;
      Labels t;
      t.set("__address__", join_host_port(ip, str(p.get_object(), "containerPort")));
      container_labels(t, c, id, init);
      port_labels(t, p.get_object());
      tg.targets.push_back(std::move(t));
    }
  });
  return tg;
}

TargetGroup node_group(const json::object& node) {
  TargetGroup tg;
  tg.source = source_of("node", node);
  const auto& meta = obj(node, "metadata");
  const auto& status = obj(node, "status");
  // The first address of each type; the target uses the first present in this order.
  std::map<std::string, std::string> first;
  for (const auto& a : arr(status, "addresses")) {
    if (!a.is_object()) continue;
    std::string type = str(a.get_object(), "type"), addr = str(a.get_object(), "address");
    if (!first.count(type)) first[type] = addr;
  }
  std::string addr;
  for (const char* type :
       {"InternalIP", "InternalDNS", "ExternalIP", "ExternalDNS", "LegacyHostIP", "Hostname"}) {
    auto it = first.find(type);
    if (it != first.end() && !it->second.empty()) {
      addr = it->second;
      break;
    }
  }
  if (addr.empty()) return tg;
  tg.labels.set(kPrefix + "node_name", str(meta, "name"));
  tg.labels.set(kPrefix + "node_provider_id", str(obj(node, "spec"), "providerID"));
  add_meta_labels(tg.labels, meta, kPrefix + "node_");
  std::string port = str(obj(obj(status, "daemonEndpoints"), "kubeletEndpoint"), "Port");
  Labels t;
  t.set("__address__", join_host_port(addr, port.empty() ? "10250" : port));
  t.set("instance", str(meta, "name"));
  for (const auto& [type, a] : first) t.set(kPrefix + "node_address_" + type, a);
  tg.targets.push_back(std::move(t));
  return tg;
}

TargetGroup service_group(const json::object& svc) {
  TargetGroup tg;
  tg.source = source_of("service", svc);
  const auto& meta = obj(svc, "metadata");
  const auto& spec = obj(svc, "spec");
  tg.labels.set(kPrefix + "namespace", str(meta, "namespace"));
  tg.labels.set(kPrefix + "service_name", str(meta, "name"));
  add_meta_labels(tg.labels, meta, kPrefix + "service_");
  std::string type = str(spec, "type");
  std::string host = str(meta, "name") + "." + str(meta, "namespace") + ".svc";
  for (const auto& p : arr(spec, "ports")) {
    if (!p.is_object()) continue;
    const auto& port = p.get_object();
    Labels t;
    t.set("__address__", join_host_port(host, str(port, "port")));
    t.set(kPrefix + "service_port_name", str(port, "name"));
    t.set(kPrefix + "service_port_number", str(port, "port"));
    t.set(kPrefix + "service_port_protocol", str(port, "protocol"));
    t.set(kPrefix + "service_type", type);
    if (type == "ExternalName") {
      t.set(kPrefix + "service_external_name", str(spec, "externalName"));
    } else {
      t.set(kPrefix + "service_cluster_ip", str(spec, "clusterIP"));
    }
    if (type == "LoadBalancer") {
      std::string ips;
      for (const auto& in : arr(obj(obj(svc, "status"), "loadBalancer"), "ingress")) {
        if (!in.is_object()) continue;
        std::string ip = str(in.get_object(), "ip");
        if (!ip.empty()) ips += (ips.empty() ? "" : ",") + ip;
      }
      t.set(kPrefix + "service_loadbalancer_ip", ips.empty() ? str(spec, "loadBalancerIP") : ips);
    }
    tg.targets.push_back(std::move(t));
  }
  return tg;
}

TargetGroup ingress_group(const json::object& ing) {
  TargetGroup tg;
  tg.source = source_of("ingress", ing);
  const auto& meta = obj(ing, "metadata");
  const auto& spec = obj(ing, "spec");
  tg.labels.set(kPrefix + "namespace", str(meta, "namespace"));
  tg.labels.set(kPrefix + "ingress_name", str(meta, "name"));
  tg.labels.set(kPrefix + "ingress_class_name", str(spec, "ingressClassName"));
  add_meta_labels(tg.labels, meta, kPrefix + "ingress_");
  std::vector<std::string> tls_hosts;
  for (const auto& t : arr(spec, "tls")) {
    if (!t.is_object()) continue;
    for (const auto& h : arr(t.get_object(), "hosts")) {
      if (h.is_string()) tls_hosts.emplace_back(h.get_string());
    }
  }
  auto is_tls = [&](const std::string& host) {
    for (const auto& p : tls_hosts) {
      if (p == host) return true;
      if (p.rfind("*.", 0) == 0) {
        auto dot = host.find('.');
        if (dot != std::string::npos && host.substr(dot) == p.substr(1)) return true;
      }
    }
    return false;
  };
  for (const auto& r : arr(spec, "rules")) {
    if (!r.is_object()) continue;
    std::string host = str(r.get_object(), "host");
    std::vector<std::string> paths;
    for (const auto& p : arr(obj(r.get_object(), "http"), "paths")) {
      if (p.is_object()) paths.push_back(str(p.get_object(), "path"));
    }
    if (paths.empty()) paths.emplace_back("");
    for (auto& path : paths) {
      Labels t;
      t.set("__address__", host);
      t.set(kPrefix + "ingress_scheme", is_tls(host) ? "https" : "http");
      t.set(kPrefix + "ingress_host", host);
      t.set(kPrefix + "ingress_path", path.empty() ? "/" : path);
      tg.targets.push_back(std::move(t));
    }
  }
  return tg;
}

namespace {

// Pod-backed endpoint targets: the pod's labels and those of the container
// that exposes `port` (matched by number and protocol).
bool add_pod_target_labels(Labels& t, const json::object& pod, int64_t port_number,
                           const std::string& protocol) {
  for (const auto& l : pod_labels(pod)) t.set(l.name, l.value);
  bool matched = false;
  each_container(pod, [&](const json::object& c, bool init) {
    if (matched) return;
    for (const auto& p : arr(c, "ports")) {
      if (!p.is_object()) continue;
      const auto& po = p.get_object();
      if (str(po, "containerPort") == std::to_string(port_number) &&
          (protocol.empty() || str(po, "protocol").empty() || str(po, "protocol") == protocol)) {
        container_labels(t, c, container_id(obj(pod, "status"), init, str(c, "name")), init);
        port_labels(t, po);
        matched = true;
        return;
      }
    }
  });
  return matched;
}

// After the endpoint targets: every container port of the pods seen that no
// endpoint covered becomes a target of its own (Prometheus does the same).
void add_unmatched_pod_ports(TargetGroup& tg, const Store& store,
                             const std::map<std::string, std::set<std::string>>& seen) {
  for (const auto& [key, used] : seen) {
    auto slash = key.find('/');
    auto pod = store.get("Pod", key.substr(0, slash), key.substr(slash + 1));
    if (!pod) continue;
    std::string ip = str(obj(*pod, "status"), "podIP");
    each_container(*pod, [&](const json::object& c, bool init) {
      for (const auto& p : arr(c, "ports")) {
        if (!p.is_object()) continue;
        const auto& po = p.get_object();
        std::string num = str(po, "containerPort");
        if (used.count(num + "/" + str(po, "protocol"))) continue;
        Labels t;
        t.set("__address__", join_host_port(ip, num));
        for (const auto& l : pod_labels(*pod)) t.set(l.name, l.value);
        container_labels(t, c, container_id(obj(*pod, "status"), init, str(c, "name")), init);
        port_labels(t, po);
        tg.targets.push_back(std::move(t));
      }
    });
  }
}

// An endpoint whose targetRef is a pod gets the pod's and its container's
// labels; `seen` records which of the pod's ports endpoints covered.
void add_pod_backed(Labels& t, const Store& store, const json::object& ref, const std::string& ns,
                    const json::object& port, std::map<std::string, std::set<std::string>>* seen) {
  if (str(ref, "kind") != "Pod") return;
  std::string pns = str(ref, "namespace").empty() ? ns : str(ref, "namespace");
  auto pod = store.get("Pod", pns, str(ref, "name"));
  if (!pod) return;
  auto& used = (*seen)[pns + "/" + str(ref, "name")];
  auto* pn = port.if_contains("port");
  int64_t number = pn && pn->is_int64() ? pn->get_int64() : 0;
  if (add_pod_target_labels(t, *pod, number, str(port, "protocol")))
    used.insert(std::to_string(number) + "/" + str(port, "protocol"));
}

void add_service_labels(Labels& ls, const Store& store, const std::string& ns,
                        const std::string& name) {
  if (auto svc = store.get("Service", ns, name)) {
    ls.set(kPrefix + "service_name", name);
    add_meta_labels(ls, obj(*svc, "metadata"), kPrefix + "service_");
  }
}

}  // namespace

TargetGroup endpoints_group(const json::object& eps, const Store& store) {
  TargetGroup tg;
  tg.source = source_of("endpoints", eps);
  const auto& meta = obj(eps, "metadata");
  std::string ns = str(meta, "namespace"), name = str(meta, "name");
  tg.labels.set(kPrefix + "namespace", ns);
  tg.labels.set(kPrefix + "endpoints_name", name);
  add_meta_labels(tg.labels, meta, kPrefix + "endpoints_");
  add_service_labels(tg.labels, store, ns, name);
  std::map<std::string, std::set<std::string>> seen;  // pod key → "port/protocol" used
  for (const auto& s : arr(eps, "subsets")) {
    if (!s.is_object()) continue;
    const auto& subset = s.get_object();
    for (const char* which : {"addresses", "notReadyAddresses"}) {
      bool ready = std::string(which) == "addresses";
      for (const auto& a : arr(subset, which)) {
        if (!a.is_object()) continue;
        const auto& addr = a.get_object();
        const auto& ref = obj(addr, "targetRef");
        for (const auto& p : arr(subset, "ports")) {
          if (!p.is_object()) continue;
          const auto& port = p.get_object();
          Labels t;
          t.set("__address__", join_host_port(str(addr, "ip"), str(port, "port")));
          t.set(kPrefix + "endpoint_port_name", str(port, "name"));
          t.set(kPrefix + "endpoint_port_protocol", str(port, "protocol"));
          t.set(kPrefix + "endpoint_ready", ready ? "true" : "false");
          t.set(kPrefix + "endpoint_address_target_kind", str(ref, "kind"));
          t.set(kPrefix + "endpoint_address_target_name", str(ref, "name"));
          t.set(kPrefix + "endpoint_node_name", str(addr, "nodeName"));
          t.set(kPrefix + "endpoint_hostname", str(addr, "hostname"));
          add_pod_backed(t, store, ref, ns, port, &seen);
          tg.targets.push_back(std::move(t));
        }
      }
    }
  }
  add_unmatched_pod_ports(tg, store, seen);
  return tg;
}

TargetGroup endpointslice_group(const json::object& slice, const Store& store) {
  TargetGroup tg;
  tg.source = source_of("endpointslice", slice);
  const auto& meta = obj(slice, "metadata");
  std::string ns = str(meta, "namespace");
  tg.labels.set(kPrefix + "namespace", ns);
  tg.labels.set(kPrefix + "endpointslice_name", str(meta, "name"));
  tg.labels.set(kPrefix + "endpointslice_address_type", str(slice, "addressType"));
  add_meta_labels(tg.labels, meta, kPrefix + "endpointslice_");
  std::string svc = str(obj(meta, "labels"), "kubernetes.io/service-name");
  if (!svc.empty()) add_service_labels(tg.labels, store, ns, svc);
  std::map<std::string, std::set<std::string>> seen;
  const std::string p = kPrefix + "endpointslice_";
  for (const auto& e : arr(slice, "endpoints")) {
    if (!e.is_object()) continue;
    const auto& ep = e.get_object();
    const auto& cond = obj(ep, "conditions");
    const auto& ref = obj(ep, "targetRef");
    for (const auto& a : arr(ep, "addresses")) {
      if (!a.is_string()) continue;
      for (const auto& pt : arr(slice, "ports")) {
        if (!pt.is_object()) continue;
        const auto& port = pt.get_object();
        Labels t;
        t.set("__address__", join_host_port(std::string(a.get_string()), str(port, "port")));
        t.set(p + "port", str(port, "port"));
        t.set(p + "port_name", str(port, "name"));
        t.set(p + "port_protocol", str(port, "protocol"));
        t.set(p + "port_app_protocol", str(port, "appProtocol"));
        for (const char* c : {"ready", "serving", "terminating"}) {
          if (cond.contains(c)) t.set(p + "endpoint_conditions_" + c, str(cond, c));
        }
        t.set(p + "endpoint_hostname", str(ep, "hostname"));
        t.set(p + "endpoint_node_name", str(ep, "nodeName"));
        t.set(p + "endpoint_zone", str(ep, "zone"));
        t.set(p + "address_target_kind", str(ref, "kind"));
        t.set(p + "address_target_name", str(ref, "name"));
        for (const auto& [k, v] : obj(ep, "deprecatedTopology")) {
          std::string name = sanitize_label_name(k);
          t.set(p + "endpoint_topology_" + name, v.is_string() ? std::string(v.get_string()) : "");
          t.set(p + "endpoint_topology_present_" + name, "true");
        }
        add_pod_backed(t, store, ref, ns, port, &seen);
        tg.targets.push_back(std::move(t));
      }
    }
  }
  add_unmatched_pod_ports(tg, store, seen);
  return tg;
}

std::string kind_of_role(const std::string& role) {
  static const std::map<std::string, std::string> kKinds = {{"pod", "Pod"},
                                                            {"service", "Service"},
                                                            {"endpoints", "Endpoints"},
                                                            {"endpointslice", "EndpointSlice"},
                                                            {"node", "Node"},
                                                            {"ingress", "Ingress"}};
  auto it = kKinds.find(role);
  return it == kKinds.end() ? "" : it->second;
}

GroupBuilder::GroupBuilder(KubernetesSdConfig cfg)
    : cfg_(std::move(cfg)), kind_(kind_of_role(cfg_.role)) {}

std::vector<std::string> GroupBuilder::kinds() const {
  std::vector<std::string> out{kind_};
  const auto& am = cfg_.attach_metadata;
  if (kind_ == "Pod") {
    if (am.node) out.push_back("Node");
    if (am.namespace_) out.push_back("Namespace");
    if (am.deployment) out.push_back("ReplicaSet");
    if (am.cronjob) out.push_back("Job");
  } else if (kind_ == "Endpoints" || kind_ == "EndpointSlice") {
    out.push_back("Pod");
    out.push_back("Service");
  }
  return out;
}

TargetGroup GroupBuilder::build(const json::object& o) const {
  if (kind_ == "Pod") return pod_group(o, store_, cfg_);
  if (kind_ == "Node") return node_group(o);
  if (kind_ == "Service") return service_group(o);
  if (kind_ == "Endpoints") return endpoints_group(o, store_);
  if (kind_ == "EndpointSlice") return endpointslice_group(o, store_);
  return ingress_group(o);
}

namespace {
uint64_t group_hash(const TargetGroup& g) {
  uint64_t h = 1469598103934665603ull;
  auto add = [&](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;  // separator
  };
  add(g.labels.to_string());
  for (const auto& t : g.targets) add(t.to_string());
  return h;
}
}  // namespace

void GroupBuilder::emit(TargetGroup g, std::vector<TargetGroup>* out) {
  auto it = last_.find(g.source);
  bool empty = g.targets.empty();
  uint64_t h = empty ? 0 : group_hash(g);
  if (it == last_.end()) {
    if (empty) return;  // nothing known, nothing to remove
  } else if (it->second == h) {
    return;
  }
  if (empty) {
    last_.erase(g.source);
    g.labels = Labels{};
  } else {
    last_[g.source] = h;
  }
  out->push_back(std::move(g));
}

void GroupBuilder::rebuild(const std::string& kind, const json::object& o, bool deleted,
                           std::vector<TargetGroup>* out) {
  if (kind == kind_) {
    if (deleted) {
      emit(TargetGroup{source_of(cfg_.role, o), {}, {}}, out);
    } else {
      emit(build(o), out);
    }
    return;
  }
  // A related object changed: rebuild the groups that may read it.
  std::string ns = namespace_of(o), name = name_of(o);
  store_.each(kind_, [&](const json::object& x) {
    bool affected = false;
    if (kind == "Node") {
      affected = str(obj(x, "spec"), "nodeName") == name;
    } else if (kind == "Namespace") {
      affected = namespace_of(x) == name;
    } else if (kind == "ReplicaSet" || kind == "Job") {
      const auto* ctl = controller_of(x);
      affected =
          namespace_of(x) == ns && ctl && str(*ctl, "kind") == kind && str(*ctl, "name") == name;
    } else if (kind == "Service") {
      affected = namespace_of(x) == ns;  // endpoints(lices) of the service's namespace
    } else if (kind == "Pod") {
      affected = namespace_of(x) == ns;
    }
    if (affected) emit(build(x), out);
  });
}

std::vector<TargetGroup> GroupBuilder::apply(const std::string& kind, const json::object& o,
                                             bool deleted) {
  std::vector<TargetGroup> out;
  if (deleted) {
    store_.remove(kind, namespace_of(o), name_of(o));
    rebuild(kind, o, true, &out);
    return out;
  }
  if (!store_.put(kind, o)) return out;
  // Groups are built from what the store keeps (the slim copy).
  rebuild(kind, *store_.get(kind, namespace_of(o), name_of(o)), false, &out);
  return out;
}

std::vector<TargetGroup> GroupBuilder::replace(const std::string& kind, const std::string& ns,
                                               std::vector<json::object> objects) {
  std::vector<TargetGroup> out;
  std::set<std::string> keep;
  for (const auto& o : objects) keep.insert(key_of(o));
  std::vector<json::object> gone;
  store_.each(kind, [&](const json::object& o) {
    if ((ns.empty() || namespace_of(o) == ns) && !keep.count(key_of(o))) gone.push_back(o);
  });
  for (const auto& o : gone) {
    auto g = apply(kind, o, true);
    out.insert(out.end(), g.begin(), g.end());
  }
  for (auto& o : objects) {
    std::string ons = namespace_of(o), name = name_of(o);
    if (!store_.put(kind, std::move(o))) continue;
    rebuild(kind, *store_.get(kind, ons, name), false, &out);
  }
  return out;
}

std::vector<TargetGroup> GroupBuilder::current() const {
  std::vector<TargetGroup> out;
  store_.each(kind_, [&](const json::object& o) {
    TargetGroup g = build(o);
    if (!g.targets.empty()) out.push_back(std::move(g));
  });
  return out;
}

}  // namespace stoker::kube
