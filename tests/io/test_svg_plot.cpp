// Tests for io/svg_plot.hpp: the SVG holds one polyline and one marker per point per series,
// the legend, escaped text, and ticks on 1-2-5 steps (worked by hand below).
#include <doctest/doctest.h>

#include <string>

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
