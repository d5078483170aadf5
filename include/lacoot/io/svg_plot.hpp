// lacoot/io/svg_plot.hpp — line, scatter and bar plots as standalone SVG files, for the
// collapse trajectories and the optimal-transport lessons.
//
// Holds: PlotStyle, PlotSeries, LinePlot and svg_line_plot / save_svg_line_plot: axes with
// "nice" ticks (1, 2 or 5 times a power of ten), each series a polyline with markers, markers
// alone (a scatter plot of 2-D points) or a plain or dashed line, optionally equal units on both
// axes (so that directions keep their angle), optional vertical error bars (mean ± std over
// seeds), a legend; BarSeries, BarPlot and svg_bar_plot /
// save_svg_bar_plot: grouped bars, one group per category (the distance of each block).
// Needs: io/atomic_file.hpp.
// Leaves out: log axes, horizontal error bars, anything a plotting library does beyond the paper's
// accuracy-versus-MACs and accuracy-versus-blocks-removed figures and examples/ot_regularisation.
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

// How a series is drawn: LinesAndMarkers for curves measured at a few points (accuracy per
// step), Markers for point clouds, Line and Dashed for dense curves and directions.
enum class PlotStyle { LinesAndMarkers, Markers, Line, Dashed };

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  // (x, y), drawn in this order
  PlotStyle style = PlotStyle::LinesAndMarkers;
  std::vector<double> errors = {};  // if given, one per point: a bar from y − e to y + e
};

struct LinePlot {
  std::string title = {}, x_label = {}, y_label = {};
  std::vector<PlotSeries> series = {};
  int width = 640, height = 420;
  bool equal_axes = false;  // one unit is as long on x as on y (the shorter range is widened)
};

// Grouped bars: bar k of every group belongs to series k.
struct BarSeries {
  std::string name;
  std::vector<double> values;  // one per category (missing ones are not drawn)
};

struct BarPlot {
  std::string title = {}, x_label = {}, y_label = {};
  std::vector<std::string> categories = {};
  std::vector<BarSeries> series = {};
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
inline const char* colour(std::size_t k) {
  const char* colours[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
  return colours[k % 8];
}
// The plot area and the map from data to pixels: x0..x1 onto left..right, y0..y1 onto bottom..top.
struct Frame {
  double x0, x1, y0, y1, xs, ys;  // ranges and tick steps (xs = 0: no x ticks)
  double left, right, top, bottom;
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (right - left); }
  double py(double y) const { return bottom - (y - y0) / (y1 - y0) * (bottom - top); }
};
// The SVG header, title, grid with tick labels (from the first multiple of the step inside the
// range), the frame and the axis labels.
inline std::string svg_axes(const Frame& f, int width, int height, const std::string& title, const std::string& x_label,
                            const std::string& y_label) {
  std::string s = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  s += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  s += "<text x=\"" + fmt("%.1f", (f.left + f.right) / 2) + "\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">" +
       xml_escape(title) + "</text>\n";
  // Tick i is at i·step (not a running sum, which drifts), for the i inside the range.
  const double xi0 = f.xs > 0 ? std::ceil(f.x0 / f.xs - 1e-9) : 1, xi1 = f.xs > 0 ? std::floor(f.x1 / f.xs + 1e-9) : 0;
  for (double i = xi0; i <= xi1; ++i) {
    const double x = i == 0 ? 0 : i * f.xs;  // never "-0"
    s += "<line x1=\"" + fmt("%.1f", f.px(x)) + "\" y1=\"" + fmt("%.1f", f.top) + "\" x2=\"" + fmt("%.1f", f.px(x)) +
         "\" y2=\"" + fmt("%.1f", f.bottom) + "\" stroke=\"#e0e0e0\"/>\n";
    s += "<text x=\"" + fmt("%.1f", f.px(x)) + "\" y=\"" + fmt("%.1f", f.bottom + 16) + "\" text-anchor=\"middle\">" +
         fmt("%g", x) + "</text>\n";
  }
  for (double i = std::ceil(f.y0 / f.ys - 1e-9); i <= std::floor(f.y1 / f.ys + 1e-9); ++i) {
    const double y = i == 0 ? 0 : i * f.ys;
    s += "<line x1=\"" + fmt("%.1f", f.left) + "\" y1=\"" + fmt("%.1f", f.py(y)) + "\" x2=\"" + fmt("%.1f", f.right) +
         "\" y2=\"" + fmt("%.1f", f.py(y)) + "\" stroke=\"#e0e0e0\"/>\n";
    s += "<text x=\"" + fmt("%.1f", f.left - 6) + "\" y=\"" + fmt("%.1f", f.py(y) + 4) + "\" text-anchor=\"end\">" +
         fmt("%g", y) + "</text>\n";
  }
  s += "<rect x=\"" + fmt("%.1f", f.left) + "\" y=\"" + fmt("%.1f", f.top) + "\" width=\"" +
       fmt("%.1f", f.right - f.left) + "\" height=\"" + fmt("%.1f", f.bottom - f.top) +
       "\" fill=\"none\" stroke=\"black\"/>\n";
  s += "<text x=\"" + fmt("%.1f", (f.left + f.right) / 2) + "\" y=\"" + std::to_string(height - 15) +
       "\" text-anchor=\"middle\">" + xml_escape(x_label) + "</text>\n";
  s += "<text transform=\"translate(18," + fmt("%.1f", (f.top + f.bottom) / 2) +
       ") rotate(-90)\" text-anchor=\"middle\">" + xml_escape(y_label) + "</text>\n";
  return s;
}
// Legend entry k, right of the frame: a short line (or a dot, or a square) and the name.
inline std::string svg_legend(const Frame& f, std::size_t k, const std::string& name, const char* mark) {
  const double ly = f.top + 14 + 18.0 * static_cast<double>(k);
  const std::string c = colour(k), m = mark;
  std::string s;
  if (m == "dot")
    s = "<circle cx=\"" + fmt("%.1f", f.right + 22) + "\" cy=\"" + fmt("%.1f", ly - 4) + "\" r=\"3\" fill=\"" + c +
        "\"/>\n";
  else if (m == "square")
    s = "<rect x=\"" + fmt("%.1f", f.right + 16) + "\" y=\"" + fmt("%.1f", ly - 10) +
        "\" width=\"12\" height=\"12\" fill=\"" + c + "\"/>\n";
  else
    s = "<line x1=\"" + fmt("%.1f", f.right + 12) + "\" y1=\"" + fmt("%.1f", ly - 4) + "\" x2=\"" +
        fmt("%.1f", f.right + 32) + "\" y2=\"" + fmt("%.1f", ly - 4) + "\" stroke=\"" + c + "\" stroke-width=\"2\"" +
        (m == "dash" ? " stroke-dasharray=\"6,4\"" : "") + "/>\n";
  return s + "<text x=\"" + fmt("%.1f", f.right + 36) + "\" y=\"" + fmt("%.1f", ly) + "\">" + xml_escape(name) +
         "</text>\n";
}
}  // namespace detail

