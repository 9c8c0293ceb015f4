#include "query/flamegraph_svg.h"

#include <cstdio>
#include <vector>

#include "model/text.h"

namespace stoker::query {

namespace {

constexpr int kFrameHeight = 17;
constexpr int kPad = 10;
constexpr int kTop = 60;     // title, subtitle, controls
constexpr int kBottom = 34;  // the details line

uint32_t fnv(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

// Go-style package of a function name: "net/http.(*conn).serve" → "net/http".
std::string_view package(std::string_view name) {
  size_t slash = name.rfind('/');
  size_t dot = name.find('.', slash == std::string_view::npos ? 0 : slash);
  return dot == std::string_view::npos ? name : name.substr(0, dot);
}

// Warm colours, one family per package, varied per function.
std::string colour(std::string_view name) {
  if (name == "other") return "rgb(190,190,190)";
  uint32_t p = fnv(package(name)), f = fnv(name);
  int r = 205 + static_cast<int>(p % 50);
  int g = 60 + static_cast<int>((p >> 8) % 150) + static_cast<int>(f % 20);
  int b = static_cast<int>((f >> 8) % 60);
  char buf[32];
  std::snprintf(buf, sizeof buf, "rgb(%d,%d,%d)", r, g > 255 ? 255 : g, b);
  return buf;
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

// The script: zoom, reset, search, hover details, keyboard. Frames carry
// their position in value units (data-x, data-w) and depth (data-d).
const char* kScript = R"JS(
(function () {
  var svg = document.querySelector('svg');
  var W = +svg.getAttribute('data-width'), PAD = 10, TOTAL = +svg.getAttribute('data-total');
  var UNIT = svg.getAttribute('data-unit');
  var frames = Array.prototype.slice.call(svg.querySelectorAll('g.f'));
  var details = svg.querySelector('#details'), matched = svg.querySelector('#matched');
  var view = {x: 0, w: TOTAL, d: 0}, search = null;
  function fmt(v) {
    var a = Math.abs(v);
    if (UNIT === 'nanoseconds') {
      if (a >= 1e9) return (v / 1e9).toFixed(2) + ' s';
      if (a >= 1e6) return (v / 1e6).toFixed(2) + ' ms';
      if (a >= 1e3) return (v / 1e3).toFixed(2) + ' \u00b5s';
      return v + ' ns';
    }
    if (UNIT === 'bytes') {
      var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], i = 0;
      while (a >= 1024 && i < u.length - 1) { a /= 1024; v /= 1024; i++; }
      return (i ? v.toFixed(2) : v) + ' ' + u[i];
    }
    return String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  function pct(v, of) { return of ? (100 * v / of).toFixed(2) + '%' : '0%'; }
  function fit(name, px) {
    var n = Math.floor((px - 6) / 7);
    if (n < 3) return '';
    return name.length <= n ? name : name.slice(0, n - 2) + '..';
  }
  function layout() {
    var span = W - 2 * PAD;
    frames.forEach(function (g) {
      var x = +g.dataset.x, w = +g.dataset.w, d = +g.dataset.d;
      var lo = Math.max(x, view.x), hi = Math.min(x + w, view.x + view.w);
      var r = g.firstElementChild.nextElementSibling, t = r.nextElementSibling;
      if (hi <= lo || (d < view.d && !(x <= view.x && x + w >= view.x + view.w))) { g.style.display = 'none'; return; }
      var px = PAD + (lo - view.x) / view.w * span, pw = (hi - lo) / view.w * span;
      if (pw < 0.3) { g.style.display = 'none'; return; }
      g.style.display = '';
      r.setAttribute('x', px.toFixed(1));
      r.setAttribute('width', pw.toFixed(1));
      t.setAttribute('x', (px + 3).toFixed(1));
      t.textContent = fit(g.dataset.n, pw);
      g.classList.toggle('anc', d < view.d);
      g.classList.toggle('hit', !!search && search.test(g.dataset.n));
    });
    if (search) {
      // Share of the view under matching frames, counting nested matches once.
      var spans = frames.filter(function (g) { return search.test(g.dataset.n); })
        .map(function (g) { return [Math.max(+g.dataset.x, view.x), Math.min(+g.dataset.x + +g.dataset.w, view.x + view.w)]; })
        .filter(function (s) { return s[1] > s[0]; }).sort(function (a, b) { return a[0] - b[0]; });
      var sum = 0, end = -Infinity;
      spans.forEach(function (s) { if (s[0] >= end) { sum += s[1] - s[0]; end = s[1]; } else if (s[1] > end) { sum += s[1] - end; end = s[1]; } });
      matched.textContent = 'Matched: ' + fmt(sum) + ' (' + pct(sum, view.w) + ' of the view)';
    } else {
      matched.textContent = '';
    }
  }
  function zoom(g) { view = {x: +g.dataset.x, w: Math.max(1, +g.dataset.w), d: +g.dataset.d}; layout(); }
  function reset() { view = {x: 0, w: TOTAL, d: 0}; layout(); }
  function find() {
    var term = prompt('Search (substring or /regex/)', '');
    if (term === null) return;
    if (term === '') { search = null; layout(); return; }
    try {
      var m = /^\/(.*)\/([i]*)$/.exec(term);
      search = m ? new RegExp(m[1], m[2]) : new RegExp(term.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    } catch (e) { alert('Bad regex: ' + e.message); return; }
    layout();
  }
  frames.forEach(function (g) {
    g.addEventListener('click', function (e) { e.stopPropagation(); zoom(g); });
    g.addEventListener('mouseover', function () {
      var self = +g.dataset.s, w = +g.dataset.w;
      details.textContent = g.dataset.n + ' \u2014 total ' + fmt(w) + ' (' + pct(w, TOTAL) + ' of all, ' +
        pct(w, view.w) + ' of the view), self ' + fmt(self) + ' (' + pct(self, TOTAL) + ')';
    });
    g.addEventListener('mouseout', function () { details.textContent = ' '; });
  });
  svg.querySelector('#reset').addEventListener('click', function (e) { e.stopPropagation(); reset(); });
  svg.querySelector('#search').addEventListener('click', function (e) { e.stopPropagation(); find(); });
  svg.querySelector('#bg').addEventListener('click', reset);
  document.addEventListener('keydown', function (e) {
    if (e.key === 'Escape') reset();
    if (e.key === '/' || ((e.ctrlKey || e.metaKey) && e.key === 'f')) { e.preventDefault(); find(); }
  });
  layout();
})();
)JS";

struct Frame {
  std::string name;
  int64_t x, w, self;
  int depth;
};

// The frames to draw, with Pyroscope's max_nodes folding into `other`.
std::vector<Frame> frames(const CallTree& t, int64_t max_nodes, int* max_depth) {
  std::vector<Frame> out;
  const int64_t min_val = t.min_value(max_nodes);
  struct Item {
    uint32_t node;  // CallTree::kNoName: a folded `other`
    int64_t other, x;
    int depth;
  };
  std::vector<Item> stack;
  int64_t x = 0;
  for (uint32_t c : t.children(t.nodes()[CallTree::kRoot])) {
    stack.push_back({c, 0, x, 0});
    x += t.nodes()[c].total;
  }
  *max_depth = 0;
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    *max_depth = std::max(*max_depth, it.depth + 1);
    if (it.node == CallTree::kNoName) {
      out.push_back({"other", it.x, it.other, it.other, it.depth});
      continue;
    }
    const auto& n = t.nodes()[it.node];
    out.push_back({t.name(n), it.x, n.total, n.self, it.depth});
    int64_t cx = it.x + n.self, other = 0;
    for (uint32_t c : t.children(n)) {
      const auto& child = t.nodes()[c];
      if (child.total >= min_val && t.name(child) != "other") {
        stack.push_back({c, 0, cx, it.depth + 1});
        cx += child.total;
      } else {
        other += child.total;
      }
    }
    if (other) stack.push_back({CallTree::kNoName, other, cx, it.depth + 1});
  }
  return out;
}

}  // namespace

std::string format_value(int64_t v, const std::string& unit) {
  char buf[64];
  double a = static_cast<double>(v < 0 ? -v : v), d = static_cast<double>(v);
  if (unit == "nanoseconds") {
    if (a >= 1e9) {
      std::snprintf(buf, sizeof buf, "%.2f s", d / 1e9);
    } else if (a >= 1e6) {
      std::snprintf(buf, sizeof buf, "%.2f ms", d / 1e6);
    } else if (a >= 1e3) {
      std::snprintf(buf, sizeof buf, "%.2f us", d / 1e3);
    } else {
      std::snprintf(buf, sizeof buf, "%lld ns", static_cast<long long>(v));
    }
    return buf;
  }
  if (unit == "bytes") {
    static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (a >= 1024 && i < 4) {
      a /= 1024;
      d /= 1024;
      ++i;
    }
    if (i == 0) return std::to_string(v) + " B";
    std::snprintf(buf, sizeof buf, "%.2f %s", d, kUnits[i]);
    return buf;
  }
  return with_commas(v);
}

std::string render_svg(const CallTree& tree, const SvgOptions& o) {
  int depth = 0;
  std::vector<Frame> fs = frames(tree, o.max_nodes, &depth);
  const int64_t total = std::max<int64_t>(1, tree.total());
  const int height = kTop + std::max(depth, 1) * kFrameHeight + kBottom;
  const double span = o.width - 2 * kPad;
  std::string out;
  out.reserve(fs.size() * 220 + 8192);
  out += "<?xml version=\"1.0\" standalone=\"no\"?>\n";
  out += "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"" +
         std::to_string(o.width) + "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " +
         std::to_string(o.width) + " " + std::to_string(height) + "\" data-width=\"" +
         std::to_string(o.width) + "\" data-total=\"" + std::to_string(total) + "\" data-unit=\"" +
         xml_escape(o.sample_unit) + "\">\n";
  out +=
      "<style>text{font-family:Menlo,Consolas,'DejaVu Sans Mono',monospace;font-size:12px;"
      "fill:#000}g.f{cursor:pointer}g.f:hover rect{stroke:#333;stroke-width:0.6}"
      "g.anc rect{opacity:0.55}g.hit rect{fill:rgb(230,0,230)!important}"
      ".title{font-size:17px;font-family:sans-serif}.sub{font-size:12px;fill:#555;font-family:"
      "sans-serif}.ctl{fill:#06c;cursor:pointer;font-family:sans-serif}</style>\n";
  out += "<rect id=\"bg\" x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#fcfcf7\"/>\n";
  out += "<text class=\"title\" x=\"" + std::to_string(o.width / 2) +
         "\" y=\"22\" text-anchor=\"middle\">" + xml_escape(o.title) + "</text>\n";
  out += "<text class=\"sub\" x=\"" + std::to_string(o.width / 2) +
         "\" y=\"40\" text-anchor=\"middle\">" + xml_escape(o.subtitle) + "</text>\n";
  out += "<text id=\"reset\" class=\"ctl\" x=\"" + std::to_string(kPad) +
         "\" y=\"40\">Reset zoom</text>\n";
  out += "<text id=\"search\" class=\"ctl\" x=\"" + std::to_string(o.width - kPad) +
         "\" y=\"40\" text-anchor=\"end\">Search</text>\n";
  out += "<text id=\"matched\" class=\"sub\" x=\"" + std::to_string(o.width - kPad) + "\" y=\"" +
         std::to_string(height - 10) + "\" text-anchor=\"end\"> </text>\n";
  out += "<text id=\"details\" class=\"sub\" x=\"" + std::to_string(kPad) + "\" y=\"" +
         std::to_string(height - 10) + "\"> </text>\n";
  char num[64];
  for (const Frame& f : fs) {
    double px = kPad + static_cast<double>(f.x) / static_cast<double>(total) * span;
    double pw = static_cast<double>(f.w) / static_cast<double>(total) * span;
    int y =
        o.icicle ? kTop + f.depth * kFrameHeight : height - kBottom - (f.depth + 1) * kFrameHeight;
    std::string name = xml_escape(f.name);
    out += "<g class=\"f\" data-n=\"" + name + "\" data-x=\"" + std::to_string(f.x) +
           "\" data-w=\"" + std::to_string(f.w) + "\" data-s=\"" + std::to_string(f.self) +
           "\" data-d=\"" + std::to_string(f.depth) + "\"><title>" + name + " (total " +
           xml_escape(format_value(f.w, o.sample_unit)) + ", self " +
           xml_escape(format_value(f.self, o.sample_unit)) + ")</title>";
    std::snprintf(num, sizeof num, "%.1f", px);
    out += "<rect x=\"" + std::string(num) + "\" y=\"" + std::to_string(y);
    std::snprintf(num, sizeof num, "%.1f", pw);
    out += "\" width=\"" + std::string(num) + "\" height=\"" + std::to_string(kFrameHeight - 1) +
           "\" rx=\"2\" fill=\"" + colour(f.name) + "\"/><text x=\"";
    std::snprintf(num, sizeof num, "%.1f", px + 3);
    out += std::string(num) + "\" y=\"" + std::to_string(y + kFrameHeight - 5) + "\"></text></g>\n";
  }
  out += "<script type=\"text/ecmascript\"><![CDATA[";
  out += kScript;
  out += "]]></script>\n</svg>\n";
  return out;
}

std::string render_html(const CallTree& tree, const SvgOptions& opts) {
  std::string svg = render_svg(tree, opts);
  svg.erase(0, svg.find("<svg"));
  return "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>" + xml_escape(opts.title) +
         "</title><style>body{margin:0;background:#fcfcf7}</style></head><body>\n" + svg +
         "</body></html>\n";
}

}  // namespace stoker::query
