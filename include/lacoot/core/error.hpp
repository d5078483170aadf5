// lacoot/core/error.hpp — the one exception type of lacoot and the check macro.
//
// Holds: lacoot::Error, LACOOT_CHECK(cond, parts...) and detail::join (lists in messages).
// Needs: only the standard library.
// Leaves out: error codes; a header never exits or aborts, it throws lacoot::Error so that the
// caller (or the `lacoot` program) turns the message into a one-line report.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace lacoot {

// Every failure lacoot reports on bad input: the message says what was expected, what was
// found (with values) and, where one helps, a hint for the fix.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// "a, b, c": the items with `sep` between them; `empty` when there are none ("none" in a
// message listing what a model holds).
inline std::string join(const std::vector<std::string>& items, const char* sep = ", ", const char* empty = "") {
  if (items.empty()) return empty;
  std::string s;
  for (std::size_t i = 0; i < items.size(); ++i) s.append(i ? sep : "").append(items[i]);
  return s;
}

}  // namespace detail
}  // namespace lacoot

// LACOOT_CHECK(cond, "conv2d: expected ", a, " but got ", b) throws lacoot::Error with the
// streamed parts when cond is false. The parts are only formatted on failure.
#define LACOOT_CHECK(cond, ...)                                           \
  do {                                                                    \
    if (!(cond)) throw ::lacoot::Error(::lacoot::detail::concat(__VA_ARGS__)); \
  } while (0)
