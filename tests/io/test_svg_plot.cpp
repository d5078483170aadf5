// Tests for io/svg_plot.hpp: the SVG holds one polyline and one marker per point per series,
// the legend, escaped text, and ticks on 1-2-5 steps (worked by hand below); scatter plots with
// equal axes keep one unit as long on x as on y; bar plots draw one bar per category and series;
// error bars widen the y range to cover y ± e.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include "lacoot/io/svg_plot.hpp"

using namespace lacoot;

namespace {
int count(const std::string& s, const std::string& what) {
  int n = 0;
  for (std::size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}
}  // namespace

TEST_CASE("svg_line_plot: series, markers, legend, ticks and escaping") {
  LinePlot plot{.title = "top-1 <vs> MACs & depth", .x_label = "MACs (M)", .y_label = "top-1 (%)",
                .series = {{"LaCoOT", {{140.19, 91.4}, {121.31, 91.4}, {64.69, 89.0}}},
                           {"λ = 0", {{140.19, 91.8}, {64.69, 64.5}}}}};
  const std::string svg = svg_line_plot(plot);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(count(svg, "<polyline") == 2);
  CHECK(count(svg, "<circle") == 5);
  CHECK(svg.find(">LaCoOT<") != std::string::npos);
  CHECK(svg.find("top-1 &lt;vs&gt; MACs &amp; depth") != std::string::npos);
  // x spans 64.69..140.19 (75.5): 75.5 / 6 = 12.6 → step 20, axis 60..140 → then 160 to cover 140.19.
  CHECK(svg.find(">60<") != std::string::npos);
  CHECK(svg.find(">160<") != std::string::npos);
  // y spans 64.5..91.8 (27.3): 27.3 / 6 = 4.55 → step 5, axis 60..95.
  CHECK(svg.find(">95<") != std::string::npos);
  CHECK(svg.find(">60<") != std::string::npos);
}

TEST_CASE("svg_line_plot: a single point or no point still makes a valid frame") {
  CHECK(svg_line_plot({.title = "one", .series = {{"a", {{1, 1}}}}}).find("<circle") != std::string::npos);
  CHECK(svg_line_plot({.title = "none"}).find("</svg>") != std::string::npos);
}

namespace {
// The (cx, cy) of every <circle> in the SVG text, in order.
std::vector<std::pair<double, double>> circles(const std::string& s) {
  std::vector<std::pair<double, double>> out;
  for (std::size_t p = s.find("<circle cx=\""); p != std::string::npos; p = s.find("<circle cx=\"", p + 1)) {
    const double cx = std::stod(s.substr(p + 12));
    const double cy = std::stod(s.substr(s.find("cy=\"", p) + 4));
    out.emplace_back(cx, cy);
  }
  return out;
}
}  // namespace

TEST_CASE("svg_line_plot: a scatter plot with equal axes, and line styles") {
  // Three points of the unit square; equal axes give one unit the same number of pixels on x and
  // y. By hand: the plot area is 420 x 325 px; with the 5 % margin both ranges are 1.1 units, so
  // y is the tighter one (325 / 1.1 = 295.45 px per unit) and x is widened to 420 / 295.45 = 1.42.
  LinePlot plot{.title = "clouds", .series = {{"X", {{0, 0}, {1, 0}, {0, 1}}, PlotStyle::Markers},
                                              {"θ", {{0, 0}, {1, 1}}, PlotStyle::Dashed},
                                              {"curve", {{0, 0.5}, {1, 0.5}}, PlotStyle::Line}},
                .equal_axes = true};
  const std::string svg = svg_line_plot(plot);
  CHECK(count(svg, "<polyline") == 2);          // the markers series draws no line
  CHECK(count(svg, "stroke-dasharray") == 2);   // the dashed line and its legend entry
  CHECK(count(svg, "<g fill=\"#1f77b4\"") == 1);  // the cloud's colour, set once
  const auto c = circles(svg);
  REQUIRE(c.size() == 4);  // three points and the legend's dot
  const double per_unit_x = c[1].first - c[0].first, per_unit_y = c[0].second - c[2].second;
  CHECK(per_unit_x == doctest::Approx(295.45).epsilon(1e-3));
  CHECK(per_unit_y == doctest::Approx(per_unit_x).epsilon(1e-3));
  CHECK(c[1].second == doctest::Approx(c[0].second));  // (1, 0) level with (0, 0)
  // The widened x range (-0.21..1.21) is not rounded to ticks: its grid lines stay inside the
  // frame (x from 70 to 490 px). Step: 1.42 / 6 = 0.24 → 0.5, so lines at 0, 0.5, 1 on each axis.
  int grid = 0;
  for (std::size_t p = svg.find("<line x1=\""); p != std::string::npos; p = svg.find("<line x1=\"", p + 1)) {
    if (svg.compare(svg.find('>', p) - 17, 17, "stroke=\"#e0e0e0\"/") != 0) continue;  // not a grid line
    const double x1 = std::stod(svg.substr(p + 10)), y1 = std::stod(svg.substr(svg.find("y1=\"", p) + 4));
    CHECK(x1 >= 70);
    CHECK(x1 <= 490);
    CHECK(y1 >= 40);
    ++grid;
  }
  CHECK(grid == 6);
  CHECK(svg.find(">0.5<") != std::string::npos);
  CHECK(svg.find(">1.5<") == std::string::npos);
  CHECK(svg.find(">-0.5<") == std::string::npos);
  CHECK(svg.find(">-0<") == std::string::npos);
  // Without equal axes each range fills its side: 1 unit of x is then wider than 1 unit of y.
  plot.equal_axes = false;
  const auto d = circles(svg_line_plot(plot));
  CHECK(d[1].first - d[0].first > 1.2 * (d[0].second - d[2].second));
}

TEST_CASE("svg_bar_plot: one bar per category and series, from 0, with a legend") {
  // Values up to 0.9: 0.9 / 6 = 0.15 → step 0.2, axis 0..1.
  BarPlot plot{.title = "MaxSWD per block", .y_label = "R̂_k",
               .categories = {"blocks.0", "blocks.1", "blocks.2"},
               .series = {{"λ = 0", {0.9, 0.5, 0.7}}, {"λ = 1", {0.1, 0.05, 0.2}}}};
  const std::string svg = svg_bar_plot(plot);
  CHECK(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0) == 0);
  CHECK(count(svg, "<title>") == 6);
  CHECK(count(svg, "width=\"12\" height=\"12\"") == 2);  // the legend's squares
  CHECK(svg.find(">blocks.2<") != std::string::npos);
  CHECK(svg.find("<title>λ = 1 blocks.1: 0.05</title>") != std::string::npos);
  CHECK(svg.find(">0<") != std::string::npos);
  CHECK(svg.find(">1<") != std::string::npos);
  CHECK(svg.find(">1.2<") == std::string::npos);
  // The tallest bar (0.9 of an axis to 1) is 0.9 of the plot area's 325 px.
  const std::size_t p = svg.find("<title>λ = 0 blocks.0");
  const std::size_t h = svg.rfind("height=\"", p);
  CHECK(std::stod(svg.substr(h + 8)) == doctest::Approx(0.9 * 325).epsilon(1e-3));
  CHECK(svg_bar_plot({.title = "empty"}).find("</svg>") != std::string::npos);
}

TEST_CASE("svg_line_plot: error bars span y - e to y + e and widen the axis") {
  // Points at y 50 and 60 with errors 30 and 5: the range to cover is 20..65 (not 50..60).
  LinePlot plot{.series = {{"random (10 seeds)", {{18, 50}, {16, 60}}, PlotStyle::LinesAndMarkers, {30, 5}}}};
  const std::string svg = svg_line_plot(plot);
  CHECK(count(svg, "<path d=\"M") == 2);
  // 45 / 6 = 7.5 → step 10, axis 20..70.
  CHECK(svg.find(">20<") != std::string::npos);
  CHECK(svg.find(">70<") != std::string::npos);
  // Without errors the y axis is 50..60 and no error bar is drawn.
  const std::string plain = svg_line_plot({.series = {{"maxswd", {{18, 50}, {16, 60}}}}});
  CHECK(count(plain, "<path d=\"M") == 0);
  CHECK(plain.find(">20<") == std::string::npos);
}
