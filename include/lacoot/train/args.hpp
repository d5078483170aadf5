// lacoot/train/args.hpp — `--key value` command-line options for lacoot's programs.
//
// Holds: UsageError (a mistake on the command line: programs exit with status 2 on it) and
// Args (options by name, each checked against the command's list, with typed accessors; `help`
// when --help or -h is among them).
// Needs: core/error.hpp.
// Leaves out: positional arguments, short options, flags without a value.
#pragma once

#include <algorithm>
#include <exception>
#include <map>
#include <string>
#include <vector>

#include "../core/device_ops.hpp"
#include "../core/error.hpp"

namespace lacoot::train {

// A mistake on the command line (exit status 2, as getopt programs use).
struct UsageError : Error {
  using Error::Error;
};

// --key value options and --flag switches; every name must be known to the command.
struct Args {
  std::map<std::string, std::string> values;
  bool help = false;  // --help or -h was given: the program prints its usage and exits 0

  Args(int argc, char** argv, int first, const std::vector<std::string>& known,
       const std::vector<std::string>& flags = {}) {
    for (int i = first; i < argc; ++i)
      if (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h") help = true;
    if (help) return;  // the other arguments are not checked
    for (int i = first; i < argc; ++i) {
      std::string key = argv[i];
      if (key.rfind("--", 0) == 0 && std::find(flags.begin(), flags.end(), key.substr(2)) != flags.end()) {
        values[key.substr(2)] = "1";
        continue;
      }
      if (key.rfind("--", 0) != 0) throw UsageError("unexpected argument \"" + key + "\" (options start with --)");
      key = key.substr(2);
      if (std::find(known.begin(), known.end(), key) == known.end())
        throw UsageError("unknown option --" + key + " for this command (see --help)");
      if (i + 1 >= argc) throw UsageError("option --" + key + " needs a value");
      values[key] = argv[++i];
    }
  }
  bool has(const std::string& k) const { return values.count(k) != 0; }
  std::string str(const std::string& k) const {
    if (!has(k)) throw UsageError("missing required option --" + k + " (see --help)");
    return values.at(k);
  }
  std::string str(const std::string& k, const std::string& fallback) const { return has(k) ? values.at(k) : fallback; }
  double number(const std::string& k, double fallback) const {
    if (!has(k)) return fallback;
    try {
      std::size_t used = 0;
      double v = std::stod(values.at(k), &used);
      if (used == values.at(k).size()) return v;
    } catch (const std::exception&) {
    }
    throw UsageError("option --" + k + " expects a number, got \"" + values.at(k) + "\"");
  }
  int64_t integer(const std::string& k, int64_t fallback) const {
    const double v = number(k, static_cast<double>(fallback));
    if (v != static_cast<double>(static_cast<int64_t>(v)))
      throw UsageError("option --" + k + " expects an integer, got " + values.at(k));
    return static_cast<int64_t>(v);
  }
};

// --device D, resolved: cpu (the default), cuda or cuda:N; a CUDA device where this build or
// machine has none is the CPU, said once on stderr (resolve_device).
inline Device device_option(const Args& a) { return resolve_device(Device::parse(a.str("device", "cpu"))); }

}  // namespace lacoot::train