// The plot as SVG text.
inline std::string svg_line_plot(const LinePlot& plot) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const PlotSeries& s : plot.series)
    for (std::size_t i = 0; i < s.points.size(); ++i) {
      const auto [x, y] = s.points[i];
      const double e = i < s.errors.size() ? std::abs(s.errors[i]) : 0.0;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y - e), y1 = std::max(y1, y + e);
    }
  if (!(x0 <= x1)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // no points: an empty frame
  if (x1 - x0 < 1e-12) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-12) y0 -= 0.5, y1 += 0.5;
  detail::Frame f{.x0 = x0, .x1 = x1, .y0 = y0, .y1 = y1, .xs = 0, .ys = 0, .left = 70,
                  .right = plot.width - 150.0, .top = 40, .bottom = plot.height - 55.0};
  if (plot.equal_axes) {  // a 5 % margin, then widen the range with fewer units per pixel about its centre
    const double mx = 0.05 * (x1 - x0), my = 0.05 * (y1 - y0);
    x0 -= mx, x1 += mx, y0 -= my, y1 += my;
    f.x0 = x0, f.x1 = x1, f.y0 = y0, f.y1 = y1;
    const double ux = (x1 - x0) / (f.right - f.left), uy = (y1 - y0) / (f.bottom - f.top);
    if (ux > uy) {
      const double c = (y0 + y1) / 2, h = ux * (f.bottom - f.top) / 2;
      f.y0 = c - h, f.y1 = c + h;
    } else {
      const double c = (x0 + x1) / 2, h = uy * (f.right - f.left) / 2;
      f.x0 = c - h, f.x1 = c + h;
    }
    f.xs = f.ys = detail::nice_step(std::max(f.x1 - f.x0, f.y1 - f.y0));
  } else {
    f.xs = detail::nice_step(x1 - x0), f.ys = detail::nice_step(y1 - y0);
    f.x0 = std::floor(x0 / f.xs) * f.xs, f.x1 = std::ceil(x1 / f.xs) * f.xs;
    f.y0 = std::floor(y0 / f.ys) * f.ys, f.y1 = std::ceil(y1 / f.ys) * f.ys;
  }
  std::string s = detail::svg_axes(f, plot.width, plot.height, plot.title, plot.x_label, plot.y_label);
  for (std::size_t k = 0; k < plot.series.size(); ++k) {
    const PlotSeries& ser = plot.series[k];
    const std::string colour = detail::colour(k);
    if (ser.style != PlotStyle::Markers) {
      std::string pts;
      for (auto [x, y] : ser.points) pts += detail::fmt("%.1f", f.px(x)) + "," + detail::fmt("%.1f", f.py(y)) + " ";
      s += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"2\"" +
           (ser.style == PlotStyle::Dashed ? " stroke-dasharray=\"6,4\"" : "") + " points=\"" + pts + "\"/>\n";
    }
    if (ser.style == PlotStyle::LinesAndMarkers)
      for (auto [x, y] : ser.points)
        s += "<circle cx=\"" + detail::fmt("%.1f", f.px(x)) + "\" cy=\"" + detail::fmt("%.1f", f.py(y)) +
             "\" r=\"3\" fill=\"" + colour + "\"/>\n";
    for (std::size_t i = 0; i < std::min(ser.errors.size(), ser.points.size()); ++i) {  // y ± e, with caps
      const auto [x, y] = ser.points[i];
      const double e = std::abs(ser.errors[i]), cx = f.px(x), lo = f.py(y - e), hi = f.py(y + e);
      s += "<path d=\"M" + detail::fmt("%.1f", cx) + "," + detail::fmt("%.1f", lo) + "V" + detail::fmt("%.1f", hi) +
           "M" + detail::fmt("%.1f", cx - 4) + "," + detail::fmt("%.1f", lo) + "h8M" + detail::fmt("%.1f", cx - 4) +
           "," + detail::fmt("%.1f", hi) + "h8\" stroke=\"" + colour + "\" fill=\"none\"/>\n";
    }
    if (ser.style == PlotStyle::Markers) {  // a cloud: one group carries the colour, small dots
      s += "<g fill=\"" + colour + "\" fill-opacity=\"0.7\">\n";
      for (auto [x, y] : ser.points)
        s += "<circle cx=\"" + detail::fmt("%.1f", f.px(x)) + "\" cy=\"" + detail::fmt("%.1f", f.py(y)) +
             "\" r=\"2\"/>\n";
      s += "</g>\n";
    }
    s += detail::svg_legend(f, k, ser.name,
                            ser.style == PlotStyle::Markers ? "dot" : ser.style == PlotStyle::Dashed ? "dash" : "line");
  }
  return s + "</svg>\n";
}

