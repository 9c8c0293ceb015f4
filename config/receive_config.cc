// receive: accepting pushed profiles (/ingest, push.v1 Push).
#include "config/sections.h"

namespace stoker::cfg {

void parse_receive(Walker& w, const YAML::Node& n, const std::string& path,
                   const GlobalConfig& global, ReceiveConfig& rc) {
  // The global label limits apply to pushed series too, where set.
  if (global.limits.label_limit) rc.limits.label_limit = global.limits.label_limit;
  if (global.limits.label_name_length_limit)
    rc.limits.label_name_length_limit = global.limits.label_name_length_limit;
  if (global.limits.label_value_length_limit)
    rc.limits.label_value_length_limit = global.limits.label_value_length_limit;
  rc.sample_label_series_limit = global.sample_label_series_limit;
  w.each(n, path,
         {"enabled", "path_prefix", "body_size_limit", "profile_size_limit", "labels",
          "relabel_configs", "sample_label_series_limit"},
         [&](const std::string& k, const YAML::Node& v, const std::string& sub) {
           if (k == "enabled") {
             if (auto b = w.boolean(v, sub)) rc.enabled = *b;
           } else if (k == "sample_label_series_limit") {
             if (auto lim = w.uint(v, sub)) rc.sample_label_series_limit = *lim;
           } else if (k == "path_prefix") {
             if (auto s = w.str(v, sub)) {
               std::string p = *s;
               while (!p.empty() && p.back() == '/') p.pop_back();
               if (!p.empty() && (p.front() != '/' || p.find_first_of("?#") != std::string::npos)) {
                 w.error(v, sub, "path_prefix must be a URL path starting with /, like /profiles");
               }
               rc.path_prefix = p;
             }
           } else if (k == "body_size_limit" || k == "profile_size_limit") {
             if (auto sz = w.size(v, sub)) {
               if (*sz < 1024) {
                 w.error(v, sub, k + " must be at least 1KiB");
               } else {
                 (k == "body_size_limit" ? rc.body_size_limit : rc.profile_size_limit) = *sz;
               }
             }
           } else if (k == "labels") {
             rc.labels = w.labels(v, sub);
             for (const auto& l : rc.labels) {
               if (l.name.rfind("__", 0) == 0) {
                 w.error(v, sub + "." + l.name,
                         "label names starting with __ are reserved; use relabel_configs to "
                         "change __name__");
               }
             }
           } else if (auto r = parse_relabel_configs(w, v, sub, "receive", &rc.relabel_configs)) {
             rc.relabel = r;
           }
         });
}

}  // namespace stoker::cfg
