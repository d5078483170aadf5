// A yardstick for tools/check_sizes.py compile-time: a translation unit of the same kind as an
// example (Eigen's dense products and an LU solve in float and double, the standard library's
// containers, strings, streams, regex and filesystem), compiled with the example's own command
// so that the budget is a ratio to this machine's compiler speed rather than a number of
// seconds, which differ two-fold between the CI machines (one example: 17.6-25.7 s on a
// Sapphire Rapids VM, 42-46 s on a Zen 3 one). Not built by Meson: only that check compiles it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"  // Eigen 3.4's AVX PacketMath.h
#include <Eigen/Core>
#include <Eigen/LU>
#pragma GCC diagnostic pop

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

template <class T>
T work(int n) {
  using M = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  M a = M::Random(n, n), b = M::Random(n, n);
  M c = a * b + a.transpose() * b;
  Eigen::PartialPivLU<M> lu(c);
  return lu.solve(b).sum();
}

int main(int argc, char** argv) {
  std::map<std::string, double> results;
  results["float"] = work<float>(argc + 7);
  results["double"] = work<double>(argc + 7);
  std::ostringstream out;
  for (const auto& [k, v] : results) out << k << " " << v << "\n";
  const std::regex number(R"(-?[0-9]+\.[0-9]+)");
  std::vector<std::string> found;
  const std::string text = out.str();
  for (std::sregex_iterator it(text.begin(), text.end(), number), end; it != end; ++it) found.push_back(it->str());
  if (argc > 1) std::ofstream(std::filesystem::path(argv[1]) / "out.txt") << text;
  std::cout << found.size() << "\n";
  return 0;
}
