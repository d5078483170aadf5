// lacoot/train/progress.hpp — a progress bar for epochs: step, ETA, loss, accuracy, images/s.
//
// Holds: Stopwatch and Progress. On a terminal it redraws one line in place (carriage return); when the
// output is a file or a pipe (CI logs, `| tee`) it prints a plain line every `every` steps and
// at the end, so logs stay readable.
// Needs: the standard library and POSIX isatty.
// Leaves out: nested bars, colour.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include <unistd.h>

namespace lacoot::train {

// Seconds since construction (or the last reset), on the monotonic clock.
class Stopwatch {
 public:
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start_).count(); }
  void reset() { start_ = Clock::now(); }

 private:
  using Clock = std::chrono::steady_clock;
  Clock::time_point start_ = Clock::now();
};

class Progress {
 public:
  // `total` steps in this phase, named `label` ("epoch 3/8"); `out` is where to draw.
  Progress(std::string label, int64_t total, std::FILE* out = stdout, int64_t every = 50)
      : label_(std::move(label)), total_(total), every_(every), out_(out),
        tty_(isatty(fileno(out)) != 0) {}

  // After step `step` (1-based) of `total`, having processed `images` images in all.
  void update(int64_t step, int64_t images, double loss, double top1) {
    const double elapsed = clock_.seconds();
    const double eta = step > 0 ? elapsed / static_cast<double>(step) * static_cast<double>(total_ - step) : 0.0;
    const double ips = elapsed > 0 ? static_cast<double>(images) / elapsed : 0.0;
    const bool last = step == total_;
    if (!tty_ && !last && step % every_ != 0) return;
    std::fprintf(out_, "%s%s %5lld/%lld  loss %.4f  top1 %6.2f%%  %7.1f img/s  %s %s%s", tty_ ? "\r" : "",
                 label_.c_str(), static_cast<long long>(step), static_cast<long long>(total_), loss, top1, ips,
                 last ? "took" : "eta", format_seconds(last ? elapsed : eta).c_str(), tty_ && !last ? "   " : "\n");
    std::fflush(out_);
  }
  static std::string format_seconds(double s) {
    const auto total = static_cast<long long>(s + 0.5);
    char buf[32];
    if (total >= 3600) std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", total / 3600, total / 60 % 60, total % 60);
    else std::snprintf(buf, sizeof buf, "%lld:%02lld", total / 60, total % 60);
    return buf;
  }

 private:
  std::string label_;
  int64_t total_, every_;
  std::FILE* out_;
  bool tty_;
  Stopwatch clock_;
};

}  // namespace lacoot::train
