// lacoot/io/svg_plot.hpp — line plots as standalone SVG files, for the collapse trajectories.
//
// Holds: PlotSeries, LinePlot and svg_line_plot / save_svg_line_plot: axes with "nice" ticks
// (1, 2 or 5 times a power of ten), one polyline with markers per series, a legend.
// Needs: io/atomic_file.hpp.
// Leaves out: log axes, error bars, anything a plotting library does beyond the paper's
// accuracy-versus-MACs and accuracy-versus-blocks-removed figures.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "atomic_file.hpp"

namespace lacoot {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in this order
};

struct LinePlot {
  std::string title = {}, x_label = {}, y_label = {};
  std::vector<PlotSeries> series = {};
  int width = 640, height = 420;
};

namespace detail {
// Tick spacing: the 1-2-5 step giving about `target` intervals over span.
inline double nice_step(double span, int target = 6) {
  const double raw = span / target, mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return 10 * mag;
}
inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}
inline std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}
}  // namespace detail

// The plot as SVG text.
inline std::string svg_line_plot(const LinePlot& plot) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const PlotSeries& s : plot.series)
    for (auto [x, y] : s.points) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // no points: an empty frame
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  const double xs = detail::nice_step(x1 - x0), ys = detail::nice_step(y1 - y0);
  x0 = std::floor(x0 / xs) * xs, x1 = std::ceil(x1 / xs) * xs;
  y0 = std::floor(y0 / ys) * ys, y1 = std::ceil(y1 / ys) * ys;
  const double left = 70, right = plot.width - 150.0, top = 40, bottom = plot.height - 55.0;
  auto px = [&](double x) { return left + (x - x0) / (x1 - x0) * (right - left); };
  auto py = [&](double y) { return bottom - (y - y0) / (y1 - y0) * (bottom - top); };
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};

  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(plot.width) + "\" height=\"" +
                  std::to_string(plot.height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + detail::fmt("%.1f", (left + right) / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" +
       detail::xml_escape(plot.title) + "</text>\n";
  for (double x = x0; x <= x1 + xs / 2; x += xs) {
    s += "<line x1=\"" + detail::fmt("%.1f", px(x)) + "\" y1=\"" + detail::fmt("%.1f", top) + "\" x2=\"" +
         detail::fmt("%.1f", px(x)) + "\" y2=\"" + detail::fmt("%.1f", bottom) + "\" stroke=\"#e0e0e0\"/>\n";
    s += "<text x=\"" + detail::fmt("%.1f", px(x)) + "\" y=\"" + detail::fmt("%.1f", bottom + 16) +
         "\" text-anchor=\"middle\">" + detail::fmt("%g", x) + "</text>\n";
  }
  for (double y = y0; y <= y1 + ys / 2; y += ys) {
    s += "<line x1=\"" + detail::fmt("%.1f", left) + "\" y1=\"" + detail::fmt("%.1f", py(y)) + "\" x2=\"" +
         detail::fmt("%.1f", right) + "\" y2=\"" + detail::fmt("%.1f", py(y)) + "\" stroke=\"#e0e0e0\"/>\n";
    s += "<text x=\"" + detail::fmt("%.1f", left - 6) + "\" y=\"" + detail::fmt("%.1f", py(y) + 4) +
         "\" text-anchor=\"end\">" + detail::fmt("%g", y) + "</text>\n";
  }
  s += "<rect x=\"" + detail::fmt("%.1f", left) + "\" y=\"" + detail::fmt("%.1f", top) + "\" width=\"" +
       detail::fmt("%.1f", right - left) + "\" height=\"" + detail::fmt("%.1f", bottom - top) +
       "\" fill=\"none\" stroke=\"black\"/>\n";
  s += "<text x=\"" + detail::fmt("%.1f", (left + right) / 2) + "\" y=\"" + std::to_string(plot.height - 15) +
       "\" text-anchor=\"middle\">" + detail::xml_escape(plot.x_label) + "</text>\n";
  s += "<text transform=\"translate(18," + detail::fmt("%.1f", (top + bottom) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + detail::xml_escape(plot.y_label) + "</text>\n";
  for (std::size_t k = 0; k < plot.series.size(); ++k) {
    const PlotSeries& ser = plot.series[k];
    const std::string colour = colours[k % 8];
    std::string pts;
    for (auto [x, y] : ser.points) pts += detail::fmt("%.1f", px(x)) + "," + detail::fmt("%.1f", py(y)) + " ";
    s += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\" points=\"" + pts + "\"/>\n";
    for (auto [x, y] : ser.points)
      s += "<circle cx=\"" + detail::fmt("%.1f", px(x)) + "\" cy=\"" + detail::fmt("%.1f", py(y)) + "\" r=\"3\" fill=\"" +
           colour + "\"/>\n";
    const double ly = top + 14 + 18.0 * static_cast<double>(k);
    s += "<line x1=\"" + detail::fmt("%.1f", right + 12) + "\" y1=\"" + detail::fmt("%.1f", ly - 4) + "\" x2=\"" +
         detail::fmt("%.1f", right + 32) + "\" y2=\"" + detail::fmt("%.1f", ly - 4) + "\" stroke=\"" + colour +
         "\" stroke-width=\"2\"/>\n";
    s += "<text x=\"" + detail::fmt("%.1f", right + 36) + "\" y=\"" + detail::fmt("%.1f", ly) + "\">" +
         detail::xml_escape(ser.name) + "</text>\n";
  }
  return s + "</svg>\n";
}

// Writes the plot to `path` atomically.
inline void save_svg_line_plot(const std::string& path, const LinePlot& plot) { write_file_atomic(path, svg_line_plot(plot)); }

}  // namespace lacoot