// The bar plot as SVG text: the y axis starts at 0 (or at the lowest value, if negative).
inline std::string svg_bar_plot(const BarPlot& plot) {
  double y0 = 0, y1 = 0;
  for (const BarSeries& ser : plot.series)
    for (double v : ser.values) y0 = std::min(y0, v), y1 = std::max(y1, v);
  if (y1 - y0 < 1e-12) y1 = y0 + 1;
  detail::Frame f{.x0 = 0, .x1 = static_cast<double>(std::max<std::size_t>(plot.categories.size(), 1)), .y0 = y0,
                  .y1 = y1, .xs = 0, .ys = detail::nice_step(y1 - y0), .left = 70, .right = plot.width - 150.0,
                  .top = 40, .bottom = plot.height - 55.0};
  f.y0 = std::floor(y0 / f.ys) * f.ys, f.y1 = std::ceil(y1 / f.ys) * f.ys;
  std::string s = detail::svg_axes(f, plot.width, plot.height, plot.title, plot.x_label, plot.y_label);
  // Category c spans [c, c + 1) on x: its bars share the middle 80 %.
  const double groups = std::max<double>(static_cast<double>(plot.series.size()), 1);
  const double bar = 0.8 / groups * (f.px(1) - f.px(0));
  for (std::size_t c = 0; c < plot.categories.size(); ++c)
    s += "<text x=\"" + detail::fmt("%.1f", f.px(static_cast<double>(c) + 0.5)) + "\" y=\"" +
         detail::fmt("%.1f", f.bottom + 16) + "\" text-anchor=\"middle\">" + detail::xml_escape(plot.categories[c]) +
         "</text>\n";
  for (std::size_t k = 0; k < plot.series.size(); ++k) {
    const BarSeries& ser = plot.series[k];
    for (std::size_t c = 0; c < std::min(ser.values.size(), plot.categories.size()); ++c) {
      const double x = f.px(static_cast<double>(c) + 0.1) + bar * static_cast<double>(k);
      const double top = f.py(std::max(ser.values[c], 0.0)), base = f.py(std::min(ser.values[c], 0.0));
      s += "<rect x=\"" + detail::fmt("%.1f", x) + "\" y=\"" + detail::fmt("%.1f", top) + "\" width=\"" +
           detail::fmt("%.1f", bar) + "\" height=\"" + detail::fmt("%.1f", base - top) + "\" fill=\"" +
           detail::colour(k) + "\"><title>" + detail::xml_escape(ser.name + " " + plot.categories[c]) + ": " +
           detail::fmt("%g", ser.values[c]) + "</title></rect>\n";
    }
    s += detail::svg_legend(f, k, ser.name, "square");
  }
  return s + "</svg>\n";
}

// Writes the plot to `path` atomically.
inline void save_svg_line_plot(const std::string& path, const LinePlot& plot) {
  write_file_atomic(path, svg_line_plot(plot));
}
inline void save_svg_bar_plot(const std::string& path, const BarPlot& plot) {
  write_file_atomic(path, svg_bar_plot(plot));
}

}  // namespace lacoot
