// lacoot/autograd/grad_mode.hpp — switching graph recording on and off.
//
// Holds: GradMode (per thread, on by default) and NoGradGuard, the RAII form of
// `with torch.no_grad():`. Evaluation, optimiser updates and backward passes run under it.
#pragma once

namespace lacoot::autograd {

class GradMode {
 public:
  static bool is_enabled() { return flag(); }
  static void set_enabled(bool on) { flag() = on; }

 private:
  static bool& flag() {
    thread_local bool enabled = true;
    return enabled;
  }
};

// While alive, ops record nothing: their outputs have no grad_fn and do not require grad.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(GradMode::is_enabled()) { GradMode::set_enabled(false); }
  ~NoGradGuard() { GradMode::set_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

}  // namespace lacoot::autograd

namespace lacoot {
using autograd::NoGradGuard;
}
